package report

import (
	"fmt"

	"github.com/portex/portex/loadgen"
	"github.com/portex/portex/result"
)

// ProgramLine says in one line how a program the scenario ran ended and
// when its output first reported a failed connect.
func ProgramLine(p result.ProgramResult) string {
	end := fmt.Sprintf("exit %d", p.ExitCode)
	switch {
	case p.Signal != "" && p.StoppedByPortex:
		end = "signal " + p.Signal + " (sent by portex)"
	case p.Signal != "":
		end = "signal " + p.Signal
	case p.StoppedByPortex:
		end += " when portex stopped it"
	}
	line := fmt.Sprintf("%s · %s after %s · %s of output", p.Name, end, seconds(p.ElapsedSeconds), bytesIEC(p.OutputBytes))
	if p.FirstErrorAtSeconds != nil {
		what := p.FirstErrorClass
		if what == loadgen.ClassOther.String() {
			what = "failed connect, cause unsaid,"
		}
		line += fmt.Sprintf(" · first %s at %s: %s", what, seconds(*p.FirstErrorAtSeconds), p.FirstErrorLine)
	}
	return line
}
