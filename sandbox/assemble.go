package sandbox

import (
	"time"

	"github.com/portex/portex/result"
)

// Collected is what an agent's stream held: the engine's result (or the
// partial one its events rebuild) and the parts of the time series that
// came beside it.
type Collected struct {
	Result *result.Result
	// Points are the streamed points, for a result that carries none.
	Points []result.Point
	// Server are the server namespace's socket-state samples.
	Server []TimedStates
	// Client are samples of the client namespace taken beside the engine:
	// a sharded run's coordinator takes them for all its shards.
	Client []TimedStates
}

// Assemble returns the Result with its time series put together: the
// streamed points, and in each the server's (and, sharded, the client's)
// sample of its interval. It is the one place a Result's time series is
// built, whichever runtime ran it; a nil Result stays nil.
func (c *Collected) Assemble() *result.Result {
	res := c.Result
	if res == nil || res.TimeSeries == nil {
		return res
	}
	ts := res.TimeSeries
	if len(ts.Points) == 0 {
		ts.Points = c.Points
	}
	alignStates(ts, res.StartedAt, c.Server, func(pt *result.Point, st *TimedStates) {
		pt.Server, pt.ServerRSSBytes = &st.States, st.RSS
	})
	alignStates(ts, res.StartedAt, c.Client, func(pt *result.Point, st *TimedStates) { pt.Client = &st.States })
	for _, s := range c.Client {
		if ts.SamplerCost == nil {
			ts.SamplerCost = &result.SamplerCost{}
		}
		ts.SamplerCost.Add(s.Cost, s.States)
	}
	return res
}

// alignStates gives each point of ts the last sample taken at or before its
// end, through set.
func alignStates(ts *result.TimeSeries, start time.Time, series []TimedStates, set func(*result.Point, *TimedStates)) {
	if ts == nil || len(series) == 0 {
		return
	}
	// A point takes a sample from its own interval (or half an interval
	// before, for clocks a little apart), never an older one: where the
	// sampler skipped, the point says nothing rather than something stale.
	j := -1
	prev := 0.0
	for i := range ts.Points {
		dt := ts.Points[i].T - prev
		if dt <= 0 {
			dt = ts.IntervalSeconds
		}
		prev = ts.Points[i].T
		window := int64(1.5 * dt * float64(time.Second))
		end := start.Add(time.Duration(ts.Points[i].T * float64(time.Second))).UnixNano()
		for j+1 < len(series) && series[j+1].UnixNano <= end {
			j++
		}
		if j >= 0 && end-series[j].UnixNano <= window {
			st := series[j]
			set(&ts.Points[i], &st)
		}
	}
}
