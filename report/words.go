package report

import "github.com/portex/portex/analysis"

// The renderers word runs as the verdicts do.
var (
	seconds       = analysis.Seconds
	plural        = analysis.Plural
	exhaustedCall = analysis.ExhaustedCall
	failures      = analysis.Failures
)
