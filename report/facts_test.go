package report

import (
	"bytes"
	"html"
	"strings"
	"testing"

	"github.com/HdrHistogram/hdrhistogram-go"

	"github.com/portex/portex/analysis"
	"github.com/portex/portex/result"
)

// What the counters leave out is in every rendering: the text, summary.md
// and the HTML list the same facts.
func TestFactsInEveryRendering(t *testing.T) {
	r := &result.Result{
		Variant: "connection-limit", Runtime: "host", ElapsedSeconds: 2, Stopped: result.StoppedDuration,
		Notes:    []string{"host runtime: loopback, where tcp_tw_reuse=2 (the default) reuses TIME_WAIT ports"},
		Dials:    result.Dials{Attempted: 100, OK: 100},
		Failures: map[string]int64{}, Dropped: 101, ClosedAtEnd: 26,
		Latency: result.Latency{Connect: result.LatencySummary{Count: 100, P50Us: 30, P99Us: 665_000},
			EchoRTT: result.LatencySummary{Count: 100}},
	}
	exhausted := &result.Result{
		Variant: "baseline", Runtime: "netns", ElapsedSeconds: 3, Stopped: result.StoppedDuration,
		Dials:      result.Dials{Attempted: 300, OK: 100, Failed: 200},
		Failures:   map[string]int64{"EADDRNOTAVAIL": 200},
		Exhaustion: &result.Exhaustion{Class: "EADDRNOTAVAIL", AtSeconds: 1, DialsOKBefore: 100},
		Latency:    result.Latency{Connect: result.LatencySummary{Count: 100, P50Us: 30, P99Us: 665_000}},
		Events:     []result.Event{{Type: result.EventRecovery, AtSeconds: 2.5}},
		TimeSeries: &result.TimeSeries{IntervalSeconds: 1, Points: []result.Point{
			{T: 1, Attempted: 100, OK: 100},
			{T: 2, Attempted: 100, Failed: 100},
			{T: 3, Attempted: 100, Failed: 100}}},
	}
	f := &result.ResultFile{Schema: result.Schema, Scenario: "s", Runs: []*result.Result{r, exhausted}}
	want := []string{
		"101 of 201 arrivals (50%) found every slot busy",
		"50.0 connections/s · 50.0 echoes/s",
		"closed the 26 connections the client still held",
		"host runtime: loopback, where tcp_tw_reuse=2",
		"100% of the 200 dials after exhaustion failed",
		"a dial succeeded again 1.50s after it (at 2.50s)",
		"connect() slowed as the range filled: p99 665.00ms against a median of 30µs",
	}
	for name, render := range map[string]func(*bytes.Buffer) error{
		"text":     func(b *bytes.Buffer) error { return WriteText(b, f, TextOptions{}) },
		"markdown": func(b *bytes.Buffer) error { return WriteMarkdown(b, f) },
		"html":     func(b *bytes.Buffer) error { return WriteHTML(b, f) },
	} {
		var b bytes.Buffer
		if err := render(&b); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		for _, w := range want {
			if !strings.Contains(b.String(), w) {
				t.Errorf("%s lacks %q", name, w)
			}
		}
	}
	// The connection-limit run's verdict says arrivals were dropped; it
	// served its connections "without a failure" only in that sense.
	if v := analysis.Judge(r); !strings.Contains(v.Text, "101 arrivals were dropped") {
		t.Errorf("verdict hides the drops: %s", v.Text)
	}
}

// The kernel's counters that moved are facts, each with its cause; the
// ones that did not move say nothing.
func TestKernelFacts(t *testing.T) {
	r := &result.Result{
		Variant: "buckets", Runtime: "netns", ElapsedSeconds: 6, Stopped: result.StoppedDuration,
		Sysctls:       map[string]string{"net.ipv4.tcp_max_tw_buckets": "20", "net.ipv4.tcp_tw_reuse": "0"},
		ServerSysctls: map[string]string{"net.core.somaxconn": "4096"},
		// Ten handshakes completed in the kernel whose dials failed later:
		// its opens tell what the dials do not.
		Dials: result.Dials{Attempted: 300, OK: 290, Failed: 10}, Failures: map[string]int64{"ECONNRESET": 10},
		Kernel: &result.KernelCounters{
			Client: map[string]int64{"TcpExtTCPTimeWaitOverflow": 280, "TcpActiveOpens": 300, "TcpExtTCPSynRetrans": 0, "TcpEstabResets": 0},
			Server: map[string]int64{"TcpExtListenOverflows": 1204, "TcpExtListenDrops": 1204, "TcpPassiveOpens": 300},
		},
	}
	f := &result.ResultFile{Schema: result.Schema, Scenario: "s", Runs: []*result.Result{r}}
	want := []string{
		"the kernel skipped TIME_WAIT for 280 sockets: tcp_max_tw_buckets=20",
		"the server's accept queue overflowed 1,204 times: raise server.backlog",
		"the client's kernel opened 300 connections (ActiveOpens), the server's accepted 300 (PassiveOpens)",
	}
	for name, render := range map[string]func(*bytes.Buffer) error{
		"text":     func(b *bytes.Buffer) error { return WriteText(b, f, TextOptions{}) },
		"markdown": func(b *bytes.Buffer) error { return WriteMarkdown(b, f) },
		"html":     func(b *bytes.Buffer) error { return WriteHTML(b, f) },
	} {
		var b bytes.Buffer
		if err := render(&b); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		out := html.UnescapeString(b.String())
		for _, w := range want {
			if !strings.Contains(out, w) {
				t.Errorf("%s lacks %q", name, w)
			}
		}
		for _, no := range []string{"SYN", "reset", "handshake"} {
			if strings.Contains(out, no) {
				t.Errorf("%s speaks of a counter that did not move: %q", name, no)
			}
		}
	}
}

// Opens that equal the successful dials, and resets portex itself sent,
// are no news: the first is not said, the second says whose they may be.
func TestKernelFactsNoNews(t *testing.T) {
	r := &result.Result{Dials: result.Dials{Attempted: 200, OK: 200}, ClosedAtEnd: 200,
		Failures: map[string]int64{"ECONNRESET": 1},
		Kernel: &result.KernelCounters{
			Client: map[string]int64{"TcpActiveOpens": 200, "TcpEstabResets": 200},
			Server: map[string]int64{"TcpPassiveOpens": 200, "TcpEstabResets": 200},
		}}
	var got []string
	for _, f := range kernelFacts(r) {
		got = append(got, f.Text)
	}
	all := strings.Join(got, "\n")
	if strings.Contains(all, "ActiveOpens") {
		t.Errorf("the opens equal the dials, and are said anyway:\n%s", all)
	}
	if !strings.Contains(all, "portex's own RST closes") {
		t.Errorf("the resets do not say they may be portex's own:\n%s", all)
	}
	r.Failures = map[string]int64{}
	for _, f := range kernelFacts(r) {
		if strings.Contains(f.Text, "reset") {
			t.Errorf("no reset hit the load, and the kernel's resets are said: %s", f.Text)
		}
	}
}

// Connects that took about a second are the ones whose first SYN went
// unanswered: the fact counts them from the connect histogram, not
// from the percentiles.
func TestSlowConnectsFact(t *testing.T) {
	h := hdrhistogram.New(1, 60_000_000, 3)
	for range 90 {
		h.RecordValue(80) // 80 µs
	}
	for _, v := range []int64{1_000_150, 1_000_900, 1_001_500, 3_002_000} { // a resend after 1 s, one after 1 s + 2 s
		h.RecordValue(v)
	}
	enc, err := h.Encode(hdrhistogram.V2CompressedEncodingCookieBase)
	if err != nil {
		t.Fatal(err)
	}
	r := &result.Result{Variant: "v", Runtime: "netns", ElapsedSeconds: 5, Stopped: result.StoppedDuration,
		Dials:   result.Dials{Attempted: 94, OK: 94},
		Latency: result.Latency{Connect: result.LatencySummary{HDR: string(enc), Count: h.TotalCount()}},
		Kernel:  &result.KernelCounters{Client: map[string]int64{"TcpExtTCPSynRetrans": 5}}}
	var b bytes.Buffer
	if err := WriteText(&b, &result.ResultFile{Schema: result.Schema, Scenario: "s", Runs: []*result.Result{r}}, TextOptions{}); err != nil {
		t.Fatal(err)
	}
	if want := "4 successful connects took 1 s or more: the first SYN went unanswered"; !strings.Contains(b.String(), want) {
		t.Errorf("no %q in\n%s", want, b.String())
	}
}

// A load held forever says when all of its connections were open, and
// the rate from the first: the throughput over the run counts the hold.
func TestOpeningLine(t *testing.T) {
	r := &result.Result{Model: &result.Model{HeldConnections: 1000}, TimeSeries: &result.TimeSeries{IntervalSeconds: 0.1,
		Points: []result.Point{{T: 0.1}, {T: 0.2, Open: 100}, {T: 1.1, Open: 1000}, {T: 5, Open: 1000}}}}
	if got, want := openingLine(r), "all 1,000 connections open at 1.10s, 1,000/s from the first"; got != want {
		t.Errorf("openingLine = %q, want %q", got, want)
	}
	r.TimeSeries.Points = r.TimeSeries.Points[:2]
	if got := openingLine(r); got != "" {
		t.Errorf("openingLine = %q with the connections not all open, want none", got)
	}
	r.Model.HeldConnections = 0
	if got := openingLine(r); got != "" {
		t.Errorf("openingLine = %q for a load not held forever", got)
	}
}
