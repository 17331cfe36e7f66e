package analysis

import (
	"testing"
	"time"

	"github.com/portex/portex/loadgen"
)

func natTestPlan(rng loadgen.PortRange, nat *loadgen.NAT, pool loadgen.Pool) *loadgen.Plan {
	pool.Name, pool.Ports = "p", []int{7000}
	return &loadgen.Plan{Scenario: "t", Variant: "v", Runtime: "netns", Duration: time.Minute,
		Sandbox: loadgen.Sandbox{PortRange: rng}, Pools: []loadgen.Pool{pool}, NAT: nat}
}

func TestPredictPlanBehindANAT(t *testing.T) {
	wide := loadgen.PortRange{Lo: 30000, Hi: 59999}
	pool100 := func() *loadgen.NAT {
		return &loadgen.NAT{Ports: loadgen.PortRange{Lo: 60000, Hi: 60099}, Mode: loadgen.NATSNAT}
	}
	holders := loadgen.Pool{Workers: 150, Hold: loadgen.Hold{Kind: loadgen.HoldForever}, Close: loadgen.CloseClient}
	churn := loadgen.Pool{Rate: 100, Hold: loadgen.Hold{Kind: loadgen.HoldFixed, Min: 20 * time.Millisecond}, Close: loadgen.CloseClient}
	for _, c := range []struct {
		name      string
		plan      *loadgen.Plan
		where     string
		budget    int
		tuples    int
		exhausted bool
	}{
		{"holders beyond the NAT's pool", natTestPlan(wide, pool100(), holders), "nat", 100, 1, true},
		// A Linux NAT evicts TIME_WAIT entries: 100/s x 20 ms = 2 ports.
		{"churn through the NAT: only the holds pin", natTestPlan(wide, pool100(), churn), "nat", 100, 1, false},
		{"static slices: a budget of the slice per client and destination", func() *loadgen.Plan {
			n := pool100()
			n.PerClientPorts = 25
			h := holders
			h.Sources = 4
			return natTestPlan(wide, n, h)
		}(), "nat", 25, 4, true},
		{"a conntrack limit below the ports is the budget", func() *loadgen.Plan {
			n := pool100()
			n.Conntrack.Max = 50
			return natTestPlan(wide, n, holders)
		}(), "nat", 50, 1, true},
		// The client's own 200 ports fill with TIME_WAIT (100/s x 60 s)
		// long before the NAT's 10,000 do.
		{"the client's range runs out first", natTestPlan(loadgen.PortRange{Lo: 50000, Hi: 50199},
			&loadgen.NAT{Ports: loadgen.PortRange{Lo: 50000, Hi: 59999}, Mode: loadgen.NATSNAT}, churn), "", 200, 1, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, m := PredictPlan(c.plan, 0, time.Hour)
			if m.Where != c.where || m.PortBudget != c.budget || m.Tuples != c.tuples || (m.ExhaustionAtSeconds != nil) != c.exhausted {
				t.Errorf("where %q, budget %d, tuples %d, exhaustion %v; want %q, %d, %d, exhausted %v",
					m.Where, m.PortBudget, m.Tuples, m.ExhaustionAtSeconds, c.where, c.budget, c.tuples, c.exhausted)
			}
		})
	}
}

// Two NAT addresses: the share of the busiest is the kernel's hash of the
// client addresses (loadgen.NATAddressIndex): 2 clients land on one
// address, 4 on both.
func TestNATInputHashesClients(t *testing.T) {
	for _, c := range []struct {
		sources int
		tuples  int
	}{{1, 1}, {2, 1}, {4, 2}} {
		n := &loadgen.NAT{Ports: loadgen.PortRange{Lo: 60000, Hi: 60099}, Mode: loadgen.NATSNAT, Addresses: 2}
		p := natTestPlan(loadgen.PortRange{Lo: 30000, Hi: 59999}, n,
			loadgen.Pool{Workers: 250, Sources: c.sources, Hold: loadgen.Hold{Kind: loadgen.HoldForever}, Close: loadgen.CloseClient})
		in := natInput(p, ModelInputFor(p, 0))
		if got := int(in.Pools[0].spread()); got != c.tuples {
			t.Errorf("%d client addresses: spread over %d NAT tuples, want %d", c.sources, got, c.tuples)
		}
	}
}
