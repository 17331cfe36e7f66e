package report

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
	"github.com/portex/portex/result"
)

// The -update flag rewrites the golden files under testdata/. It is looked
// up rather than declared in a variable, so that another test file of the
// package may declare it too.
func init() {
	if flag.Lookup("update") == nil {
		flag.Bool("update", false, "rewrite the golden files under testdata/")
	}
}

func updating() bool {
	f := flag.Lookup("update")
	return f != nil && f.Value.String() == "true"
}

// golden compares got with testdata/name, or rewrites it under -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if updating() {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./report -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the golden file (go test ./report -update rewrites it; review the diff)\n--- got:\n%s\n--- want:\n%s", name, got, want)
	}
}

func ptr[T any](v T) *T { return &v }

// histogram makes a lossless latency summary of n samples spread from lo
// to hi microseconds, with a tail: deterministic, so the tests are.
func histogram(t testing.TB, n int, lo, hi int64) result.LatencySummary {
	t.Helper()
	h := hdrhistogram.New(1, 60_000_000, 3)
	for i := 0; i < n; i++ {
		v := lo + (hi-lo)*int64(i*i)/int64(n*n)
		if i%97 == 96 {
			v *= 4 // the slow tail
		}
		if err := h.RecordValue(v); err != nil {
			t.Fatal(err)
		}
	}
	enc, err := h.Encode(hdrhistogram.V2CompressedEncodingCookieBase)
	if err != nil {
		t.Fatal(err)
	}
	return result.LatencySummary{
		Count: h.TotalCount(), MeanUs: h.Mean(),
		P50Us: h.ValueAtQuantile(50), P90Us: h.ValueAtQuantile(90), P99Us: h.ValueAtQuantile(99),
		P999Us: h.ValueAtQuantile(99.9), MaxUs: h.Max(), HDR: string(enc),
	}
}

// churnSeries is a run at 50 dials/s against a 100-port range whose ports
// stay in TIME_WAIT: full after 2 s, then every dial fails until the end,
// points intervals of 0.1 s.
func churnSeries(points int, reuse bool) *result.TimeSeries {
	ts := &result.TimeSeries{IntervalSeconds: 0.1}
	tw := 0
	for i := 1; i <= points; i++ {
		p := result.Point{T: float64(i) / 10, Attempted: 5, Open: 1}
		switch {
		case reuse || tw < 100:
			p.OK = 5
			tw = min(tw+5, 100)
			if reuse {
				tw = min(tw, 50)
			}
		default:
			p.OK, p.Failed = 0, 9
			p.Attempted = 9
			p.Failures = map[string]int64{"EADDRNOTAVAIL": 9}
			p.Open = 0
		}
		if i%7 == 0 && !reuse {
			p.Failures = addClass(p.Failures, "ECONNRESET", 1)
		}
		p.Client = &result.SocketStates{Established: int(p.Open), TimeWait: tw, PortsInUse: tw + int(p.Open)}
		if reuse {
			p.Client.TimeWaitRecent = tw // a second's worth: 5 every 0.1 s
		}
		p.Server = &result.SocketStates{Established: int(p.Open), Listen: 1, PortsInUse: int(p.Open)}
		ts.Points = append(ts.Points, p)
	}
	return ts
}

func addClass(m map[string]int64, class string, n int64) map[string]int64 {
	if m == nil {
		m = map[string]int64{}
	}
	m[class] += n
	return m
}

// fixture is a fixed result file with three runs: one that runs out of
// ports (with expectations, one failed, and the model's prediction), one
// that does not (no expectations), and one whose sandbox failed.
func fixture(t testing.TB) *result.ResultFile {
	t.Helper()
	start := time.Date(2026, 11, 30, 8, 30, 0, 0, time.UTC)
	sysctls := func(reuse string) map[string]string {
		return map[string]string{
			"net.ipv4.ip_local_port_range": "50000 50099",
			"net.ipv4.tcp_tw_reuse":        reuse,
			"net.ipv4.tcp_fin_timeout":     "60",
		}
	}
	base := &result.Result{
		Variant: "baseline", Runtime: "netns", StartedAt: start, ElapsedSeconds: 3,
		Stopped: result.StoppedDuration, Sysctls: sysctls("0"), Nofile: 8192, PortRangeSize: 100,
		Dials:    result.Dials{Attempted: 190, OK: 100, Failed: 90},
		Failures: map[string]int64{"EADDRNOTAVAIL": 90, "ECONNRESET": 4},
		Exhaustion: &result.Exhaustion{Class: "EADDRNOTAVAIL", AtSeconds: 2.013, DialsOKBefore: 100, OpenConnections: 0,
			Sockets: &result.SocketStates{TimeWait: 100, PortsInUse: 100}},
		Latency:  result.Latency{Connect: histogram(t, 100, 60, 900), EchoRTT: histogram(t, 100, 80, 1500)},
		PeakOpen: 1,
		Pools: []result.PoolResult{{Name: "churn", Dials: result.Dials{Attempted: 190, OK: 100, Failed: 90},
			Failures: map[string]int64{"EADDRNOTAVAIL": 90, "ECONNRESET": 4}}},
		Server: &result.ServerCounts{Accepted: 100, ClosedByPeer: 100, BytesEchoed: 6400, PeakOpen: 1},
		Events: []result.Event{
			{Type: result.EventFirstFailure, AtSeconds: 0.7, Class: "ECONNRESET", Pool: "churn"},
			{Type: result.EventFirstFailure, AtSeconds: 2.013, Class: "EADDRNOTAVAIL", Pool: "churn"},
			{Type: result.EventExhaustion, AtSeconds: 2.013, Class: "EADDRNOTAVAIL", Pool: "churn",
				Progress: &result.Progress{Open: 0, Client: &result.SocketStates{TimeWait: 100, PortsInUse: 100}}},
			{Type: result.EventRecovery, AtSeconds: 2.65, Pool: "churn"},
			{Type: result.EventEnd, AtSeconds: 3, Message: "duration"},
		},
		Expectations: []result.Expectation{
			{Name: "exhausted", Expected: "true", Measured: "true", Pass: true},
			{Name: "within", Expected: "exhaustion by 2.5s", Measured: "2.013s", Pass: true},
			{Name: "failures.EADDRNOTAVAIL", Expected: ">= 1", Measured: "90", Pass: true},
			{Name: "p99_connect", Expected: "< 500µs", Measured: "892µs", Pass: false},
		},
		Model: &result.Model{PortsNeeded: 3000, PortBudget: 100, ExhaustionAtSeconds: ptr(2.0),
			MaxSustainableRatePerS: ptr(100.0 / 60), RelativeError: ptr(0.012),
			Assumptions: []string{"TIME_WAIT lasts 60s on the client, which closes first", "tcp_tw_reuse=0: no reuse"}},
		TimeSeries: churnSeries(30, false),
	}
	reuse := &result.Result{
		Variant: "tw-reuse", Runtime: "netns", StartedAt: start.Add(4 * time.Second), ElapsedSeconds: 3,
		Stopped: result.StoppedDuration, Sysctls: sysctls("1"), Nofile: 8192, PortRangeSize: 100,
		Dials:    result.Dials{Attempted: 150, OK: 150},
		Failures: map[string]int64{},
		Latency:  result.Latency{Connect: histogram(t, 150, 50, 700), EchoRTT: histogram(t, 150, 70, 1200)},
		PeakOpen: 1,
		Pools: []result.PoolResult{{Name: "churn", Dials: result.Dials{Attempted: 150, OK: 150},
			Failures: map[string]int64{}}},
		Server: &result.ServerCounts{Accepted: 150, ClosedByPeer: 150, BytesEchoed: 9600, PeakOpen: 1},
		Events: []result.Event{{Type: result.EventEnd, AtSeconds: 3, Message: "duration"}},
		Model: &result.Model{PortsNeeded: 50, PortBudget: 100, MaxSustainableRatePerS: ptr(100.0),
			CycleSeconds: 1, Tuples: 1, ReusesTimeWait: true, HorizonSeconds: 3600},
		TimeSeries: churnSeries(30, true),
	}
	broken := &result.Result{
		Variant: "rst-close", Runtime: "netns", StartedAt: start.Add(8 * time.Second), ElapsedSeconds: 0.25,
		Stopped: result.StoppedError, Error: "sandbox: the agent exited: signal: killed",
		Sysctls: sysctls("0"), PortRangeSize: 100,
		Dials:    result.Dials{Attempted: 12, OK: 12},
		Failures: map[string]int64{},
		Latency:  result.Latency{Connect: histogram(t, 12, 40, 300)},
	}
	return &result.ResultFile{Schema: result.Schema, Scenario: "time-wait-churn", Runs: []*result.Result{base, reuse, broken}}
}

// bigFixture is a result whose one run has a time series of n points.
func bigFixture(t testing.TB, n int) *result.ResultFile {
	r := fixture(t)
	r.Runs = r.Runs[:1]
	r.Runs[0].TimeSeries = churnSeries(n, false)
	return r
}
