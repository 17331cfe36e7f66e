package loadgen

// Event types.
const (
	EventProgress     = "progress"      // periodic totals
	EventFirstFailure = "first_failure" // the first failure of a class
	EventExhaustion   = "exhaustion"    // the first EADDRNOTAVAIL (or EADDRINUSE from bind)
	EventDropped      = "dropped"       // the first open-model arrival that found no free slot
	EventEnd          = "end"           // the run is over; Message says why
)

// Why a run stopped (Result.Stopped).
const (
	StoppedExhaustion  = "exhaustion"
	StoppedDuration    = "duration"
	StoppedFailures    = "failures" // stop.on first_failure or stop.after_failures
	StoppedInterrupted = "interrupted"
	StoppedError       = "error"
)

// Event is something that happened during a run, at a time measured from
// its start.
type Event struct {
	Type      string    `json:"type"`
	AtSeconds float64   `json:"at_seconds"`
	Class     string    `json:"class,omitempty"`
	Pool      string    `json:"pool,omitempty"`
	Message   string    `json:"message,omitempty"`
	Progress  *Progress `json:"progress,omitempty"`
}

// Progress is a snapshot of the run's totals.
type Progress struct {
	Attempted int64 `json:"attempted"`
	OK        int64 `json:"ok"`
	Failed    int64 `json:"failed"`
	Open      int64 `json:"open"`
}
