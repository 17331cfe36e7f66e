package watch

import (
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

func TestExporter(t *testing.T) {
	e := &Exporter{}
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(e)
	if n, err := testutil.GatherAndCount(reg); err != nil || n != 0 {
		t.Fatalf("before a report: %d series, %v; want none", n, err)
	}
	r := watched(t).Report(0)
	e.Update(&r)
	want := `
# HELP portex_watch_budget_ports Local ports each destination may use: the range less reserved and bind()-held ports.
# TYPE portex_watch_budget_ports gauge
portex_watch_budget_ports{namespace="pid 42"} 100
# HELP portex_watch_exhausts_in_seconds Projected time until the budget is full at the current rate; only while rising.
# TYPE portex_watch_exhausts_in_seconds gauge
portex_watch_exhausts_in_seconds{destination="198.18.0.2:7000",namespace="pid 42"} 7
# HELP portex_watch_ports_in_use Distinct local ports of the range held toward the destination, TIME_WAIT included.
# TYPE portex_watch_ports_in_use gauge
portex_watch_ports_in_use{destination="198.18.0.2:7000",namespace="pid 42"} 30
portex_watch_ports_in_use{destination="198.18.0.2:7001",namespace="pid 42"} 5
# HELP portex_watch_new_connections_per_second Sockets first seen in a sample, per second of the window.
# TYPE portex_watch_new_connections_per_second gauge
portex_watch_new_connections_per_second{destination="198.18.0.2:7000",namespace="pid 42"} 10
portex_watch_new_connections_per_second{destination="198.18.0.2:7001",namespace="pid 42"} 0
# HELP portex_watch_sockets Client sockets toward the destination by state.
# TYPE portex_watch_sockets gauge
portex_watch_sockets{destination="198.18.0.2:7000",namespace="pid 42",state="close_wait"} 0
portex_watch_sockets{destination="198.18.0.2:7000",namespace="pid 42",state="established"} 0
portex_watch_sockets{destination="198.18.0.2:7000",namespace="pid 42",state="time_wait"} 30
portex_watch_sockets{destination="198.18.0.2:7001",namespace="pid 42",state="close_wait"} 0
portex_watch_sockets{destination="198.18.0.2:7001",namespace="pid 42",state="established"} 5
portex_watch_sockets{destination="198.18.0.2:7001",namespace="pid 42",state="time_wait"} 0
`
	names := []string{"portex_watch_budget_ports", "portex_watch_exhausts_in_seconds", "portex_watch_ports_in_use",
		"portex_watch_new_connections_per_second", "portex_watch_sockets"}
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), names...); err != nil {
		t.Error(err)
	}
	top := watched(t).Report(1)
	e.Update(&top)
	if n := testutil.CollectAndCount(e, "portex_watch_ports_in_use"); n != 1 {
		t.Errorf("--top 1: %d destinations' series, want 1", n)
	}
}
