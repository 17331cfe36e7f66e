package report

import (
	"bytes"
	"fmt"
	"io"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/portex/portex/result"
)

// A result larger than the bound is refused as such, before it is all read.
func TestReadJSONBoundsSize(t *testing.T) {
	defer func(n int64) { readLimit = n }(readLimit)
	readLimit = 1 << 10
	small := `{"schema":"portex/result/v1","scenario":"x","runs":[]}`
	if _, err := ReadJSON(strings.NewReader(small)); err != nil {
		t.Fatalf("small result: %v", err)
	}
	big := `{"schema":"portex/result/v1","scenario":"` + strings.Repeat("x", 2<<10) + `","runs":[]}`
	if _, err := ReadJSON(strings.NewReader(big)); err == nil || !strings.Contains(err.Error(), "larger than 1024 bytes") {
		t.Fatalf("big result: %v, want larger than 1024 bytes", err)
	}
	// An endless stream stops at the bound too.
	endless := io.MultiReader(strings.NewReader(`{"schema":"portex/result/v1","scenario":"`), zeros{})
	if _, err := ReadJSON(endless); err == nil || !strings.Contains(err.Error(), "larger than") {
		t.Fatalf("endless result: %v", err)
	}
}

type zeros struct{}

func (zeros) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = '0'
	}
	return len(p), nil
}

// Ticks stay few for any span, however large or far from zero its ends.
func TestNiceTicksBounded(t *testing.T) {
	for _, tc := range []struct{ min, max float64 }{
		{-1e308, 1e308},        // the span overflows
		{0, math.MaxFloat64},   // the largest span
		{1e300, 1e300 + 1e285}, // steps far below the ends' precision
		{1e17, 1e17 + 1000},    // adding a step changes nothing
		{0, math.Inf(1)},       // not finite
		{math.NaN(), 1},        // not a number
		{0, 10},                // the usual
	} {
		ts := niceTicks(tc.min, tc.max, 8, func(v float64) string { return fmt.Sprint(v) })
		if len(ts) > 4*8+3 {
			t.Errorf("niceTicks(%g, %g): %d ticks", tc.min, tc.max, len(ts))
		}
	}
}

// The Markdown summary of a result with many failure classes takes time
// in proportion to them: 80,000 classes render in well under a second.
func TestMarkdownLinearInClasses(t *testing.T) {
	const classes = 80000
	run := &result.Result{Variant: "default", Stopped: result.StoppedDuration, ElapsedSeconds: 1, Failures: map[string]int64{}}
	for i := range classes {
		run.Failures[fmt.Sprintf("E%06d", i)] = 1
	}
	r := &result.ResultFile{Schema: result.Schema, Scenario: "many", Runs: []*result.Result{run, run}}
	start := time.Now()
	var b bytes.Buffer
	if err := WriteMarkdown(&b, r); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("%d classes took %s", classes, d)
	}
	if !strings.Contains(b.String(), "E079999") {
		t.Error("the last class is missing")
	}
}
