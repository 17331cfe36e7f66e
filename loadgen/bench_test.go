package loadgen

import (
	"context"
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
