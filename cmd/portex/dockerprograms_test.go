package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// A program of the user's under the docker runtime: portex puts the
// command it finds on PATH, with the libraries it needs, in the client's
// image; the bundled go-default-transport comes out as on netns: the
// default transport runs out of the 200 ports (the client exits 1), the
// variant with 10 idle connections a host does not (exit 0).
func TestProgramsOnDocker(t *testing.T) {
	needsFullTier(t)
	needsDocker(t)
	buildGoclient(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	dir := filepath.Join(t.TempDir(), "out")
	got := portex(t, ctx, "run", "go-default-transport", "--runtime", "docker", "--out", dir, "-q")
	if got.code != exitOK {
		t.Fatalf("exit %d, stderr:\n%s", got.code, got.stderr)
	}
	byVariant := make(runs)
	for _, run := range readResult(t, dir).Runs {
		byVariant[run.Variant] = run
		if run.Runtime != "docker" || len(run.Programs) != 1 || run.Programs[0].Argv[0] == "goclient" {
			t.Errorf("%s: runtime %s, programs %+v: want docker, goclient run by its path on this machine", run.Variant, run.Runtime, run.Programs)
		}
	}
	if b := byVariant["baseline"]; b == nil || b.Exhaustion == nil || b.Programs[0].ExitCode != 1 || b.Programs[0].FirstErrorClass != "EADDRNOTAVAIL" {
		t.Errorf("baseline %+v: want exhausted, the client's own EADDRNOTAVAIL, exit 1", b)
	}
	if v := byVariant["max-idle-10"]; v == nil || v.Exhaustion != nil || v.Programs[0].ExitCode != 0 {
		t.Errorf("max-idle-10 %+v: want not exhausted, exit 0", v)
	}

	// --image: the user's image holds the client; portex adds its agent
	// and runs the command as the image names it.
	t.Run("--image", func(t *testing.T) {
		if _, err := exec.LookPath("docker"); err != nil {
			t.Skip("no docker command to build the user's image with")
		}
		ctxDir := t.TempDir()
		build := exec.Command("go", "build", "-o", filepath.Join(ctxDir, "goclient"), "../../examples/goclient")
		build.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := build.CombinedOutput(); err != nil {
			t.Fatalf("go build: %v\n%s", err, out)
		}
		os.WriteFile(filepath.Join(ctxDir, "Dockerfile"), []byte("FROM scratch\nCOPY goclient /opt/client/bin/goclient\nENV PATH=/opt/client/bin\n"), 0o644)
		tag := fmt.Sprintf("portex-test-user-image:%d", time.Now().UnixNano())
		if out, err := exec.Command("docker", "build", "-q", "-t", tag, ctxDir).CombinedOutput(); err != nil {
			t.Fatalf("docker build: %v\n%s", err, out)
		}
		t.Cleanup(func() { exec.Command("docker", "rmi", "-f", tag).Run() })
		t.Setenv("PATH", "/usr/bin:/bin") // goclient is not on this machine's PATH now
		dir := filepath.Join(t.TempDir(), "out")
		got := portex(t, ctx, "run", "go-default-transport", "--variant", "baseline", "--runtime", "docker", "--image", tag, "--out", dir, "-q")
		if got.code != exitOK {
			t.Fatalf("exit %d, stderr:\n%s", got.code, got.stderr)
		}
		run := readResult(t, dir).Runs[0]
		if run.Exhaustion == nil || run.Programs[0].Argv[0] != "goclient" || run.Programs[0].ExitCode != 1 {
			t.Errorf("exhaustion %+v, program %+v: want the image's goclient run by its name, exhausted, exit 1", run.Exhaustion, run.Programs[0])
		}
	})
	t.Run("--image off docker", func(t *testing.T) {
		got := portex(t, ctx, "run", "go-default-transport", "--image", "x", "--out", filepath.Join(t.TempDir(), "o"), "-q")
		if got.code != exitUsage {
			t.Errorf("exit %d, want 2: %s", got.code, got.stderr)
		}
	})
}
