package loadgen

import (
	"context"
	"net/netip"
	"testing"
	"time"

	"github.com/portex/portex/result"
)

func TestOpenModelKeepsItsSchedule(t *testing.T) {
	needsFullTier(t, "a second on a schedule")
	ports := freePorts(t, 1)
	checkNoLeaks(t)
	startEcho(t, Listener{Port: ports[0]})
	p := plan(ports, Pool{Name: "arrivals", Rate: 200, MaxInFlight: 50, Messages: 1, Payload: 16, Close: CloseReset})
	p.Duration = time.Second
	res, err := Run(context.Background(), p, Options{Target: loopback})
	if err != nil {
		t.Fatal(err)
	}
	// 200/s for 1 s: 200 arrivals (201 counting the one due at the end).
	if res.Dials.OK < 190 || res.Dials.OK > 202 || res.Dropped != 0 {
		t.Errorf("ok %d dropped %d, want about 200 and none dropped", res.Dials.OK, res.Dropped)
	}
}

func TestOpenModelDropsWhatFindsNoSlot(t *testing.T) {
	needsFullTier(t, "a second on a schedule")
	ports := freePorts(t, 1)
	startEcho(t, Listener{Port: ports[0]})
	// One slot, each connection held 400 ms, 100 arrivals/s: the slot takes
	// one arrival of every 40; the rest are dropped, never queued.
	p := plan(ports, Pool{Name: "busy", Rate: 100, MaxInFlight: 1, Hold: Hold{Kind: HoldFixed, Min: 400 * time.Millisecond}, Close: CloseReset})
	p.Duration = time.Second
	res, err := Run(context.Background(), p, Options{Target: loopback})
	if err != nil {
		t.Fatal(err)
	}
	if res.Dials.OK < 2 || res.Dials.OK > 4 || res.Dropped < 90 {
		t.Errorf("ok %d dropped %d: want 3 served and ~97 dropped", res.Dials.OK, res.Dropped)
	}
	if res.Dials.OK+res.Dropped < 99 {
		t.Errorf("ok %d + dropped %d: arrivals went missing", res.Dials.OK, res.Dropped)
	}
}

func TestKeepAliveReusesPoolSizeConnections(t *testing.T) {
	ports := freePorts(t, 1)
	checkNoLeaks(t)
	srv := startEcho(t, Listener{Port: ports[0]})
	p := plan(ports, Pool{Name: "keep", Workers: 10, PoolSize: 3, Messages: 2, Payload: 32, Close: CloseKeep})
	p.Duration = 300 * time.Millisecond
	res, err := Run(context.Background(), p, Options{Target: loopback})
	if err != nil {
		t.Fatal(err)
	}
	if res.Dials.OK != 3 || res.PeakOpen != 3 || len(res.Failures) != 0 {
		t.Fatalf("ok %d peak %d failures %v: want 3 connections, reused", res.Dials.OK, res.PeakOpen, res.Failures)
	}
	if res.Latency.EchoRTT.Count < 100 {
		t.Errorf("only %d echoes over 3 kept connections", res.Latency.EchoRTT.Count)
	}
	srv.Close()
	if c := srv.Counts(); c.Accepted != 3 {
		t.Errorf("server accepted %d, want 3", c.Accepted)
	}
}

func TestLeakShare(t *testing.T) {
	needsFullTier(t, "a run of half a second")
	ports := freePorts(t, 1)
	startEcho(t, Listener{Port: ports[0]})
	p := plan(ports, Pool{Name: "leaky", Workers: 4, Close: CloseReset, Leak: 0.25})
	p.Duration = 300 * time.Millisecond
	res, err := Run(context.Background(), p, Options{Target: loopback})
	if err != nil {
		t.Fatal(err)
	}
	share := float64(res.PeakOpen) / float64(res.Dials.OK)
	if res.Dials.OK < 400 || share < 0.18 || share > 0.32 {
		t.Errorf("ok %d peak open %d (%.2f): want about a quarter leaked", res.Dials.OK, res.PeakOpen, share)
	}
}

func TestStopRules(t *testing.T) {
	ports := freePorts(t, 1) // nobody listens: every dial is refused
	for _, tt := range []struct {
		name string
		stop Stop
		max  int64
	}{
		{"first failure stops the run", Stop{On: StopOnFirstFailure}, 4},
		{"after 30 failures", Stop{On: StopNever, AfterFailures: 30}, 34},
	} {
		t.Run(tt.name, func(t *testing.T) {
			p := plan(ports, Pool{Name: "refused", Workers: 4, Close: CloseClient})
			p.Duration, p.Stop = 5*time.Second, tt.stop
			res, err := Run(context.Background(), p, Options{Target: loopback})
			if err != nil {
				t.Fatal(err)
			}
			if res.Stopped != result.StoppedFailures || res.Dials.Failed > tt.max || res.ElapsedSeconds > 2 {
				t.Errorf("stopped %q after %d failures in %.2fs", res.Stopped, res.Dials.Failed, res.ElapsedSeconds)
			}
		})
	}
}

func TestPoolWindows(t *testing.T) {
	needsFullTier(t, "a run of half a second")
	ports := freePorts(t, 1)
	startEcho(t, Listener{Port: ports[0]})
	p := plan(ports,
		Pool{Name: "early", Workers: 1, Close: CloseReset, Duration: 200 * time.Millisecond},
		Pool{Name: "late", Workers: 1, Close: CloseReset, Start: 300 * time.Millisecond, Ports: ports},
	)
	p.Duration = 500 * time.Millisecond
	p.Stop.On = StopOnFirstFailure // any refused dial would end it early
	res, err := Run(context.Background(), p, Options{Target: loopback, Interval: 25 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	// Between the early pool's end (200 ms) and the late one's start
	// (300 ms) nobody dials.
	quiet := false
	for _, pt := range res.TimeSeries.Points {
		quiet = quiet || (pt.T > 0.225 && pt.T <= 0.3 && pt.Attempted == 0)
	}
	if !quiet {
		t.Errorf("no quiet interval between the windows: %+v", res.TimeSeries.Points)
	}
	if res.Pools[0].Dials.OK == 0 || res.Pools[1].Dials.OK == 0 {
		t.Fatalf("pools %+v: both should have run", res.Pools)
	}
	// The late pool runs 200 ms, the early one 200 ms: similar counts (a
	// busy machine can starve either window a while: loosely).
	ratio := float64(res.Pools[0].Dials.OK) / float64(res.Pools[1].Dials.OK)
	if ratio < 0.1 || ratio > 10 {
		t.Errorf("early %d vs late %d dials: want about equal windows", res.Pools[0].Dials.OK, res.Pools[1].Dials.OK)
	}
}

func TestSourcesAndBindModes(t *testing.T) {
	needsFullTier(t, "three real runs")
	ports := freePorts(t, 2)
	startEcho(t, Listener{Port: ports[0]}, Listener{Port: ports[1]})
	sources := []netip.Addr{netip.MustParseAddr("127.0.0.1"), netip.MustParseAddr("127.0.0.2")}
	for _, bind := range []BindMode{BindAuto, BindBeforeConnect, BindNoPort} {
		p := plan(ports, Pool{Name: "b", Workers: 4, Sources: 2, Bind: bind, Messages: 1, Payload: 8, Hold: Hold{Kind: HoldForever}, Close: CloseClient})
		p.Duration = 200 * time.Millisecond
		res, err := Run(context.Background(), p, Options{Target: loopback, Sources: sources})
		if err != nil {
			t.Fatal(err)
		}
		if res.Dials.OK != 4 || len(res.Failures) != 0 {
			t.Errorf("bind %s: ok %d failures %v", bind, res.Dials.OK, res.Failures)
		}
	}
}

// TestOpenModelConnectIsTheSystemCall runs an open-model pool at a low
// rate: connect latency must be the connect() call's, far below the
// millisecond a Go timer may wake late, and how late each arrival started
// is its own histogram, one sample per arrival; a closed-model pool has
// no schedule and no lag.
func TestOpenModelConnectIsTheSystemCall(t *testing.T) {
	needsFullTier(t, "a quiet machine for its timing")
	ports := freePorts(t, 1)
	checkNoLeaks(t)
	startEcho(t, Listener{Port: ports[0]})
	p := plan(ports,
		Pool{Name: "arrivals", Rate: 25, MaxInFlight: 10, Messages: 1, Payload: 16, Close: CloseReset},
		Pool{Name: "loop", Workers: 1, Messages: 1, Payload: 16, Hold: Hold{Kind: HoldFixed, Min: 40 * time.Millisecond}, Close: CloseReset})
	p.Duration = 2 * time.Second
	res, err := Run(context.Background(), p, Options{Target: loopback})
	if err != nil {
		t.Fatal(err)
	}
	open, closed := res.Pools[0], res.Pools[1]
	if open.Dials.OK < 45 || open.Dials.Failed != 0 || open.Dropped != 0 {
		t.Fatalf("open pool: dials %+v, dropped %d: want about 50 ok", open.Dials, open.Dropped)
	}
	lag := open.Latency.ScheduleLag
	if lag.Count != open.Dials.Attempted {
		t.Errorf("schedule lag: %d samples for %d arrivals", lag.Count, open.Dials.Attempted)
	}
	if c := open.Latency.Connect; c.Count != open.Dials.OK || c.P50Us > 400 {
		t.Errorf("open pool's connect: p50 %d µs over %d samples, want the %d dials' connect() well under a millisecond", c.P50Us, c.Count, open.Dials.OK)
	}
	if n := closed.Latency.ScheduleLag.Count; n != 0 || closed.Dials.OK == 0 {
		t.Errorf("closed pool: %d schedule lag samples over %d dials, want none", n, closed.Dials.OK)
	}
	if res.Latency.ScheduleLag.Count != lag.Count || res.Latency.Connect.Count != open.Dials.OK+closed.Dials.OK {
		t.Errorf("run totals: lag %d, connect %d; pools: lag %d, dials %d + %d",
			res.Latency.ScheduleLag.Count, res.Latency.Connect.Count, lag.Count, open.Dials.OK, closed.Dials.OK)
	}
	t.Logf("open: connect p50 %d µs, schedule lag p50 %d µs p99 %d µs; closed: connect p50 %d µs",
		open.Latency.Connect.P50Us, lag.P50Us, lag.P99Us, closed.Latency.Connect.P50Us)
}

// An open-model arrival served on a kept-alive connection dials nothing,
// and still has its schedule lag: one sample per arrival taken.
func TestOpenKeepAliveArrivalsHaveScheduleLag(t *testing.T) {
	needsFullTier(t, "a run of half a second")
	ports := freePorts(t, 1)
	checkNoLeaks(t)
	startEcho(t, Listener{Port: ports[0]})
	p := plan(ports, Pool{Name: "keep", Rate: 100, MaxInFlight: 5, PoolSize: 2, Messages: 1, Payload: 16, Close: CloseKeep})
	p.Duration = 500 * time.Millisecond
	res, err := Run(context.Background(), p, Options{Target: loopback})
	if err != nil {
		t.Fatal(err)
	}
	lag := res.Latency.ScheduleLag.Count
	if res.Dials.OK < 1 || res.Dials.OK > 2 || lag < 40 || lag != res.Latency.EchoRTT.Count || lag+res.Dropped < 49 {
		t.Errorf("dials %d, schedule lag samples %d, echoes %d, dropped %d: want at most 2 dials and a sample for each of about 50 arrivals",
			res.Dials.OK, lag, res.Latency.EchoRTT.Count, res.Dropped)
	}
}
