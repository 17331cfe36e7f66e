package report

import (
	"io"
	"testing"
)

// The encoders on a result with a 600-point time series: one minute at
// the default 100 ms interval.

func BenchmarkWriteJSON(b *testing.B) {
	r := bigFixture(b, 600)
	b.ReportAllocs()
	for b.Loop() {
		if err := WriteJSON(io.Discard, r); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkWriteHTML(b *testing.B) {
	r := bigFixture(b, 600)
	b.ReportAllocs()
	for b.Loop() {
		if err := WriteHTML(io.Discard, r); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkWriteHTMLHour is the report of an hour's run, 36,000 points
// at 100 ms (issue target: under 5 s and 5 MB for the largest runs); it
// reports the page's size.
func BenchmarkWriteHTMLHour(b *testing.B) {
	r := bigFixture(b, 36_000)
	b.ReportAllocs()
	var size int
	for b.Loop() {
		var buf countWriter
		if err := WriteHTML(&buf, r); err != nil {
			b.Fatal(err)
		}
		size = int(buf)
	}
	b.ReportMetric(float64(size)/(1<<20), "MiB/page")
}

// countWriter counts what is written to it.
type countWriter int64

func (w *countWriter) Write(p []byte) (int, error) { *w += countWriter(len(p)); return len(p), nil }

func BenchmarkWriteCSV(b *testing.B) {
	r := bigFixture(b, 600)
	b.ReportAllocs()
	for b.Loop() {
		if err := WriteCSV(io.Discard, r); err != nil {
			b.Fatal(err)
		}
	}
}
