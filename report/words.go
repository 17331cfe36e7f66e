package report

import (
	"fmt"

	"github.com/portex/portex/analysis"
	"github.com/portex/portex/result"
)

// The renderers word runs as the verdicts do.
var (
	seconds  = analysis.Seconds
	plural   = analysis.Plural
	failures = analysis.Failures
)

// neededNote says when the model's ports needed are counted: at steady
// state, or, for a load whose ports only grow, after the model's horizon.
func neededNote(m *result.Model) string {
	if m.Grows && m.HorizonSeconds > 0 {
		return fmt.Sprintf(" after %s, and growing; ", analysis.HorizonWords(m.HorizonSeconds))
	}
	return ""
}
