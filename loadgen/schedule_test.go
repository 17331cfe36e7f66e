package loadgen

import (
	"context"
	"math"
	"testing"
	"time"

	"github.com/portex/portex/result"
)

func TestResolutionSlots(t *testing.T) {
	r := NewResolution(100 * time.Millisecond)
	for _, c := range []struct {
		t    float64
		slot int
		end  float64
	}{
		{0, 0, 0.01},       // the start belongs to the first interval
		{0.004, 0, 0.01},   // inside the first fine interval
		{0.01, 0, 0.01},    // an interval holds its end
		{0.0101, 1, 0.02},  // and not its start
		{0.999, 99, 1.0},   // the last fine interval
		{1.0, 99, 1.0},     // ends the fine part
		{1.05, 100, 1.1},   // the first steady interval
		{2.0, 109, 2.0},    // steady intervals hold their end
		{2.0001, 110, 2.1}, // and not their start
	} {
		if got := r.slot(c.t); got != c.slot || math.Abs(r.slotEnd(got)-c.end) > 1e-9 {
			t.Errorf("slot(%v) = %d ending %v, want %d ending %v", c.t, got, r.slotEnd(got), c.slot, c.end)
		}
	}
	if r := NewResolution(20 * time.Millisecond); r.FineFor != 0 || r.At(0) != 20*time.Millisecond {
		t.Errorf("a 20 ms interval gets a fine part %+v: its tenth is under 5 ms", r)
	}
}

// A run sampled on the default schedule has points every 10 ms in its
// first second; and a point is stamped when its counters were read, even
// when the sampler was held up: a point whose tick came late covers the
// time it waited rather than claiming its counts happened earlier.
func TestTimeSeriesFineStartAndLateTicks(t *testing.T) {
	ports := freePorts(t, 1)
	startEcho(t, Listener{Port: ports[0]})
	p := plan(ports, Pool{Name: "churn", Workers: 2, Messages: 1, Payload: 16, Close: CloseReset})
	p.Duration = 400 * time.Millisecond
	type call struct {
		at time.Time
		pt result.Point
	}
	var calls []call
	res, err := Run(context.Background(), p, Options{Target: loopback, OnPoint: func(pt result.Point) {
		calls = append(calls, call{time.Now(), pt})
		if len(calls) == 5 {
			time.Sleep(150 * time.Millisecond) // a sampler held up, as by a slow /proc read
		}
	}})
	if err != nil {
		t.Fatal(err)
	}
	if ts := res.TimeSeries; ts.FineIntervalSeconds != 0.01 || ts.FineForSeconds != 1 || ts.IntervalSeconds != 0.1 {
		t.Errorf("schedule %+v: want 10 ms for the first second, then 100 ms", ts)
	}
	if len(calls) < 20 {
		t.Errorf("%d points in 400 ms: want about one every 10 ms (less the 150 ms held up)", len(calls))
	}
	var ok int64
	for i, c := range calls {
		ok += c.pt.OK
		// The point is handed over just after it is stamped.
		if lag := c.at.Sub(res.StartedAt) - time.Duration(c.pt.T*float64(time.Second)); lag > 20*time.Millisecond {
			t.Errorf("point %d stamped %.3f s, handed over %v later: stamped with its tick, not its counters", i, c.pt.T, lag)
		}
	}
	if ok != res.Dials.OK {
		t.Errorf("points add to %d ok dials of %d", ok, res.Dials.OK)
	}
}
