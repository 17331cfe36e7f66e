package loadgen

import (
	"errors"
	"net"
	"net/netip"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/portex/portex/result"
)

// In a fresh namespace with a 30-port range, 30 connections to port A and
// 20 to port B: some closed by the client (TIME_WAIT), some left half
// closed by the client (FIN_WAIT2) or by the server (CLOSE_WAIT on the
// client). The counts per destination are exact, the server's accepted
// sockets are not among them, A's ports are all in use and the next dial
// to it fails with EADDRNOTAVAIL, while B's budget has room.
func TestSampleDestinations(t *testing.T) {
	if testing.Short() {
		t.Skip("needs a fresh network namespace")
	}
	if !inOwnNetns(t) {
		return
	}
	if err := os.WriteFile("/proc/sys/net/ipv4/ip_local_port_range", []byte("40000 40029"), 0); err != nil {
		t.Fatal(err)
	}
	// The listeners' ports are outside the range: a port taken from it
	// would be bound, out of every destination's budget.
	listen := func(addr string) (net.Listener, chan net.Conn) {
		ln, err := net.Listen("tcp4", addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { ln.Close() })
		accepted := make(chan net.Conn, 64)
		go func() {
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				accepted <- c
			}
		}()
		return ln, accepted
	}
	dial := func(ln net.Listener, accepted chan net.Conn, n int) (client, server []net.Conn) {
		for range n {
			c, err := net.Dial("tcp4", ln.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			client, server = append(client, c), append(server, <-accepted)
		}
		t.Cleanup(func() {
			for _, c := range append(client, server...) {
				c.Close()
			}
		})
		return client, server
	}
	lnA, accA := listen("127.0.0.1:7001")
	lnB, accB := listen("127.0.0.1:7002")
	clientA, serverA := dial(lnA, accA, 30)
	clientB, serverB := dial(lnB, accB, 20)
	for i := range 10 { // A: TIME_WAIT on the client
		clientA[i].Close()
		serverA[i].Read(make([]byte, 1))
		serverA[i].Close()
	}
	for i := range 5 { // B: FIN_WAIT2 on the client, the server never closes
		clientB[i].Close()
	}
	for i := 5; i < 9; i++ { // B: CLOSE_WAIT on the client, which never closes
		serverB[i].Close()
	}
	s, err := NewSocketSampler(40000, 40029)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	a := netip.MustParseAddrPort(lnA.Addr().String())
	b := netip.MustParseAddrPort(lnB.Addr().String())
	want := []result.DestinationSockets{
		{Destination: a, Sockets: result.SocketStates{Established: 20, TimeWait: 10, PortsInUse: 30}},
		{Destination: b, Sockets: result.SocketStates{Established: 11, FinWait2: 5, CloseWait: 4, PortsInUse: 20}},
	}
	if b.Compare(a) < 0 {
		want[0], want[1] = want[1], want[0]
	}
	var got []result.DestinationSockets
	for deadline := time.Now().Add(2 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if got, err = s.SampleDestinations(); err != nil {
			t.Fatal(err)
		}
		for i := range got { // how recent the TIME_WAITs are is a matter of time
			got[i].Sockets.TimeWaitRecent = 0
		}
		if len(got) == 2 && got[0] == want[0] && got[1] == want[1] {
			break
		}
	}
	if len(got) != 2 || got[0] != want[0] || got[1] != want[1] {
		t.Fatalf("per destination:\n got %+v\nwant %+v", got, want)
	}
	budget, err := DestinationBudget(PortRange{Lo: 40000, Hi: 40029}, "", 0)
	if err != nil {
		t.Fatal(err)
	}
	byDst := map[netip.AddrPort]result.DestinationSockets{got[0].Destination: got[0], got[1].Destination: got[1]}
	if !DestinationExhausted(byDst[a], budget) || DestinationExhausted(byDst[b], budget) {
		t.Errorf("budget %d: A exhausted %v, B exhausted %v; want A only", budget,
			DestinationExhausted(byDst[a], budget), DestinationExhausted(byDst[b], budget))
	}
	// The kernel agrees: A is out of ports, B is not.
	if c, err := net.Dial("tcp4", lnA.Addr().String()); !errors.Is(err, syscall.EADDRNOTAVAIL) {
		if c != nil {
			c.Close()
		}
		t.Errorf("a 31st dial to A: %v, want EADDRNOTAVAIL", err)
	}
	c, err := net.Dial("tcp4", lnB.Addr().String())
	if err != nil {
		t.Errorf("a 21st dial to B: %v, want it to connect", err)
	} else {
		c.Close()
	}
}

func TestDestinationBudget(t *testing.T) {
	r := PortRange{Lo: 40000, Hi: 40199} // 200 ports
	for _, tc := range []struct {
		what     string
		reserved string
		bound    int
		want     int
		err      string
	}{
		{"the whole range", "", 0, 200, ""},
		{"50 reserved, as measured", "40000-40049", 0, 150, ""},
		{"reserved ports outside the range do not count", "80,443,8000-8999,40100", 0, 199, ""},
		{"a reserved range across the range's end", "40190-40300", 0, 190, ""},
		{"overlapping reserved ranges count once", "40000-40009,40005-40014", 0, 185, ""},
		{"ports bound elsewhere", "40000-40049", 25, 125, ""},
		{"never below 0", "40000-40199", 5, 0, ""},
		{"spaces are allowed", " 40000 - 40009 , 40010", 0, 189, ""},
		{"a bad list", "40000-x", 0, 0, `"40000-x" is not a port`},
		{"a backwards range", "40010-40000", 0, 0, "is not a port or a range"},
	} {
		got, err := DestinationBudget(r, tc.reserved, tc.bound)
		if (err == nil) != (tc.err == "") || err != nil && !strings.Contains(err.Error(), tc.err) {
			t.Errorf("%s: error %v, want %q", tc.what, err, tc.err)
			continue
		}
		if got != tc.want {
			t.Errorf("%s: DestinationBudget(%q, %d) = %d, want %d", tc.what, tc.reserved, tc.bound, got, tc.want)
		}
	}
	if _, err := DestinationBudget(PortRange{}, "", 0); err == nil {
		t.Error("no range: want an error")
	}
}

func TestDestinationExhausted(t *testing.T) {
	d := func(ports int) result.DestinationSockets {
		return result.DestinationSockets{Sockets: result.SocketStates{PortsInUse: ports}}
	}
	for _, tc := range []struct {
		what   string
		d      result.DestinationSockets
		budget int
		want   bool
	}{
		{"below the budget", d(149), 150, false},
		{"at the budget", d(150), 150, true},
		{"past it (ports bound after the budget was read)", d(151), 150, true},
		{"ports not counted", d(result.PortsUncounted), 150, false},
		{"no budget known", d(10), 0, false},
	} {
		if got := DestinationExhausted(tc.d, tc.budget); got != tc.want {
			t.Errorf("%s: %v, want %v", tc.what, got, tc.want)
		}
	}
}
