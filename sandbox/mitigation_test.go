package sandbox

import (
	"testing"
	"time"

	"github.com/portex/portex/loadgen"
)

// The kernel facts behind the scenario language, measured in real
// namespaces with a 100-port range.

func range100() loadgen.PortRange { return loadgen.PortRange{Lo: 50000, Hi: 50099} }

// listeners returns n plain listeners from port 7000 up, and their ports.
func listeners(n int) ([]loadgen.Listener, []int) {
	var ls []loadgen.Listener
	var ports []int
	for i := 0; i < n; i++ {
		ls = append(ls, loadgen.Listener{Port: 7000 + i})
		ports = append(ports, 7000+i)
	}
	return ls, ports
}

func TestPortBudgetPerDestination(t *testing.T) {
	needsFullTier(t)
	t.Parallel()
	tests := []struct {
		name    string
		dests   int
		sources int
		bind    loadgen.BindMode
		wantOK  int64
		class   string
	}{
		{"connect() shares a port across 3 destination ports", 3, 1, loadgen.BindAuto, 300, "EADDRNOTAVAIL"},
		{"bind() before connect reserves the port for every destination", 3, 1, loadgen.BindBeforeConnect, 100, "EADDRINUSE"},
		{"2 sources with IP_BIND_ADDRESS_NO_PORT and 3 ports", 3, 2, loadgen.BindNoPort, 600, "EADDRNOTAVAIL"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p := holdPlan(800, range100())
			p.Server.Listeners, p.Pools[0].Ports = listeners(tt.dests)
			p.Pools[0].Sources, p.Pools[0].Bind = tt.sources, tt.bind
			res := run(t, p)
			if res.Dials.OK != tt.wantOK {
				t.Errorf("ok dials = %d, want %d (failures %v)", res.Dials.OK, tt.wantOK, res.Failures)
			}
			if res.Exhaustion == nil || res.Exhaustion.Class != tt.class || res.Exhaustion.DialsOKBefore != tt.wantOK {
				t.Errorf("exhaustion = %+v, want %s after %d", res.Exhaustion, tt.class, tt.wantOK)
			}
		})
	}
}

// 50 new connections a second, closed by the client, in a 100-port range:
// every closed port sits in TIME_WAIT for 60 s, so connect() runs out at
// about 100/50 = 2 s. The mitigations keep it going for 5 s.
func TestTimeWaitChurn(t *testing.T) {
	needsFullTier(t)
	t.Parallel()
	churn := func() *loadgen.Plan {
		p := holdPlan(0, range100())
		p.Duration = 5 * time.Second
		p.Pools[0] = loadgen.Pool{Name: "churn", Rate: 50, MaxInFlight: 20, Messages: 1, Payload: 64,
			Hold: loadgen.Hold{Kind: loadgen.HoldFixed}, Close: loadgen.CloseClient,
			ConnectTimeout: time.Second, Ports: []int{7000}}
		return p
	}
	tests := []struct {
		name      string
		change    func(p *loadgen.Plan)
		exhausted bool
	}{
		{"baseline exhausts at about 2 s", func(p *loadgen.Plan) {}, true},
		{"tcp_fin_timeout=5 changes nothing", func(p *loadgen.Plan) { p.Sandbox.Sysctls["net.ipv4.tcp_fin_timeout"] = "5" }, true},
		{"tcp_tw_reuse=1 reuses TIME_WAIT ports", func(p *loadgen.Plan) { p.Sandbox.Sysctls["net.ipv4.tcp_tw_reuse"] = "1" }, false},
		{"RST close skips TIME_WAIT", func(p *loadgen.Plan) { p.Pools[0].Close = loadgen.CloseReset }, false},
		{"the server closing first moves TIME_WAIT to the server", func(p *loadgen.Plan) {
			p.Server.Listeners = []loadgen.Listener{{Port: 7000, CloseFirst: true, CloseAfterBytes: 64}}
			p.Pools[0].Close = loadgen.CloseServer
		}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p := churn()
			tt.change(p)
			if !tt.exhausted {
				p.Duration = 5 * time.Second
			}
			res := run(t, p)
			switch {
			case tt.exhausted && res.Exhaustion == nil:
				t.Fatalf("no exhaustion in %.1fs (%d ok dials)", res.ElapsedSeconds, res.Dials.OK)
			case tt.exhausted && (res.Exhaustion.AtSeconds < 1.5 || res.Exhaustion.AtSeconds > 3):
				t.Errorf("exhausted at %.2fs, want 1.5-3 s", res.Exhaustion.AtSeconds)
			case !tt.exhausted && (res.Exhaustion != nil || res.Failures["EADDRNOTAVAIL"] != 0):
				t.Errorf("exhausted: %+v failures %v", res.Exhaustion, res.Failures)
			case !tt.exhausted && res.Dials.OK < 240:
				t.Errorf("only %d ok dials in 5 s at 50/s", res.Dials.OK)
			}
		})
	}
}
