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

func BenchmarkWriteCSV(b *testing.B) {
	r := bigFixture(b, 600)
	b.ReportAllocs()
	for b.Loop() {
		if err := WriteCSV(io.Discard, r); err != nil {
			b.Fatal(err)
		}
	}
}
