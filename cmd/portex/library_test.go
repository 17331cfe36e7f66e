package main

import (
	"context"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/portex/portex/analysis"
	"github.com/portex/portex/result"
	"github.com/portex/portex/scenarios"
)

// runs maps a result's runs by variant.
type runs map[string]*result.Result

// libraryChecks are what the physics guarantees for each bundled
// scenario's runs, whatever the machine. Where a mitigation's effect
// depends on how long one looks, nothing is asserted: the scenario
// measures it, the test does not decide it.
var libraryChecks = map[string]func(t *testing.T, r runs){
	// 200 ports, 150 connections held a second: exactly the range, then
	// EADDRNOTAVAIL at about 1.33 s, a story the charts can show.
	"hold-until-exhausted": func(t *testing.T, r runs) {
		if ex := exhausted(t, r, "default", "EADDRNOTAVAIL", 200); ex != nil && (ex.AtSeconds < 1.2 || ex.AtSeconds > 1.6) {
			t.Errorf("default: exhausted at %.2fs, want about 1.33 s", ex.AtSeconds)
		}
	},
	// 100 ports at 50 closes/s, each port in TIME_WAIT for 60 s: out of
	// ports at about 2 s; the variants leave no TIME_WAIT on the client.
	"time-wait-churn": func(t *testing.T, r runs) {
		if ex := exhausted(t, r, "baseline", "EADDRNOTAVAIL", 100); ex != nil && (ex.AtSeconds < 1.5 || ex.AtSeconds > 3) {
			t.Errorf("baseline: exhausted at %.2fs, want 1.5-3 s", ex.AtSeconds)
		}
		// The capacity model predicts range / rate = 2 s: the measurement
		// must land within 10% of it, and the model must see that each
		// variant never runs out.
		if m := r["baseline"].Model; m == nil || m.ExhaustionAtSeconds == nil || m.RelativeError == nil || math.Abs(*m.RelativeError) > 0.10 {
			t.Errorf("baseline: the model %+v is not within 10%% of the measurement", m)
		}
		for _, v := range []string{"tw-reuse", "reset", "server-close"} {
			notExhausted(t, r, v)
			if ok := r[v].Dials.OK; ok < 240 {
				t.Errorf("%s: %d dials in 5 s at 50/s", v, ok)
			}
			if m := r[v].Model; m == nil || m.ExhaustionAtSeconds != nil {
				t.Errorf("%s: the model %+v predicts exhaustion", v, m)
			}
		}
	},
	// bind() before connect() reserves a port for all three destinations.
	"bind-before-connect": func(t *testing.T, r runs) {
		exhausted(t, r, "baseline", "EADDRINUSE", 100)
		exhausted(t, r, "no-port", "EADDRNOTAVAIL", 300)
		exhausted(t, r, "plain-connect", "EADDRNOTAVAIL", 300)
	},
	// 128 descriptors, 40001 ports: EMFILE, never EADDRNOTAVAIL.
	// A NAT of 100 ports: 100 held connections per destination, then the
	// NAT drops the SYNs and the dials time out; the client's own range
	// never runs out.
	// The dials time out on their connect_timeout (1 s), long before the
	// kernel's SYN retries would: portex's timeout, not ETIMEDOUT.
	"cloud-nat": func(t *testing.T, r runs) {
		for v, ok := range map[string]int64{"baseline": 100, "more-destinations": 200, "more-nat-addresses": 200,
			"static-slices": 80, "larger-slices": 100, "conntrack-limit": -1} {
			ex := exhausted(t, r, v, "timeout", ok)
			if ex != nil && ex.Where != "nat" {
				t.Errorf("%s: exhausted where %q, want at the NAT", v, ex.Where)
			}
			if run := r[v]; run != nil && run.Failures["EADDRNOTAVAIL"] != 0 {
				t.Errorf("%s: failures %v, want no EADDRNOTAVAIL", v, run.Failures)
			}
		}
		if ex := r["conntrack-limit"].Exhaustion; ex == nil || ex.Limit != "conntrack" || ex.DialsOKBefore < 48 || ex.DialsOKBefore > 50 {
			t.Errorf("conntrack-limit: exhaustion %+v, want the conntrack limit of 50 reached", ex)
		}
		notExhausted(t, r, "keep-alive")
	},
	// A node's masquerade of 100 ports: 100 held, random_fully or not;
	// churn through it never runs out.
	"node-snat": func(t *testing.T, r runs) {
		for _, v := range []string{"baseline", "random-fully"} {
			if ex := exhausted(t, r, v, "timeout", 100); ex != nil && ex.Where != "nat" {
				t.Errorf("%s: exhausted where %q, want at the NAT", v, ex.Where)
			}
		}
		notExhausted(t, r, "churn")
		if run := r["churn"]; run != nil && (run.Dials.OK <= 100 || run.NAT == nil || run.NAT.PeakTimeWait == 0) {
			t.Errorf("churn: %d ok, nat %+v: want more connections than the NAT's 100 ports, through its TIME_WAIT entries", run.Dials.OK, run.NAT)
		}
	},
	"fd-limit": func(t *testing.T, r runs) {
		run := r["default"]
		if run.Failures["EMFILE"] == 0 || run.Failures["EADDRNOTAVAIL"] != 0 || run.Exhaustion != nil {
			t.Errorf("failures %v, exhaustion %+v; want EMFILE only", run.Failures, run.Exhaustion)
		}
	},
	// Only the leaked fifth pins ports: the 60-port range serves far more
	// than 60 connections, and runs out with the leaked ones open.
	"leaky-client": func(t *testing.T, r runs) {
		ex := exhausted(t, r, "default", "EADDRNOTAVAIL", -1)
		if ex == nil {
			return
		}
		if ex.DialsOKBefore <= 2*60 || ex.AtSeconds < 1.5 || ex.AtSeconds > 6 {
			t.Errorf("exhausted after %d connections at %.2fs; want a slow leak: more than 120, at 1.5-6 s", ex.DialsOKBefore, ex.AtSeconds)
		}
		if ex.OpenConnections < 50 {
			t.Errorf("%d connections open at exhaustion; the leaked ones should hold the 60 ports", ex.OpenConnections)
		}
	},
	// The server closes first, the client never does: every connection
	// still holds its port when the range runs out.
	"close-wait-leak": func(t *testing.T, r runs) {
		ex := exhausted(t, r, "default", "EADDRNOTAVAIL", 100)
		if ex != nil && ex.OpenConnections != 100 {
			t.Errorf("%d connections open at exhaustion, want the 100 the server closed and the client kept", ex.OpenConnections)
		}
		if ex != nil && ex.Sockets != nil && (ex.Sockets.CloseWait == 0 || ex.Sockets.TimeWait != 0) {
			t.Errorf("client sockets at exhaustion %+v: want ports held in CLOSE_WAIT, none in TIME_WAIT", *ex.Sockets)
		}
		// The server closed every connection idle for 500 ms; the client
		// closed none, but the run's end resets those younger than that.
		if s := r["default"].Server; s == nil || s.ClosedByServer < 60 || s.ClosedByServer+s.ClosedByPeer != s.Accepted {
			t.Errorf("server counts %+v: want most connections closed by the server, the rest by the run's end", s)
		}
	},
	// 100/s closed by the client in 150 ports: out at 1.5 s. Each run
	// lasts until its verdict is known. TIME_WAIT reuse, RST close, the
	// server closing first and keep-alive hold, and the run shows it;
	// twice the ports, destinations or sources only delay exhaustion, and
	// tcp_fin_timeout does not touch TIME_WAIT; a leak runs out later
	// than the run lasts, which only the model can say.
	"mitigations": func(t *testing.T, r runs) {
		base := exhausted(t, r, "baseline", "EADDRNOTAVAIL", 150)
		fin := exhausted(t, r, "fin-timeout", "EADDRNOTAVAIL", 150)
		if base != nil && fin != nil && math.Abs(base.AtSeconds-fin.AtSeconds) > 0.5 {
			t.Errorf("fin-timeout exhausted at %.2fs, the baseline at %.2fs: tcp_fin_timeout does not shorten TIME_WAIT", fin.AtSeconds, base.AtSeconds)
		}
		for v, want := range map[string]int64{"wider-range": 300, "more-destinations": 300, "more-sources": 300, "shorter-holds": 150, "connection-limit": 150} {
			if ex := exhausted(t, r, v, "EADDRNOTAVAIL", want); ex != nil && base != nil && v != "shorter-holds" && ex.AtSeconds < 1.5*base.AtSeconds {
				t.Errorf("%s: exhausted at %.2fs, the baseline at %.2fs: it should only delay exhaustion", v, ex.AtSeconds, base.AtSeconds)
			}
		}
		for _, v := range []string{"tw-reuse", "rst-close", "keep-alive", "server-closes-first"} {
			notExhausted(t, r, v)
			verdict(t, r, v, "held", "measured")
			if run := r[v]; run != nil && run.Stopped != result.StoppedSteady {
				t.Errorf("%s: stopped by %s; a run that holds stops once it shows its steady state", v, run.Stopped)
			}
		}
		notExhausted(t, r, "rst-close-leaking")
		if v := verdict(t, r, "rst-close-leaking", "not_exhausted", "model"); v != nil &&
			(!v.Predicted || v.ExhaustionAtSeconds == nil || *v.ExhaustionAtSeconds < 20 || *v.ExhaustionAtSeconds > 32) {
			t.Errorf("rst-close-leaking: verdict %+v; want a predicted exhaustion at about 26 s", v)
		}
		for name, run := range r {
			if run.Verdict != nil && run.Verdict.Outcome == "exhausted" && run.Stopped != result.StoppedExhaustion {
				t.Errorf("%s: exhausted but stopped by %s", name, run.Stopped)
			}
		}
	},
}

// verdict checks variant v's verdict and returns it.
func verdict(t *testing.T, r runs, v, outcome, basis string) *result.Verdict {
	t.Helper()
	run := r[v]
	switch {
	case run == nil:
		t.Errorf("no run of variant %s", v)
		return nil
	case run.Verdict == nil:
		t.Errorf("%s: no verdict in result.json", v)
		return nil
	case run.Verdict.Outcome != outcome || run.Verdict.Basis != basis:
		t.Errorf("%s: verdict %s (%s), want %s (%s): %s", v, run.Verdict.Outcome, run.Verdict.Basis, outcome, basis, run.Verdict.Text)
	}
	return run.Verdict
}

// bundledLimit is how long a bundled scenario may run: 45 s by design
// (mitigations' runs, one after another, each until its verdict is
// known), twice that under the race detector, whose agents (this test
// binary) run slower.
var bundledLimit = 45 * time.Second

func init() {
	if raceEnabled {
		bundledLimit *= 2
	}
}

// TestLibraryRuns runs every bundled scenario for real, as a user would,
// and checks its result.json. The runs are independent network
// namespaces, so they run in parallel; mitigations, whose twelve runs
// (each until its verdict is known) come one after another, sets the pace.
func TestLibraryRuns(t *testing.T) {
	needsFullTier(t)
	t.Parallel()
	entries := scenarios.Library()
	for _, entry := range entries {
		if _, long := longScenarios[entry.Name]; long {
			continue // TestLongScenariosRun
		}
		if _, prog := programScenarios[entry.Name]; prog {
			continue // TestProgramScenarios: its program is built first
		}
		check, ok := libraryChecks[entry.Name]
		if !ok {
			t.Errorf("bundled scenario %s has no check in libraryChecks", entry.Name)
			continue
		}
		t.Run(entry.Name, func(t *testing.T) {
			t.Parallel()
			sc, err := scenarios.Open(entry.Name)
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), max(2*time.Minute, 2*bundledLimit))
			defer cancel()
			dir := filepath.Join(t.TempDir(), "out")
			start := time.Now()
			got := portex(t, ctx, "run", entry.Name, "--out", dir, "-q")
			if got.code != exitOK {
				t.Fatalf("exit %d, stderr:\n%s", got.code, got.stderr)
			}
			if d := time.Since(start); d > bundledLimit {
				t.Errorf("took %s; a bundled scenario must finish in under %s", d.Round(time.Second), bundledLimit)
			}
			r := readResult(t, dir)
			byVariant := make(runs)
			var order []string
			for _, run := range r.Runs {
				if run.Error != "" || run.Stopped == result.StoppedError {
					t.Errorf("variant %s failed: %s", run.Variant, run.Error)
				}
				byVariant[run.Variant] = run
				order = append(order, run.Variant)
			}
			if want := sc.VariantNames(); !slices.Equal(order, want) {
				t.Fatalf("ran %v, want %v", order, want)
			}
			check(t, byVariant)
		})
	}
	for name := range programScenarios {
		if !slices.ContainsFunc(entries, func(e scenarios.Entry) bool { return e.Name == name }) {
			t.Errorf("programScenarios has %s, which is not bundled", name)
		}
	}
	for name := range libraryChecks {
		if !slices.ContainsFunc(entries, func(e scenarios.Entry) bool { return e.Name == name }) {
			t.Errorf("libraryChecks has %s, which is not bundled", name)
		}
	}
}

// exhausted checks that variant v ran out of ports with class, after
// exactly ok successful dials (ok < 0: any number), and returns the
// exhaustion.
func exhausted(t *testing.T, r runs, v, class string, ok int64) *result.Exhaustion {
	t.Helper()
	run := r[v]
	if run == nil {
		t.Errorf("no run of variant %s", v)
		return nil
	}
	ex := run.Exhaustion
	switch {
	case ex == nil:
		t.Errorf("%s: not exhausted (%d ok dials, failures %v)", v, run.Dials.OK, run.Failures)
		return nil
	case ex.Class != class:
		t.Errorf("%s: exhausted with %s, want %s", v, ex.Class, class)
	case ok >= 0 && (ex.DialsOKBefore != ok || run.Dials.OK != ok):
		t.Errorf("%s: %d ok dials (%d before exhaustion), want %d", v, run.Dials.OK, ex.DialsOKBefore, ok)
	}
	return ex
}

// notExhausted checks that variant v never ran out of ports.
func notExhausted(t *testing.T, r runs, v string) {
	t.Helper()
	run := r[v]
	switch {
	case run == nil:
		t.Errorf("no run of variant %s", v)
	case run.Exhaustion != nil || run.Failures["EADDRNOTAVAIL"] != 0 || run.Failures["EADDRINUSE"] != 0:
		t.Errorf("%s: exhausted %+v, failures %v", v, run.Exhaustion, run.Failures)
	}
}

// Every bundled scenario passes `portex validate`, all in one call.
func TestValidateLibrary(t *testing.T) {
	args := []string{"validate"}
	for _, e := range scenarios.Library() {
		args = append(args, e.Name)
	}
	got := portex(t, context.Background(), args...)
	if got.code != exitOK || got.stderr != "" {
		t.Fatalf("exit %d, stderr:\n%s", got.code, got.stderr)
	}
	if n := strings.Count(got.stdout, ": ok ("); n != len(args)-1 {
		t.Errorf("%d ok lines for %d scenarios:\n%s", n, len(args)-1, got.stdout)
	}
	if !strings.Contains(got.stdout, "library/mitigations.yaml: ok (mitigations; runs: baseline, wider-range,") &&
		!strings.Contains(got.stdout, "mitigations: ok (mitigations; runs: baseline, wider-range,") {
		t.Errorf("validate does not list the runs of a scenario with variants:\n%s", got.stdout)
	}
}

// `portex validate` prints every problem of every file, with
// file:line:column and the key, and exits 2.
func TestValidatePrintsEveryProblem(t *testing.T) {
	var many strings.Builder
	many.WriteString("name: many\npools:\n")
	for i := range 60 {
		fmt.Fprintf(&many, "  - name: p%d\n    workers: 0\n", i)
	}
	first := writeScenario(t, many.String())
	second := writeScenario(t, "name: two\npools:\n  - name: a\n    rate: 5\nvariants:\n  - name: v\n    pools:\n      - name: b\n")
	good := writeScenario(t, "name: good\npools:\n  - name: a\n")
	got := portex(t, context.Background(), "validate", first, good, second)
	if got.code != exitUsage {
		t.Fatalf("exit %d, want 2", got.code)
	}
	lines := strings.Split(strings.TrimSpace(got.stderr), "\n")
	if len(lines) != 62 {
		t.Errorf("%d lines on stderr, want 60 + 2 problems:\n%s", len(lines), got.stderr)
	}
	for _, want := range []string{
		first + ":4:14: pools[0].workers: must be between 1",
		first + ":122:14: pools[59].workers: must be between 1",
		second + ":4:11: pools[0].rate: want a rate like 200/s or 30/m",
		second + `:8:15: variants[0].pools[0].name: the scenario has no pool named "b"`,
	} {
		if !strings.Contains(got.stderr, want+"") {
			t.Errorf("stderr lacks %q", want)
		}
	}
	if strings.Contains(got.stderr, "... and ") || got.stdout != good+": ok (good)\n" {
		t.Errorf("stdout %q, stderr:\n%s", got.stdout, got.stderr)
	}
}

// `portex run --variant` runs the variants named, in the scenario's order,
// and refuses a name the scenario lacks before running anything.
func TestRunVariantFlag(t *testing.T) {
	needsFullTier(t)
	tests := []struct {
		why  string
		args []string
		want []string
	}{
		{"a comma list", []string{"--variant", "plain-connect,no-port"}, []string{"no-port", "plain-connect"}},
		{"a repeated flag", []string{"--variant", "no-port", "--variant=baseline"}, []string{"baseline", "no-port"}},
	}
	for _, tt := range tests {
		dir := filepath.Join(t.TempDir(), "out")
		args := append([]string{"run", "bind-before-connect", "--out", dir, "-q"}, tt.args...)
		got := portex(t, context.Background(), args...)
		if got.code != exitOK {
			t.Fatalf("%s: exit %d, stderr:\n%s", tt.why, got.code, got.stderr)
		}
		var ran []string
		for _, run := range readResult(t, dir).Runs {
			ran = append(ran, run.Variant)
		}
		if !slices.Equal(ran, tt.want) {
			t.Errorf("%s: ran %v, want %v", tt.why, ran, tt.want)
		}
	}

	dir := filepath.Join(t.TempDir(), "out")
	got := portex(t, context.Background(), "run", "bind-before-connect", "--variant", "no-prot", "--out", dir, "-q")
	if got.code != exitUsage {
		t.Fatalf("unknown variant: exit %d, want 2", got.code)
	}
	if want := `no variant "no-prot"; did you mean "no-port"?; the variants are baseline, no-port, plain-connect`; !strings.Contains(got.stderr, want) {
		t.Errorf("stderr %q lacks %q", got.stderr, want)
	}
	if _, err := os.Stat(dir); err == nil {
		t.Error("an unknown variant made the output folder")
	}
}

// longScenarios are the bundled scenarios that run longer than CI allows
// (soak) or load the whole machine (the benchmarks): CI runs them one at a
// time, shortened with --duration, and checks what must hold at any length.
var longScenarios = map[string]struct {
	duration string
	check    func(t *testing.T, r *result.Result)
}{
	"bench-churn":      {"2s", func(t *testing.T, r *result.Result) { atLeast(t, "ok dials", r.Dials.OK, 1000) }},
	"bench-churn-echo": {"2s", func(t *testing.T, r *result.Result) { atLeast(t, "echoes", r.Latency.EchoRTT.Count, 1000) }},
	"bench-echo": {"2s", func(t *testing.T, r *result.Result) {
		atLeast(t, "echoes", r.Latency.EchoRTT.Count, 10000)
		if r.Dials.OK != 100 {
			t.Errorf("%d connections, want the 100 kept alive", r.Dials.OK)
		}
	}},
	"bench-hold": {"3s", func(t *testing.T, r *result.Result) {
		if r.Dials.OK != 19000 || r.PeakOpen != 19000 {
			t.Errorf("ok %d, peak open %d: want 19,000 held", r.Dials.OK, r.PeakOpen)
		}
		switch c := r.Resources.Client; {
		case raceEnabled:
			// The agents are this test binary: under -race, its shadow
			// memory grows with every connection's.
			t.Logf("not checked under the race detector: client RSS per held connection %d B", c.RSSPerConnectionBytes)
		case c.RSSPerConnectionBytes > 1000:
			t.Errorf("client RSS per held connection %d B", c.RSSPerConnectionBytes)
		}
		// Two sockets and what they come with, some kilobytes, read from
		// the machine's slab, which the tests running beside move too:
		// only its bounds are checked.
		if k := r.Resources.Kernel; k == nil || k.PerConnectionBytes <= 0 || k.PerConnectionBytes > 64<<10 {
			t.Errorf("kernel memory %+v: want the slab's growth, up to 64 KB a held connection", k)
		}
	}},
	"bench-hold-100k": {"8s", func(t *testing.T, r *result.Result) {
		if r.Dials.OK != 100000 || r.Resources.Client.Processes < 5 || r.Resources.Server.Processes < 5 {
			t.Errorf("ok %d over %d client and %d server processes: want 100,000 past the 20,000-descriptor limit",
				r.Dials.OK, r.Resources.Client.Processes, r.Resources.Server.Processes)
		}
	}},
	// Cut short, a million connections are not all open: the run says
	// so, never that it held.
	"bench-hold-1m": {"2s", func(t *testing.T, r *result.Result) {
		if r.Resources.Client.Processes < 50 || r.Resources.Server.Processes < 58 {
			t.Errorf("%d client and %d server processes, want 51 and 60", r.Resources.Client.Processes, r.Resources.Server.Processes)
		}
		if r.Dials.OK < 1_000 || r.PeakOpen >= 1_000_000 {
			t.Errorf("ok %d, peak open %d: want some but not all of the million open in 2 s", r.Dials.OK, r.PeakOpen)
		}
		if r.Model == nil || r.Model.HeldConnections != 1_000_000 || r.Model.SlowPortsAbove != 0 {
			t.Errorf("model %+v: want 1,000,000 held connections, and no destination past half its ports", r.Model)
		}
		if r.Verdict == nil || r.Verdict.Outcome == analysis.OutcomeHeld || !strings.Contains(r.Verdict.Text, "no steady state") {
			t.Errorf("verdict %+v: want no steady state while the million are still opening", r.Verdict)
		}
	}},
	"soak": {"4s", func(t *testing.T, r *result.Result) {
		atLeast(t, "ok dials", r.Dials.OK, 1000)
		pts := r.TimeSeries.Points
		for i := 1; i < len(pts); i++ {
			if gap := pts[i].T - pts[i-1].T; gap > 0.25 {
				t.Errorf("the time series misses %.2fs at %.1fs", gap, pts[i-1].T)
			}
		}
	}},
}

// settle waits, for at most 30 s, until the machine's slab is back near
// where it was before the run: the kernel frees the sockets of a
// namespace that is gone in a work queue of its own, after the run's
// processes have exited, and the tests that come next (in this package
// and the others running beside it) would share the CPUs with it.
func settle(t *testing.T, r *result.Result) {
	t.Helper()
	if r.Resources == nil || r.Resources.Kernel == nil {
		return
	}
	before := r.Resources.Kernel.SlabBeforeBytes
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		b, err := os.ReadFile("/proc/meminfo")
		if err != nil {
			return
		}
		var kb int64
		for _, line := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(line, "Slab:"); ok {
				fmt.Sscan(v, &kb)
			}
		}
		if kb<<10 <= before+64<<20 {
			return
		}
	}
	t.Logf("the slab is still 64 MB above its level before the run, 30 s after it")
}

func atLeast(t *testing.T, what string, got, want int64) {
	t.Helper()
	if got < want {
		t.Errorf("%s = %d, want at least %d", what, got, want)
	}
}

// TestLongScenariosRun runs the long bundled scenarios one at a time (it is
// not parallel: the parallel tests wait until it is done).
func TestLongScenariosRun(t *testing.T) {
	needsFullTier(t)
	for _, entry := range scenarios.Library() {
		long, ok := longScenarios[entry.Name]
		if !ok {
			continue
		}
		t.Run(entry.Name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "out")
			got := portex(t, context.Background(), "run", entry.Name, "--duration", long.duration, "--out", dir, "-q")
			if got.code != exitOK {
				t.Fatalf("exit %d, stderr:\n%s", got.code, got.stderr)
			}
			r := readResult(t, dir).Runs[0]
			if len(r.Failures) > 0 || r.Error != "" {
				t.Errorf("failures %v, error %q", r.Failures, r.Error)
			}
			long.check(t, r)
			settle(t, r)
		})
	}
}
