package analysis

import (
	"fmt"
	"math"
	"strconv"
	"time"

	"github.com/portex/portex/loadgen"
	"github.com/portex/portex/result"
)

// The capacity model.
//
// A connection pins its local port from connect() until the port is free
// again: for its hold time, plus TIME_WAIT if the client closed first (60 s,
// compiled into the kernel; about 1 s with tcp_tw_reuse=1, which needs TCP
// timestamps), forever if it leaks. Ports in use at time t, for a pool
// opening λ connections a second of which a share L leaks:
//
//	N(t) = λ·(1-L)·min(t, C) + λ·L·t      C = hold + TIME_WAIT (client close)
//
// The ports run out when N(t) reaches the budget B: the range size per
// (source address, destination address, destination port) tuple that
// connect() can use, times the tuples the pool spreads over (bind() before
// connect reserves a port for every destination: then the tuples are the
// source addresses only). Steady state needs λ·C ports; the highest rate the
// budget sustains is B / C, and any leak exhausts every budget in time.

// TimeWait is the kernel's TIME_WAIT duration (TCP_TIMEWAIT_LEN).
const TimeWait = loadgen.TimeWait

// twReuseWait is how soon tcp_tw_reuse=1 lets connect() reuse a TIME_WAIT
// port: the timestamp must have advanced, about one second.
const twReuseWait = loadgen.ReuseDelay

// ModelInput is what the model needs of a load.
type ModelInput struct {
	RangeSize int
	Pools     []ModelPool
	TwReuse   int // net.ipv4.tcp_tw_reuse: 0, 1 or 2 (2: loopback only)
	Loopback  bool
	// NoTimestamps is set when net.ipv4.tcp_timestamps is 0: TIME_WAIT
	// sockets then carry no timestamp and are never reused.
	NoTimestamps bool
	Horizon      time.Duration // how far ahead to look for exhaustion
}

// ModelPool is one pool's load, as the model sees it.
type ModelPool struct {
	Rate    float64       // new connections per second
	Hold    time.Duration // mean hold time; < 0: forever
	Close   loadgen.CloseMode
	Leak    float64 // share leaked, 0..1
	Tuples  int     // destination tuples the pool spreads over
	Workers int     // closed model without a known rate: connections held at once
	Keep    int     // keep-alive pool size
	// MaxInFlight caps an open-model pool's connections at once (0: no
	// cap). An arrival that finds every slot busy is dropped, so the pool
	// serves at most MaxInFlight / Hold new connections a second.
	MaxInFlight int
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

// pinned returns C, how long one connection pins its port, and whether it
// is forever.
func (in ModelInput) pinned(p ModelPool) (time.Duration, bool) {
	if p.Hold < 0 || p.Close == loadgen.CloseLeak {
		return 0, true
	}
	c := p.Hold
	if p.Close == loadgen.CloseClient {
		if in.reuse() {
			c += twReuseWait
		} else {
			c += TimeWait
		}
	}
	return c, false
}

// reuse reports whether connect() may take over TIME_WAIT ports.
func (in ModelInput) reuse() bool {
	return !in.NoTimestamps && (in.TwReuse == 1 || (in.TwReuse == 2 && in.Loopback))
}

// portsAt is N(t) summed over pools, per tuple (the load is spread evenly).
func (in ModelInput) portsAt(t float64) float64 {
	var n float64
	for _, p := range in.Pools {
		tuples := float64(max(p.Tuples, 1))
		switch {
		case p.Keep > 0:
			n += float64(p.Keep) / tuples
			continue
		case p.Rate == 0:
			n += float64(p.Workers) / tuples
			continue
		}
		c, forever := in.pinned(p)
		lam := p.Served() / tuples
		if forever {
			n += lam * t
			continue
		}
		n += lam*(1-p.Leak)*math.Min(t, c.Seconds()) + lam*p.Leak*t
	}
	return n
}

// Predict runs the model.
func Predict(in ModelInput) result.Model {
	m := result.Model{PortBudget: in.RangeSize, ReusesTimeWait: in.reuse()}
	horizon := in.Horizon
	if horizon <= 0 {
		horizon = 24 * time.Hour
	}
	m.HorizonSeconds = horizon.Seconds()
	for _, p := range in.Pools {
		if t := max(p.Tuples, 1); m.Tuples == 0 || t < m.Tuples {
			m.Tuples = t
		}
	}
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
	if steady && c > 0 && !leaky {
		m.PortsNeeded = in.portsAt(c.Seconds())
		rate := float64(in.RangeSize) / c.Seconds()
		m.MaxSustainableRatePerS = &rate
	}
	if in.RangeSize > 0 && in.portsAt(horizon.Seconds()) >= float64(in.RangeSize) {
		at := solve(in.portsAt, float64(in.RangeSize), horizon.Seconds())
		m.ExhaustionAtSeconds = &at
	}
	m.Assumptions = in.assumptions()
	return m
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

// Reuses reports whether connect() takes over TIME_WAIT ports after about
// a second (tcp_tw_reuse=1, or 2 on loopback).
func (in ModelInput) Reuses() bool {
	return in.TwReuse == 1 || (in.TwReuse == 2 && in.Loopback)
}

// TimeWaitSockets is how many client sockets sit in TIME_WAIT per
// destination tuple at steady state: every client close leaves one for
// TIME_WAIT's 60 s, at most one per port of the range. It differs from the
// ports those sockets pin when tcp_tw_reuse lets connect() take their
// ports after about a second: the sockets still pile up, the ports are
// free.
func (in ModelInput) TimeWaitSockets() float64 {
	var n float64
	for _, p := range in.Pools {
		if p.Keep > 0 || p.Rate == 0 || p.Close != loadgen.CloseClient || p.Hold < 0 {
			continue
		}
		n += p.Served() / float64(max(p.Tuples, 1)) * (1 - p.Leak) * TimeWait.Seconds()
	}
	return math.Min(n, float64(in.RangeSize))
}

func (in ModelInput) assumptions() []string {
	a := []string{fmt.Sprintf("TIME_WAIT lasts %.0fs and is not shortened by tcp_fin_timeout", TimeWait.Seconds())}
	switch {
	case in.NoTimestamps && in.TwReuse != 0:
		a = append(a, fmt.Sprintf("tcp_tw_reuse=%d but tcp_timestamps=0: TIME_WAIT sockets carry no timestamp and are never reused", in.TwReuse))
	case in.TwReuse == 1:
		a = append(a, "tcp_tw_reuse=1: connect() reuses a TIME_WAIT port after about 1 s (TCP timestamps on)")
	case in.TwReuse == 2 && in.Loopback:
		a = append(a, "tcp_tw_reuse=2 and a loopback destination: TIME_WAIT ports are reused after about 1 s")
	default:
		a = append(a, fmt.Sprintf("tcp_tw_reuse=%d: TIME_WAIT ports are not reused for outgoing connections", in.TwReuse))
	}
	a = append(a, "the load is spread evenly over the destination tuples; every port of the range is usable")
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
	if in.RangeSize <= 0 {
		in.RangeSize = p.Sandbox.PortRange.Size()
	}
	if in.RangeSize <= 0 {
		in.RangeSize = 60999 - 32768 + 1 // the kernel's default range
	}
	if v, ok := p.Sandbox.Sysctls["net.ipv4.tcp_tw_reuse"]; ok {
		fmt.Sscanf(v, "%d", &in.TwReuse)
	}
	in.NoTimestamps = p.Sandbox.Sysctls["net.ipv4.tcp_timestamps"] == "0" || p.Server.Sysctls["net.ipv4.tcp_timestamps"] == "0"
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
			mp.Tuples = sources
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
	if m.ExhaustionAtSeconds != nil && r.Exhaustion != nil && *m.ExhaustionAtSeconds > 0 {
		e := (r.Exhaustion.AtSeconds - *m.ExhaustionAtSeconds) / *m.ExhaustionAtSeconds
		m.RelativeError = &e
	}
	r.Model = &m
}

// AttachScaled predicts what the plan's load means in a range of another
// size: the same rate per destination against rangeSize ports.
func AttachScaled(p *loadgen.Plan, r *result.Result, rangeSize int) {
	in := ModelInputFor(p, rangeSize)
	in.readBack(r)
	m := Predict(in)
	r.Scaled = &m
}

// readBack takes what the run read back from the sandbox over what the
// plan asked for: the client's tcp_tw_reuse and tcp_timestamps, and the
// server's timestamps (off on either side, no timestamp is recorded).
// The host runtime dials loopback, where tcp_tw_reuse=2 reuses.
func (in *ModelInput) readBack(r *result.Result) {
	if v, ok := r.Sysctls["net.ipv4.tcp_tw_reuse"]; ok {
		fmt.Sscanf(v, "%d", &in.TwReuse)
	}
	if r.Sysctls["net.ipv4.tcp_timestamps"] == "0" {
		in.NoTimestamps = true
	}
	if r.Runtime == "host" {
		in.Loopback = true
	}
}
