package docker

import (
	"sync"
	"testing"

	"github.com/portex/portex/sandbox/conformance"
)

// The docker runtime, as `portex run --runtime docker` uses it: each run in
// containers of its own, which are all gone when the suite is over.
func TestConformanceDocker(t *testing.T) {
	needsFullTier(t)
	needEngine(t)
	rt := &Runtime{Binary: agentBin, Stderr: testWriter{t}}
	var mu sync.Mutex
	var ids []string
	rt.started = func(s *Sandbox) {
		mu.Lock()
		ids = append(ids, s.ID())
		mu.Unlock()
	}
	t.Cleanup(func() {
		if err := rt.Close(); err != nil {
			t.Error(err)
		}
		if len(ids) == 0 {
			t.Error("no sandbox started")
		}
		for _, id := range ids {
			assertRemoved(t, LabelRun+"="+id)
		}
	})
	conformance.Run(t, "docker", rt, conformance.Capabilities{
		WritesSysctls: true, SourceAddresses: 1, Parallel: true,
	})
}
