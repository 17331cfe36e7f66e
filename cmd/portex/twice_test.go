package main

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// A second Ctrl-C stops portex at once; its agent and echo server die with
// it (parent-death signal), and with them the namespaces.
func TestSecondInterruptStopsAtOnce(t *testing.T) {
	needsFullTier(t)
	bin := buildPortex(t)
	scenario := writeScenario(t, "name: long\nduration: 1m\nsandbox:\n  port_range: 50000-50199\npools:\n  - name: holders\n    workers: 20\n    hold: forever\nstop:\n  on: never\n")
	cmd := exec.Command(bin, "run", scenario, "--out", filepath.Join(t.TempDir(), "out"), "-q")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Second) // the run is under way
	cmd.Process.Signal(syscall.SIGINT)
	time.Sleep(20 * time.Millisecond)
	cmd.Process.Signal(syscall.SIGINT)
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		var ee *exec.ExitError
		if !errors.As(err, &ee) {
			t.Fatalf("portex ended with %v", err)
		}
	case <-time.After(5 * time.Second):
		cmd.Process.Kill()
		t.Fatal("a second Ctrl-C did not stop portex")
	}
	// Nothing of the binary runs any more: no agent, no echo server.
	deadline := time.Now().Add(3 * time.Second)
	for {
		left := processesOf(bin)
		if len(left) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("processes left: %v", left)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// processesOf lists the pids running the binary at path.
func processesOf(path string) []string {
	exes, _ := filepath.Glob("/proc/[0-9]*/exe")
	var out []string
	for _, exe := range exes {
		if target, err := os.Readlink(exe); err == nil && strings.TrimSuffix(target, " (deleted)") == path {
			out = append(out, filepath.Base(filepath.Dir(exe)))
		}
	}
	return out
}
