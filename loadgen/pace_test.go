package loadgen

import (
	"context"
	"slices"
	"testing"
	"time"
)

func TestPacerArrivals(t *testing.T) {
	ms := time.Millisecond
	tests := []struct {
		name  string
		rate  float64
		ramp  []Stage
		k     int64
		want  time.Duration
		never bool
	}{
		{name: "the first arrival is due at once", rate: 100, k: 0, want: 0},
		{name: "constant rate: k/rate", rate: 100, k: 1, want: 10 * ms},
		{name: "constant rate far out", rate: 200, k: 1000, want: 5 * time.Second},
		{name: "no rate at all: never", rate: 0, k: 1, never: true},
		{name: "ramp 0 to 100/s over 1s: 50 arrivals in the first second", ramp: []Stage{{To: 100, Over: time.Second}}, k: 50, want: time.Second},
		{name: "ramp 0 to 100/s: the 8th arrival at sqrt(2·8/100) s", ramp: []Stage{{To: 100, Over: time.Second}}, k: 8, want: 400 * ms},
		{name: "after the ramp the last rate holds", ramp: []Stage{{To: 100, Over: time.Second}}, k: 150, want: 2 * time.Second},
		{name: "two stages: 100/s then up to 300/s over 1s (200 arrivals)", rate: 100,
			ramp: []Stage{{To: 100, Over: time.Second}, {To: 300, Over: time.Second}}, k: 300, want: 2 * time.Second},
		{name: "ramp down to zero stops arrivals", rate: 100, ramp: []Stage{{To: 0, Over: time.Second}}, k: 51, never: true},
		{name: "ramp down: the 50th arrival is the last, at the end", rate: 100, ramp: []Stage{{To: 0, Over: time.Second}}, k: 50, want: time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := newPacer(tt.rate, tt.ramp, 0).arrival(tt.k)
			if tt.never {
				if ok {
					t.Fatalf("arrival(%d) = %v, want never", tt.k, got)
				}
				return
			}
			if !ok {
				t.Fatalf("arrival(%d): never, want %v", tt.k, tt.want)
			}
			if diff := got - tt.want; diff < -time.Microsecond || diff > time.Microsecond {
				t.Errorf("arrival(%d) = %v, want %v", tt.k, got, tt.want)
			}
		})
	}
}

func TestSpinFor(t *testing.T) {
	tests := []struct {
		name string
		gap  time.Duration
		want time.Duration
	}{
		{name: "50/s: capped at maxSpin", gap: 20 * time.Millisecond, want: maxSpin},
		{name: "500/s: a fiftieth of the gap", gap: 2 * time.Millisecond, want: 40 * time.Microsecond},
		{name: "5000/s: a fiftieth of the gap", gap: 200 * time.Microsecond, want: 4 * time.Microsecond},
		{name: "the first arrival: no gap, no spin", gap: 0, want: 0},
	}
	for _, tt := range tests {
		if got := spinFor(tt.gap); got != tt.want {
			t.Errorf("%s: spinFor(%v) = %v, want %v", tt.name, tt.gap, got, tt.want)
		}
	}
}

func TestAlarmEndsWithItsContext(t *testing.T) {
	checkNoLeaks(t)
	ctx, cancel := context.WithCancel(context.Background())
	a := newAlarm(ctx)
	defer a.close()
	if a.fd < 0 {
		t.Fatal("no timerfd: the alarm fell back to a Go timer")
	}
	time.AfterFunc(20*time.Millisecond, cancel)
	t0 := time.Now()
	if a.sleepUntil(ctx, t0.Add(time.Hour), 0) {
		t.Fatal("sleepUntil reported the hour passed")
	}
	if d := time.Since(t0); d > time.Second {
		t.Errorf("sleepUntil returned %v after its context ended", d)
	}
	if a.sleepUntil(ctx, time.Now().Add(time.Millisecond), 0) {
		t.Error("sleepUntil on an ended context reported its time came")
	}
}

// TestAlarmIsPrecise waits for times a fraction of a millisecond ahead, as
// the schedule of a pool does between arrivals: a Go timer wakes up to a
// millisecond late (the runtime's poller waits whole milliseconds), the
// alarm must not.
func TestAlarmIsPrecise(t *testing.T) {
	needsFullTier(t, "a quiet machine for its timing")
	ctx := context.Background()
	a := newAlarm(ctx)
	defer a.close()
	for _, spin := range []time.Duration{0, maxSpin} {
		var late []time.Duration
		for i := 0; i < 60; i++ {
			due := time.Now().Add(time.Duration(100+10*i) * time.Microsecond)
			if !a.sleepUntil(ctx, due, spin) {
				t.Fatal("sleepUntil gave up")
			}
			d := time.Since(due)
			if d < 0 {
				t.Fatalf("woke %v early", -d)
			}
			late = append(late, d)
		}
		slices.Sort(late)
		if p50 := late[len(late)/2]; p50 > 300*time.Microsecond {
			t.Errorf("spin %v: median lateness %v, want well under a millisecond (all: %v)", spin, p50, late)
		}
	}
}
