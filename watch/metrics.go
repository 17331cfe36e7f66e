package watch

import (
	"sync"

	"github.com/prometheus/client_golang/prometheus"
)

// Exporter serves the last Report as Prometheus metrics: one series per
// destination of the report's rows, so --top bounds their number.
type Exporter struct {
	mu sync.Mutex // guards r
	r  *Report
}

var (
	descBudget = prometheus.NewDesc("portex_watch_budget_ports",
		"Local ports each destination may use: the range less reserved and bind()-held ports.", []string{"namespace"}, nil)
	descRange = prometheus.NewDesc("portex_watch_range_ports",
		"Ports of ip_local_port_range.", []string{"namespace"}, nil)
	descBound = prometheus.NewDesc("portex_watch_bound_ports",
		"Ports of the range held by bind() without a connection (taken from every destination).", []string{"namespace"}, nil)
	descDests = prometheus.NewDesc("portex_watch_destinations",
		"Destinations with client sockets (the series cover the --top of them).", []string{"namespace"}, nil)
	descAt = prometheus.NewDesc("portex_watch_sample_timestamp_seconds",
		"When the last sample was taken.", []string{"namespace"}, nil)
	descInUse = prometheus.NewDesc("portex_watch_ports_in_use",
		"Distinct local ports of the range held toward the destination, TIME_WAIT included.", []string{"namespace", "destination"}, nil)
	descHeadroom = prometheus.NewDesc("portex_watch_headroom_ports",
		"Budget less ports in use.", []string{"namespace", "destination"}, nil)
	descUsed = prometheus.NewDesc("portex_watch_used_ratio",
		"Ports in use over the budget.", []string{"namespace", "destination"}, nil)
	descNew = prometheus.NewDesc("portex_watch_new_connections_per_second",
		"Sockets first seen in a sample, per second of the window.", []string{"namespace", "destination"}, nil)
	descSockets = prometheus.NewDesc("portex_watch_sockets",
		"Client sockets toward the destination by state.", []string{"namespace", "destination", "state"}, nil)
	descGrowth = prometheus.NewDesc("portex_watch_growth_ports_per_second",
		"Fitted growth of the ports in use over the window.", []string{"namespace", "destination"}, nil)
	descExhausts = prometheus.NewDesc("portex_watch_exhausts_in_seconds",
		"Projected time until the budget is full at the current rate; only while rising.", []string{"namespace", "destination"}, nil)
)

// Update makes r the report the next scrape reads.
func (e *Exporter) Update(r *Report) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.r = r
}

// Describe sends the metrics' descriptions.
func (e *Exporter) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descBudget, descRange, descBound, descDests, descAt, descInUse, descHeadroom,
		descUsed, descNew, descSockets, descGrowth, descExhausts} {
		ch <- d
	}
}

// Collect sends the last report's metrics; none before the first.
func (e *Exporter) Collect(ch chan<- prometheus.Metric) {
	e.mu.Lock()
	r := e.r
	e.mu.Unlock()
	if r == nil {
		return
	}
	g := func(d *prometheus.Desc, v float64, l ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, l...)
	}
	ns := r.Namespace
	g(descBudget, float64(r.Budget), ns)
	g(descRange, float64(r.RangeSize), ns)
	g(descBound, float64(r.Bound), ns)
	g(descDests, float64(r.Destinations), ns)
	g(descAt, float64(r.At.UnixNano())/1e9, ns)
	for _, row := range r.Rows {
		d := row.Destination
		g(descInUse, float64(row.PortsInUse), ns, d)
		g(descHeadroom, float64(row.Headroom), ns, d)
		if row.Budget > 0 {
			g(descUsed, float64(row.PortsInUse)/float64(row.Budget), ns, d)
		}
		if r.WindowSeconds > 0 {
			g(descNew, row.NewPerSecond, ns, d)
		}
		g(descSockets, float64(row.Established), ns, d, "established")
		g(descSockets, float64(row.TimeWait), ns, d, "time_wait")
		g(descSockets, float64(row.CloseWait), ns, d, "close_wait")
		switch row.Projection.Kind {
		case Rising:
			g(descExhausts, row.Projection.ExhaustsInSeconds, ns, d)
			fallthrough
		case Steady, Falling:
			g(descGrowth, row.Projection.GrowthPerSecond, ns, d)
		}
	}
}
