package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// portex exec refuses what it cannot run before it starts: no command,
// a command before --, bad NAME=VALUE pairs, a bad range; exit 2.
func TestExecRefuses(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"exec"}, "no command: give it after --"},
		{[]string{"exec", "curl", "http://x/"}, `"curl": put the command after --`},
		{[]string{"exec", "--sysctl", "net.ipv4.tcp_tw_reuse", "--", "true"}, `--sysctl "net.ipv4.tcp_tw_reuse": want NAME=VALUE`},
		{[]string{"exec", "--env", "=1", "--", "true"}, `--env "=1": want NAME=VALUE`},
		{[]string{"exec", "--range", "70000-70100", "--", "true"}, "--range"},
		{[]string{"exec", "--duration", "0s", "--", "true"}, "--duration must be positive"},
	} {
		got := portex(t, context.Background(), c.args...)
		if got.code != exitUsage || !strings.Contains(got.stderr, c.want) {
			t.Errorf("%v: exit %d, stderr %q; want 2 and %q", c.args, got.code, got.stderr, c.want)
		}
	}
	// A sysctl the language refuses is refused as in a scenario, naming
	// the key of the scenario portex exec wrote.
	got := portex(t, context.Background(), "exec", "--sysctl", "net.core.rmem_max=1", "--", "true")
	if got.code != exitUsage || !strings.Contains(got.stderr, "sandbox.sysctls") {
		t.Errorf("an unknown sysctl: exit %d, stderr %q; want 2 naming sandbox.sysctls", got.code, got.stderr)
	}
}

// --save-scenario writes the scenario portex exec runs: a scenario file
// that portex validate accepts, the command in its programs.
func TestExecSavesItsScenario(t *testing.T) {
	file := filepath.Join(t.TempDir(), "s.yaml")
	got := portex(t, context.Background(), "exec", "--range", "40000-40199", "--sysctl", "net.ipv4.tcp_tw_reuse=0",
		"--env", "MODE=fast", "--save-scenario", file, "--dry-run", "--", "./my-client", "--url", "http://{server}/")
	if got.code != exitOK || got.stdout != "" {
		t.Fatalf("exit %d, stdout %q, stderr %q: want the scenario written and nothing run", got.code, got.stdout, got.stderr)
	}
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range []string{"name: exec-my-client", "port_range: 40000-40199", "net.ipv4.tcp_tw_reuse: \"0\"", "- ./my-client",
		"- http://{server}/", "MODE: fast", "exit_code: 0", "protocol: http"} {
		if !strings.Contains(string(b), w) {
			t.Errorf("no %q in the saved scenario:\n%s", w, b)
		}
	}
	if v := portex(t, context.Background(), "validate", file); v.code != exitOK {
		t.Errorf("portex validate of the saved scenario: exit %d\n%s%s", v.code, v.stdout, v.stderr)
	}
	// Without --save-scenario, --dry-run prints it.
	got = portex(t, context.Background(), "exec", "--dry-run", "--", "curl", "-s", "http://{server}/")
	if got.code != exitOK || !strings.Contains(got.stdout, "name: exec-curl\n") || !strings.Contains(got.stdout, "  - name: curl\n") {
		t.Errorf("exit %d, stdout:\n%s", got.code, got.stdout)
	}
}

// A Go client with the default transport, run by portex exec in a
// 200-port range: the sandbox runs out, the verdict says so from the
// kernel's sockets, the destination's peak is its whole budget, and
// the client's own exit status fails the run's expectation (exit 1).
func TestExecRunsAProgram(t *testing.T) {
	needsFullTier(t)
	buildGoclient(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	dir := filepath.Join(t.TempDir(), "out")
	got := portex(t, ctx, "exec", "--range", "40000-40199", "--sysctl", "net.ipv4.tcp_tw_reuse=0", "--duration", "10s",
		"--out", dir, "-q", "--", "goclient", "-url", "http://{server}/", "-concurrency", "10", "-requests", "2000")
	if got.code != exitExpectation {
		t.Fatalf("exit %d, want %d (the client exits 1 where 0 is expected); stderr:\n%s", got.code, exitExpectation, got.stderr)
	}
	run := readResult(t, dir).Runs[0]
	if run.Exhaustion == nil || run.Exhaustion.Class != "EADDRNOTAVAIL" {
		t.Errorf("exhaustion %+v: want the 200 ports run out", run.Exhaustion)
	}
	if len(run.Programs) != 1 || run.Programs[0].Name != "goclient" || run.Programs[0].ExitCode != 1 || run.Programs[0].FirstErrorClass != "EADDRNOTAVAIL" {
		t.Errorf("programs %+v: want goclient, exit 1, its own EADDRNOTAVAIL", run.Programs)
	}
	if len(run.Destinations) != 1 || run.Destinations[0].Budget != 200 || run.Destinations[0].PortsInUse != 200 || run.Destinations[0].Destination != "198.19.0.1:7000" {
		t.Errorf("destinations %+v: want 198.19.0.1:7000 full, 200 of 200", run.Destinations)
	}
	if !strings.Contains(got.stdout, "dest       198.19.0.1:7000: at most 200 local ports in use of its 200") || strings.Contains(got.stdout, "dials      attempted 0") {
		t.Errorf("the summary does not show the destination's ports, or shows portex's dials:\n%s", got.stdout)
	}
}

// portex exec --runtime docker puts the command in the client's image
// and runs it there, as a scenario's programs run.
func TestExecOnDocker(t *testing.T) {
	needsFullTier(t)
	needsDocker(t)
	buildGoclient(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	dir := filepath.Join(t.TempDir(), "out")
	got := portex(t, ctx, "exec", "--runtime", "docker", "--range", "40000-40199", "--sysctl", "net.ipv4.tcp_tw_reuse=0",
		"--expect-exit", "1", "--out", dir, "-q", "--", "goclient", "-url", "http://{server}/", "-concurrency", "10", "-requests", "2000")
	if got.code != exitOK {
		t.Fatalf("exit %d, stderr:\n%s", got.code, got.stderr)
	}
	run := readResult(t, dir).Runs[0]
	if run.Runtime != "docker" || run.Exhaustion == nil || run.Programs[0].ExitCode != 1 {
		t.Errorf("runtime %s, exhaustion %+v, programs %+v: want docker, exhausted, exit 1", run.Runtime, run.Exhaustion, run.Programs)
	}
}
