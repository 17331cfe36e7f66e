package sandbox

import (
	"context"
	"time"

	"github.com/portex/portex/loadgen"
)

// seriesInterval is the time series' steady resolution on both sides;
// seriesResolution, its schedule, finer in the first second.
const seriesInterval = 100 * time.Millisecond

var seriesResolution = loadgen.NewResolution(seriesInterval)

// progressEvery is how often progress events go out.
const progressEvery = 250 * time.Millisecond

// sampleUntil samples the namespace's socket states on the schedule until
// ctx ends, and hands each sample to emit; with no emit it takes none, and
// only calls also at every tick. It counts IPv6 sockets too: it samples
// the echo server's namespace, whose server listens on both families, and
// IPv6 connections are there whenever a pool dials IPv6 (without any, the
// IPv6 dump holds the listeners alone).
func sampleUntil(ctx context.Context, sched loadgen.Resolution, also func(), emit func(TimedStates)) <-chan []TimedStates {
	var s *loadgen.SocketSampler
	if emit != nil {
		var err error
		if s, err = loadgen.NewSocketSampler(0, 0); err != nil {
			s = nil
		} else {
			s.CountIPv6()
		}
	}
	out := make(chan []TimedStates, 1)
	go func() {
		if s != nil {
			defer s.Close()
		}
		out <- <-sampleEvery(ctx, s, sched, also, emit)
	}()
	return out
}

// sampleWith samples with s (nil: no samples) on the schedule until ctx
// ends.
func sampleWith(ctx context.Context, s *loadgen.SocketSampler, sched loadgen.Resolution) <-chan []TimedStates {
	return sampleEvery(ctx, s, sched, func() {}, nil)
}

// sampleEvery samples with s on the schedule until ctx ends, calling also
// at every tick; each sample goes to emit, or if emit is nil is kept and
// delivered at the end. A sample is stamped with when it was taken, not
// when its tick was due: a late tick must not move a count back in time.
func sampleEvery(ctx context.Context, s *loadgen.SocketSampler, sched loadgen.Resolution, also func(), emit func(TimedStates)) <-chan []TimedStates {
	out := make(chan []TimedStates, 1)
	go func() {
		var samples []TimedStates
		defer func() { out <- samples }()
		start := time.Now()
		every := sched.At(0)
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				now := time.Now()
				if next := sched.At(now.Sub(start)); next != every {
					every = next
					t.Reset(every)
				}
				also()
				if s == nil || !s.Due(now) {
					continue
				}
				t0 := time.Now()
				if st, err := s.Sample(); err == nil {
					ts := TimedStates{UnixNano: t0.UnixNano(), States: st, Cost: time.Since(t0), RSS: loadgen.RSS()}
					if emit != nil {
						emit(ts)
					} else {
						samples = append(samples, ts)
					}
				}
			}
		}
	}()
	return out
}
