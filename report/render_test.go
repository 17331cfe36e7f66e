package report

import (
	"bytes"
	"encoding/csv"
	"encoding/xml"
	"errors"
	"io"
	"regexp"
	"strings"
	"testing"

	"github.com/portex/portex/result"
)

// The text-like renderings of the fixture match their golden files
// (go test ./report -update rewrites them).
func TestGolden(t *testing.T) {
	r := fixture(t)
	other := fixture(t)
	// A second result file, as portex compare gets it: the same
	// scenario measured again, a little slower to run out.
	other.Runs = other.Runs[:2]
	other.Runs[0].Exhaustion.AtSeconds = 2.4
	other.Runs[0].Exhaustion.DialsOKBefore = 118
	other.Runs[0].Latency.Connect.P99Us = 450
	other.Runs[0].Failures = map[string]int64{"EADDRNOTAVAIL": 61}
	srcs := []Source{{Name: "monday", File: r}, {Name: "tuesday", File: other}}

	for _, tc := range []struct {
		file   string
		render func(io.Writer) error
	}{
		{"summary.txt", func(w io.Writer) error {
			return WriteText(w, r, TextOptions{Files: []string{"out/result.json", "out/report.html"}})
		}},
		{"summary.md", func(w io.Writer) error { return WriteMarkdown(w, r) }},
		{"timeseries.csv", func(w io.Writer) error { return WriteCSV(w, r) }},
		{"junit.xml", func(w io.Writer) error { return WriteJUnit(w, r) }},
		{"compare.txt", func(w io.Writer) error { return WriteCompare(w, srcs) }},
		{"compare.md", func(w io.Writer) error { return WriteCompareMarkdown(w, srcs) }},
		{"compare-variants.txt", func(w io.Writer) error { return WriteCompare(w, srcs[:1]) }},
	} {
		t.Run(tc.file, func(t *testing.T) {
			var buf bytes.Buffer
			if err := tc.render(&buf); err != nil {
				t.Fatal(err)
			}
			golden(t, tc.file+".golden", buf.Bytes())
		})
	}
}

// csvRows renders r as CSV and reads it back.
func csvRows(t *testing.T, r *result.ResultFile) [][]string {
	t.Helper()
	var buf bytes.Buffer
	if err := WriteCSV(&buf, r); err != nil {
		t.Fatal(err)
	}
	rows, err := csv.NewReader(&buf).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	return rows
}

// The CSV has one header and one row per point of every run, all of the
// same width, a column for each class failing anywhere, in loadgen's order.
func TestCSVShape(t *testing.T) {
	r := fixture(t)
	rows := csvRows(t, r)
	want := 1
	for _, run := range r.Runs {
		if run.TimeSeries != nil {
			want += len(run.TimeSeries.Points)
		}
	}
	if len(rows) != want {
		t.Fatalf("%d rows, want %d", len(rows), want)
	}
	head := strings.Join(rows[0], ",")
	if !strings.Contains(head, "failed,failed_EADDRNOTAVAIL,failed_ECONNRESET,dropped") {
		t.Errorf("failure columns: %s", head)
	}
	for _, col := range []string{"client_time_wait", "client_close_wait", "client_ports_in_use", "server_time_wait", "port_range_size"} {
		if !strings.Contains(head, col) {
			t.Errorf("no column %s in %s", col, head)
		}
	}
}

// A quick socket sample, which did not count the ports in use, leaves the
// ports cell empty and every other cell filled.
func TestCSVPortsUncounted(t *testing.T) {
	r := fixture(t)
	pt := &r.Runs[0].TimeSeries.Points[0]
	pt.Client = &result.SocketStates{Established: 7, TimeWait: 3, PortsInUse: result.PortsUncounted}
	rows := csvRows(t, r)
	cell := func(name string) string {
		for i, h := range rows[0] {
			if h == name {
				return rows[1][i]
			}
		}
		t.Fatalf("no column %s", name)
		return ""
	}
	if cell("client_ports_in_use") != "" || cell("client_established") != "7" || cell("client_time_wait") != "3" {
		t.Errorf("ports %q, established %q, time_wait %q: want empty, 7, 3",
			cell("client_ports_in_use"), cell("client_established"), cell("client_time_wait"))
	}
}

// A run with no expectations gets one "run completed" case, failed when
// the run stopped on an error; failed expectations say expected and
// measured.
func TestJUnitCases(t *testing.T) {
	var buf bytes.Buffer
	if err := WriteJUnit(&buf, fixture(t)); err != nil {
		t.Fatal(err)
	}
	var doc junitSuites
	if err := xml.Unmarshal(buf.Bytes(), &doc); err != nil {
		t.Fatalf("junit.xml does not parse: %v", err)
	}
	if len(doc.Suites) != 3 || doc.Tests != 6 || doc.Failures != 2 {
		t.Fatalf("suites %d tests %d failures %d, want 3, 6, 2", len(doc.Suites), doc.Tests, doc.Failures)
	}
	p99 := doc.Suites[0].Cases[3]
	if p99.Name != "p99_connect" || p99.Failure == nil || p99.Failure.Message != "expected < 500µs, measured 892µs" {
		t.Errorf("failed expectation: %+v", p99)
	}
	if c := doc.Suites[1].Cases; len(c) != 1 || c[0].Name != "run completed" || c[0].Failure != nil {
		t.Errorf("run without expectations: %+v", c)
	}
	if c := doc.Suites[2].Cases; len(c) != 1 || c[0].Failure == nil || !strings.Contains(c[0].Failure.Message, "signal: killed") {
		t.Errorf("failed run: %+v", c)
	}
}

// The HTML report is one file: one <svg> per chart, no script, nothing
// loaded from elsewhere, and markup that parses.
func TestHTMLStructure(t *testing.T) {
	var buf bytes.Buffer
	if err := WriteHTML(&buf, fixture(t)); err != nil {
		t.Fatal(err)
	}
	page := buf.String()

	figures := strings.Count(page, `<figure class="figure" data-chart=`)
	svgs := strings.Count(page, "<svg ")
	// Two charts of the variants; three for each run with a time series
	// (sockets, rates, latency); the failed run has latency only.
	if figures != 2+3+3+1 || svgs != figures {
		t.Errorf("%d figures and %d <svg> elements, want 9 of each", figures, svgs)
	}
	for _, id := range []string{"variants-ports", "variants-dials", "run-1-baseline-sockets", "run-1-baseline-rates", "run-1-baseline-latency", "run-3-rst-close-latency"} {
		if !strings.Contains(page, `<svg class="chart" id="`+id+`"`) {
			t.Errorf("no chart %s", id)
		}
	}
	if strings.Contains(page, "<script") {
		t.Error("the report has a script")
	}
	if !strings.Contains(page, `http-equiv="Content-Security-Policy" content="default-src 'none'`) {
		t.Error("no content security policy that forbids loading anything")
	}
	xmlns := regexp.MustCompile(`xmlns(:xlink)?="http://www\.w3\.org/(2000/svg|1999/xlink)"`)
	if rest := xmlns.ReplaceAllString(page, ""); strings.Contains(rest, "http://") || strings.Contains(rest, "https://") {
		i := max(strings.Index(rest, "http://"), strings.Index(rest, "https://"))
		t.Errorf("a reference outside the file: %q", rest[max(0, i-80):min(len(rest), i+80)])
	}
	for _, bad := range []string{"@import", "url(", "<link", "<img", "<iframe", "ZgotmplZ"} {
		if strings.Contains(page, bad) {
			t.Errorf("the report holds %q", bad)
		}
	}
	for _, want := range []string{"p99_connect", "expected", "892µs", "1 of 4 expectations failed", "sandbox: the agent exited", "net.ipv4.tcp_tw_reuse", "relative error", "1.2%"} {
		if !strings.Contains(page, want) {
			t.Errorf("the report does not say %q", want)
		}
	}

	// The page parses as HTML, tags balanced; each chart as strict XML.
	d := xml.NewDecoder(strings.NewReader(page))
	d.Strict = false
	d.AutoClose = xml.HTMLAutoClose
	d.Entity = xml.HTMLEntity
	for {
		if _, err := d.Token(); err != nil {
			if !errors.Is(err, io.EOF) {
				t.Fatalf("the page does not parse: %v", err)
			}
			break
		}
	}
	for _, svg := range regexp.MustCompile(`(?s)<svg .*?</svg>`).FindAllString(page, -1) {
		d := xml.NewDecoder(strings.NewReader(svg))
		for {
			if _, err := d.Token(); err != nil {
				if !errors.Is(err, io.EOF) {
					t.Fatalf("a chart is not well-formed XML: %v\n%.300s", err, svg)
				}
				break
			}
		}
	}
}

// Every renderer copes with a run that measured nothing at all.
func TestRenderEmptyRun(t *testing.T) {
	r := &result.ResultFile{Schema: result.Schema, Scenario: "empty", Runs: []*result.Result{{Variant: "default", Stopped: result.StoppedInterrupted}}}
	empty := &result.ResultFile{Schema: result.Schema, Scenario: "nothing"}
	for _, f := range []*result.ResultFile{r, empty} {
		for name, render := range map[string]func(io.Writer, *result.ResultFile) error{
			"html": WriteHTML, "md": WriteMarkdown, "csv": WriteCSV, "junit": WriteJUnit,
		} {
			if err := render(io.Discard, f); err != nil {
				t.Errorf("%s of %s: %v", name, f.Scenario, err)
			}
		}
		if err := WriteCompare(io.Discard, []Source{{"x", f}}); err != nil {
			t.Errorf("compare of %s: %v", f.Scenario, err)
		}
	}
}

// A histogram that does not decode is an error, not a blank chart.
func TestHTMLBadHistogram(t *testing.T) {
	r := fixture(t)
	r.Runs[0].Latency.Connect.HDR = "not a histogram"
	if err := WriteHTML(io.Discard, r); err == nil {
		t.Error("no error for a histogram that does not decode")
	}
}

func TestSourceName(t *testing.T) {
	for _, tc := range []struct{ path, want string }{
		{"portex-results/churn-20261130-083000/result.json", "churn-20261130-083000"},
		{"result.json", "result"},
		{"/tmp/a.json", "a"},
		{"before", "before"},
	} {
		if got := SourceName(tc.path); got != tc.want {
			t.Errorf("SourceName(%q) = %q, want %q", tc.path, got, tc.want)
		}
	}
}

// Ticks fall on round values and cover the range.
func TestNiceTicks(t *testing.T) {
	for _, tc := range []struct {
		min, max float64
		n        int
		want     string
	}{
		{0, 5, 8, "0 1 2 3 4 5"},
		{0, 115, 5, "0 25 50 75 100"},
		{0, 0.021, 8, "0 0.005 0.01 0.015 0.02"},
		{0, 1, 5, "0 0.2 0.4 0.6 0.8 1"},
	} {
		var got []string
		for _, tk := range niceTicks(tc.min, tc.max, tc.n, formatCount) {
			got = append(got, tk.Label)
		}
		if s := strings.Join(got, " "); s != tc.want {
			t.Errorf("niceTicks(%v, %v, %d) = %s, want %s", tc.min, tc.max, tc.n, s, tc.want)
		}
	}
}

// The kernel's counters that move get a column each in timeseries.csv,
// after the others; those that never move get none.
func TestCSVKernelCounters(t *testing.T) {
	r := &result.ResultFile{Runs: []*result.Result{{Variant: "v", PortRangeSize: 100, TimeSeries: &result.TimeSeries{Points: []result.Point{
		{T: 0.5, Client: &result.SocketStates{}},
		{T: 1, Client: &result.SocketStates{}, Kernel: map[string]int64{"TcpExtTCPTimeWaitOverflow": 30}},
		{T: 1.5},
	}}}}}
	var b bytes.Buffer
	if err := WriteCSV(&b, r); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(b.String()), "\n")
	if !strings.HasSuffix(lines[0], ",port_range_size,client_kernel_TcpExtTCPTimeWaitOverflow") || len(lines) != 4 {
		t.Fatalf("csv:\n%s", b.String())
	}
	for i, want := range []string{",100,0", ",100,30", ",100,"} {
		if !strings.HasSuffix(lines[i+1], want) {
			t.Errorf("row %d %q, want it to end %q", i+1, lines[i+1], want)
		}
	}
}

// A run with a NAT gets the router's columns last: its table at t, and its
// refusals since the start; a point the router was not read at leaves
// them empty.
func TestCSVNATColumns(t *testing.T) {
	r := &result.ResultFile{Runs: []*result.Result{{Variant: "v", PortRangeSize: 100, NAT: &result.NAT{Mode: "snat", Ports: 100},
		TimeSeries: &result.TimeSeries{Points: []result.Point{
			{T: 0.1, NATTable: &result.NATTable{Entries: 40, States: map[string]int{"ESTABLISHED": 30, "TIME_WAIT": 10}}, NAT: &result.Conntrack{}},
			{T: 0.2, NATTable: &result.NATTable{Entries: 100, States: map[string]int{"ESTABLISHED": 100}}, NAT: &result.Conntrack{InsertFailed: 6, LimitDrops: 0}},
			{T: 0.3},
		}}}}}
	var b bytes.Buffer
	if err := WriteCSV(&b, r); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(b.String()), "\n")
	if !strings.HasSuffix(lines[0], ",port_range_size,nat_entries,nat_established,nat_time_wait,nat_insert_failed,nat_limit_drops") || len(lines) != 4 {
		t.Fatalf("csv:\n%s", b.String())
	}
	for i, want := range []string{",100,40,30,10,0,0", ",100,100,100,0,6,0", ",100,,,,,"} {
		if !strings.HasSuffix(lines[i+1], want) {
			t.Errorf("row %d %q, want it to end %q", i+1, lines[i+1], want)
		}
	}
}
