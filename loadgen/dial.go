package loadgen

import (
	"context"
	"encoding/binary"
	"io"
	"net/netip"
	"os"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// The engine dials with its own non-blocking sockets instead of net.Dialer,
// for two reasons:
//
//   - net.Dialer retries a connect() that failed with EADDRNOTAVAIL up to
//     twice, silently (see spuriousENOTAVAIL in net/tcpsock_posix.go). Port
//     exhaustion is exactly what portex measures, so every connect() the
//     kernel refuses must count once, with its own timing.
//   - It skips the resolver, the address lists, the poller registration and
//     the per-dial allocations net.Dial carries, which matters when churning
//     tens of thousands of connections a second.
//
// Over a veth pair or loopback the handshake usually completes inside the
// connect() call itself (the SYN-ACK is processed when the socket lock is
// released), so a second connect() that answers EISCONN finishes most dials
// with no wait at all. Only a dial still in progress, or a connection that
// exchanges messages, is handed to Go's netpoller as an *os.File.

// dialOp names the step of a dial that failed.
type dialOp string

const (
	opSocket  dialOp = "socket"
	opBind    dialOp = "bind"
	opConnect dialOp = "connect"
)

// dialSpec is where a dial goes and where it comes from.
type dialSpec struct {
	// dst is the destination as connect(2) takes it: a
	// RawSockaddrInet6, or a RawSockaddrInet4 in its first dstLen bytes.
	dst    unix.RawSockaddrInet6
	dstLen uintptr
	family int // AF_INET or AF_INET6
	// src, if set, is bound before connect(); port 0 lets the kernel pick.
	src unix.Sockaddr
	// noPort sets IP_BIND_ADDRESS_NO_PORT: bind() takes the address only
	// and connect() picks the port, sharing it across destinations.
	noPort bool
	// portRange, if not 0, narrows this socket's ephemeral ports with
	// IP_LOCAL_PORT_RANGE (Linux 6.3+): hi << 16 | lo.
	portRange uint32
}

// destination is a dial spec to addr:port from anywhere.
func destination(addr netip.Addr, port int) dialSpec {
	var spec dialSpec
	if addr.Is4() {
		raw := (*unix.RawSockaddrInet4)(unsafe.Pointer(&spec.dst))
		raw.Family, raw.Addr = unix.AF_INET, addr.As4()
		spec.family, spec.dstLen = unix.AF_INET, unsafe.Sizeof(*raw)
	} else {
		spec.dst.Family, spec.dst.Addr = unix.AF_INET6, addr.As16()
		spec.family, spec.dstLen = unix.AF_INET6, unsafe.Sizeof(spec.dst)
	}
	// The port sits at the same offset in both, in network byte order.
	binary.BigEndian.PutUint16((*[2]byte)(unsafe.Pointer(&spec.dst.Port))[:], uint16(port))
	return spec
}

// bindAddr is a sockaddr to bind to addr with port 0, or addr's family's
// wildcard where addr is not valid.
func bindAddr(addr netip.Addr, v6 bool) unix.Sockaddr {
	if v6 {
		if !addr.IsValid() {
			addr = netip.IPv6Unspecified()
		}
		return &unix.SockaddrInet6{Addr: addr.As16()}
	}
	if !addr.IsValid() {
		addr = netip.IPv4Unspecified()
	}
	return &unix.SockaddrInet4{Addr: addr.As4()}
}

// dialError is a failed dial: the step and the errno.
type dialError struct {
	Op  dialOp
	Err error
}

func (e *dialError) Error() string { return string(e.Op) + ": " + e.Err.Error() }
func (e *dialError) Unwrap() error { return e.Err }

// errCanceled reports a dial abandoned because the run stopped; it is
// neither a success nor a failure.
var errCanceled = context.Canceled

// conn is a connected socket: a bare descriptor while nothing needs to wait
// on it (a held or churned connection costs no more than that), and on the
// netpoller once something does.
type conn struct {
	fd int
	p  *polled
}

// polled is a connection on the netpoller, with what waiting for a read
// needs, made once so that a wait allocates nothing.
type polled struct {
	f        *os.File
	rc       syscall.RawConn
	deadline time.Time // the read deadline set on f
	// The read in progress, for readStep.
	in   []byte
	got  int
	err  error
	step func(fd uintptr) bool // readStep, bound once
}

// file returns the connection on the netpoller, wrapping it on first use.
func (c *conn) file() *os.File { return c.polled().f }

func (c *conn) polled() *polled {
	if c.p == nil {
		f := os.NewFile(uintptr(c.fd), "tcp")
		rc, _ := f.SyscallConn() // fails only for a nil *os.File
		c.p = &polled{f: f, rc: rc}
		c.p.step = c.p.readStep
	}
	return c.p
}

// close closes with FIN.
func (c *conn) close() error {
	if c.p != nil {
		return c.p.f.Close()
	}
	return closeNB(c.fd)
}

// reset closes with SO_LINGER {1, 0}: the kernel sends RST and the socket
// skips TIME_WAIT.
func (c *conn) reset() error {
	err := unix.SetsockoptLinger(c.fd, unix.SOL_SOCKET, unix.SO_LINGER, &unix.Linger{Onoff: 1, Linger: 0})
	if cerr := c.close(); err == nil {
		err = cerr
	}
	return err
}

// dial connects a new TCP socket as spec says. It returns exactly one kernel
// verdict: the connected socket or the errno of the one connect() made;
// and when connect() was called (zero if socket() or bind() failed first).
func dial(ctx context.Context, spec *dialSpec, timeout time.Duration) (conn, time.Time, error) {
	fd, started, pending, err := startDial(spec)
	if err != nil || !pending {
		return conn{fd: fd}, started, err
	}
	c, err := waitConnected(ctx, fd, timeout)
	return c, started, err
}

// startDial makes a non-blocking socket and connects it as spec says:
// connected, failed (with the descriptor closed), or pending, the
// handshake still under way (see connected). started is when connect()
// was called, zero if it never was.
func startDial(spec *dialSpec) (fd int, started time.Time, pending bool, err error) {
	if fd, err = newSocket(spec); err != nil {
		return -1, time.Time{}, false, err
	}
	if started, pending, err = connectSocket(fd, spec); err != nil {
		unix.Close(fd)
		return -1, started, false, err
	}
	return fd, started, pending, nil
}

// socketsMade counts the sockets newSocket made, for the tests of reuse.
var socketsMade atomic.Int64

// newSocket makes a non-blocking socket bound as spec says.
func newSocket(spec *dialSpec) (int, error) {
	fd, err := unix.Socket(spec.family, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return -1, &dialError{opSocket, err}
	}
	socketsMade.Add(1)
	if spec.portRange != 0 {
		if err := unix.SetsockoptInt(fd, unix.IPPROTO_IP, unix.IP_LOCAL_PORT_RANGE, int(spec.portRange)); err != nil {
			unix.Close(fd)
			return -1, &dialError{opBind, err}
		}
	}
	if spec.src != nil {
		if spec.noPort {
			if err := unix.SetsockoptInt(fd, unix.IPPROTO_IP, unix.IP_BIND_ADDRESS_NO_PORT, 1); err != nil {
				unix.Close(fd)
				return -1, &dialError{opBind, err}
			}
		}
		if err := unix.Bind(fd, spec.src); err != nil {
			unix.Close(fd)
			return -1, &dialError{opBind, err}
		}
	}
	return fd, nil
}

// connectSocket connects fd, new or disconnected, to spec's destination:
// connected, pending, or failed (the descriptor left open). started is
// when connect() was called: a dial's connect latency counts from there.
func connectSocket(fd int, spec *dialSpec) (started time.Time, pending bool, err error) {
	started = time.Now()
	switch err := connectNB(fd, spec); err {
	case nil:
		return started, false, nil
	case unix.EINPROGRESS, unix.EINTR:
	default:
		return started, false, &dialError{opConnect, err}
	}
	// Done already? connect() again answers without blocking: EISCONN
	// (or nothing) when established, EALREADY while the handshake goes
	// on, or the handshake's own error (the kernel hands it over once).
	switch err := connectNB(fd, spec); err {
	case unix.EISCONN, nil:
		return started, false, nil
	case unix.EALREADY, unix.EINPROGRESS, unix.EINTR:
	default:
		return started, false, &dialError{opConnect, err}
	}
	return started, true, nil
}

// reusableFor reports whether a socket made for spec, once disconnected,
// can dial for o: the same source address and port range, whatever the
// destination. A socket bound before connect() cannot: bind() took its
// port and the disconnect released it, so the next connect() would pick
// one as with IP_BIND_ADDRESS_NO_PORT, and bind()'s own failure when the
// ports run out (EADDRINUSE) would never show.
func (spec *dialSpec) reusableFor(o *dialSpec) bool {
	switch {
	case spec.src == nil && o.src == nil:
	case spec.src == nil || o.src == nil || !spec.noPort || !o.noPort:
		return false
	case !sameSockaddr(spec.src, o.src):
		return false
	}
	return spec.family == o.family && spec.portRange == o.portRange
}

// sameSockaddr reports whether a and b are the same address and port.
func sameSockaddr(a, b unix.Sockaddr) bool {
	switch a := a.(type) {
	case *unix.SockaddrInet4:
		b, ok := b.(*unix.SockaddrInet4)
		return ok && a.Addr == b.Addr && a.Port == b.Port
	case *unix.SockaddrInet6:
		b, ok := b.(*unix.SockaddrInet6)
		return ok && a.Addr == b.Addr && a.Port == b.Port
	}
	return false
}

// unspec is the address connect() takes to disconnect a socket.
var unspec = unix.RawSockaddr{Family: unix.AF_UNSPEC}

// disconnect ends fd's connection with RST, as reset does, and keeps the
// socket: connect(AF_UNSPEC) aborts the connection (tcp_disconnect, the
// path a close with SO_LINGER {1, 0} takes) and returns the socket to its
// state before connect(). The wire sees the same RST, the port is released
// (unless bound explicitly) and no TIME_WAIT is left; what is saved is the
// socket's teardown and the next one's setup (socket(), bind, epoll
// registration): a sixth of the client's CPU in a churn of one echo per
// connection (bench-churn-echo: 26-27 µs a connection instead of 29-33).
// The error the abort leaves on the socket (ECONNRESET) is cleared by the
// next connect().
func disconnect(fd int) error {
	_, _, errno := unix.RawSyscall(unix.SYS_CONNECT, uintptr(fd), uintptr(unsafe.Pointer(&unspec)), unsafe.Sizeof(unspec))
	if errno != 0 {
		return errno
	}
	return nil
}

// connected asks the kernel how the handshake of a pending dial went:
// done, with the handshake's error if it failed, or still under way.
// Readiness can be spurious, so it asks rather than trusts it.
func connected(fd int) (done bool, err error) {
	n, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_ERROR)
	switch {
	case err != nil:
		return true, err
	case n != 0:
		return true, syscall.Errno(n)
	}
	_, err = unix.Getpeername(fd)
	return err == nil, nil // ENOTCONN: still in progress
}

// waitConnected parks on the netpoller until the handshake of fd ends.
func waitConnected(ctx context.Context, fd int, timeout time.Duration) (conn, error) {
	// os.NewFile sees a non-blocking descriptor and registers it with the
	// netpoller; its edge-triggered registration reports writability even
	// if the handshake finished before this point.
	c := conn{fd: fd}
	f := c.file()
	fail := func(err error) (conn, error) {
		f.Close()
		return conn{}, err
	}
	rc, err := f.SyscallConn()
	if err != nil {
		return fail(&dialError{opConnect, err})
	}
	if err := f.SetWriteDeadline(time.Now().Add(timeout)); err != nil {
		return fail(&dialError{opConnect, err})
	}
	stop := context.AfterFunc(ctx, func() { f.SetWriteDeadline(time.Unix(1, 0)) })
	var soErr error
	werr := rc.Write(func(fd uintptr) bool {
		// Called once before waiting and again after every wake-up.
		done, err := connected(int(fd))
		soErr = err
		return done
	})
	canceled := !stop() && ctx.Err() != nil
	switch {
	case soErr != nil:
		return fail(&dialError{opConnect, soErr})
	case werr != nil && canceled:
		return fail(errCanceled)
	case werr != nil:
		return fail(&dialError{opConnect, werr}) // os.ErrDeadlineExceeded: ClassTimeout
	}
	if err := f.SetWriteDeadline(time.Time{}); err != nil {
		return fail(&dialError{opConnect, err})
	}
	return c, nil
}

// pollWait is how long, in milliseconds, a connection not yet on the
// netpoller waits for an echo in poll() before it goes on the netpoller.
const pollWait = 1

// roundTrip writes out and reads len(in) bytes back. On a connection that
// never waited it waits for the echo in poll() first, and wraps it on the
// netpoller (with the deadline) only if that is not enough: a short
// exchange then costs three system calls and no poller registration
// (churn with one echo, before it ran on event loops: about 10% less
// client CPU a connection). A connection on the poller reads through it at
// once, which saves the read that would find nothing (the poller must be
// armed before the first try).
// A read that finds nothing parks at once: spinning on it was measured, and
// on two cores it takes the CPU the echo server needs (100 workers: 48,000
// echoes/s spinning 64 times, 61,000 parking at once).
func (c *conn) roundTrip(out, in []byte, deadline time.Time) error {
	for len(out) > 0 {
		n, err := writeNB(c.fd, out)
		if err == unix.EAGAIN {
			return c.waitWrite(out, in, deadline)
		}
		if err != nil {
			return os.NewSyscallError("write", err)
		}
		out = out[n:]
	}
	if c.p != nil {
		return c.p.readFull(in, deadline)
	}
	// The echo is rarely back yet: wait for it in poll() for a moment,
	// which blocks the thread (Go hands its P to another) but spares the
	// netpoller's registration, removal and wake-up.
	fds := [1]unix.PollFd{{Fd: int32(c.fd), Events: unix.POLLIN}}
	if n, _ := unix.Poll(fds[:], pollWait); n != 1 {
		return c.polled().readFull(in, deadline)
	}
	got, wait, err := readIn(c.fd, in, 0)
	if wait {
		return c.polled().readFull(in[got:], deadline)
	}
	return err
}

// waitWrite finishes a round trip on the netpoller, from a write that
// would block.
func (c *conn) waitWrite(out, in []byte, deadline time.Time) error {
	f := c.file()
	if err := f.SetDeadline(deadline); err != nil {
		return err
	}
	c.p.deadline = deadline
	if _, err := f.Write(out); err != nil {
		return err
	}
	_, err := io.ReadFull(f, in)
	return err
}

// deadlineSlack is how much earlier than asked a read deadline may fall:
// moving a deadline costs the poller a timer update, so readFull moves it
// only when it is this much behind.
const deadlineSlack = time.Second

// readFull reads len(in) bytes through the netpoller, by the deadline
// (up to deadlineSlack before it).
func (p *polled) readFull(in []byte, deadline time.Time) error {
	if deadline.Sub(p.deadline) > deadlineSlack || deadline.Before(p.deadline) {
		if err := p.f.SetReadDeadline(deadline); err != nil {
			return err
		}
		p.deadline = deadline
	}
	p.in, p.got, p.err = in, 0, nil
	err := p.rc.Read(p.step)
	p.in = nil
	if err != nil {
		return err
	}
	return p.err
}

// readStep is one attempt of readFull, called by the poller once armed and
// after every wake-up; false means wait.
func (p *polled) readStep(fd uintptr) bool {
	var wait bool
	p.got, wait, p.err = readIn(int(fd), p.in, p.got)
	return !wait
}

// readIn reads into in from byte got on, until in is full or the socket
// has nothing more for now. It returns how much of in is read and whether
// to wait for more; a read error, or the peer's close (io.EOF,
// io.ErrUnexpectedEOF once some bytes came), ends the exchange.
func readIn(fd int, in []byte, got int) (int, bool, error) {
	for got < len(in) {
		n, err := readNB(fd, in[got:])
		switch {
		case err == unix.EAGAIN:
			return got, true, nil
		case err == unix.EINTR:
		case err != nil:
			return got, false, os.NewSyscallError("read", err)
		case n == 0 && got == 0:
			return got, false, io.EOF
		case n == 0:
			return got, false, io.ErrUnexpectedEOF
		default:
			got += n
		}
	}
	return got, false, nil
}
