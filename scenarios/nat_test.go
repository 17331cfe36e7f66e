package scenarios

import (
	"testing"

	"github.com/portex/portex/loadgen"
)

// nat: compiles into the plan; a variant changes it key by key without
// touching the scenario's, or adds one to a scenario without.
func TestNATCompiles(t *testing.T) {
	s, err := Parse("nat.yaml", []byte(`name: x
nat:
  ports: 60000-60099
pools:
  - name: a
variants:
  - name: base
    description: the scenario's NAT.
  - name: wide
    description: a wider pool, fully random.
    nat:
      ports: 60000-60999
      random_fully: true
  - name: snat
    description: snat.
    nat:
      mode: snat
`))
	if err != nil {
		t.Fatal(err)
	}
	plans, err := s.Plans()
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]loadgen.NAT{
		"baseline": {Ports: loadgen.PortRange{Lo: 60000, Hi: 60099}, Mode: loadgen.NATMasquerade},
		"base":     {Ports: loadgen.PortRange{Lo: 60000, Hi: 60099}, Mode: loadgen.NATMasquerade},
		"wide":     {Ports: loadgen.PortRange{Lo: 60000, Hi: 60999}, Mode: loadgen.NATMasquerade, RandomFully: true},
		"snat":     {Ports: loadgen.PortRange{Lo: 60000, Hi: 60099}, Mode: loadgen.NATSNAT},
	}
	if len(plans) != len(want) {
		t.Errorf("%d plans, want %d", len(plans), len(want))
	}
	for _, p := range plans {
		if p.NAT == nil || *p.NAT != want[p.Variant] {
			t.Errorf("%s: nat %+v, want %+v", p.Variant, p.NAT, want[p.Variant])
		}
	}

	s, err = Parse("plain.yaml", []byte("name: x\npools:\n  - name: a\n"))
	if err != nil {
		t.Fatal(err)
	}
	if plans, err := s.Plans(); err != nil || plans[0].NAT != nil {
		t.Errorf("no nat: plan's nat %+v (%v), want nil", plans[0].NAT, err)
	}
}
