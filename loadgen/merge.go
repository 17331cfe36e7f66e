package loadgen

import (
	"math"
	"sort"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
	"github.com/portex/portex/result"
)

// Split divides a plan into n shards that together make the same load:
// workers, rates, in-flight bounds and keep-alive pools are shared out, so
// that several processes (each with its own file-descriptor limit) can run
// one plan. Shard i of n gets the remainder's extra unit first. An open
// pool's shards interleave: shard i takes the arrivals i, i+n, i+2n, ...
// of the whole schedule (its Phase), rather than every shard firing the
// first arrival at once.
func Split(p *Plan, n int) []*Plan {
	if n <= 1 {
		return []*Plan{p}
	}
	shards := make([]*Plan, n)
	for i := range shards {
		s := *p
		s.Pools = make([]Pool, len(p.Pools))
		for j, pl := range p.Pools {
			pl.Workers = share(pl.Workers, i, n)
			pl.MaxInFlight = share(pl.MaxInFlight, i, n)
			pl.PoolSize = share(pl.PoolSize, i, n)
			pl.Rate /= float64(n)
			// The whole's arrival i+k·n is due when i+k·n of its
			// arrivals are, when (i+k·n)/n = k + i/n of the shard's are.
			if pl.Open() {
				pl.Phase = (pl.Phase + float64(i)) / float64(n)
			}
			pl.Ramp = append([]Stage(nil), pl.Ramp...)
			for k := range pl.Ramp {
				pl.Ramp[k].To /= float64(n)
			}
			s.Pools[j] = pl
		}
		shards[i] = &s
	}
	return shards
}

// share is shard i's part of total over n shards, at least 1 when total is.
func share(total, i, n int) int {
	if total == 0 {
		return 0
	}
	part := total / n
	if i < total%n {
		part++
	}
	return max(part, 1)
}

// Merge combines the results of a plan's shards into one, losslessly where
// the data allows: counters add, HDR histograms merge, time series add up
// interval by interval, the earliest exhaustion and first failures win.
func Merge(shards []*result.Result) *result.Result {
	var live []*result.Result
	for _, r := range shards {
		if r != nil {
			live = append(live, r)
		}
	}
	if len(live) == 0 {
		return nil
	}
	if len(live) == 1 {
		return live[0]
	}
	first := live[0]
	m := &result.Result{
		Variant:  first.Variant,
		Runtime:  first.Runtime,
		Stopped:  first.Stopped,
		Failures: map[string]int64{},
		Sysctls:  first.Sysctls,
		Nofile:   first.Nofile,

		PortRangeSize: first.PortRangeSize,
	}
	for _, r := range live {
		if m.StartedAt.IsZero() || r.StartedAt.Before(m.StartedAt) {
			m.StartedAt = r.StartedAt
		}
	}
	lat := newHistograms()
	for _, r := range live {
		// Every shard's times count from its own start: put them on the
		// earliest start's clock.
		offset := r.StartedAt.Sub(m.StartedAt).Seconds()
		m.ElapsedSeconds = max(m.ElapsedSeconds, offset+r.ElapsedSeconds)
		if r.LoadStoppedSeconds > 0 {
			m.LoadStoppedSeconds = max(m.LoadStoppedSeconds, offset+r.LoadStoppedSeconds)
		}
		if r.Error != "" && m.Error == "" {
			m.Error, m.Stopped = r.Error, r.Stopped
		}
		m.Dials = addDials(m.Dials, r.Dials)
		addCounts(m.Failures, r.Failures)
		m.Dropped += r.Dropped
		m.ClosedAtEnd += r.ClosedAtEnd
		lat.add(r.Latency)
		if r.Exhaustion != nil && (m.Exhaustion == nil || offset+r.Exhaustion.AtSeconds < m.Exhaustion.AtSeconds) {
			ex := *r.Exhaustion
			ex.AtSeconds += offset
			m.Exhaustion = &ex
		}
		for _, ev := range r.Events {
			ev.AtSeconds += offset
			m.Events = append(m.Events, ev)
		}
	}
	if m.Exhaustion != nil {
		// Every shard gave its ports until it ran out, or to the end; and
		// held what it held then.
		m.Exhaustion.DialsOKBefore, m.Exhaustion.OpenConnections = 0, 0
		for _, r := range live {
			if r.Exhaustion != nil {
				m.Exhaustion.DialsOKBefore += r.Exhaustion.DialsOKBefore
				m.Exhaustion.OpenConnections += r.Exhaustion.OpenConnections
			} else {
				m.Exhaustion.DialsOKBefore += r.Dials.OK
				m.Exhaustion.OpenConnections += r.PeakOpen
			}
		}
	}
	m.Latency = lat.latency()
	m.Destinations = fullestPeaks(live)
	m.Pools = mergePools(live)
	m.Events = mergeEvents(m.Events)
	m.TimeSeries = mergeSeries(live, m.StartedAt)
	m.PeakOpen = peakOpen(m.TimeSeries, live)
	m.Resources = mergeResources(live)
	return m
}

func addDials(a, b result.Dials) result.Dials {
	return result.Dials{Attempted: a.Attempted + b.Attempted, OK: a.OK + b.OK, Failed: a.Failed + b.Failed}
}

func addCounts(dst, src map[string]int64) {
	for k, v := range src {
		dst[k] += v
	}
}

// mergeHDR adds a summary's lossless histogram into h.
func mergeHDR(h *hdrhistogram.Histogram, s result.LatencySummary) {
	if src, err := s.DecodeHDR(); err == nil && src != nil {
		h.Merge(src)
	}
}

func mergePools(live []*result.Result) []result.PoolResult {
	var out []result.PoolResult
	for j := range live[0].Pools {
		p := result.PoolResult{Name: live[0].Pools[j].Name, Failures: map[string]int64{}}
		lat := newHistograms()
		for _, r := range live {
			if j >= len(r.Pools) {
				continue
			}
			rp := r.Pools[j]
			p.Dials = addDials(p.Dials, rp.Dials)
			addCounts(p.Failures, rp.Failures)
			p.Dropped += rp.Dropped
			lat.add(rp.Latency)
		}
		p.Latency = lat.latency()
		out = append(out, p)
	}
	return out
}

// mergeEvents sorts events by time and keeps one first_failure per class,
// one exhaustion, one recovery, one dropped and one end: the earliest.
func mergeEvents(evs []result.Event) []result.Event {
	sort.SliceStable(evs, func(i, j int) bool { return evs[i].AtSeconds < evs[j].AtSeconds })
	seen := map[string]bool{}
	var out []result.Event
	for _, ev := range evs {
		key := ev.Type
		if ev.Type == result.EventFirstFailure {
			key += "/" + ev.Class
		}
		if ev.Type == result.EventEnd {
			continue
		}
		if !seen[key] {
			seen[key] = true
			out = append(out, ev)
		}
	}
	var end *result.Event
	for i := range evs {
		if evs[i].Type == result.EventEnd && (end == nil || evs[i].AtSeconds > end.AtSeconds) {
			end = &evs[i]
		}
	}
	if end != nil {
		out = append(out, *end)
	}
	return out
}

// mergeSeries adds the shards' time series up by wall clock, on the
// schedule of the first (intervals counted from the earliest start). A
// shard's point counts what happened between its previous point and its
// own end: those counts are shared out over the merged intervals that span
// overlaps, in proportion to time, so a shard that sampled late adds its
// dials where they happened on average rather than all in one interval;
// the sums stay exact. Gauges (open, RSS) are summed per interval from
// each shard's last point in it, carried over the intervals it skipped.
func mergeSeries(live []*result.Result, start time.Time) *result.TimeSeries {
	var ts *result.TimeSeries
	var res Resolution
	var shardGauges []map[int]result.Point
	for _, r := range live {
		if r.TimeSeries == nil || r.TimeSeries.IntervalSeconds <= 0 {
			continue
		}
		if ts == nil {
			ts = &result.TimeSeries{IntervalSeconds: r.TimeSeries.IntervalSeconds,
				FineIntervalSeconds: r.TimeSeries.FineIntervalSeconds, FineForSeconds: r.TimeSeries.FineForSeconds}
			res = seriesResolution(ts)
		}
		grow := func(i int) {
			for len(ts.Points) <= i {
				ts.Points = append(ts.Points, result.Point{T: res.slotEnd(len(ts.Points))})
			}
		}
		offset := r.StartedAt.Sub(start).Seconds()
		gauges := map[int]result.Point{} // this shard's last gauges per interval
		from := offset                   // the start of the shard's next point
		for _, p := range r.TimeSeries.Points {
			to := offset + p.T
			first, last := res.slot(from), res.slot(to)
			if to <= from {
				first = last
			}
			grow(last)
			spread(ts.Points[first:last+1], from, to, p, res, first)
			q := &ts.Points[last]
			if q.Client == nil {
				q.Client, q.Server = p.Client, p.Server
			}
			gauges[last] = p
			from = max(from, to)
		}
		shardGauges = append(shardGauges, gauges)
	}
	// Carry each shard's gauges forward over the intervals it skipped, to
	// the end of the longest.
	for _, gauges := range shardGauges {
		var last result.Point
		for i := range ts.Points {
			if g, ok := gauges[i]; ok {
				last = g
			}
			ts.Points[i].Open += last.Open
			ts.Points[i].RSSBytes += last.RSSBytes
		}
	}
	return ts
}

// spread adds p's counts, made between from and to, to the intervals qs
// (the schedule's intervals first, first+1, …), each its share of the time.
func spread(qs []result.Point, from, to float64, p result.Point, res Resolution, first int) {
	// cum[k] is the share of the span up to the end of qs[k].
	cum := make([]float64, len(qs))
	for k := range qs {
		end := res.slotEnd(first + k)
		if k == len(qs)-1 || to <= from {
			cum[k] = 1
			continue
		}
		cum[k] = math.Min(1, math.Max(0, (end-from)/(to-from)))
	}
	share := func(n int64, add func(q *result.Point, v int64)) {
		var given int64
		for k := range qs {
			v := int64(math.Round(float64(n)*cum[k])) - given
			if v != 0 {
				add(&qs[k], v)
			}
			given += v
		}
	}
	share(p.Attempted, func(q *result.Point, v int64) { q.Attempted += v })
	share(p.OK, func(q *result.Point, v int64) { q.OK += v })
	share(p.Failed, func(q *result.Point, v int64) { q.Failed += v })
	share(p.Dropped, func(q *result.Point, v int64) { q.Dropped += v })
	for c, n := range p.Failures {
		share(n, func(q *result.Point, v int64) {
			if q.Failures == nil {
				q.Failures = map[string]int64{}
			}
			q.Failures[c] += v
		})
	}
}

func peakOpen(ts *result.TimeSeries, live []*result.Result) int64 {
	var peak int64
	if ts != nil {
		for _, p := range ts.Points {
			peak = max(peak, p.Open)
		}
	}
	if peak == 0 {
		for _, r := range live {
			peak += r.PeakOpen
		}
	}
	return peak
}

func mergeResources(live []*result.Result) *result.Resources {
	var c result.ProcessResources
	for _, r := range live {
		if r.Resources != nil {
			c.Add(r.Resources.Client)
		}
	}
	return &result.Resources{Client: &c}
}

// fullestPeaks is each destination's fullest peak over the runs: shards
// in one namespace each sampled all of it; on separate machines, each
// had a budget of its own, and the fullest machine is the one that
// counts.
func fullestPeaks(runs []*result.Result) []result.DestinationPeak {
	by := map[string]result.DestinationPeak{}
	for _, r := range runs {
		for _, d := range r.Destinations {
			if p, ok := by[d.Destination]; !ok || d.PortsInUse > p.PortsInUse {
				d.TimeWait, d.CloseWait = max(d.TimeWait, p.TimeWait), max(d.CloseWait, p.CloseWait)
				by[d.Destination] = d
			}
		}
	}
	var out []result.DestinationPeak
	for _, d := range by {
		out = append(out, d)
	}
	result.SortPeaks(out)
	return out
}
