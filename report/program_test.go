package report

import (
	"bytes"
	"encoding/xml"
	"strings"
	"testing"

	"github.com/portex/portex/result"
)

func TestProgramLine(t *testing.T) {
	at := 1.25
	for _, tc := range []struct {
		name string
		p    result.ProgramResult
		want string
	}{
		{"exited, no error", result.ProgramResult{Name: "c", ExitCode: 0, ElapsedSeconds: 2, OutputBytes: 10},
			"c · exit 0 after 2.00s · 10 B of output"},
		{"ran out", result.ProgramResult{Name: "c", ExitCode: 1, ElapsedSeconds: 2, OutputBytes: 10,
			FirstErrorClass: "EADDRNOTAVAIL", FirstErrorAtSeconds: &at, FirstErrorLine: "connect: cannot assign requested address"},
			"c · exit 1 after 2.00s · 10 B of output · first EADDRNOTAVAIL at 1.25s: connect: cannot assign requested address"},
		{"curl's words", result.ProgramResult{Name: "c", ExitCode: 7, ElapsedSeconds: 2, OutputBytes: 10,
			FirstErrorClass: "other", FirstErrorAtSeconds: &at, FirstErrorLine: "curl: (7) Failed to connect"},
			"c · exit 7 after 2.00s · 10 B of output · first failed connect, cause unsaid, at 1.25s: curl: (7) Failed to connect"},
		{"stopped by portex", result.ProgramResult{Name: "c", ExitCode: -1, Signal: "terminated", StoppedByPortex: true, ElapsedSeconds: 1},
			"c · signal terminated (sent by portex) after 1.00s · 0 B of output"},
	} {
		if got := ProgramLine(tc.p); got != tc.want {
			t.Errorf("%s:\n got %q\nwant %q", tc.name, got, tc.want)
		}
	}
}

// A program's run says in JUnit how the program ended and when its
// output first reported a failed connect: beside the verdict, and in a
// failed expectation's text.
func TestJUnitPrograms(t *testing.T) {
	at := 0.1
	run := &result.Result{Variant: "baseline", Runtime: "netns", Stopped: "exhaustion", ElapsedSeconds: 0.5,
		PortRangeSize: 200, Failures: map[string]int64{},
		Exhaustion: &result.Exhaustion{Class: "EADDRNOTAVAIL", AtSeconds: 0.11, DialsOKBefore: 200},
		Programs: []result.ProgramResult{{Name: "goclient", ExitCode: 1, ElapsedSeconds: 0.5, OutputBytes: 100,
			FirstErrorClass: "EADDRNOTAVAIL", FirstErrorAtSeconds: &at, FirstErrorLine: "connect: cannot assign requested address"}},
		Expectations: []result.Expectation{{Name: "exhausted", Expected: "false", Measured: "true"}}}
	var buf bytes.Buffer
	if err := WriteJUnit(&buf, &result.ResultFile{Scenario: "mine", Runs: []*result.Result{run}}); err != nil {
		t.Fatal(err)
	}
	var doc junitSuites
	if err := xml.Unmarshal(buf.Bytes(), &doc); err != nil {
		t.Fatal(err)
	}
	line := "program goclient · exit 1 after 0.50s · 100 B of output · first EADDRNOTAVAIL at 0.10s: connect: cannot assign requested address"
	s := doc.Suites[0]
	if !strings.Contains(s.SystemOut, "EXHAUSTED after 200 connections") || !strings.Contains(s.SystemOut, line) {
		t.Errorf("system-out %q", s.SystemOut)
	}
	if f := s.Cases[0].Failure; f == nil || f.Message != "expected false, measured true" || !strings.Contains(f.Text, line) {
		t.Errorf("failure %+v", f)
	}
}

// The Markdown summary has a line for each program of a run.
func TestMarkdownPrograms(t *testing.T) {
	run := &result.Result{Variant: "baseline", Runtime: "netns", Stopped: "exited", Failures: map[string]int64{},
		Programs: []result.ProgramResult{{Name: "goclient", ExitCode: 0, ElapsedSeconds: 0.25, OutputBytes: 119}}}
	var buf bytes.Buffer
	if err := WriteMarkdown(&buf, &result.ResultFile{Scenario: "mine", Runs: []*result.Result{run}}); err != nil {
		t.Fatal(err)
	}
	if want := "  - program: goclient · exit 0 after 0.25s · 119 B of output\n"; !strings.Contains(buf.String(), want) {
		t.Errorf("summary.md has no %q:\n%s", want, buf.String())
	}
}

// The HTML report lists a run's programs with its other facts.
func TestHTMLPrograms(t *testing.T) {
	run := &result.Result{Variant: "baseline", Runtime: "netns", Stopped: "exited", Failures: map[string]int64{},
		Programs: []result.ProgramResult{{Name: "goclient", ExitCode: 0, ElapsedSeconds: 0.25, OutputBytes: 119}}}
	var buf bytes.Buffer
	if err := WriteHTML(&buf, &result.ResultFile{Scenario: "mine", Runs: []*result.Result{run}}); err != nil {
		t.Fatal(err)
	}
	if want := "goclient · exit 0 after 0.25s · 119 B of output"; !strings.Contains(buf.String(), want) {
		t.Errorf("report.html has no %q", want)
	}
}
