package watch

import (
	"math"
	"testing"
	"time"
)

func TestProject(t *testing.T) {
	line := func(n int, dt, v0, slope float64) []Point {
		var pts []Point
		for i := range n {
			ti := float64(i) * dt
			pts = append(pts, Point{T: ti, InUse: int(math.Round(v0 + slope*ti))})
		}
		return pts
	}
	tests := []struct {
		name    string
		points  []Point
		budget  int
		kind    string
		growth  float64 // want, within 1%
		in      float64 // want ExhaustsInSeconds, within 1%
		says    string
		percent float64
	}{
		{name: "no samples", budget: 100, kind: Unknown, says: "measuring (needs two samples)"},
		{name: "one sample has no rate", points: []Point{{0, 41}}, budget: 100, kind: Unknown, percent: 41,
			says: "measuring (needs two samples)"},
		{name: "flat is steady", points: []Point{{0, 41}, {1, 41}, {2, 41}}, budget: 100, kind: Steady, percent: 41,
			says: "steady at 41%"},
		{name: "wobbling under one port over the window is steady", points: []Point{{0, 41}, {1, 42}, {2, 41}, {3, 42}, {4, 41}},
			budget: 100, kind: Steady, percent: 41, says: "steady at 41%"},
		{name: "10 ports/s with 50 left runs out in 5 s", points: line(11, 0.1, 40, 10), budget: 100, kind: Rising,
			growth: 10, in: 5, percent: 50, says: "runs out in ~5.0 s at the current rate (projected)"},
		{name: "the last point, not the fit's intercept, is where it starts", points: []Point{{0, 0}, {1, 10}, {2, 20}, {3, 60}},
			budget: 100, kind: Rising, growth: 19, in: 40.0 / 19, percent: 60},
		{name: "a slow climb reads in minutes", points: line(31, 1, 10000, 10), budget: 28232, kind: Rising,
			growth: 10, in: (28232 - 10300) / 10.0, says: "runs out in ~30 min at the current rate (projected)"},
		{name: "in hours", points: line(11, 1, 1000, 1), budget: 28232, kind: Rising, growth: 1, in: 28232 - 1010,
			says: "runs out in ~7.6 h at the current rate (projected)"},
		{name: "shrinking is falling", points: line(5, 1, 80, -5), budget: 100, kind: Falling, growth: -5, percent: 60,
			says: "falling at 5.0 ports/s, 60% in use"},
		{name: "at the budget is exhausted, measured", points: []Point{{0, 90}, {1, 100}}, budget: 100, kind: Exhausted,
			percent: 100, says: "exhausted: every port of the budget in use"},
		{name: "no budget: unknown", points: []Point{{0, 1}, {1, 2}}, budget: 0, kind: Unknown},
		{name: "samples at one instant: no rate", points: []Point{{1, 1}, {1, 5}}, budget: 10, kind: Unknown, percent: 50},
	}
	near := func(got, want float64) bool { return math.Abs(got-want) <= 0.01*math.Abs(want)+1e-9 }
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := Project(tt.points, tt.budget)
			if p.Kind != tt.kind {
				t.Fatalf("kind %q, want %q (%+v)", p.Kind, tt.kind, p)
			}
			if tt.growth != 0 && !near(p.GrowthPerSecond, tt.growth) {
				t.Errorf("growth %.3f/s, want %.3f/s", p.GrowthPerSecond, tt.growth)
			}
			if !near(p.ExhaustsInSeconds, tt.in) {
				t.Errorf("exhausts in %.3fs, want %.3fs", p.ExhaustsInSeconds, tt.in)
			}
			if tt.percent != 0 && !near(p.UsedPercent, tt.percent) {
				t.Errorf("used %.1f%%, want %.1f%%", p.UsedPercent, tt.percent)
			}
			if tt.says != "" && p.String() != tt.says {
				t.Errorf("says %q, want %q", p.String(), tt.says)
			}
		})
	}
}

func TestApprox(t *testing.T) {
	for _, tt := range []struct {
		secs float64
		want string
	}{
		{0.4, "0.4 s"}, {45, "45 s"}, {90, "1.5 min"}, {720, "12 min"}, {3 * 3600, "3.0 h"},
		{30 * 3600, "30 h"}, {72 * 3600, "3.0 d"},
	} {
		if got := approx(time.Duration(tt.secs * float64(time.Second))); got != tt.want {
			t.Errorf("approx(%gs) = %q, want %q", tt.secs, got, tt.want)
		}
	}
}

// The wait after a sample is the interval asked for, or ten times the
// sample's cost: watch takes a tenth of a CPU at most, however many
// sockets a sample dumps.
func TestNextWait(t *testing.T) {
	for _, c := range []struct{ interval, cost, want time.Duration }{
		{time.Second, 5 * time.Millisecond, time.Second},        // a quick sample: the interval
		{time.Second, 100 * time.Millisecond, time.Second},      // exactly a tenth
		{time.Second, 400 * time.Millisecond, 4 * time.Second},  // a slow one stretches the wait
		{100 * time.Millisecond, time.Second, 10 * time.Second}, // the interval is a floor, not a promise
	} {
		if got := NextWait(c.interval, c.cost); got != c.want {
			t.Errorf("NextWait(%s, %s) = %s, want %s", c.interval, c.cost, got, c.want)
		}
	}
}
