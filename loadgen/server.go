package loadgen

import (
	"errors"
	"fmt"
	"net/netip"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/portex/portex/result"
	"golang.org/x/sys/unix"
)

// The echo server runs a few event loops on epoll instead of a goroutine per
// connection: an idle connection then costs the server a few dozen bytes of
// state, not a parked goroutine's stack, so it can hold as many connections
// as the client can open. Every loop has listening sockets of its own on the
// same ports (SO_REUSEPORT), so the kernel spreads connections evenly over
// the loops; the loop that accepts a connection owns it until it closes,
// so no state is shared between loops.

// ServerConfig configures the echo server.
type ServerConfig struct {
	// Addr is the address to listen on; the zero value means all addresses.
	Addr      netip.Addr
	Listeners []Listener
	// Backlog is the listen(2) backlog; 0 means 4096 (capped by somaxconn).
	Backlog int
	// Loops is the number of event loops; 0 means GOMAXPROCS.
	Loops int
	// LingerReset makes the server close with RST (SO_LINGER {1, 0}).
	LingerReset bool
	// ReusePort sets SO_REUSEPORT, so that several server processes can
	// share the ports (and the kernel spreads connections among them).
	// Without it the server owns its ports: a port another socket listens
	// on is refused with EADDRINUSE, even where that socket set
	// SO_REUSEPORT too (the server's own loops share its ports that way).
	ReusePort bool
}

// Server is the bundled echo server: it echoes what it reads, closes when
// the client closes, or first when its listener says so.
type Server struct {
	cfg ServerConfig
	// listeners are the listening sockets, a set per loop, each in the
	// order of cfg.Listeners: every loop has its own sockets on the same
	// ports (SO_REUSEPORT), so the kernel spreads connections evenly over
	// the loops.
	listeners [][]int
	loops     []*serverLoop
	wg        sync.WaitGroup
	closeOnce sync.Once

	accepted, byPeer, byServer, errs, bytes, open, peak, requests atomic.Int64
}

// StartServer binds every listener, then serves in the background until
// Close. When it returns without error, every port accepts connections.
func StartServer(cfg ServerConfig) (*Server, error) {
	if len(cfg.Listeners) == 0 {
		return nil, errors.New("echo server: no listeners")
	}
	for _, l := range cfg.Listeners {
		if err := l.check(); err != nil {
			return nil, fmt.Errorf("echo server: %w", err)
		}
	}
	if cfg.Backlog <= 0 {
		cfg.Backlog = 4096
	}
	if cfg.Loops <= 0 {
		cfg.Loops = runtime.GOMAXPROCS(0)
	}
	s := &Server{cfg: cfg, listeners: make([][]int, cfg.Loops)}
	reusePort := cfg.ReusePort || cfg.Loops > 1
	for _, l := range cfg.Listeners {
		port := l.Port
		if !cfg.ReusePort && port != 0 {
			if err := probePort(cfg.Addr, port); err != nil {
				s.closeFDs()
				return nil, err
			}
		}
		for i := range s.listeners {
			fd, err := listenTCP(cfg.Addr, port, cfg.Backlog, reusePort, false)
			if err != nil {
				s.closeFDs()
				return nil, err
			}
			s.listeners[i] = append(s.listeners[i], fd)
			if port == 0 { // the others take the port the kernel chose
				port = boundPortOf(fd)
			}
		}
	}
	if !cfg.Addr.IsValid() {
		if err := s.listenIPv6(); err != nil {
			s.closeFDs()
			return nil, err
		}
	}
	for i := 0; i < cfg.Loops; i++ {
		l, err := newServerLoop(s, i)
		if err != nil {
			for _, l := range s.loops {
				l.release()
			}
			s.closeFDs()
			return nil, err
		}
		s.loops = append(s.loops, l)
	}
	for _, l := range s.loops {
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			l.run()
		}()
	}
	return s, nil
}

// probePort makes sure no socket listens on port at addr (or at the
// wildcard address) by binding one without SO_REUSEPORT, which fails with
// EADDRINUSE where another socket listens, whether or not that one set
// SO_REUSEPORT: the loops' listening sockets, which share the port with
// SO_REUSEPORT, would share it with another process's too, and split its
// connections silently. SO_REUSEADDR lets the probe past sockets that
// only linger in TIME_WAIT. The probe is closed before the loops bind, so
// two servers started in the same instant can still both pass it.
func probePort(addr netip.Addr, port int) error {
	fd, err := unix.Socket(family(addr), unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("echo server: socket: %w", err)
	}
	defer unix.Close(fd)
	if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_REUSEADDR, 1); err != nil {
		return fmt.Errorf("echo server: SO_REUSEADDR: %w", err)
	}
	if err := unix.Bind(fd, listenAddr(addr, port)); err != nil {
		if errors.Is(err, unix.EADDRINUSE) {
			return fmt.Errorf("echo server: listen on %v:%d: %w: another program listens there", addr, port, err)
		}
		return fmt.Errorf("echo server: listen on %v:%d: %w", addr, port, err)
	}
	return nil
}

// listenIPv6 gives a server on all addresses (no cfg.Addr) IPv6's
// wildcard besides IPv4's: every loop gets, after its IPv4 listeners, one
// IPv6-only socket on each of their ports, in the same order, so that
// IPv4 connections stay IPv4 sockets (as the namespace's socket dumps
// count them) and IPv6 ones are served too. A kernel without IPv6 keeps
// the IPv4 listeners alone. The IPv4 listeners' probe stands for the
// port's ownership: an IPv6 one would find them.
func (s *Server) listenIPv6() error {
	n := len(s.cfg.Listeners)
	for i := range s.listeners {
		for j := 0; j < n; j++ {
			fd, err := listenTCP(netip.IPv6Unspecified(), boundPortOf(s.listeners[i][j]), s.cfg.Backlog, s.cfg.ReusePort || s.cfg.Loops > 1, true)
			if err != nil {
				if i == 0 && j == 0 && (errors.Is(err, unix.EAFNOSUPPORT) || errors.Is(err, unix.EADDRNOTAVAIL)) {
					return nil
				}
				return err
			}
			s.listeners[i] = append(s.listeners[i], fd)
		}
	}
	return nil
}

// listenTCP makes a listening socket on addr:port; v6only keeps an IPv6
// one from IPv4 connections (IPV6_V6ONLY), which are an IPv4 listener's.
func listenTCP(addr netip.Addr, port, backlog int, reusePort, v6only bool) (int, error) {
	fd, err := unix.Socket(family(addr), unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return -1, fmt.Errorf("echo server: socket: %w", err)
	}
	if v6only {
		if err := unix.SetsockoptInt(fd, unix.IPPROTO_IPV6, unix.IPV6_V6ONLY, 1); err != nil {
			unix.Close(fd)
			return -1, fmt.Errorf("echo server: IPV6_V6ONLY: %w", err)
		}
	}
	if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_REUSEADDR, 1); err != nil {
		unix.Close(fd)
		return -1, fmt.Errorf("echo server: SO_REUSEADDR: %w", err)
	}
	if reusePort {
		if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_REUSEPORT, 1); err != nil {
			unix.Close(fd)
			return -1, fmt.Errorf("echo server: SO_REUSEPORT: %w", err)
		}
	}
	if err := unix.Bind(fd, listenAddr(addr, port)); err != nil {
		unix.Close(fd)
		return -1, fmt.Errorf("echo server: listen on %v:%d: %w", addr, port, err)
	}
	if err := unix.Listen(fd, backlog); err != nil {
		unix.Close(fd)
		return -1, fmt.Errorf("echo server: listen on %v:%d: %w", addr, port, err)
	}
	return fd, nil
}

func (s *Server) closeFDs() {
	for _, fds := range s.listeners {
		for _, fd := range fds {
			unix.Close(fd)
		}
	}
	s.listeners = nil
}

// Close stops the server and blocks until every connection and listening
// socket is closed.
func (s *Server) Close() error {
	s.closeOnce.Do(func() {
		for _, l := range s.loops {
			l.ep.wake()
		}
		s.wg.Wait()
		for _, l := range s.loops {
			l.release()
		}
		s.closeFDs()
	})
	return nil
}

// Counts returns the server's counters so far.
func (s *Server) Counts() result.ServerCounts {
	return result.ServerCounts{
		Accepted:       s.accepted.Load(),
		ClosedByPeer:   s.byPeer.Load(),
		ClosedByServer: s.byServer.Load(),
		Errors:         s.errs.Load(),
		BytesEchoed:    s.bytes.Load(),
		PeakOpen:       s.peak.Load(),
		Requests:       s.requests.Load(),
	}
}

// Open returns the number of connections the server holds now.
func (s *Server) Open() int64 { return s.open.Load() }

// sconn is a connection's state, indexed by its descriptor.
type sconn struct {
	// lst is the index into cfg.Listeners plus one; 0: not a connection
	// of this loop. Zero is "none" so that a loop's table needs no
	// writing before use: its pages stay untouched until a descriptor of
	// theirs is the loop's (see conn).
	lst     int32
	watched bool  // registered with the loop's epoll set
	queued  bool  // on the loop's again list
	echoed  int64 // bytes echoed so far
	active  int64 // when it last read or wrote, ns since the loop's epoch
	// ext is what few connections need, nil for the others: a table of
	// states is as many as the process's descriptors, twice with two
	// loops, so a connection's fixed state is kept to 32 bytes.
	ext *sconnExt
}

type serverLoop struct {
	s *Server
	// listeners are this loop's listening sockets, in the order of
	// cfg.Listeners, then their IPv6 companions in the same order, if
	// any (see listenIPv6).
	listeners []int
	epoch     time.Time
	idle      bool  // some listener closes idle connections
	swept     int64 // ns since epoch of the last idle sweep
	// paused says the listeners are out of the epoll set: accept ran out
	// of descriptors (EMFILE, ENFILE). They come back when one of the
	// loop's connections closes, or at resume (ns since epoch), whichever
	// is first; the loop serves its connections meanwhile.
	paused bool
	resume int64
	ep     *epollWaiter
	conns  []sconn
	buf    []byte
	// Connections whose turn ended after all its reads came back full,
	// with maybe more to read (see serve), each once, served again after
	// the others; turn is the list being served.
	again, turn []int
}

func newServerLoop(s *Server, idx int) (*serverLoop, error) {
	ep, err := newEpollWaiter(256)
	if err != nil {
		return nil, fmt.Errorf("echo server: %w", err)
	}
	l := &serverLoop{s: s, epoch: time.Now(), ep: ep, buf: make([]byte, 64<<10)}
	for _, lst := range s.cfg.Listeners {
		l.idle = l.idle || lst.IdleClose > 0
	}
	l.listeners = s.listeners[idx]
	for _, fd := range l.listeners {
		if err := l.ctl(unix.EPOLL_CTL_ADD, fd, unix.EPOLLIN); err != nil {
			l.release()
			return nil, err
		}
	}
	return l, nil
}

func (l *serverLoop) ctl(op, fd int, events uint32) error {
	if err := l.ep.ctl(op, fd, events, int32(fd)); err != nil {
		return fmt.Errorf("echo server: epoll_ctl: %w", err)
	}
	return nil
}

func (l *serverLoop) release() { l.ep.close() }

func (l *serverLoop) run() {
	defer l.closeAll()
	for {
		var until time.Time // the next idle sweep or resume, if any
		if l.idle {
			until = l.epoch.Add(time.Duration(l.swept) + idleSweep)
		}
		if at := l.epoch.Add(time.Duration(l.resume)); l.paused && (until.IsZero() || at.Before(until)) {
			until = at
		}
		events, woken, err := l.next(until)
		switch {
		case err != nil:
			l.s.errs.Add(1)
			return
		case woken: // the server is closing
			return
		}
		l.handle(events)
		if l.idle {
			l.sweep()
		}
		if l.paused && l.now() >= l.resume {
			l.resumeAccept()
		}
	}
}

// acceptPause is how long the listeners of a loop that ran out of
// descriptors stay out of its epoll set at most, should none of its own
// connections close (another loop's, or another process's, may free one).
const acceptPause = 10 * time.Millisecond

// pauseAccept takes the loop's listeners out of its epoll set, which
// would otherwise report them ready on every wait (they are
// level-triggered) while accept cannot take a connection: the loop goes
// on serving its connections, and the waiting ones stay in the backlog.
func (l *serverLoop) pauseAccept() {
	if l.paused {
		return
	}
	for _, fd := range l.listeners {
		if err := l.ctl(unix.EPOLL_CTL_DEL, fd, 0); err != nil {
			l.s.errs.Add(1)
		}
	}
	l.paused, l.resume = true, l.now()+int64(acceptPause)
}

// resumeAccept puts the listeners back into the epoll set.
func (l *serverLoop) resumeAccept() {
	l.paused = false
	for _, fd := range l.listeners {
		if err := l.ctl(unix.EPOLL_CTL_ADD, fd, unix.EPOLLIN); err != nil {
			l.s.errs.Add(1)
		}
	}
}

// next returns the events that are ready, waiting for some until the
// deadline (zero: no limit) unless connections wait on the again list.
func (l *serverLoop) next(until time.Time) ([]unix.EpollEvent, bool, error) {
	if len(l.again) > 0 {
		return l.ep.ready()
	}
	return l.ep.wait(until)
}

// handle serves a batch of events, then gives the connections on the
// again list their next turn.
func (l *serverLoop) handle(events []unix.EpollEvent) {
	for _, ev := range events {
		fd := int(ev.Fd)
		if li := l.listenerIndex(fd); li >= 0 {
			l.accept(fd, li)
			continue
		}
		if fd < len(l.conns) && l.conns[fd].queued {
			continue // its turn comes below, and reads whatever this is
		}
		l.serve(fd, ev.Events)
	}
	if len(l.again) > 0 {
		l.turn, l.again = l.again, l.turn[:0]
		for _, fd := range l.turn {
			if c := &l.conns[fd]; c.queued { // not closed since
				c.queued = false
				// Read on to EAGAIN: nothing says whether a FIN came.
				l.serve(fd, unix.EPOLLIN|unix.EPOLLRDHUP)
			}
		}
	}
}

// idleSweep is how often a loop looks for idle connections to close.
const idleSweep = 50 * time.Millisecond

func (l *serverLoop) now() int64 { return int64(time.Since(l.epoch)) }

// sweep closes connections idle for longer than their listener allows.
func (l *serverLoop) sweep() {
	now := l.now()
	if now-l.swept < int64(idleSweep) {
		return
	}
	l.swept = now
	for fd := range l.conns {
		c := &l.conns[fd]
		if c.listener() < 0 {
			continue
		}
		if idle := l.s.cfg.Listeners[c.listener()].IdleClose; idle > 0 && now-c.active >= int64(idle) {
			l.close(fd, true)
		}
	}
}

func (l *serverLoop) listenerIndex(fd int) int {
	for i, lfd := range l.listeners {
		if lfd == fd {
			return i % len(l.s.cfg.Listeners)
		}
	}
	return -1
}

// sconnExt is the state of a connection that few have.
type sconnExt struct {
	// pending is what a slow reader has yet to be sent.
	pending []byte
	// http is the parsing state of a connection to an HTTP listener;
	// nil on an echo listener.
	http *httpConn
}

// pending is what the connection has yet to send.
func (c *sconn) pending() []byte {
	if c.ext == nil {
		return nil
	}
	return c.ext.pending
}

// setPending sets what the connection has yet to send.
func (c *sconn) setPending(b []byte) {
	if c.ext == nil {
		if b == nil {
			return
		}
		c.ext = new(sconnExt)
	}
	c.ext.pending = b
}

// httpState is the connection's HTTP state; nil on an echo listener.
func (c *sconn) httpState() *httpConn {
	if c.ext == nil {
		return nil
	}
	return c.ext.http
}

// listener is the index into cfg.Listeners of the connection's listener;
// -1: not a connection of this loop.
func (c *sconn) listener() int { return int(c.lst) - 1 }

// conn is the state of descriptor fd. The table is sized at first for
// the process's descriptor limit, and only the pages of descriptors the
// loop serves are ever written: a loop does not pay for the others'
// connections, nor for copies of its table as it grows.
func (l *serverLoop) conn(fd int) *sconn {
	if fd >= len(l.conns) {
		grown := make([]sconn, max(fd+1, 2*len(l.conns), descriptorLimit()))
		copy(grown, l.conns)
		l.conns = grown
	}
	return &l.conns[fd]
}

// descriptorLimit is the process's RLIMIT_NOFILE (soft), at most 1<<20.
func descriptorLimit() int {
	var lim unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &lim); err != nil {
		return 0
	}
	return int(min(lim.Cur, 1<<20))
}

// watch sets the events a connection waits for, registering it first if
// need be.
func (l *serverLoop) watch(fd int, c *sconn, events uint32) error {
	op := unix.EPOLL_CTL_MOD
	if !c.watched {
		op = unix.EPOLL_CTL_ADD
	}
	// Edge-triggered, as the client's loops are (see eventLoop.ctl): serve
	// reads until the socket is empty or its turn is over, flush writes
	// until done or full. EPOLLRDHUP tells serve that a FIN has come, which
	// a read that returns the last data consumes without a word. The
	// listeners stay level-triggered: accept takes at most 64 at a time.
	if err := l.ctl(op, fd, events|unix.EPOLLET|unix.EPOLLRDHUP); err != nil {
		return err
	}
	c.watched = true
	return nil
}

// accept is accept4(2) with no peer address: unix.Accept4 allocates one
// for every connection.
func accept(lfd int) (int, error) {
	fd, _, errno := unix.Syscall6(unix.SYS_ACCEPT4, uintptr(lfd), 0, 0, unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0, 0)
	if errno != 0 {
		return -1, errno
	}
	return int(fd), nil
}

// accept takes the connections waiting on a listener, a bounded number per
// wake-up so that one busy port cannot starve the others.
func (l *serverLoop) accept(lfd, li int) {
	for range 64 {
		fd, err := accept(lfd)
		switch err {
		case nil:
		case unix.EAGAIN, unix.EINTR, unix.ECONNABORTED:
			return
		default:
			// EMFILE or ENFILE: the connection stays in the backlog
			// until a descriptor frees (see pauseAccept).
			l.s.errs.Add(1)
			l.pauseAccept()
			return
		}
		l.s.accepted.Add(1)
		n := l.s.open.Add(1)
		for peak := l.s.peak.Load(); n > peak && !l.s.peak.CompareAndSwap(peak, n); peak = l.s.peak.Load() {
		}
		c := l.conn(fd)
		*c = sconn{lst: int32(li) + 1, active: l.now()}
		lst := l.s.cfg.Listeners[li]
		if lst.HTTP() {
			c.ext = &sconnExt{http: new(httpConn)}
		}
		if lst.CloseFirst && lst.CloseAfterBytes <= 0 {
			l.close(fd, true)
			continue
		}
		// By the time a connection is accepted its first bytes, or the
		// client's FIN or RST, have often arrived already: serve them now
		// and skip the epoll round trip (and, for churned connections,
		// the registration altogether).
		l.serve(fd, unix.EPOLLIN)
		if c := &l.conns[fd]; c.listener() >= 0 && !c.watched {
			if err := l.watch(fd, c, unix.EPOLLIN); err != nil {
				l.s.errs.Add(1)
				l.close(fd, true)
			}
		}
	}
}

// turnReads is how many reads (of up to 64 KiB) a connection's turn may
// take: a client that streams without a pause must not keep the loop from
// its other connections.
const turnReads = 4

// serve handles readiness on a connection: it echoes what it reads until
// the socket is empty (a short read, unless the event says a FIN, a
// hang-up or an error came: then until EAGAIN, EOF or the error), the
// echo must wait for room to write, or the turn is over.
func (l *serverLoop) serve(fd int, events uint32) {
	c := l.conn(fd)
	if c.listener() < 0 {
		return
	}
	if c.httpState() != nil {
		l.serveHTTP(fd, c, events)
		return
	}
	if len(c.pending()) > 0 {
		if events&(unix.EPOLLOUT|unix.EPOLLERR|unix.EPOLLHUP) != 0 {
			l.flush(fd, c)
		}
		return
	}
	lst := l.s.cfg.Listeners[c.listener()]
	for reads := 0; ; reads++ {
		if reads == turnReads {
			if !c.queued {
				c.queued = true
				l.again = append(l.again, fd)
			}
			return
		}
		want := len(l.buf)
		if lst.CloseFirst {
			want = int(min(int64(want), lst.CloseAfterBytes-c.echoed))
		}
		n, err := readNB(fd, l.buf[:want])
		switch {
		case err == unix.EAGAIN:
			return
		case err == unix.EINTR:
			continue
		case err == unix.ECONNRESET:
			// The client closed with RST: a close, not an error.
			l.s.byPeer.Add(1)
			l.close(fd, false)
			return
		case err != nil:
			l.s.errs.Add(1)
			l.close(fd, false)
			return
		case n == 0:
			l.s.byPeer.Add(1)
			l.close(fd, false)
			return
		}
		w, err := writeNB(fd, l.buf[:n])
		if err != nil && err != unix.EAGAIN {
			l.s.errs.Add(1)
			l.close(fd, false)
			return
		}
		w = max(w, 0)
		c.echoed += int64(n)
		if l.idle {
			c.active = l.now()
		}
		l.s.bytes.Add(int64(n))
		if w < n {
			c.setPending(append(c.pending()[:0], l.buf[w:n]...))
			if err := l.watch(fd, c, unix.EPOLLOUT); err != nil {
				l.close(fd, false)
			}
			return
		}
		if l.maybeCloseFirst(fd, c) {
			return
		}
		if n < want && events&(unix.EPOLLRDHUP|unix.EPOLLHUP|unix.EPOLLERR) == 0 {
			return // the socket is empty: what comes next is a new edge
		}
	}
}

// flush writes what a slow reader left pending.
func (l *serverLoop) flush(fd int, c *sconn) {
	w, err := writeNB(fd, c.pending())
	if err != nil && err != unix.EAGAIN {
		l.s.errs.Add(1)
		l.close(fd, false)
		return
	}
	c.setPending(c.pending()[max(w, 0):])
	if len(c.pending()) > 0 {
		return
	}
	c.setPending(nil)
	if err := l.watch(fd, c, unix.EPOLLIN); err != nil {
		l.close(fd, false)
		return
	}
	if c.httpState() != nil {
		l.flushedHTTP(fd, c)
		return
	}
	l.maybeCloseFirst(fd, c)
}

// maybeCloseFirst closes c if its listener closes first and it has echoed
// enough; it reports whether it did.
func (l *serverLoop) maybeCloseFirst(fd int, c *sconn) bool {
	lst := l.s.cfg.Listeners[c.listener()]
	if lst.CloseFirst && c.echoed >= lst.CloseAfterBytes {
		l.close(fd, true)
		return true
	}
	return false
}

// close closes a connection; first says the server closes before the peer.
func (l *serverLoop) close(fd int, first bool) {
	if first {
		l.s.byServer.Add(1)
	}
	if l.s.cfg.LingerReset {
		unix.SetsockoptLinger(fd, unix.SOL_SOCKET, unix.SO_LINGER, &unix.Linger{Onoff: 1, Linger: 0})
	}
	closeNB(fd) // also removes it from the epoll set
	l.conns[fd] = sconn{}
	l.s.open.Add(-1)
	if l.paused { // a descriptor is free
		l.resumeAccept()
	}
}

func (l *serverLoop) closeAll() {
	for fd := range l.conns {
		if l.conns[fd].listener() >= 0 {
			l.close(fd, false)
		}
	}
}

// boundPort returns the port listener i is bound to (useful with port 0).
func (s *Server) boundPort(i int) int {
	return boundPortOf(s.listeners[0][i])
}

// boundPortOf returns the port a socket is bound to.
func boundPortOf(fd int) int {
	sa, err := unix.Getsockname(fd)
	if err != nil {
		return 0
	}
	switch sa := sa.(type) {
	case *unix.SockaddrInet4:
		return sa.Port
	case *unix.SockaddrInet6:
		return sa.Port
	}
	return 0
}

// family is the socket family that listens on addr: IPv6 for an IPv6
// address, IPv4 otherwise (an unset address is IPv4's wildcard).
func family(addr netip.Addr) int {
	if addr.Is6() && !addr.Is4In6() {
		return unix.AF_INET6
	}
	return unix.AF_INET
}

// listenAddr is the sockaddr to listen on addr:port.
func listenAddr(addr netip.Addr, port int) unix.Sockaddr {
	if family(addr) == unix.AF_INET6 {
		return &unix.SockaddrInet6{Addr: addr.As16(), Port: port}
	}
	sa := &unix.SockaddrInet4{Port: port}
	if addr.Is4() {
		sa.Addr = addr.As4()
	}
	return sa
}
