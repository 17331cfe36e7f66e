package fleet

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/portex/portex/analysis"
	"github.com/portex/portex/loadgen"
	"github.com/portex/portex/result"
)

// Options change what Merge accepts.
type Options struct {
	// Partial merges the shards given even when some of the n are
	// missing; the merged runs say which.
	Partial bool
}

// Merge combines the results of a run's shards into one result file. The
// files must be shards of one run: the same scenario, the same shard
// count, each index once, and for every variant the same plan. Counters
// add, histograms merge without loss, the time series add up on the
// shards' wall clocks, every event keeps the shard it came from; the
// capacity model, the expectations and the verdict are worked out anew on
// the merged figures. names label the files in errors.
func Merge(files []*result.ResultFile, names []string, opt Options) (*result.ResultFile, error) {
	if len(files) == 0 {
		return nil, fmt.Errorf("%w: no results to merge", ErrMismatch)
	}
	name := func(i int) string {
		if i < len(names) {
			return names[i]
		}
		return fmt.Sprintf("result %d", i+1)
	}
	first := files[0]
	count := 0
	seen := map[int]int{}
	for i, f := range files {
		switch {
		case f.Shard == nil:
			return nil, fmt.Errorf("%w: %s is not a shard's result (it was not run with --shard i/n)", ErrMismatch, name(i))
		case f.Scenario != first.Scenario:
			return nil, fmt.Errorf("%w: %s is of scenario %q, %s of %q", ErrMismatch, name(i), f.Scenario, name(0), first.Scenario)
		case i > 0 && f.Shard.Count != count:
			return nil, fmt.Errorf("%w: %s is shard %s, %s one of %d", ErrMismatch, name(i), spec(f.Shard), name(0), count)
		}
		count = f.Shard.Count
		if j, dup := seen[f.Shard.Index]; dup {
			return nil, fmt.Errorf("%w: %s and %s are both shard %s", ErrMismatch, name(j), name(i), spec(f.Shard))
		}
		seen[f.Shard.Index] = i
	}
	var missing []string
	for k := range count {
		if _, ok := seen[k]; !ok {
			missing = append(missing, fmt.Sprintf("%d/%d", k, count))
		}
	}
	if len(missing) > 0 && !opt.Partial {
		return nil, fmt.Errorf("%w: shard %s missing: the merged result would not be the scenario's (pass --partial to merge what is here)",
			ErrMismatch, strings.Join(missing, ", "))
	}

	// The shards in index order.
	order := slices.Sorted(maps.Keys(seen))
	shards := make([]*result.ResultFile, len(order))
	labels := make([]string, len(order))
	for k, idx := range order {
		shards[k], labels[k] = files[seen[idx]], name(seen[idx])
	}
	out := &result.ResultFile{Schema: result.Schema, Scenario: first.Scenario, Runs: []*result.Result{}}
	for _, f := range shards {
		out.Shards = append(out.Shards, *f.Shard)
		if f.Stopped != "" && out.Stopped == "" {
			out.Stopped = f.Stopped
		}
	}

	variants, err := sameVariants(shards, labels, opt.Partial)
	if err != nil {
		return nil, err
	}
	for _, v := range variants {
		runs := make([]*result.Result, 0, len(shards))
		var from []result.Shard
		for _, f := range shards {
			if r := runOf(f, v); r != nil {
				runs = append(runs, r)
				from = append(from, *f.Shard)
			}
		}
		m, err := mergeRuns(runs, from, labels)
		if err != nil {
			return nil, err
		}
		if len(missing) > 0 {
			m.Notes = append(m.Notes, fmt.Sprintf("a partial merge: shard %s missing, so the counts are of %d shards of %d", strings.Join(missing, ", "), len(runs), count))
		}
		out.Runs = append(out.Runs, m)
	}
	return out, nil
}

func spec(s *result.Shard) string { return fmt.Sprintf("%d/%d", s.Index, s.Count) }

func runOf(f *result.ResultFile, variant string) *result.Result {
	for _, r := range f.Runs {
		if r.Variant == variant {
			return r
		}
	}
	return nil
}

// sameVariants returns the variants the shards ran, in the first's order:
// every shard must have run the same ones, unless the merge is partial
// (an interrupted shard ran fewer).
func sameVariants(shards []*result.ResultFile, labels []string, partial bool) ([]string, error) {
	var order []string
	have := map[string]int{}
	for _, f := range shards {
		for _, r := range f.Runs {
			if have[r.Variant] == 0 {
				order = append(order, r.Variant)
			}
			have[r.Variant]++
		}
	}
	if partial {
		return order, nil
	}
	for i, f := range shards {
		for _, v := range order {
			if runOf(f, v) == nil {
				return nil, fmt.Errorf("%w: %s has no run of variant %s, which other shards ran (pass --partial to merge what is here)", ErrMismatch, labels[i], v)
			}
		}
	}
	return order, nil
}

// mergeRuns merges one variant's runs, one a shard.
func mergeRuns(runs []*result.Result, from []result.Shard, labels []string) (*result.Result, error) {
	first := runs[0]
	if len(first.Plan) == 0 {
		return nil, fmt.Errorf("%w: the shards' results carry no plan (written by a portex without --shard?)", ErrMismatch)
	}
	for i, r := range runs[1:] {
		if !bytes.Equal(r.Plan, first.Plan) || !bytes.Equal(r.Expect, first.Expect) {
			return nil, fmt.Errorf("%w: variant %s: shard %d/%d ran another plan than shard %d/%d (%s): the same scenario file, portex version and flags (--duration, --runtime) on every shard, please",
				ErrMismatch, first.Variant, from[i+1].Index, from[i+1].Count, from[0].Index, from[0].Count, planDiff(first, r))
		}
	}
	var plan loadgen.Plan
	if err := json.Unmarshal(first.Plan, &plan); err != nil {
		return nil, fmt.Errorf("%w: variant %s: the plan in %s: %v", ErrMismatch, first.Variant, labels[0], err)
	}
	var expect *analysis.Expect
	if len(first.Expect) > 0 && string(first.Expect) != "null" {
		expect = new(analysis.Expect)
		if err := json.Unmarshal(first.Expect, expect); err != nil {
			return nil, fmt.Errorf("%w: variant %s: the expectations in %s: %v", ErrMismatch, first.Variant, labels[0], err)
		}
	}

	m := loadgen.Merge(runs)
	if len(runs) == 1 {
		c := *runs[0] // Merge returns a lone run as it is
		m = &c
	}
	m.Variant, m.Runtime = first.Variant, first.Runtime
	m.Stopped = mergedStop(runs)
	m.Plan, m.Expect = nil, nil
	m.ServerSysctls = first.ServerSysctls
	m.Target = first.Target
	m.Notes = nil
	for i, r := range runs {
		for _, n := range r.Notes {
			if strings.HasPrefix(n, "shard ") {
				continue // the shard's own note on being one
			}
			m.Notes = append(m.Notes, fmt.Sprintf("shard %d/%d: %s", from[i].Index, from[i].Count, n))
		}
	}
	m.Server = addServers(runs)
	m.Kernel = addKernel(runs)
	m.NAT = addNAT(runs)
	m.Programs = nil
	m.Events = shardEvents(runs, from, m.StartedAt)
	m.Notes = append(m.Notes, alignment(runs, from)...)
	if d := differingSysctls(runs); len(d) > 0 {
		m.Notes = append(m.Notes, fmt.Sprintf("the shards' kernels read back different settings (%s): the merged sysctls are shard %d/%d's",
			strings.Join(d, ", "), from[0].Index, from[0].Count))
	}

	// Each machine carries its shard's load against its own range: the
	// model is one shard's.
	if len(plan.Pools) > 0 {
		one, err := Spec{Index: from[0].Index, Count: from[0].Count}.Split(&plan)
		if err != nil {
			return nil, fmt.Errorf("%w: variant %s: %v", ErrMismatch, first.Variant, err)
		}
		analysis.AttachModel(one, m)
		m.Notes = append(m.Notes, fmt.Sprintf("the capacity model is one shard's: each of the %d machines carries 1/%d of the load against its own port range", from[0].Count, from[0].Count))
	}
	v := fleetVerdict(analysis.Judge(m), runs, from, m.StartedAt)
	m.Verdict = &v
	m.Expectations = analysis.Check(expect, m)
	return m, nil
}

// fleetVerdict is the merged run's verdict. Exhaustion on any machine is
// the fleet's; a fleet holds only when every shard showed its own steady
// state, each machine against its own range: the merged time series alone
// cannot show that.
func fleetVerdict(v result.Verdict, runs []*result.Result, from []result.Shard, start time.Time) result.Verdict {
	if v.Outcome == analysis.OutcomeExhausted {
		return v
	}
	var notHeld []string
	var worst *result.Verdict
	var offset float64
	for i, r := range runs {
		sv := r.Verdict
		if sv == nil || sv.Outcome != analysis.OutcomeHeld || sv.Steady == nil {
			notHeld = append(notHeld, fmt.Sprintf("%d/%d", from[i].Index, from[i].Count))
			continue
		}
		if worst == nil || sv.Steady.Ports > worst.Steady.Ports {
			worst, offset = sv, r.StartedAt.Sub(start).Seconds()
		}
	}
	switch {
	case len(notHeld) == 0 && worst != nil:
		h := *worst
		st := *worst.Steady // on the merged clock
		st.FromSeconds += offset
		st.ToSeconds += offset
		h.Steady, h.WithinSeconds = &st, v.WithinSeconds
		h.Text = fmt.Sprintf("HELD on every one of the %d shards; the most loaded: %s", len(runs), worst.Text)
		return h
	case v.Outcome == analysis.OutcomeHeld:
		v.Outcome, v.Steady = analysis.OutcomeNotExhausted, nil
		v.Text = fmt.Sprintf("NOT EXHAUSTED within %s, but not shown to hold: shard %s did not show a steady state of its own, and a fleet holds only when every machine does",
			analysis.Seconds(v.WithinSeconds), strings.Join(notHeld, ", "))
	}
	return v
}

// mergedStop is why the merged run ended: an error or an interruption of
// any shard first, then exhaustion, then what the first shard said.
func mergedStop(runs []*result.Result) string {
	for _, want := range []string{result.StoppedError, result.StoppedInterrupted, result.StoppedExhaustion} {
		for _, r := range runs {
			if r.Stopped == want {
				return want
			}
		}
	}
	return runs[0].Stopped
}

// planDiff names the plan's top-level fields that differ.
func planDiff(a, b *result.Result) string {
	var pa, pb map[string]json.RawMessage
	if json.Unmarshal(a.Plan, &pa) != nil || json.Unmarshal(b.Plan, &pb) != nil {
		return "plans unreadable"
	}
	var diff []string
	for _, k := range slices.Sorted(maps.Keys(pa)) {
		if !bytes.Equal(pa[k], pb[k]) {
			diff = append(diff, k)
		}
	}
	for _, k := range slices.Sorted(maps.Keys(pb)) {
		if _, ok := pa[k]; !ok {
			diff = append(diff, k)
		}
	}
	if !bytes.Equal(a.Expect, b.Expect) {
		diff = append(diff, "expect")
	}
	if len(diff) == 0 {
		return "the plans differ"
	}
	return "they differ in " + strings.Join(diff, ", ")
}

func addServers(runs []*result.Result) *result.ServerCounts {
	var s *result.ServerCounts
	for _, r := range runs {
		if r.Server == nil {
			continue
		}
		if s == nil {
			s = &result.ServerCounts{}
		}
		s.Accepted += r.Server.Accepted
		s.ClosedByPeer += r.Server.ClosedByPeer
		s.ClosedByServer += r.Server.ClosedByServer
		s.Errors += r.Server.Errors
		s.BytesEchoed += r.Server.BytesEchoed
		s.PeakOpen += r.Server.PeakOpen // every shard has a server of its own
		s.Requests += r.Server.Requests
	}
	return s
}

func addKernel(runs []*result.Result) *result.KernelCounters {
	var k *result.KernelCounters
	add := func(dst *map[string]int64, src map[string]int64) {
		if src == nil {
			return
		}
		if *dst == nil {
			*dst = map[string]int64{}
		}
		for n, v := range src {
			(*dst)[n] += v
		}
	}
	for _, r := range runs {
		if r.Kernel == nil {
			continue
		}
		if k == nil {
			k = &result.KernelCounters{}
		}
		add(&k.Client, r.Kernel.Client)
		add(&k.Server, r.Kernel.Server)
	}
	return k
}

func addNAT(runs []*result.Result) *result.NAT {
	var n *result.NAT
	add := func(dst **result.Conntrack, src *result.Conntrack) {
		if src == nil {
			return
		}
		if *dst == nil {
			*dst = &result.Conntrack{}
		}
		(*dst).InsertFailed += src.InsertFailed
		(*dst).Drop += src.Drop
		(*dst).EarlyDrop += src.EarlyDrop
		(*dst).LimitDrops += src.LimitDrops
	}
	for _, r := range runs {
		if r.NAT == nil {
			continue
		}
		if n == nil {
			// Each shard had a router of its own: the settings are the
			// plan's, the counters add, and the tables' peaks, seen at
			// different moments by different routers, do not.
			n = &result.NAT{Mode: r.NAT.Mode, Ports: r.NAT.Ports, RandomFully: r.NAT.RandomFully,
				Addresses: r.NAT.Addresses, PerClientPorts: r.NAT.PerClientPorts,
				ConntrackMax: r.NAT.ConntrackMax, Sysctls: r.NAT.Sysctls}
		}
		add(&n.Start, r.NAT.Start)
		add(&n.End, r.NAT.End)
	}
	return n
}

// shardEvents puts every shard's events on the merged clock, each marked
// with its shard.
func shardEvents(runs []*result.Result, from []result.Shard, start time.Time) []result.Event {
	var evs []result.Event
	for i, r := range runs {
		offset := r.StartedAt.Sub(start).Seconds()
		for _, ev := range r.Events {
			ev.AtSeconds += offset
			ev.Shard = fmt.Sprintf("%d/%d", from[i].Index, from[i].Count)
			evs = append(evs, ev)
		}
	}
	sort.SliceStable(evs, func(i, j int) bool { return evs[i].AtSeconds < evs[j].AtSeconds })
	return evs
}

// alignment says how far the time series' alignment can be trusted: the
// shards are put on one clock by their own wall clocks' start times, so
// each point of the merged series is as good as the worst clock.
func alignment(runs []*result.Result, from []result.Shard) []string {
	var lo, hi time.Time
	for _, r := range runs {
		if lo.IsZero() || r.StartedAt.Before(lo) {
			lo = r.StartedAt
		}
		if r.StartedAt.After(hi) {
			hi = r.StartedAt
		}
	}
	var unsynced []string
	var worst int64 = -1
	for _, s := range from {
		switch {
		case s.Clock == nil:
			unsynced = append(unsynced, fmt.Sprintf("%d/%d (clock not read)", s.Index, s.Count))
		case !s.Clock.Synced:
			unsynced = append(unsynced, fmt.Sprintf("%d/%d on %s", s.Index, s.Count, s.Host))
		default:
			worst = max(worst, s.Clock.MaxErrorUs)
		}
	}
	spread := hi.Sub(lo)
	t := fmt.Sprintf("merged from %d shards that started within %s of each other by their own clocks; the time series is aligned on those clocks", len(runs), spread.Round(time.Millisecond))
	switch {
	case len(unsynced) > 0:
		t += fmt.Sprintf(", and the kernel of shard %s reports its clock unsynchronised: times across shards cannot be compared closer than those clocks agree", strings.Join(unsynced, ", "))
	case worst >= 0:
		t += fmt.Sprintf(", each synchronised with a maximum error of %s by its kernel's account: two shards' times may be off by up to twice that", (time.Duration(worst) * time.Microsecond).Round(time.Microsecond))
	}
	return []string{t}
}

// differingSysctls names the settings the shards read back differently.
func differingSysctls(runs []*result.Result) []string {
	var d []string
	first := runs[0].Sysctls
	for _, k := range slices.Sorted(maps.Keys(first)) {
		for _, r := range runs[1:] {
			if r.Sysctls[k] != first[k] {
				d = append(d, k)
				break
			}
		}
	}
	return d
}
