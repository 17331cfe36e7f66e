package analysis

import (
	"testing"
	"time"

	"github.com/portex/portex/result"
)

func TestCheckScheduleLag(t *testing.T) {
	open := &result.Result{Latency: result.Latency{
		Connect:     result.LatencySummary{Count: 100, P50Us: 20, P99Us: 80},
		ScheduleLag: result.LatencySummary{Count: 100, P50Us: 40, P99Us: 1500},
	}}
	closed := &result.Result{Latency: result.Latency{Connect: result.LatencySummary{Count: 100, P50Us: 20, P99Us: 80}}}
	tests := []struct {
		name   string
		expect Expect
		r      *result.Result
		want   result.Expectation
	}{
		{"p99 below the bound passes", Expect{P99ScheduleLag: 2 * time.Millisecond}, open,
			result.Expectation{Name: "p99_schedule_lag", Expected: "< 2ms", Measured: "1.5ms", Pass: true}},
		{"p99 above the bound fails", Expect{P99ScheduleLag: time.Millisecond}, open,
			result.Expectation{Name: "p99_schedule_lag", Expected: "< 1ms", Measured: "1.5ms", Pass: false}},
		{"p50 is its own key", Expect{P50ScheduleLag: 50 * time.Microsecond}, open,
			result.Expectation{Name: "p50_schedule_lag", Expected: "< 50µs", Measured: "40µs", Pass: true}},
		{"the bound is exclusive", Expect{P50ScheduleLag: 40 * time.Microsecond}, open,
			result.Expectation{Name: "p50_schedule_lag", Expected: "< 40µs", Measured: "40µs", Pass: false}},
		{"no pool with a rate: no samples, which fails", Expect{P99ScheduleLag: time.Second}, closed,
			result.Expectation{Name: "p99_schedule_lag", Expected: "< 1s", Measured: "no samples (no pool with a rate)", Pass: false}},
		{"p99_connect is the connect() call's", Expect{P99Connect: 100 * time.Microsecond}, open,
			result.Expectation{Name: "p99_connect", Expected: "< 100µs", Measured: "80µs", Pass: true}},
	}
	for _, tt := range tests {
		got := Check(&tt.expect, tt.r)
		if len(got) != 1 || got[0] != tt.want {
			t.Errorf("%s: got %+v, want %+v", tt.name, got, tt.want)
		}
	}
}

// expect.verdict holds a run to its verdict: a run that only did not run
// out is not "held".
func TestCheckVerdict(t *testing.T) {
	within := modelRun(1.5, result.Model{PortsNeeded: 120, CycleSeconds: 60.2}, steadySeries(1.5, 0.2, 120, 0))
	held := modelRun(1.5, result.Model{PortsNeeded: 20, CycleSeconds: 0.2}, steadySeries(1.5, 0.2, 20, 0))
	for _, tt := range []struct {
		name string
		r    *result.Result
		want result.Expectation
	}{
		{"a steady state shown is held", held,
			result.Expectation{Name: "verdict", Expected: "held", Measured: "held (measured)", Pass: true}},
		{"not exhausted within the run is not held", within,
			result.Expectation{Name: "verdict", Expected: "held", Measured: "not_exhausted (model)", Pass: false}},
	} {
		got := Check(&Expect{Verdict: OutcomeHeld}, tt.r)
		if len(got) != 1 || got[0] != tt.want {
			t.Errorf("%s: got %+v, want %+v", tt.name, got, tt.want)
		}
	}
}
