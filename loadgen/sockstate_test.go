package loadgen

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"runtime"
	"syscall"
	"testing"
	"time"

	"github.com/portex/portex/result"
	"golang.org/x/sys/unix"
)

func TestSocketSamplerCountsStates(t *testing.T) {
	if !inOwnNetns(t) {
		return
	}
	ports := freePorts(t, 1)
	startEcho(t, Listener{Port: ports[0]})
	s, err := NewSocketSampler(0, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	before, err := s.SampleFull()
	if err != nil {
		t.Fatal(err)
	}
	// 20 connections held: 20 more ESTABLISHED on each side of loopback.
	p := plan(ports, Pool{Name: "hold", Workers: 20, Hold: Hold{Kind: HoldForever}, Close: CloseClient})
	p.Duration = time.Second
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan *result.Result)
	go func() {
		res, _ := Run(ctx, p, Options{Target: loopback, Progress: 10 * time.Millisecond, OnEvent: func(ev result.Event) {}})
		done <- res
	}()
	var during result.SocketStates
	for deadline := time.Now().Add(2 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if during, err = s.SampleFull(); err != nil {
			t.Fatal(err)
		}
		if during.Established-before.Established >= 40 {
			break
		}
	}
	cancel()
	<-done
	if got := during.Established - before.Established; got != 40 {
		t.Errorf("established went from %d to %d, want +40 (20 pairs over loopback)", before.Established, during.Established)
	}
	// 20 client ports, and the server's port, which its accepted sockets
	// share.
	if during.Listen < 1 || during.PortsInUse-before.PortsInUse != 21 {
		t.Errorf("states %+v: want the listener and 21 more ports in use", during)
	}
}

// A quick sample, from the kernel's counters and a dump of the rarer states,
// counts what a full one does: here 10 connections in each of ESTABLISHED,
// TIME_WAIT (client side; the server's side is gone), and FIN_WAIT2 with
// CLOSE_WAIT on the other side, the FIN_WAIT2 ones orphans that the kernel
// keeps as timewait sockets.
func TestSocketSamplerQuickCountsAsFull(t *testing.T) {
	if !inOwnNetns(t) {
		return
	}
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 30)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			accepted <- c
		}
	}()
	var client, server []net.Conn
	for range 30 {
		c, err := net.Dial("tcp4", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		client, server = append(client, c), append(server, <-accepted)
	}
	defer func() {
		for _, c := range append(client, server...) {
			c.Close()
		}
	}()
	for i := range 10 { // TIME_WAIT: the client closes first, then the server
		client[i].Close()
		server[i].Read(make([]byte, 1))
		server[i].Close()
	}
	for i := 10; i < 20; i++ { // FIN_WAIT2 and CLOSE_WAIT: the server never closes
		client[i].Close()
	}
	s, err := NewSocketSampler(0, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var full, quick result.SocketStates
	for deadline := time.Now().Add(2 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if full, err = s.SampleFull(); err != nil {
			t.Fatal(err)
		}
		if full.TimeWait == 10 && full.FinWait2 == 10 && full.CloseWait == 10 {
			break
		}
	}
	if quick, err = s.sample(false); err != nil {
		t.Fatal(err)
	}
	// The ten TIME_WAIT sockets are younger than a second: a full sample
	// sees their age, a quick one does not.
	want := result.SocketStates{Established: 20, TimeWait: 10, FinWait2: 10, CloseWait: 10, Listen: 1, PortsInUse: 31, TimeWaitRecent: 10}
	if full != want {
		t.Errorf("full sample %+v, want %+v", full, want)
	}
	want.PortsInUse, want.TimeWaitRecent = result.PortsUncounted, 0
	if quick != want {
		t.Errorf("quick sample %+v, want %+v", quick, want)
	}
	// Counted, from the counters alone: the CLOSE_WAIT sockets among the
	// established ones, the FIN_WAIT2 orphans among the timewait ones, the
	// listener unsorted; the same sockets in all.
	s.fullCost = 2 * countAbove
	counted, err := s.sample(false)
	if err != nil {
		t.Fatal(err)
	}
	want = result.SocketStates{Established: 30, TimeWait: 20, Unsorted: 1, PortsInUse: result.PortsUncounted}
	if counted != want || counted.Total() != full.Total() {
		t.Errorf("counted sample %+v, want %+v, %d sockets as the full one counted", counted, want, full.Total())
	}
}

// Sample takes quick samples once full ones are dear, and a full one still
// when it is due.
func TestSocketSamplerChoosesQuick(t *testing.T) {
	if !inOwnNetns(t) {
		return
	}
	s, err := NewSocketSampler(0, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	counted := func() bool {
		st, err := s.Sample()
		if err != nil {
			t.Fatal(err)
		}
		return st.PortsCounted()
	}
	if !counted() {
		t.Error("a cheap sample was quick")
	}
	s.fullCost = 100 * time.Millisecond // as at 100,000 sockets
	if counted() {
		t.Error("a sample right after a dear full one was full")
	}
	s.quickCost = time.Millisecond // what it costs on a quiet machine
	if !s.Due(time.Now().Add(100 * time.Millisecond)) {
		t.Error("a cheap quick sample was not due 100 ms after the last: it waited for the dear full one")
	}
	s.lastFull = time.Now().Add(-time.Second)
	if !s.Due(time.Now()) || !counted() {
		t.Error("a full sample was due after 9 times its cost, but the sample was quick")
	}
}

// BenchmarkSocketSampler measures one sample of each kind at 0, 20,000
// and 100,000 sockets (target: at most 50 ms at 100,000), in a namespace of
// its own where helper processes hold loopback connections (8,500 pairs
// each, under the 20,000-descriptor limit).
func BenchmarkSocketSampler(b *testing.B) {
	if !inOwnNetns(b) {
		return
	}
	if err := os.WriteFile("/proc/sys/net/ipv4/ip_local_port_range", []byte("2000 65535"), 0); err != nil {
		b.Fatal(err)
	}
	s, err := NewSocketSampler(0, 0)
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	held, holders := 0, 0
	for _, n := range []int{0, 20_000, 100_000} {
		for held < n {
			pairs := min(8_500, (n-held)/2)
			holdPairs(b, pairs, 1000+holders) // below the ephemeral range
			held, holders = held+2*pairs, holders+1
		}
		for _, kind := range []string{"full", "quick", "counted"} {
			b.Run(fmt.Sprintf("sockets=%d/%s", n, kind), func(b *testing.B) {
				b.ReportAllocs()
				full := kind == "full"
				s.fullCost = 0
				if kind == "counted" {
					s.fullCost = 2 * countAbove
				}
				for b.Loop() {
					st, err := s.sample(full)
					if err != nil {
						b.Fatal(err)
					}
					if got := st.Established; got < n {
						b.Fatalf("%d sockets established, want %d", got, n)
					}
				}
				b.ReportMetric(float64(b.Elapsed())/float64(b.N)/1e6, "ms/sample")
			})
		}
	}
}

// holdPairs starts a process of the test binary that holds the given
// number of loopback connections to the port, until the benchmark ends.
func holdPairs(b *testing.B, pairs, port int) {
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), fmt.Sprintf("PORTEX_TEST_HOLD=%d %d", pairs, port))
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		b.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		stdin.Close()
		cmd.Wait()
	})
	if _, err := out.Read(make([]byte, 1)); err != nil {
		b.Fatalf("holder of %d connections: %v", pairs, err)
	}
}

// In a holder process (holdPairs), hold the connections until stdin
// closes.
func init() {
	var pairs, port int
	if _, err := fmt.Sscan(os.Getenv("PORTEX_TEST_HOLD"), &pairs, &port); err != nil {
		return
	}
	var lim unix.Rlimit
	unix.Getrlimit(unix.RLIMIT_NOFILE, &lim)
	lim.Cur = lim.Max
	unix.Setrlimit(unix.RLIMIT_NOFILE, &lim)
	ln, err := net.Listen("tcp4", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	var conns []net.Conn
	for range pairs {
		c, err := net.Dial("tcp4", ln.Addr().String())
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		a, err := ln.Accept()
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		conns = append(conns, c, a)
	}
	os.Stdout.Write([]byte("!"))
	io.Copy(io.Discard, os.Stdin)
	// The connections are not used again: without this, any garbage
	// collection after the loop lets their finalizers close them.
	runtime.KeepAlive(conns)
	os.Exit(0)
}
