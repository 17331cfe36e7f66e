package watch

import (
	"net"
	"net/netip"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/portex/portex/loadgen"
)

// TestOwnNamespace watches the test's own namespace, which takes no
// privilege: connections to a loopback listener show as one destination,
// their accepted ends do not, and closed ones stay counted in TIME_WAIT.
func TestOwnNamespace(t *testing.T) {
	t.Run("ipv4", func(t *testing.T) { ownNamespace(t, "tcp4", "127.0.0.1:0") })
	t.Run("ipv6", func(t *testing.T) { ownNamespace(t, "tcp6", "[::1]:0") })
}

func ownNamespace(t *testing.T, network, addr string) {
	ln, err := net.Listen(network, addr)
	if err != nil {
		if network == "tcp6" {
			t.Skipf("no IPv6 loopback: %v", err)
		}
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				buf := make([]byte, 1)
				c.Read(buf) // until the client closes
				c.Close()
			}()
		}
	}()
	dst := netip.MustParseAddrPort(ln.Addr().String())
	ns, err := Open("")
	if err != nil {
		t.Fatal(err)
	}
	defer ns.Close()
	w := &Watcher{Window: time.Minute, Namespace: "host"}
	sample := func() *Dest {
		t.Helper()
		s, err := ns.Sample()
		if err != nil {
			t.Fatal(err)
		}
		if s.Range.Size() <= 0 || s.Budget <= 0 || s.Budget > s.Range.Size() {
			t.Fatalf("range %v, budget %d", s.Range, s.Budget)
		}
		w.Add(s)
		return s.Dests[dst]
	}
	if d := sample(); d != nil {
		t.Fatalf("before any dial: %+v toward %s", d.States, dst)
	}
	var conns []net.Conn
	for range 7 {
		c, err := net.Dial(network, dst.String())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		conns = append(conns, c)
	}
	d := sample()
	if d == nil || d.States.PortsInUse != 7 || d.States.Established != 7 || d.New != 7 {
		t.Fatalf("7 connections open: %+v", d)
	}
	for _, c := range conns[:3] {
		c.Close()
	}
	// The client closed first: TIME_WAIT once the server's FIN is in.
	deadline := time.Now().Add(5 * time.Second)
	for {
		d = sample()
		if d.States.TimeWait == 3 || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if d.States.PortsInUse != 7 || d.States.Established != 4 || d.States.TimeWait != 3 || d.New != 0 {
		t.Fatalf("3 of 7 closed by the client: %+v, new %d; want 7 ports in use, 4 established, 3 TIME_WAIT, none new", d.States, d.New)
	}
	r := w.Report(0)
	for _, row := range r.Rows {
		if row.Destination == dst.String() {
			if row.PortsInUse != 7 || row.Headroom != r.Budget-7 {
				t.Errorf("row %+v", row)
			}
			return
		}
	}
	t.Errorf("%s not in the report: %+v", dst, r.Rows)
}

// TestOwnNamespaceBound checks that a dump sees a socket bound by bind()
// without a connection, whose port no connect() may take.
func TestOwnNamespaceBound(t *testing.T) {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	if err := unix.Bind(fd, &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatal(err)
	}
	sa, err := unix.Getsockname(fd)
	if err != nil {
		t.Fatal(err)
	}
	port := uint16(sa.(*unix.SockaddrInet4).Port)
	ns, err := Open("")
	if err != nil {
		t.Fatal(err)
	}
	defer ns.Close()
	var seen []loadgen.DiagSocket
	err = ns.sampler.DumpSockets(unix.AF_INET, true, func(d loadgen.DiagSocket) {
		if d.Local.Port() == port {
			seen = append(seen, d)
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(seen) != 1 || !seen[0].BoundInactive() || seen[0].Listening() {
		t.Fatalf("sockets on the bound port %d: %+v; want one, bound and inactive", port, seen)
	}
	s, err := ns.Sample()
	if err != nil {
		t.Fatal(err)
	}
	if int(port) >= s.Range.Lo && int(port) <= s.Range.Hi && s.Bound < 1 {
		t.Errorf("port %d of the range bound, sample counts %d bound", port, s.Bound)
	}
}
