package analysis

import (
	"math"
	"testing"
	"time"

	"github.com/portex/portex/loadgen"
)

func TestPredict(t *testing.T) {
	never := -1.0
	tests := []struct {
		name    string
		in      ModelInput
		exhaust float64 // seconds; -1: never
		maxRate float64 // per tuple; 0: no bound
		needed  float64
	}{
		{name: "TIME_WAIT churn: 100 ports at 50/s last 2 s",
			in:      ModelInput{RangeSize: 100, Pools: []ModelPool{{Rate: 50, Close: loadgen.CloseClient}}},
			exhaust: 2, maxRate: 100.0 / 60, needed: 3000},
		{name: "tcp_tw_reuse=1 makes TIME_WAIT cost about a second",
			in:      ModelInput{RangeSize: 100, TwReuse: 1, Pools: []ModelPool{{Rate: 50, Close: loadgen.CloseClient}}},
			exhaust: never, maxRate: 100, needed: 50},
		{name: "tcp_tw_reuse=2 helps loopback only",
			in:      ModelInput{RangeSize: 100, TwReuse: 2, Pools: []ModelPool{{Rate: 50, Close: loadgen.CloseClient}}},
			exhaust: 2, maxRate: 100.0 / 60, needed: 3000},
		{name: "RST close pins nothing after the hold",
			in:      ModelInput{RangeSize: 100, Pools: []ModelPool{{Rate: 50, Hold: time.Second, Close: loadgen.CloseReset}}},
			exhaust: never, maxRate: 100, needed: 50},
		{name: "three destination ports triple the budget",
			in:      ModelInput{RangeSize: 100, Pools: []ModelPool{{Rate: 150, Close: loadgen.CloseClient, Tuples: 3}}},
			exhaust: 2, maxRate: 100.0 / 60, needed: 3000},
		{name: "holders: 300 workers holding forever against 200 ports run out at once",
			in:      ModelInput{RangeSize: 200, Pools: []ModelPool{{Workers: 300, Hold: -1, Close: loadgen.CloseClient}}},
			exhaust: 0, needed: 300},
		{name: "a 10% leak at 100/s fills 200 ports in 20 s",
			in:      ModelInput{RangeSize: 200, Pools: []ModelPool{{Rate: 100, Close: loadgen.CloseReset, Leak: 0.1}}},
			exhaust: 20},
		{name: "the production range at 400/s with 100 ms holds: 24,040 of 28,232 ports",
			in:      ModelInput{RangeSize: 28232, Pools: []ModelPool{{Rate: 400, Hold: 100 * time.Millisecond, Close: loadgen.CloseClient}}},
			exhaust: never, maxRate: 28232 / 60.1, needed: 24040},
		{name: "ip_local_reserved_ports: 50 of 200 reserved leave 150, gone at 50/s in 3 s",
			in:      ModelInput{RangeSize: 200, Reserved: 50, Pools: []ModelPool{{Rate: 50, Close: loadgen.CloseClient}}},
			exhaust: 3, maxRate: 150.0 / 60, needed: 3000},
		{name: "tcp_max_tw_buckets=20: past 20 TIME_WAIT sockets the port is free at once, 50/s never exhausts 100 ports",
			in:      ModelInput{RangeSize: 100, TimeWaitBuckets: 20, Pools: []ModelPool{{Rate: 50, Close: loadgen.CloseClient}}},
			exhaust: never, needed: 20},
		{name: "tcp_max_tw_buckets above what the load leaves changes nothing",
			in:      ModelInput{RangeSize: 100, TimeWaitBuckets: 5000, Pools: []ModelPool{{Rate: 50, Close: loadgen.CloseClient}}},
			exhaust: 2, maxRate: 100.0 / 60, needed: 3000},
		{name: "tcp_max_tw_buckets with holds: the holds bound the rate",
			in:      ModelInput{RangeSize: 100, TimeWaitBuckets: 20, Pools: []ModelPool{{Rate: 50, Hold: time.Second, Close: loadgen.CloseClient}}},
			exhaust: never, maxRate: 80, needed: 70},
		{name: "tcp_tw_reuse=1 with the 1 s reuse delay: 300/s on 100 ports runs out in 1/3 s, sustains 100/s",
			in:      ModelInput{RangeSize: 100, TwReuse: 1, Pools: []ModelPool{{Rate: 300, Close: loadgen.CloseClient}}},
			exhaust: 1.0 / 3, maxRate: 100, needed: 300},
		{name: "tcp_tw_reuse_delay=200ms: 300/s on 100 ports holds at 60, sustains 500/s",
			in:      ModelInput{RangeSize: 100, TwReuse: 1, ReuseDelay: 200 * time.Millisecond, Pools: []ModelPool{{Rate: 300, Close: loadgen.CloseClient}}},
			exhaust: never, maxRate: 500, needed: 60},
		{name: "tcp_timestamps=0 disables tcp_tw_reuse=1: 2 s like the baseline",
			in:      ModelInput{RangeSize: 100, TwReuse: 1, NoTimestamps: true, Pools: []ModelPool{{Rate: 50, Close: loadgen.CloseClient}}},
			exhaust: 2, maxRate: 100.0 / 60, needed: 3000},
		{name: "a keep-alive pool of 20 needs 20 ports whatever the rate",
			in:      ModelInput{RangeSize: 100, Pools: []ModelPool{{Keep: 20, Close: loadgen.CloseKeep}}},
			exhaust: never, needed: 20},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := Predict(tt.in)
			switch {
			case tt.exhaust < 0 && m.ExhaustionAtSeconds != nil:
				t.Errorf("exhaustion at %.3f s, want never", *m.ExhaustionAtSeconds)
			case tt.exhaust >= 0 && m.ExhaustionAtSeconds == nil:
				t.Errorf("never exhausts, want %.3f s", tt.exhaust)
			case tt.exhaust >= 0 && math.Abs(*m.ExhaustionAtSeconds-tt.exhaust) > 1e-3:
				t.Errorf("exhaustion at %.3f s, want %.3f s", *m.ExhaustionAtSeconds, tt.exhaust)
			}
			switch {
			case tt.maxRate == 0 && m.MaxSustainableRatePerS != nil:
				t.Errorf("max rate %.3f, want no bound", *m.MaxSustainableRatePerS)
			case tt.maxRate > 0 && (m.MaxSustainableRatePerS == nil || math.Abs(*m.MaxSustainableRatePerS-tt.maxRate) > 1e-3):
				t.Errorf("max rate %v, want %.3f", m.MaxSustainableRatePerS, tt.maxRate)
			}
			if tt.needed > 0 && math.Abs(m.PortsNeeded-tt.needed) > 1e-6*tt.needed+1e-9 {
				t.Errorf("ports needed %.3f, want %.3f", m.PortsNeeded, tt.needed)
			}
		})
	}
}
