package main

import (
	"context"
	"errors"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/portex/portex/docker"
	"github.com/portex/portex/result"
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
	needsFullTier(t)
	needsDocker(t)

	bin := buildPortex(t)
	runDocker := func(t *testing.T, scenario string) *result.ResultFile {
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
	// Ctrl-C at 30 seeded moments, from building the image's context and
	// starting containers to the middle of the run: exit 130, a whole
	// result.json, and no container of this run's image left.
	t.Run("interrupted", func(t *testing.T) {
		scenario := filepath.Join(t.TempDir(), "long.yaml")
		os.WriteFile(scenario, []byte("name: long\nduration: 1m\nsandbox:\n  port_range: 50000-50199\npools:\n  - name: holders\n    workers: 20\n    hold: forever\nstop:\n  on: never\n"), 0o644)
		b, err := docker.StaticBinary(bin)
		if err != nil {
			t.Fatal(err)
		}
		image := b.Tag()
		rng := rand.New(rand.NewPCG(4, 2))
		for i := range 30 {
			off := time.Duration(rng.Int64N(int64(2500 * time.Millisecond)))
			dir := filepath.Join(t.TempDir(), "out")
			cmd := exec.Command(bin, "run", scenario, "--runtime", "docker", "--out", dir, "--quiet")
			var stderr strings.Builder
			cmd.Stderr = &stderr
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			time.Sleep(off)
			cmd.Process.Signal(syscall.SIGINT)
			err := cmd.Wait()
			var ee *exec.ExitError
			if !errors.As(err, &ee) || ee.ExitCode() != exitInterrupted {
				t.Errorf("moment %d (%s): %v, want exit 130; stderr:\n%s", i, off.Round(time.Millisecond), err, stderr.String())
				continue
			}
			if _, err := os.Stat(filepath.Join(dir, "result.json")); err == nil {
				readResult(t, dir) // whole, or it fails
			} else if !os.IsNotExist(err) {
				t.Error(err)
			}
			// Containers of this binary's image only: the docker
			// package's tests may run theirs meanwhile.
			out, err := exec.Command("docker", "ps", "-aq", "--filter", "ancestor="+image).Output()
			if err != nil || strings.TrimSpace(string(out)) != "" {
				t.Errorf("moment %d (%s): containers left: %q (%v)", i, off.Round(time.Millisecond), out, err)
			}
		}
	})

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
