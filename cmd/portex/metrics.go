package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/portex/portex/loadgen"
	"github.com/portex/portex/metrics"
	"github.com/portex/portex/result"
	"github.com/portex/portex/sandbox"
)

// liveMetrics is run --metrics-listen: the collector every variant feeds
// and the server that exposes it from before the first variant to the
// end of the run (and --metrics-linger past it). A nil *liveMetrics is
// a run without them.
type liveMetrics struct {
	col    *metrics.Collector
	srv    *metrics.Server
	linger time.Duration
}

// checkMetricsFlags refuses a linger without a listener, or a negative one.
func checkMetricsFlags(fs *flagSet) error {
	linger, _ := fs.GetDuration("metrics-linger")
	if fs.Changed("metrics-linger") && !fs.Changed("metrics-listen") {
		return errors.New("--metrics-linger needs --metrics-listen: it keeps the metrics served after the run")
	}
	if linger < 0 {
		return fmt.Errorf("--metrics-linger %s: want 0 or more", linger)
	}
	return nil
}

// startMetrics listens on addr ("" means no metrics) and says where,
// unless quiet.
func startMetrics(e *env, addr string, linger time.Duration, quiet bool) (*liveMetrics, error) {
	if addr == "" {
		return nil, nil
	}
	col := metrics.New()
	srv := &metrics.Server{Addr: addr, Gatherer: col.Gatherer()}
	if err := srv.Start(context.WithoutCancel(e.ctx)); err != nil {
		return nil, fmt.Errorf("--metrics-listen %s: %w", addr, err)
	}
	if !quiet {
		fmt.Fprintf(e.stderr, "portex: metrics on http://%s/metrics\n", srv.Listening())
	}
	return &liveMetrics{col: col, srv: srv, linger: linger}, nil
}

// observer is what a variant's run shows: onEvent (the progress lines,
// if any) and the metrics.
func (m *liveMetrics) observer(onEvent func(result.Event)) *sandbox.Observer {
	if m == nil {
		return &sandbox.Observer{Event: onEvent}
	}
	return &sandbox.Observer{
		Event: func(ev result.Event) {
			if onEvent != nil {
				onEvent(ev)
			}
			m.col.Event(ev)
		},
		Point:        m.col.Point,
		ServerStates: m.col.ServerStates,
	}
}

func (m *liveMetrics) begin(scenario string, p *loadgen.Plan) {
	if m != nil {
		m.col.Begin(scenario, p)
	}
}

// end closes the variant with its result, judged (nil if none).
func (m *liveMetrics) end(res *result.Result) {
	if m != nil {
		m.col.End(res)
	}
}

// lingerAfter keeps the final metrics served for --metrics-linger once
// the run is over, so that a scraper reads them; a signal ends the wait.
func (m *liveMetrics) lingerAfter(e *env, quiet bool) {
	if m == nil || m.linger <= 0 || e.ctx.Err() != nil {
		return
	}
	if !quiet {
		fmt.Fprintf(e.stderr, "portex: serving the final metrics for %s (--metrics-linger)\n", m.linger)
	}
	t := time.NewTimer(m.linger)
	defer t.Stop()
	select {
	case <-t.C:
	case <-e.ctx.Done():
	}
}

// close stops the server, letting a scrape under way finish.
func (m *liveMetrics) close() {
	if m == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	m.srv.Close(ctx)
}
