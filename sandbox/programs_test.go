package sandbox

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/portex/portex/result"
)

// A program's output is kept bounded: its first lines, its last bytes,
// a bounded number of events, and the first line that reports a failed
// connect, with its time.
func TestProgramOutputBounded(t *testing.T) {
	var b strings.Builder
	for i := range 5000 {
		fmt.Fprintf(&b, "line %d %s\n", i, strings.Repeat("x", 40))
		if i == 3000 {
			b.WriteString("dial tcp 198.19.0.1:7000: connect: cannot assign requested address\n")
		}
	}
	b.WriteString(strings.Repeat("y", 200<<10) + "\n") // one line longer than the reader's buffer
	b.WriteString("last line, no newline")
	rp := &runningProgram{res: result.ProgramResult{Name: "p"}}
	var events []result.Event
	rp.read(strings.NewReader(b.String()), func() float64 { return 1.5 }, func(ev result.Event) { events = append(events, ev) })

	res := rp.res
	if res.OutputBytes != int64(b.Len()) {
		t.Errorf("counted %d bytes, printed %d", res.OutputBytes, b.Len())
	}
	if len(res.OutputTail) != outputTailBytes || !strings.HasSuffix(res.OutputTail, "y\nlast line, no newline") {
		t.Errorf("tail of %d bytes ending %q; want the last %d", len(res.OutputTail), res.OutputTail[max(0, len(res.OutputTail)-30):], outputTailBytes)
	}
	head := strings.Split(strings.TrimSuffix(res.OutputHead, "\n"), "\n")
	if len(head) != outputHeadLines || head[0] != "line 0 "+strings.Repeat("x", 40) {
		t.Errorf("head: %d lines, first %q", len(head), head[0])
	}
	if !strings.Contains(res.FirstErrorLine, "cannot assign requested address") || res.FirstErrorClass != "EADDRNOTAVAIL" ||
		res.FirstErrorRuntime != "go" || res.FirstErrorAtSeconds == nil || *res.FirstErrorAtSeconds != 1.5 {
		t.Errorf("first error %q %s %s at %v", res.FirstErrorLine, res.FirstErrorClass, res.FirstErrorRuntime, res.FirstErrorAtSeconds)
	}
	outputs := 0
	for _, ev := range events {
		switch {
		case ev.Type == result.EventOutput:
			outputs++
			if len(ev.Message) > outputLineBytes || ev.Program != "p" {
				t.Errorf("output event of %d bytes from %q", len(ev.Message), ev.Program)
			}
		case ev.Type == result.EventFirstFailure && ev.Class == "EADDRNOTAVAIL":
		default:
			t.Errorf("unexpected event %+v", ev)
		}
	}
	if outputs != outputEvents {
		t.Errorf("%d output events, want the first %d lines", outputs, outputEvents)
	}
}

func TestProgramEnv(t *testing.T) {
	got := ProgramEnv(netip.MustParseAddr("198.19.0.1"), []int{7000, 7001})
	want := []string{"PORTEX_SERVER=198.19.0.1:7000", "PORTEX_SERVER_HOST=198.19.0.1", "PORTEX_SERVER_PORT=7000",
		"PORTEX_SERVER_PORT_0=7000", "PORTEX_SERVER_PORT_1=7001"}
	if !slices.Equal(got, want) {
		t.Errorf("got %q, want %q", got, want)
	}
}
