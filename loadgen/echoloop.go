package loadgen

import (
	"bytes"
	"context"
	"io"
	"os"
	"runtime"
	"time"

	"golang.org/x/sys/unix"
)

// A closed-model pool whose workers do nothing but dial, exchange messages
// back to back and close (no interval, no hold; close: reset, client, or
// keep with a connection for every worker) runs on a few event loops
// instead of a goroutine per worker, as the echo server does, and as wrk
// does: each loop holds its workers' sockets on an epoll instance of its
// own, connects them without blocking, and sends a connection's next
// message as soon as its echo is read. A round trip then costs one write,
// one read and a share of an epoll_wait; nothing parks or wakes per round
// trip, and on two cores the client's cost is what the kernel's TCP costs.

// loopable reports whether a pool runs on event loops.
func loopable(p *Pool) bool {
	if p.Open() || p.Messages == 0 || p.Interval > 0 || p.Hold.Forever() || p.Hold.Min > 0 || p.Hold.Max > 0 || p.Leak > 0 {
		return false
	}
	switch p.Close {
	case CloseKeep:
		return p.PoolSize >= p.Workers
	case CloseReset, CloseClient:
		return true
	}
	return false
}

// loopsFor is the number of event loops a loopable pool runs on.
func loopsFor(p *Pool) int { return min(p.Workers, runtime.GOMAXPROCS(0)) }

// looped is one worker of an event loop and its connection.
type looped struct {
	w          *worker
	c          conn
	open       bool      // c is connected
	connecting bool      // c's handshake is under way
	busy       bool      // a message is out and its echo not all in
	si         int       // the dial spec of the dial under way
	wrote      int       // bytes of the message written so far
	got        int       // bytes of its echo read so far
	sent       int       // messages of this connection's life sent
	t0         time.Time // when the dial started, then when the message went out
	deadline   time.Time // when the dial under way times out
	retry      time.Time // when a worker whose dial failed dials again
}

// echoLoop runs workers on one event loop until the pool stops, then
// lets their last echoes come in and hands their connections over as the
// goroutine workers do (see worker.connection).
func (pr *poolRun) echoLoop(ws []*worker) {
	l := &eventLoop{pr: pr, ls: make([]looped, len(ws)), epfd: -1, wakefd: -1}
	defer l.finish()
	for i, w := range ws {
		l.ls[i].w = w
	}
	if !new(sleeper).sleepUntil(pr.ctx, pr.begin) {
		return
	}
	if err := l.open(); err != nil {
		// No epoll instance: the workers cannot run; the failure shows
		// as a run that opened nothing, and the agent's log says why.
		os.Stderr.WriteString("portex: event loop: " + err.Error() + "\n")
		return
	}
	stop := context.AfterFunc(pr.ctx, l.wake)
	defer stop()
	for i := range l.ls {
		l.start(i)
	}
	l.run(func() bool { return pr.ctx.Err() == nil })
	// The pool stopped: no new dial or message goes out; the dials and
	// echoes under way end, by ioTimeout at the latest.
	deadline := time.Now().Add(ioTimeout)
	l.run(func() bool { return l.waiting() && time.Now().Before(deadline) && pr.e.hard.Err() == nil })
}

type eventLoop struct {
	pr     *poolRun
	ls     []looped
	epfd   int
	wakefd int       // an eventfd written when the pool stops
	due    time.Time // when a dial may time out or a pause end; zero: never
	events [256]unix.EpollEvent
}

func (l *eventLoop) open() error {
	var err error
	if l.epfd, err = unix.EpollCreate1(unix.EPOLL_CLOEXEC); err != nil {
		return os.NewSyscallError("epoll_create1", err)
	}
	if l.wakefd, err = unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK); err != nil {
		return os.NewSyscallError("eventfd", err)
	}
	return l.ctl(unix.EPOLL_CTL_ADD, l.wakefd, unix.EPOLLIN, -1)
}

func (l *eventLoop) wake() {
	var one = [8]byte{1}
	unix.Write(l.wakefd, one[:])
}

// ctl registers fd for events, tagged with the worker's index (-1: the
// wake-up).
func (l *eventLoop) ctl(op, fd int, events uint32, i int) error {
	ev := unix.EpollEvent{Events: events, Fd: int32(i)}
	return os.NewSyscallError("epoll_ctl", unix.EpollCtl(l.epfd, op, fd, &ev))
}

// run handles readiness while more says so.
func (l *eventLoop) run(more func() bool) {
	for more() {
		n, err := unix.EpollWait(l.epfd, l.events[:], l.timeout())
		if err != nil && err != unix.EINTR {
			os.Stderr.WriteString("portex: event loop: epoll_wait: " + err.Error() + "\n")
			return
		}
		for _, ev := range l.events[:max(n, 0)] {
			if ev.Fd < 0 { // the pool stopped: more() says what next
				var b [8]byte
				unix.Read(l.wakefd, b[:])
				continue
			}
			l.ready(int(ev.Fd), ev.Events)
		}
		if now := time.Now(); !l.due.IsZero() && !now.Before(l.due) {
			l.timers(now)
		}
	}
}

// later makes sure the loop looks at its timers by t.
func (l *eventLoop) later(t time.Time) {
	if l.due.IsZero() || t.Before(l.due) {
		l.due = t
	}
}

// timers times out the dials that took too long and starts the workers
// whose pause is over, and sets when to look again.
func (l *eventLoop) timers(now time.Time) {
	l.due = time.Time{}
	for i := range l.ls {
		lw := &l.ls[i]
		switch {
		case lw.connecting && !now.Before(lw.deadline):
			l.ctl(unix.EPOLL_CTL_DEL, lw.c.fd, 0, i)
			unix.Close(lw.c.fd)
			l.dialFailed(i, &dialError{opConnect, os.ErrDeadlineExceeded})
		case lw.connecting:
			l.later(lw.deadline)
		case lw.open || lw.retry.IsZero() || l.pr.ctx.Err() != nil:
		case !now.Before(lw.retry):
			l.start(i)
		default:
			l.later(lw.retry)
		}
	}
}

// timeout is epoll_wait's, in milliseconds: until the timers are due, or a
// while to look at the clock when the pool is draining.
func (l *eventLoop) timeout() int {
	switch {
	case l.pr.ctx.Err() != nil:
		return 10
	case l.due.IsZero():
		return -1
	}
	return int(max(0, time.Until(l.due).Milliseconds()+1))
}

// waiting reports whether an echo is still on its way.
func (l *eventLoop) waiting() bool {
	for i := range l.ls {
		if lw := &l.ls[i]; lw.connecting || lw.open && lw.busy {
			return true
		}
	}
	return false
}

// start gives worker i a connection, from the keep-alive pool or a new
// dial, and sends its first message once connected.
func (l *eventLoop) start(i int) {
	lw := &l.ls[i]
	w := lw.w
	lw.retry = time.Time{}
	if keep := l.pr.keep; keep != nil {
		c, fresh, ok := keep.acquire(l.pr.ctx)
		if !ok {
			return
		}
		if !fresh {
			if err := l.ctl(unix.EPOLL_CTL_ADD, c.fd, unix.EPOLLIN, i); err != nil {
				lw.c, lw.open = c, true
				l.broken(i, err)
				return
			}
			l.connected(i, c)
			return
		}
	}
	lw.si, lw.t0 = w.nextSpec(), time.Now()
	fd, pending, err := startDial(&w.spec[lw.si])
	switch {
	case err != nil:
		l.dialFailed(i, err)
	case pending:
		lw.c, lw.connecting, lw.deadline = conn{fd: fd}, true, lw.t0.Add(w.p.ConnectTimeout)
		l.later(lw.deadline)
		if err := l.ctl(unix.EPOLL_CTL_ADD, fd, unix.EPOLLOUT, i); err != nil {
			lw.connecting = false
			unix.Close(fd)
			l.dialFailed(i, &dialError{opConnect, err})
		}
	default:
		w.dialed(lw.si, lw.t0, lw.t0, nil)
		if err := l.ctl(unix.EPOLL_CTL_ADD, fd, unix.EPOLLIN, i); err != nil {
			l.broken(i, err)
			return
		}
		l.connected(i, conn{fd: fd})
	}
}

// connected sends worker i's first message on c, registered with the loop.
func (l *eventLoop) connected(i int, c conn) {
	lw := &l.ls[i]
	lw.c, lw.open, lw.connecting, lw.sent = c, true, false, 0
	if l.pr.ctx.Err() == nil {
		l.send(i)
	}
}

// dialFailed records the failed dial of worker i, which dials again after
// the pause a closed-model worker takes.
func (l *eventLoop) dialFailed(i int, err error) {
	lw := &l.ls[i]
	lw.connecting = false
	lw.w.dialed(lw.si, lw.t0, lw.t0, err)
	if l.pr.keep != nil {
		l.pr.keep.lost()
	}
	lw.retry = time.Now().Add(failurePause)
	l.later(lw.retry)
}

// handshake finishes worker i's dial under way, if it is done.
func (l *eventLoop) handshake(i int) {
	lw := &l.ls[i]
	done, err := connected(lw.c.fd)
	switch {
	case !done:
	case err != nil:
		l.ctl(unix.EPOLL_CTL_DEL, lw.c.fd, 0, i)
		unix.Close(lw.c.fd)
		l.dialFailed(i, &dialError{opConnect, err})
	default:
		lw.w.dialed(lw.si, lw.t0, lw.t0, nil)
		if err := l.ctl(unix.EPOLL_CTL_MOD, lw.c.fd, unix.EPOLLIN, i); err != nil {
			lw.connecting, lw.open = false, true
			l.broken(i, err)
			return
		}
		l.connected(i, lw.c)
	}
}

// send writes worker i's next message.
func (l *eventLoop) send(i int) {
	lw := &l.ls[i]
	lw.t0, lw.wrote, lw.got, lw.busy = time.Now(), 0, 0, true
	lw.sent++
	l.write(i)
}

// write writes what is left of the message; a full socket buffer waits
// for EPOLLOUT.
func (l *eventLoop) write(i int) {
	lw := &l.ls[i]
	out := lw.w.out
	for lw.wrote < len(out) {
		n, err := unix.Write(lw.c.fd, out[lw.wrote:])
		switch {
		case err == unix.EAGAIN:
			if err := l.ctl(unix.EPOLL_CTL_MOD, lw.c.fd, unix.EPOLLIN|unix.EPOLLOUT, i); err != nil {
				l.broken(i, err)
			}
			return
		case err == unix.EINTR:
		case err != nil:
			l.broken(i, os.NewSyscallError("write", err))
			return
		default:
			lw.wrote += n
		}
	}
}

// ready handles readiness of worker i's connection.
func (l *eventLoop) ready(i int, events uint32) {
	lw := &l.ls[i]
	if lw.connecting {
		l.handshake(i)
		return
	}
	if !lw.open {
		return
	}
	if lw.wrote < len(lw.w.out) {
		if events&(unix.EPOLLOUT|unix.EPOLLERR|unix.EPOLLHUP) == 0 {
			return
		}
		l.write(i)
		if !lw.open || lw.wrote < len(lw.w.out) {
			return
		}
		if err := l.ctl(unix.EPOLL_CTL_MOD, lw.c.fd, unix.EPOLLIN, i); err != nil {
			l.broken(i, err)
			return
		}
	}
	in := lw.w.in
	for lw.got < len(in) {
		n, err := unix.Read(lw.c.fd, in[lw.got:])
		switch {
		case err == unix.EAGAIN:
			return
		case err == unix.EINTR:
		case err != nil:
			l.broken(i, os.NewSyscallError("read", err))
			return
		case n == 0:
			l.broken(i, io.EOF)
			return
		default:
			lw.got += n
		}
	}
	lw.busy = false
	w := lw.w
	w.rec.record(kindEchoRTT, time.Since(lw.t0))
	if !bytes.Equal(w.out, in) {
		l.broken(i, errMismatch)
		return
	}
	if lw.sent < w.p.Messages {
		if l.pr.ctx.Err() == nil {
			l.send(i)
		}
		return
	}
	// The connection's life ends (hold 0).
	if l.pr.keep != nil {
		// Back to the pool, which gives it to this worker again.
		lw.sent = 0
		if l.pr.ctx.Err() == nil {
			l.send(i)
		}
		return
	}
	lw.open = false
	w.close(lw.c) // its descriptor leaves the epoll set as it closes
	lw.c = conn{}
	if l.pr.ctx.Err() == nil {
		l.start(i)
	}
}

// broken records the failure of worker i's exchange and closes its
// connection with RST; the worker dials again at once.
func (l *eventLoop) broken(i int, err error) {
	lw := &l.ls[i]
	lw.w.fail(Classify(err))
	l.ctl(unix.EPOLL_CTL_DEL, lw.c.fd, 0, i)
	lw.w.drop(lw.c)
	lw.c, lw.open, lw.sent, lw.busy = conn{}, false, 0, false
	lw.retry = time.Now()
	l.later(lw.retry)
}

// finish hands in the workers' samples and closes their connections as
// goroutine workers do: at the end of the run, after every worker has
// stopped dialing; before it, at once.
func (l *eventLoop) finish() {
	e := l.pr.e
	for i := range l.ls {
		lw := &l.ls[i]
		if lw.connecting { // abandoned when the run stopped: not a verdict
			unix.Close(lw.c.fd)
			lw.connecting = false
			if l.pr.keep != nil {
				l.pr.keep.lost()
			}
		}
		if lw.open {
			if e.sched.Err() != nil {
				lw.w.leaked = append(lw.w.leaked, lw.c)
			} else {
				lw.w.drop(lw.c)
			}
			lw.open = false
		}
	}
	for _, fd := range []int{l.epfd, l.wakefd} {
		if fd >= 0 {
			unix.Close(fd)
		}
	}
	for i, lw := range l.ls {
		if i == 0 {
			lw.w.finish() // counts the loop's goroutine out of the quiesce
			continue
		}
		lw.w.rec.flush()
		for _, c := range lw.w.leaked {
			c.reset()
		}
		e.closed(int64(len(lw.w.leaked)))
		lw.w.leaked = nil
	}
}
