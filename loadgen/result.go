package loadgen

import "time"

// Schema names the version of the result contract.
const Schema = "portex/result/v1"

// ResultFile is the contents of result.json: one Result per variant run.
type ResultFile struct {
	Schema   string    `json:"schema"`
	Scenario string    `json:"scenario"`
	Runs     []*Result `json:"runs"`
}

// Result is what one plan's run produced. It is plain data: the engine fills
// it once, at the end (or when interrupted), and renderers only read it.
type Result struct {
	Variant        string    `json:"variant"`
	Runtime        string    `json:"runtime"`
	StartedAt      time.Time `json:"started_at"`
	ElapsedSeconds float64   `json:"elapsed_seconds"`
	// Stopped says why the run ended: "exhaustion", "failures" (a stop
	// rule), "duration", "interrupted" or "error".
	Stopped string `json:"stopped"`
	// Notes say what the runtime could not do as the plan asked.
	Notes []string `json:"notes,omitempty"`
	// Error is set when the sandbox or the runtime failed; the counters
	// then hold what was measured before.
	Error string `json:"error,omitempty"`

	// Sysctls are read back from inside the sandbox (client side), not
	// copied from the scenario.
	Sysctls map[string]string `json:"sysctls"`
	// Nofile is the RLIMIT_NOFILE soft limit the load ran under.
	Nofile uint64 `json:"nofile"`
	// PortRangeSize is the number of ephemeral ports the client had.
	PortRangeSize int `json:"port_range_size"`

	Dials    Dials            `json:"dials"`
	Failures map[string]int64 `json:"failures"`
	// Exhaustion is the first port-exhaustion failure, nil when none.
	Exhaustion *Exhaustion `json:"exhaustion"`
	Latency    Latency     `json:"latency"`
	// Dropped counts open-model arrivals that found every slot busy.
	Dropped int64 `json:"dropped_arrivals"`
	// PeakOpen is the most connections the client held at once.
	PeakOpen int64         `json:"peak_open_connections"`
	Pools    []PoolResult  `json:"pools"`
	Server   *ServerCounts `json:"server,omitempty"`
	Events   []Event       `json:"events,omitempty"`
	// Resources are the processes' costs: memory, CPU.
	Resources *Resources `json:"resources,omitempty"`
	// Expectations are the scenario's expectations, checked.
	Expectations []Expectation `json:"expectations,omitempty"`
	// Model is the capacity model's prediction for this run.
	Model *Model `json:"model,omitempty"`
	// Scaled is the model's prediction for the same load in another range
	// (run --scale-to): what a narrowed CI run means in production.
	Scaled *Model `json:"scaled,omitempty"`
	// TimeSeries is the run interval by interval.
	TimeSeries *TimeSeries `json:"timeseries,omitempty"`
}

// Dials counts connect attempts. Every connect() the kernel refused is one
// failed attempt, including those Go's net package would have retried
// silently.
type Dials struct {
	Attempted int64 `json:"attempted"`
	OK        int64 `json:"ok"`
	Failed    int64 `json:"failed"`
}

// Exhaustion describes the moment the client ran out of local ports.
type Exhaustion struct {
	// Class is the errno that signalled it: EADDRNOTAVAIL from connect(),
	// or EADDRINUSE from bind() before connect.
	Class     string  `json:"class"`
	AtSeconds float64 `json:"at_seconds"`
	// DialsOKBefore counts successful dials whose connect() started before
	// the first exhaustion failure: the ports the range actually gave.
	DialsOKBefore int64 `json:"dials_ok_before"`
	// OpenConnections is how many connections the client held then.
	OpenConnections int64 `json:"open_connections"`
	// Sockets are the client's socket states at that moment.
	Sockets *SocketStates `json:"sockets,omitempty"`
}

// Latency holds the run's latency summaries, in microseconds.
type Latency struct {
	// Connect is a successful dial's connect(): from the system call's
	// start to the handshake's end.
	Connect LatencySummary `json:"connect"`
	EchoRTT LatencySummary `json:"echo_rtt"`
	// ScheduleLag is how late open-model arrivals started: from the
	// intended start on the pool's absolute schedule to the start of the
	// dial (or, with close: keep, to the moment a pooled connection was
	// in hand), one sample per arrival a slot took. This is the
	// coordinated-omission part of a connection's latency; closed-model
	// pools have no schedule and no samples.
	ScheduleLag LatencySummary `json:"schedule_lag"`
}

// LatencySummary is a histogram's headline figures, in microseconds.
type LatencySummary struct {
	Count  int64   `json:"count"`
	MeanUs float64 `json:"mean_us"`
	P50Us  int64   `json:"p50_us"`
	P90Us  int64   `json:"p90_us"`
	P99Us  int64   `json:"p99_us"`
	P999Us int64   `json:"p999_us"`
	MaxUs  int64   `json:"max_us"`
	// HDR is the whole histogram, lossless: HdrHistogram's V2 compressed
	// encoding, base64. Histograms merge without loss, so runs and shards
	// can be combined and re-rendered later.
	HDR string `json:"hdr,omitempty"`
}

// PoolResult is one pool's share of the counters.
type PoolResult struct {
	Name     string           `json:"name"`
	Dials    Dials            `json:"dials"`
	Failures map[string]int64 `json:"failures"`
	Dropped  int64            `json:"dropped_arrivals"`
	Latency  Latency          `json:"latency"`
}

// ServerCounts are the echo server's own counters.
type ServerCounts struct {
	Accepted       int64 `json:"accepted"`
	ClosedByPeer   int64 `json:"closed_by_peer"`
	ClosedByServer int64 `json:"closed_by_server"`
	Errors         int64 `json:"errors"`
	BytesEchoed    int64 `json:"bytes_echoed"`
	PeakOpen       int64 `json:"peak_open"`
}

// Model is the capacity model's prediction for a run, next to what it
// measured; see package report.
type Model struct {
	// PortsNeeded is the ports one destination tuple needs at steady state.
	PortsNeeded float64 `json:"ports_needed"`
	// PortBudget is the ports one destination tuple (source address,
	// destination address and port) can use: the range size. The load is
	// spread over the tuples, so PortsNeeded is per tuple too.
	PortBudget int `json:"port_budget"`
	// ExhaustionAtSeconds is when the model says the ports run out; nil
	// when it says they never do.
	ExhaustionAtSeconds *float64 `json:"exhaustion_at_seconds"`
	// MaxSustainableRatePerS is the highest rate of new connections per
	// destination tuple the budget sustains at steady state; nil when the
	// model sets no bound (nothing pins a port after its hold) or when
	// leaks exhaust any budget in time.
	MaxSustainableRatePerS *float64 `json:"max_sustainable_rate_per_s"`
	// RelativeError compares the predicted and measured times to
	// exhaustion, when both exist.
	RelativeError *float64 `json:"relative_error,omitempty"`
	// Assumptions lists what the model took for granted.
	Assumptions []string `json:"assumptions,omitempty"`
}
