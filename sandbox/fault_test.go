package sandbox

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/portex/portex/loadgen"
)

// children lists the pids whose parent is pid.
func children(t *testing.T, pid int) []int {
	t.Helper()
	stats, _ := filepath.Glob("/proc/[0-9]*/stat")
	var out []int
	for _, path := range stats {
		data, err := os.ReadFile(path)
		if err != nil {
			continue // gone meanwhile
		}
		// pid (comm) state ppid ...: comm may hold spaces; split after ')'.
		s := string(data)
		fields := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
		if len(fields) > 1 && fields[1] == strconv.Itoa(pid) {
			child, _ := strconv.Atoi(filepath.Base(filepath.Dir(path)))
			out = append(out, child)
		}
	}
	return out
}

// killMidRun runs a long holding plan and SIGKILLs the process that
// victim picks once the run is under way.
func killMidRun(t *testing.T, victim func() int) (*loadgen.Result, error) {
	t.Helper()
	p := holdPlan(50, loadgen.PortRange{Lo: 50000, Hi: 50199})
	p.Duration = 30 * time.Second
	p.Stop.On = loadgen.StopNever
	rt := &Netns{}
	progress := 0
	res, err := rt.Run(context.Background(), p, func(ev loadgen.Event) {
		if ev.Type == loadgen.EventProgress {
			if progress++; progress == 2 {
				if pid := victim(); pid > 0 {
					syscall.Kill(pid, syscall.SIGKILL)
				} else {
					t.Error("found no process to kill")
				}
			}
		}
	})
	assertNoChildren(t)
	return res, err
}

// assertNoChildren fails if the test process still has child processes
// (agents or echo servers) shortly after a run.
func assertNoChildren(t *testing.T) {
	t.Helper()
	deadline := time.Now().Add(3 * time.Second)
	for len(children(t, os.Getpid())) > 0 {
		if time.Now().After(deadline) {
			t.Fatalf("processes left behind: %v", children(t, os.Getpid()))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestAgentKilledKeepsPartialResult(t *testing.T) {
	agent := func() int {
		if c := children(t, os.Getpid()); len(c) == 1 {
			return c[0]
		}
		return 0
	}
	res, err := killMidRun(t, agent)
	if !errors.Is(err, ErrRuntime) || !strings.Contains(err.Error(), "agent") || !strings.Contains(err.Error(), "died") {
		t.Fatalf("err = %v, want a runtime error saying the agent died", err)
	}
	if res == nil || res.Stopped != loadgen.StoppedError || res.Dials.OK != 50 || res.Variant != "default" {
		t.Fatalf("partial result %+v: want the 50 connections seen before the kill", res)
	}
}

func TestEchoServerKilledEndsTheRun(t *testing.T) {
	server := func() int {
		for _, agent := range children(t, os.Getpid()) {
			if c := children(t, agent); len(c) == 1 {
				return c[0]
			}
		}
		return 0
	}
	res, err := killMidRun(t, server)
	if !errors.Is(err, ErrRuntime) || !strings.Contains(err.Error(), "echo server died") {
		t.Fatalf("err = %v, want a runtime error saying the echo server died", err)
	}
	if res == nil || res.Dials.OK != 50 || res.ElapsedSeconds > 10 {
		t.Fatalf("result %+v: want the 50 connections, ended early", res)
	}
}
