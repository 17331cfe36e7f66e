package main

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/portex/portex/result"
)

// Ctrl-C at any moment: while the namespaces are being built, while the
// load starts, mid-run, while the report is written. Every time: exit 130,
// a complete result.json of what was measured, no process left behind.
func TestInterruptAtAnyMoment(t *testing.T) {
	needsFullTier(t)
	path := writeScenario(t, `name: interrupted
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
	rng := rand.New(rand.NewPCG(7, 7)) // fixed seed: the same 32 moments every time
	const moments = 32
	offsets := make([]time.Duration, moments)
	for i := range offsets {
		// Most moments in the first 100 ms (setup), the rest up to 1 s.
		if i%2 == 0 {
			offsets[i] = time.Duration(rng.Int64N(int64(100 * time.Millisecond)))
		} else {
			offsets[i] = time.Duration(rng.Int64N(int64(time.Second)))
		}
	}
	t.Run("group", func(t *testing.T) {
		for i, off := range offsets {
			t.Run(fmt.Sprintf("%02d-at-%s", i, off.Round(time.Millisecond)), func(t *testing.T) {
				t.Parallel()
				dir := filepath.Join(t.TempDir(), "out")
				ctx, cancel := context.WithCancel(context.Background())
				time.AfterFunc(off, cancel)
				got := portex(t, ctx, "run", path, "--out", dir, "-q")
				if got.code != exitInterrupted {
					t.Fatalf("exit %d, want 130; stderr:\n%s", got.code, got.stderr)
				}
				data, err := os.ReadFile(filepath.Join(dir, "result.json"))
				if err != nil {
					t.Fatalf("no result.json: %v", err)
				}
				var r result.ResultFile
				if err := json.Unmarshal(data, &r); err != nil {
					t.Fatalf("result.json is not whole: %v", err)
				}
				for _, run := range r.Runs {
					if run.Dials.OK > 20 || (run.Stopped != result.StoppedInterrupted && run.Stopped != result.StoppedError) {
						t.Errorf("run %+v", run)
					}
				}
				leftovers, _ := filepath.Glob(filepath.Join(dir, ".*"))
				if len(leftovers) > 0 {
					t.Errorf("temporary files left: %v", leftovers)
				}
			})
		}
	})
	// The parallel runs are over: no agent or echo server may remain.
	deadline := time.Now().Add(3 * time.Second)
	for len(childPids()) > 0 {
		if time.Now().After(deadline) {
			t.Fatalf("processes left behind: %v", childPids())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// childPids lists the test process's children.
func childPids() []int {
	stats, _ := filepath.Glob("/proc/[0-9]*/stat")
	var out []int
	me := strconv.Itoa(os.Getpid())
	for _, path := range stats {
		data, err := os.ReadFile(path)
		if err != nil {
			continue
		}
		s := string(data)
		fields := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
		if len(fields) > 1 && fields[1] == me {
			pid, _ := strconv.Atoi(filepath.Base(filepath.Dir(path)))
			out = append(out, pid)
		}
	}
	return out
}
