package sandbox

import (
	"testing"

	"github.com/portex/portex/result"
)

// The echo server's processes' counters add up, every one of them.
func TestAddServerCountsAddsEveryCounter(t *testing.T) {
	one := result.ServerCounts{Accepted: 1, ClosedByPeer: 2, ClosedByServer: 3, Errors: 4, BytesEchoed: 5, PeakOpen: 6, Requests: 7}
	got := addServerCounts(one, &one)
	want := result.ServerCounts{Accepted: 2, ClosedByPeer: 4, ClosedByServer: 6, Errors: 8, BytesEchoed: 10, PeakOpen: 12, Requests: 14}
	if got != want {
		t.Errorf("got %+v, want %+v", got, want)
	}
}
