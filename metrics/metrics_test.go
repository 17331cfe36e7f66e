package metrics

import (
	"encoding/base64"
	"math"
	"net/netip"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/HdrHistogram/hdrhistogram-go"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"

	"github.com/portex/portex/loadgen"
	"github.com/portex/portex/result"
)

func plan(variant string) *loadgen.Plan {
	return &loadgen.Plan{Scenario: "s", Variant: variant, Sandbox: loadgen.Sandbox{
		PortRange: loadgen.PortRange{Lo: 50000, Hi: 50199},
		Sysctls:   map[string]string{loadgen.SysctlReservedPorts: "50000-50049"},
	}}
}

// value is the value of the one series of name whose labels include
// want, or NaN when there is none (or more than one).
func value(t *testing.T, c *Collector, name string, want map[string]string) float64 {
	t.Helper()
	mfs, err := c.Gatherer().Gather()
	if err != nil {
		t.Fatal(err)
	}
	found, v := 0, math.NaN()
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	metric:
		for _, m := range mf.Metric {
			got := map[string]string{}
			for _, lp := range m.Label {
				got[lp.GetName()] = lp.GetValue()
			}
			for k, w := range want {
				if got[k] != w {
					continue metric
				}
			}
			found++
			switch {
			case m.Counter != nil:
				v = m.Counter.GetValue()
			case m.Gauge != nil:
				v = m.Gauge.GetValue()
			case m.Histogram != nil:
				v = float64(m.Histogram.GetSampleCount())
			}
		}
	}
	if found != 1 {
		return math.NaN()
	}
	return v
}

func labels(variant string, kv ...string) map[string]string {
	l := map[string]string{"scenario": "s", "variant": variant}
	for i := 0; i+1 < len(kv); i += 2 {
		l[kv[i]] = kv[i+1]
	}
	return l
}

func hdr(t *testing.T, us ...int64) string {
	t.Helper()
	h := hdrhistogram.New(1, 60_000_000, 3)
	for _, v := range us {
		h.RecordValue(v)
	}
	enc, err := h.Encode(hdrhistogram.V2CompressedEncodingCookieBase)
	if err != nil {
		t.Fatal(err)
	}
	// The result carries the encoding as it comes: already base64.
	if _, err := base64.StdEncoding.DecodeString(string(enc)); err != nil {
		t.Fatalf("the HDR encoding is not base64: %v", err)
	}
	return string(enc)
}

// TestCollectorCountsThePoints: the points' counts add up in the
// counters, their gauges replace the gauges', and exhaustion shows with
// its time.
func TestCollectorCountsThePoints(t *testing.T) {
	c := New()
	c.Begin("s", plan("baseline"))
	l := labels("baseline")
	// Before the first point: the counters exist at zero, the variant
	// runs and is not exhausted, and the budget is the range less the
	// reserved ports.
	for _, tc := range []struct {
		name string
		want float64
	}{
		{"portex_dials_attempted_total", 0}, {"portex_dials_ok_total", 0}, {"portex_running", 1},
		{"portex_exhausted", 0}, {"portex_port_budget", 150},
	} {
		if got := value(t, c, tc.name, l); got != tc.want {
			t.Errorf("before the points, %s = %v, want %v", tc.name, got, tc.want)
		}
	}
	c.Point(result.Point{T: 0.1, Attempted: 60, OK: 60, Open: 60,
		Client: &result.SocketStates{Established: 60, PortsInUse: 60}})
	c.Point(result.Point{T: 0.2, Attempted: 100, OK: 90, Failed: 10, Open: 150, Dropped: 3,
		Failures: map[string]int64{"EADDRNOTAVAIL": 10},
		Client:   &result.SocketStates{Established: 150, TimeWait: 0, PortsInUse: 150},
		Destinations: []result.DestinationSockets{
			{Destination: netip.MustParseAddrPort("198.19.0.1:7000"), Sockets: result.SocketStates{Established: 100, PortsInUse: 100}},
			{Destination: netip.MustParseAddrPort("198.19.0.1:7001"), Sockets: result.SocketStates{Established: 50, PortsInUse: 50}},
		}})
	c.Event(result.Event{Type: result.EventExhaustion, AtSeconds: 0.17, Class: "EADDRNOTAVAIL"})
	// A quick sample does not count ports: the gauge keeps the last count.
	c.Point(result.Point{T: 0.3, Attempted: 5, Failed: 5, Open: 140,
		Failures: map[string]int64{"EADDRNOTAVAIL": 4, "ETIMEDOUT": 1},
		Client:   &result.SocketStates{Established: 140, TimeWait: 10, PortsInUse: result.PortsUncounted}})
	c.ServerStates(result.SocketStates{Established: 139, CloseWait: 1, Listen: 1})
	// A later exhaustion event does not move the first one's time.
	c.Event(result.Event{Type: result.EventExhaustion, AtSeconds: 0.25, Class: "EADDRNOTAVAIL"})

	for _, tc := range []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"portex_dials_attempted_total", l, 165},
		{"portex_dials_ok_total", l, 150},
		{"portex_dials_failed_total", l, 15},
		{"portex_dial_failures_total", labels("baseline", "class", "EADDRNOTAVAIL"), 14},
		{"portex_dial_failures_total", labels("baseline", "class", "ETIMEDOUT"), 1},
		{"portex_dropped_arrivals_total", l, 3},
		{"portex_open_connections", l, 140},
		{"portex_ports_in_use", l, 150},
		{"portex_destination_ports_in_use", labels("baseline", "destination", "198.19.0.1:7000"), 100},
		{"portex_destination_ports_in_use", labels("baseline", "destination", "198.19.0.1:7001"), 50},
		{"portex_sockets", labels("baseline", "side", "client", "state", "established"), 140},
		{"portex_sockets", labels("baseline", "side", "client", "state", "time_wait"), 10},
		{"portex_sockets", labels("baseline", "side", "server", "state", "close_wait"), 1},
		{"portex_sockets", labels("baseline", "side", "server", "state", "listen"), 1},
		{"portex_exhausted", l, 1},
		{"portex_exhaustion_seconds", l, 0.17},
		{"portex_elapsed_seconds", l, 0.3},
		{"portex_running", l, 1},
	} {
		if got := value(t, c, tc.name, tc.labels); got != tc.want {
			t.Errorf("%s%v = %v, want %v", tc.name, tc.labels, got, tc.want)
		}
	}
}

// TestCollectorEndMakesUpFromTheResult: at a variant's end, what the
// stream did not count comes from the result (so the counters equal
// result.json's), what it counted is not counted twice, and the pools'
// counters and connect latency come from it too.
func TestCollectorEndMakesUpFromTheResult(t *testing.T) {
	c := New()
	c.Begin("s", plan("baseline"))
	l := labels("baseline")
	c.Point(result.Point{T: 0.1, Attempted: 10, OK: 10, Open: 10})
	res := &result.Result{
		Variant:        "baseline",
		ElapsedSeconds: 2.5,
		Dials:          result.Dials{Attempted: 14, OK: 12, Failed: 2},
		Failures:       map[string]int64{"EADDRNOTAVAIL": 2},
		Dropped:        1,
		Exhaustion:     &result.Exhaustion{Class: "EADDRNOTAVAIL", AtSeconds: 1.25},
		Model:          &result.Model{PortBudget: 140},
		Pools: []result.PoolResult{
			{Name: "a", Dials: result.Dials{OK: 9, Failed: 2}, Failures: map[string]int64{"EADDRNOTAVAIL": 2},
				Latency: result.Latency{Connect: result.LatencySummary{Count: 3, HDR: hdr(t, 80, 900, 40_000)}}},
			{Name: "b", Dials: result.Dials{OK: 3}},
		},
	}
	c.End(res)
	for _, tc := range []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"portex_dials_attempted_total", l, 14},
		{"portex_dials_ok_total", l, 12},
		{"portex_dials_failed_total", l, 2},
		{"portex_dial_failures_total", labels("baseline", "class", "EADDRNOTAVAIL"), 2},
		{"portex_dropped_arrivals_total", l, 1},
		{"portex_pool_dials_ok_total", labels("baseline", "pool", "a"), 9},
		{"portex_pool_dials_ok_total", labels("baseline", "pool", "b"), 3},
		{"portex_pool_dial_failures_total", labels("baseline", "pool", "a", "class", "EADDRNOTAVAIL"), 2},
		{"portex_connect_latency_seconds", labels("baseline", "pool", "a"), 3},
		{"portex_connect_latency_seconds", labels("baseline", "pool", "b"), 0},
		{"portex_exhausted", l, 1},
		{"portex_exhaustion_seconds", l, 1.25},
		{"portex_port_budget", l, 140},
		{"portex_elapsed_seconds", l, 2.5},
		{"portex_running", l, 0},
	} {
		if got := value(t, c, tc.name, tc.labels); got != tc.want {
			t.Errorf("%s%v = %v, want %v", tc.name, tc.labels, got, tc.want)
		}
	}

	// The histogram has native buckets and the classic ones, and its
	// sum is the samples' (HDR keeps 3 significant digits).
	mfs, err := c.Gatherer().Gather()
	if err != nil {
		t.Fatal(err)
	}
	var h *dto.Histogram
	for _, mf := range mfs {
		if mf.GetName() == "portex_connect_latency_seconds" {
			for _, m := range mf.Metric {
				for _, lp := range m.Label {
					if lp.GetName() == "pool" && lp.GetValue() == "a" {
						h = m.Histogram
					}
				}
			}
		}
	}
	if h == nil {
		t.Fatal("no connect latency histogram for pool a")
	}
	if len(h.PositiveSpan) == 0 || len(h.PositiveDelta) == 0 {
		t.Errorf("no native buckets: schema %d, spans %v", h.GetSchema(), h.PositiveSpan)
	}
	if len(h.Bucket) != len(connectBuckets) {
		t.Errorf("%d classic buckets, want %d", len(h.Bucket), len(connectBuckets))
	}
	for _, b := range h.Bucket {
		want := uint64(0)
		for _, v := range []float64{80e-6, 900e-6, 40e-3} {
			if v <= b.GetUpperBound() {
				want++
			}
		}
		if b.GetCumulativeCount() != want {
			t.Errorf("bucket le=%v holds %d, want %d", b.GetUpperBound(), b.GetCumulativeCount(), want)
		}
	}
	if sum := h.GetSampleSum(); math.Abs(sum-0.04098) > 0.0001 {
		t.Errorf("sum %v s, want about 0.04098", sum)
	}
}

// TestCollectorKeepsEndedVariants: a second variant has series of its
// own; the first's keep their final values; and what comes before Begin
// or after End counts nowhere.
func TestCollectorKeepsEndedVariants(t *testing.T) {
	c := New()
	c.Point(result.Point{Attempted: 99}) // before any variant: ignored
	c.Begin("s", plan("baseline"))
	c.Point(result.Point{T: 1, Attempted: 7, OK: 7})
	c.End(&result.Result{Dials: result.Dials{Attempted: 7, OK: 7}})
	c.Point(result.Point{Attempted: 99}) // between variants: ignored
	c.Event(result.Event{Type: result.EventExhaustion, AtSeconds: 3})
	c.Begin("s", plan("tw-reuse"))
	c.Point(result.Point{T: 1, Attempted: 4, OK: 4})
	if got := value(t, c, "portex_dials_attempted_total", labels("baseline")); got != 7 {
		t.Errorf("baseline attempted %v, want 7", got)
	}
	if got := value(t, c, "portex_exhausted", labels("baseline")); got != 0 {
		t.Errorf("baseline exhausted %v, want 0", got)
	}
	if got := value(t, c, "portex_dials_attempted_total", labels("tw-reuse")); got != 4 {
		t.Errorf("tw-reuse attempted %v, want 4", got)
	}
	if got := value(t, c, "portex_running", labels("baseline")); got != 0 {
		t.Errorf("baseline running %v, want 0", got)
	}
	c.End(nil) // a variant that produced no result only stops running
	if got := value(t, c, "portex_running", labels("tw-reuse")); got != 0 {
		t.Errorf("tw-reuse running %v after End(nil), want 0", got)
	}
	// The exposition lints clean (names, units, help).
	problems, err := testutil.GatherAndLint(c.Gatherer())
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		if strings.HasPrefix(p.Metric, "portex_") {
			t.Errorf("lint: %s: %s", p.Metric, p.Text)
		}
	}
}

// TestCollectorProgressEvents: a run that streams no points (programs')
// still sets the gauges from its progress events.
func TestCollectorProgressEvents(t *testing.T) {
	c := New()
	c.Begin("s", &loadgen.Plan{Variant: "default"})
	c.Event(result.Event{Type: result.EventProgress, AtSeconds: 1.5, Progress: &result.Progress{Open: 12,
		Client: &result.SocketStates{Established: 12, TimeWait: 30, PortsInUse: 42}}})
	l := labels("default")
	for _, tc := range []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"portex_open_connections", l, 12},
		{"portex_ports_in_use", l, 42},
		{"portex_sockets", labels("default", "side", "client", "state", "time_wait"), 30},
		{"portex_elapsed_seconds", l, 1.5},
	} {
		if got := value(t, c, tc.name, tc.labels); got != tc.want {
			t.Errorf("%s%v = %v, want %v", tc.name, tc.labels, got, tc.want)
		}
	}
	// No range in the plan: no budget until the result brings one.
	if got := value(t, c, "portex_port_budget", l); !math.IsNaN(got) {
		t.Errorf("budget %v before the result, want none", got)
	}
}

// TestExamplesUseTheseNames: every portex_ metric that the Grafana
// dashboard and the alert rules name is one the collector exposes.
func TestExamplesUseTheseNames(t *testing.T) {
	c := New()
	c.Begin("s", plan("baseline"))
	c.Point(result.Point{T: 1, Attempted: 2, OK: 1, Failed: 1, Failures: map[string]int64{"EADDRNOTAVAIL": 1},
		Client:       &result.SocketStates{PortsInUse: 1},
		Destinations: []result.DestinationSockets{{Destination: netip.MustParseAddrPort("198.19.0.1:7000"), Sockets: result.SocketStates{PortsInUse: 1}}}})
	c.Event(result.Event{Type: result.EventExhaustion, AtSeconds: 1})
	c.End(&result.Result{Pools: []result.PoolResult{{Name: "a", Failures: map[string]int64{"EADDRNOTAVAIL": 1}}}})
	mfs, err := c.Gatherer().Gather()
	if err != nil {
		t.Fatal(err)
	}
	exposed := map[string]bool{}
	for _, mf := range mfs {
		exposed[mf.GetName()] = true
		if mf.GetType() == dto.MetricType_HISTOGRAM {
			for _, suffix := range []string{"_bucket", "_sum", "_count"} {
				exposed[mf.GetName()+suffix] = true
			}
		}
	}
	name := regexp.MustCompile(`portex_[a-z_]+`)
	for _, path := range []string{"../examples/grafana/portex.json", "../examples/prometheus/portex-alerts.yml"} {
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		names := name.FindAllString(string(data), -1)
		if len(names) < 5 {
			t.Errorf("%s names %d metrics: %q", path, len(names), names)
		}
		for _, n := range names {
			if !exposed[n] {
				t.Errorf("%s uses %s, which the collector does not expose", path, n)
			}
		}
	}
}
