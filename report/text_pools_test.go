package report

import (
	"bytes"
	"strings"
	"testing"

	"github.com/portex/portex/result"
)

// The pools' lines put their figures in one column, whatever the names'
// lengths, and that column is the other lines' (dials, failures, ...).
func TestTextAlignsPoolLines(t *testing.T) {
	res := &result.ResultFile{Schema: result.Schema, Scenario: "two-pools", Runs: []*result.Result{{
		Variant: "default", Runtime: "netns", Stopped: result.StoppedDuration,
		Pools: []result.PoolResult{
			{Name: "a", Dials: result.Dials{OK: 1}},
			{Name: "background-churners", Dials: result.Dials{OK: 2, Failed: 3}, Failures: map[string]int64{"EADDRNOTAVAIL": 3}},
		},
	}}}
	var b bytes.Buffer
	if err := WriteText(&b, res, TextOptions{}); err != nil {
		t.Fatal(err)
	}
	var dials int
	var ok []int
	for _, l := range strings.Split(b.String(), "\n") {
		switch {
		case strings.HasPrefix(l, "  dials "):
			dials = strings.Index(l, "attempted")
		case strings.HasPrefix(l, "  pool "):
			if name := strings.Index(l, "a "); !strings.Contains(l, "background") && name != dials {
				t.Errorf("pool name at column %d, the dials line's figures at %d:\n%s", name, dials, b.String())
			}
			ok = append(ok, strings.Index(l, " ok "))
		}
	}
	if len(ok) != 2 || ok[0] != ok[1] {
		t.Errorf("the pools' figures start at columns %v:\n%s", ok, b.String())
	}
}
