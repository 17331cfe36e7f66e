package loadgen

import (
	"math"
	"time"

	"github.com/portex/portex/result"
)

// Resolution is a time series' schedule: a point every Fine for the first
// FineFor of a run, then every Interval. A run that runs out of ports in
// milliseconds still gets a shape; a long one keeps a bounded series.
type Resolution struct {
	Interval, Fine, FineFor time.Duration
}

// NewResolution is the schedule for a steady interval: a tenth of it for
// the first ten intervals, unless that would be under 5 ms.
func NewResolution(interval time.Duration) Resolution {
	r := Resolution{Interval: interval, Fine: interval / 10, FineFor: 10 * interval}
	if r.Fine < 5*time.Millisecond {
		r.Fine, r.FineFor = interval, 0
	}
	return r
}

// At is the interval in force at elapsed time since the start.
func (r Resolution) At(elapsed time.Duration) time.Duration {
	if elapsed < r.FineFor {
		return r.Fine
	}
	return r.Interval
}

// seriesResolution is the series' schedule.
func seriesResolution(ts *result.TimeSeries) Resolution {
	sec := func(s float64) time.Duration { return time.Duration(math.Round(s * float64(time.Second))) }
	r := Resolution{Interval: sec(ts.IntervalSeconds), Fine: sec(ts.FineIntervalSeconds), FineFor: sec(ts.FineForSeconds)}
	if r.Fine <= 0 || r.FineFor <= 0 {
		r.Fine, r.FineFor = r.Interval, 0
	}
	return r
}

// setResolution records the schedule in the series.
func setResolution(ts *result.TimeSeries, r Resolution) {
	ts.IntervalSeconds = r.Interval.Seconds()
	ts.FineIntervalSeconds, ts.FineForSeconds = 0, 0
	if r.FineFor > 0 {
		ts.FineIntervalSeconds, ts.FineForSeconds = r.Fine.Seconds(), r.FineFor.Seconds()
	}
}

// slotEnd is the end, in seconds from the start, of the schedule's
// interval i (counted from 0).
func (r Resolution) slotEnd(i int) float64 {
	nf := r.fineSlots()
	if i < nf {
		return float64(i+1) * r.Fine.Seconds()
	}
	return r.FineFor.Seconds() + float64(i-nf+1)*r.Interval.Seconds()
}

// slot is the index of the schedule's interval that time t (seconds from
// the start) falls in; an interval holds its end, not its start.
func (r Resolution) slot(t float64) int {
	nf := r.fineSlots()
	if t <= r.FineFor.Seconds() && nf > 0 {
		return max(int(math.Ceil(t/r.Fine.Seconds()-1e-9))-1, 0)
	}
	return nf + max(int(math.Ceil((t-r.FineFor.Seconds())/r.Interval.Seconds()-1e-9))-1, 0)
}

func (r Resolution) fineSlots() int {
	if r.FineFor <= 0 || r.Fine <= 0 {
		return 0
	}
	return int(r.FineFor / r.Fine)
}
