package loadgen

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/portex/portex/result"
	"golang.org/x/sys/unix"
)

// runLooped runs p, whose first pool must run on event loops, for d.
func runLooped(t *testing.T, p *Plan, d time.Duration) *result.Result {
	t.Helper()
	if !loopable(&p.Pools[0]) {
		t.Fatal("the pool does not run on event loops")
	}
	p.Duration = d
	res, err := Run(context.Background(), p, Options{Target: loopback})
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// A pool of back-to-back echoes on kept-alive connections runs on event
// loops: one connection a worker for the whole run, every echo counted and
// checked, every byte through the server, nothing left open.
func TestEchoLoopKeepsConnections(t *testing.T) {
	ports := freePorts(t, 1)
	checkNoLeaks(t)
	srv := startEcho(t, Listener{Port: ports[0]})
	p := plan(ports, Pool{Name: "echo", Workers: 7, PoolSize: 7, Messages: 3, Payload: 100, Close: CloseKeep})
	res := runLooped(t, p, 300*time.Millisecond)
	if res.Dials.OK != 7 || res.Dials.Failed != 0 || len(res.Failures) != 0 {
		t.Fatalf("dials %+v failures %v: want 7 connections kept the whole run", res.Dials, res.Failures)
	}
	n := res.Latency.EchoRTT.Count
	if n < 100 {
		t.Fatalf("%d echoes in 300 ms", n)
	}
	srv.Close()
	if c := srv.Counts(); c.BytesEchoed != n*100 || c.Accepted != 7 || c.ClosedByPeer != 7 {
		t.Errorf("server %+v: want %d bytes echoed (every echo read in full, none abandoned), 7 connections, all closed",
			c, n*100)
	}
	if res.PeakOpen != 7 {
		t.Errorf("peak open %d, want 7", res.PeakOpen)
	}
}

// A connection the server closes mid-run is a failure of the exchange, and
// the worker dials again at once.
func TestEchoLoopRedialsBrokenConnections(t *testing.T) {
	ports := freePorts(t, 1)
	checkNoLeaks(t)
	startEcho(t, Listener{Port: ports[0], CloseFirst: true, CloseAfterBytes: 5 * 64})
	p := plan(ports, Pool{Name: "echo", Workers: 3, PoolSize: 3, Messages: 1, Payload: 64, Close: CloseKeep})
	res := runLooped(t, p, 300*time.Millisecond)
	// Each connection carries 5 echoes; the 6th message finds it closed.
	broken := res.Dials.OK - 3
	if broken < 10 || res.Latency.EchoRTT.Count < 5*broken {
		t.Fatalf("dials %+v, %d echoes: want connections broken every 5 echoes and dialed again", res.Dials, res.Latency.EchoRTT.Count)
	}
	var failed int64
	for _, n := range res.Failures {
		failed += n
	}
	if failed < broken || failed > broken+3 {
		t.Errorf("failures %v for %d broken connections", res.Failures, broken)
	}
}

// Churn with echoes runs on event loops: every connection dialed, its
// messages echoed, closed with RST, and the next one dialed.
func TestEchoLoopChurns(t *testing.T) {
	ports := freePorts(t, 2)
	checkNoLeaks(t)
	srv := startEcho(t, Listener{Port: ports[0]}, Listener{Port: ports[1]})
	p := plan(ports, Pool{Name: "churn", Workers: 4, Messages: 2, Payload: 32, Close: CloseReset})
	res := runLooped(t, p, 300*time.Millisecond)
	ok, echoes := res.Dials.OK, res.Latency.EchoRTT.Count
	if ok < 100 || res.Dials.Failed != 0 || len(res.Failures) != 0 {
		t.Fatalf("dials %+v failures %v", res.Dials, res.Failures)
	}
	// A connection dialed as the run stopped may not have sent its
	// messages.
	if echoes > 2*ok || echoes < 2*(ok-4) {
		t.Errorf("%d echoes for %d connections of 2 messages", echoes, ok)
	}
	if res.Latency.Connect.Count != ok || res.PeakOpen > 4 {
		t.Errorf("%d connect samples for %d dials, peak open %d (4 workers)", res.Latency.Connect.Count, ok, res.PeakOpen)
	}
	srv.Close()
	if c := srv.Counts(); c.Accepted != ok || c.BytesEchoed != 32*echoes {
		t.Errorf("server %+v: want %d accepted, %d bytes echoed", c, ok, 32*echoes)
	}
}

// On event loops the ports run out as they do otherwise: with 50 ports and
// TIME_WAIT not reused, exactly 50 connections, then EADDRNOTAVAIL and the
// run stops.
func TestEchoLoopExhausts(t *testing.T) {
	if !inOwnNetns(t) {
		return
	}
	for name, v := range map[string]string{"ip_local_port_range": "40000 40049", "tcp_tw_reuse": "0"} {
		if err := os.WriteFile("/proc/sys/net/ipv4/"+name, []byte(v), 0); err != nil {
			t.Fatal(err)
		}
	}
	ports := []int{7000} // outside the range: a fresh namespace has nothing else
	startEcho(t, Listener{Port: ports[0]})
	p := plan(ports, Pool{Name: "churn", Workers: 3, Messages: 1, Payload: 16, Close: CloseClient})
	p.Stop = Stop{On: StopOnExhaustion}
	res := runLooped(t, p, 5*time.Second)
	if res.Dials.OK != 50 || res.Failures["EADDRNOTAVAIL"] == 0 || res.Exhaustion == nil {
		t.Fatalf("dials %+v failures %v exhaustion %+v: want 50, then EADDRNOTAVAIL", res.Dials, res.Failures, res.Exhaustion)
	}
	// The run stops at the first EADDRNOTAVAIL: a connection another
	// worker (on the other loop) opened just then may send nothing.
	if echoes := res.Latency.EchoRTT.Count; res.Exhaustion.DialsOKBefore != 50 || echoes > 50 || echoes < 48 {
		t.Errorf("exhaustion %+v, %d echoes", res.Exhaustion, echoes)
	}
}

// A dial the server never answers times out on the loop, by the pool's
// connect timeout, and counts as a timeout; the worker dials again after
// its pause.
func TestEchoLoopDialTimesOut(t *testing.T) {
	if !inOwnNetns(t) {
		return
	}
	// No SYN cookies: once the listener's queue is full, SYNs are dropped.
	if err := os.WriteFile("/proc/sys/net/ipv4/tcp_syncookies", []byte("0"), 0); err != nil {
		t.Fatal(err)
	}
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	if err := unix.Bind(fd, &unix.SockaddrInet4{Port: 7000, Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatal(err)
	}
	if err := unix.Listen(fd, 0); err != nil { // and never accepts
		t.Fatal(err)
	}
	p := plan([]int{7000}, Pool{Name: "churn", Workers: 4, Messages: 1, Payload: 8, Close: CloseReset,
		ConnectTimeout: 100 * time.Millisecond})
	p.Duration = 500 * time.Millisecond
	res, err := Run(context.Background(), p, Options{Target: loopback})
	if err != nil {
		t.Fatal(err)
	}
	timeouts := res.Failures["timeout"] // portex's connect_timeout, not the kernel's ETIMEDOUT
	if timeouts < 4 || res.Dials.Failed != timeouts+res.Failures["ECONNREFUSED"] {
		t.Fatalf("dials %+v failures %v: want timeouts", res.Dials, res.Failures)
	}
	if p99 := res.Latency.Connect.P99Us; res.Dials.OK > 0 && p99 > 100_000 {
		t.Errorf("a connect took %d µs, beyond the 100 ms timeout", p99)
	}
}

// Holds and intervals run on the loop's timers: three messages 20 ms
// apart, then a hold of 50-100 ms, then a FIN and the next connection.
func TestEchoLoopHoldsAndPaces(t *testing.T) {
	needsFullTier(t, "a quiet machine for its timing")
	ports := freePorts(t, 1)
	checkNoLeaks(t)
	srv := startEcho(t, Listener{Port: ports[0]})
	p := plan(ports, Pool{Name: "hold", Workers: 20, Messages: 3, Payload: 16, Interval: 20 * time.Millisecond,
		Hold: Hold{Kind: HoldUniform, Min: 50 * time.Millisecond, Max: 100 * time.Millisecond}, Close: CloseClient})
	res := runLooped(t, p, 600*time.Millisecond)
	ok, echoes := res.Dials.OK, res.Latency.EchoRTT.Count
	// A connection lives at least 2 intervals and the shortest hold: 90 ms.
	if ok < 40 || ok > 20*600/90+20 || len(res.Failures) != 0 {
		t.Fatalf("dials %+v failures %v: want at most %d connections of 90 ms or more", res.Dials, res.Failures, 20*600/90+20)
	}
	if echoes > 3*ok || echoes < 3*(ok-20) || res.PeakOpen > 20 {
		t.Errorf("%d echoes for %d connections of 3 messages, peak open %d", echoes, ok, res.PeakOpen)
	}
	srv.Close()
	if c := srv.Counts(); c.Accepted != ok || c.ClosedByPeer != ok {
		t.Errorf("server %+v: want %d connections, all closed by the client", c, ok)
	}
}

// A server that closes idle connections during the hold does not make the
// loop spin on the EOF: the connection ends with its hold, no failure, as
// with goroutine workers.
func TestEchoLoopIgnoresIdleEvents(t *testing.T) {
	needsFullTier(t, "a second of idle time")
	ports := freePorts(t, 1)
	checkNoLeaks(t)
	// Idle for 50 ms, well within the hold, and long enough that a busy
	// machine's delay between a connect and its message is not idleness.
	startEcho(t, Listener{Port: ports[0], IdleClose: 50 * time.Millisecond})
	p := plan(ports, Pool{Name: "hold", Workers: 10, Messages: 1, Payload: 16,
		Hold: Hold{Kind: HoldFixed, Min: 200 * time.Millisecond}, Close: CloseClient})
	if !loopable(&p.Pools[0]) {
		t.Fatal("the pool does not run on event loops")
	}
	p.Duration = time.Second
	cpu0 := CPUTime()
	res, err := Run(context.Background(), p, Options{Target: loopback})
	if err != nil {
		t.Fatal(err)
	}
	if cpu := CPUTime() - cpu0; cpu > 500*time.Millisecond {
		t.Errorf("the run took %v of CPU in 1 s: the loop spins", cpu)
	}
	if res.Dials.OK < 30 || len(res.Failures) != 0 {
		t.Errorf("dials %+v failures %v: want 10 workers × 5 holds, no failure", res.Dials, res.Failures)
	}
}

// listenNoAccept listens on a loopback port and never accepts: the
// kernel completes handshakes into the queue until it is full, then drops
// SYNs (with syncookies off).
func listenNoAccept(t *testing.T, port, backlog int) {
	t.Helper()
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Close(fd) })
	if err := unix.Bind(fd, &unix.SockaddrInet4{Port: port, Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatal(err)
	}
	if err := unix.Listen(fd, backlog); err != nil {
		t.Fatal(err)
	}
}

// A worker whose dial timed out dials again and its next connection works:
// one worker alternating between a port that drops SYNs and one that
// echoes.
func TestEchoLoopDialsOnAfterATimeout(t *testing.T) {
	if !inOwnNetns(t) {
		return
	}
	if err := os.WriteFile("/proc/sys/net/ipv4/tcp_syncookies", []byte("0"), 0); err != nil {
		t.Fatal(err)
	}
	listenNoAccept(t, 7000, 0)
	for range 3 { // fill its queue
		c, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			t.Fatal(err)
		}
		defer unix.Close(c)
		unix.Connect(c, &unix.SockaddrInet4{Port: 7000, Addr: [4]byte{127, 0, 0, 1}})
	}
	startEcho(t, Listener{Port: 7001})
	p := plan([]int{7000, 7001}, Pool{Name: "churn", Workers: 1, Messages: 1, Payload: 8, Close: CloseReset,
		ConnectTimeout: 50 * time.Millisecond})
	res := runLooped(t, p, time.Second)
	if n := res.Latency.EchoRTT.Count; n < 5 || res.Failures["timeout"] < 5 {
		t.Errorf("%d echoes, failures %v: want the worker to go on between timeouts", n, res.Failures)
	}
}

// An echo that never comes fails the exchange after ioTimeout, as a
// goroutine worker's read does, and the worker goes on.
func TestEchoLoopExchangeTimesOut(t *testing.T) {
	needsFullTier(t, "seconds of exchange timeouts")
	saved := ioTimeout
	ioTimeout = 200 * time.Millisecond
	t.Cleanup(func() { ioTimeout = saved })
	ports := freePorts(t, 1)
	listenNoAccept(t, ports[0], 64) // connects, never reads
	p := plan(ports, Pool{Name: "keep", Workers: 2, PoolSize: 2, Messages: 1, Payload: 8, Close: CloseKeep})
	res := runLooped(t, p, 2500*time.Millisecond)
	if res.Failures["timeout"] < 2 || res.Dials.OK < 4 {
		t.Errorf("dials %+v failures %v: want exchanges timed out and dialed again", res.Dials, res.Failures)
	}
}

// A message larger than the socket buffers goes out in pieces while its
// echo comes back (left unread, it would stall the server and the loop).
// What the kernel guarantees, not a rate: every echo comes back whole and
// intact, however slowly. The run lasts until the server has echoed two
// whole messages (bounded generously), and its grace lets the echo under
// way finish: both echoes arrive, checked byte for byte, on the one
// connection, and nothing fails.
func TestEchoLoopLargeMessages(t *testing.T) {
	needsFullTier(t, "seconds of large messages")
	const size = 64 << 20
	ports := freePorts(t, 1)
	checkNoLeaks(t)
	srv := startEcho(t, Listener{Port: ports[0]})
	p := plan(ports, Pool{Name: "big", Workers: 1, PoolSize: 1, Messages: 1, Payload: size, Close: CloseKeep})
	p.Duration = time.Minute
	if !loopable(&p.Pools[0]) {
		t.Fatal("the pool does not run on event loops")
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan *result.Result, 1)
	go func() {
		res, err := Run(ctx, p, Options{Target: loopback, Grace: time.Minute})
		if err != nil {
			t.Error(err)
		}
		done <- res
	}()
	var res *result.Result
	for res == nil {
		select {
		case res = <-done:
		case <-time.After(10 * time.Millisecond):
			if srv.Counts().BytesEchoed >= 2*size {
				cancel()
			}
		}
	}
	if res.Dials.OK != 1 || res.Dials.Failed != 0 || len(res.Failures) != 0 {
		t.Errorf("dials %+v failures %v, want one connection and no failure", res.Dials, res.Failures)
	}
	if n, echoed := res.Latency.EchoRTT.Count, srv.Counts().BytesEchoed; n < 2 || n < echoed/size {
		t.Errorf("%d echoes of 64 MiB after %.1f s, the server echoed %d bytes (%.1f messages)",
			n, res.ElapsedSeconds, echoed, float64(echoed)/size)
	}
}

// A pool that closes with RST disconnects its sockets and dials the next
// connection on them (see disconnect): every connection still ends with an
// RST at the server and comes from the source it should; a socket moves to
// another destination but not to another source, and a socket bound
// before connect() is not reused.
func TestEchoLoopResetReusesSockets(t *testing.T) {
	needsFullTier(t, "a second of churn")
	ports := freePorts(t, 2)
	checkNoLeaks(t)
	type seen struct {
		src   netip.Addr
		reset bool
	}
	got := make(chan seen, 100000)
	var wg sync.WaitGroup
	for _, port := range ports {
		ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				wg.Add(1)
				go func() {
					defer wg.Done()
					defer c.Close()
					// A connection dialed as the run stopped sends nothing.
					buf := make([]byte, 8)
					_, err := io.ReadFull(c, buf)
					if err == nil {
						c.Write(buf)
						_, err = c.Read(buf)
					}
					got <- seen{c.RemoteAddr().(*net.TCPAddr).AddrPort().Addr(), errors.Is(err, syscall.ECONNRESET)}
				}()
			}
		}()
	}
	sources := []netip.Addr{netip.MustParseAddr("127.0.0.1"), netip.MustParseAddr("127.0.0.2")}
	for _, bind := range []BindMode{BindAuto, BindNoPort, BindBeforeConnect} {
		before := socketsMade.Load()
		p := plan(ports, Pool{Name: "churn", Workers: 2, Sources: 2, Bind: bind, Messages: 1, Payload: 8, Close: CloseReset})
		p.Duration = 300 * time.Millisecond
		if !loopable(&p.Pools[0]) {
			t.Fatal("the pool does not run on event loops")
		}
		res, err := Run(context.Background(), p, Options{Target: loopback, Sources: sources})
		if err != nil {
			t.Fatal(err)
		}
		ok, made := res.Dials.OK, socketsMade.Load()-before
		if ok < 100 || res.Dials.Failed != 0 || len(res.Failures) != 0 {
			t.Fatalf("bind %s: dials %+v failures %v", bind, res.Dials, res.Failures)
		}
		// Each worker dials the (source, destination) pairs in turn, two
		// destinations a source: a new socket for every other connection;
		// bound before connect(), a socket for each (see reusableFor).
		want := ok / 2
		if bind == BindBeforeConnect {
			want = ok
		}
		if made > want+4 || made < want-4 {
			t.Errorf("bind %s: %d sockets for %d connections, want about %d", bind, made, ok, want)
		}
		bySrc := map[netip.Addr]int64{}
		for range ok {
			select {
			case s := <-got:
				if !s.reset {
					t.Fatalf("bind %s: a connection from %v did not end with RST", bind, s.src)
				}
				bySrc[s.src]++
			case <-time.After(5 * time.Second):
				t.Fatalf("bind %s: the server saw %v of %d connections", bind, bySrc, ok)
			}
		}
		// A worker may stop up to two dials into a source's turn.
		if d := bySrc[sources[0]] - bySrc[sources[1]]; d > 4 || d < -4 || len(bySrc) != 2 {
			t.Errorf("bind %s: connections by source %v, want half from each", bind, bySrc)
		}
	}
}

// A peer that echoes and then closes its side (shutdown(SHUT_WR)), still
// reading: the worker's next message finds the EOF at once, as a goroutine
// worker would, rather than waiting out the exchange timeout.
func TestEchoLoopSeesAnEOFBetweenMessages(t *testing.T) {
	needsFullTier(t, "a second of paced messages")
	saved := ioTimeout
	ioTimeout = 1500 * time.Millisecond
	t.Cleanup(func() { ioTimeout = saved })
	ports := freePorts(t, 1)
	ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", ports[0]))
	if err != nil {
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
				defer c.Close()
				b := make([]byte, 8)
				if _, err := io.ReadFull(c, b); err == nil {
					c.Write(b)
				}
				c.(*net.TCPConn).CloseWrite()
				io.Copy(io.Discard, c)
			}()
		}
	}()
	p := plan(ports, Pool{Name: "p", Workers: 1, Messages: 2, Interval: 50 * time.Millisecond, Payload: 8, Close: CloseReset})
	res := runLooped(t, p, time.Second)
	if res.Dials.OK < 10 || res.Failures["EOF"] < res.Dials.OK-1 || res.Failures["ETIMEDOUT"]+res.Failures["timeout"] != 0 {
		t.Errorf("dials %+v failures %v: want each connection's second message to find EOF", res.Dials, res.Failures)
	}
}

// An event loop that cannot run ends the run as an error that says why;
// the engine prints nothing.
func TestEchoLoopFailureIsTheRunsError(t *testing.T) {
	ports := freePorts(t, 1)
	startEcho(t, Listener{Port: ports[0]})
	broken := errors.New("no epoll here")
	newEpoll = func(int) (*epollWaiter, error) { return nil, broken }
	t.Cleanup(func() { newEpoll = newEpollWaiter })
	p := plan(ports, Pool{Name: "echo", Workers: 2, PoolSize: 2, Messages: 1, Payload: 10, Close: CloseKeep})
	start := time.Now()
	res := runLooped(t, p, 5*time.Second)
	if res.Stopped != result.StoppedError || !strings.Contains(res.Error, "pool echo: event loop: no epoll here") {
		t.Errorf("stopped %q, error %q: want the loop's failure as the run's error", res.Stopped, res.Error)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("the run went on for %s after its loops failed", d)
	}
}

// A pool that holds each connection forever runs on event loops whose few
// slots open every worker's connection in turn: all held to the end, each
// destination given its share, no slot or goroutine per connection.
func TestEchoLoopHoldsForeverThroughFewSlots(t *testing.T) {
	ports := freePorts(t, 3)
	checkNoLeaks(t)
	var srvs []*Server
	for _, port := range ports {
		srvs = append(srvs, startEcho(t, Listener{Port: port}))
	}
	const workers = 3*maxHolders + 7
	for _, messages := range []int{0, 1} {
		t.Run(fmt.Sprintf("messages=%d", messages), func(t *testing.T) {
			p := plan(ports, Pool{Name: "holders", Workers: workers, Messages: messages, Payload: 16,
				Hold: Hold{Kind: HoldForever}, Close: CloseClient})
			if got := loopSlots(&p.Pools[0]); got != maxHolders {
				t.Fatalf("%d slots for %d workers held forever, want %d", got, workers, maxHolders)
			}
			before := make([]int64, len(srvs))
			for i, s := range srvs {
				before[i] = s.Counts().Accepted
			}
			res := runLooped(t, p, 500*time.Millisecond)
			if res.Dials.OK != workers || res.Dials.Failed != 0 || res.PeakOpen != workers {
				t.Fatalf("dials %+v, peak open %d: want all %d workers' connections held at once", res.Dials, res.PeakOpen, workers)
			}
			if res.ClosedAtEnd != workers {
				t.Errorf("%d closed at the end, want %d", res.ClosedAtEnd, workers)
			}
			for i, s := range srvs {
				if n := s.Counts().Accepted - before[i]; n < workers/3 || n > workers/3+1 {
					t.Errorf("destination %d got %d connections of %d, want its third", i, n, workers)
				}
			}
			if messages > 0 && res.Latency.EchoRTT.Count != workers {
				t.Errorf("%d echoes, want one a connection", res.Latency.EchoRTT.Count)
			}
		})
	}
}

// A hold without messages, and leaks, run on event loops too: each worker
// connects, holds, and closes or leaks, over and over.
func TestEchoLoopHoldsWithoutMessagesAndLeaks(t *testing.T) {
	ports := freePorts(t, 1)
	checkNoLeaks(t)
	srv := startEcho(t, Listener{Port: ports[0]})
	p := plan(ports, Pool{Name: "leaky", Workers: 4, Messages: 0, Hold: Hold{Kind: HoldFixed, Min: 20 * time.Millisecond},
		Close: CloseClient, Leak: 0.5})
	res := runLooped(t, p, 400*time.Millisecond)
	if res.Dials.OK < 20 || res.Dials.Failed != 0 {
		t.Fatalf("dials %+v: want a connection every 20 ms a worker", res.Dials)
	}
	// About half the connections leak: open until the run ends.
	if res.ClosedAtEnd < res.Dials.OK/4 || res.ClosedAtEnd > 3*res.Dials.OK/4+4 {
		t.Errorf("%d of %d connections closed at the end, want about half (leaked) and the last four", res.ClosedAtEnd, res.Dials.OK)
	}
	srv.Close()
	if c := srv.Counts(); c.Accepted != res.Dials.OK || c.BytesEchoed != 0 {
		t.Errorf("server %+v: want %d connections and no bytes", c, res.Dials.OK)
	}
}

// The engine reads a looped pool's counters once a loop, not once a
// worker: the time series costs the same at a hundred thousand workers as at ten.
func TestLoopedPoolCountsPerLoop(t *testing.T) {
	for _, pl := range []Pool{
		{Name: "held", Workers: 100_000, Messages: 0, Hold: Hold{Kind: HoldForever}, Close: CloseClient},
		{Name: "finite", Workers: 100_000, Messages: 1, Hold: Hold{Kind: HoldFixed, Min: time.Second}, Close: CloseClient},
	} {
		p := plan([]int{1}, pl)
		p.Duration = time.Millisecond
		ctx, cancel := context.WithCancel(context.Background())
		cancel() // nothing dials: the pools are built and stop at once
		e := newEngine(p, Options{Target: loopback})
		e.sched, e.stopSched, e.hard = ctx, func(error) {}, ctx
		var wg sync.WaitGroup
		e.startPools(&wg)
		wg.Wait()
		if n := len(e.workers); n != loopsFor(&p.Pools[0]) {
			t.Errorf("pool %s: the engine reads %d workers' counters for %d workers, want one a loop (%d)",
				pl.Name, n, pl.Workers, loopsFor(&p.Pools[0]))
		}
	}
}

// A loop's epoll instance is made before any loop dials: when one loop's
// connections take every descriptor, the others still run, and the run
// reports EMFILE, not a broken event loop.
func TestEchoLoopsOutOfDescriptorsStillRun(t *testing.T) {
	needsFullTier(t, "lowers the test process's descriptor limit")
	ports := freePorts(t, 1)
	startEcho(t, Listener{Port: ports[0]})
	var lim unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &lim); err != nil {
		t.Fatal(err)
	}
	low := lim
	low.Cur = uint64(countFDs() + 100)
	if err := unix.Setrlimit(unix.RLIMIT_NOFILE, &low); err != nil {
		t.Fatal(err)
	}
	defer unix.Setrlimit(unix.RLIMIT_NOFILE, &lim)
	p := plan(ports, Pool{Name: "holders", Workers: 300, Hold: Hold{Kind: HoldForever}, Close: CloseClient})
	res := runLooped(t, p, 300*time.Millisecond)
	if res.Error != "" || res.Failures["EMFILE"] == 0 {
		t.Fatalf("error %q, failures %v: want EMFILE and no broken loop", res.Error, res.Failures)
	}
}
