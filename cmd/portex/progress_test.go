package main

import (
	"bytes"
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/portex/portex/loadgen"
	"github.com/portex/portex/result"
)

func testProgress(live bool) (*progress, *bytes.Buffer) {
	var b bytes.Buffer
	p := newProgress(&b, &loadgen.Plan{Variant: "baseline"}, 2, 3)
	p.live = live
	return p, &b
}

// The exhaustion line's figures are separated; dials/s counts every
// attempt, the failed ones too.
func TestProgressLines(t *testing.T) {
	p, b := testProgress(false)
	p.event(result.Event{Type: result.EventExhaustion, AtSeconds: 2, Class: "EADDRNOTAVAIL",
		Progress: &result.Progress{Open: 3, Client: &result.SocketStates{PortsInUse: 200, TimeWait: 197}}})
	if want := "with 3 connections open; 200 ports in use, 197 sockets in TIME_WAIT, 0 in CLOSE_WAIT\n"; !strings.HasSuffix(b.String(), want) {
		t.Errorf("exhaustion line %q, want it to end %q", b.String(), want)
	}
	b.Reset()
	p.event(result.Event{Type: result.EventProgress, AtSeconds: 1, Progress: &result.Progress{Attempted: 14336, OK: 0, Failed: 14336}})
	if want := "14336 dials/s · ok 0 · failed 14336"; !strings.Contains(b.String(), want) {
		t.Errorf("progress line %q: want %q (every dial failed: fd-limit)", b.String(), want)
	}
	b.Reset()
	p.event(result.Event{Type: result.EventProgress, AtSeconds: 2, Progress: &result.Progress{Attempted: 14336 + 500, OK: 100, Failed: 14336 + 400}})
	if want := "500 dials/s · ok 100 · failed 14736"; !strings.Contains(b.String(), want) {
		t.Errorf("progress line %q: want %q", b.String(), want)
	}
}

// A finished variant leaves its verdict on a line of its own, on a
// terminal in place of the live line, elsewhere as a plain line.
func TestProgressLeavesTheVerdict(t *testing.T) {
	res := &result.Result{Variant: "baseline", PortRangeSize: 150, Sysctls: map[string]string{"net.ipv4.ip_local_port_range": "50000 50149"},
		Exhaustion: &result.Exhaustion{AtSeconds: 1.5, Class: "EADDRNOTAVAIL", DialsOKBefore: 150, OpenConnections: 20}}
	for _, live := range []bool{true, false} {
		p, b := testProgress(live)
		p.event(result.Event{Type: result.EventProgress, AtSeconds: 1.2, Progress: &result.Progress{Attempted: 120, OK: 120}})
		p.event(result.Event{Type: result.EventEnd, AtSeconds: 2})
		p.done(res)
		out := b.String()
		verdict := "portex: [2/3 baseline] EXHAUSTED after 150 connections in 1.50s"
		if !strings.Contains(out, verdict) || !strings.HasSuffix(out, "\n") {
			t.Errorf("live %v: %q: want the verdict %q on a line of its own", live, out, verdict)
		}
		if live {
			if last := out[strings.LastIndex(out, "\r")+1:]; !strings.HasPrefix(last, "\033[K"+verdict) {
				t.Errorf("live: the last line %q is not the verdict", last)
			}
		}
	}
	var p *progress // --quiet
	p.done(res)
}

// With stdout going to a file, stderr still gets each variant's verdict,
// and the host runtime's range reads without nested parentheses.
func TestRunPrintsVerdictsOnStderr(t *testing.T) {
	needsFullTier(t)
	for _, rt := range []string{"netns", "host"} {
		t.Run(rt, func(t *testing.T) {
			got := portex(t, context.Background(), "run", "--runtime", rt, "--out", filepath.Join(t.TempDir(), "out"))
			if got.code != exitOK {
				t.Fatalf("exit %d, stderr:\n%s", got.code, got.stderr)
			}
			if !strings.Contains(got.stderr, "portex: [1/1 default] EXHAUSTED after 200 connections") {
				t.Errorf("no verdict on stderr:\n%s", got.stderr)
			}
			if strings.Contains(got.stdout, "))") || strings.Contains(got.stderr, "))") {
				t.Errorf("nested parentheses:\n%s%s", got.stdout, got.stderr)
			}
		})
	}
}
