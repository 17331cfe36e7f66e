package loadgen

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"
)

// BenchmarkRecord is the hot path of every sample: no allocation in steady
// state (batches are recycled through the aggregator's free list).
func BenchmarkRecord(b *testing.B) {
	agg := newAggregator(1, 1)
	defer agg.close()
	r := recorder{agg: agg}
	b.ReportAllocs()
	for b.Loop() {
		r.record(kindConnect, 123*time.Microsecond)
	}
	r.flush()
}

// BenchmarkDialReset is one churn connection on loopback, dialed with the
// engine's dialer and closed with RST; the echo server accepts and closes.
func BenchmarkDialReset(b *testing.B) {
	ports := freePortsB(b)
	srv, err := StartServer(ServerConfig{Addr: loopback, Listeners: []Listener{{Port: ports}}})
	if err != nil {
		b.Fatal(err)
	}
	defer srv.Close()
	spec := new(destination(loopback, ports))
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		c, _, err := dial(ctx, spec, time.Second)
		if err != nil {
			b.Fatal(err)
		}
		c.reset()
	}
}

func freePortsB(b *testing.B) int {
	s, err := StartServer(ServerConfig{Addr: loopback, Listeners: []Listener{{Port: 0}}, Loops: 1})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	return s.boundPort(0)
}

// BenchmarkTotals is what the engine reads of its workers' counters at
// every point of the time series, for closed-model pools of 1,000 to
// 1,000,000 workers (held forever, and held a second with one message):
// one set of counters a loop, so the same cost at every size.
func BenchmarkTotals(b *testing.B) {
	for _, workers := range []int{1_000, 1_000_000} {
		for _, pl := range []Pool{
			{Name: "held", Workers: workers, Hold: Hold{Kind: HoldForever}, Close: CloseClient},
			{Name: "finite", Workers: workers, Messages: 1, Hold: Hold{Kind: HoldFixed, Min: time.Second}, Close: CloseClient},
		} {
			b.Run(fmt.Sprintf("%s/workers=%d", pl.Name, workers), func(b *testing.B) {
				p := plan([]int{1}, pl)
				p.Duration = time.Millisecond
				ctx, cancel := context.WithCancel(context.Background())
				cancel() // the pools are built and stop at once
				e := newEngine(p, Options{Target: loopback})
				e.sched, e.stopSched, e.hard = ctx, func(error) {}, ctx
				var wg sync.WaitGroup
				e.startPools(&wg)
				wg.Wait()
				b.ReportAllocs()
				for b.Loop() {
					e.totals()
				}
			})
		}
	}
}
