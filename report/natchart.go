package report

import (
	"fmt"
	"math"

	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"

	"github.com/portex/portex/result"
)

// The charts of a run with a NAT in the path: what fills is the router's
// table, not the client's range.

// natCapacity is how many connections the NAT's budget holds in all: the
// model's budget per NAT tuple times its tuples; 0 when unknown.
func natCapacity(run *result.Result) int {
	if m := run.Model; m != nil && m.Where == "nat" {
		return m.PortBudget * max(m.Tuples, 1)
	}
	return 0
}

// natPinnedXYs is the router's entries that pin a NAT port (all but
// TIME_WAIT, which the NAT evicts when short) at each point, from 0.
func natPinnedXYs(run *result.Result) plotter.XYs {
	if run.TimeSeries == nil {
		return nil
	}
	xys := plotter.XYs{{X: 0, Y: 0}}
	for _, p := range run.TimeSeries.Points {
		if t := p.NATTable; t != nil {
			xys = append(xys, plotter.XY{X: p.T, Y: float64(t.Entries - t.States["TIME_WAIT"])})
		}
	}
	if len(xys) == 1 {
		return nil
	}
	return xys
}

// allAtNAT reports whether every run of the file was modelled at its NAT:
// then the overview draws the NATs' tables.
func allAtNAT(r *result.ResultFile) bool {
	for _, run := range r.Runs {
		if natCapacity(run) == 0 || natPinnedXYs(run) == nil {
			return false
		}
	}
	return len(r.Runs) > 0
}

// natChart: the router's table over the run, against the NAT's budget.
func natChart(anchor string, run *result.Result) (chart, bool, error) {
	pinned := natPinnedXYs(run)
	if pinned == nil {
		return chart{}, false, nil
	}
	var tw plotter.XYs
	anyTW := false
	for _, p := range run.TimeSeries.Points {
		if t := p.NATTable; t != nil {
			tw = append(tw, plotter.XY{X: p.T, Y: float64(t.States["TIME_WAIT"])})
			anyTW = anyTW || t.States["TIME_WAIT"] > 0
		}
	}
	ss := []series{{name: "NAT ports in use (entries but TIME_WAIT)", xys: pinned, color: colBlue, width: vg.Points(2.25)}}
	if c := natCapacity(run); c > 0 {
		end := endTime(run)
		ss = append(ss, series{name: fmt.Sprintf("the NAT's budget (%d)", c),
			xys: plotter.XYs{{X: 0, Y: float64(c)}, {X: end, Y: float64(c)}}, color: colSlate, width: vg.Points(1), dash: true, ref: true})
	}
	var none []legendEntry
	if anyTW {
		ss = append(ss, series{name: "TIME_WAIT entries", xys: tw, color: colAmber})
	} else {
		none = append(none, legendEntry{Name: "TIME_WAIT entries", Color: cssColor(colAmber), Note: "none"})
	}
	c, err := timeChart(run, ss, anchor+"-nat", "conntrack entries", "the NAT's table over time")
	c.Legend = append(c.Legend, none...)
	c.Title = "The NAT's table"
	c.Caption = "The router's tracked TCP connections: those that hold a NAT port against the NAT's budget (its ports per NAT address or client slice, times those, or its conntrack limit), and the TIME_WAIT entries it evicts when it runs short."
	return c, err == nil, err
}

// variantsNATChart: every variant's NAT ports in use against its NAT's
// budget, each in a small chart of its own on one time axis.
func variantsNATChart(r *result.ResultFile) (chart, bool, error) {
	c := chart{ID: "variants-ports", Title: "NAT ports in use, every variant"}
	end := 0.0
	for _, run := range r.Runs {
		end = math.Max(end, endTime(run))
	}
	for i, run := range r.Runs {
		capacity := natCapacity(run)
		ss := []series{
			{name: "NAT ports in use", xys: natPinnedXYs(run), color: colBlue, width: vg.Points(2)},
			{name: fmt.Sprintf("the NAT's budget (%d)", capacity), xys: plotter.XYs{{X: 0, Y: float64(capacity)}, {X: end, Y: float64(capacity)}},
				color: colSlate, width: vg.Points(1), dash: true, ref: true},
		}
		p := newPlot("", "")
		p.X.Tick.Marker = secondsTicks{}
		p.Y.Tick.Marker = countTicks{}
		if _, err := addSeries(p, ss); err != nil {
			return chart{}, false, err
		}
		if ex := run.Exhaustion; ex != nil {
			p.Add(marker{x: ex.AtSeconds, label: "exhausted " + atTime(ex.AtSeconds), color: colRed})
		}
		p.X.Max = end
		finishAxes(p)
		id := fmt.Sprintf("variants-ports-%d", i+1)
		svg, err := renderSVG(p, id, "NAT ports in use, variant "+run.Variant, panelWidth, panelHeight)
		if err != nil {
			return chart{}, false, err
		}
		c.Panels = append(c.Panels, panel{Title: fmt.Sprintf("%s · NAT budget %d", run.Variant, capacity), SVG: svg, yMax: p.Y.Max})
	}
	c.Legend = []legendEntry{
		{Name: "NAT ports in use", Color: cssColor(colBlue)},
		{Name: "the variant's NAT budget", Color: cssColor(colSlate), Dashed: true},
		{Name: "ran out (the first timeout)", Color: cssColor(colRed), Dashed: true},
	}
	c.Caption = "One chart per variant, on one time axis: the router's entries that hold a NAT port, from the variant's start, against its NAT's budget. The client sees the NAT run out one connect_timeout later, as its first dial times out."
	return c, true, nil
}
