package analysis

import (
	"fmt"
	"math"
	"strconv"
	"time"

	"github.com/portex/portex/loadgen"
	"github.com/portex/portex/result"
)

// The verdict of a run says what the run shows, and on what it rests.
//
// "Exhausted" is measured: a dial failed for want of a port. "Held" needs a
// steady state the run itself shows: ports in use flat below the budget
// for a full cycle (a connection's hold, plus TIME_WAIT or the reuse delay
// when the client closes first), with no dial short of a port, and a model
// that agrees nothing grows (a small leak looks flat over one cycle). Any
// other run is "not exhausted within" its length, and the capacity model's
// prediction stands beside it, marked as a prediction.

// The outcomes of a verdict (result.Verdict.Outcome).
const (
	OutcomeExhausted    = "exhausted"
	OutcomeHeld         = "held"
	OutcomeNotExhausted = "not_exhausted"
	OutcomeFDs          = "fd_exhausted"
	OutcomeFailing      = "failing"
	OutcomeInterrupted  = "interrupted"
	OutcomeError        = "error"
)

// The bases of a verdict.
const (
	BasisMeasured = "measured"
	BasisModel    = "model"
)

// Judge gives a run its verdict. It needs the run's model (AttachModel) to
// call anything "held" or to predict; without one, a run that did not run
// out is only "not exhausted within" its length.
func Judge(r *result.Result) result.Verdict {
	v := result.Verdict{Outcome: OutcomeNotExhausted, Basis: BasisMeasured, WithinSeconds: r.ElapsedSeconds, Budget: budgetOf(r)}
	if ex := r.Exhaustion; ex != nil {
		v.Outcome = OutcomeExhausted
		at := ex.AtSeconds
		v.ExhaustionAtSeconds = &at
		if ex.Where == "nat" && ex.Limit == "conntrack" {
			limit := "its limit"
			if r.NAT != nil && r.NAT.ConntrackMax > 0 {
				limit = fmt.Sprintf("its limit of %d (nat.conntrack.max)", r.NAT.ConntrackMax)
			}
			v.Text = fmt.Sprintf("EXHAUSTED at the NAT in %s: the NAT's conntrack table was full at %s after %d connections, for %s; the client saw timeouts, not EADDRNOTAVAIL (%d connection%s open)",
				Seconds(ex.AtSeconds), limit, ex.DialsOKBefore, ex.Destination, ex.OpenConnections, Plural(int(ex.OpenConnections)))
			return v
		}
		if ex.Where == "nat" {
			v.Text = fmt.Sprintf("EXHAUSTED at the NAT in %s: the NAT ran out of ports for %s after %d connections; the client saw timeouts, not EADDRNOTAVAIL (%s, %d connection%s open)",
				Seconds(ex.AtSeconds), ex.Destination, ex.DialsOKBefore, natPoolPhrase(r), ex.OpenConnections, Plural(int(ex.OpenConnections)))
			return v
		}
		v.Text = fmt.Sprintf("EXHAUSTED after %d connections in %s: %s failed with %s; %s, %d connection%s open",
			ex.DialsOKBefore, Seconds(ex.AtSeconds), ExhaustedCall(ex.Class), ex.Class, portsPhrase(r),
			ex.OpenConnections, Plural(int(ex.OpenConnections)))
		return v
	}
	m := r.Model
	var steady *result.Steady
	if m != nil && r.Stopped != result.StoppedError {
		samples := loadgen.PinSamples(r.TimeSeries, m.Tuples, m.ReusesTimeWait)
		if m.Where == "nat" {
			samples = natPinSamples(r.TimeSeries, m.Tuples)
		}
		if s, ok := loadgen.FindSteady(duringLoad(samples, r.LoadStoppedSeconds),
			loadgen.SteadyWindow(seconds2d(m.CycleSeconds)), v.Budget); ok {
			steady = &s
		}
	}
	fds := r.Failures["EMFILE"] + r.Failures["ENFILE"]
	within := fmt.Sprintf("within %s", Seconds(r.ElapsedSeconds))
	var head string
	switch {
	case r.Stopped == result.StoppedError:
		v.Outcome = OutcomeError
		head = fmt.Sprintf("ERROR after %s, the ports not exhausted before it: %s", Seconds(r.ElapsedSeconds), r.Error)
	case fds > 0:
		v.Outcome = OutcomeFDs
		head = fmt.Sprintf("NOT EXHAUSTED: out of file descriptors first, %d dials failed with EMFILE/ENFILE (nofile %d) before %s ran out",
			fds, r.Nofile, portsPhrase(r))
	case m != nil && m.HeldConnections > 0 && r.PeakOpen < m.HeldConnections && r.Dials.Failed == 0 &&
		r.Stopped != result.StoppedInterrupted:
		head = fmt.Sprintf("NOT EXHAUSTED %s, and no steady state: %d of the pools' %d connections were open at most when the load stopped, the others still to dial",
			within, r.PeakOpen, m.HeldConnections)
	case steady != nil && !m.Grows && r.Dials.Failed == 0:
		v.Outcome, v.Steady = OutcomeHeld, steady
		return held(v, r, m, steady)
	case r.Stopped == result.StoppedInterrupted:
		v.Outcome = OutcomeInterrupted
		head = fmt.Sprintf("INTERRUPTED after %s, before an answer: not exhausted so far", Seconds(r.ElapsedSeconds))
	case r.Dials.Failed > 0:
		v.Outcome = OutcomeFailing
		head = fmt.Sprintf("NOT EXHAUSTED %s, but %d dials failed (%s)", within, r.Dials.Failed, Failures(r.Failures))
	case r.Dropped > 0:
		head = fmt.Sprintf("NOT EXHAUSTED %s: %s served %d connections without a failed dial, but %d arrivals were dropped (every slot busy)",
			within, portsPhrase(r), r.Dials.OK, r.Dropped)
	case len(r.Programs) > 0 && r.Server != nil && r.Server.Program != nil && r.Kernel != nil:
		// Two programs of the user's: the server's kernel counts what it
		// accepted.
		n := r.Kernel.Server["TcpPassiveOpens"]
		head = fmt.Sprintf("NOT EXHAUSTED %s: %s served the %d connection%s your server accepted (PassiveOpens) from the program%s, no destination's ports all in use",
			within, portsPhrase(r), n, Plural(int(n)), Plural(len(r.Programs)))
	case len(r.Programs) > 0 && r.Server != nil:
		// portex dialed nothing: the server counts the programs' connections.
		head = fmt.Sprintf("NOT EXHAUSTED %s: %s served the %d connection%s the server accepted from the program%s, no destination's ports all in use",
			within, portsPhrase(r), r.Server.Accepted, Plural(int(r.Server.Accepted)), Plural(len(r.Programs)))
	default:
		head = fmt.Sprintf("NOT EXHAUSTED %s: %s served %d connections without a failure", within, portsPhrase(r), r.Dials.OK)
	}
	if v.Outcome != OutcomeError && v.Outcome != OutcomeFDs && m != nil {
		head += "; " + predict(&v, r, m, steady)
	}
	v.Text = head
	return v
}

// held words a steady state the run showed.
func held(v result.Verdict, r *result.Result, m *result.Model, s *result.Steady) result.Verdict {
	per := ""
	if m.Tuples > 1 {
		per = fmt.Sprintf(" per destination (%d destinations)", m.Tuples)
	}
	cycle := "a connection frees its port as it closes"
	if m.CycleSeconds > 0 {
		cycle = "a full cycle of " + cycleWords(m)
	}
	ports := "ports"
	if m.Where == "nat" {
		ports = "NAT ports"
		per = ""
		if m.Tuples > 1 {
			per = fmt.Sprintf(" per NAT tuple (%d of them: NAT address or client slice, and destination)", m.Tuples)
		}
	}
	v.Text = fmt.Sprintf("HELD at a steady state: %.0f of %d %s in use%s, flat for %s (%s), no dial short of a port in %s",
		s.Ports, v.Budget, ports, per, Seconds(s.ToSeconds-s.FromSeconds), cycle, Seconds(r.ElapsedSeconds))
	if r.Dropped > 0 {
		v.Text += fmt.Sprintf("; %d arrivals dropped (every slot busy)", r.Dropped)
	}
	return v
}

// predict words the model's prediction for a run that did not answer the
// question itself, and fills the verdict's predicted figures.
func predict(v *result.Verdict, r *result.Result, m *result.Model, steady *result.Steady) string {
	v.Basis = BasisModel
	v.ProofSeconds = 2 * loadgen.SteadyWindow(seconds2d(m.CycleSeconds)).Seconds()
	if at := m.ExhaustionAtSeconds; at != nil && m.HorizonSeconds > 0 && *at <= m.HorizonSeconds {
		t := *at
		v.ExhaustionAtSeconds, v.Predicted = &t, true
		why := ""
		if m.Grows {
			why = " (some connections are never closed: ports in use only grow)"
			if steady != nil {
				why = " (ports in use look flat, but some connections are never closed)"
			}
		}
		if t <= r.ElapsedSeconds {
			return fmt.Sprintf("the model predicted exhaustion at %s%s, which this run did not show", Seconds(t), why)
		}
		return fmt.Sprintf("the model predicts the ports run out at about %s%s; a prediction, not measured: run longer than that to see it", Seconds(t), why)
	}
	if m.Grows {
		return fmt.Sprintf("the model predicts no exhaustion within %s, though ports in use grow", HorizonWords(m.HorizonSeconds))
	}
	ports := m.PortsNeeded
	v.SteadyPorts = &ports
	proof := fmt.Sprintf("showing it takes a run of %s", Seconds(v.ProofSeconds))
	switch {
	case m.HeldConnections > 0 && r.PeakOpen < m.HeldConnections:
		proof = fmt.Sprintf("showing it takes all %d connections open, then %s of them held (two windows of %s)",
			m.HeldConnections, Seconds(v.ProofSeconds), short(loadgen.MinSteadyWindow))
	case m.CycleSeconds >= TimeWait.Seconds():
		proof += " (two cycles, and TIME_WAIT alone lasts 60 s)"
	case m.CycleSeconds < loadgen.MinSteadyWindow.Seconds():
		proof += fmt.Sprintf(" (two windows of %s, the shortest a steady state is judged on)", short(loadgen.MinSteadyWindow))
	default:
		proof += " (two cycles of " + cycleWords(m) + ")"
	}
	return fmt.Sprintf("the model predicts it holds at a steady state with %.0f of %d ports in use; a prediction, not shown: %s",
		ports, v.Budget, proof)
}

// cycleWords says what a cycle is made of.
func cycleWords(m *result.Model) string {
	c := seconds2d(m.CycleSeconds)
	switch {
	case c >= TimeWait:
		return fmt.Sprintf("%s: hold %s + TIME_WAIT 60s", short(c), short(c-TimeWait))
	case m.ReusesTimeWait && c >= reuseDelayOf(m):
		return fmt.Sprintf("%s: hold %s + the %s reuse delay", short(c), short(c-reuseDelayOf(m)), short(reuseDelayOf(m)))
	}
	return short(c) + ", the hold"
}

// reuseDelayOf is the model's tcp_tw_reuse_delay.
func reuseDelayOf(m *result.Model) time.Duration {
	if m.ReuseDelaySeconds > 0 {
		return seconds2d(m.ReuseDelaySeconds)
	}
	return twReuseWait
}

// HorizonWords writes the model's horizon as a person would: "24h".
func HorizonWords(s float64) string {
	d := seconds2d(s)
	if d >= time.Hour && d%time.Hour == 0 {
		return fmt.Sprintf("%dh", int(d/time.Hour))
	}
	return short(d)
}

// short formats a duration as a person writes it: "200ms", "1.2s", "60.2s".
func short(d time.Duration) string {
	if d < time.Second {
		return fmt.Sprintf("%dms", d.Round(time.Millisecond).Milliseconds())
	}
	return strconv.FormatFloat(math.Round(d.Seconds()*1000)/1000, 'f', -1, 64) + "s"
}

func seconds2d(s float64) time.Duration { return time.Duration(s * float64(time.Second)) }

// budgetOf is the ports one destination tuple can use in the run: the
// range it read back less the ports ip_local_reserved_ports keeps.
func budgetOf(r *result.Result) int {
	if r.Model != nil && r.Model.Where == "nat" {
		return r.Model.PortBudget
	}
	if r.PortRangeSize > 0 {
		return max(r.PortRangeSize-reservedOf(r), 0)
	}
	if r.Model != nil {
		return r.Model.PortBudget
	}
	return 0
}

// reservedOf is how many ports of the run's range ip_local_reserved_ports
// keeps from connect().
func reservedOf(r *result.Result) int {
	rng, err := loadgen.ParseSysctlPortRange(r.Sysctls[loadgen.SysctlPortRange])
	if err != nil || rng.Size() != r.PortRangeSize {
		return 0
	}
	return loadgen.ReservedPorts(r.Sysctls[loadgen.SysctlReservedPorts], rng)
}

// portsPhrase names the range: "200 ports (50000 50199)", or with reserved
// ports "150 usable of 200 ports (50000 50199)".
func portsPhrase(r *result.Result) string {
	if r.PortRangeSize > 0 {
		if n := reservedOf(r); n > 0 {
			return fmt.Sprintf("%d usable of %d ports (%s; %d reserved)", max(r.PortRangeSize-n, 0), r.PortRangeSize,
				r.Sysctls[loadgen.SysctlPortRange], n)
		}
		return fmt.Sprintf("%d ports (%s)", r.PortRangeSize, r.Sysctls[loadgen.SysctlPortRange])
	}
	return "the port range"
}

// natPoolPhrase names the NAT's pool of source ports.
func natPoolPhrase(r *result.Result) string {
	n := r.NAT
	switch {
	case n == nil:
		return "the NAT's pool"
	case n.PerClientPorts > 0:
		return fmt.Sprintf("static slices of %d NAT port%s per client address, of a pool of %d", n.PerClientPorts, Plural(n.PerClientPorts), n.Ports)
	case n.Addresses > 1:
		return fmt.Sprintf("%d NAT addresses with a pool of %d port%s each per destination, one address per client and destination", n.Addresses, n.Ports, Plural(n.Ports))
	}
	return fmt.Sprintf("a pool of %d NAT port%s per destination", n.Ports, Plural(n.Ports))
}

// duringLoad drops the samples taken after the load stopped, at stop: they
// show the teardown closing the connections, which is no steady state.
func duringLoad(samples []loadgen.PinSample, stopped float64) []loadgen.PinSample {
	if stopped <= 0 {
		return samples
	}
	n := len(samples)
	for n > 0 && samples[n-1].T > stopped {
		n--
	}
	return samples[:n]
}
