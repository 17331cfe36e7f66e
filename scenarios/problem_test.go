package scenarios

import (
	"fmt"
	"strings"
	"testing"
)

func TestProblemString(t *testing.T) {
	tests := []struct {
		why  string
		p    Problem
		want string
	}{
		{"full position and key", Problem{File: "a.yaml", Line: 3, Col: 5, Key: "pools[0].hold", Msg: "bad"}, "a.yaml:3:5: pools[0].hold: bad"},
		{"syntax errors have no key", Problem{File: "a.yaml", Line: 2, Col: 1, Msg: "bad"}, "a.yaml:2:1: bad"},
		{"line 0 concerns the whole file", Problem{File: "a.yaml", Msg: "no such file"}, "a.yaml: no such file"},
		{"a line without a column shows column 1", Problem{File: "a.yaml", Line: 4, Msg: "bad"}, "a.yaml:4:1: bad"},
		{"no file name: key first", Problem{Key: "name", Msg: "bad"}, "name: bad"},
		{"newlines in a message stay on one line", Problem{File: "a.yaml", Line: 1, Col: 1, Msg: "one\ntwo"}, "a.yaml:1:1: one two"},
	}
	for _, tt := range tests {
		if got := tt.p.String(); got != tt.want {
			t.Errorf("%s: got %q, want %q", tt.why, got, tt.want)
		}
	}
}

func TestProblemsErrorCaps(t *testing.T) {
	var ps Problems
	for i := range 57 {
		ps = append(ps, Problem{File: "a.yaml", Line: i + 1, Col: 1, Msg: fmt.Sprint("problem ", i)})
	}
	lines := strings.Split(ps.Error(), "\n")
	if len(lines) != maxShown+1 {
		t.Fatalf("got %d lines, want %d", len(lines), maxShown+1)
	}
	if lines[0] != "a.yaml:1:1: problem 0" {
		t.Errorf("first line %q", lines[0])
	}
	if last := lines[maxShown]; last != "... and 7 more" {
		t.Errorf("last line %q, want \"... and 7 more\"", last)
	}
	if got := ps[:2].Error(); got != "a.yaml:1:1: problem 0\na.yaml:2:1: problem 1" {
		t.Errorf("two problems: %q", got)
	}
}

func TestParent(t *testing.T) {
	tests := []struct{ path, want string }{
		{"pools[0].hold", "pools[0]"},
		{"pools[0]", "pools"},
		{"pools", ""},
		{"sandbox.sysctls.net.ipv4.tcp_mem", "sandbox.sysctls.net.ipv4"},
		{"", ""},
	}
	for _, tt := range tests {
		if got := parent(tt.path); got != tt.want {
			t.Errorf("parent(%q) = %q, want %q", tt.path, got, tt.want)
		}
	}
}
