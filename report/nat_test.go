package report

import (
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
