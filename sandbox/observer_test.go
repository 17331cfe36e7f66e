package sandbox

import (
	"bytes"
	"context"
	"encoding/json"
	"net/netip"
	"reflect"
	"testing"

	"github.com/portex/portex/loadgen"
	"github.com/portex/portex/result"
)

// TestCollectShowsTheObserverTheStream: Collect shows every event, point
// and server sample to the Observer, in the stream's order, and still
// keeps the points and samples for Assemble.
func TestCollectShowsTheObserverTheStream(t *testing.T) {
	var stream bytes.Buffer
	enc := json.NewEncoder(&stream)
	pt1 := result.Point{T: 0.1, Attempted: 5, OK: 4, Failed: 1, Failures: map[string]int64{"EADDRNOTAVAIL": 1}}
	pt2 := result.Point{T: 0.2, Attempted: 2, OK: 2, Open: 6}
	ev := result.Event{Type: result.EventExhaustion, AtSeconds: 0.15, Class: "EADDRNOTAVAIL"}
	sample := TimedStates{UnixNano: 1, States: result.SocketStates{Established: 6}}
	for _, m := range []Message{
		{Type: MsgPoint, Point: &pt1},
		{Type: MsgEvent, Event: &ev},
		{Type: MsgSample, Sample: &sample},
		{Type: MsgPoint, Point: &pt2},
		{Type: MsgResult, Result: &result.Result{TimeSeries: &result.TimeSeries{}}},
	} {
		if err := enc.Encode(m); err != nil {
			t.Fatal(err)
		}
	}
	var seen []string
	var points []result.Point
	obs := &Observer{
		Event:        func(e result.Event) { seen = append(seen, "event "+e.Type) },
		Point:        func(p result.Point) { seen = append(seen, "point"); points = append(points, p) },
		ServerStates: func(st result.SocketStates) { seen = append(seen, "server") },
	}
	c, err := Collect(&stream, obs)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"point", "event exhaustion", "server", "point"}; !reflect.DeepEqual(seen, want) {
		t.Errorf("the observer saw %q, want %q", seen, want)
	}
	if !reflect.DeepEqual(points, []result.Point{pt1, pt2}) || len(c.Points) != 2 || len(c.Server) != 1 {
		t.Errorf("observer points %+v; collected %d points, %d samples", points, len(c.Points), len(c.Server))
	}
	// An Observer with no fields, and none at all, see nothing and break nothing.
	for _, obs := range []*Observer{{}, nil} {
		var again bytes.Buffer
		enc := json.NewEncoder(&again)
		enc.Encode(Message{Type: MsgPoint, Point: &pt1})
		enc.Encode(Message{Type: MsgEvent, Event: &ev})
		if c, err := Collect(&again, obs); err != nil || len(c.Points) != 1 {
			t.Errorf("observer %v: %v, %d points", obs, err, len(c.Points))
		}
	}
}

// TestHostRuntimeShowsPoints: the host runtime, which runs the engine in
// its own process, shows the observer each point and still returns them
// all in the result's series.
func TestHostRuntimeShowsPoints(t *testing.T) {
	needsFullTier(t)
	if !privateLoopback(t) {
		return
	}
	srv, err := loadgen.StartServer(loadgen.ServerConfig{Addr: netip.MustParseAddr("127.0.0.1"), Listeners: []loadgen.Listener{{Port: 7000}}})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	h := &Host{Target: netip.MustParseAddrPort("127.0.0.1:7000")}
	p := holdPlan(20, loadgen.PortRange{Lo: 50000, Hi: 50009})
	p.Runtime, p.Sandbox.Sysctls, p.Sandbox.Nofile = "host", nil, 0
	var shown []result.Point
	events := 0
	res, err := h.Run(context.Background(), p, &Observer{
		Point: func(pt result.Point) { shown = append(shown, pt) },
		Event: func(result.Event) { events++ },
	})
	if err != nil {
		t.Fatal(err)
	}
	if res.TimeSeries == nil || len(shown) == 0 || !reflect.DeepEqual(shown, res.TimeSeries.Points) {
		t.Fatalf("shown %d points, the series has %v", len(shown), res.TimeSeries)
	}
	var ok int64
	for _, pt := range shown {
		ok += pt.OK
	}
	if ok != res.Dials.OK || events == 0 {
		t.Errorf("the points' ok dials add up to %d, the result says %d; %d events", ok, res.Dials.OK, events)
	}
}
