package result

import (
	"cmp"
	"encoding/json"
	"slices"
	"strings"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
)

// Schema names the version of the result contract.
const Schema = "portex/result/v1"

// ResultFile is the contents of json: one Result per variant run.
type ResultFile struct {
	Schema   string `json:"schema"`
	Scenario string `json:"scenario"`
	// Stopped is "interrupted" when a signal stopped portex before every
	// plan had run to its end (the last run, if any, says "interrupted"
	// too, and fewer runs than plans may be present, none at all when the
	// signal came first); empty otherwise.
	Stopped string    `json:"stopped,omitempty"`
	Runs    []*Result `json:"runs"`
	// Shard is set in the result of one shard of a scenario (run
	// --shard): which of how many, and where it ran.
	Shard *Shard `json:"shard,omitempty"`
	// Shards lists the shards a merged result was made of (portex merge).
	Shards []Shard `json:"shards,omitempty"`
}

// Shard is one of the shards a scenario's load was split into, each run
// on a machine of its own and merged afterwards.
type Shard struct {
	// Index counts from 0, as a Kubernetes Indexed Job's completion index.
	Index int    `json:"index"`
	Count int    `json:"count"`
	Host  string `json:"host"`
	// Clock is what the shard's kernel said of its wall clock when the
	// run started (adjtimex): the time series of shards are aligned by
	// their wall clocks, and this says how far that can be trusted.
	Clock *Clock `json:"clock,omitempty"`
}

// Clock is the kernel's view of its wall clock's accuracy (adjtimex(2),
// read only).
type Clock struct {
	// Synced: the kernel's clock discipline (NTP, chrony) says it is in
	// sync; false when the kernel reports STA_UNSYNC.
	Synced bool `json:"synced"`
	// MaxErrorUs is the kernel's bound on the clock's error, in
	// microseconds (the timex maxerror).
	MaxErrorUs int64 `json:"max_error_us"`
	// EstErrorUs is its estimate of the error (the timex esterror).
	EstErrorUs int64 `json:"est_error_us"`
}

// Result is what one plan's run produced. It is plain data: the engine fills
// it once, at the end (or when interrupted), and renderers only read it.
type Result struct {
	Variant        string    `json:"variant"`
	Runtime        string    `json:"runtime"`
	StartedAt      time.Time `json:"started_at"`
	ElapsedSeconds float64   `json:"elapsed_seconds"`
	// LoadStoppedSeconds is when the load stopped and the teardown began:
	// the samples after it show the connections being closed, not the
	// run; 0 when not known.
	LoadStoppedSeconds float64 `json:"load_stopped_seconds,omitempty"`
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
	// ServerSysctls are read back from the server's namespace, where the
	// runtime can reach it (the netns runtime); nil otherwise.
	ServerSysctls map[string]string `json:"server_sysctls,omitempty"`
	// Target is the address the load dialed, where the runtime lets the
	// user choose it (the host runtime's --target); "" otherwise.
	Target string `json:"target,omitempty"`
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
	PeakOpen int64 `json:"peak_open_connections"`
	// ClosedAtEnd counts the connections the client closed once the run
	// had stopped: what its teardown closed, which the server counts as
	// closed by the client though the pools never closed them.
	ClosedAtEnd int64        `json:"closed_at_end"`
	Pools       []PoolResult `json:"pools"`
	// Programs are the programs the scenario ran, in its order.
	Programs []ProgramResult `json:"programs,omitempty"`
	// Destinations are the client's peaks per destination (address and
	// port), from its sockets sampled every interval, against each one's
	// budget: what a run of programs, whose errno portex cannot see,
	// shows of where its ports went.
	Destinations []DestinationPeak `json:"destinations,omitempty"`
	Server       *ServerCounts     `json:"server,omitempty"`
	Events       []Event           `json:"events,omitempty"`
	// Resources are the processes' costs: memory, CPU.
	Resources *Resources `json:"resources,omitempty"`
	// Expectations are the scenario's expectations, checked.
	Expectations []Expectation `json:"expectations,omitempty"`
	// Model is the capacity model's prediction for this run.
	Model *Model `json:"model,omitempty"`
	// Verdict is the run's answer and what it rests on (see package
	// analysis): set when the result is written.
	Verdict *Verdict `json:"verdict,omitempty"`
	// Scaled is the model's prediction for the same load in another range
	// (run --scale-to): what a narrowed CI run means in production.
	Scaled *Model `json:"scaled,omitempty"`
	// TimeSeries is the run interval by interval.
	TimeSeries *TimeSeries `json:"timeseries,omitempty"`
	// Kernel is what the kernel itself counted over the run in the
	// client's and the server's namespaces (/proc/net/netstat and
	// /proc/net/snmp); nil where the runtime could not read them.
	Kernel *KernelCounters `json:"kernel_counters,omitempty"`
	// NAT is the router's side of a run with a NAT in the path.
	NAT *NAT `json:"nat,omitempty"`

	// Plan and Expect are the whole scenario's plan and expectations for
	// this variant, before the load was split, in a shard's result: portex
	// merge checks that the shards ran the same plan and judges the merged
	// result by them.
	Plan   json.RawMessage `json:"plan,omitempty"`
	Expect json.RawMessage `json:"expect,omitempty"`
}

// KernelCounters are the growth, from the run's start to its end, of the
// kernel's TCP counters that explain exhaustion, per namespace, named
// like nstat does ("TcpExtTCPTimeWaitOverflow", "TcpActiveOpens"). Only
// counters the kernel has are present; a zero means it has it and it did
// not move.
type KernelCounters struct {
	Client map[string]int64 `json:"client,omitempty"`
	Server map[string]int64 `json:"server,omitempty"`
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
	// Where ran out: "" (the client's own ports) or "nat" (the NAT's
	// pool, seen as dials timing out while the router's conntrack
	// insert_failed rose; or its conntrack limit, Limit "conntrack").
	Where string `json:"where,omitempty"`
	// Limit is what ran out at the NAT: "" (its ports) or "conntrack"
	// (the limit of tracked connections, nat.conntrack.max).
	Limit string `json:"limit,omitempty"`
	// Destination is the address:port the NAT ran out for (Where "nat").
	Destination string `json:"destination,omitempty"`
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

// DestinationPeak is the most one destination's sockets held at once.
type DestinationPeak struct {
	Destination string `json:"destination"`
	// Budget is the local ports connect() may use for it: the range, less
	// reserved ports.
	Budget int `json:"budget"`
	// PortsInUse is the most local ports its sockets held at once,
	// TIME_WAIT included, and AtSeconds when; TimeWait and CloseWait are
	// the most sockets in those states.
	PortsInUse int     `json:"ports_in_use"`
	AtSeconds  float64 `json:"at_seconds"`
	TimeWait   int     `json:"time_wait"`
	CloseWait  int     `json:"close_wait"`
}

// SortPeaks orders destinations' peaks the fullest first, then by name.
func SortPeaks(ps []DestinationPeak) {
	slices.SortFunc(ps, func(a, b DestinationPeak) int {
		return cmp.Or(cmp.Compare(b.PortsInUse, a.PortsInUse), strings.Compare(a.Destination, b.Destination))
	})
}

// NAT is what the router of a run with a NAT measured.
type NAT struct {
	Mode        string `json:"mode"`
	Ports       int    `json:"ports"` // the size of the NAT's source-port pool
	RandomFully bool   `json:"random_fully,omitempty"`
	// Addresses is how many addresses the NAT translated to, each with
	// the whole pool (0: 1).
	Addresses int `json:"addresses,omitempty"`
	// PerClientPorts is the size of each client address's static slice
	// of the pool (0: none, every client draws from the whole pool).
	PerClientPorts int `json:"per_client_ports,omitempty"`
	// ConntrackMax is the limit of tracked connections a rule stood in
	// for a full conntrack table with (0: none).
	ConntrackMax int `json:"conntrack_max,omitempty"`
	// Sysctls are the router's conntrack sysctls, read back at its start.
	Sysctls map[string]string `json:"sysctls,omitempty"`
	// Start and End are the router's conntrack statistics at the run's
	// start and end; nil when they could not be read.
	Start *Conntrack `json:"start,omitempty"`
	End   *Conntrack `json:"end,omitempty"`
	// Peak is the most entries the router's conntrack table held at once
	// over the run's points, with their states and destinations then.
	Peak *NATTable `json:"peak,omitempty"`
	// PeakTimeWait is the most TIME_WAIT entries it held at once.
	PeakTimeWait int `json:"peak_time_wait,omitempty"`
}

// Conntrack holds counters of /proc/net/stat/nf_conntrack, summed over
// the CPUs, and the packets the conntrack limit's rule dropped.
type Conntrack struct {
	InsertFailed uint64 `json:"insert_failed"`
	Drop         uint64 `json:"drop"`
	EarlyDrop    uint64 `json:"early_drop"`
	LimitDrops   uint64 `json:"limit_drops,omitempty"`
}

// NATTable is the router's conntrack table at a moment: its TCP entries,
// by state and by the destination (address:port) the client dialed.
type NATTable struct {
	Entries      int            `json:"entries"`
	States       map[string]int `json:"states,omitempty"`
	Destinations map[string]int `json:"destinations,omitempty"`
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

// ServerCounts are the bundled server's own counters.
type ServerCounts struct {
	Accepted       int64 `json:"accepted"`
	ClosedByPeer   int64 `json:"closed_by_peer"`
	ClosedByServer int64 `json:"closed_by_server"`
	Errors         int64 `json:"errors"`
	BytesEchoed    int64 `json:"bytes_echoed"`
	PeakOpen       int64 `json:"peak_open"`
	// Requests is the HTTP requests answered, on listeners that speak
	// HTTP; with Accepted, the connections they came on.
	Requests int64 `json:"requests,omitempty"`
	// Program is the user's server (server.exec), which served the plain
	// ports: the counts above are the bundled server's alone.
	Program *ProgramResult `json:"program,omitempty"`
}

// Model is the capacity model's prediction for a run, next to what it
// measured; see package analysis.
type Model struct {
	// PortsNeeded is the ports one destination tuple needs at steady state.
	PortsNeeded float64 `json:"ports_needed"`
	// PortBudget is the ports one destination tuple (source address,
	// destination address and port) can use: the range less the ports
	// ip_local_reserved_ports keeps. The load is spread over the tuples,
	// so PortsNeeded is per tuple too.
	PortBudget int `json:"port_budget"`
	// PortRange is the range's size, PortBudget before the reserved
	// ports are taken out.
	PortRange int `json:"port_range,omitempty"`
	// TimeWaitSockets is how many of the client's sockets the model puts
	// in TIME_WAIT per destination tuple at steady state (or at the
	// horizon): with tcp_tw_reuse they outnumber the ports they pin.
	TimeWaitSockets float64 `json:"time_wait_sockets"`
	// TimeWaitBuckets is the client's tcp_max_tw_buckets when it bounds
	// the TIME_WAIT sockets below what the load would leave; 0 otherwise.
	TimeWaitBuckets int `json:"time_wait_buckets,omitempty"`
	// ReuseDelaySeconds is tcp_tw_reuse_delay where TIME_WAIT ports are
	// reused (ReusesTimeWait).
	ReuseDelaySeconds float64 `json:"reuse_delay_seconds,omitempty"`
	// Check is the model's state at the run's last full socket sample,
	// beside what that sample measured; nil when the run ran out of ports
	// (the exhaustion times compare) or has no such sample.
	Check *ModelCheck `json:"check,omitempty"`
	// ExhaustionAtSeconds is when the model says the ports run out; nil
	// when it says they never do.
	ExhaustionAtSeconds *float64 `json:"exhaustion_at_seconds"`
	// HeldConnections is, when every pool holds its workers' connections
	// forever, how many that is: the load is at its steady state only once
	// they are all open. 0 for other loads.
	HeldConnections int64 `json:"held_connections,omitempty"`
	// SlowPortsAbove is the ports in use on one destination tuple past
	// which the model expects connect() to search slowly for the next
	// (half the budget: connect() takes the even ports first); set only
	// when PortsNeeded is past it.
	SlowPortsAbove int `json:"slow_ports_above,omitempty"`
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

	// CycleSeconds is how long one connection pins its port at most (its
	// hold, plus TIME_WAIT or the reuse delay when the client closes
	// first): a steady state shows only after ports in use have been flat
	// that long.
	CycleSeconds float64 `json:"cycle_seconds"`
	// Tuples is the destination tuples the load spreads over, each with a
	// budget of its own (the fewest of any pool).
	Tuples int `json:"tuples"`
	// ReusesTimeWait is set when connect() may take over TIME_WAIT ports
	// (tcp_tw_reuse with timestamps on).
	ReusesTimeWait bool `json:"reuses_time_wait,omitempty"`
	// Grows is set when some pool never gives its ports back (leaks,
	// holds that never end): no steady state exists.
	Grows bool `json:"grows,omitempty"`
	// HorizonSeconds is how far ahead the model looked for exhaustion.
	HorizonSeconds float64 `json:"horizon_seconds,omitempty"`
	// Where is what the budget is: "" (the client's range) or "nat" (a
	// NAT's pool per NAT address and destination, or its conntrack
	// limit): in a run with a NAT, the one that runs out first.
	Where string `json:"where,omitempty"`
}

// ModelCheck sets the ports in use and the TIME_WAIT sockets the model
// expects per destination tuple at one moment against those measured.
type ModelCheck struct {
	AtSeconds float64 `json:"at_seconds"`
	// Ports and TimeWait are predicted; MeasuredPorts and
	// MeasuredTimeWait measured (the client's sockets, spread over the
	// tuples; ports as the steady watch counts them).
	Ports            float64 `json:"ports"`
	TimeWait         float64 `json:"time_wait"`
	MeasuredPorts    float64 `json:"measured_ports"`
	MeasuredTimeWait float64 `json:"measured_time_wait"`
	// Agrees is set when both figures are within noise: 5 sockets or a
	// fifth of the prediction, whichever is more.
	Agrees bool `json:"agrees"`
}

// Verdict is the answer of one run: did the ports run out, and on what
// does the answer rest.
type Verdict struct {
	// Outcome is "exhausted" (the ports ran out), "held" (a steady state
	// below the budget was shown), "not_exhausted" (neither within the
	// run), "fd_exhausted" (file descriptors ran out first), "failing"
	// (dials failed, but not for want of ports), "interrupted" or
	// "error" (the run did not finish: see the result's error).
	Outcome string `json:"outcome"`
	// Basis is "measured" when the run itself shows the outcome, "model"
	// when the outcome says nothing and the prediction is the capacity
	// model's.
	Basis string `json:"basis"`
	// WithinSeconds is how long the run lasted.
	WithinSeconds float64 `json:"within_seconds"`
	// ExhaustionAtSeconds is when the ports ran out, measured, or when the
	// model says they will (Predicted set); nil when neither.
	ExhaustionAtSeconds *float64 `json:"exhaustion_at_seconds"`
	Predicted           bool     `json:"predicted,omitempty"`
	// Steady is the steady state the run showed (outcome "held").
	Steady *Steady `json:"steady,omitempty"`
	// SteadyPorts is the ports per destination the model predicts at
	// steady state, when it predicts one.
	SteadyPorts *float64 `json:"steady_ports,omitempty"`
	// ProofSeconds is how long a run must last to show the steady state
	// (two cycles), when the model predicts one.
	ProofSeconds float64 `json:"proof_seconds,omitempty"`
	// Budget is the ports one destination tuple can use.
	Budget int `json:"budget"`
	// Text is the verdict as one line.
	Text string `json:"text"`
}

// DecodeHDR returns the histogram a summary carries, nil if none.
func (s LatencySummary) DecodeHDR() (*hdrhistogram.Histogram, error) {
	if s.HDR == "" {
		return nil, nil
	}
	return hdrhistogram.Decode([]byte(s.HDR))
}

// Steady is a steady state shown by the samples.
type Steady struct {
	FromSeconds float64 `json:"from_seconds"`
	ToSeconds   float64 `json:"to_seconds"`
	// Ports is the mean of the ports pinned per destination tuple over the
	// window; Peak the most at any sample.
	Ports float64 `json:"ports"`
	Peak  float64 `json:"peak"`
}

// Expectation is one checked expectation: what was expected, what was
// measured, and whether they agree.
type Expectation struct {
	Name     string `json:"name"`
	Expected string `json:"expected"`
	Measured string `json:"measured"`
	Pass     bool   `json:"pass"`
}
