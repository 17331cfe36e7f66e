package loadgen

import (
	"math"
	"time"
)

// pacer turns a rate and its ramp stages into an absolute schedule: the
// k-th arrival (from 0) is due at arrival(k) after the pool's start,
// whatever happened to the ones before. It is a pure function of k, so a
// run that falls behind catches up instead of drifting, and the intended
// start of every connection is known for latency (coordinated omission).
type pacer struct {
	segs []segment
}

// segment is a stretch of time over which the rate moves linearly from a to
// b per second; n0 arrivals are due before it begins. The last segment
// lasts forever at a constant rate.
type segment struct {
	start  float64 // seconds from the pool's start
	length float64 // seconds; +Inf for the last
	a, b   float64 // arrivals per second at its start and end
	n0     float64
}

func newPacer(rate float64, ramp []Stage) pacer {
	var p pacer
	t, n, r := 0.0, 0.0, rate
	for _, st := range ramp {
		d := st.Over.Seconds()
		p.segs = append(p.segs, segment{start: t, length: d, a: r, b: st.To, n0: n})
		n += (r + st.To) / 2 * d
		t += d
		r = st.To
	}
	p.segs = append(p.segs, segment{start: t, length: math.Inf(1), a: r, b: r, n0: n})
	return p
}

// arrival returns when the k-th arrival is due, or false if it never is
// (the rate ends at zero first).
func (p pacer) arrival(k int64) (time.Duration, bool) {
	want := float64(k)
	for _, s := range p.segs {
		due := want - s.n0 // arrivals due within this segment before k
		if due < 0 {
			continue
		}
		x, ok := s.solve(due)
		if ok && x <= s.length {
			return time.Duration((s.start + x) * float64(time.Second)), true
		}
	}
	return 0, false
}

// solve finds x >= 0 with a·x + (b-a)·x²/(2·length) = due.
func (s segment) solve(due float64) (float64, bool) {
	if due == 0 {
		return 0, true
	}
	slope := 0.0
	if !math.IsInf(s.length, 1) {
		slope = (s.b - s.a) / s.length
	}
	if slope == 0 {
		if s.a <= 0 {
			return 0, false
		}
		return due / s.a, true
	}
	disc := s.a*s.a + 2*slope*due
	if disc < 0 {
		return 0, false // a falling rate reaches zero first
	}
	x := (-s.a + math.Sqrt(disc)) / slope
	return x, x >= 0
}
