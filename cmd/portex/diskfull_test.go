package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// When the output folder fills up mid-write, nothing half-written is left
// and the result goes to stdout instead (exit 3). The test runs itself
// again in a user and mount namespace of its own, where it mounts a 4 KiB
// tmpfs: the host's mounts are untouched.
func TestDiskFullPrintsTheResult(t *testing.T) {
	needsFullTier(t)
	if os.Getenv("PORTEX_TEST_DISKFULL") != "1" {
		cmd := exec.Command(os.Args[0], "-test.run=^TestDiskFullPrintsTheResult$", "-test.count=1", "-test.v")
		cmd.Env = append(os.Environ(), "PORTEX_TEST_DISKFULL=1")
		cmd.SysProcAttr = &syscall.SysProcAttr{
			Cloneflags:  syscall.CLONE_NEWUSER | syscall.CLONE_NEWNS,
			UidMappings: []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Getuid(), Size: 1}},
			GidMappings: []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Getgid(), Size: 1}},
		}
		out, err := cmd.CombinedOutput()
		if err != nil || !strings.Contains(string(out), "--- PASS: TestDiskFullPrintsTheResult") {
			t.Fatalf("in a mount namespace of its own: %v\n%s", err, out)
		}
		return
	}
	dir := t.TempDir()
	if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, "size=4k"); err != nil {
		t.Fatalf("mount a small tmpfs: %v", err)
	}
	defer syscall.Unmount(dir, 0)
	out := filepath.Join(dir, "out")
	got := portex(t, context.Background(), "run", "--out", out, "-q")
	if got.code != exitRuntime || !strings.Contains(got.stderr, "cannot write") {
		t.Fatalf("exit %d, stderr %q: want 3 and a message", got.code, got.stderr)
	}
	if !strings.Contains(got.stdout, `"schema": "portex/result/v1"`) || !strings.Contains(got.stdout, "EXHAUSTED after 200") {
		t.Errorf("the result is not on stdout; stderr:\n%s", got.stderr)
	}
	leftovers, _ := filepath.Glob(filepath.Join(out, ".*"))
	if len(leftovers) > 0 {
		t.Errorf("half-written files left: %v", leftovers)
	}
}
