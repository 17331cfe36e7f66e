package loadgen

import (
	"fmt"
	"time"
)

// Expect is what a scenario expects of a run; portex checks it after the
// run and exits 1 when any expectation fails. Nil fields are not checked.
type Expect struct {
	Exhausted *bool `json:"exhausted,omitempty"`
	// Within: exhaustion no later than this.
	Within time.Duration `json:"within,omitempty"`
	// DialsOK bounds the successful dials.
	DialsOK *Bounds `json:"dials_ok,omitempty"`
	// Failures bounds the failures of each class, by class name.
	Failures map[string]Bounds `json:"failures,omitempty"`
	// P99Connect: the 99th percentile of connect latency stays below it.
	P99Connect time.Duration `json:"p99_connect,omitempty"`
	// P50ScheduleLag and P99ScheduleLag: those percentiles of the
	// schedule lag (see Latency.ScheduleLag) stay below them.
	P50ScheduleLag time.Duration `json:"p50_schedule_lag,omitempty"`
	P99ScheduleLag time.Duration `json:"p99_schedule_lag,omitempty"`
	// MaxTimeWait: the client's TIME_WAIT count never exceeds it.
	MaxTimeWait *int64 `json:"max_time_wait,omitempty"`
}

// Bounds is an inclusive range; a nil end is open.
type Bounds struct {
	Min *int64 `json:"min,omitempty"`
	Max *int64 `json:"max,omitempty"`
}

// String formats the bounds: "200", ">= 1", ">= 10 and <= 20".
func (b Bounds) String() string {
	switch {
	case b.Min != nil && b.Max != nil && *b.Min == *b.Max:
		return fmt.Sprint(*b.Min)
	case b.Min != nil && b.Max != nil:
		return fmt.Sprintf(">= %d and <= %d", *b.Min, *b.Max)
	case b.Min != nil:
		return fmt.Sprintf(">= %d", *b.Min)
	case b.Max != nil:
		return fmt.Sprintf("<= %d", *b.Max)
	}
	return "any"
}

// Contains reports whether n is within the bounds.
func (b Bounds) Contains(n int64) bool {
	return (b.Min == nil || n >= *b.Min) && (b.Max == nil || n <= *b.Max)
}
