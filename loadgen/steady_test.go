package loadgen

import (
	"testing"

	"github.com/portex/portex/result"
)

// The ports a sample shows pinned, per destination tuple; each row says
// what it checks.
func TestPinnedPorts(t *testing.T) {
	for _, tt := range []struct {
		name   string
		st     result.SocketStates
		tuples int
		reuse  bool
		want   float64
		ok     bool
	}{
		{"one tuple, no reuse: the distinct ports of the range, TIME_WAIT included",
			result.SocketStates{Established: 20, TimeWait: 100, PortsInUse: 120}, 1, false, 120, true},
		{"reuse: TIME_WAIT older than the delay pins nothing",
			result.SocketStates{Established: 20, TimeWait: 150, TimeWaitRecent: 100, PortsInUse: 150}, 1, true, 120, true},
		{"reuse, the server in the same namespace: its sockets are not the client's ports",
			result.SocketStates{Established: 100, PortsInUse: 50}, 1, true, 50, true},
		{"several tuples: every socket that holds a port, spread over them",
			result.SocketStates{Established: 300, TimeWait: 300, PortsInUse: 150}, 3, false, 200, true},
		{"reuse needs the TIME_WAIT ages of a full sample",
			result.SocketStates{Established: 20, TimeWait: 100, PortsInUse: result.PortsUncounted}, 1, true, 0, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := PinnedPorts(&tt.st, tt.tuples, tt.reuse)
			if got != tt.want || ok != tt.ok {
				t.Errorf("PinnedPorts = %v, %v; want %v, %v", got, ok, tt.want, tt.ok)
			}
		})
	}
}

// A load that holds every connection forever is steady only once all are
// open: the watch that stops a run on its verdict does not take a slowing
// ramp for one.
func TestSteadyWatchWaitsForHeldConnections(t *testing.T) {
	p := &Plan{Pools: []Pool{{Name: "holders", Workers: 100, Ports: []int{1}, Hold: Hold{Kind: HoldForever}}}}
	if got := p.HeldConnections(); got != 100 {
		t.Fatalf("HeldConnections = %d, want 100", got)
	}
	w := &steadyWatch{window: MinSteadyWindow, budget: 1000, tuples: 1, held: p.HeldConnections()}
	steadyAt := func(open int64) float64 {
		for i := 1; i <= 20; i++ {
			pt := result.Point{T: float64(i) / 10, Open: open, Client: &result.SocketStates{Established: int(open), PortsInUse: int(open)}}
			if w.add(&pt) {
				return pt.T
			}
		}
		return 0
	}
	if at := steadyAt(60); at != 0 {
		t.Errorf("steady at %.1fs with 60 of 100 connections open", at)
	}
	w.samples = nil
	if at := steadyAt(100); at == 0 {
		t.Error("never steady with all 100 connections open and flat")
	}
	p.Pools = append(p.Pools, Pool{Name: "churn", Workers: 1, Messages: 1, Close: CloseClient})
	if got := p.HeldConnections(); got != 0 {
		t.Errorf("HeldConnections = %d with a pool that churns, want 0", got)
	}
}
