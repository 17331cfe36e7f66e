package report

import (
	"fmt"
	"math"
	"regexp"
	"strings"
	"testing"

	"github.com/portex/portex/result"
)

// svgPaths are the paths of an SVG drawn in a colour, in document order
// (later ones on top), by their style.
var svgPath = regexp.MustCompile(`<path d="[^"]*" style="([^"]*)"`)

func pathsIn(svg string, color string) (first, last int, styles []string) {
	first, last = -1, -1
	for i, m := range svgPath.FindAllStringSubmatch(svg, -1) {
		if strings.Contains(m[1], "stroke:"+color+";") || strings.HasSuffix(m[1], "stroke:"+color) {
			if first < 0 {
				first = i
			}
			last = i
			styles = append(styles, m[1])
		}
	}
	return first, last, styles
}

// When every port held is in TIME_WAIT, the TIME_WAIT line runs on the
// ports-in-use line: it is drawn above it, dashed, and says so.
func TestCoincidingSeriesBothVisible(t *testing.T) {
	run := fixture(t).Runs[0] // churn: TIME_WAIT = ports in use, give or take one open
	c, ok, err := socketsChart("r", run)
	if err != nil || !ok {
		t.Fatal(ok, err)
	}
	svg := string(c.SVG)
	_, blueLast, _ := pathsIn(svg, "#2563EB")
	amberFirst, _, amber := pathsIn(svg, "#D97706")
	if blueLast < 0 || amberFirst < 0 {
		t.Fatalf("no ports (%d) or TIME_WAIT (%d) path", blueLast, amberFirst)
	}
	if amberFirst < blueLast {
		t.Errorf("TIME_WAIT (path %d) is drawn under the ports in use (path %d) that it runs on", amberFirst, blueLast)
	}
	if !strings.Contains(amber[0], "stroke-dasharray") {
		t.Errorf("TIME_WAIT on the ports line is not dashed: %s", amber[0])
	}
	var note string
	for _, e := range c.Legend {
		if e.Name == "TIME_WAIT" {
			note = e.Note
		}
	}
	if note != "on local ports in use" {
		t.Errorf("TIME_WAIT's legend note %q", note)
	}
	// CLOSE_WAIT never held a socket: named, not drawn along the axis.
	if f, _, _ := pathsIn(svg, "#7C3AED"); f >= 0 {
		t.Errorf("CLOSE_WAIT, always zero, is drawn")
	}
	if !strings.Contains(fmt.Sprint(c.Legend), "CLOSE_WAIT #7c3aed false false none") {
		t.Errorf("legend %v does not name CLOSE_WAIT as none", c.Legend)
	}
}

// A run that ran out 21.9 ms into a 49 ms interval: its failures are not
// drawn from the start of the run.
func TestFirstFailureNotDrawnBeforeItsTime(t *testing.T) {
	ts := &result.TimeSeries{IntervalSeconds: 0.1, Points: []result.Point{
		{T: 0.049, Attempted: 300, OK: 200, Failed: 100, Failures: map[string]int64{"EADDRNOTAVAIL": 100}},
	}}
	xys := perSecond(ts, func(p *result.Point) int64 { return p.Failures["EADDRNOTAVAIL"] }, 0.0219)
	for _, p := range xys {
		if p.X < 0.0219 && p.Y != 0 {
			t.Errorf("failures drawn at %.4f s, before the first at 0.0219 s: %v", p.X, xys)
		}
	}
	if last := xys[len(xys)-1]; last.X != 0.049 || math.Abs(last.Y-100/0.049) > 1e-6 {
		t.Errorf("the interval's rate is %v, want 100 over 49 ms", last)
	}
	ok := perSecond(ts, func(p *result.Point) int64 { return p.OK }, 0)
	if ok[0].X != 0 || ok[0].Y == 0 {
		t.Errorf("successful dials start at %v, want at 0", ok[0])
	}
}

// variants is a result file of n variants cycling through the ranges,
// each ran out at its range.
func variants(t *testing.T, n int, ranges ...int) *result.ResultFile {
	base := fixture(t).Runs[0]
	r := &result.ResultFile{Schema: result.Schema, Scenario: "mitigations"}
	for i := 0; i < n; i++ {
		run := *base
		run.Variant = fmt.Sprintf("v%d", i+1)
		run.PortRangeSize = ranges[i%len(ranges)]
		ts := *base.TimeSeries
		ts.Points = nil
		for _, p := range base.TimeSeries.Points {
			c := *p.Client
			c.PortsInUse = c.PortsInUse * run.PortRangeSize / 100
			p.Client = &c
			ts.Points = append(ts.Points, p)
		}
		run.TimeSeries = &ts
		r.Runs = append(r.Runs, &run)
	}
	return r
}

// Many variants, or several ranges: one small chart each, with its one
// range line and a y axis to its own range, not to the widest.
func TestVariantsPortsSmallMultiples(t *testing.T) {
	r := variants(t, 12, 100, 800)
	c, ok, err := variantsPortsChart(r)
	if err != nil || !ok {
		t.Fatal(ok, err)
	}
	if len(c.Panels) != 12 {
		t.Fatalf("%d panels for 12 variants", len(c.Panels))
	}
	for i, p := range c.Panels {
		size := r.Runs[i].PortRangeSize
		if p.yMax > float64(size)*1.5 {
			t.Errorf("panel %s: y axis to %v for a range of %d", p.Title, p.yMax, size)
		}
		if _, _, slate := pathsIn(string(p.SVG), "#334155"); len(slate) != 1 {
			t.Errorf("panel %s: %d range lines, want 1", p.Title, len(slate))
		}
	}
}

// A few variants on one range share a chart, with one range line.
func TestVariantsPortsOverlaidOneRangeLine(t *testing.T) {
	r := variants(t, 3, 100)
	c, ok, err := variantsPortsChart(r)
	if err != nil || !ok {
		t.Fatal(ok, err)
	}
	if len(c.Panels) != 0 {
		t.Fatalf("%d panels for 3 variants on one range", len(c.Panels))
	}
	if _, _, slate := pathsIn(string(c.SVG), "#334155"); len(slate) != 1 {
		t.Errorf("%d range lines for one distinct range", len(slate))
	}
	// Identical variants run on each other: drawn dashed, on top.
	notes := 0
	for _, e := range c.Legend {
		if strings.HasPrefix(e.Note, "on v") {
			notes++
		}
	}
	if notes != 2 {
		t.Errorf("legend %+v: want v2 and v3 marked as on v1", c.Legend)
	}
}

// The dials chart shows what the comparison needs: ok before exhaustion,
// failed, dropped; not ok after exhaustion, which restates the duration.
func TestVariantsDialsBars(t *testing.T) {
	r := variants(t, 2, 100)
	r.Runs[1].Dropped = 37
	c, err := variantsDialsChart(r)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range c.Legend {
		names = append(names, e.Name)
	}
	if got := strings.Join(names, ", "); got != "ok before exhaustion, failed, dropped arrivals" {
		t.Errorf("bars %q", got)
	}
	for _, label := range []string{">100<", ">90<", ">37<"} {
		if !strings.Contains(string(c.SVG), label) {
			t.Errorf("no label %s on the bars", label)
		}
	}
}

func TestShortAt(t *testing.T) {
	for _, c := range []struct {
		s    float64
		want string
	}{
		{0, "at once"},
		{0.00004, "40µs"},
		{0.0219, "21.9ms"},
		{0.0004999, "500µs"},
		{2.013, "2.01s"},
	} {
		if got := shortAt(c.s); got != c.want {
			t.Errorf("shortAt(%v) = %q, want %q", c.s, got, c.want)
		}
	}
}

// 50 dials a second sampled every 10 ms is 0 or 1 per point: the rates
// chart joins points into bins long enough to show a rate, not the
// 100/s-or-nothing of single events (or 860/s from one dial in a 1 ms
// point), and loses no dial.
func TestRatesBinnedForShortIntervals(t *testing.T) {
	ts := &result.TimeSeries{IntervalSeconds: 0.1, FineIntervalSeconds: 0.01, FineForSeconds: 1}
	var sum int64
	for i := 1; i <= 200; i++ {
		p := result.Point{T: float64(i) * 0.01, OK: int64(i % 2)}
		if i == 100 {
			p.T = 0.9912 // a point 1.2 ms after the one before
		}
		sum += p.OK
		ts.Points = append(ts.Points, p)
	}
	b := rebin(ts, 2.0/rateBins)
	var got int64
	for _, p := range b.Points {
		got += p.OK
	}
	if got != sum {
		t.Errorf("bins hold %d of %d dials", got, sum)
	}
	for _, xy := range perSecond(b, func(p *result.Point) int64 { return p.OK }, 0) {
		if xy.Y > 100 {
			t.Errorf("%v/s at %.3f s from 50 dials a second", xy.Y, xy.X)
		}
	}
}
