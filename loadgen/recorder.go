package loadgen

import (
	"sync/atomic"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
	"github.com/portex/portex/result"
)

// Recording follows two rules: counters are per worker (atomics written by
// their owner only, read by the progress sampler), and latency samples are
// batched per worker and handed to one aggregator goroutine that owns every
// histogram. No lock is taken on the hot path, and memory is bounded: a
// worker holds one batch; histograms have a fixed size whatever the run's
// length.

// Latency histograms cover 1 µs to 60 s with 3 significant digits.
const (
	histMinUs  = 1
	histMaxUs  = 60_000_000
	histDigits = 3
	batchSize  = 64
)

func newHistogram() *hdrhistogram.Histogram {
	return hdrhistogram.New(histMinUs, histMaxUs, histDigits)
}

// counters are one worker's tallies.
type counters struct {
	attempted atomic.Int64
	ok        atomic.Int64
	failed    atomic.Int64 // dial failures only
	fails     [numClasses]atomic.Int64
}

type sampleKind uint8

const (
	kindConnect sampleKind = iota // connect() to the handshake's end
	kindEchoRTT
	kindScheduleLag // an arrival's intended start to its dial's start
	numKinds
)

type sample struct {
	us   int64
	pool uint16
	kind sampleKind
}

type batch struct {
	n int
	s [batchSize]sample
}

// histograms are one histogram of each kind.
type histograms [numKinds]*hdrhistogram.Histogram

func newHistograms() histograms {
	var h histograms
	for k := range h {
		h[k] = newHistogram()
	}
	return h
}

// merge adds o's samples into h.
func (h histograms) merge(o histograms) {
	for k := range h {
		h[k].Merge(o[k])
	}
}

// latency summarizes each kind.
func (h histograms) latency() result.Latency {
	return result.Latency{
		Connect:     summarize(h[kindConnect]),
		EchoRTT:     summarize(h[kindEchoRTT]),
		ScheduleLag: summarize(h[kindScheduleLag]),
	}
}

// add merges the histograms a Latency carries, kind by kind.
func (h histograms) add(l result.Latency) {
	mergeHDR(h[kindConnect], l.Connect)
	mergeHDR(h[kindEchoRTT], l.EchoRTT)
	mergeHDR(h[kindScheduleLag], l.ScheduleLag)
}

// aggregator owns the histograms: one per (pool, kind).
type aggregator struct {
	in   chan *batch
	free chan *batch
	done chan struct{}
	hist []histograms
}

// newAggregator makes the aggregator of the given pools and workers. Its
// free list holds a batch for every worker and every slot of its input,
// as many as can ever be out at once, so that no batch is dropped to be
// allocated again later.
func newAggregator(pools, workers int) *aggregator {
	a := &aggregator{
		in:   make(chan *batch, 256),
		free: make(chan *batch, 256+workers),
		done: make(chan struct{}),
		hist: make([]histograms, pools),
	}
	for i := range a.hist {
		a.hist[i] = newHistograms()
	}
	go a.loop()
	return a
}

func (a *aggregator) loop() {
	defer close(a.done)
	for b := range a.in {
		for _, s := range b.s[:b.n] {
			a.hist[s.pool][s.kind].RecordValue(clampUs(s.us))
		}
		b.n = 0
		select {
		case a.free <- b:
		default:
		}
	}
}

// get returns an empty batch.
func (a *aggregator) get() *batch {
	select {
	case b := <-a.free:
		return b
	default:
		return new(batch)
	}
}

// close waits for every batch sent so far to be recorded.
func (a *aggregator) close() {
	close(a.in)
	<-a.done
}

func clampUs(us int64) int64 {
	switch {
	case us < histMinUs:
		return histMinUs
	case us > histMaxUs:
		return histMaxUs
	}
	return us
}

// recorder is a worker's end of the aggregator.
type recorder struct {
	agg  *aggregator
	pool uint16
	b    *batch
}

func (r *recorder) record(kind sampleKind, d time.Duration) {
	if r.b == nil {
		r.b = r.agg.get()
	}
	r.b.s[r.b.n] = sample{us: d.Microseconds(), pool: r.pool, kind: kind}
	r.b.n++
	if r.b.n == batchSize {
		r.flush()
	}
}

func (r *recorder) flush() {
	if r.b != nil && r.b.n > 0 {
		r.agg.in <- r.b
		r.b = nil
	}
}

// summarize reduces a histogram to its headline figures.
func summarize(h *hdrhistogram.Histogram) result.LatencySummary {
	if h.TotalCount() == 0 {
		return result.LatencySummary{}
	}
	var hdr string
	if enc, err := h.Encode(hdrhistogram.V2CompressedEncodingCookieBase); err == nil {
		hdr = string(enc)
	}
	return result.LatencySummary{
		HDR:    hdr,
		Count:  h.TotalCount(),
		MeanUs: h.Mean(),
		P50Us:  h.ValueAtQuantile(50),
		P90Us:  h.ValueAtQuantile(90),
		P99Us:  h.ValueAtQuantile(99),
		P999Us: h.ValueAtQuantile(99.9),
		MaxUs:  h.Max(),
	}
}
