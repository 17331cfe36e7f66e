package loadgen

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"io"
	mrand "math/rand/v2"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/portex/portex/result"
)

// poolRun is one pool's share of a run: its window in time and what its
// workers share.
type poolRun struct {
	e      *engine
	index  int
	p      *Pool
	ctx    context.Context // done when the pool stops scheduling
	cancel context.CancelFunc
	begin  time.Time      // the pool's start
	keep   *keepPool      // Close "keep" only
	slots  chan time.Time // open model: intended starts, taken by free slots
	// maxInFlight is the open model's slots: max_in_flight, bounded by
	// the plan's Concurrency.
	maxInFlight int

	// refused marks the dial specs whose last dial failed for want of a
	// port; the pool is exhausted when all of them are marked. A plain
	// connect() runs out per destination, so with three destination ports
	// the first EADDRNOTAVAIL is not yet exhaustion: two thirds of the
	// ports are still there for the others.
	refused  []atomic.Bool
	nRefused atomic.Int64

	parkMu sync.Mutex // guards parked
	parked []conn     // connections held forever

	inFlight atomic.Int64 // open model: arrivals taken and not yet done
	started  atomic.Int64 // holdLoop: workers taken so far
	dropped  atomic.Int64 // open model: arrivals that found no free slot
}

// worker is one closed-model loop, or one open-model slot: it lives
// connection after connection, each one dial, exchange, hold, close.
type worker struct {
	pr   *poolRun
	e    *engine
	p    *Pool
	c    counters
	rec  recorder
	rng  *mrand.Rand
	spec []dialSpec // every (source, destination) the pool dials, in turn
	next int

	sl       sleeper
	okBefore int64  // dials that succeeded having started before exhaustion
	leaked   []conn // connections never closed, until the run ends
	out, in  []byte // payload sent and the echo read back
}

func newWorker(pr *poolRun, id int) *worker {
	e, p := pr.e, pr.p
	w := &worker{
		pr:  pr,
		e:   e,
		p:   p,
		rec: recorder{agg: e.agg, pool: uint16(pr.index)},
		rng: mrand.New(mrand.NewPCG(uint64(pr.index), uint64(id))),
	}
	w.spec = e.dialSpecs(p)
	if r := e.opt.LocalPortRange; !r.IsZero() {
		for i := range w.spec {
			w.spec[i].portRange = uint32(r.Hi)<<16 | uint32(r.Lo)
		}
	}
	// Workers start at different places so that a pool spreads its
	// connections evenly from the first dial on.
	w.next = id % len(w.spec)
	if p.Messages > 0 {
		w.out = make([]byte, p.Payload)
		w.in = make([]byte, p.Payload)
		rand.Read(w.out)
	}
	return w
}

// closedLoop runs connections back to back until the pool stops, or until
// a connection is held forever: then the worker is done, and its goroutine
// with it.
func (w *worker) closedLoop() {
	defer w.finish()
	if !w.sl.sleepUntil(w.pr.ctx, w.pr.begin) {
		return
	}
	for w.pr.ctx.Err() == nil {
		if w.connection(time.Now()) == parked {
			return
		}
	}
}

// holdLoop runs workers that each hold one connection forever, one after
// the other: a worker's life ends once its connection is parked, so a few
// goroutines serve a pool of any size, and a held connection costs no
// goroutine. A worker whose dial fails tries again (after the pause) before
// the next worker starts, as a worker of its own would.
func (w *worker) holdLoop() {
	defer w.finish()
	if !w.sl.sleepUntil(w.pr.ctx, w.pr.begin) {
		return
	}
	for id := w.pr.started.Add(1) - 1; id < int64(w.p.Workers); id = w.pr.started.Add(1) - 1 {
		w.next = int(id % int64(len(w.spec)))
		for {
			if w.pr.ctx.Err() != nil {
				return
			}
			if w.connection(time.Now()) == parked {
				break
			}
		}
	}
}

// openSlot takes arrivals until the pool stops. A connection held forever
// keeps its slot taken (in inFlight) after the goroutine is gone.
func (w *worker) openSlot() {
	defer w.finish()
	for {
		select {
		case <-w.pr.ctx.Done():
			return
		case intended := <-w.pr.slots:
			if w.connection(intended) == parked {
				return
			}
			w.pr.inFlight.Add(-1)
		}
	}
}

// finish closes what the worker still holds and hands in its last samples.
func (w *worker) finish() {
	w.rec.flush()
	w.e.quiesce.Done()
	if w.e.sched.Err() != nil {
		w.e.quiesce.Wait()
		w.e.beforeClose()
	}
	for _, c := range w.leaked {
		c.reset()
	}
	w.e.closed(int64(len(w.leaked)))
	w.leaked = nil
}

// outcome is how a connection's life ended for its worker.
type outcome int

const (
	done   outcome = iota // closed (or failed): the worker goes on
	parked                // held forever by the pool: the worker is done
)

// connection is one connection's life. For an arrival of the open model,
// intended is when it was due: how late its dial started (or its pooled
// connection came to hand) is its schedule lag.
func (w *worker) connection(intended time.Time) outcome {
	var c conn
	fresh := true
	if w.pr.keep != nil {
		var ok bool
		if c, fresh, ok = w.pr.keep.acquire(w.pr.ctx); !ok {
			return done
		}
	}
	if w.p.Open() {
		w.rec.record(kindScheduleLag, time.Since(intended))
	}
	if fresh {
		var ok bool
		if c, ok = w.dial(); !ok {
			if w.pr.keep != nil {
				w.pr.keep.lost()
			}
			return done
		}
	}
	if err := w.exchange(&c); err != nil {
		w.fail(Classify(err))
		w.drop(c)
		return done
	}
	if holdsForever(w.p) {
		w.pr.park(c)
		return parked
	}
	if !w.hold() {
		if w.e.sched.Err() != nil {
			// The run is over: close with the others, after the last
			// dial (see engine.quiesce).
			w.leaked = append(w.leaked, c)
			return done
		}
		// The pool is over: leave no TIME_WAIT behind.
		w.drop(c)
		return done
	}
	w.close(c)
	return done
}

// dial opens a connection and records the verdict.
func (w *worker) dial() (conn, bool) {
	si := w.nextSpec()
	begun := time.Now()
	c, started, err := dial(w.e.hard, &w.spec[si], w.p.ConnectTimeout)
	if errors.Is(err, errCanceled) {
		return conn{}, false
	}
	if !w.dialed(si, begun, started, err) {
		w.pause()
		return conn{}, false
	}
	return c, true
}

// nextSpec returns the index of the (source, destination) to dial next:
// each in turn.
func (w *worker) nextSpec() int {
	si := w.next
	w.next = (si + 1) % len(w.spec)
	return si
}

// dialed records the verdict of a dial of spec si that began at begun
// (before its socket was made: bind() takes its port there) and whose
// connect() started at t0, and reports whether it connected. A dial counts
// as started before exhaustion by begun, not t0: a bind() that took the
// last port before another dial found none comes before the exhaustion,
// even when its connect() comes after.
func (w *worker) dialed(si int, begun, t0 time.Time, err error) bool {
	e := w.e
	w.c.attempted.Add(1)
	if err != nil {
		w.c.failed.Add(1)
		cl := Classify(err)
		w.c.fails[cl].Add(1)
		e.failed(cl, w.p.Name, e.since(time.Now()), cl.Exhausts() && w.pr.refuse(si))
		return false
	}
	w.pr.accept(si)
	w.c.ok.Add(1)
	if started := int64(e.since(begun)); started < e.exhaustAt.Load() {
		w.okBefore++
	} else if !e.recovered.Load() && e.recovered.CompareAndSwap(false, true) {
		e.event(result.Event{Type: result.EventRecovery, AtSeconds: e.since(time.Now()).Seconds(), Pool: w.p.Name})
	}
	w.rec.record(kindConnect, time.Since(t0))
	e.opened()
	return true
}

// fail records a failure after the dial: of the exchange or the close.
func (w *worker) fail(c Class) {
	w.c.fails[c].Add(1)
	w.e.failed(c, w.p.Name, w.e.since(time.Now()), false)
}

// refuse marks spec i as out of ports and reports whether that makes every
// spec of the pool out of ports.
func (pr *poolRun) refuse(i int) bool {
	if pr.refused[i].CompareAndSwap(false, true) {
		return pr.nRefused.Add(1) == int64(len(pr.refused))
	}
	return false
}

// accept clears spec i's mark: a port was found after all.
func (pr *poolRun) accept(i int) {
	if pr.refused[i].Load() && pr.refused[i].CompareAndSwap(true, false) {
		pr.nRefused.Add(-1)
	}
}

// park keeps a connection held forever, with no goroutine of its own: a
// descriptor in a list, closed when the pool or the run ends.
func (pr *poolRun) park(c conn) {
	pr.parkMu.Lock()
	defer pr.parkMu.Unlock()
	if pr.ctx.Err() != nil && pr.e.sched.Err() == nil {
		// The pool's window closed while this one was dialing, and its
		// held connections are closed already: so is this one.
		c.reset()
		pr.e.closed(1)
		return
	}
	pr.parked = append(pr.parked, c)
}

// closeParked closes the pool's parked connections.
func (pr *poolRun) closeParked() {
	pr.parkMu.Lock()
	defer pr.parkMu.Unlock()
	for _, c := range pr.parked {
		c.reset()
	}
	pr.e.closed(int64(len(pr.parked)))
	pr.parked = nil
}

// pause waits a little after a failed dial, so that a refusing kernel is
// probed, not hammered. Open-model slots do not pause: arrivals pace them.
func (w *worker) pause() {
	if w.p.Open() {
		return
	}
	w.sl.sleep(w.pr.ctx, failurePause)
}

// exchange sends the pool's messages and checks each echo.
func (w *worker) exchange(c *conn) error {
	for i := 0; i < w.p.Messages; i++ {
		if i > 0 && w.p.Interval > 0 && !w.sl.sleep(w.pr.ctx, w.p.Interval) {
			return nil
		}
		t0 := time.Now()
		if err := c.roundTrip(w.out, w.in, t0.Add(ioTimeout)); err != nil {
			return err
		}
		w.rec.record(kindEchoRTT, time.Since(t0))
		if !bytes.Equal(w.out, w.in) {
			return errMismatch
		}
	}
	return nil
}

// hold keeps the connection for the pool's hold time. It reports false
// when the pool stopped first.
func (w *worker) hold() bool {
	if w.p.Hold.Forever() {
		<-w.pr.ctx.Done()
		return false
	}
	return w.sl.sleep(w.pr.ctx, w.p.Hold.Draw(w.rng))
}

// close ends the connection the way the pool says.
func (w *worker) close(c conn) {
	switch {
	case w.p.Close == CloseKeep:
		w.pr.keep.release(c)
		return
	case w.p.Close == CloseLeak || (w.p.Leak > 0 && w.rng.Float64() < w.p.Leak):
		w.leaked = append(w.leaked, c)
		return
	case w.p.Close == CloseReset:
		c.reset()
	case w.p.Close == CloseServer:
		// The server closes first; wait for its FIN so that TIME_WAIT
		// lands on the server, as it does in production.
		f := c.file()
		f.SetReadDeadline(time.Now().Add(ioTimeout))
		var b [1]byte
		if _, err := f.Read(b[:]); !errors.Is(err, io.EOF) {
			w.fail(Classify(err))
		}
		c.close()
	default:
		c.close()
	}
	w.e.closed(1)
}

// drop closes a connection that broke or outlived its pool, with RST.
func (w *worker) drop(c conn) {
	c.reset()
	w.e.closed(1)
	if w.pr.keep != nil {
		w.pr.keep.lost()
	}
}

// sleeper waits on one timer, reused: a worker that holds, paces or pauses
// between thousands of connections allocates no timer for each.
type sleeper struct{ t *time.Timer }

// sleep waits d unless ctx ends first; it reports whether d passed.
func (s *sleeper) sleep(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	if s.t == nil {
		s.t = time.NewTimer(d)
	} else {
		s.t.Reset(d) // since Go 1.23 a reset timer delivers no stale tick
	}
	select {
	case <-ctx.Done():
		s.t.Stop()
		return false
	case <-s.t.C:
		return true
	}
}

// sleepUntil waits until t unless ctx ends first.
func (s *sleeper) sleepUntil(ctx context.Context, t time.Time) bool {
	return s.sleep(ctx, time.Until(t))
}

// keepPool is a keep-alive pool: at most size connections, shared by the
// pool's workers, each used by one worker at a time.
type keepPool struct {
	idle chan conn
	sem  chan struct{} // a token per connection open or being dialed
}

func newKeepPool(size int) *keepPool {
	return &keepPool{idle: make(chan conn, size), sem: make(chan struct{}, size)}
}

// acquire returns an idle connection, or fresh when the caller may dial a
// new one; ok is false when ctx ended while waiting.
func (k *keepPool) acquire(ctx context.Context) (c conn, fresh, ok bool) {
	select {
	case c := <-k.idle:
		return c, false, true
	default:
	}
	select {
	case c := <-k.idle:
		return c, false, true
	case k.sem <- struct{}{}:
		return conn{}, true, true
	case <-ctx.Done():
		return conn{}, false, false
	}
}

func (k *keepPool) release(c conn) { k.idle <- c }

// lost gives back the token of a connection that is gone.
func (k *keepPool) lost() { <-k.sem }

// drain closes the idle connections; it returns how many.
func (k *keepPool) drain() int64 {
	var n int64
	for {
		select {
		case c := <-k.idle:
			c.reset()
			n++
		default:
			return n
		}
	}
}

// dialSpecs lists every (source, destination) pair a pool dials, in the
// order that spreads connections: all destinations from one source, then
// the next source.
func dialSpecs(p *Pool, target netip.Addr, sources []netip.Addr) []dialSpec {
	nsrc := max(p.Sources, 1)
	bind := p.Bind
	if bind == "" {
		bind = BindAuto
	}
	var specs []dialSpec
	for s := 0; s < nsrc; s++ {
		for _, port := range p.Ports {
			spec := destination(target, port)
			if bind != BindAuto || nsrc > 1 {
				var src netip.Addr
				if s < len(sources) {
					src = sources[s]
				}
				spec.src = bindAddr(src, target.Is6())
				spec.noPort = bind != BindBeforeConnect
			}
			specs = append(specs, spec)
		}
	}
	return specs
}
