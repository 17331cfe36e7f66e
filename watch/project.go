package watch

import (
	"fmt"
	"math"
	"time"
)

// Point is one destination's local ports in use at a time (seconds from
// any fixed origin).
type Point struct {
	T     float64
	InUse int
}

// Projection kinds.
const (
	Unknown   = "unknown"   // fewer than two samples: no rate yet
	Steady    = "steady"    // growth over the window under one port
	Rising    = "rising"    // growing: ExhaustsIn says when it runs out
	Falling   = "falling"   // shrinking
	Exhausted = "exhausted" // in use at the budget: measured, not projected
)

// Projection is where a destination's ports in use are heading, from a
// straight line fitted to its recent samples: a projection at the
// current rate, not a forecast.
type Projection struct {
	Kind string `json:"kind"`
	// GrowthPerSecond is the fitted slope of the ports in use.
	GrowthPerSecond float64 `json:"growth_per_second"`
	// UsedPercent is the last sample's ports in use against the budget.
	UsedPercent float64 `json:"used_percent"`
	// ExhaustsInSeconds, for Rising, is how long the budget lasts from
	// the last sample at the fitted rate.
	ExhaustsInSeconds float64 `json:"exhausts_in_seconds,omitempty"`
}

// Project fits a line (least squares) to points, oldest first, and
// projects when the last point's ports in use reach budget at that rate.
// A growth over the points' span of less than one port is Steady.
func Project(points []Point, budget int) Projection {
	if len(points) == 0 || budget <= 0 {
		return Projection{Kind: Unknown}
	}
	last := points[len(points)-1]
	p := Projection{UsedPercent: 100 * float64(last.InUse) / float64(budget)}
	if last.InUse >= budget {
		p.Kind = Exhausted
		return p
	}
	span := last.T - points[0].T
	if len(points) < 2 || span <= 0 {
		p.Kind = Unknown
		return p
	}
	var mt, mv float64
	for _, q := range points {
		mt += q.T
		mv += float64(q.InUse)
	}
	mt /= float64(len(points))
	mv /= float64(len(points))
	var cov, vt float64
	for _, q := range points {
		cov += (q.T - mt) * (float64(q.InUse) - mv)
		vt += (q.T - mt) * (q.T - mt)
	}
	p.GrowthPerSecond = cov / vt
	switch growth := p.GrowthPerSecond * span; {
	case math.Abs(growth) < 1:
		p.Kind = Steady
	case growth < 0:
		p.Kind = Falling
	default:
		p.Kind = Rising
		p.ExhaustsInSeconds = float64(budget-last.InUse) / p.GrowthPerSecond
	}
	return p
}

// String says it in words: "runs out in ~12 min at the current rate
// (projected)", "steady at 41%".
func (p Projection) String() string {
	switch p.Kind {
	case Steady:
		return fmt.Sprintf("steady at %.0f%%", p.UsedPercent)
	case Falling:
		return fmt.Sprintf("falling at %.1f ports/s, %.0f%% in use", -p.GrowthPerSecond, p.UsedPercent)
	case Rising:
		return fmt.Sprintf("runs out in ~%s at the current rate (projected)", approx(time.Duration(p.ExhaustsInSeconds*float64(time.Second))))
	case Exhausted:
		return "exhausted: every port of the budget in use"
	default:
		return "measuring (needs two samples)"
	}
}

// approx rounds a duration to two significant figures in one unit: 45 s,
// 12 min, 3.5 h, 2 d.
func approx(d time.Duration) string {
	f := func(v float64, unit string) string {
		if v < 10 {
			return fmt.Sprintf("%.1f %s", v, unit)
		}
		return fmt.Sprintf("%.0f %s", v, unit)
	}
	switch {
	case d < time.Minute:
		return f(d.Seconds(), "s")
	case d < time.Hour:
		return f(d.Minutes(), "min")
	case d < 48*time.Hour:
		return f(d.Hours(), "h")
	default:
		return f(d.Hours()/24, "d")
	}
}
