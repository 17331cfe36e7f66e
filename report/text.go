package report

import (
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	"github.com/portex/portex/analysis"
	"github.com/portex/portex/result"
)

// TextOptions adds what the result itself does not know.
type TextOptions struct {
	// Files are the paths written, listed at the end.
	Files []string
}

// WriteText writes the summary a person reads first: for each run, whether
// the ports ran out, after how many connections and how long, the failures
// by class, latency percentiles, and where the files are.
//
// Names and messages come from the result as they are; the summary is
// meant for a terminal, so every control character in it other than line
// breaks is written as a space.
func WriteText(w io.Writer, r *result.ResultFile, opt TextOptions) error {
	tw := &textWriter{w: printableWriter{w}}
	if len(r.Runs) == 0 {
		what := "no runs"
		if r.Stopped == result.StoppedInterrupted {
			what = "interrupted before the first run started"
		}
		tw.line("portex: %s · %s", r.Scenario, what)
	}
	for i, run := range r.Runs {
		if i > 0 {
			tw.line("")
		}
		tw.run(r.Scenario, run)
	}
	if len(opt.Files) > 0 {
		tw.line("")
		tw.line("  files      %s", strings.Join(opt.Files, "\n             "))
	}
	return tw.err
}

type textWriter struct {
	w   io.Writer
	err error
}

func (t *textWriter) line(format string, args ...any) {
	if t.err == nil {
		_, t.err = fmt.Fprintf(t.w, format+"\n", args...)
	}
}

func (t *textWriter) run(scenario string, r *result.Result) {
	t.line("portex: %s · variant %s · %s · %s (stopped: %s)",
		scenario, r.Variant, r.Runtime, seconds(r.ElapsedSeconds), r.Stopped)
	if r.Error != "" {
		t.line("  ERROR      %s", r.Error)
	}
	for _, n := range r.Notes {
		t.line("  note       %s", n)
	}
	t.line("")
	t.line("  %s", Verdict(r))
	t.line("")
	// A run of programs has no dials of portex's: the kernel's side of
	// theirs is in the facts.
	pools := len(r.Programs) == 0 || r.Dials.Attempted > 0
	if pools {
		t.line("  dials      attempted %d · ok %d · failed %d · peak open %d",
			r.Dials.Attempted, r.Dials.OK, r.Dials.Failed, r.PeakOpen)
		t.line("  failures   %s", failures(r.Failures))
	}
	for _, f := range facts(r) {
		if f.Label != "note" {
			t.line("  %-10s %s", f.Label, f.Text)
		}
	}
	if m := r.Model; m != nil && m.SlowPortsAbove > 0 {
		// The model's card says so too; a summary has no card.
		t.line("  ports      %s", analysis.SlowPortsNote(m.PortsNeeded, m.SlowPortsAbove))
	}
	if pools {
		t.line("  connect    %s", latency(r.Latency.Connect))
	}
	if r.Latency.ScheduleLag.Count > 0 {
		t.line("  sched lag  %s", latency(r.Latency.ScheduleLag))
	}
	if r.Latency.EchoRTT.Count > 0 {
		t.line("  echo rtt   %s", latency(r.Latency.EchoRTT))
	}
	if len(r.Pools) > 1 {
		// The figures start in the column of the others; the names, padded
		// to the longest, keep the pools' figures aligned with each other.
		width := 0
		for _, p := range r.Pools {
			width = max(width, len(p.Name))
		}
		for _, p := range r.Pools {
			t.line("  pool       %-*s  ok %d · failed %d · %s", width, p.Name, p.Dials.OK, p.Dials.Failed, failures(p.Failures))
		}
	}
	if len(r.Sysctls) > 0 {
		t.line("  sysctls    %s", sysctls(r.Sysctls))
	}
	if n := r.NAT; n != nil {
		t.line("  nat        %s", natLine(n))
	}
	if s := r.Server; s != nil && s.Program != nil {
		// The user's server served the plain ports: the kernel line says
		// what it accepted.
		t.line("  server     your program %s", ProgramLine(*s.Program))
	} else if s != nil {
		t.line("  server     accepted %d · closed first %d · closed by client %d · echoed %s",
			s.Accepted, s.ClosedByServer, s.ClosedByPeer, bytesIEC(s.BytesEchoed))
	}
	if m := r.Model; m != nil {
		t.line("  model      %s", modelLine(m, r))
	}
	if m := r.Scaled; m != nil {
		t.line("  scaled     %s", scaledLine(m))
	}
	for i, x := range r.Expectations {
		label := "expect    "
		if i > 0 {
			label = "          "
		}
		mark := "✓"
		if !x.Pass {
			mark = "✗ FAILED"
		}
		t.line("  %s %s %s: expected %s, measured %s", label, mark, x.Name, x.Expected, x.Measured)
	}
}

// scaledLine says what the same load means in another range.
func scaledLine(m *result.Model) string {
	var b strings.Builder
	fmt.Fprintf(&b, "with %d ports the same load ", m.PortBudget)
	if m.ExhaustionAtSeconds != nil {
		fmt.Fprintf(&b, "runs out after %s", time.Duration(*m.ExhaustionAtSeconds*float64(time.Second)).Round(time.Millisecond))
	} else {
		b.WriteString("never runs out")
	}
	if m.MaxSustainableRatePerS != nil {
		fmt.Fprintf(&b, "; it sustains at most %.1f new connections/s per destination", *m.MaxSustainableRatePerS)
	}
	return b.String()
}

// modelLine puts the capacity model's prediction next to the measurement.
func modelLine(m *result.Model, r *result.Result) string {
	var b strings.Builder
	switch {
	case m.ExhaustionAtSeconds == nil && r.Exhaustion == nil:
		b.WriteString("predicts no exhaustion, and none was measured")
	case m.ExhaustionAtSeconds == nil:
		fmt.Fprintf(&b, "predicts no exhaustion, but the ports ran out at %s", seconds(r.Exhaustion.AtSeconds))
	case r.Exhaustion == nil:
		fmt.Fprintf(&b, "predicts exhaustion at %s; none was measured in %s", seconds(*m.ExhaustionAtSeconds), seconds(r.ElapsedSeconds))
	case m.Where == "nat" && r.Exhaustion.Where == "nat":
		// The client sees a NAT's drop only as its dial times out.
		fmt.Fprintf(&b, "predicts the NAT runs out at %s; measured at %s, when the first dial it dropped timed out",
			seconds(*m.ExhaustionAtSeconds), seconds(r.Exhaustion.AtSeconds))
	default:
		fmt.Fprintf(&b, "predicts exhaustion at %s, measured %s", seconds(*m.ExhaustionAtSeconds), seconds(r.Exhaustion.AtSeconds))
		if m.RelativeError != nil {
			fmt.Fprintf(&b, " (%+.1f%%)", *m.RelativeError*100)
		}
	}
	if m.MaxSustainableRatePerS != nil {
		fmt.Fprintf(&b, "; %s sustain at most %.1f new connections/s per destination", budgetWords(m), *m.MaxSustainableRatePerS)
	}
	if c := m.Check; c != nil {
		fmt.Fprintf(&b, "; %s", checkWords(m, c))
	}
	return b.String()
}

// budgetWords names the model's budget: "100 ports", "150 usable of 200
// ports".
func budgetWords(m *result.Model) string {
	if m.Where == "nat" {
		return fmt.Sprintf("%d NAT ports", m.PortBudget)
	}
	if m.PortRange > m.PortBudget {
		return fmt.Sprintf("%d usable of %d ports", m.PortBudget, m.PortRange)
	}
	return fmt.Sprintf("%d ports", m.PortBudget)
}

// checkWords sets the model's state against the measured one.
func checkWords(m *result.Model, c *result.ModelCheck) string {
	if m.Where == "nat" {
		t := fmt.Sprintf("at %s it expects %.0f NAT ports in use per NAT address and destination, the router's table held %.0f", seconds(c.AtSeconds), c.Ports, c.MeasuredPorts)
		if !c.Agrees {
			t += " (the model does not match this run)"
		}
		return t
	}
	t := fmt.Sprintf("at %s it expects %.0f ports in use and %.0f TIME_WAIT sockets per destination, measured %.0f and %.0f",
		seconds(c.AtSeconds), c.Ports, c.TimeWait, c.MeasuredPorts, c.MeasuredTimeWait)
	if !c.Agrees {
		t += " (the model does not match this run)"
	}
	return t
}

// Verdict is the one line that answers "did the ports run out, and why",
// and says on what the answer rests (see Judge).
func Verdict(r *result.Result) string {
	if r.Verdict != nil && r.Verdict.Text != "" {
		return r.Verdict.Text // as judged when written (by run, or merge)
	}
	return analysis.Judge(r).Text
}

func latency(s result.LatencySummary) string {
	if s.Count == 0 {
		return "no samples"
	}
	return fmt.Sprintf("p50 %s · p90 %s · p99 %s · max %s (%d samples)",
		micros(s.P50Us), micros(s.P90Us), micros(s.P99Us), micros(s.MaxUs), s.Count)
}

func sysctls(m map[string]string) string {
	names := make([]string, 0, len(m))
	for k := range m {
		names = append(names, k)
	}
	sort.Strings(names)
	parts := make([]string, len(names))
	for i, n := range names {
		parts[i] = strings.TrimPrefix(strings.TrimPrefix(n, "net.ipv4."), "net.") + "=" + m[n]
	}
	return strings.Join(parts, " ")
}

func micros(us int64) string {
	d := time.Duration(us) * time.Microsecond
	switch {
	case d < time.Millisecond:
		return fmt.Sprintf("%dµs", us)
	case d < time.Second:
		return fmt.Sprintf("%.2fms", float64(us)/1e3)
	default:
		return fmt.Sprintf("%.2fs", d.Seconds())
	}
}

func bytesIEC(n int64) string {
	switch {
	case n < 1<<10:
		return fmt.Sprintf("%d B", n)
	case n < 1<<20:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	default:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	}
}

// natLine says what the NAT was and how the router's conntrack counters
// and table moved over the run.
func natLine(n *result.NAT) string {
	s := fmt.Sprintf("%s, a pool of %d ports per destination", n.Mode, n.Ports)
	if n.Addresses > 1 {
		s += fmt.Sprintf(" and NAT address (%d addresses)", n.Addresses)
	}
	if n.PerClientPorts > 0 {
		s += fmt.Sprintf(", static slices of %d per client address", n.PerClientPorts)
	}
	if n.RandomFully {
		s += ", fully random"
	}
	if n.ConntrackMax > 0 {
		s += fmt.Sprintf(", conntrack limited to %d connections", n.ConntrackMax)
	}
	if tw := n.Sysctls["net.netfilter.nf_conntrack_tcp_timeout_time_wait"]; tw != "" {
		s += fmt.Sprintf(", conntrack TIME_WAIT %ss", tw)
	}
	if n.Start == nil || n.End == nil {
		return s + " · the router's conntrack counters could not be read"
	}
	s += fmt.Sprintf(" · router conntrack insert_failed +%d · drop +%d · early_drop +%d",
		n.End.InsertFailed-n.Start.InsertFailed, n.End.Drop-n.Start.Drop, n.End.EarlyDrop-n.Start.EarlyDrop)
	if n.ConntrackMax > 0 {
		s += fmt.Sprintf(" · dropped by the limit +%d", n.End.LimitDrops-n.Start.LimitDrops)
	}
	if p := n.Peak; p != nil {
		s += fmt.Sprintf(" · at most %d entries (%d TIME_WAIT at most)", p.Entries, n.PeakTimeWait)
	}
	return s
}
