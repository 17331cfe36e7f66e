package loadgen

import (
	"bytes"
	"container/heap"
	"context"
	"fmt"
	"os"
	"runtime"
	"time"

	"golang.org/x/sys/unix"
)

// A closed-model pool whose workers dial, exchange messages (or none),
// hold and close (close: reset, client, leak, or keep with a connection
// for every worker; any hold; any share of leaks) runs on a few event loops
// instead of a goroutine per worker, as the echo server does, and as wrk
// does: each loop holds its workers' sockets on an epoll instance of its
// own, connects them without blocking, sends a connection's next message
// as soon as its echo is read (or its interval is over), and keeps the
// holds and intervals on a timer heap. A round trip then costs one write,
// one read and a share of an epoll_wait, nothing parks or wakes per round
// trip, and a worker is a slot of a few dozen bytes in its loop instead of
// a goroutine's stack: the loop's workers share one set of counters, one
// batch of latency samples, one payload and one echo buffer. A pool whose
// connections are held forever needs no slot per worker: a loop's few
// slots open its workers' connections one after the other (a slot takes
// the next worker once its connection is parked), so a pool of any size
// opens through at most maxHolders handshakes under way.

// loopable reports whether a pool runs on event loops.
func loopable(p *Pool) bool {
	if p.Open() {
		return false
	}
	switch p.Close {
	case CloseKeep:
		return p.PoolSize >= p.Workers && !p.Hold.Forever()
	case CloseReset, CloseClient, CloseLeak:
		return true
	}
	return false
}

// loopSlots is how many slots a loopable pool's loops have in all: one a
// worker, or when each holds its connection forever, maxHolders at most.
func loopSlots(p *Pool) int {
	if holdsForever(p) {
		return min(p.Workers, maxHolders)
	}
	return p.Workers
}

// loopProcs is how many event loops a pool may have: the CPUs Go runs on,
// read once, so that the engine counts the loops it starts the same way
// every time (GOMAXPROCS may change at run time).
var loopProcs = runtime.GOMAXPROCS(0)

// newEpoll makes an event loop's epoll instance (a variable so that tests
// can make it fail).
var newEpoll = newEpollWaiter

// loopsFor is the number of event loops a loopable pool runs on.
func loopsFor(p *Pool) int { return min(loopSlots(p), loopProcs) }

// loopState is where a looped worker's connection is in its life.
//
// The transitions, and the functions that make them:
//
//	idle, spare -> connecting   start: a dial under way
//	idle, spare -> open         start: connected at once, or a kept-alive connection
//	idle, spare -> idle         start: the dial failed (dialFailed)
//	connecting  -> open         handshake: connected
//	connecting  -> idle         handshake failed, or its timeout fired
//	open, stale -> busy         send: a message goes out
//	open        -> stale        ready: the socket reported something meanwhile
//	busy        -> open, stale  ready: the echo is all in (stale: a FIN came with it)
//	busy, open  -> idle         broken: the exchange failed, the connection is dropped
//	open, stale -> idle, spare  held: closed (spare: reset, the socket kept), then start
//	open, stale -> idle         held: leaked, or parked (held forever), then start
//	any         -> idle         finish
type loopState uint8

const (
	// loopIdle: no connection. The timer, if any, ends the pause after a
	// failed dial.
	loopIdle loopState = iota
	// loopSpare: no connection, and a disconnected socket, still in the
	// epoll set, kept for the next dial (from held to start).
	loopSpare
	// loopConnecting: the handshake is under way. The timer is the dial's
	// timeout.
	loopConnecting
	// loopOpen: connected, no message out. The timer is the next
	// message's interval, or once the messages are all sent, the end of
	// the hold.
	loopOpen
	// loopStale: loopOpen, and the socket reported something since the
	// echo: look again before the next message (see send).
	loopStale
	// loopBusy: a message is out and its echo not all in.
	loopBusy
)

// connected reports whether the state holds a connection.
func (s loopState) connected() bool { return s >= loopOpen }

// looped is one worker of an event loop and its connection.
type looped struct {
	c     conn
	state loopState
	// watched says c's descriptor is in the epoll set. It is the
	// descriptor's, not the connection's state: a connection from the
	// keep-alive pool comes unwatched, a spare socket stays watched.
	watched bool
	si      int       // the dial spec of the dial under way, or last dialed
	wrote   int       // bytes of the message written so far
	got     int       // bytes of its echo read so far
	sent    int       // messages of this connection's life sent
	begun   time.Time // when the dial began (see worker.dialed)
	t0      time.Time // when connect() was called, then when the message went out
	due     time.Time // when its timer fires; zero: none
	slot    int       // its timer's index in the heap; -1: none
}

// echoLoop runs a loop's slots, with w their shared worker state, until
// the pool stops, then lets their last echoes come in and hands their
// connections over as the goroutine workers do (see worker.connection).
// Slot j runs worker first+j, or with connections held forever, the
// workers it takes in turn. ep is the loop's epoll instance, made before
// any loop of the run dials (or the error that made none): one loop's
// connections may take every descriptor the process has.
func (pr *poolRun) echoLoop(w *worker, first, slots int, ep *epollWaiter, err error) {
	l := &eventLoop{pr: pr, w: w, ls: make([]looped, slots), ep: ep}
	l.timers.ls = l.ls
	defer l.finish()
	for i := range l.ls {
		l.ls[i].slot = -1
		l.ls[i].si = l.before(first + i)
	}
	if err != nil {
		// No epoll instance: the workers cannot run, nor can the run.
		pr.e.fault(fmt.Errorf("pool %s: event loop: %w", pr.p.Name, err))
		return
	}
	if !new(sleeper).sleepUntil(pr.ctx, pr.begin) {
		return
	}
	// The wake-up must be over before finish closes its eventfd, or its
	// write could land on a descriptor that took the number meanwhile.
	woke := make(chan struct{})
	stop := context.AfterFunc(pr.ctx, func() {
		l.ep.wake()
		close(woke)
	})
	defer func() {
		if !stop() {
			<-woke
		}
	}()
	for i := range l.ls {
		if holdsForever(w.p) && !l.take(i) {
			break
		}
		l.start(i)
	}
	l.run(func() bool { return pr.ctx.Err() == nil })
	// The pool stopped: no new dial or message goes out; the dials and
	// echoes under way end, by their own timeouts at the latest.
	deadline := time.Now().Add(max(ioTimeout, w.p.ConnectTimeout))
	l.run(func() bool { return l.waiting() && time.Now().Before(deadline) && pr.e.hard.Err() == nil })
}

type eventLoop struct {
	pr     *poolRun
	w      *worker // the state the loop's workers share
	ls     []looped
	queued []int32      // slots whose next worker is to start (see next)
	ep     *epollWaiter // woken when the pool stops
	timers timerHeap
	swept  time.Time // the last look for exchanges past ioTimeout
}

// timerHeap holds the workers' timers, earliest first, at most one each;
// a worker knows its timer's place (looped.slot), to move or remove it.
type timerHeap struct {
	ls []looped
	h  []int // worker indices
}

func (t *timerHeap) Len() int { return len(t.h) }
func (t *timerHeap) Less(a, b int) bool {
	return t.ls[t.h[a]].due.Before(t.ls[t.h[b]].due)
}
func (t *timerHeap) Swap(a, b int) {
	t.h[a], t.h[b] = t.h[b], t.h[a]
	t.ls[t.h[a]].slot, t.ls[t.h[b]].slot = a, b
}
func (t *timerHeap) Push(x any) {
	i := x.(int)
	t.ls[i].slot = len(t.h)
	t.h = append(t.h, i)
}
func (t *timerHeap) Pop() any {
	i := t.h[len(t.h)-1]
	t.h = t.h[:len(t.h)-1]
	t.ls[i].slot = -1
	return i
}

// ctl registers fd for events, tagged with the worker's index,
// edge-triggered: an event comes when something arrives (data, a FIN, a
// handshake's end, room to write), once, and epoll_wait need not poll
// again every socket it reported last time, as it does when
// level-triggered, to see whether it is still ready. A worker writes until
// the message is out or the buffer is full, and reads until its echo is
// all in or the socket is empty; what else comes (a FIN with the echo,
// anything while it waits for its next message) marks the connection
// stale, and the next message re-arms it (see send).
func (l *eventLoop) ctl(op, fd int, events uint32, i int) error {
	if op != unix.EPOLL_CTL_DEL {
		events |= unix.EPOLLET | unix.EPOLLRDHUP
	}
	return l.ep.ctl(op, fd, events, int32(i))
}

// run handles readiness while more says so.
func (l *eventLoop) run(more func() bool) {
	for more() {
		// Woken, the pool stopped: more() says what next.
		var events []unix.EpollEvent
		var err error
		if l.next() { // slots wait to start: look, but do not wait
			events, _, err = l.ep.ready()
		} else {
			events, _, err = l.ep.wait(l.until())
		}
		if err != nil {
			l.pr.e.fault(fmt.Errorf("pool %s: event loop: %w", l.pr.p.Name, err))
			return
		}
		for _, ev := range events {
			l.ready(int(ev.Fd), ev.Events)
		}
		l.fire(time.Now())
	}
}

// arm sets worker i's timer, replacing the one it had.
func (l *eventLoop) arm(i int, at time.Time) {
	lw := &l.ls[i]
	lw.due = at
	if lw.slot >= 0 {
		heap.Fix(&l.timers, lw.slot)
	} else {
		heap.Push(&l.timers, i)
	}
}

// disarm cancels worker i's timer.
func (l *eventLoop) disarm(i int) {
	if lw := &l.ls[i]; lw.slot >= 0 {
		heap.Remove(&l.timers, lw.slot)
	}
}

// fire runs the timers that are due, and once a second fails the
// exchanges that have waited ioTimeout for their echo, as goroutine
// workers' reads time out.
func (l *eventLoop) fire(now time.Time) {
	if now.Sub(l.swept) >= time.Second {
		l.swept = now
		for i := range l.ls {
			if lw := &l.ls[i]; lw.state == loopBusy && now.Sub(lw.t0) >= ioTimeout {
				l.broken(i, os.ErrDeadlineExceeded)
			}
		}
	}
	for len(l.timers.h) > 0 && !now.Before(l.ls[l.timers.h[0]].due) {
		i := heap.Pop(&l.timers).(int)
		lw := &l.ls[i]
		switch {
		case lw.state == loopConnecting:
			l.ctl(unix.EPOLL_CTL_DEL, lw.c.fd, 0, i)
			unix.Close(lw.c.fd)
			l.dialFailed(i, &dialError{opConnect, os.ErrDeadlineExceeded})
		case l.pr.ctx.Err() != nil:
			// The pool stopped: nothing new starts.
		case !lw.state.connected():
			l.start(i)
		case lw.sent < l.w.p.Messages:
			l.send(i)
		default:
			l.held(i)
		}
	}
}

// until is how long a wait may last: until the next timer, or a while to
// look at the clock while the pool drains; zero: no limit.
func (l *eventLoop) until() time.Time {
	switch {
	case l.pr.ctx.Err() != nil:
		return time.Now().Add(10 * time.Millisecond)
	case len(l.timers.h) > 0:
		if due := l.ls[l.timers.h[0]].due; due.Before(l.swept.Add(time.Second)) {
			return due
		}
	}
	return l.swept.Add(time.Second)
}

// waiting reports whether an echo is still on its way.
func (l *eventLoop) waiting() bool {
	for i := range l.ls {
		if lw := &l.ls[i]; lw.state == loopConnecting || lw.state == loopBusy {
			return true
		}
	}
	return false
}

// start gives worker i a connection, from the keep-alive pool or a new
// dial, and sends its first message once connected.
func (l *eventLoop) start(i int) {
	lw := &l.ls[i]
	w := l.w
	if keep := l.pr.keep; keep != nil {
		c, fresh, ok := keep.acquire(l.pr.ctx)
		if !ok {
			return
		}
		if !fresh {
			l.connected(i, c)
			return
		}
	}
	prev := lw.si
	lw.si = (prev + 1) % len(w.spec)
	fd, pending, err := l.dial(i, prev)
	switch {
	case err != nil:
		l.dialFailed(i, err)
	case pending:
		lw.c, lw.state = conn{fd: fd}, loopConnecting
		op := unix.EPOLL_CTL_ADD
		if lw.watched { // a spare socket
			op = unix.EPOLL_CTL_MOD
		}
		if err := l.ctl(op, fd, unix.EPOLLOUT, i); err != nil {
			unix.Close(fd)
			l.dialFailed(i, &dialError{opConnect, err})
			return
		}
		lw.watched = true
		l.arm(i, lw.t0.Add(w.p.ConnectTimeout))
	default:
		w.dialed(lw.si, lw.begun, lw.t0, nil)
		l.connected(i, conn{fd: fd})
	}
}

// dial starts worker i's dial of spec lw.si: on its spare socket, if it
// has one made for spec prev that fits, or else on a new socket. It sets
// lw.begun to now and lw.t0 to when connect() was called.
func (l *eventLoop) dial(i, prev int) (fd int, pending bool, err error) {
	lw := &l.ls[i]
	spec := &l.w.spec[lw.si]
	lw.begun, lw.t0 = time.Now(), time.Time{}
	if lw.state != loopSpare {
		fd, lw.t0, pending, err = startDial(spec)
		return fd, pending, err
	}
	lw.state, fd = loopIdle, lw.c.fd
	if l.w.spec[prev].reusableFor(spec) {
		if lw.t0, pending, err = connectSocket(fd, spec); err == nil {
			return fd, pending, nil
		}
	}
	unix.Close(fd) // it leaves the epoll set
	lw.watched = false
	if err != nil {
		return -1, false, err
	}
	fd, lw.t0, pending, err = startDial(spec)
	return fd, pending, err
}

// connected sends worker i's first message on c, or with none to send,
// begins its hold.
func (l *eventLoop) connected(i int, c conn) {
	lw := &l.ls[i]
	lw.c, lw.state, lw.sent = c, loopOpen, 0
	switch {
	case l.pr.ctx.Err() != nil:
	case l.w.p.Messages > 0:
		l.send(i)
	default:
		l.hold(i)
	}
}

// hold keeps worker i's connection, its messages done, for the pool's
// hold: on the timer heap, or parked when held forever.
func (l *eventLoop) hold(i int) {
	w := l.w
	if w.p.Hold.Forever() && l.pr.keep == nil {
		l.park(i)
		return
	}
	if d := w.p.Hold.Draw(w.rng); d > 0 {
		l.arm(i, time.Now().Add(d))
		return
	}
	l.held(i)
}

// park hands worker i's connection, held forever, to the pool's parked
// list (out of the loop's epoll set: what it reports is no one's
// business until the run ends) and gives the slot the next worker.
func (l *eventLoop) park(i int) {
	lw := &l.ls[i]
	if lw.watched {
		l.ctl(unix.EPOLL_CTL_DEL, lw.c.fd, 0, i)
	}
	l.pr.park(lw.c)
	lw.c, lw.state, lw.watched = conn{}, loopIdle, false
	if l.take(i) {
		l.queued = append(l.queued, int32(i))
	}
}

// startBatch is how many queued slots next starts before the loop looks
// at what its sockets report: a slot whose dials all connect at once
// would otherwise keep the handshakes under way waiting.
const startBatch = 64

// next starts up to startBatch of the queued slots, and reports whether
// some are left. A slot's next worker is queued, not started from park:
// its dial may connect at once and be parked in turn, and so on for every
// worker of the pool, each a frame deeper on the loop's stack.
func (l *eventLoop) next() bool {
	for n := 0; n < startBatch && len(l.queued) > 0 && l.pr.ctx.Err() == nil; n++ {
		i := l.queued[0]
		l.queued = l.queued[1:]
		l.start(int(i))
	}
	if len(l.queued) == 0 {
		l.queued = l.queued[:0:0] // let the array go
		return false
	}
	return l.pr.ctx.Err() == nil
}

// take gives slot i the pool's next worker, if one is left: the slot then
// dials first what that worker would (see before).
func (l *eventLoop) take(i int) bool {
	id := l.pr.started.Add(1) - 1
	if id >= int64(l.w.p.Workers) {
		return false
	}
	l.ls[i].si = l.before(int(id % int64(len(l.w.spec))))
	return true
}

// before is the dial spec that comes before worker id's first, so that
// workers start at different places and a pool spreads its connections
// evenly from the first dial on.
func (l *eventLoop) before(id int) int {
	n := len(l.w.spec)
	return (id%n + n - 1) % n
}

// dialFailed records the failed dial of worker i, which dials again after
// the pause a closed-model worker takes.
func (l *eventLoop) dialFailed(i int, err error) {
	lw := &l.ls[i]
	lw.state, lw.watched = loopIdle, false // its descriptor is closed
	l.w.dialed(lw.si, lw.begun, lw.t0, err)
	if l.pr.keep != nil {
		l.pr.keep.lost()
	}
	l.arm(i, time.Now().Add(failurePause))
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
		l.w.dialed(lw.si, lw.begun, lw.t0, nil)
		l.disarm(i) // the dial's timeout
		if err := l.ctl(unix.EPOLL_CTL_MOD, lw.c.fd, unix.EPOLLIN, i); err != nil {
			lw.state = loopOpen
			l.broken(i, err)
			return
		}
		l.connected(i, lw.c)
	}
}

// send writes worker i's next message.
func (l *eventLoop) send(i int) {
	lw := &l.ls[i]
	var err error
	switch {
	case !lw.watched:
		err = l.ctl(unix.EPOLL_CTL_ADD, lw.c.fd, unix.EPOLLIN, i)
	case lw.state == loopStale:
		// EPOLL_CTL_MOD polls the socket: what came since the echo (an
		// EOF, say) is reported again, now that an echo is awaited.
		err = l.ctl(unix.EPOLL_CTL_MOD, lw.c.fd, unix.EPOLLIN, i)
	}
	if err != nil {
		l.broken(i, err)
		return
	}
	lw.watched, lw.state = true, loopBusy
	lw.t0, lw.wrote, lw.got = time.Now(), 0, 0
	lw.sent++
	l.write(i)
}

// write writes what is left of the message; a full socket buffer waits
// for EPOLLOUT.
func (l *eventLoop) write(i int) {
	lw := &l.ls[i]
	out := l.w.out
	for lw.wrote < len(out) {
		n, err := writeNB(lw.c.fd, out[lw.wrote:])
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
	switch lw.state {
	case loopConnecting:
		l.handshake(i)
		return
	case loopOpen, loopStale:
		// Something happened while the connection waits (the peer closed
		// it, say). It is looked at when the next message goes out (see
		// send), or not at all if the hold ends first, as with a goroutine
		// worker.
		lw.state = loopStale
		return
	case loopBusy:
	default: // no connection
		return
	}
	if lw.wrote < len(l.w.out) {
		// A message larger than the socket buffers: the echo of its start
		// comes back while the rest waits to go, and must be read (up to
		// what was written) for the server to go on reading.
		if events&unix.EPOLLIN != 0 && !l.read(i, lw.wrote) {
			return
		}
		if events&(unix.EPOLLOUT|unix.EPOLLERR|unix.EPOLLHUP) != 0 {
			l.write(i)
		}
		if lw.state != loopBusy || lw.wrote < len(l.w.out) {
			return
		}
		if err := l.ctl(unix.EPOLL_CTL_MOD, lw.c.fd, unix.EPOLLIN, i); err != nil {
			l.broken(i, err)
			return
		}
	}
	in := l.w.in
	if !l.read(i, len(in)) || lw.got < len(in) {
		return
	}
	lw.state = loopOpen
	if events&(unix.EPOLLRDHUP|unix.EPOLLHUP|unix.EPOLLERR) != 0 {
		lw.state = loopStale // a FIN or an error came with the echo
	}
	w := l.w
	w.rec.record(kindEchoRTT, time.Since(lw.t0))
	if !bytes.Equal(w.out, in) {
		l.broken(i, errMismatch)
		return
	}
	switch {
	case l.pr.ctx.Err() != nil:
	case lw.sent < w.p.Messages && w.p.Interval > 0:
		l.arm(i, time.Now().Add(w.p.Interval))
	case lw.sent < w.p.Messages:
		l.send(i)
	default:
		l.hold(i)
	}
}

// held ends the life of worker i's connection, its hold over: back to the
// keep-alive pool, which gives it to this worker again at once, or closed
// as the pool says, and the next one dialed.
func (l *eventLoop) held(i int) {
	lw := &l.ls[i]
	if l.pr.keep != nil {
		lw.sent = 0
		l.send(i)
		return
	}
	w := l.w
	switch {
	case w.p.Close == CloseLeak || (w.p.Leak > 0 && w.rng.Float64() < w.p.Leak):
		// Never closed until the run ends, nor watched.
		if lw.watched {
			l.ctl(unix.EPOLL_CTL_DEL, lw.c.fd, 0, i)
		}
		w.leaked = append(w.leaked, lw.c)
		lw.c, lw.state, lw.watched = conn{}, loopIdle, false
	case w.p.Close == CloseReset && disconnect(lw.c.fd) == nil:
		// The same RST as a close, and the socket, still in the epoll
		// set, dials the next connection (see disconnect).
		w.e.closed(1)
		lw.state = loopSpare
	default:
		lw.state, lw.watched = loopIdle, false
		w.close(lw.c) // its descriptor leaves the epoll set as it closes
		lw.c = conn{}
	}
	l.start(i)
}

// read reads worker i's echo up to byte upTo, until the socket has no more;
// false: the connection broke.
func (l *eventLoop) read(i, upTo int) bool {
	lw := &l.ls[i]
	var err error
	if lw.got, _, err = readIn(lw.c.fd, l.w.in[:upTo], lw.got); err != nil {
		l.broken(i, err)
		return false
	}
	return true
}

// broken records the failure of worker i's exchange and closes its
// connection with RST; the worker dials again at once.
func (l *eventLoop) broken(i int, err error) {
	lw := &l.ls[i]
	l.w.fail(Classify(err))
	l.ctl(unix.EPOLL_CTL_DEL, lw.c.fd, 0, i)
	l.w.drop(lw.c)
	lw.c, lw.state, lw.watched, lw.sent = conn{}, loopIdle, false, 0
	l.arm(i, time.Now())
}

// finish hands in the workers' samples and closes their connections as
// goroutine workers do: at the end of the run, after every worker has
// stopped dialing; before it, at once.
func (l *eventLoop) finish() {
	e := l.pr.e
	for i := range l.ls {
		lw := &l.ls[i]
		if lw.state == loopConnecting { // abandoned when the run stopped: not a verdict
			unix.Close(lw.c.fd)
			lw.state = loopIdle
			if l.pr.keep != nil {
				l.pr.keep.lost()
			}
		}
		if lw.state.connected() {
			if e.sched.Err() != nil {
				l.w.leaked = append(l.w.leaked, lw.c)
			} else {
				l.w.drop(lw.c)
			}
			lw.state = loopIdle
		}
	}
	if l.ep != nil {
		l.ep.close()
	}
	l.w.finish() // counts the loop's goroutine out of the quiesce
}
