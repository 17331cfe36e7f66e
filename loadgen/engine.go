package loadgen

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"math"
	mrand "math/rand/v2"
	"net/netip"
	"os"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

// Options are how the caller wires a run into its surroundings.
type Options struct {
	// Target is the echo server's address; the pools' ports are dialed on it.
	Target netip.Addr
	// OnEvent, if set, receives events as they happen: first failures,
	// exhaustion, progress, the end. Calls never overlap.
	OnEvent func(Event)
	// Progress is the interval between progress events; 0 means none.
	Progress time.Duration
	// Grace is how long in-flight dials and exchanges may take to finish
	// once the run stops scheduling new ones; 0 means one second.
	Grace time.Duration
}

// Why a run stopped; see Result.Stopped.
var (
	errExhausted   = errors.New("exhaustion")
	errDurationEnd = errors.New("duration")
)

// failurePause is how long a worker waits after a failed dial before it
// tries again, so that a refusing kernel is probed, not hammered.
const failurePause = 10 * time.Millisecond

// ioTimeout bounds each echo exchange and the wait for a server's close.
const ioTimeout = 10 * time.Second

// Run executes the plan's pools against opt.Target until the duration ends,
// the stop rule fires, or ctx is cancelled, and returns what it measured. A
// cancelled run returns its partial result with Stopped "interrupted"; the
// error is only for plans that cannot start.
func Run(ctx context.Context, p *Plan, opt Options) (*Result, error) {
	if err := p.Check(); err != nil {
		return nil, err
	}
	if !opt.Target.Is4() {
		return nil, fmt.Errorf("loadgen: target %v is not an IPv4 address", opt.Target)
	}
	if opt.Grace <= 0 {
		opt.Grace = time.Second
	}
	e := newEngine(p, opt)
	return e.run(ctx), nil
}

type engine struct {
	plan  *Plan
	opt   Options
	start time.Time

	sched     context.Context // done: schedule no new connections
	stopSched context.CancelCauseFunc
	hard      context.Context // done: abandon in-flight dials too

	agg     *aggregator
	workers []*worker

	open      atomic.Int64
	peakOpen  atomic.Int64
	exhaustAt atomic.Int64 // ns since start of the first exhaustion failure; MaxInt64: none
	seen      [numClasses]atomic.Bool

	mu         sync.Mutex // guards exhaustion, events and OnEvent calls
	exhaustion *Exhaustion
	events     []Event
}

func newEngine(p *Plan, opt Options) *engine {
	e := &engine{plan: p, opt: opt, agg: newAggregator(len(p.Pools))}
	e.exhaustAt.Store(math.MaxInt64)
	for pi, pool := range p.Pools {
		for i := 0; i < pool.Workers; i++ {
			e.workers = append(e.workers, newWorker(e, pi, i))
		}
	}
	return e
}

func (e *engine) run(ctx context.Context) *Result {
	hard, cancelHard := context.WithCancel(context.Background())
	defer cancelHard()
	sched, stopSched := context.WithCancelCause(ctx)
	defer stopSched(nil)
	e.sched, e.stopSched, e.hard = sched, stopSched, hard

	e.start = time.Now()
	deadline := time.AfterFunc(e.plan.Duration, func() { stopSched(errDurationEnd) })
	defer deadline.Stop()

	var wg sync.WaitGroup
	for _, w := range e.workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			w.run()
		}()
	}
	samplerDone := make(chan struct{})
	go e.sample(samplerDone)

	<-sched.Done()
	grace := time.AfterFunc(e.opt.Grace, cancelHard)
	defer grace.Stop()
	wg.Wait()
	close(samplerDone)
	e.agg.close()

	res := e.result(context.Cause(sched), ctx.Err() != nil)
	e.event(Event{Type: EventEnd, AtSeconds: res.ElapsedSeconds, Message: res.Stopped})
	res.Events = e.events
	return res
}

// since is the time from the start of the run.
func (e *engine) since(t time.Time) time.Duration { return t.Sub(e.start) }

func (e *engine) event(ev Event) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if ev.Type != EventProgress {
		e.events = append(e.events, ev)
	}
	if e.opt.OnEvent != nil {
		e.opt.OnEvent(ev)
	}
}

func (e *engine) opened() {
	n := e.open.Add(1)
	for {
		peak := e.peakOpen.Load()
		if n <= peak || e.peakOpen.CompareAndSwap(peak, n) {
			return
		}
	}
}

func (e *engine) closed(n int64) { e.open.Add(-n) }

// failed notes a failure's first occurrence and port exhaustion.
func (e *engine) failed(c Class, pool string, at time.Duration) {
	if !e.seen[c].Swap(true) {
		e.event(Event{Type: EventFirstFailure, AtSeconds: at.Seconds(), Class: c.String(), Pool: pool})
	}
	if !c.Exhausts() || !e.exhaustAt.CompareAndSwap(math.MaxInt64, int64(at)) {
		return
	}
	ex := &Exhaustion{Class: c.String(), AtSeconds: at.Seconds(), OpenConnections: e.open.Load()}
	e.mu.Lock()
	e.exhaustion = ex
	e.mu.Unlock()
	e.event(Event{Type: EventExhaustion, AtSeconds: at.Seconds(), Class: c.String(), Pool: pool,
		Progress: &Progress{Open: ex.OpenConnections}})
	if e.plan.Stop.On == StopOnExhaustion {
		e.stopSched(errExhausted)
	}
}

// sample emits progress events until done is closed.
func (e *engine) sample(done <-chan struct{}) {
	if e.opt.Progress <= 0 || e.opt.OnEvent == nil {
		return
	}
	t := time.NewTicker(e.opt.Progress)
	defer t.Stop()
	for {
		select {
		case <-done:
			return
		case now := <-t.C:
			pr := e.progress()
			e.event(Event{Type: EventProgress, AtSeconds: e.since(now).Seconds(), Progress: &pr})
		}
	}
}

func (e *engine) progress() Progress {
	var p Progress
	for _, w := range e.workers {
		p.Attempted += w.c.attempted.Load()
		p.OK += w.c.ok.Load()
		p.Failed += w.c.failed.Load()
	}
	p.Open = e.open.Load()
	return p
}

func (e *engine) result(cause error, interrupted bool) *Result {
	res := &Result{
		Variant:        e.plan.Variant,
		Runtime:        e.plan.Runtime,
		ElapsedSeconds: e.since(time.Now()).Seconds(),
		Failures:       map[string]int64{},
		PeakOpen:       e.peakOpen.Load(),
	}
	switch {
	case interrupted:
		res.Stopped = StoppedInterrupted
	case errors.Is(cause, errExhausted):
		res.Stopped = StoppedExhaustion
	default:
		res.Stopped = StoppedDuration
	}

	connect, rtt := newHistogram(), newHistogram()
	var okBefore int64
	for pi, pool := range e.plan.Pools {
		pr := PoolResult{Name: pool.Name, Failures: map[string]int64{}}
		for _, w := range e.workers {
			if w.pool != pi {
				continue
			}
			pr.Dials.Attempted += w.c.attempted.Load()
			pr.Dials.OK += w.c.ok.Load()
			pr.Dials.Failed += w.c.failed.Load()
			for c := range w.c.fails {
				if n := w.c.fails[c].Load(); n > 0 {
					pr.Failures[Class(c).String()] += n
				}
			}
			okBefore += w.okBefore
		}
		h := e.agg.hist[pi]
		pr.Latency = Latency{Connect: summarize(h[kindConnect]), EchoRTT: summarize(h[kindEchoRTT])}
		connect.Merge(h[kindConnect])
		rtt.Merge(h[kindEchoRTT])

		res.Dials.Attempted += pr.Dials.Attempted
		res.Dials.OK += pr.Dials.OK
		res.Dials.Failed += pr.Dials.Failed
		for c, n := range pr.Failures {
			res.Failures[c] += n
		}
		res.Pools = append(res.Pools, pr)
	}
	res.Latency = Latency{Connect: summarize(connect), EchoRTT: summarize(rtt)}
	if e.exhaustion != nil {
		ex := *e.exhaustion
		ex.DialsOKBefore = okBefore
		res.Exhaustion = &ex
	}
	return res
}

// worker runs one closed-model loop: dial, exchange, hold, close, again.
type worker struct {
	e    *engine
	pool int
	p    *Pool
	c    counters
	rec  recorder
	rng  *mrand.Rand
	dest []unix.SockaddrInet4
	next int

	okBefore int64      // dials that succeeded having started before exhaustion
	leaked   []*os.File // connections the pool leaks, closed when the run ends
	out, in  []byte     // payload sent and the echo read back
}

func newWorker(e *engine, pool, id int) *worker {
	p := &e.plan.Pools[pool]
	w := &worker{
		e:    e,
		pool: pool,
		p:    p,
		rec:  recorder{agg: e.agg, pool: uint16(pool)},
		rng:  mrand.New(mrand.NewPCG(uint64(pool), uint64(id))),
	}
	for _, port := range p.Ports {
		w.dest = append(w.dest, unix.SockaddrInet4{Port: port, Addr: e.opt.Target.As4()})
	}
	// Workers start at different destinations so that a pool spreads
	// its connections evenly from the first dial on.
	w.next = id % len(w.dest)
	if p.Messages > 0 {
		w.out = make([]byte, p.Payload)
		w.in = make([]byte, p.Payload)
		rand.Read(w.out)
	}
	return w
}

func (w *worker) run() {
	defer w.finish()
	for w.e.sched.Err() == nil {
		w.cycle()
	}
}

// finish closes what the worker still holds and hands in its last samples.
func (w *worker) finish() {
	for _, f := range w.leaked {
		closeReset(f)
	}
	w.e.closed(int64(len(w.leaked)))
	w.leaked = nil
	w.rec.flush()
}

// cycle is one connection's life.
func (w *worker) cycle() {
	e := w.e
	sa := &w.dest[w.next]
	w.next = (w.next + 1) % len(w.dest)

	t0 := time.Now()
	f, err := dial(e.hard, sa, w.p.ConnectTimeout)
	if errors.Is(err, errCanceled) {
		return
	}
	w.c.attempted.Add(1)
	if err != nil {
		w.c.failed.Add(1)
		w.fail(Classify(err))
		w.pause()
		return
	}
	connected := time.Now()
	w.c.ok.Add(1)
	if int64(e.since(t0)) < e.exhaustAt.Load() {
		w.okBefore++
	}
	w.rec.record(kindConnect, connected.Sub(t0))
	e.opened()

	if err := w.exchange(f); err != nil {
		w.fail(Classify(err))
		closeReset(f)
		e.closed(1)
		return
	}
	if !w.hold() {
		// The run is over: leave no TIME_WAIT behind in a sandbox
		// about to vanish.
		closeReset(f)
		e.closed(1)
		return
	}
	w.close(f)
}

func (w *worker) fail(c Class) {
	w.c.fails[c].Add(1)
	w.e.failed(c, w.p.Name, w.e.since(time.Now()))
}

func (w *worker) pause() {
	t := time.NewTimer(failurePause)
	defer t.Stop()
	select {
	case <-w.e.sched.Done():
	case <-t.C:
	}
}

// exchange sends the pool's messages and checks each echo.
func (w *worker) exchange(f *os.File) error {
	for i := 0; i < w.p.Messages; i++ {
		t0 := time.Now()
		if err := f.SetDeadline(t0.Add(ioTimeout)); err != nil {
			return err
		}
		if _, err := f.Write(w.out); err != nil {
			return err
		}
		if _, err := io.ReadFull(f, w.in); err != nil {
			return err
		}
		w.rec.record(kindEchoRTT, time.Since(t0))
		if !bytes.Equal(w.out, w.in) {
			return errMismatch
		}
	}
	return nil
}

// hold keeps the connection open for the pool's hold time. It reports
// false when the run stopped first.
func (w *worker) hold() bool {
	if w.p.Hold.Forever() {
		<-w.e.sched.Done()
		return false
	}
	d := w.p.Hold.Draw(w.rng)
	if d <= 0 {
		return w.e.sched.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-w.e.sched.Done():
		return false
	case <-t.C:
		return true
	}
}

// close ends the connection the way the pool says.
func (w *worker) close(f *os.File) {
	switch w.p.Close {
	case CloseLeak:
		w.leaked = append(w.leaked, f)
		return
	case CloseReset:
		closeReset(f)
	case CloseServer:
		// The server closes first; wait for its FIN so that TIME_WAIT
		// lands on the server, as it would in production.
		f.SetReadDeadline(time.Now().Add(ioTimeout))
		var b [1]byte
		if _, err := f.Read(b[:]); !errors.Is(err, io.EOF) {
			w.fail(ClassOther)
		}
		f.Close()
	default:
		f.Close()
	}
	w.e.closed(1)
}

// sortedKeys returns m's keys in order.
func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
