package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

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
	// A file that is not a namespace: setns refuses it (EINVAL) before
	// it looks at privilege.
	if r := portex(t, ctx, "watch", "--netns", "/proc/self/stat", "--once"); r.code != exitUsage ||
		!strings.Contains(r.stderr, "no such network namespace: /proc/self/stat is not one") {
		t.Errorf("--netns /proc/self/stat: exit %d, stderr %q", r.code, r.stderr)
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

// lockedBuffer is a bytes.Buffer safe for a command writing while the
// test reads.
type lockedBuffer struct {
	mu sync.Mutex // guards b
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestWatchMetrics serves watch's metrics of the test's own namespace
// and finds the test's own connections in a scrape.
func TestWatchMetrics(t *testing.T) {
	if r := portex(t, context.Background(), "watch", "--once", "--metrics-listen", "127.0.0.1:0"); r.code != exitUsage || !strings.Contains(r.stderr, "not with --once") {
		t.Errorf("--once with --metrics-listen: exit %d, %q", r.code, r.stderr)
	}
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			defer c.Close()
		}
	}()
	for range 5 {
		c, err := net.Dial("tcp4", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
	}
	ctx, cancel := context.WithCancel(context.Background())
	var stdout, stderr lockedBuffer
	done := make(chan int)
	go func() {
		done <- run(ctx, []string{"watch", "--metrics-listen", "127.0.0.1:0", "--interval", "50ms", "--top", "0", "--format", "plain"},
			strings.NewReader(""), &stdout, &stderr)
	}()
	defer func() {
		cancel()
		if code := <-done; code != exitOK {
			t.Errorf("watch ended with %d: %s", code, stderr.String())
		}
	}()
	want := fmt.Sprintf(`portex_watch_ports_in_use{destination=%q,namespace="host"} 5`, ln.Addr().String())
	var last string
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		_, addr, ok := strings.Cut(stderr.String(), "metrics on http://")
		if !ok {
			continue
		}
		addr, _, _ = strings.Cut(addr, "\n")
		resp, err := http.Get("http://" + addr)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if last = string(body); strings.Contains(last, want) {
			return
		}
	}
	t.Errorf("no %s in the scrape:\n%.2000s\nstderr: %s", want, last, stderr.String())
}
