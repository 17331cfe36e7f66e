package loadgen

import "testing"

// A pool works on no more connections at once than its port budget holds,
// plus SlotHeadroom attempts that fail for want of a port.
func TestConcurrency(t *testing.T) {
	r200 := PortRange{Lo: 50000, Hi: 50199}
	for _, tc := range []struct {
		what  string
		rng   PortRange
		pool  Pool
		want  int
		conns int
	}{
		{"an open pool asking for far more than the range holds", r200,
			Pool{Rate: 1e6, MaxInFlight: 1_000_000, Ports: []int{7000}}, 200 + SlotHeadroom, 200 + SlotHeadroom},
		{"an open pool within the range keeps its max_in_flight", r200,
			Pool{Rate: 100, MaxInFlight: 50, Ports: []int{7000}}, 50, 50},
		{"three server ports and two sources: six tuples", r200,
			Pool{Rate: 1e6, MaxInFlight: 1_000_000, Ports: []int{7000, 7001, 7002}, Sources: 2}, 1200 + SlotHeadroom, 1200 + SlotHeadroom},
		{"a range not narrowed: the whole port space", PortRange{},
			Pool{Rate: 1e6, MaxInFlight: 1_000_000, Ports: []int{7000}}, 65536 + SlotHeadroom, 65536 + SlotHeadroom},
		{"closed-model workers beyond the budget", r200,
			Pool{Workers: 1_000_000, Ports: []int{7000}}, 200 + SlotHeadroom, 200 + SlotHeadroom},
		{"a keep-alive pool counts its pool size", r200,
			Pool{Workers: 10, Close: CloseKeep, PoolSize: 5, Ports: []int{7000}}, 10, 5},
	} {
		p := &Plan{Sandbox: Sandbox{PortRange: tc.rng}, Pools: []Pool{tc.pool}}
		if got := p.Concurrency(&p.Pools[0]); got != tc.want {
			t.Errorf("%s: concurrency %d, want %d", tc.what, got, tc.want)
		}
		if got := p.Connections(); got != tc.conns {
			t.Errorf("%s: connections %d, want %d", tc.what, got, tc.conns)
		}
	}
}
