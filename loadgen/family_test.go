package loadgen

import (
	"context"
	"net"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// A pool's family overrides the plan's, and ipv4 is the default; Check
// refuses unknown families of either.
func TestFamilyOf(t *testing.T) {
	p := plan([]int{7000}, Pool{Name: "a", Workers: 1, Close: CloseClient}, Pool{Name: "b", Workers: 1, Close: CloseClient, Family: FamilyDual})
	if f := p.FamilyOf(&p.Pools[0]); f != FamilyIPv4 {
		t.Errorf("no family anywhere: %q, want ipv4", f)
	}
	if p.UsesIPv6() != true || p.FamilyOf(&p.Pools[1]) != FamilyDual {
		t.Errorf("a dual pool: UsesIPv6 %v, family %q", p.UsesIPv6(), p.FamilyOf(&p.Pools[1]))
	}
	p.Family = FamilyIPv6
	if f := p.FamilyOf(&p.Pools[0]); f != FamilyIPv6 || p.UsesIPv4() != true {
		t.Errorf("the plan's ipv6: pool a %q, UsesIPv4 %v (b is dual)", f, p.UsesIPv4())
	}
	if err := p.Check(); err != nil {
		t.Fatal(err)
	}
	if dual, v4 := p.PortBudget(&p.Pools[1]), p.PortBudget(&Pool{Ports: []int{7000}, Family: FamilyIPv4}); dual != 2*v4 {
		t.Errorf("a dual pool's port budget %d, want twice an ipv4 one's %d", dual, v4)
	}
	for _, bad := range []func(*Plan){
		func(p *Plan) { p.Family = "ipv5" },
		func(p *Plan) { p.Pools[0].Family = "IPv6" },
	} {
		q := plan([]int{7000}, Pool{Name: "a", Workers: 1, Close: CloseClient})
		bad(q)
		if err := q.Check(); err == nil || !strings.Contains(err.Error(), "unknown family") {
			t.Errorf("Check of %+v: %v, want an unknown family", q, err)
		}
	}
}

// A dual pool dials IPv6 and IPv4 in turn, for each (source,
// destination); an ipv6 one its IPv6 target only; and a pool whose
// family has no target is refused before the run.
func TestDialSpecsByFamily(t *testing.T) {
	v4, v6 := netip.MustParseAddr("198.19.0.1"), netip.MustParseAddr("2001:2:0:1::1")
	p := plan([]int{7000, 7001}, Pool{Name: "a", Workers: 1, Family: FamilyDual}, Pool{Name: "b", Workers: 1, Family: FamilyIPv6})
	opt := Options{Target: v4, Target6: v6}
	if err := resolveFamilies(p, &opt); err != nil {
		t.Fatal(err)
	}
	e := &engine{plan: p, opt: opt}
	var fams []int
	for _, s := range e.dialSpecs(&p.Pools[0]) {
		fams = append(fams, s.family)
	}
	if want := []int{unix.AF_INET6, unix.AF_INET, unix.AF_INET6, unix.AF_INET}; !slices.Equal(fams, want) {
		t.Errorf("dual: families %v, want %v", fams, want)
	}
	for _, s := range e.dialSpecs(&p.Pools[1]) {
		if s.family != unix.AF_INET6 {
			t.Errorf("ipv6 pool dials family %d", s.family)
		}
	}
	for name, o := range map[string]Options{
		"ipv6 without an IPv6 target": {Target: v4},
		"dual without an IPv4 target": {Target: v6},
		"an IPv4 Target6":             {Target: v4, Target6: v4},
	} {
		if err := resolveFamilies(p, &o); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

// An echo server on all addresses serves IPv6 too, on the same ports,
// besides IPv4; a run of an ipv6 pool
// against it echoes over ::1.
func TestServerOnAllAddressesServesIPv6(t *testing.T) {
	srv, err := StartServer(ServerConfig{Listeners: []Listener{{Port: 0}}, Loops: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	port := srv.boundPort(0)
	c4, err := net.DialTimeout("tcp", netip.AddrPortFrom(loopback, uint16(port)).String(), time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c4.Close()
	if _, err := net.DialTimeout("tcp6", netip.AddrPortFrom(loopback6, uint16(port)).String(), time.Second); err != nil {
		if strings.Contains(err.Error(), "cannot assign") || strings.Contains(err.Error(), "not supported") {
			t.Skipf("no IPv6 loopback here: %v", err)
		}
		t.Fatalf("IPv6 dial of the server on all addresses: %v", err)
	}
	p := plan([]int{port}, Pool{Name: "v6", Workers: 2, Messages: 2, Payload: 32, Close: CloseClient, Family: FamilyIPv6})
	p.Duration = 300 * time.Millisecond
	res, err := Run(context.Background(), p, Options{Target: loopback, Target6: loopback6})
	if err != nil {
		t.Fatal(err)
	}
	if res.Dials.OK == 0 || res.Dials.Failed != 0 {
		t.Errorf("ipv6 pool against the server on all addresses: %+v", res.Dials)
	}
}
