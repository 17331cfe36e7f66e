package report

import (
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/portex/portex/result"
)

// fact is one thing a run's summary must not leave out, beyond its
// counters: every renderer lists the same facts.
type fact struct{ Label, Text string }

// facts lists what happened in a run that its headline and counters do
// not say: the runtime's notes, dropped arrivals, the throughput, what
// followed exhaustion, connect latency that climbed before it, what the
// kernel's own counters explain, and the connections the run's end
// closed; and how each program of the run ended.
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
	if t := openingLine(r); t != "" {
		out = append(out, fact{"opening", t})
	}
	out = append(out, kernelFacts(r)...)
	if t := memoryLine(r.Resources); t != "" {
		out = append(out, fact{"memory", t})
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
	if len(r.Programs) > 0 && r.TimeSeries != nil {
		if rate, at := peakOpenRate(r.TimeSeries); rate > 0 {
			out = append(out, fact{"opening", fmt.Sprintf("the program%s opened new connections at up to %s/s (the kernel's ActiveOpens, over the interval ending at %s)",
				plural(len(r.Programs)), rate0(rate), seconds(at))})
		}
	}
	for i, d := range r.Destinations {
		if i == maxDestinationFacts {
			out = append(out, fact{"dest", fmt.Sprintf("and %d more (result.json's destinations)", len(r.Destinations)-i)})
			break
		}
		out = append(out, fact{"dest", destinationLine(d)})
	}
	return out
}

// openingLine says, for a load whose pools hold their connections
// forever, how long opening all of them took and at what rate: the
// throughput over the run counts the hold and the teardown too.
func openingLine(r *result.Result) string {
	if r.Model == nil || r.Model.HeldConnections == 0 || r.TimeSeries == nil {
		return ""
	}
	held := r.Model.HeldConnections
	var first float64
	for _, p := range r.TimeSeries.Points {
		if first == 0 && p.Open > 0 {
			first = p.T - r.TimeSeries.IntervalSeconds
		}
		if p.Open >= held {
			return fmt.Sprintf("all %s connections open at %s, %s/s from the first", grouped(held), seconds(p.T),
				rate0(float64(held)/max(p.T-max(first, 0), 1e-3)))
		}
	}
	return ""
}

// memoryLine says what a connection cost in memory: each side's user
// memory, and the kernel's, when the run held enough connections to tell.
func memoryLine(res *result.Resources) string {
	if res == nil {
		return ""
	}
	var parts []string
	for _, side := range []struct {
		name string
		p    *result.ProcessResources
	}{{"client", res.Client}, {"server", res.Server}} {
		if side.p != nil && side.p.RSSPerConnectionBytes > 0 {
			parts = append(parts, fmt.Sprintf("%s %s (%d process%s)", side.name, bytesWords(side.p.RSSPerConnectionBytes),
				side.p.Processes, pluralEs(side.p.Processes)))
		}
	}
	if len(parts) == 0 {
		return ""
	}
	t := "user memory a connection: " + strings.Join(parts, ", ")
	if k := res.Kernel; k != nil && k.PerConnectionBytes > 0 {
		t += fmt.Sprintf("; kernel %s (the machine's slab, %s at the peak)", bytesWords(k.PerConnectionBytes), bytesWords(k.SlabPeakBytes))
	}
	return t
}

// bytesWords prints a size in B, KB, MB or GB (powers of 1024).
func bytesWords(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MB", float64(n)/(1<<20))
	case n >= 10<<10:
		return fmt.Sprintf("%.0f KB", float64(n)/(1<<10))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}

func pluralEs(n int) string {
	if n == 1 {
		return ""
	}
	return "es"
}

// peakOpenRate is the most connections a second the client's kernel
// opened over one interval of the series, and that interval's end.
func peakOpenRate(ts *result.TimeSeries) (rate, at float64) {
	prev := 0.0
	for _, p := range ts.Points {
		dt := p.T - prev
		prev = p.T
		if n := p.Kernel["TcpActiveOpens"]; n > 0 && dt > 0 {
			if r := float64(n) / dt; r > rate {
				rate, at = r, p.T
			}
		}
	}
	return rate, at
}

func rate0(v float64) string { return grouped(int64(math.Round(v))) }

// maxDestinationFacts bounds the destinations a report lists.
const maxDestinationFacts = 5

// destinationLine says how full one destination's ports got.
func destinationLine(d result.DestinationPeak) string {
	s := fmt.Sprintf("%s: at most %d local ports in use", d.Destination, d.PortsInUse)
	if d.Budget > 0 {
		s += fmt.Sprintf(" of its %d (%.0f%%, at %s)", d.Budget, 100*float64(d.PortsInUse)/float64(d.Budget), seconds(d.AtSeconds))
	}
	return s + fmt.Sprintf(" · %d in TIME_WAIT · %d in CLOSE_WAIT at most", d.TimeWait, d.CloseWait)
}

// factsWithNAT is facts and, for a run with a NAT, the NAT's line: what
// the HTML and Markdown reports list, where the text summary gives the
// NAT a line of its own.
func factsWithNAT(r *result.Result) []fact {
	out := facts(r)
	if r.NAT != nil {
		out = append(out, fact{"nat", natLine(r.NAT)})
	}
	return out
}

// slowConnects counts the successful connects that took a second or
// more, from the run's connect histogram (microseconds): the time of the
// kernel's first SYN resend.
func slowConnects(r *result.Result) int64 {
	h, err := r.Latency.Connect.DecodeHDR()
	if err != nil || h == nil {
		return 0
	}
	var n int64
	for _, b := range h.Distribution() {
		if b.From >= 950_000 { // about 1 s, within the histogram's precision
			n += b.Count
		}
	}
	return n
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

// kernelFacts words the kernel's counters that moved and explain how the
// ports fared, each with its cause: what the kernel did that the dials
// alone do not show.
func kernelFacts(r *result.Result) []fact {
	k := r.Kernel
	if k == nil {
		return nil
	}
	var out []fact
	add := func(format string, args ...any) { out = append(out, fact{"kernel", fmt.Sprintf(format, args...)}) }
	c, s := k.Client, k.Server
	if n := c["TcpExtTCPTimeWaitOverflow"]; n > 0 {
		add("the kernel skipped TIME_WAIT for %s socket%s: tcp_max_tw_buckets=%s (their ports were free at once)",
			grouped(n), plural(int(n)), orUnknown(r.Sysctls["net.ipv4.tcp_max_tw_buckets"]))
	}
	if n := s["TcpExtTCPTimeWaitOverflow"]; n > 0 {
		add("the server skipped TIME_WAIT for %s socket%s: its tcp_max_tw_buckets=%s",
			grouped(n), plural(int(n)), orUnknown(r.ServerSysctls["net.ipv4.tcp_max_tw_buckets"]))
	}
	if n := c["TcpExtTWRecycled"]; n > 0 {
		add("connect() took over the ports of %s TIME_WAIT socket%s (tcp_tw_reuse=%s)",
			grouped(n), plural(int(n)), orUnknown(r.Sysctls["net.ipv4.tcp_tw_reuse"]))
	}
	if n := s["TcpExtListenOverflows"]; n > 0 {
		add("the server's accept queue overflowed %s time%s: raise server.backlog (and the server's net.core.somaxconn, %s)",
			grouped(n), plural(int(n)), orUnknown(r.ServerSysctls["net.core.somaxconn"]))
	}
	if n, o := s["TcpExtListenDrops"], s["TcpExtListenOverflows"]; n > o {
		add("the server's listeners dropped %s handshake%s for reasons other than a full accept queue", grouped(n-o), plural(int(n-o)))
	}
	if n := c["TcpExtTCPSynRetrans"]; n > 0 {
		add("the client sent %s SYN%s again: a SYN or its answer went unanswered (a full accept queue, a NAT out of ports, a server that drops SYNs)",
			grouped(n), plural(int(n)))
		if slow := slowConnects(r); slow > 0 {
			add("%s successful connect%s took 1 s or more: the first SYN went unanswered and the kernel's resend, a second later, got through",
				grouped(slow), plural(int(slow)))
		}
	}
	if n := c["TcpExtTCPAbortOnTimeout"] + s["TcpExtTCPAbortOnTimeout"]; n > 0 {
		add("%s connection%s aborted after their retransmissions ran out", grouped(n), plural(int(n)))
	}
	if n := c["TcpExtTCPAbortOnLinger"] + s["TcpExtTCPAbortOnLinger"]; n > 0 {
		add("%s connection%s aborted by a linger timeout", grouped(n), plural(int(n)))
	}
	if n := c["TcpAttemptFails"]; n > 0 {
		add("%s of the client's connection attempts failed in the kernel (refused, reset or timed out; a connect() short of a port never starts one)",
			grouped(n))
	}
	// portex itself resets connections (close: reset, and what the run's
	// end closes): the kernel's count of resets is news only where a reset
	// hit the load.
	if n := c["TcpEstabResets"] + s["TcpEstabResets"]; n > 0 && r.Failures["ECONNRESET"] > 0 {
		add("%s established connection%s ended with a reset (client %s, server %s), portex's own RST closes (close: reset, the run's end) among them",
			grouped(n), plural(int(n)), grouped(c["TcpEstabResets"]), grouped(s["TcpEstabResets"]))
	}
	// The kernel's opens tell something the dials do not only where they
	// differ: a program's connections, or handshakes portex never saw end.
	if a, p := c["TcpActiveOpens"], s["TcpPassiveOpens"]; (a > 0 || p > 0) && a != r.Dials.OK {
		t := fmt.Sprintf("the client's kernel opened %s connection%s (ActiveOpens)", grouped(a), plural(int(a)))
		if s != nil {
			t += fmt.Sprintf(", the server's accepted %s (PassiveOpens)", grouped(p))
		}
		add("%s", t)
	}
	return out
}

// orUnknown is a sysctl's value as read back, or "unknown".
func orUnknown(v string) string {
	if v == "" {
		return "unknown"
	}
	return v
}

// grouped writes a count with thousands separated: "1,204".
func grouped(n int64) string {
	s := strconv.FormatInt(n, 10)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	if neg {
		return "-" + s
	}
	return s
}
