package analysis

import (
	"fmt"
	"sort"
	"time"

	"github.com/portex/portex/result"
)

// Expect is what a scenario expects of a run; portex checks it after the
// run and exits 1 when any expectation fails. Nil fields are not checked.
type Expect struct {
	Exhausted *bool `json:"exhausted,omitempty"`
	// Within: exhaustion no later than this.
	Within time.Duration `json:"within,omitempty"`
	// DialsOK bounds the successful dials.
	DialsOK *Bounds `json:"dials_ok,omitempty"`
	// Failures bounds the failures of each class, by class name.
	Failures map[string]Bounds `json:"failures,omitempty"`
	// P99Connect: the 99th percentile of connect latency stays below it.
	P99Connect time.Duration `json:"p99_connect,omitempty"`
	// P50ScheduleLag and P99ScheduleLag: those percentiles of the
	// schedule lag (see result.Latency.ScheduleLag) stay below them.
	P50ScheduleLag time.Duration `json:"p50_schedule_lag,omitempty"`
	P99ScheduleLag time.Duration `json:"p99_schedule_lag,omitempty"`
	// MaxTimeWait: the client's TIME_WAIT count never exceeds it.
	MaxTimeWait *int64 `json:"max_time_wait,omitempty"`
	// ExitCode is the exit status every program of the run must end with.
	ExitCode *int `json:"exit_code,omitempty"`
	// Verdict is the outcome the run's verdict must have (see Judge):
	// "held" asks the run to show its steady state, which a run that only
	// did not run out does not.
	Verdict string `json:"verdict,omitempty"`
}

// ExpectableVerdicts are the outcomes an expectation may ask for.
var ExpectableVerdicts = []string{OutcomeExhausted, OutcomeHeld, OutcomeNotExhausted, OutcomeFDs}

// Bounds is an inclusive range; a nil end is open.
type Bounds struct {
	Min *int64 `json:"min,omitempty"`
	Max *int64 `json:"max,omitempty"`
}

// String formats the bounds: "200", ">= 1", ">= 10 and <= 20".
func (b Bounds) String() string {
	switch {
	case b.Min != nil && b.Max != nil && *b.Min == *b.Max:
		return fmt.Sprint(*b.Min)
	case b.Min != nil && b.Max != nil:
		return fmt.Sprintf(">= %d and <= %d", *b.Min, *b.Max)
	case b.Min != nil:
		return fmt.Sprintf(">= %d", *b.Min)
	case b.Max != nil:
		return fmt.Sprintf("<= %d", *b.Max)
	}
	return "any"
}

// Contains reports whether n is within the bounds.
func (b Bounds) Contains(n int64) bool {
	return (b.Min == nil || n >= *b.Min) && (b.Max == nil || n <= *b.Max)
}

// Check evaluates a run against its expectations, in a fixed order.
func Check(e *Expect, r *result.Result) []result.Expectation {
	if e == nil {
		return nil
	}
	var out []result.Expectation
	add := func(name, expected, measured string, pass bool) {
		out = append(out, result.Expectation{Name: name, Expected: expected, Measured: measured, Pass: pass})
	}
	exhausted := r.Exhaustion != nil
	if e.Exhausted != nil {
		add("exhausted", fmt.Sprint(*e.Exhausted), fmt.Sprint(exhausted), exhausted == *e.Exhausted)
	}
	if e.Within > 0 {
		measured, pass := "never", false
		if exhausted {
			at := time.Duration(r.Exhaustion.AtSeconds * float64(time.Second))
			measured, pass = at.Round(time.Millisecond).String(), at <= e.Within
		}
		add("within", "exhaustion by "+e.Within.String(), measured, pass)
	}
	if b := e.DialsOK; b != nil {
		add("dials_ok", b.String(), fmt.Sprint(r.Dials.OK), b.Contains(r.Dials.OK))
	}
	classes := make([]string, 0, len(e.Failures))
	for c := range e.Failures {
		classes = append(classes, c)
	}
	sort.Strings(classes)
	for _, c := range classes {
		b := e.Failures[c]
		n := r.Failures[c]
		add("failures."+c, b.String(), fmt.Sprint(n), b.Contains(n))
	}
	if e.P99Connect > 0 {
		p99 := time.Duration(r.Latency.Connect.P99Us) * time.Microsecond
		add("p99_connect", "< "+e.P99Connect.String(), p99.String(), r.Latency.Connect.Count > 0 && p99 < e.P99Connect)
	}
	lag := r.Latency.ScheduleLag
	for _, b := range []struct {
		name  string
		bound time.Duration
		us    int64
	}{{"p50_schedule_lag", e.P50ScheduleLag, lag.P50Us}, {"p99_schedule_lag", e.P99ScheduleLag, lag.P99Us}} {
		switch {
		case b.bound <= 0:
		case lag.Count == 0:
			// Only arrivals of the open model have a schedule.
			add(b.name, "< "+b.bound.String(), "no samples (no pool with a rate)", false)
		default:
			v := time.Duration(b.us) * time.Microsecond
			add(b.name, "< "+b.bound.String(), v.String(), v < b.bound)
		}
	}
	if e.MaxTimeWait != nil {
		peak := PeakTimeWait(r)
		add("max_time_wait", fmt.Sprintf("<= %d", *e.MaxTimeWait), fmt.Sprint(peak), peak <= *e.MaxTimeWait)
	}
	if e.ExitCode != nil {
		if len(r.Programs) == 0 {
			add("exit_code", fmt.Sprint(*e.ExitCode), "no program ran", false)
		}
		for _, p := range r.Programs {
			measured := fmt.Sprint(p.ExitCode)
			if p.Signal != "" {
				measured = "signal " + p.Signal
			}
			add("exit_code "+p.Name, fmt.Sprint(*e.ExitCode), measured, p.Signal == "" && p.ExitCode == *e.ExitCode)
		}
	}
	if e.Verdict != "" {
		v := Judge(r)
		add("verdict", e.Verdict, v.Outcome+" ("+v.Basis+")", v.Outcome == e.Verdict)
	}
	return out
}

// Failed returns the expectations that failed across a result file.
func Failed(f *result.ResultFile) []string {
	var failed []string
	for _, r := range f.Runs {
		for _, x := range r.Expectations {
			if !x.Pass {
				failed = append(failed, fmt.Sprintf("%s: %s: expected %s, measured %s", r.Variant, x.Name, x.Expected, x.Measured))
			}
		}
	}
	return failed
}

// PeakTimeWait is the most client sockets in TIME_WAIT the run saw.
func PeakTimeWait(r *result.Result) int64 {
	var peak int
	if r.TimeSeries != nil {
		for _, p := range r.TimeSeries.Points {
			if p.Client != nil {
				peak = max(peak, p.Client.TimeWait)
			}
		}
	}
	if r.Exhaustion != nil && r.Exhaustion.Sockets != nil {
		peak = max(peak, r.Exhaustion.Sockets.TimeWait)
	}
	return int64(peak)
}
