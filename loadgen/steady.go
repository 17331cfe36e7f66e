package loadgen

import (
	"math"
	"strconv"
	"time"

	"github.com/portex/portex/result"
)

// TimeWait is the kernel's TIME_WAIT duration (TCP_TIMEWAIT_LEN), compiled
// in: tcp_fin_timeout does not shorten it.
const TimeWait = 60 * time.Second

// ReuseDelay is how old a TIME_WAIT socket must be before tcp_tw_reuse
// lets connect() take its port (tcp_tw_reuse_delay's default).
const ReuseDelay = time.Second

// ReusesTimeWait reports whether connect() may reuse the port of a
// TIME_WAIT socket under these client sysctls: tcp_tw_reuse=1, or 2 (the
// kernel's default) towards a loopback destination, and TCP timestamps on
// (a TIME_WAIT socket without a recorded timestamp is never reused).
// Missing sysctls take the kernel's defaults.
func ReusesTimeWait(sysctls map[string]string, loopback bool) bool {
	reuse := sysctlInt(sysctls, "net.ipv4.tcp_tw_reuse", 2)
	if sysctlInt(sysctls, "net.ipv4.tcp_timestamps", 1) == 0 {
		return false
	}
	return reuse == 1 || (reuse == 2 && loopback)
}

func sysctlInt(m map[string]string, name string, def int) int {
	v, ok := m[name]
	if !ok {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		return def
	}
	return n
}

// PinTime is how long one of the pool's connections keeps its local port
// from the moment it opens: its mean hold, plus TIME_WAIT when the client
// closes first (the reuse delay when TIME_WAIT ports are reused). forever is
// set when the pool's ports in use only grow: arrivals held forever, or a
// share of leaked connections. A keep-alive pool, or a closed-model pool
// whose workers each hold one connection forever, pins a fixed number of
// ports: they do not grow, and PinTime returns 0 for them.
func (p *Pool) PinTime(k Kernel) (pin time.Duration, forever bool) {
	switch {
	case p.Close == CloseLeak, p.Leak > 0, p.Hold.Forever() && p.Open():
		return 0, true
	case p.Close == CloseKeep, p.Hold.Forever():
		return 0, false
	}
	pin = p.Hold.Mean()
	if p.Close == CloseClient {
		pin += k.TimeWaitPin()
	}
	return pin, false
}

// HeldConnections is how many connections the plan's pools hold once all
// are open, when every pool is of the closed model and holds each worker's
// connection forever; 0 for any other plan. Such a load is at its steady
// state only once they are all open: a ramp that slows down, as connect()
// searches longer for each port, looks flat long before it ends.
func (p *Plan) HeldConnections() int64 {
	var n int64
	for i := range p.Pools {
		pl := &p.Pools[i]
		if pl.Open() || !pl.Hold.Forever() || pl.Close == CloseKeep {
			return 0
		}
		n += int64(pl.Workers)
	}
	return n
}

// Tuples is how many (source address, destination port) tuples the pool
// spreads its connections over, each with a range of its own; bind()
// before connect() reserves a port for every destination, so there only
// the source addresses count.
func (p *Pool) Tuples() int {
	sources := max(p.Sources, 1)
	if p.Bind == BindBeforeConnect {
		return sources
	}
	return sources * max(len(p.Ports), 1)
}

// Cycle is the longest PinTime of the plan's pools: a steady state shows
// only once ports in use have been flat for that long. grows is set when
// some pool never gives ports back, so that no steady state exists.
func (p *Plan) Cycle(k Kernel) (cycle time.Duration, grows bool) {
	for i := range p.Pools {
		pin, forever := p.Pools[i].PinTime(k)
		grows = grows || forever
		cycle = max(cycle, pin)
	}
	return cycle, grows
}

// Tuples is the fewest destination tuples any of the plan's pools spreads
// over: the budget that runs out first.
func (p *Plan) Tuples() int {
	n := 0
	for i := range p.Pools {
		t := p.Pools[i].Tuples()
		if p.FamilyOf(&p.Pools[i]) == FamilyDual {
			t *= 2 // each tuple once per family
		}
		if n == 0 || t < n {
			n = t
		}
	}
	return max(n, 1)
}

// DefaultPortRange is the kernel's default ephemeral range, 32768-60999.
var DefaultPortRange = PortRange{Lo: 32768, Hi: 60999}

// MinSteadyWindow is the shortest window a steady state is judged on,
// however short the cycle: enough samples to tell flat from noise.
const MinSteadyWindow = 500 * time.Millisecond

// SteadyWindow is how long ports in use must stay flat to show a steady
// state: a full cycle, and at least MinSteadyWindow.
func SteadyWindow(cycle time.Duration) time.Duration { return max(cycle, MinSteadyWindow) }

// PinSample is the ports pinned per destination tuple at one moment, and
// whether a dial failed for want of a port since the previous sample.
type PinSample struct {
	T         float64 // seconds from the start of the run
	Ports     float64 // ports pinned per destination tuple
	Exhausted bool    // an EADDRNOTAVAIL or EADDRINUSE in the interval
}

// PinnedPorts is the ports a sample of the client's sockets shows pinned
// per destination tuple. Where TIME_WAIT ports are reused, only the
// TIME_WAIT sockets younger than the reuse delay pin a port a new connection
// needs (the older ones stay in their thousands while their ports are
// taken over; the sampler is told the delay, SocketSampler.SetReuseDelay);
// a quick sample, which does not see their ages, cannot tell.
// With one tuple the distinct local ports of the range are counted when
// the sample has them; otherwise every socket that holds a port, spread
// over the tuples. ok is false for a sample that cannot tell.
func PinnedPorts(st *result.SocketStates, tuples int, reuse bool) (ports float64, ok bool) {
	if st == nil || (reuse && !st.PortsCounted()) {
		return 0, false
	}
	if !reuse && tuples <= 1 && st.PortsCounted() {
		return float64(st.PortsInUse), true
	}
	n := st.Total() - st.Listen - st.SynRecv
	if reuse {
		n -= st.TimeWait - st.TimeWaitRecent
		// Where the server shares the namespace (the host runtime), its
		// end of each connection is a socket too; the distinct ports of
		// the range bound what one tuple can hold.
		if tuples <= 1 {
			n = min(n, st.PortsInUse)
		}
	}
	return float64(n) / float64(max(tuples, 1)), true
}

// FindSteady reports whether the samples, which are in time order, end in
// a steady state: over the last window (at least that long and at least
// five samples), no dial failed for want of a port, every sample stayed
// below the budget, and ports in use did not grow, the mean of the
// window's second half above that of its first by no more than noise
// (two ports, or 5% of the mean, whichever is more).
func FindSteady(samples []PinSample, window time.Duration, budget int) (result.Steady, bool) {
	if len(samples) < 5 || budget <= 0 {
		return result.Steady{}, false
	}
	end := samples[len(samples)-1].T
	from := end - window.Seconds()
	first := -1
	for i := len(samples) - 1; i >= 0; i-- {
		if samples[i].T < from {
			break
		}
		first = i
	}
	// The window must be covered: a sample at or before its start.
	if first <= 0 {
		return result.Steady{}, false
	}
	first--
	if len(samples)-first < 5 {
		return result.Steady{}, false
	}
	win := samples[first:]
	var sum, peak float64
	for _, s := range win {
		if s.Exhausted && s.T > win[0].T {
			return result.Steady{}, false
		}
		sum += s.Ports
		peak = math.Max(peak, s.Ports)
	}
	if peak >= float64(budget) {
		return result.Steady{}, false
	}
	half := len(win) / 2
	var a, b float64
	for _, s := range win[:half] {
		a += s.Ports
	}
	for _, s := range win[half:] {
		b += s.Ports
	}
	a /= float64(half)
	b /= float64(len(win) - half)
	mean := sum / float64(len(win))
	if b-a > math.Max(2, 0.05*mean) {
		return result.Steady{}, false
	}
	return result.Steady{FromSeconds: win[0].T, ToSeconds: end, Ports: mean, Peak: peak}, true
}

// PinSamples turns a time series into the samples FindSteady judges.
func PinSamples(ts *result.TimeSeries, tuples int, reuse bool) []PinSample {
	if ts == nil {
		return nil
	}
	var out []PinSample
	exhausted := false
	for i := range ts.Points {
		pt := &ts.Points[i]
		exhausted = exhausted || pt.Failures["EADDRNOTAVAIL"] > 0 || pt.Failures["EADDRINUSE"] > 0
		ports, ok := PinnedPorts(pt.Client, tuples, reuse)
		if !ok {
			continue
		}
		out = append(out, PinSample{T: pt.T, Ports: ports, Exhausted: exhausted})
		exhausted = false
	}
	return out
}
