package main

import (
	"context"
	"encoding/json"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/portex/portex/result"
)

// Result files portex could not have written: every format of report and
// compare refuses each with exit 2 and a line saying what is wrong, in
// bounded time, and never panics.
func TestReportHostileResults(t *testing.T) {
	dir := t.TempDir()
	const head = `{"schema":"portex/result/v1","scenario":"x",`
	run := func(extra string) string {
		return `{"variant":"default","runtime":"netns","stopped":"duration","elapsed_seconds":2` + extra + `}`
	}
	cases := []struct {
		name, body, say string
	}{
		{"null-run", `{"schema":"portex/result/v1","runs":[null]}`, "runs[0]: null"},
		{"null-runs", head + `"runs":null}`, "runs: null"},
		{"huge-times", head + `"runs":[` + run(`,"timeseries":{"interval_seconds":1,"points":[{"t":-1e308,"open":1},{"t":1e308,"open":2}]}`) + `]}`, "timeseries.points[0].t"},
		{"huge-time", head + `"runs":[` + run(`,"timeseries":{"interval_seconds":1,"points":[{"t":0,"open":1},{"t":1e308,"open":2}]}`) + `]}`, "out of range"},
		{"unordered", head + `"runs":[` + run(`,"timeseries":{"interval_seconds":1,"points":[{"t":2,"open":1},{"t":1,"open":2}]}`) + `]}`, "out of order"},
		{"negative-count", head + `"runs":[` + run(`,"dials":{"attempted":-5,"ok":1,"failed":0}`) + `]}`, "counts below zero"},
		{"huge-latency", head + `"runs":[` + run(`,"latency":{"connect":{"count":1,"mean_us":1e300}}`) + `]}`, "latency.connect.mean_us"},
		{"port-range", head + `"runs":[` + run(`,"port_range_size":1000000`) + `]}`, "port_range_size"},
		{"trailing", head + `"runs":[]} {"more":1}`, "data after the result"},
		{"trailing-garbage", head + `"runs":[]}garbage`, "data after the result"},
	}
	formats := [][]string{{"report"}, {"report", "-f", "html"}, {"report", "-f", "md"}, {"report", "-f", "junit"},
		{"report", "-f", "csv"}, {"report", "-f", "json"}, {"compare"}, {"compare", "-f", "md"}}
	for _, tc := range cases {
		path := filepath.Join(dir, tc.name+".json")
		if err := os.WriteFile(path, []byte(tc.body), 0o644); err != nil {
			t.Fatal(err)
		}
		for _, f := range formats {
			args := append(append([]string{}, f...), path)
			got := make(chan cli, 1)
			go func() { got <- portex(t, context.Background(), args...) }()
			select {
			case g := <-got:
				if g.code != exitUsage || !strings.Contains(g.stderr, tc.say) || strings.Count(g.stderr, "\n") != 1 {
					t.Errorf("%s: portex %s: exit %d, stderr %q; want exit 2 and one line saying %q", tc.name, strings.Join(f, " "), g.code, g.stderr, tc.say)
				}
			case <-time.After(20 * time.Second):
				t.Fatalf("%s: portex %s: still running after 20 s", tc.name, strings.Join(f, " "))
			}
		}
	}
}

// Names and messages in a result are printed without their control
// characters: no escape sequence, carriage return or C1 control of a
// result file reaches the terminal through report or compare.
func TestReportStripsControlCharacters(t *testing.T) {
	const evil = "v\x1b[2J\x1b]0;owned\x07\rX\x08\u009b31m\tY"
	js, _ := json.Marshal(evil)
	body := strings.ReplaceAll(`{"schema":"portex/result/v1","scenario":E,"runs":[{"variant":E,"runtime":E,"stopped":E,
		"error":E,"notes":[E],"elapsed_seconds":1,"failures":{E:3},"pools":[{"name":E}]}]}`, "E", string(js))
	path := filepath.Join(t.TempDir(), "evil.json")
	if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{{"report", path}, {"compare", path}, {"compare", path, path}} {
		got := portex(t, context.Background(), args...)
		if got.code != exitOK {
			t.Fatalf("portex %s: exit %d, stderr %q", strings.Join(args, " "), got.code, got.stderr)
		}
		if !strings.Contains(got.stdout, "v [2J ]0;owned") && args[0] == "report" {
			t.Errorf("portex %s: the name is not there, cleaned:\n%s", strings.Join(args, " "), got.stdout)
		}
		for i, r := range got.stdout {
			if (r < 0x20 && r != '\n') || (r >= 0x7f && r < 0xa0) {
				t.Errorf("portex %s: control character %U at byte %d:\n%q", strings.Join(args, " "), r, i, got.stdout)
				break
			}
		}
	}
}

// The progress lines carry pool names and failure classes from the agent:
// they are printed without control characters.
func TestProgressStripsControlCharacters(t *testing.T) {
	var b strings.Builder
	p := &progress{w: &b, variant: "base\x1b[1A", i: 1, n: 1, interval: 1}
	p.event(result.Event{Type: result.EventFirstFailure, AtSeconds: 1, Class: "EADDRNOTAVAIL\r\x1b[2K", Pool: "p\x1b]0;x\x07"})
	p.event(result.Event{Type: result.EventProgress, AtSeconds: 2, Progress: &result.Progress{Attempted: 1}})
	out := b.String()
	if strings.Count(out, "\n") != 2 {
		t.Fatalf("want two lines, got %q", out)
	}
	for _, r := range out {
		if r < 0x20 && r != '\n' {
			t.Fatalf("control character %U in %q", r, out)
		}
	}
}

// An --out that is a symbolic link is refused before anything runs, and
// nothing is written where it points.
func TestRunRefusesSymlinkedOut(t *testing.T) {
	target := t.TempDir()
	link := filepath.Join(t.TempDir(), "out")
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
	for _, out := range []string{link, link + "/"} {
		got := portex(t, context.Background(), "run", "hold-until-exhausted", "--out", out, "-q")
		if got.code != exitUsage || !strings.Contains(got.stderr, "symbolic link") || !strings.Contains(got.stderr, target) {
			t.Errorf("--out %s: exit %d, stderr %q; want exit 2 naming the link and its target", out, got.code, got.stderr)
		}
	}
	if ents, _ := os.ReadDir(target); len(ents) > 0 {
		t.Errorf("files written through the link: %v", ents)
	}
}

// A FIFO, a device or a socket given as a scenario or a result is refused
// at once with exit 2 and the path, instead of blocking in open() for a
// writer that never comes (or reading forever).
func TestNonRegularFilesRefused(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "scenario.yaml")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(dir, "sock.yaml")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	for _, tc := range []struct {
		args []string
		say  string
	}{
		{[]string{"validate", fifo}, fifo + ": is a named pipe (FIFO)"},
		{[]string{"run", fifo, "--out", filepath.Join(dir, "out"), "-q"}, fifo + ": is a named pipe (FIFO)"},
		{[]string{"plan", fifo}, fifo + ": is a named pipe (FIFO)"},
		{[]string{"validate", "/dev/zero"}, "/dev/zero: is a device"},
		{[]string{"validate", sock}, sock + ": is a socket"},
		{[]string{"report", fifo}, fifo + " is not a regular file"},
		{[]string{"compare", "/dev/zero"}, "/dev/zero is not a regular file"},
	} {
		got := make(chan cli, 1)
		go func() { got <- portex(t, context.Background(), tc.args...) }()
		select {
		case g := <-got:
			if g.code != exitUsage || !strings.Contains(g.stderr, tc.say) {
				t.Errorf("portex %s: exit %d, stderr %q; want exit 2 saying %q", strings.Join(tc.args, " "), g.code, g.stderr, tc.say)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("portex %s: still blocked after 10 s", strings.Join(tc.args, " "))
		}
	}
}
