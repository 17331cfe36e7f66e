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

// A container's network has IPv4 addresses only: a pool that dials IPv6,
// by its own family or the plan's, is refused with the key.
func TestCheckPlanRefusesIPv6(t *testing.T) {
	p := &loadgen.Plan{Scenario: "x", Variant: "v", Runtime: "docker", Duration: time.Second,
		Server: loadgen.ServerPlan{Listeners: []loadgen.Listener{{Port: 7000}}},
		Pools:  []loadgen.Pool{{Name: "a", Workers: 1, Close: loadgen.CloseClient, ConnectTimeout: time.Second, Ports: []int{7000}, Family: loadgen.FamilyIPv4}},
		Stop:   loadgen.Stop{On: loadgen.StopNever}, Family: loadgen.FamilyIPv6}
	if err := (&Runtime{}).CheckPlan(p); err != nil {
		t.Errorf("the pool's ipv4 over the plan's ipv6: %v", err)
	}
	var u *sandbox.Unsupported
	p.Pools[0].Family = ""
	if err := (&Runtime{}).CheckPlan(p); !errors.As(err, &u) || u.Pool != "" || u.Key != "family" || !errors.Is(err, sandbox.ErrUnrunnable) {
		t.Errorf("the plan's ipv6: %v", err)
	}
	p.Family, p.Pools[0].Family = "", loadgen.FamilyDual
	if err := (&Runtime{}).CheckPlan(p); !errors.As(err, &u) || u.Pool != "a" || u.Key != "family" {
		t.Errorf("a pool's dual: %v", err)
	}
}
