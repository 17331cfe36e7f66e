package report

import (
	_ "embed"
	"fmt"
	"html/template"
	"image/color"
	"io"
	"math"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/portex/portex/analysis"
	"github.com/portex/portex/result"
	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
)

//go:embed html.tmpl
var htmlSource string

//go:embed html.css
var htmlCSS string

var htmlTemplate = template.Must(template.New("report").Parse(htmlSource))

// WriteHTML writes report.html: one self-contained page, with no script
// and no reference to anything outside it (its content security policy
// forbids loading anything), so it opens the same offline, from a CI
// artifact, or attached to a ticket. For each run: the verdict, the
// expectations, the capacity model's prediction, the timeline (ports in
// use against the range, TIME_WAIT and CLOSE_WAIT, dials and failures per
// second, with markers at exhaustion and recovery), latency by percentile
// (from the lossless histograms), and the details; and, first, the
// variants side by side.
func WriteHTML(w io.Writer, r *result.ResultFile) error {
	page, err := newHTMLPage(r)
	if err != nil {
		return err
	}
	return htmlTemplate.Execute(w, page)
}

// htmlPage is what the template renders.
type htmlPage struct {
	Scenario string
	Subtitle string
	CSS      template.CSS
	// Expect counts the expectations of every run, and the failed.
	Expect, ExpectFailed int
	Variants             []htmlVariantRow
	Overview             []chart
	Runs                 []htmlRun
}

// htmlVariantRow is one row of the variants table.
type htmlVariantRow struct {
	Anchor, Variant        string
	Exhausted              bool
	Verdict, Tone          string // the verdict's cell and its pill
	Dropped                int64
	Before, Time, P99      string
	TimeWait               int
	DialsOK, DialsFailed   int64
	Failures               string
	ExpectOK, ExpectFailed int
	Stopped                string
	Error                  bool
}

// htmlRun is one run's section.
type htmlRun struct {
	Anchor, Variant, Runtime, Stopped, Elapsed, Started, Error string
	// Status picks the badge: exhausted, fd, failures, ok or error.
	Status, StatusText string
	Verdict            string
	Facts              []htmlKV
	Stats              []htmlStat
	Expectations       []result.Expectation
	Model              *htmlModel
	Charts             []chart
	Failures           []htmlKV
	Latency            []htmlLatency
	Snapshot           []htmlKV
	SnapshotAt         string
	Sysctls            []htmlKV
	Server             []htmlKV
	Pools              []htmlPool
	Events             []htmlEvent
}

type htmlStat struct{ Label, Value, Note string }

type htmlKV struct{ Key, Value string }

type htmlLatency struct {
	Name                           string
	P50, P90, P99, P999, Max, Mean string
	Count                          int64
}

type htmlModel struct {
	PortsNeeded, PortBudget, Predicted, Measured, RelErr, MaxRate string
	NeededNote                                                    string // when the ports needed are counted
	MeasuredNote, Tone                                            string
	Assumptions                                                   []string
	Check                                                         string // the model's state against the measured one
	CheckTone                                                     string
}

type htmlPool struct {
	Name                string
	OK, Failed, Dropped int64
	Failures, P99       string
}

type htmlEvent struct{ At, Type, Detail string }

var anchorUnsafe = regexp.MustCompile(`[^a-z0-9_-]+`)

func newHTMLPage(r *result.ResultFile) (*htmlPage, error) {
	page := &htmlPage{Scenario: r.Scenario, CSS: template.CSS(htmlCSS)}
	page.Expect, page.ExpectFailed = expectationCounts(r)
	var runtimes []string
	for i, run := range r.Runs {
		anchor := fmt.Sprintf("run-%d-%s", i+1, anchorUnsafe.ReplaceAllString(strings.ToLower(run.Variant), "-"))
		hr, err := newHTMLRun(anchor, run)
		if err != nil {
			return nil, err
		}
		page.Runs = append(page.Runs, hr)
		page.Variants = append(page.Variants, newVariantRow(anchor, run))
		if !contains(runtimes, run.Runtime) {
			runtimes = append(runtimes, run.Runtime)
		}
	}
	parts := []string{fmt.Sprintf("%d run%s", len(r.Runs), plural(len(r.Runs)))}
	if len(runtimes) > 0 {
		parts = append(parts, "runtime "+strings.Join(runtimes, ", "))
	}
	if len(r.Runs) > 0 && !r.Runs[0].StartedAt.IsZero() {
		parts = append(parts, "started "+r.Runs[0].StartedAt.UTC().Format("2006-01-02 15:04:05 UTC"))
	}
	page.Subtitle = strings.Join(parts, " · ")
	if len(r.Runs) > 1 {
		ov, err := overviewCharts(r)
		if err != nil {
			return nil, err
		}
		page.Overview = ov
	}
	return page, nil
}

func newVariantRow(anchor string, run *result.Result) htmlVariantRow {
	f := Measure(run)
	c := compareCells(f, f, true)
	row := htmlVariantRow{
		Anchor: anchor, Variant: run.Variant, Exhausted: f.Exhausted,
		Before: c.before, Time: c.time, P99: c.p99, TimeWait: f.PeakTimeWait,
		DialsOK: run.Dials.OK, DialsFailed: run.Dials.Failed,
		Failures: failures(run.Failures), Stopped: run.Stopped,
		Error:   run.Stopped == result.StoppedError,
		Verdict: c.verdict, Tone: verdictTone(f.Verdict.Outcome), Dropped: f.Dropped,
	}
	for _, e := range run.Expectations {
		if e.Pass {
			row.ExpectOK++
		} else {
			row.ExpectFailed++
		}
	}
	return row
}

// verdictTone is the pill class of an outcome.
func verdictTone(outcome string) string {
	switch outcome {
	case analysis.OutcomeError:
		return "error"
	case analysis.OutcomeExhausted:
		return "exhausted"
	case analysis.OutcomeFDs:
		return "fd"
	case analysis.OutcomeHeld:
		return "ok"
	case analysis.OutcomeFailing, analysis.OutcomeInterrupted:
		return "failures"
	}
	return "open"
}

func newHTMLRun(anchor string, run *result.Result) (htmlRun, error) {
	f := Measure(run)
	hr := htmlRun{
		Anchor:       anchor,
		Variant:      run.Variant,
		Runtime:      run.Runtime,
		Stopped:      run.Stopped,
		Elapsed:      atTime(run.ElapsedSeconds),
		Error:        run.Error,
		Verdict:      f.Verdict.Text,
		Expectations: run.Expectations,
	}
	for _, x := range factsWithNAT(run) {
		hr.Facts = append(hr.Facts, htmlKV{x.Label, x.Text})
	}
	if !run.StartedAt.IsZero() {
		hr.Started = run.StartedAt.UTC().Format(time.RFC3339)
	}
	hr.Status = verdictTone(f.Verdict.Outcome)
	switch f.Verdict.Outcome {
	case analysis.OutcomeError:
		hr.StatusText = "run failed"
	case analysis.OutcomeExhausted:
		hr.StatusText = "ports exhausted"
	case analysis.OutcomeFDs:
		hr.StatusText = "out of file descriptors"
	case analysis.OutcomeHeld:
		hr.StatusText = "held: steady state shown"
	case analysis.OutcomeInterrupted:
		hr.StatusText = "interrupted"
	case analysis.OutcomeFailing:
		hr.StatusText = "not exhausted within " + atTime(run.ElapsedSeconds) + ", with failures"
	default:
		hr.StatusText = "not exhausted within " + atTime(run.ElapsedSeconds)
	}

	rangeNote := run.Sysctls["net.ipv4.ip_local_port_range"]
	hr.Stats = []htmlStat{
		{"dials ok", fmt.Sprint(run.Dials.OK), fmt.Sprintf("of %d attempted", run.Dials.Attempted)},
		{"dials failed", fmt.Sprint(run.Dials.Failed), dropped(run.Dropped)},
		{"ok before exhaustion", fmt.Sprint(f.DialsOKBefore), ""},
		{"time to exhaustion", "never", ""},
		{"port range", fmt.Sprint(run.PortRangeSize), rangeNote},
		{"peak open", fmt.Sprint(run.PeakOpen), "connections"},
		{"peak TIME_WAIT", fmt.Sprint(f.PeakTimeWait), "client sockets"},
		{"p99 connect", "—", ""},
	}
	if f.Exhausted {
		hr.Stats[3] = htmlStat{"time to exhaustion", atTime(*f.TimeToExhaustion), run.Exhaustion.Class}
	} else {
		hr.Stats[2].Note = "never ran out: all of them"
	}
	if run.Latency.Connect.Count > 0 {
		hr.Stats[7] = htmlStat{"p99 connect", micros(run.Latency.Connect.P99Us), fmt.Sprintf("p50 %s", micros(run.Latency.Connect.P50Us))}
	}
	if programsOnly(run) {
		// portex dialed nothing: the kernel's side of the programs'.
		opened, accepted := "—", "—"
		if k := run.Kernel; k != nil {
			opened, accepted = fmt.Sprint(k.Client["TcpActiveOpens"]), fmt.Sprint(k.Server["TcpPassiveOpens"])
		}
		hr.Stats[0] = htmlStat{"connections opened", opened, "by the programs (ActiveOpens)"}
		hr.Stats[1] = htmlStat{"accepted", accepted, "by the server (PassiveOpens)"}
		hr.Stats[2] = htmlStat{"programs", fmt.Sprint(len(run.Programs)), programsNote(run)}
		hr.Stats[7] = htmlStat{"fullest destination", "—", ""}
		if len(run.Destinations) > 0 {
			d := run.Destinations[0]
			hr.Stats[7] = htmlStat{"fullest destination", fmt.Sprintf("%d of %d", d.PortsInUse, d.Budget), d.Destination}
		}
	}

	if m := run.Model; m != nil {
		mc := modelCells(run)
		hr.Model = &htmlModel{
			PortsNeeded: formatCount(m.PortsNeeded), PortBudget: fmt.Sprint(m.PortBudget), NeededNote: neededNote(m),
			Predicted: mc.predicted, Measured: mc.measured, RelErr: mc.relErr, MaxRate: mc.maxRate,
			MeasuredNote: mc.measuredNote, Tone: mc.tone, Assumptions: m.Assumptions,
		}
		if c := m.Check; c != nil {
			hr.Model.Check, hr.Model.CheckTone = checkWords(m, c), "good"
			if !c.Agrees {
				hr.Model.CheckTone = "bad"
			}
		}
		if m.ExhaustionAtSeconds != nil {
			hr.Model.Predicted = shortAt(*m.ExhaustionAtSeconds)
		}
		if run.Exhaustion != nil {
			hr.Model.Measured = shortAt(run.Exhaustion.AtSeconds)
		}
	}

	for _, c := range orderClasses(keysOf(run.Failures)) {
		hr.Failures = append(hr.Failures, htmlKV{c, fmt.Sprint(run.Failures[c])})
	}
	for _, l := range []struct {
		name string
		s    result.LatencySummary
	}{{"connect", run.Latency.Connect}, {"schedule lag", run.Latency.ScheduleLag}, {"echo rtt", run.Latency.EchoRTT}} {
		if l.s.Count == 0 {
			continue
		}
		hr.Latency = append(hr.Latency, htmlLatency{
			Name: l.name, P50: micros(l.s.P50Us), P90: micros(l.s.P90Us), P99: micros(l.s.P99Us),
			P999: micros(l.s.P999Us), Max: micros(l.s.MaxUs), Mean: micros(int64(math.Round(l.s.MeanUs))), Count: l.s.Count,
		})
	}
	if ex := run.Exhaustion; ex != nil && ex.Sockets != nil {
		hr.SnapshotAt = atTime(ex.AtSeconds)
		hr.Snapshot = statesKV(ex.Sockets)
	}
	hr.Sysctls = sysctlsKV(run.Sysctls)
	if run.Nofile > 0 {
		hr.Sysctls = append(hr.Sysctls, htmlKV{"nofile (RLIMIT_NOFILE)", fmt.Sprint(run.Nofile)})
	}
	if s := run.Server; s != nil {
		hr.Server = []htmlKV{
			{"accepted", fmt.Sprint(s.Accepted)},
			{"closed first by the server", fmt.Sprint(s.ClosedByServer)},
			{"closed by the client", fmt.Sprint(s.ClosedByPeer)},
			{"errors", fmt.Sprint(s.Errors)},
			{"echoed", bytesIEC(s.BytesEchoed)},
			{"peak open", fmt.Sprint(s.PeakOpen)},
		}
	}
	for _, p := range run.Pools {
		hp := htmlPool{Name: p.Name, OK: p.Dials.OK, Failed: p.Dials.Failed, Dropped: p.Dropped, Failures: failures(p.Failures), P99: "—"}
		if p.Latency.Connect.Count > 0 {
			hp.P99 = micros(p.Latency.Connect.P99Us)
		}
		hr.Pools = append(hr.Pools, hp)
	}
	for _, ev := range run.Events {
		if ev.Type == result.EventProgress {
			continue
		}
		detail := ev.Class
		if ev.Pool != "" {
			detail = strings.TrimSpace(detail + " (pool " + ev.Pool + ")")
		}
		if ev.Message != "" {
			detail = strings.TrimSpace(detail + " " + ev.Message)
		}
		if ev.Progress != nil && ev.Type == result.EventExhaustion {
			detail += fmt.Sprintf("; %d connections open", ev.Progress.Open)
		}
		hr.Events = append(hr.Events, htmlEvent{atTime(ev.AtSeconds), strings.ReplaceAll(ev.Type, "_", " "), detail})
	}

	charts, err := runCharts(anchor, run)
	if err != nil {
		return hr, err
	}
	hr.Charts = charts
	return hr, nil
}

// shortAt writes a moment of the run, however soon: "at once" for the
// start itself, microseconds below a millisecond, three digits below a
// second.
func shortAt(s float64) string {
	switch {
	case s <= 0:
		return "at once"
	case s < 1e-3:
		return fmt.Sprintf("%.0fµs", math.Max(1, s*1e6))
	case s < 1:
		return strconv.FormatFloat(s*1e3, 'g', 3, 64) + "ms"
	}
	return fmt.Sprintf("%.2fs", s)
}

func dropped(n int64) string {
	if n == 0 {
		return ""
	}
	return fmt.Sprintf("and %d arrivals dropped", n)
}

// portsInUse is the line of the ports in use, through the samples that
// counted them.
func portsInUse(samples []socketSample) plotter.XYs {
	var xys plotter.XYs
	for _, s := range samples {
		if s.states.PortsCounted() {
			xys = append(xys, plotter.XY{X: s.t, Y: float64(s.states.PortsInUse)})
		}
	}
	return xys
}

func statesKV(s *result.SocketStates) []htmlKV {
	var out []htmlKV
	for _, st := range csvStates {
		v := st.value(s)
		if v == 0 && st.name != "ports_in_use" && st.name != "established" && st.name != "time_wait" {
			continue
		}
		out = append(out, htmlKV{strings.ToUpper(st.name), fmt.Sprint(v)})
	}
	last := &out[len(out)-1]
	last.Key = "local ports in use"
	if !s.PortsCounted() {
		last.Value = "not counted"
	}
	return out
}

func sysctlsKV(m map[string]string) []htmlKV {
	names := make([]string, 0, len(m))
	for k := range m {
		names = append(names, k)
	}
	sort.Strings(names)
	out := make([]htmlKV, len(names))
	for i, n := range names {
		out[i] = htmlKV{n, m[n]}
	}
	return out
}

func keysOf(m map[string]int64) map[string]bool {
	out := make(map[string]bool, len(m))
	for k, n := range m {
		if n > 0 {
			out[k] = true
		}
	}
	return out
}

func contains(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}

// runMarkers are the moments worth a line across the timeline: the ports
// ran out, and came back.
func runMarkers(run *result.Result) []marker {
	var ms []marker
	exhausted := false
	for _, ev := range run.Events {
		switch ev.Type {
		case result.EventExhaustion:
			ms = append(ms, marker{x: ev.AtSeconds, label: "exhausted " + atTime(ev.AtSeconds), color: colRed})
			exhausted = true
		case result.EventRecovery:
			ms = append(ms, marker{x: ev.AtSeconds, label: "recovered " + atTime(ev.AtSeconds), color: colGreen})
		}
	}
	if !exhausted && run.Exhaustion != nil {
		ms = append(ms, marker{x: run.Exhaustion.AtSeconds, label: "exhausted " + atTime(run.Exhaustion.AtSeconds), color: colRed})
	}
	for i := range ms {
		ms[i].row = i
	}
	return ms
}

// runCharts draws one run's charts: sockets, rates, latency.
func runCharts(anchor string, run *result.Result) ([]chart, error) {
	var out []chart
	build := []func(string, *result.Result) (chart, bool, error){socketsChart, natChart, ratesChart, latencyChart}
	for _, b := range build {
		c, ok, err := b(anchor, run)
		if err != nil {
			return nil, err
		}
		if ok {
			out = append(out, c)
		}
	}
	return out, nil
}

// endTime is when the run's timeline ends.
func endTime(run *result.Result) float64 {
	end := run.ElapsedSeconds
	if ts := run.TimeSeries; ts != nil && len(ts.Points) > 0 {
		end = math.Max(end, ts.Points[len(ts.Points)-1].T)
	}
	return end
}

// socketsChart: the client's ports in use against the range, and the
// states that hold ports without carrying traffic.
func socketsChart(anchor string, run *result.Result) (chart, bool, error) {
	samples := clientSamples(run)
	if len(samples) == 0 {
		return chart{}, false, nil
	}
	if samples[0].t > 0 {
		samples = append([]socketSample{{t: 0}}, samples...)
	}
	gauge := func(v func(*result.SocketStates) int) (plotter.XYs, bool) {
		xys := make(plotter.XYs, len(samples))
		any := false
		for i := range samples {
			n := v(&samples[i].states)
			xys[i] = plotter.XY{X: samples[i].t, Y: float64(n)}
			any = any || n > 0
		}
		return xys, any
	}
	ports := portsInUse(samples)
	tw, anyTW := gauge(func(s *result.SocketStates) int { return s.TimeWait })
	cw, anyCW := gauge(func(s *result.SocketStates) int { return s.CloseWait })
	// A state with no socket all run long is named, not drawn along the
	// axis under the others.
	var none []legendEntry
	if !anyTW {
		none = append(none, legendEntry{Name: "TIME_WAIT", Color: cssColor(colAmber), Note: "none"})
		tw = nil
	}
	if !anyCW {
		none = append(none, legendEntry{Name: "CLOSE_WAIT", Color: cssColor(colViolet), Note: "none"})
		cw = nil
	}
	ss := []series{{name: "local ports in use", xys: ports, color: colBlue, width: vg.Points(2.25)}}
	if run.PortRangeSize > 0 {
		end := endTime(run)
		rs := float64(run.PortRangeSize)
		ss = append(ss, series{name: fmt.Sprintf("port range (%d)", run.PortRangeSize),
			xys: plotter.XYs{{X: 0, Y: rs}, {X: end, Y: rs}}, color: colSlate, width: vg.Points(1), dash: true, ref: true})
	}
	ss = append(ss,
		series{name: "TIME_WAIT", xys: tw, color: colAmber},
		series{name: "CLOSE_WAIT", xys: cw, color: colViolet})
	if fw2, any := gauge(func(s *result.SocketStates) int { return s.FinWait2 }); any {
		ss = append(ss, series{name: "FIN_WAIT2", xys: fw2, color: colTeal})
	}
	if est, any := gauge(func(s *result.SocketStates) int { return s.Established }); any {
		ss = append(ss, series{name: "ESTABLISHED", xys: est, color: colGreen, width: vg.Points(1)})
	}
	// TIME_WAIT lands on whichever side closes first: show the server's
	// when it has any.
	if ts := run.TimeSeries; ts != nil {
		var stw plotter.XYs
		any := false
		for _, p := range ts.Points {
			if p.Server != nil {
				stw = append(stw, plotter.XY{X: p.T, Y: float64(p.Server.TimeWait)})
				any = any || p.Server.TimeWait > 0
			}
		}
		if any {
			ss = append(ss, series{name: "server TIME_WAIT", xys: stw, color: colAmber, width: vg.Points(1), dash: true})
		}
	}
	c, err := timeChart(run, ss, anchor+"-sockets", "sockets", "client sockets over time")
	c.Legend = append(c.Legend, none...)
	c.Title = "Ports in use and socket states"
	c.Caption = "The client's distinct local ports in use against the range size, and the sockets that hold ports without carrying traffic."
	return c, err == nil, err
}

// timeChart draws series over the run's time, with its exhaustion and
// recovery markers, as the chart id.
func timeChart(run *result.Result, ss []series, id, yLabel, alt string) (chart, error) {
	p := newPlot("", yLabel)
	p.X.Tick.Marker = secondsTicks{}
	p.Y.Tick.Marker = countTicks{}
	legend, err := addSeries(p, ss)
	if err != nil {
		return chart{}, err
	}
	addMarkers(p, run)
	finishAxes(p)
	svg, err := renderSVG(p, id, alt, chartWidth, chartHeight)
	if err != nil {
		return chart{}, err
	}
	return chart{ID: id, SVG: svg, Legend: legend}, nil
}

func addMarkers(p *plot.Plot, run *result.Result) {
	for _, m := range runMarkers(run) {
		p.Add(m)
	}
}

// programsOnly reports whether the run was the user's programs alone:
// portex dialed nothing, and its dials say nothing.
func programsOnly(run *result.Result) bool { return len(run.Programs) > 0 && run.Dials.Attempted == 0 }

// programsNote says how the programs ended: "exit 1", "2 of 3 exit 0".
func programsNote(run *result.Result) string {
	ok := 0
	for _, p := range run.Programs {
		if p.ExitCode == 0 && p.Signal == "" {
			ok++
		}
	}
	if len(run.Programs) == 1 {
		p := run.Programs[0]
		if p.Signal != "" {
			return p.Name + " · signal " + p.Signal
		}
		return fmt.Sprintf("%s · exit %d", p.Name, p.ExitCode)
	}
	return fmt.Sprintf("%d of %d exited 0", ok, len(run.Programs))
}

// ratesChart: dials that succeeded and failures by class, per second,
// from the per-interval counts.
func ratesChart(anchor string, run *result.Result) (chart, bool, error) {
	if run.TimeSeries == nil || len(run.TimeSeries.Points) == 0 || programsOnly(run) {
		return chart{}, false, nil
	}
	ts := rebin(run.TimeSeries, endTime(run)/rateBins)
	rate := func(n func(*result.Point) int64) plotter.XYs { return perSecond(ts, n, 0) }
	// A class's line starts where its first failure came, not at the start
	// of the interval that holds it.
	firstAt := map[string]float64{}
	for _, ev := range run.Events {
		if ev.Type == result.EventFirstFailure {
			if t, ok := firstAt[ev.Class]; !ok || ev.AtSeconds < t {
				firstAt[ev.Class] = ev.AtSeconds
			}
		}
	}
	ss := []series{{name: "dials ok/s", xys: rate(func(p *result.Point) int64 { return p.OK }), color: colGreen, width: vg.Points(2), step: true}}
	seen := map[string]bool{}
	for _, p := range ts.Points {
		for c, n := range p.Failures {
			if n > 0 {
				seen[c] = true
			}
		}
	}
	classes := orderClasses(seen)
	if len(classes) == 0 && run.Dials.Failed > 0 {
		ss = append(ss, series{name: "failed dials/s", xys: rate(func(p *result.Point) int64 { return p.Failed }), color: colRed, step: true})
	}
	for _, c := range classes {
		ss = append(ss, series{name: c + "/s", xys: perSecond(ts, func(p *result.Point) int64 { return p.Failures[c] }, firstAt[c]),
			color: classColor(c), step: true})
	}
	if dropped := rate(func(p *result.Point) int64 { return p.Dropped }); maxY(dropped) > 0 {
		ss = append(ss, series{name: "dropped arrivals/s", xys: dropped, color: colGray, step: true, dash: true})
	}
	c, err := timeChart(run, ss, anchor+"-rates", "per second", "dials and failures per second")
	if err != nil {
		return chart{}, false, err
	}
	caption := "Successful dials and failures by class per second, from the counts of each interval of the time series."
	if ts.IntervalSeconds > 0 {
		caption = fmt.Sprintf("Successful dials and failures by class per second, from the counts of intervals of about %s.",
			shortAt(ts.IntervalSeconds))
	}
	c.Title, c.Caption = "Dials and failures per second", caption
	return c, true, nil
}

// rateBins is about how many steps a rates chart draws: a rate from a
// bin of one or two events is noise.
const rateBins = 80

// rebin joins consecutive points of ts into bins at least width long (or
// as long as its points are), adding their counts, so that a short run
// sampled every few milliseconds shows rates rather than single events.
// The result's IntervalSeconds is its typical bin.
func rebin(ts *result.TimeSeries, width float64) *result.TimeSeries {
	out := &result.TimeSeries{IntervalSeconds: math.Max(ts.IntervalSeconds, width)}
	if ts.FineIntervalSeconds > 0 && width < ts.IntervalSeconds {
		out.IntervalSeconds = math.Max(ts.FineIntervalSeconds, width)
	}
	start := 0.0
	var bin *result.Point
	for i := range ts.Points {
		p := &ts.Points[i]
		if bin == nil {
			out.Points = append(out.Points, result.Point{})
			bin = &out.Points[len(out.Points)-1]
		}
		bin.T = p.T
		bin.Attempted += p.Attempted
		bin.OK += p.OK
		bin.Failed += p.Failed
		bin.Dropped += p.Dropped
		for c, n := range p.Failures {
			if bin.Failures == nil {
				bin.Failures = map[string]int64{}
			}
			bin.Failures[c] += n
		}
		if p.T-start >= width*(1-1e-9) {
			start, bin = p.T, nil
		}
	}
	return out
}

// perSecond is a count of each interval as a rate, drawn as steps: the
// value holds over the interval ending at each x. Nothing is drawn as
// happening before from (the first of those events, if known): the
// interval that holds it starts its step there.
func perSecond(ts *result.TimeSeries, n func(*result.Point) int64, from float64) plotter.XYs {
	xys := make(plotter.XYs, 0, len(ts.Points)+2)
	prev := 0.0
	for i := range ts.Points {
		p := &ts.Points[i]
		dt := p.T - prev
		if dt <= 0 {
			dt = ts.IntervalSeconds
		}
		if dt <= 0 {
			dt = 1
		}
		y := float64(n(p)) / dt
		switch {
		case i == 0 && (from <= 0 || from >= p.T || y == 0):
			xys = append(xys, plotter.XY{X: 0, Y: y})
		case i == 0:
			xys = append(xys, plotter.XY{X: 0, Y: 0}, plotter.XY{X: from, Y: 0})
		case from > prev && from < p.T && y > 0:
			xys = append(xys, plotter.XY{X: from, Y: 0})
		}
		xys = append(xys, plotter.XY{X: p.T, Y: y})
		prev = p.T
	}
	return xys
}

func maxValue(vs plotter.Values) float64 {
	m := 0.0
	for _, v := range vs {
		m = math.Max(m, v)
	}
	return m
}

func maxY(xys plotter.XYs) float64 {
	m := 0.0
	for _, p := range xys {
		m = math.Max(m, p.Y)
	}
	return m
}

// percentileTop is where the percentile axis ends for a sample count: at
// 99 (x = 2) for up to 100 samples, one more nine for each ten times more,
// at most 99.999.
func percentileTop(count int64) float64 {
	return math.Min(5, math.Max(2, math.Ceil(math.Log10(float64(count))-1e-9)))
}

// The percentile axis: x = -log10(1 - q), so that 90, 99, 99.9 and 99.99
// are evenly spaced, as HdrHistogram's own plots do.
func percentileX(q float64) float64 { return -math.Log10(1 - q) }

var percentileTicks = []struct {
	q     float64
	label string
}{{0, "0"}, {0.5, "50"}, {0.9, "90"}, {0.99, "99"}, {0.999, "99.9"}, {0.9999, "99.99"}, {0.99999, "99.999"}}

// latencyCurve samples a histogram's value at percentiles from 0 to the
// first of 99, 99.9, 99.99 and 99.999 that its sample count resolves; the
// curve is flat at the maximum beyond the last sample. Without a histogram
// it falls back on the summary's percentiles.
func latencyCurve(s result.LatencySummary) (plotter.XYs, error) {
	if s.Count == 0 {
		return nil, nil
	}
	top := percentileTop(s.Count)
	h, err := s.DecodeHDR()
	if err != nil {
		return nil, fmt.Errorf("latency histogram: %w", err)
	}
	var xys plotter.XYs
	if h == nil {
		for _, p := range []struct {
			q float64
			v int64
		}{{0.5, s.P50Us}, {0.9, s.P90Us}, {0.99, s.P99Us}, {0.999, s.P999Us}} {
			if x := percentileX(p.q); x <= top {
				xys = append(xys, plotter.XY{X: x, Y: math.Max(1, float64(p.v))})
			}
		}
		return append(xys, plotter.XY{X: top, Y: math.Max(1, float64(s.MaxUs))}), nil
	}
	const steps = 200
	for i := 0; i <= steps; i++ {
		x := top * float64(i) / steps
		q := 1 - math.Pow(10, -x)
		xys = append(xys, plotter.XY{X: x, Y: math.Max(1, float64(h.ValueAtQuantile(100*q)))})
	}
	return xys, nil
}

// latencyChart: connect latency and the echo round trip, by percentile,
// on log scales.
func latencyChart(anchor string, run *result.Result) (chart, bool, error) {
	conn, err := latencyCurve(run.Latency.Connect)
	if err != nil {
		return chart{}, false, err
	}
	echo, err := latencyCurve(run.Latency.EchoRTT)
	if err != nil {
		return chart{}, false, err
	}
	if len(conn) == 0 && len(echo) == 0 {
		return chart{}, false, nil
	}
	p := newPlotGrid("percentile (%)", "latency", true, true)
	legend, err := addSeries(p, []series{
		{name: "connect", xys: conn, color: colBlue, width: vg.Points(2)},
		{name: "echo round trip", xys: echo, color: colAmber, width: vg.Points(2)},
	})
	if err != nil {
		return chart{}, false, err
	}
	xmax := math.Max(2, math.Ceil(math.Max(maxX(conn), maxX(echo))-1e-9))
	p.X.Min, p.X.Max = 0, xmax
	var ticks []plot.Tick
	for _, t := range percentileTicks {
		if x := percentileX(t.q); x <= xmax+1e-9 {
			ticks = append(ticks, plot.Tick{Value: x, Label: t.label})
		}
	}
	p.X.Tick.Marker = plot.ConstantTicks(ticks)
	lo, hi := math.Inf(1), 1.0
	for _, xys := range []plotter.XYs{conn, echo} {
		for _, pt := range xys {
			lo, hi = math.Min(lo, pt.Y), math.Max(hi, pt.Y)
		}
	}
	p.Y.Min = math.Pow(10, math.Floor(math.Log10(lo)))
	p.Y.Max = math.Pow(10, math.Ceil(math.Log10(hi)))
	if p.Y.Max <= p.Y.Min {
		p.Y.Max = p.Y.Min * 10
	}
	p.Y.Scale = plot.LogScale{}
	p.Y.Tick.Marker = latencyTicks{}
	id := anchor + "-latency"
	svg, err := renderSVG(p, id, "latency by percentile", chartWidth, chartHeight)
	if err != nil {
		return chart{}, false, err
	}
	return chart{ID: id, Title: "Latency by percentile", SVG: svg, Legend: legend,
		Caption: "From the lossless histograms: the value below which that share of the samples lies. Both axes are logarithmic; a curve is flat at its maximum beyond the percentile its sample count resolves."}, true, nil
}

func maxX(xys plotter.XYs) float64 {
	m := 0.0
	for _, p := range xys {
		m = math.Max(m, p.X)
	}
	return m
}

// latencyTicks label a logarithmic axis of microseconds: every power of
// ten, and 2 and 5 times it when the axis spans few decades.
type latencyTicks struct{}

// Ticks implements plot.Ticker.
func (latencyTicks) Ticks(min, max float64) []plot.Tick {
	var ts []plot.Tick
	decades := math.Log10(max / min)
	for e := math.Floor(math.Log10(min)); e <= math.Ceil(math.Log10(max)); e++ {
		base := math.Pow(10, e)
		for _, m := range []float64{1, 2, 3, 4, 5, 6, 7, 8, 9} {
			v := base * m
			if v < min*(1-1e-9) || v > max*(1+1e-9) {
				continue
			}
			t := plot.Tick{Value: v}
			if m == 1 || (decades <= 2 && (m == 2 || m == 5)) {
				t.Label = shortMicros(v)
			}
			ts = append(ts, t)
		}
	}
	return ts
}

// exhaustionMarkers mark when each variant ran out, one marker for the
// variants that ran out at about the same moment.
func exhaustionMarkers(r *result.ResultFile) []marker {
	type at struct {
		x     float64
		name  string
		color color.RGBA
	}
	var ats []at
	end := 0.0
	for i, run := range r.Runs {
		end = math.Max(end, endTime(run))
		if ex := run.Exhaustion; ex != nil {
			ats = append(ats, at{ex.AtSeconds, run.Variant, variantColors[i%len(variantColors)]})
		}
	}
	sort.SliceStable(ats, func(i, j int) bool { return ats[i].x < ats[j].x })
	var ms []marker
	for i := 0; i < len(ats); {
		j := i + 1
		for j < len(ats) && ats[j].x-ats[i].x <= end*0.01 {
			j++
		}
		group := ats[i:j]
		m := marker{x: group[0].x, color: group[0].color, row: len(ms)}
		switch len(group) {
		case 1:
			m.label = group[0].name + " exhausted " + atTime(m.x)
		case 2:
			m.label = group[0].name + ", " + group[1].name + " exhausted " + atTime(m.x)
			m.color = colRed
		default:
			m.label = fmt.Sprintf("%d variants exhausted %s", len(group), atTime(m.x))
			m.color = colRed
		}
		ms = append(ms, m)
		i = j
	}
	return ms
}

// overviewCharts put the variants side by side: ports in use over time,
// and the dials each got.
func overviewCharts(r *result.ResultFile) ([]chart, error) {
	var out []chart
	ports, ok, err := variantsPortsChart(r)
	if err != nil {
		return nil, err
	}
	if ok {
		out = append(out, ports)
	}
	dials, err := variantsDialsChart(r)
	if err != nil {
		return nil, err
	}
	return append(out, dials), nil
}

// variantLine is one variant's ports in use, from its own start.
type variantLine struct {
	run   *result.Result
	index int
	xys   plotter.XYs
}

// variantsPortsChart: every variant's ports in use against its range. A
// few variants on one range share one chart; more, or several ranges,
// get a small chart each on one time axis, each with its own range and
// its own scale, so that a wide range does not flatten a narrow one.
func variantsPortsChart(r *result.ResultFile) (chart, bool, error) {
	if allAtNAT(r) {
		return variantsNATChart(r)
	}
	var lines []variantLine
	ranges := map[int]bool{}
	end := 0.0
	for i, run := range r.Runs {
		samples := clientSamples(run)
		if len(samples) == 0 {
			continue
		}
		if samples[0].t > 0 {
			samples = append([]socketSample{{t: 0}}, samples...)
		}
		lines = append(lines, variantLine{run: run, index: i, xys: portsInUse(samples)})
		if run.PortRangeSize > 0 {
			ranges[run.PortRangeSize] = true
		}
		end = math.Max(end, endTime(run))
	}
	if len(lines) == 0 {
		return chart{}, false, nil
	}
	c := chart{ID: "variants-ports", Title: "Ports in use, every variant"}
	if len(lines) <= maxOverlaid && len(ranges) <= 1 {
		var ss []series
		for k, l := range lines {
			ss = append(ss, series{name: l.run.Variant, xys: l.xys, color: variantColors[k%len(variantColors)], width: vg.Points(2)})
		}
		for size := range ranges {
			ss = append(ss, rangeLine(size, end))
		}
		p := newPlot("", "local ports in use")
		p.X.Tick.Marker = secondsTicks{}
		p.Y.Tick.Marker = countTicks{}
		legend, err := addSeries(p, ss)
		if err != nil {
			return chart{}, false, err
		}
		for _, m := range exhaustionMarkers(r) {
			p.Add(m)
		}
		finishAxes(p)
		svg, err := renderSVG(p, c.ID, "local ports in use, every variant", chartWidth, chartHeight)
		if err != nil {
			return chart{}, false, err
		}
		c.SVG, c.Legend = svg, legend
		c.Caption = "Each variant's client ports in use from its own start, against the range size; a dashed line where a variant ran out."
		return c, true, nil
	}
	for _, l := range lines {
		ss := []series{{name: "local ports in use", xys: l.xys, color: colBlue, width: vg.Points(2)}}
		if l.run.PortRangeSize > 0 {
			ss = append(ss, rangeLine(l.run.PortRangeSize, end))
		}
		p := newPlot("", "")
		p.X.Tick.Marker = secondsTicks{}
		p.Y.Tick.Marker = countTicks{}
		if _, err := addSeries(p, ss); err != nil {
			return chart{}, false, err
		}
		if ex := l.run.Exhaustion; ex != nil {
			p.Add(marker{x: ex.AtSeconds, label: "exhausted " + atTime(ex.AtSeconds), color: colRed})
		}
		p.X.Max = end
		finishAxes(p)
		id := fmt.Sprintf("variants-ports-%d", l.index+1)
		svg, err := renderSVG(p, id, "local ports in use, variant "+l.run.Variant, panelWidth, panelHeight)
		if err != nil {
			return chart{}, false, err
		}
		title := l.run.Variant
		if l.run.PortRangeSize > 0 {
			title += fmt.Sprintf(" · range %d", l.run.PortRangeSize)
		}
		c.Panels = append(c.Panels, panel{Title: title, SVG: svg, yMax: p.Y.Max})
	}
	c.Legend = []legendEntry{
		{Name: "local ports in use", Color: cssColor(colBlue)},
		{Name: "the variant's port range", Color: cssColor(colSlate), Dashed: true},
		{Name: "ran out", Color: cssColor(colRed), Dashed: true},
	}
	c.Caption = "One chart per variant, on one time axis, each scaled to its own range: the client ports in use from the variant's start, against its range size."
	return c, true, nil
}

// maxOverlaid is the most variants drawn on one chart.
const maxOverlaid = 3

// The size of one of the small charts, in points.
const (
	panelWidth  = 360
	panelHeight = 150
)

// rangeLine is the reference line of a range of size ports, to end.
func rangeLine(size int, end float64) series {
	return series{name: fmt.Sprintf("port range (%d)", size), xys: plotter.XYs{{X: 0, Y: float64(size)}, {X: end, Y: float64(size)}},
		color: colSlate, width: vg.Points(1), dash: true, ref: true}
}

// variantsDialsChart: for each variant, one row, the first on top: the
// dials that succeeded before the ports ran out (all of them when they
// never did), the dials that failed, and the arrivals dropped for want of
// a free slot, each labelled with its count.
func variantsDialsChart(r *result.ResultFile) (chart, error) {
	n := len(r.Runs)
	before := make(plotter.Values, n)
	failed := make(plotter.Values, n)
	dropped := make(plotter.Values, n)
	names := make([]string, n)
	for i, run := range r.Runs {
		f := Measure(run)
		j := n - 1 - i
		before[j] = float64(f.DialsOKBefore)
		failed[j] = float64(run.Dials.Failed)
		dropped[j] = float64(run.Dropped)
		names[j] = run.Variant
	}
	bars := []struct {
		name string
		v    plotter.Values
		col  color.RGBA
	}{
		{"ok before exhaustion", before, colBlue},
		{"failed", failed, colRed},
		{"dropped arrivals", dropped, colGray},
	}
	shown := bars[:0]
	for _, b := range bars {
		if b.name == "ok before exhaustion" || maxValue(b.v) > 0 {
			shown = append(shown, b)
		}
	}
	const rowHeight = 30 // points per variant
	height := vg.Points(math.Max(160, 48+rowHeight*float64(n)))
	width := vg.Points(rowHeight * 0.8 / float64(len(shown)))
	b := newPlotGrid("dials", "", true, false)
	b.X.Tick.Marker = countTicks{}
	b.Y.Tick.Label.Font.Size = 10
	var legend []legendEntry
	top := 0.0
	for k, bar := range shown {
		bc, err := plotter.NewBarChart(bar.v, width)
		if err != nil {
			return chart{}, fmt.Errorf("chart variants-dials: %w", err)
		}
		bc.Horizontal = true
		bc.Color = bar.col
		bc.LineStyle.Width = 0
		// The first bar of a row on top.
		bc.Offset = width * vg.Length(float64(len(shown)-1)/2-float64(k))
		b.Add(bc, barLabels{values: bar.v, offset: bc.Offset})
		legend = append(legend, legendEntry{Name: bar.name, Color: cssColor(bar.col), Bar: true})
		top = math.Max(top, maxValue(bar.v))
	}
	b.NominalY(names...)
	b.Y.Min, b.Y.Max = -0.6, float64(n)-0.4
	b.X.Min = 0
	// Room for the labels past the longest bar.
	b.X.Max = niceCeil(math.Max(1, top) * 1.15)
	svg, err := renderSVG(b, "variants-dials", "dials per variant", chartWidth, height)
	if err != nil {
		return chart{}, err
	}
	return chart{ID: "variants-dials", Title: "Dials per variant", SVG: svg, Legend: legend,
		Caption: "What each variant got before the ports ran out (all its successful dials when they never did), what failed, and the arrivals dropped for want of a free slot."}, nil
}
