// Package conformance is the runtime conformance suite: one table of
// behaviours every runtime must show (netns, host, docker), each a
// sub-test, with the expectations that differ by runtime taken from its
// Capabilities. Its callers are the runtimes' tests:
//
//	conformance.Run(t, "netns", &sandbox.Netns{...}, conformance.Capabilities{...})
//
// The suite runs real plans: it belongs to the full tier, and its callers
// gate it (and skip or fail where the runtime is not available) before
// they call Run.
package conformance

import (
	"context"
	"maps"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/portex/portex/analysis"
	"github.com/portex/portex/loadgen"
	"github.com/portex/portex/result"
	"github.com/portex/portex/sandbox"
)

// Capabilities says where a runtime's physics differ from the common case
// (the netns runtime's): what the suite expects of it.
type Capabilities struct {
	// WritesSysctls is true when the runtime applies the plan's sysctls
	// and nofile (netns, docker); false when it narrows the range per
	// socket and only notes the rest (host).
	WritesSysctls bool
	// LoopbackReusesTimeWait is true when the client dials loopback with
	// the kernel's default tcp_tw_reuse=2 (host): a TIME_WAIT port over a
	// second old serves a new connection, so client-closed churn does not
	// exhaust.
	LoopbackReusesTimeWait bool
	// SourceAddresses is how many client addresses a pool may use (docker
	// and host: 1).
	SourceAddresses int
	// Parallel runs the sub-tests in parallel.
	Parallel bool
}

// Run runs the suite against rt; name is the runtime's name as plans and
// results spell it. Every plan's Runtime is name.
func Run(t *testing.T, name string, rt sandbox.Runtime, caps Capabilities) {
	t.Helper()
	s := &suite{name: name, rt: rt, caps: caps}
	for _, b := range s.behaviours() {
		t.Run(b.name, func(t *testing.T) {
			if caps.Parallel {
				t.Parallel()
			}
			b.test(t)
		})
	}
}

type suite struct {
	name string
	rt   sandbox.Runtime
	caps Capabilities
}

type behaviour struct {
	name string
	test func(t *testing.T)
}

// hostSysctlNames are the host's settings no runtime may change.
var hostSysctlNames = []string{"net.ipv4.ip_local_port_range", "net.ipv4.tcp_tw_reuse"}

func readHostSysctls(t *testing.T) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, name := range hostSysctlNames {
		b, err := os.ReadFile("/proc/sys/" + strings.ReplaceAll(name, ".", "/"))
		if err != nil {
			t.Fatal(err)
		}
		out[name] = strings.Join(strings.Fields(string(b)), " ")
	}
	return out
}

// holdPlan: workers dial, echo 64 bytes once, and hold their connection
// for ever, until the range runs out; tcp_tw_reuse=0, nofile 8192.
func (s *suite) holdPlan(workers int, rng loadgen.PortRange, ports ...int) *loadgen.Plan {
	if len(ports) == 0 {
		ports = []int{7000}
	}
	var ls []loadgen.Listener
	for _, port := range ports {
		ls = append(ls, loadgen.Listener{Port: port})
	}
	return &loadgen.Plan{
		Scenario: "conformance", Variant: "default", Runtime: s.name, Duration: 10 * time.Second,
		Sandbox: loadgen.Sandbox{PortRange: rng, Sysctls: map[string]string{"net.ipv4.tcp_tw_reuse": "0"}, Nofile: 8192},
		Server:  loadgen.ServerPlan{Listeners: ls},
		Pools: []loadgen.Pool{{Name: "holders", Workers: workers, Messages: 1, Payload: 64,
			Hold: loadgen.Hold{Kind: loadgen.HoldForever}, Close: loadgen.CloseClient,
			ConnectTimeout: 5 * time.Second, Ports: ports}},
		Stop: loadgen.Stop{On: loadgen.StopOnExhaustion},
	}
}

// churnPlan: 50 new connections a second on a 100-port range, each echoing
// once and closed by the client at once, for 5 s.
func (s *suite) churnPlan() *loadgen.Plan {
	p := s.holdPlan(0, loadgen.PortRange{Lo: 50000, Hi: 50099})
	p.Duration = 5 * time.Second
	p.Pools[0] = loadgen.Pool{Name: "churn", Rate: 50, MaxInFlight: 20, Messages: 1, Payload: 64,
		Hold: loadgen.Hold{Kind: loadgen.HoldFixed}, Close: loadgen.CloseClient,
		ConnectTimeout: time.Second, Ports: []int{7000}}
	return p
}

// run checks p, runs it, and judges it as the command does (the model
// attached first); it fails the test on an error.
func (s *suite) run(t *testing.T, ctx context.Context, p *loadgen.Plan, onEvent func(result.Event)) *result.Result {
	t.Helper()
	if err := p.Check(); err != nil {
		t.Fatalf("the suite's plan: %v", err)
	}
	if err := s.rt.CheckPlan(p); err != nil {
		t.Fatalf("CheckPlan: %v", err)
	}
	res, err := s.rt.Run(ctx, p, &sandbox.Observer{Event: onEvent})
	if err != nil {
		t.Fatal(err)
	}
	if res.Runtime != s.name {
		t.Errorf("runtime %q, want %s", res.Runtime, s.name)
	}
	analysis.AttachModel(p, res)
	v := analysis.Judge(res)
	res.Verdict = &v
	t.Logf("%s: %d ok, failures %v, stopped %s after %.2fs; verdict %s (%s)",
		s.name, res.Dials.OK, res.Failures, res.Stopped, res.ElapsedSeconds, v.Outcome, v.Basis)
	return res
}

// wantExhausted asserts that res ran out of ports with class after exactly
// ok connections, stopped by it, and that the verdict says so, measured.
func wantExhausted(t *testing.T, res *result.Result, class string, ok int64) {
	t.Helper()
	if res.Dials.OK != ok {
		t.Errorf("ok dials = %d, want %d (failures %v)", res.Dials.OK, ok, res.Failures)
	}
	if res.Exhaustion == nil || res.Exhaustion.Class != class || res.Exhaustion.DialsOKBefore != ok {
		t.Fatalf("exhaustion = %+v, want %s after %d dials", res.Exhaustion, class, ok)
	}
	if classes := slices.Sorted(maps.Keys(res.Failures)); !slices.Equal(classes, []string{class}) || res.Failures[class] < 1 {
		t.Errorf("failures = %v, want only %s", res.Failures, class)
	}
	if res.Stopped != result.StoppedExhaustion {
		t.Errorf("stopped %q, want %q", res.Stopped, result.StoppedExhaustion)
	}
	wantVerdictExhausted(t, res)
}

func wantVerdictExhausted(t *testing.T, res *result.Result) {
	t.Helper()
	v := res.Verdict
	if v.Outcome != analysis.OutcomeExhausted || v.Basis != analysis.BasisMeasured || v.Predicted ||
		v.ExhaustionAtSeconds == nil || *v.ExhaustionAtSeconds != res.Exhaustion.AtSeconds || !strings.HasPrefix(v.Text, "EXHAUSTED") {
		t.Errorf("verdict %+v, want exhausted, measured, at %.2fs", v, res.Exhaustion.AtSeconds)
	}
}

// wantNotExhausted asserts that res served the whole run without a failed
// dial, and that the verdict is held, or not exhausted with the model's
// prediction that it holds (and no exhaustion predicted): a series near
// zero ports in use does not always show its steady state in a short run.
func wantNotExhausted(t *testing.T, res *result.Result, minOK int64) {
	t.Helper()
	if res.Exhaustion != nil || res.Dials.Failed != 0 || len(res.Failures) != 0 {
		t.Fatalf("exhaustion %+v failures %v, want none", res.Exhaustion, res.Failures)
	}
	if res.Stopped != result.StoppedDuration || res.Dials.OK < minOK {
		t.Errorf("stopped %q after %d ok dials, want the whole run and at least %d", res.Stopped, res.Dials.OK, minOK)
	}
	switch v := res.Verdict; {
	case v.Outcome == analysis.OutcomeHeld && v.Basis == analysis.BasisMeasured && v.Steady != nil:
	case v.Outcome == analysis.OutcomeNotExhausted && v.Basis == analysis.BasisModel && v.SteadyPorts != nil && v.ExhaustionAtSeconds == nil:
	default:
		t.Errorf("verdict %+v, want held, or not exhausted with a steady state predicted", v)
	}
}

func (s *suite) behaviours() []behaviour {
	bs := []behaviour{
		{"hold until exhausted", s.holdUntilExhausted},
		{"several destinations share a port", s.severalDestinations},
		{"bind before connect reserves the port", s.bindBeforeConnect},
		{"RST close at full speed does not exhaust", s.resetAtFullSpeed},
		{"interrupted run returns its partial result", s.interrupted},
		{"ports in use are the connections held", s.portsInUse},
	}
	if s.caps.SourceAddresses >= 2 {
		bs = append(bs, behaviour{"two sources with IP_BIND_ADDRESS_NO_PORT", s.twoSources})
	}
	bs = append(bs, s.churn()...)
	return bs
}

// 200 ports, 300 holders: exactly 200 connections, then EADDRNOTAVAIL,
// and the run ends by itself; the settings read back; the host's own
// sysctls unchanged.
func (s *suite) holdUntilExhausted(t *testing.T) {
	before := readHostSysctls(t)
	res := s.run(t, context.Background(), s.holdPlan(300, loadgen.PortRange{Lo: 50000, Hi: 50199}), nil)
	wantExhausted(t, res, "EADDRNOTAVAIL", 200)
	if res.ElapsedSeconds > 5 {
		t.Errorf("stopped after %.2fs, want exhaustion well before 10s", res.ElapsedSeconds)
	}
	if res.PortRangeSize != 200 {
		t.Errorf("range size %d, want 200", res.PortRangeSize)
	}
	rng := res.Sysctls["net.ipv4.ip_local_port_range"]
	if s.caps.WritesSysctls {
		if rng != "50000 50199" {
			t.Errorf("port range read back %q", rng)
		}
		if got := res.Sysctls["net.ipv4.tcp_tw_reuse"]; got != "0" {
			t.Errorf("tcp_tw_reuse read back %q", got)
		}
		if res.Nofile != 8192 {
			t.Errorf("nofile %d, want 8192", res.Nofile)
		}
	} else {
		if !strings.Contains(rng, "per socket") {
			t.Errorf("port range read back %q, want it narrowed per socket", rng)
		}
		if len(res.Notes) < 2 || !strings.Contains(res.Notes[0], "tcp_tw_reuse=0 not applied") ||
			!slices.ContainsFunc(res.Notes, func(n string) bool { return strings.Contains(n, "nofile 8192 not applied") }) {
			t.Errorf("notes %q: want the unapplied sysctl and nofile named", res.Notes)
		}
		if got, host := res.Sysctls["net.ipv4.tcp_tw_reuse"], before["net.ipv4.tcp_tw_reuse"]; got != host {
			t.Errorf("tcp_tw_reuse read back %q, want the host's own, %q", got, host)
		}
	}
	if res.Server == nil || res.Server.Accepted != 200 || res.Server.BytesEchoed != 200*64 {
		t.Errorf("server counts %+v, want 200 accepted and 200*64 bytes echoed", res.Server)
	}
	if after := readHostSysctls(t); !maps.Equal(after, before) {
		t.Errorf("host sysctls changed: %v -> %v", before, after)
	}
}

// connect() without bind() shares a local port across destinations: three
// destination ports on a 100-port range hold 300 connections.
func (s *suite) severalDestinations(t *testing.T) {
	p := s.holdPlan(800, loadgen.PortRange{Lo: 50000, Hi: 50099}, 7000, 7001, 7002)
	wantExhausted(t, s.run(t, context.Background(), p, nil), "EADDRNOTAVAIL", 300)
}

// bind() before connect() reserves the port for every destination: three
// destination ports on a 100-port range hold 100, then EADDRINUSE.
func (s *suite) bindBeforeConnect(t *testing.T) {
	p := s.holdPlan(800, loadgen.PortRange{Lo: 50000, Hi: 50099}, 7000, 7001, 7002)
	p.Pools[0].Bind = loadgen.BindBeforeConnect
	wantExhausted(t, s.run(t, context.Background(), p, nil), "EADDRINUSE", 100)
}

// Two source addresses with IP_BIND_ADDRESS_NO_PORT and three destination
// ports: 2 x 3 x 100 = 600.
func (s *suite) twoSources(t *testing.T) {
	p := s.holdPlan(800, loadgen.PortRange{Lo: 50000, Hi: 50099}, 7000, 7001, 7002)
	p.Pools[0].Sources, p.Pools[0].Bind = 2, loadgen.BindNoPort
	wantExhausted(t, s.run(t, context.Background(), p, nil), "EADDRNOTAVAIL", 600)
}

// RST close with no hold leaves no TIME_WAIT: 50 workers dialing as fast
// as they can on a 200-port range make thousands of connections in 2 s.
func (s *suite) resetAtFullSpeed(t *testing.T) {
	p := s.holdPlan(50, loadgen.PortRange{Lo: 50000, Hi: 50199})
	p.Duration = 2 * time.Second
	p.Stop.On = loadgen.StopNever
	p.Pools[0].Hold = loadgen.Hold{Kind: loadgen.HoldFixed}
	p.Pools[0].Close = loadgen.CloseReset
	wantNotExhausted(t, s.run(t, context.Background(), p, nil), 2000)
}

// 50 connections held for 2 s on a 200-port range: the series counts 50
// ports in use (the client's side only: the server's side of a connection
// takes no local port of the range), and the verdict is held.
func (s *suite) portsInUse(t *testing.T) {
	p := s.holdPlan(50, loadgen.PortRange{Lo: 50000, Hi: 50199})
	p.Duration = 2 * time.Second
	p.Stop.On = loadgen.StopNever
	res := s.run(t, context.Background(), p, nil)
	if res.Stopped != result.StoppedDuration || res.Dials.OK != 50 || len(res.Failures) != 0 {
		t.Fatalf("stopped %q ok %d failures %v: want the whole run with 50 held", res.Stopped, res.Dials.OK, res.Failures)
	}
	peak := -1
	for _, pt := range res.TimeSeries.Points {
		if pt.Client != nil && pt.Client.PortsCounted() {
			peak = max(peak, pt.Client.PortsInUse)
		}
	}
	if peak != 50 {
		t.Errorf("the series' most ports in use is %d, want 50", peak)
	}
	if v := res.Verdict; v.Outcome != analysis.OutcomeHeld || v.Basis != analysis.BasisMeasured || v.Steady == nil {
		t.Errorf("verdict %+v, want held at a steady state measured", v)
	}
}

// Cancelling the context mid-run (Ctrl-C) stops the run, and the result
// measured so far comes back: stopped "interrupted", the 50 held
// connections counted on both sides.
func (s *suite) interrupted(t *testing.T) {
	p := s.holdPlan(50, loadgen.PortRange{Lo: 50000, Hi: 50199})
	p.Duration = time.Minute
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var progress int
	res := s.run(t, ctx, p, func(ev result.Event) {
		if ev.Type == result.EventProgress {
			if progress++; progress == 2 {
				cancel()
			}
		}
	})
	if res.Stopped != result.StoppedInterrupted || res.Dials.OK != 50 || res.ElapsedSeconds > 5 {
		t.Fatalf("stopped %q ok %d after %.1fs: want interrupted with 50 held", res.Stopped, res.Dials.OK, res.ElapsedSeconds)
	}
	if res.Server == nil || res.Server.Accepted != 50 {
		t.Errorf("server counts %+v, want 50 accepted", res.Server)
	}
	// The verdict: interrupted before an answer, or held if the series
	// already showed the 50 flat for the shortest window judged on (the
	// holders never dial again; what it counts is the next behaviour's).
	if res.Exhaustion != nil {
		t.Errorf("exhaustion %+v, want none", res.Exhaustion)
	}
	switch v := res.Verdict; v.Outcome {
	case analysis.OutcomeInterrupted:
		if !strings.HasPrefix(v.Text, "INTERRUPTED") {
			t.Errorf("verdict %+v, want its text to say interrupted", v)
		}
	case analysis.OutcomeHeld:
		if v.Steady == nil || v.Basis != analysis.BasisMeasured {
			t.Errorf("verdict %+v, want held at a steady state measured", v)
		}
	default:
		t.Errorf("verdict %+v, want interrupted (or held)", v)
	}
}

// TIME_WAIT churn: 50 new connections a second, closed by the client, in
// a 100-port range. Every closed port sits in TIME_WAIT for 60 s, so the
// ports in use after t seconds are the 50 t dials made, and connect() runs
// out at about 100/50 = 2 s, after exactly the range. A closed model of
// the same physics (five workers each holding 100 ms: 5 / 100 ms = 50 a
// second) runs out the same way. tcp_fin_timeout bounds FIN_WAIT2, not
// TIME_WAIT: it changes nothing. What keeps it going for 5 s: tcp_tw_reuse=1
// (a port whose TIME_WAIT is over a second old serves a new connection, so
// only the last second's 50 are blocked), RST close (no TIME_WAIT), the
// server closing first (TIME_WAIT on the server's side). A runtime whose
// client dials loopback with tcp_tw_reuse=2 reuses TIME_WAIT whatever the
// plan asks, and none of these exhaust there.
func (s *suite) churn() []behaviour {
	tests := []struct {
		name      string
		change    func(p *loadgen.Plan)
		twReuse   string
		exhausted bool
	}{
		{"open model", func(p *loadgen.Plan) {}, "0", true},
		{"closed model", func(p *loadgen.Plan) {
			p.Pools[0].Rate, p.Pools[0].MaxInFlight, p.Pools[0].Workers = 0, 0, 5
			p.Pools[0].Hold = loadgen.Hold{Kind: loadgen.HoldFixed, Min: 100 * time.Millisecond}
		}, "0", true},
		{"tcp_fin_timeout=5", func(p *loadgen.Plan) { p.Sandbox.Sysctls["net.ipv4.tcp_fin_timeout"] = "5" }, "0", true},
		{"tcp_tw_reuse=1", func(p *loadgen.Plan) { p.Sandbox.Sysctls["net.ipv4.tcp_tw_reuse"] = "1" }, "1", false},
		{"RST close", func(p *loadgen.Plan) { p.Pools[0].Close = loadgen.CloseReset }, "0", false},
		{"server closes first", func(p *loadgen.Plan) {
			p.Server.Listeners = []loadgen.Listener{{Port: 7000, CloseFirst: true, CloseAfterBytes: 64}}
			p.Pools[0].Close = loadgen.CloseServer
		}, "0", false},
	}
	var bs []behaviour
	for _, tt := range tests {
		exhausted := tt.exhausted && !s.caps.LoopbackReusesTimeWait
		name := "TIME_WAIT churn, " + tt.name
		if exhausted {
			name += ", exhausts at about 2 s"
		} else {
			name += ", does not exhaust"
		}
		bs = append(bs, behaviour{name, func(t *testing.T) {
			p := s.churnPlan()
			p.Variant = strings.NewReplacer(" ", "_", "=", "_").Replace(tt.name)
			tt.change(p)
			res := s.run(t, context.Background(), p, nil)
			if !s.caps.WritesSysctls {
				note := "tcp_tw_reuse=" + tt.twReuse + " not applied"
				if !slices.ContainsFunc(res.Notes, func(n string) bool { return strings.Contains(n, note) }) {
					t.Errorf("notes %q, want %q", res.Notes, note)
				}
			} else {
				if got := res.Sysctls["net.ipv4.tcp_tw_reuse"]; got != tt.twReuse {
					t.Errorf("tcp_tw_reuse read back %q, want %s", got, tt.twReuse)
				}
				if v, ok := p.Sandbox.Sysctls["net.ipv4.tcp_fin_timeout"]; ok && res.Sysctls["net.ipv4.tcp_fin_timeout"] != v {
					t.Errorf("tcp_fin_timeout read back %q, want %s", res.Sysctls["net.ipv4.tcp_fin_timeout"], v)
				}
			}
			if !exhausted {
				wantNotExhausted(t, res, 240)
				return
			}
			if res.Exhaustion == nil || res.Exhaustion.Class != "EADDRNOTAVAIL" {
				t.Fatalf("exhaustion = %+v after %.1fs (%d ok dials), want EADDRNOTAVAIL", res.Exhaustion, res.ElapsedSeconds, res.Dials.OK)
			}
			if at := res.Exhaustion.AtSeconds; at < 1.5 || at > 3 {
				t.Errorf("exhausted at %.2fs, want between 1.5 s and 3 s", at)
			}
			if got := res.Exhaustion.DialsOKBefore; got != 100 {
				t.Errorf("%d dials before exhaustion, want 100: the range, all in TIME_WAIT or held", got)
			}
			if res.Stopped != result.StoppedExhaustion {
				t.Errorf("stopped %q, want %q", res.Stopped, result.StoppedExhaustion)
			}
			wantVerdictExhausted(t, res)
		}})
	}
	return bs
}
