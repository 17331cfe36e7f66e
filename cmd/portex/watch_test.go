package main

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/portex/portex/watch"
)

func TestWatchFlagErrors(t *testing.T) {
	ctx := context.Background()
	for _, tt := range []struct {
		args []string
		says string
	}{
		{[]string{"--pid", "1", "--netns", "/run/netns/x"}, "give one"},
		{[]string{"--pid", "0"}, "want a process id"},
		{[]string{"--pid", "-3"}, "want a process id"},
		{[]string{"--interval", "1ms"}, "want 10ms or more"},
		{[]string{"--window", "-1s"}, "want 0 or more"},
		{[]string{"--top", "-1"}, "want 0 (all) or more"},
		{[]string{"--format", "xml"}, `want table, plain or json`},
		{[]string{"--netns", ""}, "want a path"},
		{[]string{"--bogus"}, "unknown flag"},
		{[]string{"extra"}, `unexpected argument "extra"`},
		// A process that does not exist: pid_max is at most 2^22.
		{[]string{"--pid", "99999999", "--once"}, "--pid 99999999: no such process"},
		{[]string{"--netns", "/nonexistent/ns", "--once"}, "no such network namespace: /nonexistent/ns"},
	} {
		r := portex(t, ctx, append([]string{"watch"}, tt.args...)...)
		if r.code != exitUsage || !strings.Contains(r.stderr, tt.says) {
			t.Errorf("watch %v: exit %d, stderr %q; want %d and %q", tt.args, r.code, r.stderr, exitUsage, tt.says)
		}
	}
}

// TestWatchOnceJSON watches the test's own namespace once, which takes
// no privilege.
func TestWatchOnceJSON(t *testing.T) {
	r := portex(t, context.Background(), "watch", "--once", "--window", "0", "--format", "json")
	if r.code != exitOK {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	var rep watch.Report
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil {
		t.Fatalf("%v: %s", err, r.stdout)
	}
	if rep.Namespace != "host" || rep.Samples != 1 || rep.Budget <= 0 || rep.Budget > rep.RangeSize {
		t.Errorf("report %+v", rep)
	}
}
