package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/portex/portex/cmd/portex/internal/earlysignal"
	"github.com/portex/portex/docker"
	"github.com/portex/portex/result"
)

// TestMain lets the test binary serve as the portex binary its runtimes
// re-execute (as `agent`).
func TestMain(m *testing.M) {
	if len(os.Args) > 1 && os.Args[1] == "agent" {
		ctx := stopContext(earlysignal.C, true, hardStopGrace)
		os.Exit(run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
	}
	// The tests themselves keep the default actions: Ctrl-C stops go test.
	earlysignal.Release()
	os.Exit(m.Run())
}

// needsFullTier skips a test of the fast tier (go test -short): it runs
// scenarios for real, in network namespaces (as root, or where user
// namespaces are allowed), in containers, or for seconds.
// needsDocker skips a test where no Docker engine answers, and fails it
// under PORTEX_CI=1, where one must.
func needsDocker(t *testing.T) {
	t.Helper()
	eng, err := docker.Connect(context.Background())
	if err != nil {
		if os.Getenv("PORTEX_CI") == "1" {
			t.Fatalf("PORTEX_CI=1 and no Docker engine: %v", err)
		}
		t.Skipf("no Docker engine: %v", err)
	}
	eng.Close()
}

func needsFullTier(t *testing.T) {
	t.Helper()
	if testing.Short() {
		t.Skip("needs namespaces, real runs or Docker (full tier: go test ./...)")
	}
}

type cli struct {
	code           int
	stdout, stderr string
}

// buildPortex builds a static portex binary, for tests that need a process
// of its own (to signal it, or to put it in a container).
func buildPortex(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "portex")
	build := exec.Command("go", "build", "-o", bin, ".")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build portex: %v\n%s", err, out)
	}
	return bin
}

func portex(t *testing.T, ctx context.Context, args ...string) cli {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := run(ctx, args, strings.NewReader(""), &stdout, &stderr)
	return cli{code, stdout.String(), stderr.String()}
}

func readResult(t *testing.T, dir string) *result.ResultFile {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(dir, "result.json"))
	if err != nil {
		t.Fatal(err)
	}
	var r result.ResultFile
	if err := json.Unmarshal(data, &r); err != nil {
		t.Fatal(err)
	}
	return &r
}

func writeScenario(t *testing.T, body string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "scenario.yaml")
	if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// `portex run` with no scenario runs the bundled default and writes
// result.json where it says.
func TestRunDefaultScenario(t *testing.T) {
	needsFullTier(t)
	dir := filepath.Join(t.TempDir(), "out")
	got := portex(t, context.Background(), "run", "--out", dir, "--quiet")
	if got.code != exitOK {
		t.Fatalf("exit %d, stderr:\n%s", got.code, got.stderr)
	}
	if !strings.Contains(got.stdout, "EXHAUSTED after 200 connections") || !strings.Contains(got.stdout, filepath.Join(dir, "result.json")) {
		t.Errorf("summary does not say exhausted after 200, or where the result is:\n%s", got.stdout)
	}
	r := readResult(t, dir)
	if r.Schema != result.Schema || r.Scenario != "hold-until-exhausted" || len(r.Runs) != 1 {
		t.Fatalf("result %+v", r)
	}
	run := r.Runs[0]
	if run.Dials.OK != 200 || run.Exhaustion == nil || run.Exhaustion.DialsOKBefore != 200 || run.Runtime != "netns" {
		t.Errorf("run %+v exhaustion %+v", run, run.Exhaustion)
	}

	// The folder now holds a result: a second run refuses to replace it.
	again := portex(t, context.Background(), "run", "--out", dir, "-q")
	if again.code != exitUsage || !strings.Contains(again.stderr, "--force") {
		t.Errorf("second run into the same --out: exit %d, stderr %q", again.code, again.stderr)
	}
}

func TestRunReportsFDExhaustionAsEMFILE(t *testing.T) {
	needsFullTier(t)
	path := writeScenario(t, `name: fd-limit
duration: 1s
sandbox:
  port_range: 20000-60000
  nofile: 128
pools:
  - name: holders
    workers: 300
    hold: forever
stop:
  on: never
`)
	dir := t.TempDir()
	got := portex(t, context.Background(), "run", path, "--out", dir, "-q", "--force")
	if got.code != exitOK {
		t.Fatalf("exit %d, stderr:\n%s", got.code, got.stderr)
	}
	if !strings.Contains(got.stdout, "out of file descriptors") || !strings.Contains(got.stdout, "EMFILE") {
		t.Errorf("summary does not name EMFILE:\n%s", got.stdout)
	}
	run := readResult(t, dir).Runs[0]
	if run.Failures["EMFILE"] == 0 || run.Failures["EADDRNOTAVAIL"] != 0 || run.Exhaustion != nil {
		t.Errorf("failures %v exhaustion %+v", run.Failures, run.Exhaustion)
	}
}

func TestRunInterruptedWritesPartialResult(t *testing.T) {
	needsFullTier(t)
	path := writeScenario(t, `name: long-hold
duration: 1m
sandbox:
  port_range: 50000-50199
pools:
  - name: holders
    workers: 20
    hold: forever
stop:
  on: never
`)
	dir := filepath.Join(t.TempDir(), "out")
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(time.Second, cancel)
	got := portex(t, ctx, "run", path, "--out", dir, "-q")
	if got.code != exitInterrupted {
		t.Fatalf("exit %d, want 130; stderr:\n%s", got.code, got.stderr)
	}
	run := readResult(t, dir).Runs[0]
	if run.Stopped != result.StoppedInterrupted || run.Dials.OK != 20 {
		t.Errorf("partial result: stopped %q, ok %d", run.Stopped, run.Dials.OK)
	}
}

// Bad scenarios exit 2 with one line naming file:line and the key, and
// never run anything.
func TestRunRejectsBadScenarios(t *testing.T) {
	tests := []struct {
		name, body, want string
	}{
		{"unknown key", "name: x\npools:\n  - name: a\n    wrokers: 3\n", ":4:5: pools[0].wrokers"},
		{"reversed range", "name: x\nsandbox:\n  port_range: 60000-50000\npools:\n  - name: a\n", ":3:15: sandbox.port_range"},
		{"hold unit", "name: x\npools:\n  - name: a\n    hold: soon\n", ":4:11: pools[0].hold"},
		{"global sysctl", "name: x\nsandbox:\n  sysctls:\n    net.ipv4.tcp_mem: 1 2 3\npools:\n  - name: a\n", ":4:5: sandbox.sysctls"},
		{"empty file", "", ":1:1:"},
		{"binary garbage", "\x00\x01\x02\xff\xfe garbage", ":1:"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := writeScenario(t, tt.body)
			got := portex(t, context.Background(), "run", path, "--out", t.TempDir(), "-q")
			if got.code != exitUsage {
				t.Fatalf("exit %d, want 2; stderr %q", got.code, got.stderr)
			}
			if !strings.Contains(got.stderr, path+tt.want) {
				t.Errorf("stderr %q does not contain %q", got.stderr, path+tt.want)
			}
			if strings.Contains(got.stderr, "goroutine") || strings.Contains(got.stderr, "panic") {
				t.Errorf("stack trace in stderr: %s", got.stderr)
			}
		})
	}
}

func TestHelpAndVersion(t *testing.T) {
	for _, args := range [][]string{{"--help"}, {"--version"}, {"version"}, {"run", "--help"}, {"echo", "--help"},
		{"validate", "--help"}, {"scenarios", "--help"}} {
		if got := portex(t, context.Background(), args...); got.code != exitOK {
			t.Errorf("portex %v: exit %d, stderr %q", args, got.code, got.stderr)
		}
	}
	if got := portex(t, context.Background(), "frobnicate"); got.code != exitUsage {
		t.Errorf("unknown command: exit %d", got.code)
	}
	if got := portex(t, context.Background(), "run", "--no-such-flag"); got.code != exitUsage {
		t.Errorf("unknown flag: exit %d", got.code)
	}
}

func TestScenariosListsAndShowsTheLibrary(t *testing.T) {
	list := portex(t, context.Background(), "scenarios")
	if list.code != exitOK || !strings.Contains(list.stdout, "hold-until-exhausted") {
		t.Fatalf("scenarios: exit %d\n%s", list.code, list.stdout)
	}
	show := portex(t, context.Background(), "scenarios", "show", "hold-until-exhausted")
	if show.code != exitOK || !strings.Contains(show.stdout, "port_range: 50000-50199") {
		t.Fatalf("scenarios show: exit %d\n%s", show.code, show.stdout)
	}
	if got := portex(t, context.Background(), "validate", "hold-until-exhausted"); got.code != exitOK {
		t.Errorf("validate bundled: exit %d %s", got.code, got.stderr)
	}
}

// A failed expectation exits 1 and says which, and the JUnit file has a
// failing test case for it.
func TestFailedExpectationExitsOne(t *testing.T) {
	needsFullTier(t)
	path := writeScenario(t, `name: expectations
duration: 1s
sandbox:
  port_range: 50000-50199
pools:
  - name: holders
    workers: 300
    hold: forever
expect:
  exhausted: true
  dials_ok: 150
`)
	dir := t.TempDir()
	got := portex(t, context.Background(), "run", path, "--out", dir, "-q", "--force")
	if got.code != exitExpectation || !strings.Contains(got.stderr, "dials_ok: expected 150, measured 200") {
		t.Fatalf("exit %d, stderr %q: want 1 naming dials_ok", got.code, got.stderr)
	}
	junit, err := os.ReadFile(filepath.Join(dir, "junit.xml"))
	if err != nil || !strings.Contains(string(junit), "<failure") || !strings.Contains(string(junit), "dials_ok") {
		t.Errorf("junit.xml: %v\n%s", err, junit)
	}
	if run := readResult(t, dir).Runs[0]; len(run.Expectations) != 2 || !run.Expectations[0].Pass || run.Expectations[1].Pass {
		t.Errorf("expectations in the result: %+v", run.Expectations)
	}
}

// An output folder that cannot be written is refused before the run.
func TestUnwritableOutputIsRefusedBeforeTheRun(t *testing.T) {
	file := filepath.Join(t.TempDir(), "a-file")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	got := portex(t, context.Background(), "run", "--out", filepath.Join(file, "out"), "-q")
	if got.code != exitUsage || !strings.Contains(got.stderr, "output folder") || time.Since(start) > time.Second {
		t.Errorf("exit %d after %s, stderr %q: want 2 at once, naming the output folder", got.code, time.Since(start), got.stderr)
	}
}
