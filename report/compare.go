package report

import (
	"bytes"
	"cmp"
	"fmt"
	"io"
	"math"
	"path/filepath"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/portex/portex/analysis"
	"github.com/portex/portex/result"
)

// Figures are the numbers that tell runs apart: what a comparison puts side
// by side, and what the variants table of every report shows.
type Figures struct {
	// Label names the run: its variant, prefixed by its source's name in
	// a comparison of several files.
	Label     string
	Exhausted bool
	// Verdict is the run's verdict (Judge).
	Verdict result.Verdict
	// DialsOK counts every successful dial; DialsOKBefore those started
	// before the ports ran out (all of them when they never did).
	DialsOK       int64
	DialsOKBefore int64
	// TimeToExhaustion is in seconds from the start; nil when the ports
	// never ran out.
	TimeToExhaustion *float64
	// P99ConnectUs is the 99th percentile of connect latency, 0 without
	// samples.
	P99ConnectUs int64
	// PeakTimeWait is the most client sockets seen in TIME_WAIT at once.
	PeakTimeWait int
	// Failures counts every failure; ByClass splits them by class.
	Failures int64
	ByClass  map[string]int64
	// Dropped counts open-model arrivals that found every slot busy.
	Dropped int64
}

// Measure reads a run's figures from its result.
func Measure(r *result.Result) Figures {
	f := Figures{
		Label:         r.Variant,
		DialsOK:       r.Dials.OK,
		DialsOKBefore: r.Dials.OK,
		P99ConnectUs:  r.Latency.Connect.P99Us,
		PeakTimeWait:  int(analysis.PeakTimeWait(r)),
		ByClass:       r.Failures,
		Verdict:       analysis.Judge(r),
		Dropped:       r.Dropped,
	}
	for _, n := range r.Failures {
		f.Failures += n
	}
	if ex := r.Exhaustion; ex != nil {
		f.Exhausted = true
		f.DialsOKBefore = ex.DialsOKBefore
		at := ex.AtSeconds
		f.TimeToExhaustion = &at
	}
	return f
}

// socketSample is the client's socket states at one moment of a run.
type socketSample struct {
	t      float64
	states result.SocketStates
}

// clientSamples collects every snapshot of the client's sockets a result
// holds, in time order.
func clientSamples(r *result.Result) []socketSample {
	var out []socketSample
	if ts := r.TimeSeries; ts != nil {
		for _, p := range ts.Points {
			if p.Client != nil {
				out = append(out, socketSample{p.T, *p.Client})
			}
		}
	}
	for _, ev := range r.Events {
		if ev.Progress != nil && ev.Progress.Client != nil {
			out = append(out, socketSample{ev.AtSeconds, *ev.Progress.Client})
		}
	}
	if ex := r.Exhaustion; ex != nil && ex.Sockets != nil {
		out = append(out, socketSample{ex.AtSeconds, *ex.Sockets})
	}
	// Stable, so that equal times keep the order above.
	slices.SortStableFunc(out, func(a, b socketSample) int { return cmp.Compare(a.t, b.t) })
	return dedupSamples(out)
}

// dedupSamples drops a snapshot identical to the previous one at the same
// time (the exhaustion event and the exhaustion record carry the same).
func dedupSamples(s []socketSample) []socketSample {
	out := s[:0]
	for i, x := range s {
		if i > 0 && x == s[i-1] {
			continue
		}
		out = append(out, x)
	}
	return out
}

// Source is one result file in a comparison, and the name it goes by.
type Source struct {
	Name string
	File *result.ResultFile
}

// SourceName is a short name for a result file's path: its folder's name
// when the file is called result.json, as portex run writes it, else the
// file's name without ".json".
func SourceName(path string) string {
	base := filepath.Base(path)
	if base == "result.json" {
		if dir := filepath.Base(filepath.Dir(path)); dir != "." && dir != "/" {
			return dir
		}
	}
	return strings.TrimSuffix(base, ".json")
}

// Compare measures every run of the sources, in order. A run is labelled
// by its variant, prefixed with its source's name when there are several
// sources.
func Compare(srcs []Source) []Figures {
	var out []Figures
	for _, s := range srcs {
		for _, r := range s.File.Runs {
			f := Measure(r)
			if len(srcs) > 1 {
				f.Label = s.Name
				if len(s.File.Runs) > 1 || r.Variant != "default" {
					f.Label += ":" + r.Variant
				}
			}
			out = append(out, f)
		}
	}
	return out
}

// WriteCompare writes the runs of the sources side by side, as a text
// table, with each figure's difference from the first run.
//
// The comparison is meant for a terminal: labels lose their control
// characters (see Printable), and so does anything else written.
func WriteCompare(w io.Writer, srcs []Source) error {
	w = printableWriter{w}
	rows := Compare(srcs)
	for i := range rows {
		rows[i].Label = Printable(rows[i].Label)
	}
	if len(rows) == 0 {
		_, err := fmt.Fprintln(w, "no runs to compare")
		return err
	}
	var table bytes.Buffer
	tw := tabwriter.NewWriter(&table, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "run\tverdict\truns out at\tΔ\tok before\tfailed\tdropped\tp99 conn\tpeak TW")
	for i, f := range rows {
		c := compareCells(rows[0], f, i == 0)
		c.before = fmt.Sprint(f.DialsOKBefore)
		c.time = strings.Replace(c.time, " (model)", " model", 1)
		var dt string
		if i > 0 {
			dt = "—"
			if bt, ft := rows[0].Verdict.ExhaustionAtSeconds, f.Verdict.ExhaustionAtSeconds; bt != nil && ft != nil {
				dt = ratio(*bt, *ft)
			}
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n",
			f.Label, c.verdict, c.time, dt, c.before, c.failures, c.dropped, c.p99, c.timeWait)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	// Empty cells at the end of a row leave padding behind.
	for _, line := range strings.Split(strings.TrimSuffix(table.String(), "\n"), "\n") {
		if _, err := io.WriteString(w, strings.TrimRight(line, " ")+"\n"); err != nil {
			return err
		}
	}
	_, err := fmt.Fprintf(w, "\n%s\nΔ: against %s.\n", compareLegend, rows[0].Label)
	return err
}

// compareLegend says what the verdicts and the marks of a comparison mean.
const compareLegend = `verdict: "exhausted" and "held" are measured (held: ports in use flat below
the budget for a full cycle); "not in Xs": neither within the run, and "runs out at"
gives the capacity model's prediction, marked "~" and "model". ok before: the dials
that succeeded before the ports ran out (all of them when they never did). TW: TIME_WAIT.`

// WriteCompareMarkdown writes the same comparison as a GitHub-flavoured
// Markdown table.
func WriteCompareMarkdown(w io.Writer, srcs []Source) error {
	rows := Compare(srcs)
	mw := &mdWriter{w: w}
	if len(rows) == 0 {
		mw.line("No runs to compare.")
		return mw.err
	}
	mw.line("| run | verdict | runs out at | dials ok before | failed | dropped | p99 connect | peak TIME_WAIT |")
	mw.line("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |")
	for i, f := range rows {
		c := compareCells(rows[0], f, i == 0)
		mw.line("| %s | %s | %s | %s | %s | %s | %s | %s |", mdEscape(f.Label), c.verdict,
			withDelta(c.time, c.timeDelta), withDelta(c.before, c.beforeDelta), withDelta(c.failures, c.failuresDelta),
			c.dropped, withDelta(c.p99, c.p99Delta), withDelta(c.timeWait, c.timeWaitDelta))
	}
	mw.line("")
	mw.line("Differences are against **%s**. %s", mdEscape(rows[0].Label), strings.ReplaceAll(compareLegend, "\n", " "))
	return mw.err
}

func withDelta(v, d string) string {
	if d == "" || d == "—" {
		return v
	}
	return v + " (" + d + ")"
}

// cells are one comparison row, formatted.
type cells struct {
	exhausted, verdict      string
	dropped                 string
	before, beforeDelta     string
	time, timeDelta         string
	p99, p99Delta           string
	timeWait, timeWaitDelta string
	failures, failuresDelta string
}

func compareCells(base, f Figures, isBase bool) cells {
	c := cells{
		exhausted: "no",
		verdict:   verdictShort(f.Verdict),
		before:    fmt.Sprintf("%d", f.DialsOKBefore),
		time:      exhaustionCell(f.Verdict),
		p99:       "—",
		timeWait:  fmt.Sprintf("%d", f.PeakTimeWait),
		failures:  fmt.Sprintf("%d", f.Failures),
		dropped:   fmt.Sprintf("%d", f.Dropped),
	}
	if f.Exhausted {
		c.exhausted = "yes"
	} else {
		c.before += " (all)"
	}
	if f.P99ConnectUs > 0 {
		c.p99 = micros(f.P99ConnectUs)
	}
	if isBase {
		return c
	}
	c.beforeDelta = deltaInt(base.DialsOKBefore, f.DialsOKBefore)
	c.timeWaitDelta = deltaInt(int64(base.PeakTimeWait), int64(f.PeakTimeWait))
	c.failuresDelta = deltaInt(base.Failures, f.Failures)
	c.p99Delta = "—"
	if base.P99ConnectUs > 0 && f.P99ConnectUs > 0 {
		d := f.P99ConnectUs - base.P99ConnectUs
		c.p99Delta = signed(d, micros(abs64(d))) + percent(float64(d), float64(base.P99ConnectUs))
	}
	c.timeDelta = "—"
	if bt, ft := base.Verdict.ExhaustionAtSeconds, f.Verdict.ExhaustionAtSeconds; bt != nil && ft != nil {
		d := *ft - *bt
		c.timeDelta = signedF(d, atTime(math.Abs(d))) + percent(d, *bt)
		if f.Verdict.Predicted {
			c.timeDelta = "~" + c.timeDelta
		}
	}
	return c
}

// verdictShort is a verdict in a table cell.
func verdictShort(v result.Verdict) string {
	switch v.Outcome {
	case analysis.OutcomeExhausted:
		return "exhausted"
	case analysis.OutcomeHeld:
		return "held"
	case analysis.OutcomeFDs:
		return "out of fds"
	case analysis.OutcomeFailing:
		return "failing, not in " + atTime(v.WithinSeconds)
	case analysis.OutcomeInterrupted:
		return "interrupted"
	case analysis.OutcomeError:
		return "error"
	}
	return "not in " + atTime(v.WithinSeconds)
}

// exhaustionCell is when the ports ran out, or when the model says they
// will (marked), or "never" for a run that held.
func exhaustionCell(v result.Verdict) string {
	switch {
	case v.ExhaustionAtSeconds != nil && v.Predicted:
		return "~" + atTime(*v.ExhaustionAtSeconds) + " (model)"
	case v.ExhaustionAtSeconds != nil:
		return atTime(*v.ExhaustionAtSeconds)
	case v.Outcome == analysis.OutcomeHeld:
		return "never"
	case v.SteadyPorts != nil:
		return "never (model)"
	}
	return "—"
}

// ratio is a compact change from base to v: a percentage, or a factor
// from ten times up.
func ratio(base, v float64) string {
	switch {
	case v == base || (base != 0 && math.Abs(100*(v-base)/base) < 0.5):
		return "±0"
	case base == 0:
		return "—"
	case v/base >= 10:
		return fmt.Sprintf("×%.0f", v/base)
	}
	return fmt.Sprintf("%+.0f%%", 100*(v-base)/base)
}

func deltaInt(base, v int64) string {
	d := v - base
	return signed(d, fmt.Sprintf("%d", abs64(d))) + percent(float64(d), float64(base))
}

func signed(d int64, mag string) string { return signedF(float64(d), mag) }

func signedF(d float64, mag string) string {
	switch {
	case d > 0:
		return "+" + mag
	case d < 0:
		return "-" + mag
	}
	return "±0"
}

// percent is the relative change, as a factor from ten times up, or
// nothing when there is no base to compare with, or no change.
func percent(d, base float64) string {
	if base == 0 || d == 0 {
		return ""
	}
	if r := (base + d) / base; r >= 10 {
		return fmt.Sprintf(" ×%.0f", r)
	}
	return fmt.Sprintf(" %+.0f%%", 100*d/base)
}

func abs64(n int64) int64 {
	if n < 0 {
		return -n
	}
	return n
}

// atTime formats seconds from a run's start: in milliseconds below one
// second, where two decimals of a second would hide the figure.
func atTime(s float64) string {
	if math.Abs(s) < 1 {
		return fmt.Sprintf("%.1fms", s*1e3)
	}
	return fmt.Sprintf("%.2fs", s)
}
