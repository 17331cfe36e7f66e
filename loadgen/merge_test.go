package loadgen

import (
	"context"
	"testing"
	"time"
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
	ports := freePorts(t, 1)
	startEcho(t, Listener{Port: ports[0]})
	p := plan(ports, Pool{Name: "churn", Workers: 4, Messages: 1, Payload: 16, Close: CloseReset})
	p.Duration = 300 * time.Millisecond
	var shards []*Result
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
	if n := len(m.Events); n == 0 || m.Events[n-1].Type != EventEnd {
		t.Errorf("events %+v: want one end, last", m.Events)
	}
}

// Schedule lag merges across shards, per pool and in total, as the other
// histograms do.
func TestMergeAddsScheduleLag(t *testing.T) {
	shard := func(lags ...int64) *Result {
		h := newHistograms()
		for _, us := range lags {
			h[kindScheduleLag].RecordValue(us)
			h[kindConnect].RecordValue(10)
		}
		l := h.latency()
		return &Result{Latency: l, Pools: []PoolResult{{Name: "arrivals", Latency: l}}}
	}
	m := Merge([]*Result{shard(5, 5, 5), shard(900)})
	for _, l := range []Latency{m.Latency, m.Pools[0].Latency} {
		if l.ScheduleLag.Count != 4 || l.ScheduleLag.P50Us != 5 || l.ScheduleLag.MaxUs != 900 || l.Connect.Count != 4 {
			t.Errorf("merged lag %+v, connect %d samples: want 4 samples, p50 5, max 900", l.ScheduleLag, l.Connect.Count)
		}
	}
}
