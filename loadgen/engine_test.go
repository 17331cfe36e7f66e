package loadgen

import (
	"bytes"
	"context"
	"io"
	"math"
	"net"
	"net/netip"
	"os"
	"runtime"
	"testing"
	"time"

	"github.com/portex/portex/result"
	"golang.org/x/sys/unix"
)

var loopback = netip.MustParseAddr("127.0.0.1")

// startEcho starts an echo server on a free loopback port and returns it
// with that port.
func startEcho(t *testing.T, listeners ...Listener) *Server {
	t.Helper()
	s, err := StartServer(ServerConfig{Addr: loopback, Listeners: listeners})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// freePorts finds n free loopback ports.
func freePorts(t *testing.T, n int) []int {
	t.Helper()
	var ports []int
	for i := 0; i < n; i++ {
		s, err := StartServer(ServerConfig{Addr: loopback, Listeners: []Listener{{Port: 0}}, Loops: 1})
		if err != nil {
			t.Fatal(err)
		}
		ports = append(ports, s.boundPort(0))
		s.Close()
	}
	return ports
}

func plan(ports []int, pools ...Pool) *Plan {
	p := &Plan{Scenario: "test", Variant: "default", Runtime: "host", Duration: time.Second,
		Stop: Stop{On: StopNever}}
	for _, port := range ports {
		p.Server.Listeners = append(p.Server.Listeners, Listener{Port: port})
	}
	for i := range pools {
		if pools[i].Ports == nil {
			pools[i].Ports = ports
		}
		if pools[i].ConnectTimeout == 0 {
			pools[i].ConnectTimeout = time.Second
		}
		if pools[i].Hold.Kind == "" {
			pools[i].Hold.Kind = HoldFixed
		}
	}
	p.Pools = pools
	return p
}

// checkNoLeaks fails if goroutines or descriptors outlive the test body.
func checkNoLeaks(t *testing.T) {
	t.Helper()
	RSS()      // opens /proc/self/statm, once for the life of the process
	countFDs() // and /proc/self/fd
	g0, fd0 := runtime.NumGoroutine(), openFDs(t)
	t.Cleanup(func() {
		deadline := time.Now().Add(2 * time.Second)
		for {
			g, fd := runtime.NumGoroutine(), openFDs(t)
			if g <= g0 && fd <= fd0 {
				return
			}
			if time.Now().After(deadline) {
				t.Errorf("leak: goroutines %d -> %d, descriptors %d -> %d", g0, g, fd0, fd)
				return
			}
			time.Sleep(20 * time.Millisecond)
		}
	})
}

func openFDs(t *testing.T) int {
	entries, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	return len(entries)
}

func TestRunEchoesAndCloses(t *testing.T) {
	ports := freePorts(t, 1)
	checkNoLeaks(t)
	srv := startEcho(t, Listener{Port: ports[0]})
	p := plan(ports, Pool{Name: "echo", Workers: 8, Messages: 3, Payload: 100, Close: CloseReset})
	p.Duration = 300 * time.Millisecond
	res, err := Run(context.Background(), p, Options{Target: loopback})
	if err != nil {
		t.Fatal(err)
	}
	if res.Dials.OK < 10 || res.Dials.Failed != 0 || len(res.Failures) != 0 {
		t.Fatalf("dials %+v failures %v: want many ok, none failed", res.Dials, res.Failures)
	}
	if res.Latency.EchoRTT.Count < 3*res.Dials.OK-8*3 {
		t.Errorf("echo samples %d for %d connections of 3 messages", res.Latency.EchoRTT.Count, res.Dials.OK)
	}
	if res.Latency.Connect.Count != res.Dials.OK {
		t.Errorf("connect samples %d, ok dials %d", res.Latency.Connect.Count, res.Dials.OK)
	}
	if res.Stopped != result.StoppedDuration {
		t.Errorf("stopped %q, want duration", res.Stopped)
	}
	srv.Close()
	// A dial is ok once the kernel completed its handshake; the server
	// accepts it from the queue later, and a worker's last connection may
	// still wait there when the run ends: one per worker at most.
	if c := srv.Counts(); c.Accepted < res.Dials.OK-8 || c.BytesEchoed < 300*res.Dials.OK-2400 {
		t.Errorf("server counts %+v for %d dials", c, res.Dials.OK)
	}
}

func TestRunRefusedIsClassified(t *testing.T) {
	ports := freePorts(t, 1) // nobody listens there any more
	p := plan(ports, Pool{Name: "refused", Workers: 2, Close: CloseClient})
	p.Duration = 100 * time.Millisecond
	res, err := Run(context.Background(), p, Options{Target: loopback})
	if err != nil {
		t.Fatal(err)
	}
	if res.Dials.OK != 0 || res.Failures["ECONNREFUSED"] == 0 || res.Failures["ECONNREFUSED"] != res.Dials.Failed {
		t.Fatalf("dials %+v failures %v: want only ECONNREFUSED", res.Dials, res.Failures)
	}
	if res.Exhaustion != nil {
		t.Errorf("refused dials reported as exhaustion: %+v", res.Exhaustion)
	}
}

func TestServerClosesFirst(t *testing.T) {
	ports := freePorts(t, 1)
	srv := startEcho(t, Listener{Port: ports[0], CloseFirst: true, CloseAfterBytes: 2 * 32})
	p := plan(ports, Pool{Name: "srvclose", Workers: 4, Messages: 2, Payload: 32, Close: CloseServer})
	p.Duration = 200 * time.Millisecond
	res, err := Run(context.Background(), p, Options{Target: loopback})
	if err != nil {
		t.Fatal(err)
	}
	if res.Dials.OK < 4 || len(res.Failures) != 0 {
		t.Fatalf("dials %+v failures %v", res.Dials, res.Failures)
	}
	srv.Close()
	if c := srv.Counts(); c.ClosedByServer < res.Dials.OK-4 {
		t.Errorf("server closed %d of %d connections first", c.ClosedByServer, res.Dials.OK)
	}
}

func TestLeakHoldsUntilTheEnd(t *testing.T) {
	needsFullTier(t, "a run of most of a second")
	ports := freePorts(t, 1)
	checkNoLeaks(t)
	startEcho(t, Listener{Port: ports[0]})
	p := plan(ports, Pool{Name: "leaky", Workers: 2, Messages: 0, Close: CloseLeak})
	p.Duration = 200 * time.Millisecond
	res, err := Run(context.Background(), p, Options{Target: loopback})
	if err != nil {
		t.Fatal(err)
	}
	// Workers close their leaks as they stop, one after the other, so the
	// last few dials may not all overlap.
	if res.PeakOpen < res.Dials.OK-2 || res.Dials.OK < 10 {
		t.Fatalf("peak open %d, ok dials %d: every leaked connection stays open", res.PeakOpen, res.Dials.OK)
	}
}

func TestCancelReturnsPartialResult(t *testing.T) {
	ports := freePorts(t, 1)
	startEcho(t, Listener{Port: ports[0]})
	p := plan(ports, Pool{Name: "holders", Workers: 5, Messages: 1, Payload: 8, Hold: Hold{Kind: HoldForever}, Close: CloseClient})
	p.Duration = time.Hour
	// Interrupted once the progress has shown the five held twice (or,
	// should that never come, after a minute), whatever the machine's pace.
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var events []result.Event
	held := 0
	onEvent := func(e result.Event) {
		events = append(events, e)
		if e.Type == result.EventProgress && e.Progress != nil && e.Progress.Open == 5 {
			if held++; held == 2 {
				cancel()
			}
		}
	}
	res, err := Run(ctx, p, Options{Target: loopback, Interval: 10 * time.Millisecond, Progress: 50 * time.Millisecond, OnEvent: onEvent})
	if err != nil {
		t.Fatal(err)
	}
	if res.Stopped != result.StoppedInterrupted || res.Dials.OK != 5 || res.PeakOpen != 5 {
		t.Fatalf("stopped %q dials %+v peak %d: want interrupted with 5 held", res.Stopped, res.Dials, res.PeakOpen)
	}
	var progress int
	for _, e := range events {
		if e.Type == result.EventProgress {
			progress++
		}
	}
	if progress < 2 || events[len(events)-1].Type != result.EventEnd {
		t.Errorf("events %+v: want progress events and end last", events)
	}
}

func TestServerClosesIdleConnections(t *testing.T) {
	needsFullTier(t, "a run of most of a second")
	ports := freePorts(t, 1)
	srv := startEcho(t, Listener{Port: ports[0], IdleClose: 100 * time.Millisecond})
	// Held 300 ms, idle after the echo: the server closes each first.
	p := plan(ports, Pool{Name: "idle", Workers: 3, Messages: 1, Payload: 8, Hold: Hold{Kind: HoldFixed, Min: 300 * time.Millisecond}, Close: CloseServer})
	p.Duration = 700 * time.Millisecond
	res, err := Run(context.Background(), p, Options{Target: loopback})
	if err != nil {
		t.Fatal(err)
	}
	if res.Dials.OK < 6 || len(res.Failures) != 0 {
		t.Fatalf("ok %d failures %v", res.Dials.OK, res.Failures)
	}
	if c := srv.Counts(); c.ClosedByServer < 6 {
		t.Errorf("server closed %d idle connections first, want every one (%d)", c.ClosedByServer, res.Dials.OK)
	}
}

func TestResultCarriesTimeSeriesAndLosslessHistograms(t *testing.T) {
	if !inOwnNetns(t) {
		return
	}
	ports := freePorts(t, 1)
	startEcho(t, Listener{Port: ports[0]})
	sampler, err := NewSocketSampler(0, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer sampler.Close()
	p := plan(ports, Pool{Name: "churn", Workers: 4, Messages: 1, Payload: 16, Close: CloseReset})
	p.Duration = 500 * time.Millisecond
	res, err := Run(context.Background(), p, Options{Target: loopback, Interval: 50 * time.Millisecond, Sockets: sampler})
	if err != nil {
		t.Fatal(err)
	}
	// A point per 50 ms interval, the last one partial; a tick the
	// sampler takes late makes one longer interval instead of two, so a
	// busy machine gives fewer points, never more.
	ts := res.TimeSeries
	if ts == nil || ts.IntervalSeconds != 0.05 || len(ts.Points) == 0 {
		t.Fatalf("time series %+v: want points of 50 ms", ts)
	}
	if most := int(math.Ceil(res.ElapsedSeconds/0.05+1e-9)) + 1; len(ts.Points) > most {
		t.Errorf("%d points in %.3fs, want at most %d of 50 ms", len(ts.Points), res.ElapsedSeconds, most)
	}
	for i := 1; i < len(ts.Points); i++ {
		if gap := ts.Points[i].T - ts.Points[i-1].T; gap <= 0 || ts.Points[i].T > res.ElapsedSeconds+1e-6 {
			t.Errorf("point %d at %.3fs after one at %.3fs, the run lasting %.3fs", i, ts.Points[i].T, ts.Points[i-1].T, res.ElapsedSeconds)
		}
	}
	var ok int64
	var sampled int
	for _, pt := range ts.Points {
		ok += pt.OK
		if pt.Client != nil && pt.Client.Listen >= 1 {
			sampled++
		}
	}
	// The sampler skips a point when sampling would take more than a tenth
	// of its time (a busy machine can make that happen); the last point
	// always samples.
	if sampled < 1 || ts.Points[len(ts.Points)-1].Client == nil || ts.SamplerCost == nil || ts.SamplerCost.Samples() != sampled {
		t.Errorf("%d of %d points carry socket states (sampler cost %+v)", sampled, len(ts.Points), ts.SamplerCost)
	}
	if ok != res.Dials.OK {
		t.Errorf("time series adds up to %d ok dials, the result says %d", ok, res.Dials.OK)
	}
	h, err := res.Latency.Connect.DecodeHDR()
	if err != nil || h == nil {
		t.Fatalf("decode connect histogram: %v", err)
	}
	if h.TotalCount() != res.Latency.Connect.Count || h.ValueAtQuantile(99) != res.Latency.Connect.P99Us {
		t.Errorf("decoded histogram: count %d p99 %d, summary %+v", h.TotalCount(), h.ValueAtQuantile(99), res.Latency.Connect)
	}
}

// startOneLoop starts an echo server of one event loop on a free loopback
// port, stopped when the test ends.
func startOneLoop(t *testing.T) (*Server, *net.TCPAddr) {
	t.Helper()
	ports := freePorts(t, 1)
	s, err := StartServer(ServerConfig{Addr: loopback, Listeners: []Listener{{Port: ports[0]}}, Loops: 1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s, net.TCPAddrFromAddrPort(netip.AddrPortFrom(loopback, uint16(ports[0])))
}

// startStream connects to the echo server at addr and streams into it as
// fast as it can, reading the echo back, until the test ends.
func startStream(t *testing.T, addr *net.TCPAddr) {
	t.Helper()
	stream, err := net.DialTCP("tcp", nil, addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { stream.Close() })
	go io.CopyBuffer(io.Discard, stream, make([]byte, 4<<20))
	go func() {
		chunk := make([]byte, 4<<20)
		for {
			if _, err := stream.Write(chunk); err != nil {
				return
			}
		}
	}()
}

// A client that streams into the echo server as fast as it can does not
// starve the other connections of its event loop: a connection's turn is a
// few reads, and each is served in turn. The loop is driven here pass by
// pass, so what is checked is what it does, not how fast a busy machine
// runs it: in every pass the stream is read at most two turns' worth (its
// own, and one more from the again list), and a ping the epoll set reports
// ready is echoed in the same pass.
func TestServerServesEveryReadyConnectionEachPass(t *testing.T) {
	lfd, err := listenTCP(loopback, 0, 16, false, false)
	if err != nil {
		t.Fatal(err)
	}
	s := &Server{cfg: ServerConfig{Addr: loopback, Listeners: []Listener{{}}, Loops: 1}, listeners: [][]int{{lfd}}}
	l, err := newServerLoop(s, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { l.closeAll(); l.release(); s.closeFDs() }()
	addr := net.TCPAddrFromAddrPort(netip.AddrPortFrom(loopback, uint16(boundPortOf(lfd))))
	stream, streamed := -1, int64(0)
	twoTurns := int64(2 * turnReads * len(l.buf))
	// pass runs one pass of the loop, checking what it read of the stream.
	pass := func() []unix.EpollEvent {
		t.Helper()
		events, _, err := l.next(time.Now().Add(5 * time.Second))
		if err != nil {
			t.Fatal(err)
		}
		var before int64
		if stream >= 0 {
			before = l.conns[stream].echoed
		}
		l.handle(events)
		if stream >= 0 {
			read := l.conns[stream].echoed - before
			if read > twoTurns {
				t.Fatalf("one pass read %d bytes of the stream, more than two turns (%d)", read, twoTurns)
			}
			streamed += read
		}
		return events
	}
	// served are the loop's connections, by descriptor.
	served := func() []int {
		var fds []int
		for fd := range l.conns {
			if l.conns[fd].listener() >= 0 {
				fds = append(fds, fd)
			}
		}
		return fds
	}
	startStream(t, addr)
	for len(served()) == 0 {
		pass()
	}
	stream = served()[0]
	for streamed < 8<<20 { // the stream is flowing
		pass()
	}
	c, err := net.DialTCP("tcp", nil, addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for len(served()) < 2 {
		pass()
	}
	ping := served()[0] + served()[1] - stream

	msg, in := []byte("ping1234"), make([]byte, 8)
	rounds := 0
	for range 100 {
		if _, err := c.Write(msg); err != nil {
			t.Fatal(err)
		}
		// Passes until the epoll set reports the ping; the pass that
		// sees it echoes it.
		for echoed := l.conns[ping].echoed; l.conns[ping].echoed == echoed; {
			for _, ev := range pass() {
				if int(ev.Fd) == ping && l.conns[ping].echoed == echoed {
					t.Fatalf("round %d: the ping was ready and the pass did not echo it", rounds)
				}
			}
		}
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		if _, err := io.ReadFull(c, in); err != nil || !bytes.Equal(in, msg) {
			t.Fatalf("round %d: read %q, %v", rounds, in, err)
		}
		rounds++
	}
	t.Logf("%d pings echoed, %d bytes of the stream read", rounds, streamed)
}

// The same, for real: the loop in its own goroutine, a second of round
// trips next to the stream. A busy machine can hold any one round trip
// up; none is kept waiting for long, which a loop that reads a stream
// until it is empty can do.
func TestServerIsFairToOtherConnections(t *testing.T) {
	needsFullTier(t, "a second of round trips next to a stream")
	_, addr := startOneLoop(t)
	startStream(t, addr)
	time.Sleep(50 * time.Millisecond) // the stream is flowing
	c, err := net.DialTCP("tcp", nil, addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	msg, in := []byte("ping1234"), make([]byte, 8)
	rtts, worst := 0, time.Duration(0)
	for end := time.Now().Add(time.Second); time.Now().Before(end); rtts++ {
		t0 := time.Now()
		c.SetDeadline(t0.Add(5 * time.Second))
		if _, err := c.Write(msg); err != nil {
			t.Fatal(err)
		}
		if _, err := io.ReadFull(c, in); err != nil {
			t.Fatalf("after %d round trips next to the stream: %v", rtts, err)
		}
		worst = max(worst, time.Since(t0))
	}
	if worst > 2*time.Second {
		t.Errorf("%d round trips in 1 s next to a stream, the slowest %v: one was held up for long", rtts, worst)
	}
	t.Logf("%d round trips in 1 s next to a stream, the slowest %v", rtts, worst)
}

// A FIN that comes with the last data is consumed by the read that returns
// the data, and brings no wake-up of its own: the echo server still sees
// it and closes its side.
func TestServerSeesAFINThatCameWithData(t *testing.T) {
	s, addr := startOneLoop(t)
	c, err := net.DialTCP("tcp", nil, addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	buf := make([]byte, 5)
	c.Write([]byte("hello")) // one round trip: the server watches the connection
	if _, err := io.ReadFull(c, buf); err != nil {
		t.Fatal(err)
	}
	time.Sleep(20 * time.Millisecond)
	rc, _ := c.SyscallConn()
	rc.Control(func(fd uintptr) { unix.SetsockoptInt(int(fd), unix.IPPROTO_TCP, unix.TCP_CORK, 1) })
	c.Write([]byte("world"))
	c.CloseWrite() // the FIN goes in the same segment as the corked data
	c.SetReadDeadline(time.Now().Add(2 * time.Second))
	if _, err := io.ReadFull(c, buf); err != nil {
		t.Fatal(err)
	}
	if _, err = c.Read(buf); err != io.EOF {
		t.Errorf("after the echo: %v, want EOF; the server holds %d connections", err, s.Open())
	}
}

// A connection that streams without a pause brings a new edge almost
// every pass, and hits its turn's cap every time: it is on the again list
// once, not once more each pass (26 times seen before), which would give
// it a turn per entry and undo the cap.
func TestServerQueuesAConnectionOnce(t *testing.T) {
	lfd, err := listenTCP(loopback, 0, 16, false, false)
	if err != nil {
		t.Fatal(err)
	}
	s := &Server{cfg: ServerConfig{Addr: loopback, Listeners: []Listener{{}}, Loops: 1}, listeners: [][]int{{lfd}}}
	l, err := newServerLoop(s, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { l.closeAll(); l.release(); s.closeFDs() }()
	startStream(t, net.TCPAddrFromAddrPort(netip.AddrPortFrom(loopback, uint16(boundPortOf(lfd)))))
	worst, queued := 0, 0
	for range 300 {
		events, _, err := l.next(time.Now().Add(time.Second))
		if err != nil {
			t.Fatal(err)
		}
		l.handle(events)
		seen := map[int]int{}
		for _, fd := range l.again {
			seen[fd]++
			worst = max(worst, seen[fd])
		}
		queued += len(l.again)
	}
	if worst > 1 || queued == 0 {
		t.Errorf("a connection was on the again list %d times at once (%d entries in all): want once, and some", worst, queued)
	}
}

// An open pool's arrivals are those due in [0, duration): 300/s for 1 s
// makes 300, none at t = 1 s, however late the stop.
func TestOpenArrivalsEndWithTheDuration(t *testing.T) {
	ports := freePorts(t, 1)
	startEcho(t, Listener{Port: ports[0]})
	for _, tt := range []struct {
		name     string
		rate     float64
		duration time.Duration
		want     int64
	}{
		{"300/s for 1 s", 300, time.Second, 300},
		{"50/s for 600 ms", 50, 600 * time.Millisecond, 30},
	} {
		t.Run(tt.name, func(t *testing.T) {
			p := plan(ports, Pool{Name: "open", Rate: tt.rate, MaxInFlight: 50, Messages: 1, Payload: 8, Close: CloseReset})
			p.Duration = tt.duration
			res, err := Run(context.Background(), p, Options{Target: loopback})
			if err != nil {
				t.Fatal(err)
			}
			// A starved scheduler may still be catching up when the
			// duration ends: a few fewer, never more.
			if got := res.Dials.Attempted + res.Dropped; got > tt.want || got < tt.want*9/10 {
				t.Errorf("%d arrivals (%d attempted, %d dropped), want %d", got, res.Dials.Attempted, res.Dropped, tt.want)
			}
		})
	}
}

func TestNATSlice(t *testing.T) {
	n := &NAT{Ports: PortRange{Lo: 60000, Hi: 60099}, Mode: NATSNAT, Addresses: 2, PerClientPorts: 25}
	for _, c := range []struct {
		client, addr int
		ports        PortRange
		ok           bool
	}{
		{0, 0, PortRange{Lo: 60000, Hi: 60024}, true},
		{3, 0, PortRange{Lo: 60075, Hi: 60099}, true},
		{4, 1, PortRange{Lo: 60000, Hi: 60024}, true}, // the second NAT address's first slice
		{7, 1, PortRange{Lo: 60075, Hi: 60099}, true},
		{8, 0, PortRange{}, false}, // beyond 2 addresses × 4 slices
	} {
		addr, ports, ok := n.Slice(c.client)
		if addr != c.addr || ports != c.ports || ok != c.ok {
			t.Errorf("client %d: address %d, ports %v, %v; want %d, %v, %v", c.client, addr, ports, ok, c.addr, c.ports, c.ok)
		}
	}
	if _, _, ok := (&NAT{Ports: PortRange{Lo: 1, Hi: 10}}).Slice(0); ok {
		t.Error("no per_client_ports: want no slice")
	}
	if err := (&NAT{Ports: PortRange{Lo: 60000, Hi: 60099}, Mode: NATSNAT, PerClientPorts: 30}).Check(); err == nil {
		t.Error("30 does not divide 100: want an error")
	}
}

// The NAT address the kernel gives each of the sandbox's first client
// addresses for the server; sandbox's TestNATAddressesSlicesAndLimit
// measures the connections these give through a real NAT.
func TestNATAddressIndex(t *testing.T) {
	for _, c := range []struct {
		n    int
		want []int // for SandboxSourceAddr(0), (1), ...
	}{
		{1, []int{0, 0, 0, 0}},
		{2, []int{1, 1, 0, 0, 0, 1, 1, 0}},
		{3, []int{2, 1, 0, 1, 0, 2, 1, 1}},
		{4, []int{3, 2, 0, 1, 0, 3, 2, 1}},
	} {
		for i, want := range c.want {
			if got := NATAddressIndex(SandboxSourceAddr(i), SandboxServerAddr, c.n); got != want {
				t.Errorf("%d NAT addresses, client %s: NAT address %d, want %d", c.n, SandboxSourceAddr(i), got, want)
			}
		}
	}
}
