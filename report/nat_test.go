package report

import (
	"bytes"
	"html"
	"strings"
	"testing"

	"github.com/portex/portex/result"
)

// A run with a NAT in the path shows the NAT and how the router's
// conntrack counters moved; a run without one shows no NAT line.
func TestTextShowsTheNAT(t *testing.T) {
	r := fixture(t)
	var plain strings.Builder
	if err := WriteText(&plain, r, TextOptions{}); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(plain.String(), "  nat ") {
		t.Fatalf("a run without a NAT shows one:\n%s", plain.String())
	}
	r.Runs[0].NAT = &result.NAT{Mode: "masquerade", Ports: 100,
		Start: &result.Conntrack{InsertFailed: 3, Drop: 3}, End: &result.Conntrack{InsertFailed: 203, Drop: 204, EarlyDrop: 1}}
	var b strings.Builder
	if err := WriteText(&b, r, TextOptions{}); err != nil {
		t.Fatal(err)
	}
	want := "  nat        masquerade, a pool of 100 ports per destination · router conntrack insert_failed +200 · drop +201 · early_drop +1\n"
	if !strings.Contains(b.String(), want) {
		t.Errorf("text lacks %q:\n%s", want, b.String())
	}
}

// A file whose every run ran out at a NAT draws the NATs' tables: the
// overview and each run's own chart plot the router's entries against
// the NAT's budget, not the client's wide range.
func TestHTMLDrawsTheNATsTable(t *testing.T) {
	pts := []result.Point{
		{T: 0.5, NATTable: &result.NATTable{Entries: 100, States: map[string]int{"ESTABLISHED": 100}}},
		{T: 1.0, NATTable: &result.NATTable{Entries: 100, States: map[string]int{"ESTABLISHED": 100}}},
	}
	r := &result.Result{Variant: "baseline", Runtime: "netns", ElapsedSeconds: 1, Stopped: result.StoppedDuration, PortRangeSize: 30000,
		Dials: result.Dials{Attempted: 300, OK: 100, Failed: 200}, Failures: map[string]int64{"timeout": 200},
		NAT:        &result.NAT{Mode: "snat", Ports: 100},
		Model:      &result.Model{Where: "nat", PortBudget: 100, Tuples: 1},
		Exhaustion: &result.Exhaustion{Where: "nat", Class: "timeout", AtSeconds: 1, DialsOKBefore: 100, OpenConnections: 100},
		TimeSeries: &result.TimeSeries{IntervalSeconds: 0.5, Points: pts}}
	more := *r
	more.Variant = "more-destinations"
	var b bytes.Buffer
	if err := WriteHTML(&b, &result.ResultFile{Schema: result.Schema, Scenario: "cloud-nat", Runs: []*result.Result{r, &more}}); err != nil {
		t.Fatal(err)
	}
	out := html.UnescapeString(b.String())
	for _, w := range []string{"NAT ports in use, every variant", "baseline · NAT budget 100", "The NAT's table", "the NAT's budget (100)"} {
		if !strings.Contains(out, w) {
			t.Errorf("the report lacks %q", w)
		}
	}
}
