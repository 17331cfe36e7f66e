package docker

import (
	"errors"
	"testing"
	"time"

	"github.com/portex/portex/loadgen"
	"github.com/portex/portex/sandbox"
)

// CheckPlan refuses, with the pool and key, what a container cannot do,
// with no engine needed: the same rule Sandbox.Start applies.
func TestCheckPlanRefusesSeveralSources(t *testing.T) {
	p := &loadgen.Plan{Scenario: "x", Variant: "v", Runtime: "docker", Duration: time.Second,
		Server: loadgen.ServerPlan{Listeners: []loadgen.Listener{{Port: 7000}}},
		Pools: []loadgen.Pool{{Name: "a", Workers: 1, Close: loadgen.CloseClient, ConnectTimeout: time.Second, Ports: []int{7000}},
			{Name: "b", Workers: 1, Close: loadgen.CloseClient, ConnectTimeout: time.Second, Ports: []int{7000}, Sources: 3}},
		Stop: loadgen.Stop{On: loadgen.StopNever}}
	var u *sandbox.Unsupported
	if err := (&Runtime{}).CheckPlan(p); !errors.As(err, &u) || u.Pool != "b" || u.Key != "source_addresses" || !errors.Is(err, sandbox.ErrUnrunnable) {
		t.Errorf("three sources: %v", err)
	}
	p.Pools[1].Sources = 1
	if err := (&Runtime{}).CheckPlan(p); err != nil {
		t.Errorf("one source: %v", err)
	}
}
