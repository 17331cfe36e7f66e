package report

import (
	"encoding/xml"
	"fmt"
	"io"
	"sort"
	"time"

	"github.com/portex/portex/result"
)

// The JUnit XML schema as CI systems read it (Jenkins, GitLab, GitHub
// test reporters): testsuites > testsuite > testcase > failure.
type junitSuites struct {
	XMLName  xml.Name     `xml:"testsuites"`
	Name     string       `xml:"name,attr"`
	Tests    int          `xml:"tests,attr"`
	Failures int          `xml:"failures,attr"`
	Errors   int          `xml:"errors,attr"`
	Time     string       `xml:"time,attr"`
	Suites   []junitSuite `xml:"testsuite"`
}

type junitSuite struct {
	Name       string          `xml:"name,attr"`
	Tests      int             `xml:"tests,attr"`
	Failures   int             `xml:"failures,attr"`
	Errors     int             `xml:"errors,attr"`
	Time       string          `xml:"time,attr"`
	Timestamp  string          `xml:"timestamp,attr,omitempty"`
	Properties []junitProperty `xml:"properties>property,omitempty"`
	Cases      []junitCase     `xml:"testcase"`
	SystemOut  string          `xml:"system-out,omitempty"`
}

type junitProperty struct {
	Name  string `xml:"name,attr"`
	Value string `xml:"value,attr"`
}

type junitCase struct {
	Name      string        `xml:"name,attr"`
	Classname string        `xml:"classname,attr"`
	Time      string        `xml:"time,attr"`
	Failure   *junitFailure `xml:"failure,omitempty"`
	Error     *junitFailure `xml:"error,omitempty"`
}

type junitFailure struct {
	Message string `xml:"message,attr"`
	Type    string `xml:"type,attr"`
	Text    string `xml:",chardata"`
}

// WriteJUnit writes junit.xml: one test suite per run, one test case per
// expectation, failed with "expected X, measured Y". A run without
// expectations has one test case, "run completed", which fails when the
// run stopped on an error; a run with expectations that stopped on an
// error has it too, as an error.
func WriteJUnit(w io.Writer, r *result.ResultFile) error {
	doc := junitSuites{Name: "portex: " + r.Scenario}
	var total float64
	for _, run := range r.Runs {
		s := junitRun(r.Scenario, run)
		doc.Tests += s.Tests
		doc.Failures += s.Failures
		doc.Errors += s.Errors
		total += run.ElapsedSeconds
		doc.Suites = append(doc.Suites, s)
	}
	doc.Time = junitTime(total)
	if _, err := io.WriteString(w, xml.Header); err != nil {
		return err
	}
	enc := xml.NewEncoder(w)
	enc.Indent("", "  ")
	if err := enc.Encode(doc); err != nil {
		return err
	}
	_, err := io.WriteString(w, "\n")
	return err
}

func junitRun(scenario string, run *result.Result) junitSuite {
	s := junitSuite{
		Name:      scenario + "/" + run.Variant,
		Time:      junitTime(run.ElapsedSeconds),
		SystemOut: Verdict(run),
		Properties: []junitProperty{
			{"runtime", run.Runtime},
			{"stopped", run.Stopped},
			{"port_range_size", fmt.Sprint(run.PortRangeSize)},
		},
	}
	if !run.StartedAt.IsZero() {
		s.Timestamp = run.StartedAt.UTC().Format(time.RFC3339)
	}
	names := make([]string, 0, len(run.Sysctls))
	for k := range run.Sysctls {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		s.Properties = append(s.Properties, junitProperty{k, run.Sysctls[k]})
	}
	// A program's run says, beside the verdict, how each program ended
	// and when its own output first reported a failed connect.
	var programs string
	for _, p := range run.Programs {
		programs += "\nprogram " + ProgramLine(p)
	}
	s.SystemOut += programs
	class := "portex." + scenario + "." + run.Variant
	for _, e := range run.Expectations {
		c := junitCase{Name: e.Name, Classname: class, Time: "0"}
		if !e.Pass {
			msg := fmt.Sprintf("expected %s, measured %s", e.Expected, e.Measured)
			text := msg
			if programs != "" {
				text += "\n" + Verdict(run) + programs
			}
			c.Failure = &junitFailure{Message: msg, Type: "expectation", Text: text}
			s.Failures++
		}
		s.Cases = append(s.Cases, c)
	}
	failed := run.Stopped == result.StoppedError
	if len(run.Expectations) == 0 || failed {
		c := junitCase{Name: "run completed", Classname: class, Time: junitTime(run.ElapsedSeconds)}
		if failed {
			msg := "the run stopped on an error: " + run.Error
			f := &junitFailure{Message: msg, Type: "error", Text: msg}
			if len(run.Expectations) == 0 {
				c.Failure = f
				s.Failures++
			} else {
				c.Error = f
				s.Errors++
			}
		}
		s.Cases = append(s.Cases, c)
	}
	s.Tests = len(s.Cases)
	return s
}

func junitTime(s float64) string { return fmt.Sprintf("%.3f", s) }
