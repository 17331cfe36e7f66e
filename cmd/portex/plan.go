package main

import (
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/pflag"

	"github.com/portex/portex/analysis"
	"github.com/portex/portex/loadgen"
	"github.com/portex/portex/result"
	"github.com/portex/portex/scenarios"
)

// planHorizon is how far ahead portex plan looks, for every load: when the
// ports run out, and how many a load that grows needs by then.
const planHorizon = 24 * time.Hour

func cmdPlan(e *env, args []string) int {
	fs := newFlags(e, "plan", "[SCENARIO] [flags]",
		"Predict with the capacity model: ports needed, the highest sustainable rate\n"+
			"per destination, and when the ports run out (looking "+fmtDuration(planHorizon)+" ahead). From flags,\n"+
			"or from a scenario (each variant; with a scenario, only --range applies).")
	rng := fs.String("range", "32768-60999", "the ephemeral port range, lo-hi")
	rate := fs.String("rate", "", "new connections per second: 400/s, 1200/m")
	hold := fs.Duration("hold", 0, "how long each connection stays open")
	closeMode := fs.String("close", "client", "who closes: client | server | reset | leak | keep (a keep-alive pool)")
	poolSize := fs.Int("pool-size", 0, "with --close keep: the connections the keep-alive pool holds")
	maxInFlight := fs.Int("max-in-flight", 0, "connections at once at most; arrivals beyond are dropped (0: no cap)")
	dests := fs.Int("destinations", 1, "destination (address, port) pairs the load is spread over")
	sources := fs.Int("sources", 1, "source addresses")
	twReuse := fs.Int("tw-reuse", 0, "net.ipv4.tcp_tw_reuse of the client (0, 1, 2)")
	leakFlag := fs.String("leak", "0%", "share of connections never closed: 2% or 0.02, as a scenario's leak")
	natFlag := fs.String("nat", "", "behind a cloud NAT, with its provider's documented budget: aws, azure or gcp (--sources are its clients, sharing the load)")
	if code, done := parse(fs, args); done {
		return code
	}
	lo, hi, err := parseRange(*rng)
	if err != nil {
		return fs.fail(fmt.Errorf("--range: %w", err))
	}
	if fs.NArg() > 1 {
		return fs.fail(fmt.Errorf("one scenario at a time, got %d", fs.NArg()))
	}
	if fs.NArg() == 1 {
		var load []string
		fs.Visit(func(f *pflag.Flag) {
			if f.Name != "range" {
				load = append(load, "--"+f.Name)
			}
		})
		if len(load) > 0 {
			verb := "describe"
			if len(load) == 1 {
				verb = "describes"
			}
			return fs.fail(fmt.Errorf("%s %s a load of its own, and the scenario describes its load; "+
				"with a scenario only --range applies (for another load, edit the scenario or add a variant)", strings.Join(load, ", "), verb))
		}
		return planScenario(e, fs.Arg(0), hi-lo+1, fs.Changed("range"))
	}
	cm := loadgen.CloseMode(*closeMode)
	if !cm.Valid() {
		return fs.fail(fmt.Errorf("--close %q: want client, server, reset, leak or keep", *closeMode))
	}
	leak, err := parseShare(*leakFlag)
	if err != nil {
		return fs.fail(fmt.Errorf("--leak %q: %w", *leakFlag, err))
	}
	if *dests < 1 || *sources < 1 || *hold < 0 || *twReuse < 0 || *twReuse > 2 || *maxInFlight < 0 {
		return fs.fail(fmt.Errorf("--destinations and --sources must be >= 1, --hold and --max-in-flight >= 0, --tw-reuse 0, 1 or 2"))
	}
	pool := analysis.ModelPool{Hold: *hold, Close: cm, Leak: leak, Tuples: *dests * *sources, MaxInFlight: *maxInFlight}
	var title string
	if cm == loadgen.CloseKeep {
		if *poolSize < 1 {
			return fs.fail(errors.New("--close keep needs --pool-size: the connections the keep-alive pool holds"))
		}
		pool.Keep = *poolSize
		title = fmt.Sprintf("range %d-%d, a keep-alive pool of %d, %d destination(s) x %d source(s)", lo, hi, *poolSize, *dests, *sources)
	} else {
		if *rate == "" {
			return fs.fail(errors.New("name a scenario, or describe a load with --rate (e.g. --rate 400/s --hold 100ms)"))
		}
		r, err := parseRate(*rate)
		if err != nil {
			return fs.fail(fmt.Errorf("--rate: %w", err))
		}
		pool.Rate = r
		title = fmt.Sprintf("range %d-%d, %s/s, hold %s, close %s, %d destination(s) x %d source(s)",
			lo, hi, strconv.FormatFloat(r, 'f', -1, 64), *hold, cm, *dests, *sources)
		if *maxInFlight > 0 {
			title += fmt.Sprintf(", at most %d in flight", *maxInFlight)
		}
	}
	in := analysis.ModelInput{RangeSize: hi - lo + 1, TwReuse: *twReuse, Horizon: planHorizon, Pools: []analysis.ModelPool{pool}}
	if *natFlag != "" {
		np, err := analysis.NATPresetNamed(*natFlag)
		if err != nil {
			return fs.fail(fmt.Errorf("--nat: %w", err))
		}
		in = np.BehindNAT(in, *dests, *sources)
		per := "per NAT address, shared by the clients"
		if np.PerClient {
			per = "per client"
		}
		title = fmt.Sprintf("%s, behind %s: %d ports per destination %s", title, np.Title, np.Ports, per)
	}
	m := analysis.Predict(in)
	writeFigures(e.stdout, title, in, m)
	writeFormula(e.stdout, []assumption{{text: m.Assumptions}}, in.NAT)
	return exitOK
}

// parseShare parses a share as a scenario writes it (2%) or as a fraction
// within 0..1 (0.02).
func parseShare(s string) (float64, error) {
	var v float64
	var err error
	if strings.Contains(s, "%") {
		v, err = loadgen.ParseShare(s)
	} else {
		v, err = strconv.ParseFloat(strings.TrimSpace(s), 64)
	}
	if err != nil || v < 0 || v > 1 || math.IsNaN(v) {
		return 0, errors.New("want a share within 0..1 or 0%..100%, such as 2% or 0.02")
	}
	return v, nil
}

func planScenario(e *env, name string, rangeSize int, override bool) int {
	sc, err := scenarios.Open(name)
	if err != nil {
		return scenarioError(e, err)
	}
	plans, err := sc.Plans()
	if err != nil {
		return scenarioError(e, err)
	}
	var as []assumption
	nat := false
	for i, p := range plans {
		if i > 0 {
			fmt.Fprintln(e.stdout)
		}
		if len(p.Programs) > 0 {
			fmt.Fprintf(e.stdout, "%s, variant %s: runs programs, not pools; the capacity model knows only the pools' load: run it to measure (portex run %s)\n",
				sc.Name, p.Variant, name)
			continue
		}
		size := 0
		if override {
			size = rangeSize
		}
		in, m := analysis.PredictPlan(p, size, planHorizon)
		ports := fmt.Sprintf("%d ports", in.RangeSize)
		switch {
		case in.NAT:
			ports = fmt.Sprintf("a NAT's %d ports per NAT tuple (the client's own range outlasts it)", in.RangeSize)
		case in.Reserved > 0:
			ports = fmt.Sprintf("%d usable of %d ports (ip_local_reserved_ports)", in.Budget(), in.RangeSize)
		}
		writeFigures(e.stdout, fmt.Sprintf("%s, variant %s, %s", sc.Name, p.Variant, ports), in, m)
		nat = nat || in.NAT
		as = append(as, assumption{variant: p.Variant, text: m.Assumptions})
	}
	if len(as) > 0 {
		writeFormula(e.stdout, as, nat)
	}
	return exitOK
}

// writeFigures prints what the model predicts for one load.
func writeFigures(w io.Writer, title string, in analysis.ModelInput, m result.Model) {
	fmt.Fprintf(w, "%s\n\n", title)
	tuple := "destination tuple"
	if in.NAT {
		tuple = "NAT tuple"
	}
	grows := in.Grows()
	if grows {
		fmt.Fprintf(w, "  ports needed       %.0f of %d per %s after %s, and growing (leaks or holds that never end)\n",
			m.PortsNeeded, m.PortBudget, tuple, fmtDuration(in.Horizon))
	} else {
		fmt.Fprintf(w, "  ports needed       %.0f of %d per %s at steady state\n", m.PortsNeeded, m.PortBudget, tuple)
	}
	// Without reuse, TIME_WAIT sockets are part of the ports needed; with
	// it, the two figures part.
	if tw := in.TimeWaitSockets(); tw >= 1 && in.Reuses() {
		d := in.ReuseDelayOr()
		fmt.Fprintf(w, "  TIME_WAIT sockets  about %.0f per destination tuple (rate x 60 s, at most one a port connect() cycles): they pile up,\n"+
			"                     but tcp_tw_reuse lets connect() take their ports after %s (tcp_tw_reuse_delay): ports needed counts %s\n", tw, d, d)
	}
	switch {
	case m.MaxSustainableRatePerS != nil:
		fmt.Fprintf(w, "  sustainable rate   at most %.1f new connections/s per %s\n", *m.MaxSustainableRatePerS, tuple)
	case grows:
		fmt.Fprintf(w, "  sustainable rate   none: what leaks or is never closed fills any range in time\n")
	case steadyRate(in):
		fmt.Fprintf(w, "  sustainable rate   no bound from the range: no port stays pinned once its connection is gone\n")
	default:
		fmt.Fprintf(w, "  sustainable rate   not modelled: the pools hold a fixed number of connections\n")
	}
	if m.ExhaustionAtSeconds != nil {
		fmt.Fprintf(w, "  exhaustion         after %s\n", (time.Duration(*m.ExhaustionAtSeconds * float64(time.Second))).Round(time.Millisecond))
	} else {
		fmt.Fprintf(w, "  exhaustion         never within %s\n", fmtDuration(in.Horizon))
	}
}

// variantList names the variants of as in some, or the others when those
// are fewer: "every variant but tw-reuse".
func variantList(as []assumption, some []string) string {
	if 2*len(some) <= len(as) {
		return strings.Join(some, ", ")
	}
	var others []string
	for _, a := range as {
		if !slices.Contains(some, a.variant) {
			others = append(others, a.variant)
		}
	}
	return "every variant but " + strings.Join(others, ", ")
}

// steadyRate reports whether a pool opens connections at a known rate.
func steadyRate(in analysis.ModelInput) bool {
	for _, p := range in.Pools {
		if p.Rate > 0 && p.Keep == 0 {
			return true
		}
	}
	return false
}

// assumption is what the model assumed for one variant ("" for a load
// given by flags).
type assumption struct {
	variant string
	text    []string
}

// writeFormula prints the model once, after the figures, and what it
// assumed: an assumption that holds for some variants only names them.
func writeFormula(w io.Writer, as []assumption, nat bool) {
	if nat {
		fmt.Fprintf(w, "\n  model   ports(t) = served x (1-leak) x min(t, hold + the NAT's TIME_WAIT) + served x leak x t, per NAT tuple\n")
		fmt.Fprintf(w, "          a NAT tuple is a NAT address (or a client's static slice) and a destination; served = rate, or at most max_in_flight / hold\n")
		fmt.Fprintf(w, "          exhaustion when ports(t) reaches the NAT's ports; sustainable rate = ports / (hold + the NAT's TIME_WAIT)\n")
	} else {
		fmt.Fprintf(w, "\n  model   ports(t) = served x (1-leak) x min(t, hold + TIME_WAIT) + served x leak x t, per destination tuple\n")
		fmt.Fprintf(w, "          served = rate, or at most max_in_flight / hold; TIME_WAIT counts tcp_tw_reuse_delay (1 s) with tcp_tw_reuse\n")
		fmt.Fprintf(w, "          exhaustion when ports(t) reaches the range; sustainable rate = range / (hold + TIME_WAIT)\n")
	}
	var order []string
	who := map[string][]string{}
	for _, a := range as {
		for _, t := range a.text {
			if _, ok := who[t]; !ok {
				order = append(order, t)
			}
			who[t] = append(who[t], a.variant)
		}
	}
	for _, t := range order {
		if len(as) > 1 && len(who[t]) < len(as) {
			fmt.Fprintf(w, "  assumes %s (%s)\n", t, variantList(as, who[t]))
		} else {
			fmt.Fprintf(w, "  assumes %s\n", t)
		}
	}
}

// parseRange parses "lo-hi" as a scenario's port_range does.
func parseRange(s string) (lo, hi int, err error) {
	r, err := loadgen.ParsePortRange(s)
	if err != nil || r.Lo < 1024 || r.Hi > 65535 || r.Lo > r.Hi {
		return 0, 0, fmt.Errorf("%q: want lo-hi within 1024-65535, e.g. 32768-60999", s)
	}
	return r.Lo, r.Hi, nil
}

// parseRate parses "400/s" or "1200/m", as a scenario's rate does, into a
// rate per second.
func parseRate(s string) (float64, error) {
	v, err := loadgen.ParseRate(s)
	if err != nil || v <= 0 {
		return 0, fmt.Errorf("%q: want a positive rate such as 400/s or 1200/m", s)
	}
	return v, nil
}
