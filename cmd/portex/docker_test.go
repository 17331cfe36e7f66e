package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/portex/portex/docker"
	"github.com/portex/portex/loadgen"
)

// With no engine at DOCKER_HOST, --runtime docker fails at once with exit 3
// and one line that says so, and makes no report folder.
func TestDockerRuntimeWithoutEngine(t *testing.T) {
	t.Setenv("DOCKER_HOST", "unix:///nonexistent.sock")
	dir := filepath.Join(t.TempDir(), "out")
	start := time.Now()
	got := portex(t, context.Background(), "run", "hold-until-exhausted", "--runtime", "docker", "--out", dir, "--quiet")
	if got.code != exitRuntime {
		t.Fatalf("exit %d, want %d; stderr:\n%s", got.code, exitRuntime, got.stderr)
	}
	msg := strings.TrimSuffix(got.stderr, "\n")
	if strings.Contains(msg, "\n") || !strings.Contains(msg, "no Docker engine answers at unix:///nonexistent.sock") {
		t.Errorf("stderr %q, want one line saying no engine answers at the socket", got.stderr)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("report folder made: %v", err)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("took %s", d)
	}
}

// The real thing: a static portex runs bundled scenarios in containers.
func TestDockerRuntimeRun(t *testing.T) {
	ctx := context.Background()
	eng, err := docker.Connect(ctx)
	if err != nil {
		if os.Getenv("PORTEX_CI") == "1" {
			t.Fatalf("PORTEX_CI=1 and no Docker engine: %v", err)
		}
		t.Skipf("no Docker engine: %v", err)
	}
	eng.Close()

	bin := filepath.Join(t.TempDir(), "portex")
	build := exec.Command("go", "build", "-o", bin, ".")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build a static portex: %v\n%s", err, out)
	}
	runDocker := func(t *testing.T, scenario string) *loadgen.ResultFile {
		dir := filepath.Join(t.TempDir(), "out")
		cmd := exec.Command(bin, "run", scenario, "--runtime", "docker", "--out", dir, "--quiet")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("portex run %s --runtime docker: %v\n%s", scenario, err, out)
		}
		return readResult(t, dir)
	}

	t.Run("hold-until-exhausted", func(t *testing.T) {
		r := runDocker(t, "hold-until-exhausted")
		if len(r.Runs) != 1 {
			t.Fatalf("%d runs", len(r.Runs))
		}
		run := r.Runs[0]
		if run.Runtime != "docker" || run.Dials.OK != 200 || run.Exhaustion == nil || run.Exhaustion.Class != "EADDRNOTAVAIL" {
			t.Errorf("runtime %q ok %d exhaustion %+v, want docker, 200, EADDRNOTAVAIL", run.Runtime, run.Dials.OK, run.Exhaustion)
		}
		if got := run.Sysctls["net.ipv4.ip_local_port_range"]; got != "50000 50199" {
			t.Errorf("port range read back %q", got)
		}
	})

	// The baseline exhausts at about range / rate = 2 s; every variant is
	// a mitigation that keeps it going.
	t.Run("time-wait-churn", func(t *testing.T) {
		r := runDocker(t, "time-wait-churn")
		for i, run := range r.Runs {
			switch {
			case i == 0 && run.Exhaustion == nil:
				t.Errorf("%s: no exhaustion in %.1fs", run.Variant, run.ElapsedSeconds)
			case i == 0 && (run.Exhaustion.AtSeconds < 1.5 || run.Exhaustion.AtSeconds > 3):
				t.Errorf("%s: exhausted at %.2fs, want 1.5-3 s", run.Variant, run.Exhaustion.AtSeconds)
			case i > 0 && run.Exhaustion != nil:
				t.Errorf("%s: exhausted at %.2fs, want none", run.Variant, run.Exhaustion.AtSeconds)
			}
		}
	})
}

func TestDockerCommandUsage(t *testing.T) {
	if got := portex(t, context.Background(), "docker"); got.code != exitUsage || !strings.Contains(got.stderr, "prune") {
		t.Errorf("exit %d stderr %q, want usage", got.code, got.stderr)
	}
}
