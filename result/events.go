package result

import "time"

// Event types.
const (
	EventProgress     = "progress"      // periodic totals
	EventFirstFailure = "first_failure" // the first failure of a class
	EventExhaustion   = "exhaustion"    // the first EADDRNOTAVAIL (or EADDRINUSE from bind)
	EventRecovery     = "recovery"      // the first successful dial started after exhaustion
	EventDropped      = "dropped"       // the first open-model arrival that found no free slot
	EventEnd          = "end"           // the run is over; Message says why
)

// Why a run stopped (Result.Stopped).
const (
	StoppedExhaustion  = "exhaustion"
	StoppedSteady      = "steady" // stop.on verdict: a steady state was shown
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
	Program   string    `json:"program,omitempty"`
	Message   string    `json:"message,omitempty"`
	Progress  *Progress `json:"progress,omitempty"`
	// Shard names the shard ("0/4") an event of a merged result came
	// from.
	Shard string `json:"shard,omitempty"`
}

// Progress is a snapshot of the run's totals.
type Progress struct {
	Attempted int64         `json:"attempted"`
	OK        int64         `json:"ok"`
	Failed    int64         `json:"failed"`
	Open      int64         `json:"open"`
	Client    *SocketStates `json:"client,omitempty"`
}

// TimeSeries is the run, interval by interval.
type TimeSeries struct {
	// IntervalSeconds is the steady interval between points; the first
	// FineForSeconds of the run (if any) have a point every
	// FineIntervalSeconds instead (see Resolution).
	IntervalSeconds     float64 `json:"interval_seconds"`
	FineIntervalSeconds float64 `json:"fine_interval_seconds,omitempty"`
	FineForSeconds      float64 `json:"fine_for_seconds,omitempty"`
	Points              []Point `json:"points"`
	// SamplerCost is what reading the socket states cost, per sample.
	SamplerCost *SamplerCost `json:"sampler_cost,omitempty"`
}

// SamplerCost is the time the socket-state samples took: the full ones,
// and the quick ones (see loadgen.SocketSampler).
type SamplerCost struct {
	Full  SampleCosts `json:"full"`
	Quick SampleCosts `json:"quick"`
}

// SampleCosts sums up the samples of one kind.
type SampleCosts struct {
	Samples int     `json:"samples"`
	MeanMs  float64 `json:"mean_ms"`
	MaxMs   float64 `json:"max_ms"`
	// MaxSockets is the most sockets one sample counted.
	MaxSockets int `json:"max_sockets"`
}

// Samples is the number of samples of both kinds.
func (c *SamplerCost) Samples() int { return c.Full.Samples + c.Quick.Samples }

// Add records one sample's duration and size.
func (c *SamplerCost) Add(d time.Duration, st SocketStates) {
	k := &c.Full
	if !st.PortsCounted() {
		k = &c.Quick
	}
	ms := float64(d) / float64(time.Millisecond)
	k.MeanMs += (ms - k.MeanMs) / float64(k.Samples+1)
	k.Samples++
	k.MaxMs = max(k.MaxMs, ms)
	k.MaxSockets = max(k.MaxSockets, st.Total())
}

// Point is one interval: counts of what happened in it, gauges at its end.
type Point struct {
	T         float64          `json:"t"` // seconds from the start to the end of the interval
	Attempted int64            `json:"attempted"`
	OK        int64            `json:"ok"`
	Failed    int64            `json:"failed"`
	Failures  map[string]int64 `json:"failures,omitempty"` // by class
	Dropped   int64            `json:"dropped,omitempty"`
	Open      int64            `json:"open"`                // connections the client holds
	RSSBytes  int64            `json:"rss_bytes,omitempty"` // the client process's resident memory
	// FDs and Goroutines are the client process's, sampled once a second
	// (zero in between): what a soak watches for leaks.
	FDs        int `json:"fds,omitempty"`
	Goroutines int `json:"goroutines,omitempty"`
	// Client and Server are the socket states of each side's namespace.
	Client *SocketStates `json:"client,omitempty"`
	Server *SocketStates `json:"server,omitempty"`
	// ServerRSSBytes is the echo server process's resident memory.
	ServerRSSBytes int64 `json:"server_rss_bytes,omitempty"`
	// Kernel is how much each of the client namespace's kernel counters
	// (KernelCounters' names) moved since the previous point that has
	// them, for those that moved; read with the client's socket states.
	Kernel map[string]int64 `json:"kernel,omitempty"`
	// NAT is how much the router's conntrack counters grew from the run's
	// start to the end of the interval (runs with a NAT).
	NAT *Conntrack `json:"nat,omitempty"`
	// NATTable is the router's conntrack table at the end of the interval.
	NATTable *NATTable `json:"nat_table,omitempty"`
	// Destinations are the client's sockets by destination at a full
	// sample (where Client counts its ports): each one's ports in use is
	// what its budget has used.
	Destinations []DestinationSockets `json:"destinations,omitempty"`
}
