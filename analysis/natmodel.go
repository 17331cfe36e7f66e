package analysis

import (
	"fmt"
	"math"
	"time"

	"github.com/portex/portex/loadgen"
	"github.com/portex/portex/result"
)

// natInput describes the plan's load as a NAT between client and server
// sees it. Every connection leaves the NAT from one of its addresses, so
// the NAT's tuples are (NAT address, destination), each with the pool's
// ports; or, with static slices, (client address, destination), each
// with its slice. Which NAT address a client gets is the kernel's hash
// (loadgen.NATAddressIndex), and it keeps it: the busiest NAT address
// carries the share of the clients that hash onto it. A conntrack limit
// below what the tuples hold is one budget for every connection. The
// NAT evicts a closing connection's entry when it runs short of ports,
// so only open connections pin them.
func natInput(p *loadgen.Plan, client ModelInput) ModelInput {
	n := p.NAT
	in := client
	in.NAT, in.Reserved, in.TimeWaitBuckets = true, 0, 0
	in.RangeSize = n.Ports.Size()
	if n.PerClientPorts > 0 {
		in.RangeSize = n.PerClientPorts
	}
	in.Pools = nil
	notes := []string{fmt.Sprintf("the NAT's budget: %s", natBudgetWords(n))}
	tuples := 0.0
	for i, pl := range p.Pools {
		mp := client.Pools[i]
		dests := float64(max(distinct(pl.Ports), 1))
		sources := max(pl.Sources, 1)
		mp.Tuples, mp.Share = int(dests), 0
		switch {
		case n.PerClientPorts > 0:
			mp.Tuples = sources * int(dests)
		case n.AddressCount() > 1:
			count := make([]int, n.AddressCount())
			busiest := 0
			for s := range sources {
				a := loadgen.NATAddressIndex(loadgen.SandboxSourceAddr(s), loadgen.SandboxServerAddr, n.AddressCount())
				count[a]++
				busiest = max(busiest, count[a])
			}
			used := 0
			for _, c := range count {
				if c > 0 {
					used++
				}
			}
			mp.Share = float64(busiest) / float64(sources) / dests
			mp.Tuples = used * int(dests)
			notes = append(notes, fmt.Sprintf("pool %s: the kernel's hash puts its %d client address%s on %d of the %d NAT addresses, at most %d on one",
				pl.Name, sources, plural(sources, "es"), used, n.AddressCount(), busiest))
		}
		tuples = max(tuples, mp.spread())
		in.Pools = append(in.Pools, mp)
	}
	if m := n.Conntrack.Max; m > 0 && float64(m) < tuples*float64(in.RangeSize) {
		in.RangeSize = m
		for i := range in.Pools {
			in.Pools[i].Tuples, in.Pools[i].Share = 1, 0
		}
		notes = append(notes, fmt.Sprintf("nat.conntrack.max %d: fewer connections than the NAT's ports hold, so the limit is the budget, for every destination together (a ct count rule stands in for nf_conntrack_max)", m))
	}
	notes = append(notes,
		"a closing connection's NAT entry (TIME_WAIT) is evicted when the NAT runs short of ports, so only open connections pin them",
		"the load is spread evenly over the client addresses and destinations, as the pools dial them in turn")
	in.natNotes = notes
	return in
}

// PredictPlan is the model's prediction for a plan before it runs: the
// client's range, or a NAT's budget where the plan has a NAT and it runs
// out first. rangeSize overrides the plan's range when positive.
func PredictPlan(p *loadgen.Plan, rangeSize int, horizon time.Duration) (ModelInput, result.Model) {
	in := ModelInputFor(p, rangeSize)
	if horizon > 0 {
		in.Horizon = horizon
	}
	m := Predict(in)
	if p.NAT != nil && len(p.Pools) > 0 {
		return throughNAT(p, in, m)
	}
	return in, m
}

// throughNAT predicts a run with a NAT: the NAT's budget and the client's
// own range, and keeps the one that runs out first (the NAT's when
// neither does, since it is the smaller).
func throughNAT(p *loadgen.Plan, client ModelInput, cm result.Model) (ModelInput, result.Model) {
	in := natInput(p, client)
	m := Predict(in)
	m.Where = "nat"
	if at := cm.ExhaustionAtSeconds; at != nil && (m.ExhaustionAtSeconds == nil || *at < *m.ExhaustionAtSeconds) {
		cm.Assumptions = append(cm.Assumptions, fmt.Sprintf("the client's own range runs out before the NAT's budget (%s)", natBudgetWords(p.NAT)))
		return client, cm
	}
	m.Assumptions = append(m.Assumptions, fmt.Sprintf("the client's own range (%d ports per destination) runs out later, if at all", client.Budget()))
	return in, m
}

// natBudgetWords says what the NAT gives one destination.
func natBudgetWords(n *loadgen.NAT) string {
	switch {
	case n.PerClientPorts > 0:
		return fmt.Sprintf("a static slice of %d ports per client address and destination", n.PerClientPorts)
	case n.AddressCount() > 1:
		return fmt.Sprintf("%d ports per NAT address and destination, %d NAT addresses", n.Ports.Size(), n.AddressCount())
	}
	return fmt.Sprintf("%d ports per destination", n.Ports.Size())
}

// natCheck puts the NAT model's ports in use at the run's last point
// with the router's table beside what the table held then: its entries
// less the TIME_WAIT ones the NAT would evict, spread over the tuples.
func (in ModelInput) natCheck(r *result.Result) *result.ModelCheck {
	tuples := 0.0
	for _, p := range in.Pools {
		tuples = max(tuples, p.spread())
	}
	for i := len(r.TimeSeries.Points) - 1; i >= 0; i-- {
		pt := &r.TimeSeries.Points[i]
		if pt.NATTable == nil || (r.LoadStoppedSeconds > 0 && pt.T > r.LoadStoppedSeconds) {
			continue
		}
		c := &result.ModelCheck{AtSeconds: pt.T,
			Ports:         math.Min(in.portsAt(pt.T), float64(in.Budget())),
			MeasuredPorts: natPinned(pt.NATTable) / math.Max(tuples, 1)}
		c.Agrees = math.Abs(c.Ports-c.MeasuredPorts) <= math.Max(5, 0.2*c.Ports)
		return c
	}
	return nil
}

// natPinned is the NAT ports a table holds: its entries less those in
// TIME_WAIT, which the NAT evicts when it runs short.
func natPinned(t *result.NATTable) float64 {
	return float64(t.Entries - t.States["TIME_WAIT"])
}

// natPinSamples turns the router's tables into the samples FindSteady
// judges, per NAT tuple; a sample is exhausted when the NAT refused a
// connection (insert_failed or its limit's drops rose) in its interval.
func natPinSamples(ts *result.TimeSeries, tuples int) []loadgen.PinSample {
	if ts == nil {
		return nil
	}
	var out []loadgen.PinSample
	var refused uint64
	exhausted := false
	for i := range ts.Points {
		pt := &ts.Points[i]
		if c := pt.NAT; c != nil {
			exhausted = exhausted || c.InsertFailed+c.LimitDrops > refused
			refused = c.InsertFailed + c.LimitDrops
		}
		if pt.NATTable == nil {
			continue
		}
		out = append(out, loadgen.PinSample{T: pt.T, Ports: natPinned(pt.NATTable) / float64(max(tuples, 1)), Exhausted: exhausted})
		exhausted = false
	}
	return out
}

func distinct(ports []int) int {
	seen := map[int]bool{}
	for _, p := range ports {
		seen[p] = true
	}
	return len(seen)
}

func plural(n int, suffix string) string {
	if n == 1 {
		return ""
	}
	return suffix
}
