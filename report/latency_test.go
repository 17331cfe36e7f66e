package report

import (
	"bytes"
	"regexp"
	"strings"
	"testing"
)

// A run with a pool on a schedule shows its schedule lag next to connect,
// in the text and in the HTML latency table; a run without one does not.
func TestScheduleLagIsShown(t *testing.T) {
	r := fixture(t)
	r.Runs[0].Latency.ScheduleLag = histogram(t, 100, 20, 400)
	lag := r.Runs[0].Latency.ScheduleLag

	var text bytes.Buffer
	if err := WriteText(&text, r, TextOptions{}); err != nil {
		t.Fatal(err)
	}
	runs := strings.Split(text.String(), "portex: ")
	if len(runs) != 4 {
		t.Fatalf("text of %d runs:\n%s", len(runs)-1, text.String())
	}
	want := "  connect    " + latency(r.Runs[0].Latency.Connect) + "\n  sched lag  " + latency(lag) + "\n"
	if !strings.Contains(runs[1], want) {
		t.Errorf("baseline's text lacks\n%s\ngot:\n%s", want, runs[1])
	}
	if strings.Contains(runs[2], "sched lag") {
		t.Errorf("a run with no schedule lag samples shows a line for it:\n%s", runs[2])
	}

	var page bytes.Buffer
	if err := WriteHTML(&page, r); err != nil {
		t.Fatal(err)
	}
	row := regexp.MustCompile(`<tr><th>schedule lag</th><td class="num">([^<]*)</td>`).FindAllStringSubmatch(page.String(), -1)
	if len(row) != 1 || row[0][1] != micros(lag.P50Us) {
		t.Errorf("HTML schedule lag rows %q, want one with p50 %s", row, micros(lag.P50Us))
	}
}
