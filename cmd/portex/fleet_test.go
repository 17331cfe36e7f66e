package main

import (
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/portex/portex/result"
)

// runShards runs the scenario's n shards as separate portex processes at
// once, as n machines would, and returns their output folders.
func runShards(t *testing.T, bin, scenario string, n int, extra ...string) []string {
	t.Helper()
	dirs := make([]string, n)
	outs := make([][]byte, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		dirs[i] = filepath.Join(t.TempDir(), fmt.Sprintf("shard%d", i))
		wg.Go(func() {
			cmd := exec.Command(bin, append([]string{"run", scenario, "--shard", fmt.Sprintf("%d/%d", i, n), "--out", dirs[i], "--quiet"}, extra...)...)
			outs[i], errs[i] = cmd.CombinedOutput()
		})
	}
	wg.Wait()
	for i := range n {
		if errs[i] != nil {
			t.Fatalf("shard %d/%d: %v\n%s", i, n, errs[i], outs[i])
		}
	}
	return dirs
}

// merge runs portex merge on the shards' results and reads what it wrote.
func merge(t *testing.T, dirs []string) *result.ResultFile {
	t.Helper()
	args := []string{"merge"}
	args = append(args, dirs...)
	out := t.TempDir()
	args = append(args, "-o", filepath.Join(out, "result.json"))
	got := portex(t, context.Background(), args...)
	if got.code != exitOK {
		t.Fatalf("merge: exit %d\n%s%s", got.code, got.stdout, got.stderr)
	}
	return readResult(t, out)
}

// Shards run as separate processes, each in a sandbox of its own, and
// merged, give the figures of one run of the whole scenario: 4 shards of
// 50 holders make the 200 connections that fill one 200-port range.
func TestShardProcessesMergeToTheSingleRun(t *testing.T) {
	needsFullTier(t)
	bin := buildPortex(t)
	scenario := writeScenario(t, `name: shard-holders
duration: 3s
sandbox:
  port_range: 50000-50199
server:
  port: 7000
pools:
  - name: holders
    workers: 200
    hold: forever
    connect_timeout: 2s
`)
	single := filepath.Join(t.TempDir(), "single")
	if got := portex(t, context.Background(), "run", scenario, "--out", single, "--quiet"); got.code != exitOK {
		t.Fatalf("single run: exit %d\n%s", got.code, got.stderr)
	}
	whole := readResult(t, single).Runs[0]
	merged := merge(t, runShards(t, bin, scenario, 4))
	if merged.Shard != nil || len(merged.Runs) != 1 {
		t.Fatalf("merged file: shard %+v, %d runs; want a whole result of one run", merged.Shard, len(merged.Runs))
	}
	m := merged.Runs[0]
	if whole.Dials.OK != 200 || m.Dials.OK != 200 || m.Dials.Attempted != whole.Dials.Attempted || m.Dials.Failed != 0 {
		t.Errorf("dials: merged %+v, single %+v; want 200 ok in both", m.Dials, whole.Dials)
	}
	if m.Latency.Connect.Count != 200 || whole.Latency.Connect.Count != 200 {
		t.Errorf("connect histograms hold %d (merged) and %d (single) samples, want 200", m.Latency.Connect.Count, whole.Latency.Connect.Count)
	}
	if m.Server == nil || m.Server.Accepted != 200 {
		t.Errorf("merged server counts %+v, want 200 accepted", m.Server)
	}
}

// Shards as separate docker containers (each shard a sandbox of its own:
// a client container and an echo server's), merged, give the single
// run's figures too.
func TestShardContainersMergeToTheSingleRun(t *testing.T) {
	needsFullTier(t)
	needsDocker(t)
	bin := buildPortex(t)
	scenario := writeScenario(t, `name: shard-holders
duration: 3s
sandbox:
  port_range: 50000-50199
pools:
  - name: holders
    workers: 200
    hold: forever
    connect_timeout: 2s
`)
	single := filepath.Join(t.TempDir(), "single")
	if got := portex(t, context.Background(), "run", scenario, "--runtime", "docker", "--out", single, "--quiet"); got.code != exitOK {
		t.Fatalf("single run: exit %d\n%s", got.code, got.stderr)
	}
	whole := readResult(t, single).Runs[0]
	m := merge(t, runShards(t, bin, scenario, 4, "--runtime", "docker")).Runs[0]
	if whole.Dials.OK != 200 || m.Dials.OK != 200 || m.Dials.Attempted != whole.Dials.Attempted || m.Dials.Failed != 0 || m.Runtime != "docker" {
		t.Errorf("dials: merged %+v (runtime %s), single %+v; want 200 ok in both, on docker", m.Dials, m.Runtime, whole.Dials)
	}
	if m.Latency.Connect.Count != 200 || m.Server == nil || m.Server.Accepted != 200 {
		t.Errorf("merged: %d connect samples, server %+v; want 200 and 200 accepted", m.Latency.Connect.Count, m.Server)
	}
}

// An open-model pool is split by arrivals, i, i+n, ...: the shards together
// attempt what one run attempts, point by point.
func TestShardProcessesInterleaveArrivals(t *testing.T) {
	needsFullTier(t)
	bin := buildPortex(t)
	scenario := writeScenario(t, `name: shard-arrivals
duration: 2s
sandbox:
  port_range: 40000-49999
server:
  port: 7000
pools:
  - name: churn
    rate: 200/s
    messages: 1
    close: client
`)
	single := filepath.Join(t.TempDir(), "single")
	if got := portex(t, context.Background(), "run", scenario, "--out", single, "--quiet"); got.code != exitOK {
		t.Fatalf("single run: exit %d\n%s", got.code, got.stderr)
	}
	whole := readResult(t, single).Runs[0]
	m := merge(t, runShards(t, bin, scenario, 3)).Runs[0]
	if m.Dials.Attempted != whole.Dials.Attempted || m.Dials.OK != whole.Dials.OK {
		t.Errorf("dials: merged %+v, single %+v; want the same arrivals", m.Dials, whole.Dials)
	}
	if m.Latency.ScheduleLag.Count != whole.Latency.ScheduleLag.Count {
		t.Errorf("schedule lag samples: merged %d, single %d", m.Latency.ScheduleLag.Count, whole.Latency.ScheduleLag.Count)
	}
	// Each point's arrivals come from every shard: the merged series'
	// per-second attempts match the single run's, within the shards' start
	// skew of a point or so at the edges.
	ms, ws := perSecond(m), perSecond(whole)
	for s := 0; s < min(len(ms), len(ws)); s++ {
		if d := ms[s] - ws[s]; d > 25 || d < -25 {
			t.Errorf("second %d: merged attempted %d, single %d", s, ms[s], ws[s])
		}
	}
	if !strings.Contains(strings.Join(m.Notes, "\n"), "shard") {
		t.Errorf("merged notes say nothing of the shards: %q", m.Notes)
	}
}

// perSecond sums the series' attempts by whole second of the run.
func perSecond(r *result.Result) []int64 {
	var out []int64
	for _, p := range r.TimeSeries.Points {
		s := int(p.T)
		for len(out) <= s {
			out = append(out, 0)
		}
		out[s] += p.Attempted
	}
	return out
}
