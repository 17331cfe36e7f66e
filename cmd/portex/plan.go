package main

import (
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/portex/portex/loadgen"
	"github.com/portex/portex/report"
	"github.com/portex/portex/scenarios"
)

func cmdPlan(e *env, args []string) int {
	fs := newFlags(e, "plan", "[SCENARIO] [flags]",
		"Predict with the capacity model: ports needed at steady state, the highest\n"+
			"sustainable rate per destination, and when the ports run out. From flags,\n"+
			"or from a scenario (each variant; flags then override the range only).")
	rng := fs.String("range", "32768-60999", "the ephemeral port range, lo-hi")
	rate := fs.String("rate", "", "new connections per second: 400/s, 1200/m")
	hold := fs.Duration("hold", 0, "how long each connection stays open")
	closeMode := fs.String("close", "client", "who closes: client | server | reset | leak")
	dests := fs.Int("destinations", 1, "destination (address, port) pairs the load is spread over")
	sources := fs.Int("sources", 1, "source addresses")
	twReuse := fs.Int("tw-reuse", 0, "net.ipv4.tcp_tw_reuse of the client (0, 1, 2)")
	leak := fs.Float64("leak", 0, "share of connections never closed, 0..1")
	if code, done := parse(fs, args); done {
		return code
	}
	lo, hi, err := parseRange(*rng)
	if err != nil {
		fmt.Fprintf(e.stderr, "portex plan: --range: %v\n", err)
		return exitUsage
	}
	if fs.NArg() == 1 {
		return planScenario(e, fs.Arg(0), hi-lo+1, fs.Changed("range"))
	}
	if fs.NArg() > 1 {
		fs.Usage()
		return exitUsage
	}
	r, err := parseRate(*rate)
	if err != nil {
		fmt.Fprintf(e.stderr, "portex plan: --rate: %v\n", err)
		return exitUsage
	}
	cm := loadgen.CloseMode(*closeMode)
	if !cm.Valid() || cm == loadgen.CloseKeep {
		fmt.Fprintf(e.stderr, "portex plan: --close %q: want client, server, reset or leak\n", *closeMode)
		return exitUsage
	}
	if *dests < 1 || *sources < 1 || *leak < 0 || *leak > 1 || *hold < 0 || *twReuse < 0 || *twReuse > 2 {
		fmt.Fprintf(e.stderr, "portex plan: --destinations and --sources must be >= 1, --leak within 0..1, --hold >= 0, --tw-reuse 0, 1 or 2\n")
		return exitUsage
	}
	in := report.ModelInput{RangeSize: hi - lo + 1, TwReuse: *twReuse, Horizon: 24 * time.Hour,
		Pools: []report.ModelPool{{Rate: r, Hold: *hold, Close: cm, Leak: *leak, Tuples: *dests * *sources}}}
	writeModel(e.stdout, fmt.Sprintf("range %d-%d, %s/s, hold %s, close %s, %d destination(s) x %d source(s)",
		lo, hi, strconv.FormatFloat(r, 'f', -1, 64), *hold, cm, *dests, *sources), report.Predict(in), r)
	return exitOK
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
	for i, p := range plans {
		if i > 0 {
			fmt.Fprintln(e.stdout)
		}
		size := 0
		if override {
			size = rangeSize
		}
		in := report.ModelInputFor(p, size)
		var rate float64
		for _, mp := range in.Pools {
			rate += mp.Rate
		}
		writeModel(e.stdout, fmt.Sprintf("%s, variant %s, %d ports", sc.Name, p.Variant, in.RangeSize), report.Predict(in), rate)
	}
	return exitOK
}

func writeModel(w io.Writer, title string, m loadgen.Model, rate float64) {
	fmt.Fprintf(w, "%s\n\n", title)
	fmt.Fprintf(w, "  ports needed       %.0f of %d per destination tuple", m.PortsNeeded, m.PortBudget)
	if m.MaxSustainableRatePerS == nil {
		fmt.Fprintf(w, " (and growing: leaks or holds that never end)")
	}
	fmt.Fprintln(w)
	if m.MaxSustainableRatePerS != nil {
		fmt.Fprintf(w, "  sustainable rate   at most %.1f new connections/s per destination tuple\n", *m.MaxSustainableRatePerS)
	} else {
		fmt.Fprintf(w, "  sustainable rate   no steady state bound from TIME_WAIT\n")
	}
	if m.ExhaustionAtSeconds != nil {
		fmt.Fprintf(w, "  exhaustion         after %s\n", (time.Duration(*m.ExhaustionAtSeconds * float64(time.Second))).Round(time.Millisecond))
	} else {
		fmt.Fprintf(w, "  exhaustion         never (within a day)\n")
	}
	fmt.Fprintf(w, "\n  model   ports(t) = rate x (1-leak) x min(t, hold + TIME_WAIT) + rate x leak x t, per destination tuple\n")
	fmt.Fprintf(w, "          exhaustion when ports(t) reaches the range; sustainable rate = range / (hold + TIME_WAIT)\n")
	for _, a := range m.Assumptions {
		fmt.Fprintf(w, "  assumes %s\n", a)
	}
}

// parseRange parses "lo-hi".
func parseRange(s string) (lo, hi int, err error) {
	a, b, ok := strings.Cut(s, "-")
	if ok {
		lo, err = strconv.Atoi(strings.TrimSpace(a))
		if err == nil {
			hi, err = strconv.Atoi(strings.TrimSpace(b))
		}
	}
	if !ok || err != nil || lo < 1024 || hi > 65535 || lo > hi {
		return 0, 0, fmt.Errorf("%q: want lo-hi within 1024-65535, e.g. 32768-60999", s)
	}
	return lo, hi, nil
}

// parseRate parses "400/s" or "1200/m" into a rate per second.
func parseRate(s string) (float64, error) {
	num, unit, ok := strings.Cut(strings.TrimSpace(s), "/")
	per := map[string]float64{"s": 1, "m": 60}[unit]
	v, err := strconv.ParseFloat(num, 64)
	if !ok || per == 0 || err != nil || v <= 0 {
		return 0, fmt.Errorf("%q: want a positive rate such as 400/s or 1200/m", s)
	}
	return v / per, nil
}
