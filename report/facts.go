package report

import (
	"fmt"

	"github.com/portex/portex/result"
)

// fact is one thing a run's summary must not leave out, beyond its
// counters: every renderer lists the same facts.
type fact struct{ Label, Text string }

// facts lists what happened in a run that its headline and counters do
// not say: the runtime's notes, dropped arrivals, the throughput, what
// followed exhaustion, connect latency that climbed before it, and the
// connections the run's end closed; and how each program of the run ended.
func facts(r *result.Result) []fact {
	var out []fact
	for _, n := range r.Notes {
		out = append(out, fact{"note", n})
	}
	if r.Dropped > 0 {
		arrivals := r.Dials.Attempted + r.Dropped
		out = append(out, fact{"dropped", fmt.Sprintf("%d of %d arrivals (%.0f%%) found every slot busy (max_in_flight) and were never dialed",
			r.Dropped, arrivals, 100*float64(r.Dropped)/float64(arrivals))})
	}
	if r.ElapsedSeconds > 0 && r.Dials.Attempted > 0 {
		t := fmt.Sprintf("%s connections/s", rate(float64(r.Dials.OK)/r.ElapsedSeconds))
		if n := r.Latency.EchoRTT.Count; n > 0 {
			t += fmt.Sprintf(" · %s echoes/s", rate(float64(n)/r.ElapsedSeconds))
		}
		out = append(out, fact{"throughput", t + fmt.Sprintf(" (over %s)", seconds(r.ElapsedSeconds))})
	}
	if ex := r.Exhaustion; ex != nil {
		if t := afterExhaustion(r, ex); t != "" {
			out = append(out, fact{"afterwards", t})
		}
		if c := r.Latency.Connect; c.Count > 0 && c.P99Us >= 10_000 && c.P99Us >= 20*max(c.P50Us, 1) {
			out = append(out, fact{"slowdown", fmt.Sprintf("connect() slowed as the range filled: p99 %s against a median of %s (the kernel searches longer for a free port)",
				micros(c.P99Us), micros(c.P50Us))})
		}
	}
	// A connection or two in flight as a churning run ends are no news;
	// connections the pools never closed are.
	if r.ClosedAtEnd > 0 && r.ClosedAtEnd*100 >= r.Dials.OK {
		out = append(out, fact{"teardown", fmt.Sprintf("the run's end closed the %d connection%s the client still held; the server's \"closed by client\" counts those it had not closed first",
			r.ClosedAtEnd, plural(int(r.ClosedAtEnd)))})
	}
	for _, p := range r.Programs {
		out = append(out, fact{"program", ProgramLine(p)})
	}
	return out
}

// afterExhaustion says how the dials fared once the ports had run out:
// the share that failed, and when one first succeeded again.
func afterExhaustion(r *result.Result, ex *result.Exhaustion) string {
	var attempted, failed int64
	if ts := r.TimeSeries; ts != nil {
		start := 0.0
		for _, p := range ts.Points {
			// Only intervals that began once the ports had run out.
			if start >= ex.AtSeconds {
				attempted += p.Attempted
				failed += p.Failed
			}
			start = p.T
		}
	}
	var recovered *float64
	for _, ev := range r.Events {
		if ev.Type == result.EventRecovery {
			at := ev.AtSeconds
			recovered = &at
			break
		}
	}
	if attempted == 0 && recovered == nil {
		return ""
	}
	t := ""
	if attempted > 0 {
		t = fmt.Sprintf("%.0f%% of the %d dials after exhaustion failed", 100*float64(failed)/float64(attempted), attempted)
	}
	switch {
	case recovered != nil:
		if t != "" {
			t += "; "
		}
		t += fmt.Sprintf("a dial succeeded again %s after it (at %s): ports came free", seconds(*recovered-ex.AtSeconds), seconds(*recovered))
	case r.Stopped != result.StoppedExhaustion && attempted > 0:
		t += "; none succeeded again before the run ended"
	}
	return t
}

// rate formats a per-second figure: no decimals from a hundred up.
func rate(v float64) string {
	if v >= 100 {
		return formatCount(v)
	}
	return fmt.Sprintf("%.1f", v)
}
