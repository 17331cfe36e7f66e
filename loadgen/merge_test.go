package loadgen

import (
	"context"
	"math"
	"testing"
	"time"

	"github.com/portex/portex/result"
)

func TestSplitSharesTheLoad(t *testing.T) {
	p := &Plan{Pools: []Pool{
		{Name: "closed", Workers: 10},
		{Name: "open", Rate: 90, MaxInFlight: 7, Ramp: []Stage{{To: 300, Over: time.Second}}},
		{Name: "keep", Workers: 2, PoolSize: 5, Close: CloseKeep},
	}}
	shards := Split(p, 3)
	var workers, inflight, pool int
	var rate, ramp float64
	for _, s := range shards {
		workers += s.Pools[0].Workers
		rate += s.Pools[1].Rate
		ramp += s.Pools[1].Ramp[0].To
		inflight += s.Pools[1].MaxInFlight
		pool += s.Pools[2].PoolSize
	}
	if workers != 10 || rate != 90 || ramp != 300 || inflight != 7 || pool != 5 {
		t.Errorf("shards add up to workers %d rate %v ramp %v in-flight %d pool %d", workers, rate, ramp, inflight, pool)
	}
	if p.Pools[1].Ramp[0].To != 300 {
		t.Error("Split changed the original plan")
	}
}

func TestMergeAddsShardsLosslessly(t *testing.T) {
	needsFullTier(t, "several real runs")
	ports := freePorts(t, 1)
	startEcho(t, Listener{Port: ports[0]})
	p := plan(ports, Pool{Name: "churn", Workers: 4, Messages: 1, Payload: 16, Close: CloseReset})
	p.Duration = 300 * time.Millisecond
	var shards []*result.Result
	for _, sp := range Split(p, 2) {
		r, err := Run(context.Background(), sp, Options{Target: loopback, Interval: 50 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		shards = append(shards, r)
	}
	m := Merge(shards)
	if m.Dials.OK != shards[0].Dials.OK+shards[1].Dials.OK || m.Pools[0].Dials.OK != m.Dials.OK {
		t.Errorf("merged ok %d (pool %d), shards %d + %d", m.Dials.OK, m.Pools[0].Dials.OK, shards[0].Dials.OK, shards[1].Dials.OK)
	}
	if m.Latency.Connect.Count != m.Dials.OK || m.Latency.EchoRTT.Count != shards[0].Latency.EchoRTT.Count+shards[1].Latency.EchoRTT.Count {
		t.Errorf("merged histograms: connect %d, rtt %d", m.Latency.Connect.Count, m.Latency.EchoRTT.Count)
	}
	var ok int64
	for _, pt := range m.TimeSeries.Points {
		ok += pt.OK
	}
	if ok != m.Dials.OK || m.Resources.Client.Processes != 2 {
		t.Errorf("time series adds to %d of %d ok dials; %d processes", ok, m.Dials.OK, m.Resources.Client.Processes)
	}
	if n := len(m.Events); n == 0 || m.Events[n-1].Type != result.EventEnd {
		t.Errorf("events %+v: want one end, last", m.Events)
	}
}

// evenSeries is a shard's series: a point every interval up to n
// intervals, each with ok dials.
func evenSeries(interval float64, n int, ok int64) []result.Point {
	pts := make([]result.Point, n)
	for i := range pts {
		pts[i] = result.Point{T: float64(i+1) * interval, Attempted: ok, OK: ok, Open: ok * int64(i+1)}
	}
	return pts
}

// A shard whose sampler fell behind sends one point for many intervals:
// its dials are spread over the time they took, not piled into the
// interval where its late point ended, and shards started apart land on
// one clock.
func TestMergeSeriesAlignsLateAndOffsetShards(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	steady := &result.Result{StartedAt: t0, Dials: result.Dials{OK: 100},
		TimeSeries: &result.TimeSeries{IntervalSeconds: 0.1, Points: evenSeries(0.1, 10, 10)}}
	// Started 50 ms later; one point at 0.1 s, then nothing until 0.9 s.
	late := &result.Result{StartedAt: t0.Add(50 * time.Millisecond), Dials: result.Dials{OK: 100},
		TimeSeries: &result.TimeSeries{IntervalSeconds: 0.1, Points: []result.Point{
			{T: 0.1, Attempted: 10, OK: 10, Open: 10},
			{T: 0.9, Attempted: 80, OK: 80, Open: 90},
			{T: 1.0, Attempted: 10, OK: 10, Open: 100},
		}}}
	m := Merge([]*result.Result{steady, late})
	var sum int64
	for i, p := range m.TimeSeries.Points {
		sum += p.OK
		if want := float64(i+1) * 0.1; math.Abs(p.T-want) > 1e-9 {
			t.Errorf("point %d at %.3f s, want %.3f s", i, p.T, want)
		}
		// The late shard made 10 dials per 100 ms on average, as the
		// steady one did: no interval holds much more than 20.
		if p.OK > 22 {
			t.Errorf("interval ending %.2f s holds %d ok dials: the late shard's are piled up (%+v)", p.T, p.OK, m.TimeSeries.Points)
		}
		if p.Attempted != p.OK {
			t.Errorf("interval ending %.2f s: attempted %d, ok %d", p.T, p.Attempted, p.OK)
		}
	}
	if sum != 200 || len(m.TimeSeries.Points) != 11 {
		t.Errorf("merged series adds to %d of 200 dials over %d points, want 11 (the late shard ends at 1.05 s)", sum, len(m.TimeSeries.Points))
	}
	if last := m.TimeSeries.Points[len(m.TimeSeries.Points)-1]; last.Open != 200 {
		t.Errorf("last point holds %d open, want 200", last.Open)
	}
}

// Shards sampled on a fine schedule merge onto that schedule.
func TestMergeSeriesKeepsFineSchedule(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	shard := func(start time.Time) *result.Result {
		pts := evenSeries(0.01, 10, 1) // ten points of 10 ms, then
		pts = append(pts, result.Point{T: 0.2, Attempted: 10, OK: 10}, result.Point{T: 0.3, Attempted: 10, OK: 10})
		return &result.Result{StartedAt: start, TimeSeries: &result.TimeSeries{IntervalSeconds: 0.1, FineIntervalSeconds: 0.01, FineForSeconds: 0.1, Points: pts}}
	}
	m := Merge([]*result.Result{shard(t0), shard(t0.Add(5 * time.Millisecond))})
	ts := m.TimeSeries
	if ts.FineIntervalSeconds != 0.01 || ts.FineForSeconds != 0.1 || len(ts.Points) != 13 {
		t.Fatalf("merged schedule %v/%v for %v s, %d points: want 10 fine ones and 3 of 100 ms", ts.FineIntervalSeconds, ts.IntervalSeconds, ts.FineForSeconds, len(ts.Points))
	}
	var sum int64
	for i, p := range ts.Points {
		sum += p.OK
		if i < 10 && math.Abs(p.T-float64(i+1)*0.01) > 1e-9 || i >= 10 && math.Abs(p.T-0.1*float64(i-8)) > 1e-9 {
			t.Errorf("point %d ends at %.3f s", i, p.T)
		}
	}
	if sum != 60 {
		t.Errorf("merged series adds to %d of 60 dials", sum)
	}
}

// Schedule lag merges across shards, per pool and in total, as the other
// histograms do.
func TestMergeAddsScheduleLag(t *testing.T) {
	shard := func(lags ...int64) *result.Result {
		h := newHistograms()
		for _, us := range lags {
			h[kindScheduleLag].RecordValue(us)
			h[kindConnect].RecordValue(10)
		}
		l := h.latency()
		return &result.Result{Latency: l, Pools: []result.PoolResult{{Name: "arrivals", Latency: l}}}
	}
	m := Merge([]*result.Result{shard(5, 5, 5), shard(900)})
	for _, l := range []result.Latency{m.Latency, m.Pools[0].Latency} {
		if l.ScheduleLag.Count != 4 || l.ScheduleLag.P50Us != 5 || l.ScheduleLag.MaxUs != 900 || l.Connect.Count != 4 {
			t.Errorf("merged lag %+v, connect %d samples: want 4 samples, p50 5, max 900", l.ScheduleLag, l.Connect.Count)
		}
	}
}

// Shards of an open pool interleave: shard i of n takes the whole
// schedule's arrivals i, i+n, i+2n, ..., through a ramp too, instead of
// every shard firing the first arrival at once.
func TestSplitInterleavesOpenSchedules(t *testing.T) {
	p := &Plan{Duration: time.Second, Pools: []Pool{
		{Name: "open", Rate: 90, MaxInFlight: 9, Ramp: []Stage{{To: 300, Over: time.Second}, {To: 30, Over: time.Second}}},
	}}
	whole := newPacer(p.Pools[0].Rate, p.Pools[0].Ramp, 0)
	for _, n := range []int{2, 3, 4} {
		shards := Split(p, n)
		pacers := make([]pacer, n)
		for i, s := range shards {
			if ph := s.Pools[0].Phase; ph < 0 || ph >= 1 {
				t.Fatalf("shard %d of %d: phase %v", i, n, ph)
			}
			pacers[i] = newPacer(s.Pools[0].Rate, s.Pools[0].Ramp, s.Pools[0].Phase)
		}
		for j := int64(0); j < 500; j++ {
			want, wok := whole.arrival(j)
			got, gok := pacers[j%int64(n)].arrival(j / int64(n))
			if wok != gok || (got-want).Abs() > time.Microsecond {
				t.Fatalf("%d shards: arrival %d is due at %v (%v) in shard %d, at %v (%v) in the whole plan",
					n, j, got, gok, j%int64(n), want, wok)
			}
		}
	}
	if p.Pools[0].Phase != 0 {
		t.Error("Split changed the original plan")
	}
	// Splitting a shard again interleaves within it.
	inner := Split(Split(p, 2)[1], 2) // the whole's arrivals 1, 5, 9, ... and 3, 7, 11, ...
	for k, wantJ := range map[int]int64{0: 1, 1: 3} {
		pc := newPacer(inner[k].Pools[0].Rate, inner[k].Pools[0].Ramp, inner[k].Pools[0].Phase)
		got, _ := pc.arrival(1)
		want, _ := whole.arrival(wantJ + 4)
		if (got - want).Abs() > time.Microsecond {
			t.Errorf("shard %d of shard 1: its second arrival at %v, want the whole's arrival %d at %v", k, got, wantJ+4, want)
		}
	}
}
