package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/portex/portex/result"
)

// CI wrappers stop portex with coreutils timeout, which signals the process
// and then its process group: two signals within microseconds. At 50
// moments spread over the first second (from 20 ms after the start, scenario loading,
// namespace setup, mid-run, the report, after the run's end), with SIGINT
// and SIGTERM in turn: result.json is always there and whole, its runs are
// a list (never null), and the exit code agrees with what it says: 130 and
// stopped "interrupted", or 0 and every run to its end.
func TestTimeoutDoubleSignal(t *testing.T) {
	if testing.Short() {
		t.Skip("builds portex and runs it in namespaces")
	}
	timeout, err := exec.LookPath("timeout")
	if err != nil {
		t.Skip("no coreutils timeout")
	}
	bin := buildPortex(t)
	scenario := writeScenario(t, `name: short
duration: 400ms
sandbox:
  port_range: 50000-50199
pools:
  - name: churn
    rate: 100/s
    hold: 0s
    close: server
stop:
  on: never
`)
	const moments = 50
	counts := map[int]int{}
	for i := range moments {
		// 20 ms to 1 s. Before the Go runtime has initialised the
		// first packages (about the first millisecond of the process
		// on a quiet machine, several on a busy one: the exec of a
		// 60 MB binary waits for the CPU too) no handler can exist yet.
		off := 20*time.Millisecond + time.Duration(i)*time.Second/moments
		sig := "INT"
		if i%2 == 1 {
			sig = "TERM"
		}
		dir := filepath.Join(t.TempDir(), "out")
		cmd := exec.Command(timeout, "--preserve-status", "-s", sig, fmt.Sprintf("%.3f", off.Seconds()),
			bin, "run", scenario, "--out", dir, "-q")
		out, err := cmd.CombinedOutput()
		code := 0
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		counts[code]++
		where := fmt.Sprintf("SIG%s at %s", sig, off)
		data, err := os.ReadFile(filepath.Join(dir, "result.json"))
		if err != nil {
			t.Errorf("%s: exit %d, no result.json (%v); output:\n%s", where, code, err, out)
			continue
		}
		var r struct {
			result.ResultFile
			Runs *[]*result.Result `json:"runs"`
		}
		if err := json.Unmarshal(data, &r); err != nil {
			t.Errorf("%s: result.json is not whole: %v", where, err)
			continue
		}
		if r.Runs == nil {
			t.Errorf("%s: runs is null", where)
			continue
		}
		runs := *r.Runs
		switch code {
		case exitInterrupted:
			if r.Stopped != result.StoppedInterrupted {
				t.Errorf("%s: exit 130, stopped %q", where, r.Stopped)
			}
			if n := len(runs); n > 0 && runs[n-1].Stopped != result.StoppedInterrupted {
				t.Errorf("%s: exit 130, the run says %q", where, runs[n-1].Stopped)
			}
		case exitOK:
			if r.Stopped != "" || len(runs) != 1 || runs[0].Stopped != result.StoppedDuration {
				t.Errorf("%s: exit 0, stopped %q, %d runs", where, r.Stopped, len(runs))
			}
		default:
			t.Errorf("%s: exit %d; output:\n%s", where, code, out)
		}
	}
	t.Logf("exit codes over %d moments: %v", moments, counts)
	if counts[exitInterrupted] < moments/4 {
		t.Errorf("only %d of %d moments interrupted the run: the moments miss it", counts[exitInterrupted], moments)
	}
}

// A second signal a grace after the first means "stop now": portex does
// not wait for an agent that does not report (here: stopped by SIGSTOP),
// kills it, and still writes the partial result, exit 130.
func TestSecondSignalStopsNow(t *testing.T) {
	if testing.Short() {
		t.Skip("builds portex and runs it in namespaces")
	}
	bin := buildPortex(t)
	scenario := writeScenario(t, `name: long
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
	cmd := exec.Command(bin, "run", scenario, "--out", dir, "-q")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	time.Sleep(time.Second) // the agent is running the load
	agents := childrenOf(cmd.Process.Pid)
	if len(agents) == 0 {
		t.Fatal("no agent found")
	}
	for _, pid := range agents {
		syscall.Kill(pid, syscall.SIGSTOP)
	}
	cmd.Process.Signal(syscall.SIGINT)
	time.Sleep(1200 * time.Millisecond)
	second := time.Now()
	cmd.Process.Signal(syscall.SIGINT)
	err := cmd.Wait()
	took := time.Since(second)
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != exitInterrupted {
		t.Fatalf("%v, want exit 130", err)
	}
	if took > 3*time.Second {
		t.Errorf("portex took %s after the second signal", took.Round(time.Millisecond))
	}
	r := readResult(t, dir)
	if r.Stopped != result.StoppedInterrupted || len(r.Runs) != 1 || r.Runs[0].Stopped != result.StoppedInterrupted || r.Runs[0].Dials.OK != 20 {
		t.Fatalf("stopped %q, runs %+v: want interrupted, the 20 connections rebuilt from the events", r.Stopped, r.Runs)
	}
}

// SIGTERM to the agent alone (an operator's kill, an OOM killer's
// warning): the run stops interrupted, and portex exits 130 to say so.
func TestAgentAloneStoppedExits130(t *testing.T) {
	if testing.Short() {
		t.Skip("builds portex and runs it in namespaces")
	}
	bin := buildPortex(t)
	scenario := writeScenario(t, `name: long
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
	cmd := exec.Command(bin, "run", scenario, "--out", dir, "-q")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	time.Sleep(time.Second)
	agents := childrenOf(cmd.Process.Pid)
	if len(agents) != 1 {
		t.Fatalf("agents %v, want one", agents)
	}
	syscall.Kill(agents[0], syscall.SIGTERM)
	err := cmd.Wait()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != exitInterrupted {
		t.Errorf("%v, want exit 130", err)
	}
	r := readResult(t, dir)
	if r.Stopped != result.StoppedInterrupted || len(r.Runs) != 1 || r.Runs[0].Stopped != result.StoppedInterrupted {
		t.Errorf("stopped %q, %d runs: want interrupted", r.Stopped, len(r.Runs))
	}
}

// Signals never leave portex unkillable: here it reads a result from a
// stdin that never ends, which no stop interrupts. The first signal and
// the hard stop change nothing for it; a third signal ends it.
func TestThirdSignalEndsAnything(t *testing.T) {
	if testing.Short() {
		t.Skip("builds portex")
	}
	bin := buildPortex(t)
	cmd := exec.Command(bin, "report", "-")
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	defer stdin.Close()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	time.Sleep(200 * time.Millisecond)
	for i := 1; i <= 3; i++ {
		cmd.Process.Signal(syscall.SIGINT)
		select {
		case err := <-exited:
			if i < 3 {
				t.Fatalf("ended at signal %d: %v", i, err)
			}
			var ee *exec.ExitError
			if !errors.As(err, &ee) || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGINT {
				t.Errorf("%v, want killed by SIGINT", err)
			}
			return
		case <-time.After(1200 * time.Millisecond):
		}
	}
	t.Fatal("still running after the third signal")
}

// childrenOf lists the processes whose parent is pid.
func childrenOf(pid int) []int {
	stats, _ := filepath.Glob("/proc/[0-9]*/stat")
	var out []int
	parent := strconv.Itoa(pid)
	for _, path := range stats {
		data, err := os.ReadFile(path)
		if err != nil {
			continue
		}
		s := string(data)
		fields := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
		if len(fields) > 1 && fields[1] == parent {
			child, _ := strconv.Atoi(filepath.Base(filepath.Dir(path)))
			out = append(out, child)
		}
	}
	return out
}
