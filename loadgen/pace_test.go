package loadgen

import (
	"testing"
	"time"
)

func TestPacerArrivals(t *testing.T) {
	ms := time.Millisecond
	tests := []struct {
		name  string
		rate  float64
		ramp  []Stage
		k     int64
		want  time.Duration
		never bool
	}{
		{name: "the first arrival is due at once", rate: 100, k: 0, want: 0},
		{name: "constant rate: k/rate", rate: 100, k: 1, want: 10 * ms},
		{name: "constant rate far out", rate: 200, k: 1000, want: 5 * time.Second},
		{name: "no rate at all: never", rate: 0, k: 1, never: true},
		{name: "ramp 0 to 100/s over 1s: 50 arrivals in the first second", ramp: []Stage{{To: 100, Over: time.Second}}, k: 50, want: time.Second},
		{name: "ramp 0 to 100/s: the 8th arrival at sqrt(2·8/100) s", ramp: []Stage{{To: 100, Over: time.Second}}, k: 8, want: 400 * ms},
		{name: "after the ramp the last rate holds", ramp: []Stage{{To: 100, Over: time.Second}}, k: 150, want: 2 * time.Second},
		{name: "two stages: 100/s then up to 300/s over 1s (200 arrivals)", rate: 100,
			ramp: []Stage{{To: 100, Over: time.Second}, {To: 300, Over: time.Second}}, k: 300, want: 2 * time.Second},
		{name: "ramp down to zero stops arrivals", rate: 100, ramp: []Stage{{To: 0, Over: time.Second}}, k: 51, never: true},
		{name: "ramp down: the 50th arrival is the last, at the end", rate: 100, ramp: []Stage{{To: 0, Over: time.Second}}, k: 50, want: time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := newPacer(tt.rate, tt.ramp).arrival(tt.k)
			if tt.never {
				if ok {
					t.Fatalf("arrival(%d) = %v, want never", tt.k, got)
				}
				return
			}
			if !ok {
				t.Fatalf("arrival(%d): never, want %v", tt.k, tt.want)
			}
			if diff := got - tt.want; diff < -time.Microsecond || diff > time.Microsecond {
				t.Errorf("arrival(%d) = %v, want %v", tt.k, got, tt.want)
			}
		})
	}
}
