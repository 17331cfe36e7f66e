package report

import (
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
		{"stopped by portex", result.ProgramResult{Name: "c", ExitCode: -1, Signal: "terminated", StoppedByPortex: true, ElapsedSeconds: 1},
			"c · signal terminated (sent by portex) after 1.00s · 0 B of output"},
	} {
		if got := ProgramLine(tc.p); got != tc.want {
			t.Errorf("%s:\n got %q\nwant %q", tc.name, got, tc.want)
		}
	}
}
