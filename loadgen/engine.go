package loadgen

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/netip"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/portex/portex/result"
)

// Options are how the caller wires a run into its surroundings.
type Options struct {
	// Target is the echo server's address for the pools of family ipv4
	// (the default); the pools' ports are dialed on it. An IPv6 Target
	// makes those pools dial IPv6 (a --target of the user's).
	Target netip.Addr
	// Sources are the client's addresses of Target's family, the primary
	// first, for pools that dial from several or bind before connect.
	// Empty means the unspecified address, 0.0.0.0.
	Sources []netip.Addr
	// Target6 is the echo server's IPv6 address, for the pools of family
	// ipv6 and dual; unset, Target if it is IPv6.
	Target6 netip.Addr
	// Sources6 are the client's IPv6 addresses, as Sources are its IPv4
	// ones; empty means ::.
	Sources6 []netip.Addr
	// OnEvent, if set, receives events as they happen: first failures,
	// exhaustion, progress, the end. Calls never overlap.
	OnEvent func(result.Event)
	// Progress is the interval between progress events; 0 means none.
	Progress time.Duration
	// Interval is the time series' resolution, the same all through the
	// run; 0 means Resolution's.
	Interval time.Duration
	// Resolution is the time series' schedule when Interval is 0; its zero
	// value means NewResolution(100 ms): finer in the first second.
	Resolution Resolution
	// LocalPortRange, if set, narrows every socket's ephemeral range with
	// IP_LOCAL_PORT_RANGE instead of the namespace's sysctl: how the host
	// runtime narrows the range with no privilege and no sysctl written.
	LocalPortRange PortRange
	// OnPoint, if set, receives each point of the time series as it is
	// made, and the engine keeps none: the result's series then has no
	// points, and the caller assembles them. A long run's series then
	// does not grow the load's own memory.
	OnPoint func(result.Point)
	// Sockets, if set, samples the client's socket states into the time
	// series and at exhaustion.
	Sockets *SocketSampler
	// Grace is how long in-flight dials may take to finish once the run
	// stops scheduling new ones; 0 means one second. (An exchange under
	// way finishes, or times out after 10 s.)
	Grace time.Duration
	// BeforeClose, if set, is called once when the run has stopped and
	// every worker has stopped dialing, before any held connection is
	// closed: shards of one plan in several processes wait there for each
	// other, so that no dial of one takes a port another just freed.
	BeforeClose func()
}

// Why a run stopped; see result.Result.Stopped.
var (
	errExhausted   = errors.New("exhaustion")
	errFailures    = errors.New("failures")
	errDurationEnd = errors.New("duration")
	errSteady      = errors.New("steady")
	errRefused     = errors.New("refused")
)

// faultError is why the engine could not go on with a run (an event
// loop's epoll failed, say): the run stops, Stopped "error", with the
// error in the result. The engine prints nothing.
type faultError struct{ err error }

func (f *faultError) Error() string { return f.err.Error() }
func (f *faultError) Unwrap() error { return f.err }

// fault stops the run for err (see faultError); the first cause to stop
// the run wins.
func (e *engine) fault(err error) { e.stopSched(&faultError{err}) }

// refusedLimit is how many refused dials (ECONNREFUSED), with not one
// accepted before them, end a run as an error: nothing listens where the
// pools dial, and more dials would only count refusals.
const refusedLimit = 100

// failurePause is how long a worker waits after a failed dial before it
// tries again, so that a refusing kernel is probed, not hammered.
const failurePause = 10 * time.Millisecond

// ioTimeout bounds each echo exchange and the wait for a server's close (a
// variable only so that tests can shorten it).
var ioTimeout = 10 * time.Second

// Run executes the plan's pools against opt.Target until the duration ends,
// the stop rule fires, or ctx is cancelled, and returns what it measured. A
// cancelled run returns its partial result with Stopped "interrupted"; the
// error is only for plans that cannot start.
func Run(ctx context.Context, p *Plan, opt Options) (*result.Result, error) {
	if err := p.Check(); err != nil {
		return nil, err
	}
	if !opt.Target.Is4() && !(opt.Target.Is6() && !opt.Target.Is4In6()) {
		return nil, fmt.Errorf("loadgen: target %v is not an IPv4 or IPv6 address", opt.Target)
	}
	for _, src := range opt.Sources {
		if src.Is4() != opt.Target.Is4() {
			return nil, fmt.Errorf("loadgen: source %v and target %v are of different families", src, opt.Target)
		}
	}
	if err := resolveFamilies(p, &opt); err != nil {
		return nil, err
	}
	if opt.Grace <= 0 {
		opt.Grace = time.Second
	}
	switch {
	case opt.Interval > 0:
		opt.Resolution = Resolution{Interval: opt.Interval, Fine: opt.Interval}
	case opt.Resolution.Interval <= 0:
		opt.Resolution = NewResolution(100 * time.Millisecond)
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
	pools   []*poolRun
	workers []*worker

	// quiesce counts workers still dialing. Once the run is over, workers
	// close what they hold only after every worker stopped dialing, so
	// that no in-flight connect() picks up a port freed by the stop and
	// the counts stay exact.
	quiesce   sync.WaitGroup
	closeOnce sync.Once // runs Options.BeforeClose

	failures atomic.Int64 // of every class, for Stop.AfterFailures
	refused  atomic.Int64 // ECONNREFUSED failures, for refusedLimit
	open     atomic.Int64
	// closedAtEnd counts the connections closed after the run stopped
	// scheduling: what its teardown closed.
	closedAtEnd atomic.Int64
	peakOpen    atomic.Int64
	exhaustAt   atomic.Int64 // ns since start of the first exhaustion failure; MaxInt64: none
	seen        [numClasses]atomic.Bool

	recovered atomic.Bool // a dial started after exhaustion succeeded

	// Memory, for the cost of a held connection: RSS before the first
	// dial, and at the sample with the most connections open.
	rssBefore, rssAtPeak, openAtPeak int64
	cpuBefore                        time.Duration

	mu         sync.Mutex // guards exhaustion, exhaustDests, events and OnEvent calls
	exhaustion *result.Exhaustion
	// exhaustDests are the destinations' sockets at the moment of
	// exhaustion, when the range was full: their peaks too.
	exhaustDests []result.DestinationSockets
	events       []result.Event
	series       result.TimeSeries // written by the sampler goroutine only, read at the end
	points       int               // points made so far (the sampler goroutine's)
	lastT        float64           // the last point's time
	// kernel is the namespace's KernelCounters, read at each socket sample.
	kernel KernelMoves
	// destPeaks are each destination's peaks over the full samples, the
	// sampler goroutine's; destBudget the budget of each.
	destPeaks  map[netip.AddrPort]*result.DestinationPeak
	destBudget int
	steady     *steadyWatch // stop.on verdict; the sampler goroutine's
}

// steadyWatch looks for a steady state in the samples as they come, for
// stop.on verdict.
type steadyWatch struct {
	window    time.Duration
	budget    int
	tuples    int
	reuse     bool
	exhausted bool // a dial failed for want of a port since the last sample
	samples   []PinSample
	held      int64 // the connections open at a steady state, if known
}

// newSteadyWatch watches for the plan's steady state, or returns nil when
// the plan has none (some pool never gives its ports back).
func newSteadyWatch(p *Plan, opt Options) *steadyWatch {
	rng := opt.LocalPortRange
	if rng.IsZero() {
		rng = p.Sandbox.PortRange
	}
	k := KernelOf(p.Sandbox.Sysctls, p.Server.Sysctls, opt.Target.IsLoopback(), rng)
	cycle, grows := p.Cycle(k)
	if grows || opt.Sockets == nil {
		return nil
	}
	return &steadyWatch{window: SteadyWindow(cycle), budget: k.Budget(), tuples: p.Tuples(), reuse: k.Reuse, held: p.HeldConnections()}
}

// add takes one point and reports whether the samples now end in a steady
// state. It keeps only the samples of the last two windows.
func (w *steadyWatch) add(pt *result.Point) bool {
	w.exhausted = w.exhausted || pt.Failures["EADDRNOTAVAIL"] > 0 || pt.Failures["EADDRINUSE"] > 0
	ports, ok := PinnedPorts(pt.Client, w.tuples, w.reuse)
	if !ok {
		return false
	}
	w.samples = append(w.samples, PinSample{T: pt.T, Ports: ports, Exhausted: w.exhausted})
	w.exhausted = false
	if old := pt.T - 2*w.window.Seconds(); w.samples[0].T < old {
		i := 0
		for i < len(w.samples)-1 && w.samples[i+1].T < old {
			i++
		}
		w.samples = append(w.samples[:0], w.samples[i:]...)
	}
	if pt.Open < w.held {
		return false // still opening (see Plan.HeldConnections)
	}
	_, steady := FindSteady(w.samples, w.window, w.budget)
	return steady
}

func newEngine(p *Plan, opt Options) *engine {
	workers := 0
	for i := range p.Pools {
		if pl := &p.Pools[i]; pl.Open() {
			workers += p.Concurrency(pl)
		} else {
			workers += pl.Workers
		}
	}
	e := &engine{plan: p, opt: opt, agg: newAggregator(len(p.Pools), workers)}
	e.exhaustAt.Store(math.MaxInt64)
	if opt.Sockets != nil {
		// The samples count the TIME_WAIT sockets too young to reuse
		// by the namespace's own delay, and IPv6 ones too when the load
		// is IPv6.
		opt.Sockets.SetReuseDelay(ReuseDelayOf(p.Sandbox.Sysctls))
		if opt.Target.Is6() || p.UsesIPv6() {
			opt.Sockets.CountIPv6()
		}
	}
	if p.Stop.On == StopOnVerdict {
		e.steady = newSteadyWatch(p, opt)
	}
	return e
}

// startPools builds every pool's workers; it runs once the start time is
// known, since pools are scheduled against it.
func (e *engine) startPools(wg *sync.WaitGroup) {
	for _, p := range e.plan.Pools {
		e.quiesce.Add(goroutines(e.plan, &p))
	}
	for i := range e.plan.Pools {
		p := &e.plan.Pools[i]
		pr := &poolRun{e: e, index: i, p: p, ctx: e.sched, begin: e.start.Add(p.Start)}
		if p.Duration > 0 {
			pr.ctx, pr.cancel = context.WithDeadline(e.sched, pr.begin.Add(p.Duration))
		}
		// The pool lasts until its window ends, even when every worker
		// has parked its connection. A pool that ends before the run
		// closes what it held forever; at the end of the run, the engine
		// does, after the last dial.
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-pr.ctx.Done()
			if e.sched.Err() == nil {
				pr.closeParked()
			}
		}()
		if p.Close == CloseKeep {
			pr.keep = newKeepPool(p.PoolSize)
		}
		pr.refused = make([]atomic.Bool, len(e.dialSpecs(p)))
		e.pools = append(e.pools, pr)
		n, loop := goroutines(e.plan, p), (*worker).closedLoop
		if holdsForever(p) {
			loop = (*worker).holdLoop
		}
		if p.Open() {
			pr.maxInFlight = e.plan.Concurrency(p)
			pr.slots = make(chan time.Time, pr.maxInFlight)
			n, loop = pr.maxInFlight, (*worker).openSlot
			wg.Add(1)
			go func() {
				defer wg.Done()
				pr.schedule()
			}()
		}
		if loopable(p) {
			slots := loopSlots(p)
			for k, loops := 0, loopsFor(p); k < loops; k++ {
				w := newWorker(pr, k)
				e.workers = append(e.workers, w)
				first, last := k*slots/loops, (k+1)*slots/loops
				ep, err := newEpoll(256)
				wg.Add(1)
				go func() {
					defer wg.Done()
					pr.echoLoop(w, first, last-first, ep, err)
				}()
			}
			continue
		}
		for id := 0; id < n; id++ {
			w := newWorker(pr, id)
			e.workers = append(e.workers, w)
			wg.Add(1)
			go func() {
				defer wg.Done()
				loop(w)
			}()
		}
	}
}

// maxHolders bounds the goroutines that open a closed-model pool's
// connections when each is held forever (see worker.holdLoop).
const maxHolders = 128

// holdsForever reports whether each of the pool's workers holds one
// connection forever: then a few goroutines open them all.
func holdsForever(p *Pool) bool {
	return !p.Open() && p.Hold.Forever() && p.Close != CloseKeep
}

// goroutines is how many goroutines run the pool: no more, for a slot or
// a worker each, than plan.Concurrency allows.
func goroutines(plan *Plan, p *Pool) int {
	switch {
	case p.Open():
		return plan.Concurrency(p)
	case loopable(p):
		return loopsFor(p)
	case holdsForever(p):
		return min(p.Workers, maxHolders)
	}
	return plan.Concurrency(p)
}

// schedule offers the open model's arrivals to free slots at their due
// times; an arrival no slot takes at once is dropped, never delayed. The
// arrivals are those due in [0, duration) of the run (and of the pool's
// own window): one due at the end, or after it while the stop is late,
// is not made.
func (pr *poolRun) schedule() {
	pace := newPacer(pr.p.Rate, pr.p.Ramp, pr.p.Phase)
	sl := newAlarm(pr.ctx)
	defer sl.close()
	var end time.Time
	if d := pr.e.plan.Duration; d > 0 {
		end = pr.e.start.Add(d)
	}
	if d := pr.p.Duration; d > 0 && (end.IsZero() || pr.begin.Add(d).Before(end)) {
		end = pr.begin.Add(d)
	}
	var prev time.Duration
	for k := int64(0); ; k++ {
		at, ok := pace.arrival(k)
		if !ok {
			return
		}
		due := pr.begin.Add(at)
		if !end.IsZero() && !due.Before(end) {
			return
		}
		if !sl.sleepUntil(pr.ctx, due, spinFor(at-prev)) {
			return
		}
		prev = at
		if pr.inFlight.Add(1) <= int64(pr.maxInFlight) {
			pr.slots <- due // never blocks: the channel holds maxInFlight
			continue
		}
		pr.inFlight.Add(-1)
		if pr.dropped.Add(1) == 1 {
			pr.e.event(result.Event{Type: result.EventDropped, AtSeconds: pr.e.since(time.Now()).Seconds(), Pool: pr.p.Name})
		}
	}
}

func (e *engine) run(ctx context.Context) *result.Result {
	hard, cancelHard := context.WithCancel(context.Background())
	defer cancelHard()
	sched, stopSched := context.WithCancelCause(ctx)
	defer stopSched(nil)
	e.sched, e.stopSched, e.hard = sched, stopSched, hard

	e.rssBefore, e.cpuBefore = RSS(), CPUTime()
	e.start = time.Now()
	deadline := time.AfterFunc(e.plan.Duration, func() { stopSched(errDurationEnd) })
	defer deadline.Stop()

	var wg sync.WaitGroup
	e.startPools(&wg)
	allDone := make(chan struct{})
	go func() {
		wg.Wait()
		close(allDone)
	}()
	samplerDone, samplerFinished := make(chan struct{}), make(chan struct{})
	go e.sample(samplerDone, samplerFinished)

	select {
	case <-sched.Done():
	case <-allDone: // every pool ended before the run's duration
		stopSched(errDurationEnd)
	}
	loadStopped := e.since(time.Now()).Seconds()
	grace := time.AfterFunc(e.opt.Grace, cancelHard)
	defer grace.Stop()
	<-allDone
	e.beforeClose()
	for _, pr := range e.pools {
		pr.closeParked()
		if pr.keep != nil {
			e.closed(pr.keep.drain())
		}
		if pr.cancel != nil {
			pr.cancel()
		}
	}
	close(samplerDone)
	<-samplerFinished
	e.agg.close()

	// The cause that stopped the scheduling decides; a cancellation that
	// arrives while the run winds down does not make it "interrupted".
	cause := context.Cause(sched)
	var fault *faultError
	res := e.result(cause, !errors.Is(cause, errExhausted) && !errors.Is(cause, errFailures) &&
		!errors.Is(cause, errDurationEnd) && !errors.Is(cause, errSteady) && !errors.Is(cause, errRefused) &&
		!errors.As(cause, &fault))
	res.LoadStoppedSeconds = loadStopped
	e.event(result.Event{Type: result.EventEnd, AtSeconds: res.ElapsedSeconds, Message: res.Stopped})
	res.Events = e.events
	res.ClosedAtEnd = e.closedAtEnd.Load()
	res.TimeSeries = &e.series
	res.Resources = &result.Resources{Client: &result.ProcessResources{
		Processes:             1,
		RSSPeakBytes:          PeakRSS(),
		CPUSeconds:            (CPUTime() - e.cpuBefore).Seconds(),
		RSSPerConnectionBytes: PerConnection(e.rssBefore, e.rssAtPeak, e.openAtPeak),
		Peak:                  e.openAtPeak,
	}}
	return res
}

// beforeClose calls Options.BeforeClose once; later callers wait for it.
func (e *engine) beforeClose() {
	if e.opt.BeforeClose != nil {
		e.closeOnce.Do(e.opt.BeforeClose)
	}
}

// since is the time from the start of the run.
func (e *engine) since(t time.Time) time.Duration { return t.Sub(e.start) }

func (e *engine) event(ev result.Event) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if ev.Type != result.EventProgress {
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

// closed counts n connections closed; those closed once the run stopped
// scheduling are its teardown's.
func (e *engine) closed(n int64) {
	e.open.Add(-n)
	if e.sched.Err() != nil {
		e.closedAtEnd.Add(n)
	}
}

// failed notes a failure's first occurrence and port exhaustion.
func (e *engine) failed(c Class, pool string, at time.Duration, exhausted bool) {
	n := e.failures.Add(1)
	if c == ClassECONNREFUSED && e.refused.Add(1) == refusedLimit && e.peakOpen.Load() == 0 {
		e.stopSched(errRefused)
	}
	if !e.seen[c].Swap(true) {
		e.event(result.Event{Type: result.EventFirstFailure, AtSeconds: at.Seconds(), Class: c.String(), Pool: pool})
		if e.plan.Stop.On == StopOnFirstFailure {
			e.stopSched(errFailures)
		}
	}
	if limit := e.plan.Stop.AfterFailures; limit > 0 && n >= limit {
		e.stopSched(errFailures)
	}
	if !exhausted || !e.exhaustAt.CompareAndSwap(math.MaxInt64, int64(at)) {
		return
	}
	ex := &result.Exhaustion{Class: c.String(), AtSeconds: at.Seconds(), OpenConnections: e.open.Load()}
	var dests []result.DestinationSockets
	if e.opt.Sockets != nil {
		if st, err := e.opt.Sockets.SampleFull(); err == nil {
			ex.Sockets = &st
			dests = e.opt.Sockets.Destinations()
		}
	}
	e.mu.Lock()
	e.exhaustion, e.exhaustDests = ex, dests
	e.mu.Unlock()
	e.event(result.Event{Type: result.EventExhaustion, AtSeconds: at.Seconds(), Class: c.String(), Pool: pool,
		Progress: &result.Progress{Open: ex.OpenConnections, Client: ex.Sockets}})
	if e.plan.Stop.On == StopOnExhaustion || e.plan.Stop.On == StopOnVerdict {
		e.stopSched(errExhausted)
	}
}

// sample records the time series and emits progress events until done is
// closed, then records the last, partial interval. Its schedule is fine at
// first, then steady (see Resolution); a tick it takes late makes a longer
// interval, never one stamped earlier than its counts.
func (e *engine) sample(done <-chan struct{}, finished chan<- struct{}) {
	defer close(finished)
	res := e.opt.Resolution
	setResolution(&e.series, res)
	every := res.At(0)
	t := time.NewTicker(every)
	defer t.Stop()
	fds := startFDCounter(done, e.open.Load)
	defer func() { <-fds.done }()
	var prev totals
	lastProgress := e.start
	for {
		select {
		case <-done:
			e.point(&prev, fds, true)
			return
		case <-t.C:
			pt := e.point(&prev, fds, false)
			if next := res.At(time.Duration(pt.T * float64(time.Second))); next != every {
				every = next
				t.Reset(every)
			}
			now := e.start.Add(time.Duration(pt.T * float64(time.Second)))
			if e.opt.OnEvent != nil && e.opt.Progress > 0 && now.Sub(lastProgress) >= e.opt.Progress {
				lastProgress = now
				pr := result.Progress{Attempted: prev.attempted, OK: prev.ok, Failed: prev.failed, Open: pt.Open, Client: pt.Client}
				e.event(result.Event{Type: result.EventProgress, AtSeconds: pt.T, Progress: &pr})
			}
		}
	}
}

// fdCounter counts the process's descriptors once a second in a goroutine
// of its own: reading /proc/self/fd while thousands of sockets are being
// opened can take seconds, and the time series must not wait for it.
//
// Listing /proc/self/fd makes the kernel build a dentry and an inode for
// every descriptor (kept cached, and looked up again every time), which
// costs CPU and kernel memory in proportion to the descriptors. So past
// fdWalkMax descriptors the counter lists the directory no more and
// follows the connections instead: the last count, plus the connections
// opened since, less those closed.
type fdCounter struct {
	n    atomic.Int64
	done chan struct{} // closed when the goroutine has returned
}

// fdWalkMax is the count of descriptors above which fdCounter stops
// listing /proc/self/fd.
const fdWalkMax = 4096

func startFDCounter(done <-chan struct{}, open func() int64) *fdCounter {
	c := &fdCounter{done: make(chan struct{})}
	go func() {
		defer close(c.done)
		t := time.NewTicker(time.Second)
		defer t.Stop()
		var f fdFollower
		for {
			c.n.Store(f.count(open()))
			select {
			case <-done:
				return
			case <-t.C:
			}
		}
	}()
	return c
}

// fdFollower counts descriptors by listing them up to fdWalkMax, and
// past it by the connections opened and closed since the last listing.
type fdFollower struct {
	walked, openAtWalk int64
	list               func() int // countFDs unless a test says otherwise
}

// count returns the descriptors open, given the connections open now.
func (f *fdFollower) count(open int64) int64 {
	if n := f.walked + open - f.openAtWalk; f.walked > 0 && n > fdWalkMax {
		return n
	}
	list := f.list
	if list == nil {
		list = countFDs
	}
	f.walked, f.openAtWalk = int64(list()), open
	return f.walked
}

// totals are the run's cumulative counters at one moment.
type totals struct {
	attempted, ok, failed, dropped int64
	fails                          [numClasses]int64
}

func (e *engine) totals() totals {
	var t totals
	for _, w := range e.workers {
		t.attempted += w.c.attempted.Load()
		t.ok += w.c.ok.Load()
		t.failed += w.c.failed.Load()
		for c := range w.c.fails {
			t.fails[c] += w.c.fails[c].Load()
		}
	}
	for _, pr := range e.pools {
		t.dropped += pr.dropped.Load()
	}
	return t
}

// point appends one interval to the time series: what happened since prev,
// and the gauges now. Its time is when the counters were read. The last
// point always samples the sockets.
func (e *engine) point(prev *totals, fds *fdCounter, last bool) *result.Point {
	cur := e.totals()
	now := time.Now()
	pt := result.Point{
		T:         e.since(now).Seconds(),
		Attempted: cur.attempted - prev.attempted,
		OK:        cur.ok - prev.ok,
		Failed:    cur.failed - prev.failed,
		Dropped:   cur.dropped - prev.dropped,
		Open:      e.open.Load(),
		RSSBytes:  RSS(),
	}
	if e.points == 0 || int(pt.T) > int(e.lastT) {
		pt.FDs, pt.Goroutines = int(fds.n.Load()), runtime.NumGoroutine()
	}
	e.points++
	e.lastT = pt.T
	if pt.Open > e.openAtPeak {
		e.openAtPeak, e.rssAtPeak = pt.Open, pt.RSSBytes
	}
	for c := range cur.fails {
		if n := cur.fails[c] - prev.fails[c]; n > 0 {
			if pt.Failures == nil {
				pt.Failures = make(map[string]int64)
			}
			pt.Failures[Class(c).String()] = n
		}
	}
	if e.opt.Sockets != nil && (last || e.opt.Sockets.Due(now)) {
		t0 := time.Now()
		if st, err := e.opt.Sockets.Sample(); err == nil {
			pt.Client = &st
			if st.PortsCounted() {
				pt.Destinations = e.opt.Sockets.Destinations()
				e.addDestPeaks(pt.Destinations, pt.T)
			}
			if e.series.SamplerCost == nil {
				e.series.SamplerCost = &result.SamplerCost{}
			}
			e.series.SamplerCost.Add(time.Since(t0), st)
		}
		pt.Kernel = e.kernel.Moves()
	}
	*prev = cur
	if e.steady != nil && !last && e.steady.add(&pt) {
		e.stopSched(errSteady)
	}
	if e.opt.OnPoint != nil {
		e.opt.OnPoint(pt)
		return &pt
	}
	e.series.Points = append(e.series.Points, pt)
	return &e.series.Points[len(e.series.Points)-1]
}

// dialedPorts lists the server ports the pools dial, like "7000, 7001".
func (e *engine) dialedPorts() string {
	var ports []string
	for _, p := range e.plan.Pools {
		for _, port := range p.Ports {
			if s := strconv.Itoa(port); !slices.Contains(ports, s) {
				ports = append(ports, s)
			}
		}
	}
	return strings.Join(ports, ", ")
}

// addDestPeaks takes a full sample's destinations into their peaks.
func (e *engine) addDestPeaks(ds []result.DestinationSockets, t float64) {
	if e.destPeaks == nil {
		e.destPeaks = make(map[netip.AddrPort]*result.DestinationPeak)
		rng := e.opt.LocalPortRange
		if rng.IsZero() {
			rng = e.plan.Sandbox.PortRange
		}
		e.destBudget = KernelOf(e.plan.Sandbox.Sysctls, e.plan.Server.Sysctls, e.opt.Target.IsLoopback(), rng).Budget()
	}
	for _, d := range ds {
		p := e.destPeaks[d.Destination]
		if p == nil {
			p = &result.DestinationPeak{Destination: d.Destination.String(), Budget: e.destBudget}
			e.destPeaks[d.Destination] = p
		}
		if d.Sockets.PortsInUse > p.PortsInUse {
			p.PortsInUse, p.AtSeconds = d.Sockets.PortsInUse, t
		}
		p.TimeWait = max(p.TimeWait, d.Sockets.TimeWait)
		p.CloseWait = max(p.CloseWait, d.Sockets.CloseWait)
	}
}

func (e *engine) result(cause error, interrupted bool) *result.Result {
	res := &result.Result{
		Variant:        e.plan.Variant,
		Runtime:        e.plan.Runtime,
		StartedAt:      e.start,
		ElapsedSeconds: e.since(time.Now()).Seconds(),
		Failures:       map[string]int64{},
		PeakOpen:       e.peakOpen.Load(),
	}
	e.mu.Lock()
	if ex := e.exhaustion; ex != nil && e.exhaustDests != nil {
		e.addDestPeaks(e.exhaustDests, ex.AtSeconds)
	}
	e.mu.Unlock()
	for _, p := range e.destPeaks {
		res.Destinations = append(res.Destinations, *p)
	}
	result.SortPeaks(res.Destinations)
	switch {
	case interrupted:
		res.Stopped = result.StoppedInterrupted
	case errors.Is(cause, errExhausted):
		res.Stopped = result.StoppedExhaustion
	case errors.Is(cause, errFailures):
		res.Stopped = result.StoppedFailures
	case errors.Is(cause, errSteady):
		res.Stopped = result.StoppedSteady
	case errors.As(cause, new(*faultError)):
		res.Stopped = result.StoppedError
		res.Error = cause.Error()
	case errors.Is(cause, errRefused):
		res.Stopped = result.StoppedError
		res.Error = fmt.Sprintf("stopped: the first %d dials were all refused (ECONNREFUSED) and none was accepted: nothing listens at %s on port %s",
			refusedLimit, e.opt.Target, e.dialedPorts())
	default:
		res.Stopped = result.StoppedDuration
	}
	for i := range e.plan.Pools {
		pl := &e.plan.Pools[i]
		n, c := pl.Workers, e.plan.Concurrency(pl)
		what := "workers"
		if pl.Open() {
			n, what = pl.MaxInFlight, "max_in_flight"
		}
		if c < n && (pl.Open() || goroutines(e.plan, pl) == c) {
			res.Notes = append(res.Notes, fmt.Sprintf("pool %s: %d connections at once, not %s %d: the port budget is %d (range × destinations), and %d more attempts at once keep the failures coming",
				pl.Name, c, what, n, e.plan.PortBudget(pl), SlotHeadroom))
		}
	}

	total := newHistograms()
	var okBefore int64
	for pi, pool := range e.plan.Pools {
		pr := result.PoolResult{Name: pool.Name, Failures: map[string]int64{}}
		pr.Dropped = e.pools[pi].dropped.Load()
		res.Dropped += pr.Dropped
		for _, w := range e.workers {
			if w.pr.index != pi {
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
		pr.Latency = h.latency()
		total.merge(h)

		res.Dials.Attempted += pr.Dials.Attempted
		res.Dials.OK += pr.Dials.OK
		res.Dials.Failed += pr.Dials.Failed
		for c, n := range pr.Failures {
			res.Failures[c] += n
		}
		res.Pools = append(res.Pools, pr)
	}
	res.Latency = total.latency()
	if e.exhaustion != nil {
		ex := *e.exhaustion
		ex.DialsOKBefore = okBefore
		res.Exhaustion = &ex
	}
	return res
}

// resolveFamilies makes sure every pool has a target of its family:
// Target6 defaults to an IPv6 Target, and a pool of family ipv6 or dual
// needs one, a dual pool an IPv4 Target besides.
func resolveFamilies(p *Plan, opt *Options) error {
	if !opt.Target6.IsValid() && opt.Target.Is6() {
		opt.Target6, opt.Sources6 = opt.Target, opt.Sources
	}
	if opt.Target6.IsValid() && (!opt.Target6.Is6() || opt.Target6.Is4In6()) {
		return fmt.Errorf("loadgen: IPv6 target %v is not an IPv6 address", opt.Target6)
	}
	for _, src := range opt.Sources6 {
		if !src.Is6() || src.Is4In6() {
			return fmt.Errorf("loadgen: IPv6 source %v is not an IPv6 address", src)
		}
	}
	for i := range p.Pools {
		pl := &p.Pools[i]
		f := p.FamilyOf(pl)
		if f.IPv6() && !opt.Target6.IsValid() {
			return fmt.Errorf("loadgen: pool %q: family %s needs an IPv6 target", pl.Name, f)
		}
		if f == FamilyDual && !opt.Target.Is4() {
			return fmt.Errorf("loadgen: pool %q: family dual needs an IPv4 target besides the IPv6 one, got %v", pl.Name, opt.Target)
		}
	}
	return nil
}

// dialSpecs is every (source, destination) pool pl dials, in turn: over
// its family's target and sources, and for a dual pool the IPv6 and the
// IPv4 dial of each tuple one after the other, so that its dials
// alternate the families.
func (e *engine) dialSpecs(pl *Pool) []dialSpec {
	switch e.plan.FamilyOf(pl) {
	case FamilyIPv6:
		return dialSpecs(pl, e.opt.Target6, e.opt.Sources6)
	case FamilyDual:
		v6, v4 := dialSpecs(pl, e.opt.Target6, e.opt.Sources6), dialSpecs(pl, e.opt.Target, e.opt.Sources)
		specs := make([]dialSpec, 0, len(v6)+len(v4))
		for i := range v6 {
			specs = append(specs, v6[i], v4[i])
		}
		return specs
	}
	return dialSpecs(pl, e.opt.Target, e.opt.Sources)
}
