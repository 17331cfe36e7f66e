package analysis

import (
	"math"
	"testing"
	"time"

	"github.com/portex/portex/loadgen"
	"github.com/portex/portex/result"
)

// max_in_flight caps what an open-model pool serves, and so how fast its
// ports fill: the mitigations scenario's connection-limit variant.
func TestPredictWithMaxInFlight(t *testing.T) {
	tests := []struct {
		name    string
		pool    ModelPool
		served  float64
		exhaust float64 // seconds
	}{
		{"no cap: 100/s with 3% leaked fill 150 ports in 1.5 s",
			ModelPool{Rate: 100, Hold: 200 * time.Millisecond, Close: loadgen.CloseClient, Leak: 0.03}, 100, 1.5},
		{"10 in flight with 200 ms holds serve 50/s: the same ports last 3 s",
			ModelPool{Rate: 100, Hold: 200 * time.Millisecond, Close: loadgen.CloseClient, Leak: 0.03, MaxInFlight: 10}, 50, 3},
		{"a cap above what the rate needs changes nothing",
			ModelPool{Rate: 100, Hold: 200 * time.Millisecond, Close: loadgen.CloseClient, Leak: 0.03, MaxInFlight: 1000}, 100, 1.5},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.pool.Served(); math.Abs(got-tt.served) > 1e-9 {
				t.Errorf("served %.3f/s, want %.3f/s", got, tt.served)
			}
			m := Predict(ModelInput{RangeSize: 150, Pools: []ModelPool{tt.pool}})
			if m.ExhaustionAtSeconds == nil || math.Abs(*m.ExhaustionAtSeconds-tt.exhaust) > 1e-3 {
				t.Errorf("exhaustion at %v, want %.3f s", m.ExhaustionAtSeconds, tt.exhaust)
			}
		})
	}
}

func TestModelGrows(t *testing.T) {
	tests := []struct {
		name  string
		pools []ModelPool
		grows bool
	}{
		{"client close, no leak: a steady state", []ModelPool{{Rate: 100, Close: loadgen.CloseClient}}, false},
		{"RST close", []ModelPool{{Rate: 100, Close: loadgen.CloseReset}}, false},
		{"the server closes first", []ModelPool{{Rate: 100, Close: loadgen.CloseServer}}, false},
		{"a keep-alive pool", []ModelPool{{Keep: 25, Close: loadgen.CloseKeep}}, false},
		{"a closed-model reset pool", []ModelPool{{Workers: 10, Close: loadgen.CloseReset}}, false},
		{"closed-model workers holding forever: a fixed count", []ModelPool{{Workers: 300, Hold: -1, Close: loadgen.CloseClient}}, false},
		{"a 1% leak", []ModelPool{{Rate: 100, Close: loadgen.CloseReset, Leak: 0.01}}, true},
		{"close: leak", []ModelPool{{Rate: 100, Close: loadgen.CloseLeak}}, true},
		{"an open pool holding forever", []ModelPool{{Rate: 5, Hold: -1, Close: loadgen.CloseClient}}, true},
	}
	for _, tt := range tests {
		if got := (ModelInput{RangeSize: 1000, Pools: tt.pools}).Grows(); got != tt.grows {
			t.Errorf("%s: Grows() = %v, want %v", tt.name, got, tt.grows)
		}
	}
}

// TIME_WAIT sockets pile up for 60 s whatever tcp_tw_reuse says; reuse
// only makes their ports usable after about a second.
func TestTimeWaitSockets(t *testing.T) {
	tests := []struct {
		name        string
		in          ModelInput
		sockets     float64
		portsNeeded float64
		reusesPorts bool
	}{
		{"reuse off: the TIME_WAIT sockets are the ports needed",
			ModelInput{RangeSize: 28232, Pools: []ModelPool{{Rate: 300, Close: loadgen.CloseClient}}}, 18000, 18000, false},
		// connect() cycles through the ports of one parity while the
		// ports in use fit there: one TIME_WAIT socket a port of that half.
		{"tcp_tw_reuse=1: 18,000 closes a minute, 14,116 sockets (one parity of the range), 300 ports",
			ModelInput{RangeSize: 28232, TwReuse: 1, Pools: []ModelPool{{Rate: 300, Close: loadgen.CloseClient}}}, 14116, 300, true},
		{"tcp_tw_reuse=1 below half the range: 6,000 sockets, 100 ports",
			ModelInput{RangeSize: 28232, TwReuse: 1, Pools: []ModelPool{{Rate: 100, Close: loadgen.CloseClient}}}, 6000, 100, true},
		{"at most one socket per port connect() cycles: half the range",
			ModelInput{RangeSize: 1000, TwReuse: 1, Pools: []ModelPool{{Rate: 300, Close: loadgen.CloseClient}}}, 500, 300, true},
		{"the whole range once the ports in use outgrow one half",
			ModelInput{RangeSize: 1000, TwReuse: 1, Pools: []ModelPool{{Rate: 600, Close: loadgen.CloseClient}}}, 1000, 600, true},
		{"spread over 3 destinations",
			ModelInput{RangeSize: 28232, TwReuse: 1, Pools: []ModelPool{{Rate: 300, Close: loadgen.CloseClient, Tuples: 3}}}, 6000, 100, true},
		{"tcp_max_tw_buckets=20 keeps at most 20",
			ModelInput{RangeSize: 100, TimeWaitBuckets: 20, Pools: []ModelPool{{Rate: 50, Close: loadgen.CloseClient}}}, 20, 20, false},
		{"tcp_timestamps=0: no reuse, the sockets are the ports",
			ModelInput{RangeSize: 28232, TwReuse: 1, NoTimestamps: true, Pools: []ModelPool{{Rate: 300, Close: loadgen.CloseClient}}}, 18000, 18000, false},
		{"RST close leaves none",
			ModelInput{RangeSize: 28232, Pools: []ModelPool{{Rate: 300, Close: loadgen.CloseReset}}}, 0, 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.in.TimeWaitSockets(); math.Abs(got-tt.sockets) > 1e-6 {
				t.Errorf("TIME_WAIT sockets %.1f, want %.1f", got, tt.sockets)
			}
			if got := Predict(tt.in).TimeWaitSockets; math.Abs(got-tt.sockets) > 1e-6 {
				t.Errorf("Predict's TIME_WAIT sockets %.1f, want %.1f", got, tt.sockets)
			}
			if got := Predict(tt.in).PortsNeeded; math.Abs(got-tt.portsNeeded) > 1e-6 {
				t.Errorf("ports needed %.1f, want %.1f", got, tt.portsNeeded)
			}
			if got := tt.in.Reuses(); got != tt.reusesPorts {
				t.Errorf("Reuses() = %v", got)
			}
		})
	}
}

// A dual pool has a range per family for each destination address: the
// model counts its tuples twice, so 50/s closed by the client on 100
// ports exhausts at 4 s over both families, not 2 s.
func TestModelDualFamily(t *testing.T) {
	p := &loadgen.Plan{Duration: 10 * time.Second, Sandbox: loadgen.Sandbox{PortRange: loadgen.PortRange{Lo: 50000, Hi: 50099}},
		Pools: []loadgen.Pool{{Name: "churn", Rate: 50, MaxInFlight: 20, Close: loadgen.CloseClient, Ports: []int{7000},
			Hold: loadgen.Hold{Kind: loadgen.HoldFixed}}}}
	for _, tt := range []struct {
		family  loadgen.Family
		tuples  int
		exhaust float64
	}{{"", 1, 2}, {loadgen.FamilyIPv6, 1, 2}, {loadgen.FamilyDual, 2, 4}} {
		p.Family = tt.family
		in := ModelInputFor(p, 100)
		if in.Pools[0].Tuples != tt.tuples {
			t.Errorf("family %q: %d tuples, want %d", tt.family, in.Pools[0].Tuples, tt.tuples)
		}
		m := Predict(in)
		if m.ExhaustionAtSeconds == nil || math.Abs(*m.ExhaustionAtSeconds-tt.exhaust) > 1e-3 {
			t.Errorf("family %q: exhaustion at %v, want %.0f s", tt.family, m.ExhaustionAtSeconds, tt.exhaust)
		}
	}
}

// Past half a destination's ports, connect() searches slowly: the model
// says where, and only when connect() picks the ports.
func TestModelSlowPortsAbove(t *testing.T) {
	rng := loadgen.PortRange{Lo: 10000, Hi: 60999} // 51,000 ports
	for _, tt := range []struct {
		name    string
		workers int
		ports   []int
		bind    loadgen.BindMode
		want    int
	}{
		{"30,000 held on one destination", 30_000, []int{7000}, "", 25_500},
		{"25,000 held on one destination: under half", 25_000, []int{7000}, "", 0},
		{"30,000 held over two destinations", 30_000, []int{7000, 7001}, "", 0},
		{"bind() picks the ports", 30_000, []int{7000}, loadgen.BindBeforeConnect, 0},
	} {
		p := &loadgen.Plan{Duration: 10 * time.Second, Sandbox: loadgen.Sandbox{PortRange: rng},
			Pools: []loadgen.Pool{{Name: "holders", Workers: tt.workers, Ports: tt.ports, Bind: tt.bind,
				Hold: loadgen.Hold{Kind: loadgen.HoldForever}}}}
		m := Predict(ModelInputFor(p, 0))
		if m.SlowPortsAbove != tt.want {
			t.Errorf("%s: slow above %d ports (needing %.0f), want %d", tt.name, m.SlowPortsAbove, m.PortsNeeded, tt.want)
		}
	}
}

// A load held forever is checked against the sample with every
// connection open, the final one taken as the load stopped, not one of
// its ramp.
func TestModelCheckWaitsForHeldConnections(t *testing.T) {
	p := &loadgen.Plan{Duration: time.Second, Sandbox: loadgen.Sandbox{PortRange: loadgen.PortRange{Lo: 10000, Hi: 10999}},
		Pools: []loadgen.Pool{{Name: "holders", Workers: 100, Ports: []int{7000}, Hold: loadgen.Hold{Kind: loadgen.HoldForever}}}}
	r := &result.Result{PortRangeSize: 1000, LoadStoppedSeconds: 1, TimeSeries: &result.TimeSeries{Points: []result.Point{
		{T: 0.5, Open: 40, Client: &result.SocketStates{Established: 40, PortsInUse: 40}},
		{T: 1.1, Open: 100, Client: &result.SocketStates{Established: 100, PortsInUse: 100}},
	}}}
	AttachModel(p, r)
	c := r.Model.Check
	if c == nil || c.AtSeconds != 1.1 || !c.Agrees {
		t.Fatalf("check %+v: want the final sample, all 100 open, agreeing", c)
	}
	r.TimeSeries.Points = r.TimeSeries.Points[:1]
	AttachModel(p, r)
	if r.Model.Check != nil {
		t.Errorf("check %+v against a sample of the ramp", r.Model.Check)
	}
}

// A load that runs out of ports, or a range too small for the scan to
// show, gets no note of the slow search.
func TestModelSlowPortsNotForExhaustionOrSmallRanges(t *testing.T) {
	for _, tt := range []struct {
		name string
		rng  loadgen.PortRange
		pool loadgen.Pool
	}{
		{"exhausts", loadgen.PortRange{Lo: 10000, Hi: 60999},
			loadgen.Pool{Name: "churn", Rate: 1000, MaxInFlight: 100, Close: loadgen.CloseClient, Ports: []int{7000}, Hold: loadgen.Hold{Kind: loadgen.HoldFixed}}},
		{"200 ports", loadgen.PortRange{Lo: 50000, Hi: 50199},
			loadgen.Pool{Name: "holders", Workers: 150, Ports: []int{7000}, Hold: loadgen.Hold{Kind: loadgen.HoldForever}}},
	} {
		p := &loadgen.Plan{Duration: 10 * time.Second, Sandbox: loadgen.Sandbox{PortRange: tt.rng}, Pools: []loadgen.Pool{tt.pool}}
		if m := Predict(ModelInputFor(p, 0)); m.SlowPortsAbove != 0 {
			t.Errorf("%s: slow above %d ports (needing %.0f)", tt.name, m.SlowPortsAbove, m.PortsNeeded)
		}
	}
}
