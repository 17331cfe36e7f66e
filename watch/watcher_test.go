package watch

import (
	"bytes"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/portex/portex/loadgen"
)

// States as the kernel numbers them.
const (
	established   = 1
	timeWait      = 6
	closeWait     = 8
	listen        = 10
	boundInactive = 7 // TCP_CLOSE: how a dump reports a bound, unconnected socket
)

var (
	dstA = netip.MustParseAddrPort("198.18.0.2:7000")
	dstB = netip.MustParseAddrPort("198.18.0.2:7001")
	any0 = netip.MustParseAddrPort("0.0.0.0:0")
)

func sock(local uint16, remote netip.AddrPort, state uint8, cookie uint64) loadgen.DiagSocket {
	return loadgen.DiagSocket{Local: netip.AddrPortFrom(netip.MustParseAddr("198.18.0.1"), local), Remote: remote, State: state, Cookie: cookie}
}

var rng = loadgen.PortRange{Lo: 50000, Hi: 50099}

func TestCount(t *testing.T) {
	socks := []loadgen.DiagSocket{
		// Toward A: two established, one TIME_WAIT, one CLOSE_WAIT;
		// a port outside the range is not counted.
		sock(50000, dstA, established, 1), sock(50001, dstA, established, 2),
		sock(50002, dstA, timeWait, 3), sock(50003, dstA, closeWait, 4),
		sock(40000, dstA, established, 5),
		// Toward B: the same port as a socket toward A (connect()
		// shares it across destinations).
		sock(50000, dstB, established, 6),
		// A listener in the range takes its port from everyone, and
		// the sockets on its port are accepted ones, not clients'.
		sock(50090, any0, listen, 7), sock(50090, netip.MustParseAddrPort("198.18.0.9:1234"), established, 8),
		// A bound, unconnected socket too; one on a reserved port
		// counts once, as reserved.
		sock(50091, any0, boundInactive, 9), sock(50095, any0, boundInactive, 10),
	}
	s, err := count(time.Unix(0, 0), rng, "50095-50099", socks)
	if err != nil {
		t.Fatal(err)
	}
	if s.Bound != 2 || s.Budget != 100-5-2 {
		t.Errorf("bound %d, budget %d; want 2 and 93", s.Bound, s.Budget)
	}
	if len(s.Dests) != 2 {
		t.Fatalf("%d destinations, want 2: %v", len(s.Dests), s.Dests)
	}
	a := s.Dests[dstA].States
	if a.PortsInUse != 4 || a.Established != 3 || a.TimeWait != 1 || a.CloseWait != 1 {
		t.Errorf("toward A: %+v; want 4 ports in use, 3 established, 1 TIME_WAIT, 1 CLOSE_WAIT", a)
	}
	if b := s.Dests[dstB].States; b.PortsInUse != 1 {
		t.Errorf("toward B: %+v; want 1 port in use", b)
	}
	if _, err := count(time.Unix(0, 0), rng, "50000-x", nil); err == nil {
		t.Error("a reserved list that does not parse: no error")
	}
}

// watched returns a watcher fed with three samples a second apart: toward
// A 10 new connections a second, left in TIME_WAIT; toward B 5 held.
func watched(t *testing.T) *Watcher {
	t.Helper()
	w := &Watcher{Window: 10 * time.Second, Namespace: "pid 42"}
	t0 := time.Date(2026, 12, 4, 2, 30, 0, 0, time.UTC)
	var a []loadgen.DiagSocket
	for i := range 3 {
		for range 10 {
			n := len(a)
			a = append(a, sock(uint16(50000+n), dstA, timeWait, uint64(100+n)))
		}
		socks := append([]loadgen.DiagSocket{}, a...)
		for j := range 5 {
			socks = append(socks, sock(uint16(50050+j), dstB, established, uint64(j+1)))
		}
		s, err := count(t0.Add(time.Duration(i)*time.Second), rng, "", socks)
		if err != nil {
			t.Fatal(err)
		}
		w.Add(s)
	}
	return w
}

func TestWatcherReport(t *testing.T) {
	r := watched(t).Report(0)
	if r.Samples != 3 || r.WindowSeconds != 2 || len(r.Rows) != 2 {
		t.Fatalf("report %+v: want 3 samples over 2 s, 2 rows", r)
	}
	a, b := r.Rows[0], r.Rows[1]
	if a.Destination != dstA.String() || a.PortsInUse != 30 || a.Headroom != 70 || a.NewPerSecond != 10 || a.TimeWait != 30 {
		t.Errorf("first row %+v: want A, 30 in use, headroom 70, 10 new/s, 30 TIME_WAIT", a)
	}
	if a.Projection.Kind != Rising || a.Projection.ExhaustsInSeconds != 7 {
		t.Errorf("A's projection %+v: want rising, out in 7 s", a.Projection)
	}
	if b.Destination != dstB.String() || b.NewPerSecond != 0 || b.Projection.Kind != Steady {
		t.Errorf("second row %+v: want B, no new connections, steady", b)
	}
	if r := watched(t).Report(1); len(r.Rows) != 1 || r.Destinations != 2 {
		t.Errorf("top 1: %d rows of %d destinations", len(r.Rows), r.Destinations)
	}
}

func TestWatcherWindow(t *testing.T) {
	w := watched(t)
	w.Window = time.Second
	s, err := count(w.samples[2].At.Add(time.Second), rng, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	w.Add(s)
	if len(w.samples) != 2 {
		t.Errorf("%d samples in a window of 1 s a second apart, want 2", len(w.samples))
	}
}

func TestWriteTable(t *testing.T) {
	r := watched(t).Report(1)
	var buf bytes.Buffer
	if err := WriteTable(&buf, &r); err != nil {
		t.Fatal(err)
	}
	want := `02:30:02  pid 42: range 50000-50099 (100 ports), 0 reserved, 0 bound: budget 100 per destination; 2 destinations; rates over 2.0s (3 samples)
DESTINATION      IN USE  BUDGET  USED  NEW/S  ESTAB  TIME_WAIT  CLOSE_WAIT  PROJECTION
198.18.0.2:7000  30      100     30%   10.0   0      30         0           runs out in ~7.0 s at the current rate (projected)
(1 more destinations, with more headroom)
`
	if got := buf.String(); got != want {
		t.Errorf("table:\n%s\nwant:\n%s", got, want)
	}
}

func TestWritePlain(t *testing.T) {
	r := watched(t).Report(0)
	var buf bytes.Buffer
	if err := WritePlain(&buf, &r); err != nil {
		t.Fatal(err)
	}
	want := `2026-12-04T02:30:02Z namespace="pid 42" dst=198.18.0.2:7000 in_use=30 budget=100 used=30% new_per_s=10.0 established=0 time_wait=30 close_wait=0 projection=rising "runs out in ~7.0 s at the current rate (projected)"
2026-12-04T02:30:02Z namespace="pid 42" dst=198.18.0.2:7001 in_use=5 budget=100 used=5% new_per_s=0.0 established=5 time_wait=0 close_wait=0 projection=steady "steady at 5%"
`
	if got := buf.String(); got != want {
		t.Errorf("plain:\n%s\nwant:\n%s", got, want)
	}
}

func TestWriteJSON(t *testing.T) {
	r := watched(t).Report(1)
	var buf bytes.Buffer
	if err := WriteJSON(&buf, &r); err != nil {
		t.Fatal(err)
	}
	want := `{"at":"2026-12-04T02:30:02Z","namespace":"pid 42","port_range":"50000 50099","range_size":100,"reserved_ports":0,"bound_ports":0,"budget":100,"window_seconds":2,"samples":3,"destinations":2,` +
		`"rows":[{"destination":"198.18.0.2:7000","ports_in_use":30,"budget":100,"headroom":70,"new_per_second":10,"established":0,"time_wait":30,"close_wait":0,` +
		`"projection":{"kind":"rising","growth_per_second":10,"used_percent":30,"exhausts_in_seconds":7},"says":"runs out in ~7.0 s at the current rate (projected)"}]}` + "\n"
	if got := buf.String(); got != want {
		t.Errorf("json:\n%s\nwant:\n%s", got, want)
	}
	empty := Report{Namespace: "host"}
	buf.Reset()
	WriteJSON(&buf, &empty)
	if !strings.Contains(buf.String(), `"rows":[]`) {
		t.Errorf("no destinations: %s, want rows []", buf.String())
	}
}
