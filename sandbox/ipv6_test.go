package sandbox

import (
	"context"
	"math"
	"slices"
	"testing"
	"time"

	"github.com/portex/portex/analysis"
	"github.com/portex/portex/loadgen"
	"github.com/portex/portex/result"
)

// v6Plan is holdPlan over IPv6 (the plan's family) to destinations
// server ports from 7000 up.
func v6Plan(workers, destinations int) *loadgen.Plan {
	p := holdPlan(workers, range100())
	p.Family = loadgen.FamilyIPv6
	ls, ports := listeners(destinations)
	p.Server.Listeners, p.Pools[0].Ports = ls, ports
	return p
}

// wantRunOut checks that res made exactly ok connections, then ran out
// with class, and stopped by it.
func wantRunOut(t *testing.T, res *result.Result, ok int64, class string) {
	t.Helper()
	if res.Dials.OK != ok || res.Exhaustion == nil || res.Exhaustion.Class != class || res.Exhaustion.DialsOKBefore != ok {
		t.Fatalf("ok %d, exhaustion %+v, failures %v; want %d then %s", res.Dials.OK, res.Exhaustion, res.Failures, ok, class)
	}
	if res.Stopped != result.StoppedExhaustion {
		t.Errorf("stopped %q, want exhaustion", res.Stopped)
	}
	if res.Server == nil || res.Server.Accepted != ok {
		t.Errorf("server counts %+v, want %d accepted", res.Server, ok)
	}
}

// IPv6 over the sandbox's veth link (2001:2::1 -> 2001:2:0:1::1) runs
// out exactly as IPv4 does: ip_local_port_range, an ipv4 sysctl, governs
// IPv6 connect() too. With 100 ports: 100 held connections, then
// EADDRNOTAVAIL; 300 over three destination ports; 100 and EADDRINUSE
// when bind() comes first; 600 from two sources over three ports; 200
// over a 200-port range shared by three processes; 50/s closed by the
// client exhausts at about 2 s. And the range is per destination
// address: a dual pool holds 100 over IPv6 and 100 over IPv4 to the same
// server port.
func TestIPv6InTheSandbox(t *testing.T) {
	needsFullTier(t)
	t.Run("hold", func(t *testing.T) {
		res := run(t, v6Plan(150, 1))
		wantRunOut(t, res, 100, "EADDRNOTAVAIL")
		if s := res.Exhaustion.Sockets; s == nil || s.PortsInUse != 100 {
			t.Errorf("sockets at exhaustion %+v, want the 100 IPv6 ports counted", s)
		}
	})
	t.Run("three destinations", func(t *testing.T) {
		wantRunOut(t, run(t, v6Plan(400, 3)), 300, "EADDRNOTAVAIL")
	})
	t.Run("bind before connect", func(t *testing.T) {
		p := v6Plan(400, 3)
		p.Pools[0].Bind = loadgen.BindBeforeConnect
		wantRunOut(t, run(t, p), 100, "EADDRINUSE")
	})
	t.Run("two sources", func(t *testing.T) {
		p := v6Plan(800, 3)
		p.Pools[0].Sources, p.Pools[0].Bind = 2, loadgen.BindNoPort
		wantRunOut(t, run(t, p), 600, "EADDRNOTAVAIL")
	})
	t.Run("sharded", func(t *testing.T) {
		p := v6Plan(300, 1)
		p.Sandbox.PortRange = loadgen.PortRange{Lo: 50000, Hi: 50199}
		p.Sandbox.Processes, p.Sandbox.Nofile = 3, 0
		res := run(t, p)
		wantRunOut(t, res, 200, "EADDRNOTAVAIL")
		if c := res.Resources.Client; c.Processes != 3 {
			t.Errorf("client processes %d, want 3", c.Processes)
		}
	})
	churn := func(f loadgen.Family) *loadgen.Plan {
		p := v6Plan(0, 1)
		p.Family, p.Duration = f, 6*time.Second
		p.Pools[0] = loadgen.Pool{Name: "churn", Rate: 50, MaxInFlight: 20, Messages: 1, Payload: 64,
			Hold: loadgen.Hold{Kind: loadgen.HoldFixed}, Close: loadgen.CloseClient,
			ConnectTimeout: time.Second, Ports: []int{7000}}
		return p
	}
	t.Run("churn", func(t *testing.T) {
		res := run(t, churn(loadgen.FamilyIPv6))
		if res.Exhaustion == nil || res.Exhaustion.Class != "EADDRNOTAVAIL" || res.Exhaustion.AtSeconds < 1.5 || res.Exhaustion.AtSeconds > 3 {
			t.Fatalf("exhaustion %+v after %d ok, want EADDRNOTAVAIL at about 2 s", res.Exhaustion, res.Dials.OK)
		}
		if s := res.Exhaustion.Sockets; s == nil || s.TimeWait < 90 {
			t.Errorf("sockets at exhaustion %+v, want about 100 IPv6 ones in TIME_WAIT", s)
		}
		if res.Exhaustion.DialsOKBefore != 100 || res.Dropped != 0 {
			t.Errorf("churn: %d ok before exhaustion, %d arrivals dropped; want 100 and none (no connection waits for the link)",
				res.Exhaustion.DialsOKBefore, res.Dropped)
		}
		t.Logf("churn: EADDRNOTAVAIL at %.2fs after %d ok", res.Exhaustion.AtSeconds, res.Exhaustion.DialsOKBefore)
	})
	// The server closing first keeps TIME_WAIT on its side, in IPv6
	// sockets its samples count (an IPv4-only count shows none); none on
	// the client, and nothing runs out.
	t.Run("server closes first", func(t *testing.T) {
		p := churn(loadgen.FamilyIPv6)
		p.Duration, p.Stop = 2*time.Second, loadgen.Stop{On: loadgen.StopNever}
		p.Server.Listeners = []loadgen.Listener{{Port: 7000, CloseFirst: true, CloseAfterBytes: 64}}
		p.Pools[0].Close = loadgen.CloseServer
		res := run(t, p)
		var serverTW, clientTW int
		for _, pt := range res.TimeSeries.Points {
			if pt.Server != nil {
				serverTW = max(serverTW, pt.Server.TimeWait)
			}
			if pt.Client != nil {
				clientTW = max(clientTW, pt.Client.TimeWait)
			}
		}
		if res.Exhaustion != nil || res.Dials.Failed != 0 || serverTW < 20 || clientTW != 0 {
			t.Errorf("exhaustion %+v, %d failed, TIME_WAIT peak server %d client %d; want none, some on the server, 0 on the client",
				res.Exhaustion, res.Dials.Failed, serverTW, clientTW)
		}
	})
	// Dual churn: 25/s over each family, each with its 100 ports, run
	// out together at about 4 s, as the model says.
	t.Run("dual churn", func(t *testing.T) {
		p := churn(loadgen.FamilyDual)
		res := run(t, p)
		if res.Exhaustion == nil || res.Exhaustion.Class != "EADDRNOTAVAIL" || res.Exhaustion.AtSeconds < 3.5 || res.Exhaustion.AtSeconds > 5 ||
			res.Exhaustion.DialsOKBefore != 200 {
			t.Fatalf("exhaustion %+v after %d ok, want EADDRNOTAVAIL at about 4 s after 200", res.Exhaustion, res.Dials.OK)
		}
		analysis.AttachModel(p, res)
		if m := res.Model; m == nil || m.ExhaustionAtSeconds == nil || math.Abs(*m.ExhaustionAtSeconds-4) > 0.01 {
			t.Errorf("model %+v, want exhaustion predicted at 4 s", res.Model)
		}
		t.Logf("dual churn: EADDRNOTAVAIL at %.2fs after %d ok", res.Exhaustion.AtSeconds, res.Exhaustion.DialsOKBefore)
	})
	t.Run("dual", func(t *testing.T) {
		p := holdPlan(200, range100())
		p.Pools[0].Family = loadgen.FamilyDual
		p.Duration, p.Stop = 2*time.Second, loadgen.Stop{On: loadgen.StopNever}
		res := run(t, p)
		if res.Dials.OK != 200 || res.Dials.Failed != 0 {
			t.Errorf("dual, 200 workers on 100 ports: %+v, failures %v; want 100 over each family, all ok", res.Dials, res.Failures)
		}
		p = holdPlan(250, range100())
		p.Pools[0].Family = loadgen.FamilyDual
		res = run(t, p)
		wantRunOut(t, res, 200, "EADDRNOTAVAIL")
		want := "family: pools holders alternated IPv6 and IPv4 (a range of ports for each family), from 2001:2::1 to 2001:2:0:1::1"
		if !slices.Contains(res.Notes, want) {
			t.Errorf("notes %q, want %q", res.Notes, want)
		}
	})
}

// The host runtime runs a plan of family ipv6 against its echo server on
// ::1, the range narrowed per socket (IP_LOCAL_PORT_RANGE, an IPv4
// option the kernel applies to IPv6 sockets too): 100 ports hold 100,
// then EADDRNOTAVAIL.
func TestHostIPv6Loopback(t *testing.T) {
	needsFullTier(t)
	if !privateLoopback(t) {
		return
	}
	p := v6Plan(150, 1)
	p.Runtime = "host"
	res, err := (&Host{}).Run(context.Background(), p, nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.Target != "::1" {
		t.Errorf("target %q, want ::1", res.Target)
	}
	wantRunOut(t, res, 100, "EADDRNOTAVAIL")
}
