package sandbox

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/portex/portex/loadgen"
)

func TestPodRuntimeRefuses(t *testing.T) {
	p := holdPlan(3, loadgen.PortRange{Lo: 50000, Hi: 50199})
	for _, tc := range []struct {
		pod  Pod
		edit func(*loadgen.Plan)
		want error
		key  string
	}{
		{Pod{}, nil, ErrUnrunnable, ""},
		{Pod{Host: "portex-echo"}, nil, ErrExternalTarget, ""}, // a name may point anywhere
		{Pod{Host: "192.0.2.1"}, nil, ErrExternalTarget, ""},
		{Pod{Host: "portex-echo", AllowExternal: true}, func(p *loadgen.Plan) { p.Pools[0].Sources = 2 }, ErrUnrunnable, "source_addresses"},
		{Pod{Host: "portex-echo", AllowExternal: true}, func(p *loadgen.Plan) { p.NAT = &loadgen.NAT{} }, ErrUnrunnable, "nat"},
		// With a port of its own, every pool dials it: what only the
		// bundled echo server does is refused, as with the host's --target.
		{Pod{Host: "127.0.0.1", Port: 9000}, func(p *loadgen.Plan) { p.Pools[0].Close = loadgen.CloseServer }, ErrUnrunnable, "close"},
	} {
		q := *p
		q.Pools = append([]loadgen.Pool(nil), p.Pools...)
		if tc.edit != nil {
			tc.edit(&q)
		}
		err := tc.pod.CheckPlan(&q)
		var u *Unsupported
		if !errors.Is(err, tc.want) || (tc.key != "" && (!errors.As(err, &u) || u.Key != tc.key)) {
			t.Errorf("%+v: %v, want %v at %q", tc.pod, err, tc.want, tc.key)
		}
	}
	for _, ok := range []Pod{{Host: "127.0.0.1"}, {Host: "::1", Port: 7000}, {Host: "portex-echo", AllowExternal: true}} {
		if err := ok.CheckPlan(p); err != nil {
			t.Errorf("%+v: %v", ok, err)
		}
	}
}

// Check tries again until the echo server listens, for up to Wait: the
// Job's pods may start before the echo Deployment's. Without a wait, a
// port where nothing listens is refused at once.
func TestPodCheckWaitsForTheServer(t *testing.T) {
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	p := holdPlan(3, loadgen.PortRange{})
	if err := (&Pod{Host: "127.0.0.1", Port: port}).Check(context.Background(), p); !errors.Is(err, ErrTargetDown) {
		t.Fatalf("nothing listening, no wait: %v", err)
	}
	started := make(chan *loadgen.Server, 1)
	go func() {
		time.Sleep(1500 * time.Millisecond)
		srv, err := loadgen.StartServer(loadgen.ServerConfig{Addr: netip.MustParseAddr("127.0.0.1"), Listeners: []loadgen.Listener{{Port: port}}})
		if err != nil {
			t.Error(err)
		}
		started <- srv
	}()
	err = (&Pod{Host: "127.0.0.1", Port: port, Wait: 20 * time.Second}).Check(context.Background(), p)
	if srv := <-started; srv != nil {
		srv.Close()
	}
	if err != nil {
		t.Errorf("the server came up 1.5s in, within the wait: %v", err)
	}
}

// In a namespace whose sysctls someone else set, as the kubelet sets a
// pod's, the pod runtime writes nothing, reads them back, and the load
// runs under them: a 200-port range holds 200 connections, then
// EADDRNOTAVAIL. A sysctl the plan asks for and the namespace lacks is
// named in a note.
func TestPodRuntimeRunsUnderThePlatformsSysctls(t *testing.T) {
	needsFullTier(t)
	if !privateLoopback(t) {
		return
	}
	// The test plays the kubelet, in the namespace privateLoopback made.
	if err := sandboxGuard(""); err != nil {
		t.Fatalf("not in a namespace of the test's own: %v", err)
	}
	for name, v := range map[string]string{"ip_local_port_range": "50000 50199", "tcp_tw_reuse": "0"} {
		if err := os.WriteFile("/proc/sys/net/ipv4/"+name, []byte(v), 0); err != nil {
			t.Fatal(err)
		}
	}
	srv, err := loadgen.StartServer(loadgen.ServerConfig{Addr: netip.MustParseAddr("127.0.0.1"), Listeners: []loadgen.Listener{{Port: 7000}}})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	p := holdPlan(300, loadgen.PortRange{Lo: 50000, Hi: 50199})
	p.Runtime, p.Sandbox.Nofile = "pod", 0
	p.Sandbox.Sysctls["net.ipv4.tcp_fin_timeout"] = "5" // not set: the note names it
	pod := &Pod{Host: "127.0.0.1"}
	if err := pod.Check(context.Background(), p); err != nil {
		t.Fatal(err)
	}
	res, err := pod.Run(context.Background(), p, nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.Dials.OK != 200 || res.Exhaustion == nil || res.Exhaustion.Class != "EADDRNOTAVAIL" || res.Runtime != "pod" {
		t.Errorf("ok %d, exhaustion %+v, runtime %q: want 200 then EADDRNOTAVAIL in pod", res.Dials.OK, res.Exhaustion, res.Runtime)
	}
	if res.Sysctls["net.ipv4.ip_local_port_range"] != "50000 50199" || res.Sysctls["net.ipv4.tcp_tw_reuse"] != "0" || res.PortRangeSize != 200 {
		t.Errorf("read back %v, range size %d", res.Sysctls, res.PortRangeSize)
	}
	notes := strings.Join(res.Notes, "\n")
	if !strings.Contains(notes, "net.ipv4.tcp_fin_timeout=5, the pod has 60") || strings.Contains(notes, "ip_local_port_range=") {
		t.Errorf("notes %q: want tcp_fin_timeout's mismatch alone", notes)
	}
}
