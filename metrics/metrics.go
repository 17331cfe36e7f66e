// Package metrics exports a run's figures as Prometheus metrics while it
// goes: a Collector fed by the events and points the agent streams (and,
// at each variant's end, by its Result), and a Server that serves them
// over HTTP in the Prometheus text and OpenMetrics formats (protobuf too,
// for native histograms).
//
// Every series carries the scenario and the variant as labels; the
// series of a variant that has ended keep their final values while the
// next variant runs, so one scrape configuration follows a whole run.
package metrics

import (
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/portex/portex/loadgen"
	"github.com/portex/portex/result"
)

// Label names.
const (
	labelScenario = "scenario"
	labelVariant  = "variant"
	labelClass    = "class"
	labelPool     = "pool"
	labelSide     = "side"
	labelDest     = "destination"
	labelState    = "state"
)

// Sides of the socket-state gauges.
const (
	SideClient = "client"
	SideServer = "server"
)

// connectBuckets are the classic buckets of the connect latency
// histogram, in seconds: from a loopback handshake to a dial that waits
// out SYN retransmissions behind a full NAT.
var connectBuckets = []float64{
	0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
	0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30,
}

// Collector holds a run's metrics. Begin starts a variant, End closes it;
// Event, Point and ServerStates in between are what the parent reads of
// it as it goes. Its methods may be called from any goroutine, and the
// metrics gathered at any moment.
type Collector struct {
	reg *prometheus.Registry

	attempted, ok, failed, dropped *prometheus.CounterVec
	failures                       *prometheus.CounterVec
	poolOK, poolFailures           *prometheus.CounterVec
	open, portsInUse, budget       *prometheus.GaugeVec
	destPorts                      *prometheus.GaugeVec
	sockets                        *prometheus.GaugeVec
	exhausted, exhaustionAt        *prometheus.GaugeVec
	elapsed, running               *prometheus.GaugeVec
	connect                        *prometheus.HistogramVec

	mu       sync.Mutex // guards the fields below
	labels   prometheus.Labels
	streamed streamed
	// exhausted is set once the current variant's exhaustion is known.
	isExhausted bool
}

// streamed is what the points of the current variant have counted, to
// be made up at its end from the Result where the stream fell short.
type streamed struct {
	attempted, ok, failed, dropped int64
	failures                       map[string]int64
}

// New returns a Collector with its own registry, which also holds the
// Go runtime's and the process's metrics of portex itself.
func New() *Collector {
	run := []string{labelScenario, labelVariant}
	with := func(extra ...string) []string { return append(append([]string(nil), run...), extra...) }
	counter := func(name, help string, labels []string) *prometheus.CounterVec {
		return prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "portex", Name: name, Help: help}, labels)
	}
	gauge := func(name, help string, labels []string) *prometheus.GaugeVec {
		return prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: "portex", Name: name, Help: help}, labels)
	}
	c := &Collector{
		reg:       prometheus.NewRegistry(),
		attempted: counter("dials_attempted_total", "Dials started (connect() calls, each retry counted).", run),
		ok:        counter("dials_ok_total", "Dials that connected.", run),
		failed:    counter("dials_failed_total", "Dials that failed, whatever the class.", run),
		failures:  counter("dial_failures_total", "Failed dials by class (EADDRNOTAVAIL, ETIMEDOUT, ...).", with(labelClass)),
		poolOK:    counter("pool_dials_ok_total", "Dials that connected, by pool (set from the result at the variant's end).", with(labelPool)),
		poolFailures: counter("pool_dial_failures_total",
			"Failed dials by pool and class (set from the result at the variant's end).", with(labelPool, labelClass)),
		dropped: counter("dropped_arrivals_total", "Open-model arrivals that found every slot busy.", run),
		open:    gauge("open_connections", "Connections the client holds.", run),
		portsInUse: gauge("ports_in_use",
			"Local ports in use toward the fullest destination, TIME_WAIT included; for pools, the client namespace's distinct local ports in the range, which bounds every destination's from above.", run),
		destPorts: gauge("destination_ports_in_use",
			"Local ports in use toward one destination (address:port), TIME_WAIT included, at each full sample: what its budget has used.", with(labelDest)),
		budget: gauge("port_budget",
			"Local ports one destination can use: the ephemeral range less ip_local_reserved_ports.", run),
		sockets:      gauge("sockets", "TCP sockets of the client's and the server's network namespace, by state.", with(labelSide, labelState)),
		exhausted:    gauge("exhausted", "1 once the variant ran out of ports (EADDRNOTAVAIL, EADDRINUSE from bind, or the NAT's pool), else 0.", run),
		exhaustionAt: gauge("exhaustion_seconds", "When the variant ran out of ports, in seconds from its start (present once it has).", run),
		elapsed:      gauge("elapsed_seconds", "Seconds from the variant's start to its latest point.", run),
		running:      gauge("running", "1 while the variant runs, 0 once it has ended.", run),
		connect: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: "portex", Name: "connect_latency_seconds",
			Help:                           "A successful dial's connect(), by pool (from the result's lossless histogram at the variant's end).",
			Buckets:                        connectBuckets,
			NativeHistogramBucketFactor:    1.1,
			NativeHistogramMaxBucketNumber: 160,
		}, with(labelPool)),
	}
	c.reg.MustRegister(c.attempted, c.ok, c.failed, c.failures, c.poolOK, c.poolFailures, c.dropped,
		c.open, c.portsInUse, c.destPorts, c.budget, c.sockets, c.exhausted, c.exhaustionAt, c.elapsed, c.running, c.connect,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return c
}

// Gatherer is what a scrape reads.
func (c *Collector) Gatherer() prometheus.Gatherer { return c.reg }

// Begin starts the metrics of one variant of a scenario: its counters at
// zero, not exhausted, running, and its destinations' budget where the
// plan narrows the range (else it comes with End).
func (c *Collector) Begin(scenario string, p *loadgen.Plan) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.labels = prometheus.Labels{labelScenario: scenario, labelVariant: p.Variant}
	c.streamed = streamed{failures: map[string]int64{}}
	c.isExhausted = false
	for _, v := range []*prometheus.CounterVec{c.attempted, c.ok, c.failed, c.dropped} {
		v.With(c.labels)
	}
	c.exhausted.With(c.labels).Set(0)
	c.running.With(c.labels).Set(1)
	c.open.With(c.labels).Set(0)
	if r := p.Sandbox.PortRange; !r.IsZero() {
		if b, err := loadgen.DestinationBudget(r, p.Sandbox.Sysctls[loadgen.SysctlReservedPorts], 0); err == nil {
			c.budget.With(c.labels).Set(float64(b))
		}
	}
}

// current returns the current variant's labels, nil before Begin.
func (c *Collector) current() prometheus.Labels {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.labels
}

// Event takes one of the run's events: progress sets the gauges (for
// runs that stream no points, such as programs'), exhaustion sets its
// gauges.
func (c *Collector) Event(ev result.Event) {
	l := c.current()
	if l == nil {
		return
	}
	switch ev.Type {
	case result.EventProgress:
		if ev.Progress != nil {
			c.open.With(l).Set(float64(ev.Progress.Open))
			c.states(l, SideClient, ev.Progress.Client)
		}
		c.elapsed.With(l).Set(ev.AtSeconds)
	case result.EventExhaustion:
		c.exhaust(l, ev.AtSeconds)
	}
}

// Point takes one interval of the time series: its counts add to the
// counters, its gauges replace theirs.
func (c *Collector) Point(pt result.Point) {
	c.mu.Lock()
	l := c.labels
	if l == nil {
		c.mu.Unlock()
		return
	}
	s := &c.streamed
	s.attempted += pt.Attempted
	s.ok += pt.OK
	s.failed += pt.Failed
	s.dropped += pt.Dropped
	for class, n := range pt.Failures {
		s.failures[class] += n
	}
	c.mu.Unlock()
	c.attempted.With(l).Add(float64(pt.Attempted))
	c.ok.With(l).Add(float64(pt.OK))
	c.failed.With(l).Add(float64(pt.Failed))
	c.dropped.With(l).Add(float64(pt.Dropped))
	for class, n := range pt.Failures {
		c.failures.With(with(l, labelClass, class)).Add(float64(n))
	}
	c.open.With(l).Set(float64(pt.Open))
	c.elapsed.With(l).Set(pt.T)
	c.states(l, SideClient, pt.Client)
	c.states(l, SideServer, pt.Server)
	for _, d := range pt.Destinations {
		c.destPorts.With(with(l, labelDest, d.Destination.String())).Set(float64(d.Sockets.PortsInUse))
	}
}

// ServerStates takes one sample of the server namespace's sockets.
func (c *Collector) ServerStates(st result.SocketStates) {
	if l := c.current(); l != nil {
		c.states(l, SideServer, &st)
	}
}

// End closes the current variant with its result: what the stream did
// not count is made up from it (the counters then equal result.json's),
// the pools' counters and connect latency histograms come from it, and
// the variant stops running. A nil result (the run never started) only
// stops it.
func (c *Collector) End(res *result.Result) {
	c.mu.Lock()
	l, s := c.labels, c.streamed
	c.labels = nil
	c.mu.Unlock()
	if l == nil {
		return
	}
	c.running.With(l).Set(0)
	if res == nil {
		return
	}
	makeUp := func(v *prometheus.CounterVec, labels prometheus.Labels, want, got int64) {
		if want > got {
			v.With(labels).Add(float64(want - got))
		}
	}
	makeUp(c.attempted, l, res.Dials.Attempted, s.attempted)
	makeUp(c.ok, l, res.Dials.OK, s.ok)
	makeUp(c.failed, l, res.Dials.Failed, s.failed)
	makeUp(c.dropped, l, res.Dropped, s.dropped)
	for class, n := range res.Failures {
		makeUp(c.failures, with(l, labelClass, class), n, s.failures[class])
	}
	if res.Exhaustion != nil {
		c.exhaust(l, res.Exhaustion.AtSeconds)
	}
	if res.Model != nil && res.Model.PortBudget > 0 {
		// The model's budget is the range read back in the sandbox.
		c.budget.With(l).Set(float64(res.Model.PortBudget))
	}
	c.elapsed.With(l).Set(res.ElapsedSeconds)
	for _, p := range res.Pools {
		pl := with(l, labelPool, p.Name)
		c.poolOK.With(pl).Add(float64(p.Dials.OK))
		for class, n := range p.Failures {
			c.poolFailures.With(with(pl, labelClass, class)).Add(float64(n))
		}
		observeHDR(c.connect.With(pl), p.Latency.Connect)
	}
}

// exhaust marks the variant exhausted at seconds from its start; the
// first time counts.
func (c *Collector) exhaust(l prometheus.Labels, at float64) {
	c.mu.Lock()
	first := !c.isExhausted
	c.isExhausted = true
	c.mu.Unlock()
	if first {
		c.exhausted.With(l).Set(1)
		c.exhaustionAt.With(l).Set(at)
	}
}

// states sets one side's socket-state gauges from a sample, if there is
// one; the client's ports in use only where the sample counted them.
func (c *Collector) states(l prometheus.Labels, side string, st *result.SocketStates) {
	if st == nil {
		return
	}
	for _, s := range []struct {
		name string
		n    int
	}{
		{"established", st.Established}, {"syn_sent", st.SynSent}, {"syn_recv", st.SynRecv},
		{"fin_wait1", st.FinWait1}, {"fin_wait2", st.FinWait2}, {"time_wait", st.TimeWait},
		{"close_wait", st.CloseWait}, {"last_ack", st.LastAck}, {"closing", st.Closing}, {"listen", st.Listen},
		{"unsorted", st.Unsorted},
	} {
		c.sockets.With(with(l, labelSide, side, labelState, s.name)).Set(float64(s.n))
	}
	if side == SideClient && st.PortsCounted() {
		c.portsInUse.With(l).Set(float64(st.PortsInUse))
	}
}

// observeHDR puts a result's lossless connect histogram into a Prometheus
// histogram: each HDR bucket's count at its highest equivalent value
// (HDR keeps 3 significant digits), in seconds.
func observeHDR(o prometheus.Observer, s result.LatencySummary) {
	h, err := s.DecodeHDR()
	if err != nil || h == nil {
		return
	}
	for _, b := range h.Distribution() {
		v := float64(b.To) / 1e6
		for range b.Count {
			o.Observe(v)
		}
	}
}

// with returns l with more label pairs.
func with(l prometheus.Labels, kv ...string) prometheus.Labels {
	out := make(prometheus.Labels, len(l)+len(kv)/2)
	for k, v := range l {
		out[k] = v
	}
	for i := 0; i+1 < len(kv); i += 2 {
		out[kv[i]] = kv[i+1]
	}
	return out
}
