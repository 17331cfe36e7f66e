package analysis

import (
	"fmt"
	"math"
	"net/netip"
	"strconv"
	"time"

	"github.com/portex/portex/loadgen"
	"github.com/portex/portex/result"
)

// The capacity model.
//
// A connection pins its local port from connect() until the port is free
// again: for its hold time, plus TIME_WAIT if the client closed first (60 s,
// compiled into the kernel; tcp_tw_reuse_delay, 1 s by default, with
// tcp_tw_reuse=1, which needs TCP timestamps on both sides), forever if it
// leaks. Ports in use at time t, for a pool opening λ connections a second
// of which a share L leaks:
//
//	N(t) = λ·(1-L)·min(t, C) + λ·L·t      C = hold + TIME_WAIT (client close)
//
// The ports run out when N(t) reaches the budget B: the range less the
// ports ip_local_reserved_ports keeps, per (source address, destination
// address, destination port) tuple that connect() can use, times the
// tuples the pool spreads over (bind() before connect reserves a port for
// every destination: then the tuples are the source addresses only).
// Steady state needs λ·C ports; the highest rate the budget sustains is
// B / C, and any leak exhausts every budget in time.
//
// tcp_max_tw_buckets bounds the namespace's TIME_WAIT sockets: past it the
// kernel closes a socket without TIME_WAIT and its port is free at once, so
// only the buckets' share of closes pins a port after its hold.

// TimeWait is the kernel's TIME_WAIT duration (TCP_TIMEWAIT_LEN).
const TimeWait = loadgen.TimeWait

// twReuseWait is tcp_tw_reuse_delay's default: how old a TIME_WAIT socket
// must be before tcp_tw_reuse=1 lets connect() take its port.
const twReuseWait = loadgen.ReuseDelay

// ModelInput is what the model needs of a load.
type ModelInput struct {
	RangeSize int
	// Reserved is how many ports of the range ip_local_reserved_ports
	// keeps from connect().
	Reserved int
	Pools    []ModelPool
	TwReuse  int // net.ipv4.tcp_tw_reuse: 0, 1 or 2 (2: loopback only)
	Loopback bool
	// NoTimestamps is set when net.ipv4.tcp_timestamps is 0 on either
	// side: TIME_WAIT sockets then carry no timestamp and are never reused.
	NoTimestamps bool
	// ReuseDelay is net.ipv4.tcp_tw_reuse_delay; 0: its default, 1 s.
	ReuseDelay time.Duration
	// TimeWaitBuckets is the client's net.ipv4.tcp_max_tw_buckets; 0: no
	// bound known.
	TimeWaitBuckets int
	Horizon         time.Duration // how far ahead to look for exhaustion
	// NAT is set when the budget is a NAT's (see natInput): a closing
	// connection's entry is evicted when the NAT runs short, so only the
	// open connections pin its ports, and no socket sits in TIME_WAIT.
	NAT bool
	// NATTimeWait is how long a NAT keeps a closed connection's port (a
	// provider's TIME_WAIT); 0: freed at once, as a Linux NAT evicts it.
	NATTimeWait time.Duration
	// natNotes are the NAT model's own assumptions.
	natNotes []string
}

// ModelPool is one pool's load, as the model sees it.
type ModelPool struct {
	Rate   float64       // new connections per second
	Hold   time.Duration // mean hold time; < 0: forever
	Close  loadgen.CloseMode
	Leak   float64 // share leaked, 0..1
	Tuples int     // destination tuples the pool spreads over
	// Share is the largest share of the pool's load on one tuple, where
	// the load is not spread evenly (a NAT's hash); 0: 1/Tuples.
	Share   float64
	Workers int // closed model without a known rate: connections held at once
	Keep    int // keep-alive pool size
	// MaxInFlight caps an open-model pool's connections at once (0: no
	// cap). An arrival that finds every slot busy is dropped, so the pool
	// serves at most MaxInFlight / Hold new connections a second.
	MaxInFlight int
	// BindZero says the pool binds port 0 before connect(): bind() picks
	// its ports, not connect() (see Model.SlowPortsAbove).
	BindZero bool
}

// spread is how many tuples' worth the pool's load is divided by on its
// busiest tuple: Tuples, or 1/Share.
func (p ModelPool) spread() float64 {
	if p.Share > 0 {
		return 1 / p.Share
	}
	return float64(max(p.Tuples, 1))
}

// Served is the rate of new connections the pool serves: its rate, less
// the arrivals max_in_flight drops (Little's law: the connections in
// flight are the served rate times the hold).
func (p ModelPool) Served() float64 {
	if p.MaxInFlight > 0 && p.Hold > 0 {
		return math.Min(p.Rate, float64(p.MaxInFlight)/p.Hold.Seconds())
	}
	return p.Rate
}

// Budget is the ports one destination tuple can use: the range less the
// reserved ports.
func (in ModelInput) Budget() int { return max(in.RangeSize-in.Reserved, 0) }

// ReuseDelayOr is tcp_tw_reuse_delay: the input's, or its default.
func (in ModelInput) ReuseDelayOr() time.Duration {
	if in.ReuseDelay > 0 {
		return in.ReuseDelay
	}
	return twReuseWait
}

// twPin is how long a client close keeps its port after the hold.
func (in ModelInput) twPin() time.Duration {
	if in.reuse() {
		return in.ReuseDelayOr()
	}
	return TimeWait
}

// pinned returns C, how long one connection pins its port, and whether it
// is forever.
func (in ModelInput) pinned(p ModelPool) (time.Duration, bool) {
	if p.Hold < 0 || p.Close == loadgen.CloseLeak {
		return 0, true
	}
	c := p.Hold
	switch {
	case in.NAT:
		c += in.NATTimeWait
	case p.Close == loadgen.CloseClient:
		c += in.twPin()
	}
	return c, false
}

// reuse reports whether connect() may take over TIME_WAIT ports.
func (in ModelInput) reuse() bool {
	return !in.NoTimestamps && (in.TwReuse == 1 || (in.TwReuse == 2 && in.Loopback))
}

// load is N(t) in parts, per tuple: the ports held by open (and leaked)
// connections, the ports TIME_WAIT pins, and the TIME_WAIT sockets; and
// the TIME_WAIT sockets of the whole namespace. The TIME_WAIT parts are
// before tcp_max_tw_buckets bounds them.
type load struct{ held, twPinned, twSockets, twAll float64 }

// loadAt is the load at time t summed over pools, per tuple (the load is
// spread evenly), with every rate scaled by k.
func (in ModelInput) loadAt(t, k float64) load {
	var l load
	for _, p := range in.Pools {
		tuples := p.spread()
		switch {
		case p.Keep > 0:
			l.held += float64(p.Keep) / tuples
			continue
		case p.Rate == 0:
			l.held += float64(p.Workers) / tuples
			continue
		}
		_, forever := in.pinned(p)
		lam := k * p.Served() / tuples
		if forever {
			l.held += lam * t
			continue
		}
		hold := max(p.Hold, 0).Seconds()
		live := lam * (1 - p.Leak)
		l.held += live*math.Min(t, hold) + lam*p.Leak*t
		if in.NAT {
			// A NAT's TIME_WAIT follows every close, whoever closes.
			l.twPinned += live * math.Min(math.Max(t-hold, 0), in.NATTimeWait.Seconds())
			continue
		}
		if p.Close != loadgen.CloseClient {
			continue
		}
		after := math.Max(t-hold, 0)
		l.twPinned += live * math.Min(after, in.twPin().Seconds())
		socks := live * math.Min(after, TimeWait.Seconds())
		l.twSockets += socks
		l.twAll += socks * tuples
	}
	if in.reuse() && l.twSockets > 0 {
		// A TIME_WAIT socket lasts 60 s, or until connect() reuses its
		// port: at most one per port connect() cycles through. It scans
		// the ports of one parity first, and takes a free or reusable
		// one there before it tries the other half: while the ports in
		// use fit in half the budget, only that half is cycled.
		cycled := float64(in.Budget())
		if half := math.Ceil(cycled / 2); l.held+l.twPinned <= half {
			cycled = half
		}
		if l.twSockets > cycled {
			l.twAll *= cycled / l.twSockets
			l.twSockets = cycled
		}
	}
	return l
}

// timeWaitSockets is the TIME_WAIT sockets per tuple of a load: the
// buckets' share, at most one per port of the budget.
func (in ModelInput) timeWaitSockets(l load) float64 {
	return math.Min(l.twSockets*in.bucketShare(l), float64(in.Budget()))
}

// bucketShare is the share of closes that get a TIME_WAIT socket: all of
// them below tcp_max_tw_buckets, the buckets' share above.
func (in ModelInput) bucketShare(l load) float64 {
	if b := float64(in.TimeWaitBuckets); b > 0 && l.twAll > b {
		return b / l.twAll
	}
	return 1
}

// portsAt is N(t) summed over pools, per tuple.
func (in ModelInput) portsAt(t float64) float64 { return in.portsScaled(t, 1) }

// portsScaled is N(t) with every rate scaled by k.
func (in ModelInput) portsScaled(t, k float64) float64 {
	l := in.loadAt(t, k)
	return l.held + l.twPinned*in.bucketShare(l)
}

// Predict runs the model.
func Predict(in ModelInput) result.Model {
	m := result.Model{PortBudget: in.Budget(), PortRange: in.RangeSize, ReusesTimeWait: in.reuse()}
	if m.ReusesTimeWait {
		m.ReuseDelaySeconds = in.ReuseDelayOr().Seconds()
	}
	horizon := in.Horizon
	if horizon <= 0 {
		horizon = 24 * time.Hour
	}
	m.HorizonSeconds = horizon.Seconds()
	for _, p := range in.Pools {
		if t := max(int(p.spread()), 1); m.Tuples == 0 || t < m.Tuples {
			m.Tuples = t
		}
	}
	budget := float64(in.Budget())
	m.PortsNeeded = in.portsAt(horizon.Seconds())
	var steady, leaky bool
	var c time.Duration
	for _, p := range in.Pools {
		pc, forever := in.pinned(p)
		c = max(c, pc)
		leaky = leaky || forever || p.Leak > 0
		steady = steady || (p.Rate > 0 && !forever)
	}
	m.CycleSeconds, m.Grows = c.Seconds(), in.Grows()
	settled := horizon.Seconds()
	if steady && c > 0 && !leaky {
		// Settled once TIME_WAIT sockets, which outlast a reused port,
		// have had their 60 s too.
		settled = in.maxHold() + TimeWait.Seconds()
		if in.NAT {
			settled = in.maxHold() + in.NATTimeWait.Seconds()
		}
		m.PortsNeeded = in.portsAt(settled)
		if rate, ok := in.sustainable(settled); ok {
			m.MaxSustainableRatePerS = &rate
		}
	}
	l := in.loadAt(math.Min(settled, horizon.Seconds()), 1)
	m.TimeWaitSockets = in.timeWaitSockets(l)
	if in.bucketShare(l) < 1 {
		m.TimeWaitBuckets = in.TimeWaitBuckets
	}
	// The kernel gives every port of the budget: a load that needs
	// exactly the budget fits, one more port does not.
	if budget > 0 && in.portsAt(horizon.Seconds()) > budget {
		at := solve(in.portsAt, budget, horizon.Seconds())
		m.ExhaustionAtSeconds = &at
	}
	m.Assumptions = in.assumptions()
	if n := in.slowPortsAbove(); n > 0 && m.PortsNeeded > float64(n) && m.ExhaustionAtSeconds == nil {
		m.SlowPortsAbove = n
		m.Assumptions = append(m.Assumptions, SlowPortsNote(m.PortsNeeded, n))
	}
	return m
}

// slowPortsAbove is the ports in use on one destination past which
// connect() searches slowly for the next: half the budget, when connect()
// picks the ports (no pool binds port 0 first, no NAT picks them) and the
// half is long enough for its scan to show (slowScanPorts); 0 otherwise.
// A load that exhausts the ports is told so instead.
//
// Linux's connect() takes a destination's ports of one parity first
// (__inet_hash_connect scans every other port from an offset, even ones,
// and then the odd ones) so that bind() finds odd ones free. Once every
// even port of the range is in use towards a destination, each connect()
// to it scans all of them, a hash lookup each, before it turns to the odd
// ones (the README's kernel facts have the figures).
func (in ModelInput) slowPortsAbove() int {
	if in.NAT || in.Budget()/2 < slowScanPorts {
		return 0
	}
	for _, p := range in.Pools {
		if p.BindZero {
			return 0
		}
	}
	return in.Budget() / 2
}

// slowScanPorts is the fewest even ports whose scan, one hash lookup
// each, costs a connect() more than its handshake over veth.
const slowScanPorts = 1000

// SlowPortsNote says that a load needs more than half of a destination's
// ports, and what that costs.
func SlowPortsNote(needed float64, above int) string {
	return fmt.Sprintf("%.0f ports in use per destination is past half its budget (%d): once a destination's even ports are all in use, "+
		"each connect() to it scans them all before it takes an odd one, and opening drops to a few hundred connections a second; "+
		"spread the load over more destinations (pools[].destinations, server.ports) to stay under %d", needed, 2*above, above)
}

// maxHold is the longest mean hold of the pools, in seconds.
func (in ModelInput) maxHold() float64 {
	var h float64
	for _, p := range in.Pools {
		h = math.Max(h, p.Hold.Seconds())
	}
	return h
}

// sustainable is the highest rate of new connections per destination
// tuple the budget sustains at steady state (reached by t): the pools'
// rates scaled together until their ports fill the budget. ok is false
// when no rate fills it (tcp_max_tw_buckets frees the ports TIME_WAIT
// would pin, and nothing else pins one).
func (in ModelInput) sustainable(t float64) (float64, bool) {
	var perTuple float64
	for _, p := range in.Pools {
		if p.Keep == 0 && p.Rate > 0 {
			perTuple += p.Served() / p.spread()
		}
	}
	budget := float64(in.Budget())
	if perTuple <= 0 || budget <= 0 {
		return 0, false
	}
	f := func(k float64) float64 { return in.portsScaled(t, k) }
	hi := 1.0
	for f(hi) < budget {
		if hi *= 2; hi > 1e12 {
			return 0, false
		}
	}
	return solve(f, budget, hi) * perTuple, true
}

// solve finds the first t in [0, hi] with f(t) >= target; f never falls.
func solve(f func(float64) float64, target, hi float64) float64 {
	lo := 0.0
	if f(lo) >= target {
		return 0
	}
	for i := 0; i < 100 && hi-lo > 1e-6; i++ {
		mid := (lo + hi) / 2
		if f(mid) >= target {
			hi = mid
		} else {
			lo = mid
		}
	}
	return hi
}

// Grows reports whether the ports in use grow without bound: a pool keeps
// opening connections and leaks some, or holds them forever. Otherwise
// they settle at a steady state (the model's PortsNeeded).
func (in ModelInput) Grows() bool {
	for _, p := range in.Pools {
		if p.Keep > 0 {
			continue
		}
		if _, forever := in.pinned(p); p.Rate > 0 && (forever || p.Leak > 0) {
			return true
		}
	}
	return false
}

// Reuses reports whether connect() takes over TIME_WAIT ports after the
// reuse delay (tcp_tw_reuse=1, or 2 on loopback, with timestamps on).
func (in ModelInput) Reuses() bool { return in.reuse() }

// TimeWaitSockets is how many client sockets sit in TIME_WAIT per
// destination tuple at steady state: every client close leaves one for
// TIME_WAIT's 60 s, at most one per port of the budget, and at most
// tcp_max_tw_buckets in the namespace. It differs from the ports those
// sockets pin when tcp_tw_reuse lets connect() take their ports after the
// reuse delay: the sockets still pile up, the ports are free.
func (in ModelInput) TimeWaitSockets() float64 {
	return in.timeWaitSockets(in.loadAt(in.maxHold()+TimeWait.Seconds(), 1))
}

func (in ModelInput) assumptions() []string {
	if in.NAT {
		return in.natNotes
	}
	a := []string{fmt.Sprintf("TIME_WAIT lasts %.0fs and is not shortened by tcp_fin_timeout", TimeWait.Seconds())}
	switch {
	case in.NoTimestamps && in.TwReuse != 0:
		a = append(a, fmt.Sprintf("tcp_tw_reuse=%d but tcp_timestamps=0: TIME_WAIT sockets carry no timestamp and are never reused", in.TwReuse))
	case in.TwReuse == 1:
		a = append(a, fmt.Sprintf("tcp_tw_reuse=1: connect() reuses a TIME_WAIT port once it is %s old (tcp_tw_reuse_delay; TCP timestamps on)", short(in.ReuseDelayOr())))
	case in.TwReuse == 2 && in.Loopback:
		a = append(a, fmt.Sprintf("tcp_tw_reuse=2 and a loopback destination: TIME_WAIT ports are reused once %s old (tcp_tw_reuse_delay)", short(in.ReuseDelayOr())))
	default:
		a = append(a, fmt.Sprintf("tcp_tw_reuse=%d: TIME_WAIT ports are not reused for outgoing connections", in.TwReuse))
	}
	if in.TimeWaitBuckets > 0 {
		a = append(a, fmt.Sprintf("tcp_max_tw_buckets=%d: past that many TIME_WAIT sockets the kernel skips TIME_WAIT and frees the port at once", in.TimeWaitBuckets))
	}
	usable := "every port of the range is usable"
	if in.Reserved > 0 {
		usable = fmt.Sprintf("%d usable of %d ports: ip_local_reserved_ports keeps %d from connect()", in.Budget(), in.RangeSize, in.Reserved)
	}
	a = append(a, "the load is spread evenly over the destination tuples; "+usable+" (ports bound by other programs are not known)")
	for _, p := range in.Pools {
		if p.Rate == 0 && p.Keep == 0 {
			a = append(a, "a closed-model pool holds one port per worker; its rate of new connections is not modelled")
			break
		}
	}
	for _, p := range in.Pools {
		if served := p.Served(); served < p.Rate {
			a = append(a, fmt.Sprintf("max_in_flight %d with %s holds serves %s new connections/s of %s; the other arrivals are dropped",
				p.MaxInFlight, p.Hold, fmtRate(served), fmtRate(p.Rate)))
		}
	}
	return a
}

// fmtRate prints a rate with at most one decimal.
func fmtRate(r float64) string {
	return strconv.FormatFloat(math.Round(r*10)/10, 'f', -1, 64)
}

// ModelInputFor describes a plan to the model. rangeSize overrides the
// plan's range when positive (what the same load means in another range).
func ModelInputFor(p *loadgen.Plan, rangeSize int) ModelInput {
	in := ModelInput{RangeSize: rangeSize, TwReuse: 2, Horizon: max(p.Duration, time.Hour)}
	rng := p.Sandbox.PortRange
	if rng.IsZero() {
		rng = loadgen.DefaultPortRange
	}
	if in.RangeSize <= 0 {
		in.RangeSize = rng.Size()
		// The reserved ports are those of the plan's range: another
		// range's are not known.
		in.Reserved = loadgen.ReservedPorts(p.Sandbox.Sysctls[loadgen.SysctlReservedPorts], rng)
	}
	in.sysctls(p.Sandbox.Sysctls, p.Server.Sysctls)
	in.Loopback = p.Runtime == "host"
	for _, pl := range p.Pools {
		mp := ModelPool{Close: pl.Close, Leak: pl.Leak, Hold: pl.Hold.Mean()}
		if pl.Hold.Forever() {
			mp.Hold = -1
		}
		switch {
		case pl.Close == loadgen.CloseKeep:
			mp.Keep = pl.PoolSize
		case pl.Open():
			mp.Rate, mp.MaxInFlight = pl.Rate, pl.MaxInFlight
			if n := len(pl.Ramp); n > 0 {
				mp.Rate = pl.Ramp[n-1].To
			}
		case mp.Hold > 0:
			mp.Rate = float64(pl.Workers) / mp.Hold.Seconds()
		default:
			mp.Workers = pl.Workers
		}
		sources := max(pl.Sources, 1)
		mp.Tuples = sources * len(pl.Ports)
		if pl.Bind == loadgen.BindBeforeConnect {
			mp.Tuples, mp.BindZero = sources, true
		}
		if p.FamilyOf(&pl) == loadgen.FamilyDual {
			mp.Tuples *= 2 // each family has its range per destination address
		}
		in.Pools = append(in.Pools, mp)
	}
	return in
}

// AttachModel predicts the plan's run and compares with what was measured.
func AttachModel(p *loadgen.Plan, r *result.Result) {
	rangeSize := r.PortRangeSize
	if rangeSize <= 0 {
		rangeSize = p.Sandbox.PortRange.Size()
	}
	in := ModelInputFor(p, rangeSize)
	in.readBack(r)
	m := Predict(in)
	if p.NAT != nil {
		in, m = throughNAT(p, in, m)
	}
	if m.ExhaustionAtSeconds != nil && r.Exhaustion != nil && *m.ExhaustionAtSeconds > 0 {
		e := (r.Exhaustion.AtSeconds - *m.ExhaustionAtSeconds) / *m.ExhaustionAtSeconds
		m.RelativeError = &e
	}
	m.HeldConnections = p.HeldConnections()
	m.Check = in.check(r, m.HeldConnections)
	r.Model = &m
}

// check puts the model's ports in use and TIME_WAIT sockets at the run's
// last full socket sample beside that sample's. A run that ran out of
// ports has its exhaustion time to compare, and none. Where the pools hold
// held connections forever, the model's state is the one with all of them
// open, and only a sample of it compares: one taken as the load stops
// (before the teardown) counts.
func (in ModelInput) check(r *result.Result, held int64) *result.ModelCheck {
	if r.Exhaustion != nil || r.TimeSeries == nil {
		return nil
	}
	if in.NAT {
		return in.natCheck(r)
	}
	tuples := 1
	for _, p := range in.Pools {
		if t := max(p.Tuples, 1); tuples == 1 || t < tuples {
			tuples = t
		}
	}
	for i := len(r.TimeSeries.Points) - 1; i >= 0; i-- {
		pt := &r.TimeSeries.Points[i]
		if pt.Client == nil || !pt.Client.PortsCounted() {
			continue
		}
		if held > 0 && pt.Open < held {
			continue // still opening, or the teardown
		}
		if r.LoadStoppedSeconds > 0 && pt.T > r.LoadStoppedSeconds && held == 0 {
			continue // the teardown, not the load
		}
		ports, ok := loadgen.PinnedPorts(pt.Client, tuples, in.reuse())
		if !ok {
			continue
		}
		c := &result.ModelCheck{AtSeconds: pt.T,
			Ports:    math.Min(in.portsAt(pt.T), float64(in.Budget())),
			TimeWait: in.timeWaitSockets(in.loadAt(pt.T, 1)),
			// The sockets are the namespace's, spread over the tuples.
			MeasuredPorts: ports, MeasuredTimeWait: float64(pt.Client.TimeWait) / float64(tuples)}
		near := func(pred, meas float64) bool { return math.Abs(pred-meas) <= math.Max(5, 0.2*pred) }
		c.Agrees = near(c.Ports, c.MeasuredPorts) && near(c.TimeWait, c.MeasuredTimeWait)
		return c
	}
	return nil
}

// AttachScaled predicts what the plan's load means in a range of another
// size: the same rate per destination against rangeSize ports.
func AttachScaled(p *loadgen.Plan, r *result.Result, rangeSize int) {
	in := ModelInputFor(p, rangeSize)
	in.readBack(r)
	in.Reserved = 0 // the other range's reserved ports are not known
	m := Predict(in)
	r.Scaled = &m
}

// sysctls takes the client's and the server's sysctls that the model
// knows: tcp_tw_reuse, tcp_tw_reuse_delay and tcp_max_tw_buckets of the
// client, tcp_timestamps of either (off on either side, no timestamp is
// recorded and no TIME_WAIT port is reused).
func (in *ModelInput) sysctls(client, server map[string]string) {
	if v, ok := client[loadgen.SysctlTwReuse]; ok {
		fmt.Sscanf(v, "%d", &in.TwReuse)
	}
	if client[loadgen.SysctlTimestamps] == "0" || server[loadgen.SysctlTimestamps] == "0" {
		in.NoTimestamps = true
	}
	if _, ok := client[loadgen.SysctlTwReuseDelay]; ok {
		in.ReuseDelay = loadgen.ReuseDelayOf(client)
	}
	if v, ok := client[loadgen.SysctlMaxTwBuckets]; ok {
		fmt.Sscanf(v, "%d", &in.TimeWaitBuckets)
	}
}

// readBack takes what the run read back from the sandbox over what the
// plan asked for: the client's and the server's sysctls (see sysctls),
// and the reserved ports of the range the client had. The host runtime
// dials loopback (unless its target is elsewhere), where tcp_tw_reuse=2
// reuses.
func (in *ModelInput) readBack(r *result.Result) {
	in.sysctls(r.Sysctls, r.ServerSysctls)
	if rng, err := loadgen.ParseSysctlPortRange(r.Sysctls[loadgen.SysctlPortRange]); err == nil && rng.Size() == in.RangeSize {
		if list, ok := r.Sysctls[loadgen.SysctlReservedPorts]; ok {
			in.Reserved = loadgen.ReservedPorts(list, rng)
		}
	}
	if r.Runtime == "host" {
		a, err := netip.ParseAddr(r.Target)
		in.Loopback = r.Target == "" || (err == nil && a.IsLoopback())
	}
	if r.Runtime == "pod" {
		// A pod dials its echo Service by name; only an address on
		// loopback gets loopback's TIME_WAIT reuse.
		a, err := netip.ParseAddr(r.Target)
		in.Loopback = err == nil && a.IsLoopback()
	}
}
