package report

import (
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/portex/portex/loadgen"
	"github.com/portex/portex/result"
)

// WriteMarkdown writes summary.md: GitHub-flavoured Markdown for a CI job
// summary. A headline per run (with ✅ or ❌ per expectation), the variants
// side by side, failures by class, latency percentiles, the expectations
// with expected against measured, and the capacity model's prediction.
func WriteMarkdown(w io.Writer, r *result.ResultFile) error {
	mw := &mdWriter{w: w}
	mw.line("## portex: %s", mdEscape(r.Scenario))
	mw.line("")
	if len(r.Runs) == 0 {
		mw.line("No run completed.")
		return mw.err
	}
	if total, failed := expectationCounts(r); total > 0 {
		if failed == 0 {
			mw.line("✅ **All %d expectations met.**", total)
		} else {
			mw.line("❌ **%d of %d expectations failed.**", failed, total)
		}
		mw.line("")
	}
	for _, run := range r.Runs {
		mw.line("- %s", mdHeadline(run))
		for _, f := range factsWithNAT(run) {
			mw.line("  - %s: %s", f.Label, mdEscape(f.Text))
		}
	}
	mw.line("")

	mw.line("### Variants")
	mw.line("")
	mw.line("| variant | verdict | runs out at | dials ok | failed | dropped | ok before exhaustion | p99 connect | peak TIME_WAIT | stopped |")
	mw.line("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |")
	for _, run := range r.Runs {
		f := Measure(run)
		c := compareCells(f, f, true)
		mw.line("| %s | %s | %s | %d | %d | %d | %s | %s | %d | %s |", mdEscape(run.Variant), c.verdict, c.time,
			run.Dials.OK, run.Dials.Failed, run.Dropped, c.before, c.p99, f.PeakTimeWait, mdEscape(run.Stopped))
	}
	mw.line("")
	mw.line("\"exhausted\" and \"held\" are measured; \"not in Xs\": neither within the run, and the capacity model's prediction is marked \"~ (model)\".")
	mw.line("")

	if classes := classesIn(r); len(classes) > 0 {
		mw.line("### Failures by class")
		mw.line("")
		// Rows are built in one buffer each: the classes of a file
		// are as many as it says, and the work stays linear in them.
		var row strings.Builder
		row.WriteString("| variant |")
		for _, class := range classes {
			row.WriteString(" " + mdEscape(class) + " |")
		}
		mw.line("%s", row.String())
		row.Reset()
		row.WriteString("| --- |")
		for range classes {
			row.WriteString(" ---: |")
		}
		mw.line("%s", row.String())
		for _, run := range r.Runs {
			row.Reset()
			row.WriteString("| " + mdEscape(run.Variant) + " |")
			for _, class := range classes {
				row.WriteString(" " + strconv.FormatInt(run.Failures[class], 10) + " |")
			}
			mw.line("%s", row.String())
		}
		mw.line("")
	}

	mw.line("### Latency")
	mw.line("")
	mw.line("| variant | | p50 | p90 | p99 | p99.9 | max | samples |")
	mw.line("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |")
	for _, run := range r.Runs {
		for _, l := range []struct {
			name string
			s    result.LatencySummary
		}{{"connect", run.Latency.Connect}, {"echo rtt", run.Latency.EchoRTT}} {
			if l.s.Count == 0 {
				mw.line("| %s | %s | — | — | — | — | — | 0 |", mdEscape(run.Variant), l.name)
				continue
			}
			mw.line("| %s | %s | %s | %s | %s | %s | %s | %d |", mdEscape(run.Variant), l.name,
				micros(l.s.P50Us), micros(l.s.P90Us), micros(l.s.P99Us), micros(l.s.P999Us), micros(l.s.MaxUs), l.s.Count)
		}
	}
	mw.line("")

	if total, _ := expectationCounts(r); total > 0 {
		mw.line("### Expectations")
		mw.line("")
		mw.line("| | variant | expectation | expected | measured |")
		mw.line("| --- | --- | --- | --- | --- |")
		for _, run := range r.Runs {
			for _, e := range run.Expectations {
				mw.line("| %s | %s | %s | %s | %s |", passIcon(e.Pass), mdEscape(run.Variant),
					mdEscape(e.Name), mdEscape(e.Expected), mdEscape(e.Measured))
			}
		}
		mw.line("")
	}

	if hasModel(r) {
		mw.line("### Capacity model")
		mw.line("")
		mw.line("| variant | ports needed | port budget | predicted exhaustion | measured | error | max sustainable rate |")
		mw.line("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
		for _, run := range r.Runs {
			m := run.Model
			if m == nil {
				continue
			}
			mc := modelCells(run)
			measured := mc.measured
			if mc.measuredNote != "" {
				measured += " (" + mc.measuredNote + ")"
			}
			mw.line("| %s | %s | %d | %s | %s | %s | %s |", mdEscape(run.Variant),
				formatCount(m.PortsNeeded)+strings.TrimSuffix(neededNote(m), "; "), m.PortBudget, mc.predicted, measured, mc.relErr, mc.maxRate)
		}
		mw.line("")
	}
	return mw.err
}

// mdHeadline is a run's line in the summary: its verdict, then whether it
// met its expectations.
func mdHeadline(run *result.Result) string {
	var b strings.Builder
	fmt.Fprintf(&b, "**%s**: %s", mdEscape(run.Variant), mdEscape(Verdict(run)))
	if run.Stopped == result.StoppedError {
		b.WriteString(" · ❌ the run failed")
	}
	if len(run.Expectations) == 0 {
		return b.String()
	}
	var failed []string
	for _, e := range run.Expectations {
		if !e.Pass {
			failed = append(failed, mdEscape(e.Name))
		}
	}
	b.WriteString(" ·")
	for _, e := range run.Expectations {
		b.WriteString(" " + passIcon(e.Pass))
	}
	if len(failed) == 0 {
		fmt.Fprintf(&b, " %d of %d expectations met", len(run.Expectations), len(run.Expectations))
	} else {
		fmt.Fprintf(&b, " %d of %d expectations failed: %s", len(failed), len(run.Expectations), strings.Join(failed, ", "))
	}
	return b.String()
}

func passIcon(pass bool) string {
	if pass {
		return "✅"
	}
	return "❌"
}

// expectationCounts counts the expectations of every run, and the failed.
func expectationCounts(r *result.ResultFile) (total, failed int) {
	for _, run := range r.Runs {
		for _, e := range run.Expectations {
			total++
			if !e.Pass {
				failed++
			}
		}
	}
	return total, failed
}

// classesIn lists the failure classes any run or point of the file holds,
// in loadgen's fixed order, then any class it does not know, sorted.
func classesIn(r *result.ResultFile) []string {
	seen := map[string]bool{}
	for _, run := range r.Runs {
		for c, n := range run.Failures {
			if n > 0 {
				seen[c] = true
			}
		}
		if run.TimeSeries != nil {
			for _, p := range run.TimeSeries.Points {
				for c, n := range p.Failures {
					if n > 0 {
						seen[c] = true
					}
				}
			}
		}
	}
	return orderClasses(seen)
}

// orderClasses puts the classes of a set in loadgen's order, unknown
// ones last, sorted.
func orderClasses(seen map[string]bool) []string {
	var out []string
	for _, c := range loadgen.ClassNames() {
		if seen[c] {
			out = append(out, c)
			delete(seen, c)
		}
	}
	var rest []string
	for c := range seen {
		rest = append(rest, c)
	}
	slices.Sort(rest)
	return append(out, rest...)
}

func hasModel(r *result.ResultFile) bool {
	for _, run := range r.Runs {
		if run.Model != nil {
			return true
		}
	}
	return false
}

// modelView is the model's prediction next to the measurement, formatted.
type modelView struct {
	predicted, measured, relErr, maxRate string
	// measuredNote qualifies "never": the run may have ended before the
	// predicted moment.
	measuredNote string
	// tone is "good" when prediction and measurement agree (within 10%),
	// "bad" when they do not, "" when the run cannot tell.
	tone string
}

func modelCells(run *result.Result) modelView {
	m := run.Model
	v := modelView{predicted: "never", measured: "never", relErr: "—", maxRate: "—"}
	if m.MaxSustainableRatePerS != nil {
		v.maxRate = fmt.Sprintf("%s/s", formatCount(*m.MaxSustainableRatePerS))
	}
	if m.ExhaustionAtSeconds != nil {
		v.predicted = atTime(*m.ExhaustionAtSeconds)
	}
	if run.Exhaustion != nil {
		v.measured = atTime(run.Exhaustion.AtSeconds)
	}
	switch {
	case m.RelativeError != nil:
		v.relErr = fmt.Sprintf("%+.1f%%", 100**m.RelativeError)
		v.tone = "bad"
		if math.Abs(*m.RelativeError) <= 0.1 {
			v.tone = "good"
		}
	case m.ExhaustionAtSeconds == nil && run.Exhaustion == nil:
		v.relErr, v.tone = "agree", "good"
	case m.ExhaustionAtSeconds != nil && run.Exhaustion != nil:
		// Both ran out, and the model gives no relative error (a
		// prediction of 0 s has none).
	case m.ExhaustionAtSeconds != nil && *m.ExhaustionAtSeconds > run.ElapsedSeconds:
		v.measuredNote = "the run ended at " + atTime(run.ElapsedSeconds)
	default:
		v.relErr, v.tone = "disagree", "bad"
	}
	return v
}

// mdWriter writes lines and keeps the first error.
type mdWriter struct {
	w   io.Writer
	err error
}

func (m *mdWriter) line(format string, args ...any) {
	if m.err == nil {
		_, m.err = fmt.Fprintf(m.w, format+"\n", args...)
	}
}

// mdEscape makes text safe inside a Markdown table cell: no line breaks,
// no cell separators, no HTML.
var mdReplacer = strings.NewReplacer("|", `\|`, "\n", " ", "\r", " ", "<", "&lt;", ">", "&gt;", "`", "\\`", "*", `\*`)

func mdEscape(s string) string { return mdReplacer.Replace(Printable(s)) }
