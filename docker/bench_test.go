package docker

import (
	"context"
	"testing"
	"time"

	"github.com/moby/moby/client"

	"github.com/portex/portex/loadgen"
	"github.com/portex/portex/result"
	"github.com/portex/portex/sandbox"
)

// What the docker runtime costs. Run with
//
//	go test ./docker/ -run '^$' -bench . -benchtime 5x

// BenchmarkImage: building the image with no build cache (the first run of
// a new binary) and finding it there (every later run).
func BenchmarkImage(b *testing.B) {
	e := needEngine(b)
	ctx := context.Background()
	bin, err := StaticBinary(agentBin)
	if err != nil {
		b.Fatal(err)
	}
	b.Run("cold", func(b *testing.B) {
		const tag = ImageRepo + ":bench-cold"
		for b.Loop() {
			if err := e.build(ctx, bin, tag, true); err != nil {
				b.Fatal(err)
			}
			b.StopTimer()
			if _, err := e.client().ImageRemove(ctx, tag, client.ImageRemoveOptions{PruneChildren: true}); err != nil {
				b.Fatal(err)
			}
			b.StartTimer()
		}
	})
	b.Run("cached", func(b *testing.B) {
		for b.Loop() {
			if _, err := e.Image(ctx, bin); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkSandbox: a network and a started, listening echo server
// container (start), then all of it removed (close).
func BenchmarkSandbox(b *testing.B) {
	e := needEngine(b)
	ctx := context.Background()
	var start, stop time.Duration
	for b.Loop() {
		t0 := time.Now()
		s, err := NewSandbox(ctx, e, image, holdPlan(1, loadgen.PortRange{}))
		if err != nil {
			s.Close()
			b.Fatal(err)
		}
		t1 := time.Now()
		if err := s.Close(); err != nil {
			b.Fatal(err)
		}
		start += t1.Sub(t0)
		stop += time.Since(t1)
	}
	b.ReportMetric(float64(start.Milliseconds())/float64(b.N), "start-ms/op")
	b.ReportMetric(float64(stop.Milliseconds())/float64(b.N), "close-ms/op")
}

// BenchmarkHoldUntilExhausted: the whole bundled scenario (300 holders, 200
// ports), from nothing to everything removed, in containers and in
// namespaces. load-ms is the load alone, as the agent measured it.
func BenchmarkHoldUntilExhausted(b *testing.B) {
	needEngine(b)
	runtimes := []struct {
		name string
		run  func(context.Context, *loadgen.Plan) (*result.Result, error)
	}{
		{"docker", func(ctx context.Context, p *loadgen.Plan) (*result.Result, error) {
			return (&Runtime{Binary: agentBin}).Run(ctx, p, nil)
		}},
		{"netns", func(ctx context.Context, p *loadgen.Plan) (*result.Result, error) {
			return (&sandbox.Netns{Exe: agentBin}).Run(ctx, p, nil)
		}},
	}
	for _, rt := range runtimes {
		b.Run(rt.name, func(b *testing.B) {
			var load float64
			for b.Loop() {
				res, err := rt.run(context.Background(), holdPlan(300, loadgen.PortRange{Lo: 50000, Hi: 50199}))
				if err != nil {
					b.Fatal(err)
				}
				if res.Dials.OK != 200 {
					b.Fatalf("ok dials = %d, want 200", res.Dials.OK)
				}
				load += res.ElapsedSeconds
			}
			b.ReportMetric(load*1000/float64(b.N), "load-ms/op")
		})
	}
}
