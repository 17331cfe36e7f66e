package sandbox

import (
	"fmt"
	"net/netip"
	"strings"

	"github.com/portex/portex/loadgen"
)

// familyKey is the scenario key that gives pool pl its family: the pool's
// own, or the scenario's.
func familyKey(pl *loadgen.Pool) (pool, key string) {
	if pl.Family != "" {
		return pl.Name, "family"
	}
	return "", "family"
}

// RefuseIPv6 refuses, as runtime, a plan with a pool that dials IPv6
// (family ipv6 or dual): why says what the runtime lacks.
func RefuseIPv6(runtime string, p *loadgen.Plan, why string) error {
	for i := range p.Pools {
		pl := &p.Pools[i]
		if f := p.FamilyOf(pl); f.IPv6() {
			pool, key := familyKey(pl)
			return &Unsupported{Runtime: runtime, Pool: pool, Key: key,
				Reason: fmt.Sprintf("family %s: %s; use --runtime netns", f, why)}
		}
	}
	return nil
}

// refuseNATIPv6 refuses a plan with a NAT and a pool that dials IPv6: the
// router translates IPv4 only.
func refuseNATIPv6(runtime string, p *loadgen.Plan) error {
	if p.NAT == nil {
		return nil
	}
	for i := range p.Pools {
		pl := &p.Pools[i]
		if f := p.FamilyOf(pl); f.IPv6() {
			pool, key := familyKey(pl)
			return &Unsupported{Runtime: runtime, Pool: pool, Key: key,
				Reason: fmt.Sprintf("family %s with a nat: the router translates IPv4 only; drop the nat or use family ipv4", f)}
		}
	}
	return nil
}

// hostFamilies refuses what the host runtime cannot dial: its echo server
// listens on one loopback address, 127.0.0.1 or, when every pool dials
// IPv6, ::1; a --target is one address of one family.
func hostFamilies(p *loadgen.Plan, target loadgen.Family) error {
	v6 := 0
	for i := range p.Pools {
		pl := &p.Pools[i]
		f := p.FamilyOf(pl)
		pool, key := familyKey(pl)
		switch {
		case f == loadgen.FamilyDual:
			return &Unsupported{Runtime: "host", Pool: pool, Key: key,
				Reason: "family dual: the host runtime dials one address of one family; use --runtime netns"}
		case target == loadgen.FamilyIPv4 && f == loadgen.FamilyIPv6:
			return &Unsupported{Runtime: "host", Pool: pool, Key: key,
				Reason: "family ipv6, but --target is an IPv4 address; give an IPv6 one ([::1]:7000) or drop family"}
		case f == loadgen.FamilyIPv6:
			v6++
		}
	}
	if target == "" && v6 > 0 && v6 < len(p.Pools) {
		return &Unsupported{Runtime: "host", Key: "family",
			Reason: "some pools dial IPv6 and some IPv4: the host runtime's echo server listens on one loopback address (::1 or 127.0.0.1); give every pool one family, or use --runtime netns"}
	}
	return nil
}

// familyNote says which pools dialed IPv6, over which addresses, for a
// result of the netns sandbox.
func familyNote(p *loadgen.Plan, src, dst netip.Addr) string {
	var v6, dual []string
	for i := range p.Pools {
		switch p.FamilyOf(&p.Pools[i]) {
		case loadgen.FamilyIPv6:
			v6 = append(v6, p.Pools[i].Name)
		case loadgen.FamilyDual:
			dual = append(dual, p.Pools[i].Name)
		}
	}
	var parts []string
	if len(v6) > 0 {
		parts = append(parts, "pools "+strings.Join(v6, ", ")+" dialed IPv6")
	}
	if len(dual) > 0 {
		parts = append(parts, "pools "+strings.Join(dual, ", ")+" alternated IPv6 and IPv4 (a range of ports for each family)")
	}
	return fmt.Sprintf("family: %s, from %s to %s", strings.Join(parts, "; "), src, dst)
}
