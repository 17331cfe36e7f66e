package sandbox

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/portex/portex/analysis"
	"github.com/portex/portex/loadgen"
	"github.com/vishvananda/netlink"
)

// privateLoopback runs the calling test again alone in fresh user and
// network namespaces (with lo up), so that loopback is its own; it returns
// true in that copy.
func privateLoopback(t *testing.T) bool {
	t.Helper()
	if os.Getenv("PORTEX_TEST_NETNS") == t.Name() {
		if err := linkUp("lo"); err != nil {
			t.Fatal(err)
		}
		return true
	}
	cmd := exec.Command(os.Args[0], "-test.run=^"+t.Name()+"$", "-test.count=1", "-test.v")
	cmd.Env = append(os.Environ(), "PORTEX_TEST_NETNS="+t.Name())
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Cloneflags:  syscall.CLONE_NEWUSER | syscall.CLONE_NEWNET,
		UidMappings: []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Getuid(), Size: 1}},
		GidMappings: []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Getgid(), Size: 1}},
	}
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "--- PASS: "+t.Name()) {
		t.Fatalf("with a loopback of its own: %v\n%s", err, out)
	}
	return false
}

func TestHostRuntimeRefuses(t *testing.T) {
	p := holdPlan(3, loadgen.PortRange{Lo: 50000, Hi: 50199})
	p.Duration = time.Second
	p.Pools[0].Sources = 2
	var u *Unsupported
	if err := (&Host{}).CheckPlan(p); !errors.Is(err, ErrUnrunnable) || !errors.As(err, &u) || u.Pool != "holders" || u.Key != "source_addresses" {
		t.Errorf("two source addresses on the host: %v", err)
	}
	p.Pools[0].Sources = 1
	external := &Host{Target: netip.MustParseAddrPort("192.0.2.1:80")}
	if err := external.CheckPlan(p); !errors.Is(err, ErrExternalTarget) {
		t.Errorf("an external target without the opt-in: %v", err)
	}
	external.AllowExternal = true
	if err := external.CheckPlan(p); err != nil {
		t.Errorf("with the opt-in: %v", err)
	}
	if err := (&Host{Target: netip.MustParseAddrPort("127.0.0.1:8080")}).CheckPlan(p); err != nil {
		t.Errorf("a loopback target: %v", err)
	}
}

// With --target the pools dial a server portex did not start: what only
// the bundled echo server carries out is refused, by the key it concerns.
func TestHostTargetRefusesWhatNeedsTheBundledServer(t *testing.T) {
	target := &Host{Target: netip.MustParseAddrPort("127.0.0.1:8080")}
	tests := []struct {
		why       string
		change    func(p *loadgen.Plan)
		pool, key string
	}{
		{"a pool the server closes", func(p *loadgen.Plan) {
			p.Pools[0].Close = loadgen.CloseServer
			p.Pools[0].Ports = []int{7001}
			p.Server.Listeners = append(p.Server.Listeners, loadgen.Listener{Port: 7001, CloseFirst: true, CloseAfterBytes: 64})
		}, "holders", "close"},
		{"the server closes after a count of bytes", func(p *loadgen.Plan) {
			p.Server.Listeners[0].CloseFirst, p.Server.Listeners[0].CloseAfterBytes = true, 128
		}, "", "server.close"},
		{"the server closes idle connections", func(p *loadgen.Plan) { p.Server.Listeners[0].IdleClose = time.Second }, "", "server.close"},
		{"the server closes with RST", func(p *loadgen.Plan) { p.Server.LingerReset = true }, "", "server.linger"},
		{"several destinations", func(p *loadgen.Plan) {
			p.Server.Listeners = append(p.Server.Listeners, loadgen.Listener{Port: 7001})
			p.Pools[0].Ports = []int{7000, 7001}
		}, "holders", "destinations"},
	}
	for _, tt := range tests {
		p := holdPlan(3, loadgen.PortRange{})
		tt.change(p)
		if err := p.Check(); err != nil {
			t.Fatalf("%s: the test's plan: %v", tt.why, err)
		}
		if err := (&Host{}).CheckPlan(p); err != nil {
			t.Errorf("%s: refused without a target: %v", tt.why, err)
		}
		var u *Unsupported
		err := target.CheckPlan(p)
		if !errors.As(err, &u) || u.Pool != tt.pool || u.Key != tt.key || !strings.Contains(u.Reason, "127.0.0.1:8080") {
			t.Errorf("%s: got %v, want pool %q key %q refused", tt.why, err, tt.pool, tt.key)
		}
	}
}

// Check dials the target before anything runs: a port where nothing
// listens is refused, one that listens is fine.
func TestHostTargetMustAccept(t *testing.T) {
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	up := netip.MustParseAddrPort(ln.Addr().String())
	if err := (&Host{Target: up}).Check(context.Background(), holdPlan(1, loadgen.PortRange{})); err != nil {
		t.Errorf("a listening target: %v", err)
	}
	ln.Close()
	err = (&Host{Target: up}).Check(context.Background(), holdPlan(1, loadgen.PortRange{}))
	if !errors.Is(err, ErrTargetDown) || !strings.Contains(err.Error(), "connection refused") || !strings.Contains(err.Error(), up.String()) {
		t.Errorf("a target where nothing listens: %v", err)
	}
	if err := (&Host{}).Check(context.Background(), holdPlan(1, loadgen.PortRange{})); err != nil {
		t.Errorf("no target: %v", err)
	}
}

// The host runtime's note on tcp_tw_reuse=2 speaks of loopback only when
// the target is loopback; a target elsewhere (here an address of the
// test's own namespace, outside 127/8) gets the host's setting named, and
// the model does not count on loopback's reuse.
func TestHostNoteNamesLoopbackOnlyForLoopback(t *testing.T) {
	if !privateLoopback(t) {
		return
	}
	lo, err := netlink.LinkByName("lo")
	if err != nil {
		t.Fatal(err)
	}
	addr := netip.MustParseAddr("198.18.9.1")
	if err := netlink.AddrAdd(lo, &netlink.Addr{IPNet: &net.IPNet{IP: addr.AsSlice(), Mask: net.CIDRMask(32, 32)}}); err != nil {
		t.Fatal(err)
	}
	srv, err := loadgen.StartServer(loadgen.ServerConfig{Addr: addr, Listeners: []loadgen.Listener{{Port: 7000}}})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	for _, tt := range []struct {
		host     *Host
		want, no string
		loopback bool
	}{
		{&Host{}, "host runtime: loopback, where tcp_tw_reuse=2", "is not loopback", true},
		{&Host{Target: netip.AddrPortFrom(addr, 7000), AllowExternal: true}, "the target 198.18.9.1 is not loopback: the host's tcp_tw_reuse=", "loopback, where", false},
	} {
		p := holdPlan(10, loadgen.PortRange{Lo: 50000, Hi: 50199})
		p.Runtime, p.Duration, p.Sandbox.Sysctls, p.Sandbox.Nofile = "host", 300*time.Millisecond, nil, 0
		p.Pools[0].Hold = loadgen.Hold{Kind: loadgen.HoldFixed}
		p.Pools[0].Close = loadgen.CloseReset
		p.Stop = loadgen.Stop{On: loadgen.StopNever}
		res, err := tt.host.Run(context.Background(), p, nil)
		if err != nil {
			t.Fatal(err)
		}
		notes := strings.Join(res.Notes, "\n")
		if !strings.Contains(notes, tt.want) || strings.Contains(notes, tt.no) {
			t.Errorf("target %v: notes %q, want %q", tt.host.Target, notes, tt.want)
		}
		p.Pools[0].Close = loadgen.CloseClient
		analysis.AttachModel(p, res)
		if res.Model.ReusesTimeWait != tt.loopback {
			t.Errorf("target %v: the model reuses TIME_WAIT ports: %v", tt.host.Target, res.Model.ReusesTimeWait)
		}
	}
}

// The host runtime dials an IPv6 target: --target [::1]:7000 with 200
// ports narrowed per socket holds 200 connections, then EADDRNOTAVAIL,
// the sockets counted by the sampler.
func TestHostRuntimeIPv6Target(t *testing.T) {
	if !privateLoopback(t) {
		return
	}
	srv, err := loadgen.StartServer(loadgen.ServerConfig{Addr: netip.MustParseAddr("::1"), Listeners: []loadgen.Listener{{Port: 7000}}})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	h := &Host{Target: netip.MustParseAddrPort("[::1]:7000")}
	p := holdPlan(300, loadgen.PortRange{Lo: 50000, Hi: 50199})
	p.Runtime, p.Sandbox.Sysctls, p.Sandbox.Nofile = "host", nil, 0
	if err := h.Check(context.Background(), p); err != nil {
		t.Fatal(err)
	}
	res, err := h.Run(context.Background(), p, nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.Dials.OK != 200 || res.Exhaustion == nil || res.Exhaustion.Class != "EADDRNOTAVAIL" || res.Exhaustion.DialsOKBefore != 200 {
		t.Errorf("ok %d, exhaustion %+v: want 200 then EADDRNOTAVAIL", res.Dials.OK, res.Exhaustion)
	}
	if s := res.Exhaustion.Sockets; s == nil || s.PortsInUse != 200 {
		t.Errorf("sockets at exhaustion %+v, want 200 ports in use", s)
	}
	if res.Target != "::1" || !strings.Contains(strings.Join(res.Notes, "\n"), "loopback, where tcp_tw_reuse=2") {
		t.Errorf("target %q, notes %q", res.Target, res.Notes)
	}
}
