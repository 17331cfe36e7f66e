package sandbox

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/portex/portex/loadgen"
	"github.com/portex/portex/result"
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
func killMidRun(t *testing.T, victim func() int) (*result.Result, error) {
	t.Helper()
	p := holdPlan(50, loadgen.PortRange{Lo: 50000, Hi: 50199})
	p.Duration = 30 * time.Second
	p.Stop.On = loadgen.StopNever
	rt := &Netns{}
	progress := 0
	res, err := rt.Run(context.Background(), p, &Observer{Event: func(ev result.Event) {
		if ev.Type == result.EventProgress {
			if progress++; progress == 2 {
				if pid := victim(); pid > 0 {
					syscall.Kill(pid, syscall.SIGKILL)
				} else {
					t.Error("found no process to kill")
				}
			}
		}
	}})
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
	needsFullTier(t)
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
	if res == nil || res.Stopped != result.StoppedError || res.Dials.OK != 50 || res.Variant != "default" {
		t.Fatalf("partial result %+v: want the 50 connections seen before the kill", res)
	}
}

func TestEchoServerKilledEndsTheRun(t *testing.T) {
	needsFullTier(t)
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

// A sharded run interrupted mid-run stops every shard once (a second
// SIGTERM would kill a shard before it reports) and merges what they held.
func TestShardedRunInterrupted(t *testing.T) {
	needsFullTier(t)
	p := holdPlan(50, loadgen.PortRange{Lo: 50000, Hi: 50199})
	p.Sandbox.Processes, p.Sandbox.Nofile = 2, 0
	p.Duration, p.Stop.On = time.Minute, loadgen.StopNever
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	progress := 0
	res, err := (&Netns{}).Run(ctx, p, &Observer{Event: func(ev result.Event) {
		if ev.Type == result.EventProgress {
			if progress++; progress == 2 {
				cancel()
			}
		}
	}})
	assertNoChildren(t)
	if err != nil {
		t.Fatal(err)
	}
	if res.Stopped != result.StoppedInterrupted || res.Dials.OK != 50 || res.Resources.Client.Processes != 2 || res.Error != "" {
		t.Fatalf("stopped %q ok %d processes %d error %q: want interrupted, 50 held by 2 shards",
			res.Stopped, res.Dials.OK, res.Resources.Client.Processes, res.Error)
	}
}

// A shard killed mid-run does not leave the others waiting for it.
func TestShardKilledDoesNotHang(t *testing.T) {
	needsFullTier(t)
	p := holdPlan(50, loadgen.PortRange{Lo: 50000, Hi: 50199})
	p.Sandbox.Processes, p.Sandbox.Nofile = 2, 0
	p.Duration, p.Stop.On = 3*time.Second, loadgen.StopNever
	start := time.Now()
	progress := 0
	res, err := (&Netns{}).Run(context.Background(), p, &Observer{Event: func(ev result.Event) {
		if ev.Type != result.EventProgress {
			return
		}
		if progress++; progress != 2 {
			return
		}
		// The agent's children: the echo server and the two shards; a
		// shard's own children: none.
		for _, agent := range children(t, os.Getpid()) {
			for _, c := range children(t, agent) {
				if cmdline, _ := os.ReadFile("/proc/" + strconv.Itoa(c) + "/cmdline"); len(children(t, c)) == 0 && strings.Contains(string(cmdline), "agent") {
					if isShard(c) {
						syscall.Kill(c, syscall.SIGKILL)
						return
					}
				}
			}
		}
		t.Error("found no shard to kill")
	}})
	assertNoChildren(t)
	if took := time.Since(start); took > 8*time.Second {
		t.Errorf("took %s for a 3 s run", took)
	}
	if err == nil || res == nil || !strings.Contains(res.Error, "shard") {
		t.Errorf("err %v, result error %q: want the dead shard named", err, resError(res))
	}
}

func resError(r *result.Result) string {
	if r == nil {
		return "<no result>"
	}
	return r.Error
}

// isShard tells a shard from the echo server: the server runs in a network
// namespace of its own, a shard in its parent's.
func isShard(pid int) bool {
	mine, err1 := os.Readlink("/proc/" + strconv.Itoa(pid) + "/ns/net")
	parent, err2 := os.Readlink(fmt.Sprintf("/proc/%d/ns/net", ppid(pid)))
	return err1 == nil && err2 == nil && mine == parent
}

func ppid(pid int) int {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	s := string(data)
	fields := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	n, _ := strconv.Atoi(fields[1])
	return n
}
