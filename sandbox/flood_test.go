package sandbox

import (
	"strings"
	"testing"
	"time"

	"github.com/portex/portex/loadgen"
	"github.com/portex/portex/result"
	"github.com/portex/portex/scenarios"
)

// A flood the range cannot hold: a million arrivals a second with a
// million in flight, in 200 ports. The work is sized to the 200 ports (one
// process, a few MiB per thousand slots, not per million), the run lasts
// its duration, and the result says how many ran at once.
func TestFloodSizedToThePortRange(t *testing.T) {
	if testing.Short() {
		t.Skip("runs in namespaces")
	}
	sc, err := scenarios.Parse("flood.yaml", []byte(`name: flood
duration: 2s
sandbox:
  port_range: 50000-50199
pools:
  - name: flood
    rate: 1000000/s
    max_in_flight: 1000000
    hold: 0s
    close: server
stop:
  on: never
`))
	if err != nil {
		t.Fatal(err)
	}
	plans, err := sc.PlansFor(nil)
	if err != nil {
		t.Fatal(err)
	}
	p := plans[0]
	if n := p.Connections(); n != 200+loadgen.SlotHeadroom {
		t.Fatalf("connections %d, want the 200 ports and %d attempts", n, loadgen.SlotHeadroom)
	}
	if err := Preflight(p); err != nil {
		t.Fatalf("preflight: %v", err)
	}
	start := time.Now()
	res := run(t, p)
	wall := time.Since(start)
	if res.Stopped != result.StoppedDuration || res.ElapsedSeconds > 2.5 || wall > 6*time.Second {
		t.Errorf("stopped %q after %.2fs (%s in all), want the 2 s duration", res.Stopped, res.ElapsedSeconds, wall.Round(time.Millisecond))
	}
	if res.Resources == nil || res.Resources.Client == nil {
		t.Fatalf("no resources: %+v", res.Resources)
	}
	c := res.Resources.Client
	if c.Processes != 1 || c.RSSPeakBytes > 200<<20 {
		t.Errorf("client: %d processes, %d MiB peak RSS; want 1 process, under 200 MiB", c.Processes, c.RSSPeakBytes>>20)
	}
	if res.Dials.OK == 0 || res.Failures["EADDRNOTAVAIL"] == 0 && res.Exhaustion == nil {
		t.Errorf("dials %+v failures %v: want connections, then the ports running out", res.Dials, res.Failures)
	}
	noted := false
	for _, n := range res.Notes {
		noted = noted || strings.Contains(n, "1224 connections at once, not max_in_flight 1000000")
	}
	if !noted {
		t.Errorf("notes %q: want the cap said", res.Notes)
	}
}
