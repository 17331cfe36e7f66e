package sandbox

import (
	"errors"
	"fmt"
	"net/netip"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/portex/portex/loadgen"
)

func names(t *Topology) []string {
	var out []string
	for _, ns := range t.Namespaces {
		out = append(out, ns.Name)
	}
	return out
}

// Without a NAT: the client and the server, one link, the client's port
// range written first and its sources on its end of the link.
func TestTopologyOfAPlainPlan(t *testing.T) {
	p := holdPlan(10, loadgen.PortRange{Lo: 50000, Hi: 50199})
	p.Sandbox.Sysctls = map[string]string{"net.ipv4.tcp_tw_reuse": "1", "net.ipv4.tcp_fin_timeout": "5"}
	p.Server.Sysctls = map[string]string{"net.core.somaxconn": "1024"}
	p.Pools[0].Sources = 3
	topo := TopologyOf(p)
	if got := names(topo); !slices.Equal(got, []string{NSClient, NSServer}) {
		t.Fatalf("namespaces %v", got)
	}
	client := topo.Namespace(NSClient)
	want := []Sysctl{{"net.ipv4.ip_local_port_range", "50000 50199"}, {"net.ipv4.tcp_fin_timeout", "5"}, {"net.ipv4.tcp_tw_reuse", "1"}}
	if !slices.Equal(client.Sysctls, want) {
		t.Errorf("client sysctls %v, want %v (the range first, then by name)", client.Sysctls, want)
	}
	if got := topo.Namespace(NSServer).SysctlMap(); len(got) != 1 || got["net.core.somaxconn"] != "1024" {
		t.Errorf("server sysctls %v", got)
	}
	if len(topo.Links) != 1 || topo.Links[0].A.NS != NSClient || topo.Links[0].B.NS != NSServer {
		t.Fatalf("links %+v", topo.Links)
	}
	srcs := topo.Sources()
	if len(srcs) != 3 || srcs[0] != ClientAddr || srcs[2] != netip.MustParseAddr("198.18.0.3") {
		t.Errorf("sources %v: want 3, the primary first", srcs)
	}
	if topo.Links[0].B.Addrs[0] != netip.MustParsePrefix("198.19.0.1/15") {
		t.Errorf("server end %v: want the server on the shared /15", topo.Links[0].B.Addrs)
	}
	if topo.Namespace(NSRouter) != nil || len(client.Routes) != 0 {
		t.Errorf("a router or routes without a NAT: %+v", topo)
	}
	if !slices.Equal(topo.Roles, []Role{{Kind: RolePools, NS: NSClient}, {Kind: RoleEcho, NS: NSServer}}) {
		t.Errorf("roles %+v", topo.Roles)
	}
}

// With a NAT: a router between them, two links on /16s, the client's route
// to the servers through it, and no route back from the server.
func TestTopologyOfANATPlan(t *testing.T) {
	p := holdPlan(10, loadgen.PortRange{Lo: 50000, Hi: 50199})
	p.NAT = &loadgen.NAT{Ports: loadgen.PortRange{Lo: 60000, Hi: 60099}, Mode: loadgen.NATSNAT}
	topo := TopologyOf(p)
	if got := names(topo); !slices.Equal(got, []string{NSClient, NSRouter, NSServer}) {
		t.Fatalf("namespaces %v", got)
	}
	if len(topo.Links) != 2 || topo.Links[0].B.NS != NSRouter || topo.Links[1].A.NS != NSRouter || topo.Links[1].B.NS != NSServer {
		t.Fatalf("links %+v", topo.Links)
	}
	routes := topo.Namespace(NSClient).Routes
	if len(routes) != 1 || routes[0].Dst != netip.MustParsePrefix("198.19.0.0/16") || routes[0].Via != RouterClientAddr {
		t.Errorf("client routes %+v: want the servers' /16 via the router", routes)
	}
	if r := topo.Namespace(NSServer).Routes; len(r) != 0 {
		t.Errorf("server routes %+v: want none, so only translated traffic is answered", r)
	}
	if got := topo.Namespace(NSRouter).SysctlMap(); got["net.ipv4.ip_forward"] != "1" {
		t.Errorf("router sysctls %v", got)
	}
	for _, s := range topo.Namespace(NSRouter).Sysctls {
		if err := writable(s.Name); err != nil {
			t.Errorf("the agent would refuse the router's own sysctl: %v", err)
		}
	}
	if !slices.Contains(topo.Roles, Role{Kind: RoleNAT, NS: NSRouter}) {
		t.Errorf("roles %+v: no NAT in the router", topo.Roles)
	}
}

// A plan of programs places each program in the client in place of the
// pools.
func TestTopologyOfPrograms(t *testing.T) {
	p := holdPlan(10, loadgen.PortRange{Lo: 50000, Hi: 50199})
	p.Pools = nil
	p.Programs = []loadgen.Program{{Name: "a"}, {Name: "b"}}
	topo := TopologyOf(p)
	want := []Role{{Kind: RoleProgram, NS: NSClient, Name: "a"}, {Kind: RoleProgram, NS: NSClient, Name: "b"}, {Kind: RoleEcho, NS: NSServer}}
	if !slices.Equal(topo.Roles, want) {
		t.Errorf("roles %+v, want %+v", topo.Roles, want)
	}
}

// A pool that dials IPv6 puts 2001:2::/48 on the same link: the client's
// addresses from 2001:2::1, as many as its IPv4 ones and after them, the
// server's 2001:2:0:1::1; an IPv4 plan has none, and Sources stays IPv4.
func TestTopologyOfAnIPv6Plan(t *testing.T) {
	p := holdPlan(10, range100())
	if s6 := TopologyOf(p).Sources6(); len(s6) != 0 {
		t.Errorf("an ipv4 plan has IPv6 sources %v", s6)
	}
	p.Pools = append(p.Pools, p.Pools[0])
	p.Pools[1].Name, p.Pools[1].Family, p.Pools[1].Sources = "v6", loadgen.FamilyDual, 2
	topo := TopologyOf(p)
	if len(topo.Links) != 1 {
		t.Fatalf("links %+v, want the one", topo.Links)
	}
	l := topo.Links[0]
	wantClient := []netip.Prefix{
		netip.MustParsePrefix("198.18.0.1/15"), netip.MustParsePrefix("198.18.0.2/15"),
		netip.MustParsePrefix("2001:2::1/48"), netip.MustParsePrefix("2001:2::2/48"),
	}
	if !slices.Equal(l.A.Addrs, wantClient) {
		t.Errorf("client end %v, want %v", l.A.Addrs, wantClient)
	}
	wantServer := []netip.Prefix{netip.MustParsePrefix("198.19.0.1/15"), netip.MustParsePrefix("2001:2:0:1::1/48")}
	if !slices.Equal(l.B.Addrs, wantServer) {
		t.Errorf("server end %v, want %v", l.B.Addrs, wantServer)
	}
	if got := topo.Sources(); !slices.Equal(got, []netip.Addr{ClientAddr, SourceAddr(1)}) {
		t.Errorf("Sources %v, want the IPv4 ones only", got)
	}
	if got := topo.Sources6(); !slices.Equal(got, []netip.Addr{ClientAddr6, netip.MustParseAddr("2001:2::2")}) {
		t.Errorf("Sources6 %v", got)
	}
	for _, a := range append(topo.Sources6(), ServerAddr6) {
		if !netip.MustParsePrefix("2001:2::/48").Contains(a) {
			t.Errorf("%v is outside the benchmarking prefix 2001:2::/48", a)
		}
	}
	if SourceAddr6(299) != netip.MustParseAddr("2001:2::12c") {
		t.Errorf("the 300th IPv6 source %v", SourceAddr6(299))
	}
}

// The router translates IPv4 only: the netns runtime refuses a plan with
// a nat and a pool that dials IPv6, naming the key that asks for it; the
// host runtime dials one loopback address, so dual and mixed families
// are refused there, and an IPv6 --target needs no family.
func TestFamilyRefusals(t *testing.T) {
	nat := func(p *loadgen.Plan) *loadgen.Plan {
		p.NAT = &loadgen.NAT{Ports: loadgen.PortRange{Lo: 60000, Hi: 60099}, Mode: loadgen.NATSNAT}
		return p
	}
	v6 := func(f loadgen.Family, pool bool) *loadgen.Plan {
		p := holdPlan(10, range100())
		if pool {
			p.Pools[0].Family = f
		} else {
			p.Family = f
		}
		return p
	}
	mixed := v6(loadgen.FamilyIPv6, true)
	mixed.Pools = append(mixed.Pools, mixed.Pools[0])
	mixed.Pools[1].Name, mixed.Pools[1].Family = "v4", ""
	target6 := &Host{Target: netip.MustParseAddrPort("[::1]:7000")}
	target4 := &Host{Target: netip.MustParseAddrPort("127.0.0.1:7000")}
	tests := []struct {
		name string
		rt   Runtime
		p    *loadgen.Plan
		key  string // "" accepted; else "pool:key" or ":key"
	}{
		{"netns ipv6", &Netns{}, v6(loadgen.FamilyIPv6, false), ""},
		{"netns nat ipv4", &Netns{}, nat(v6(loadgen.FamilyIPv4, false)), ""},
		{"netns nat, the scenario's ipv6", &Netns{}, nat(v6(loadgen.FamilyIPv6, false)), ":family"},
		{"netns nat, a pool's dual", &Netns{}, nat(v6(loadgen.FamilyDual, true)), "holders:family"},
		{"host ipv6", &Host{}, v6(loadgen.FamilyIPv6, false), ""},
		{"host dual", &Host{}, v6(loadgen.FamilyDual, true), "holders:family"},
		{"host mixed", &Host{}, mixed, ":family"},
		{"host ipv6 to an IPv4 target", target4, v6(loadgen.FamilyIPv6, false), ":family"},
		{"host an IPv6 target, no family", target6, holdPlan(10, range100()), ""},
	}
	for _, tt := range tests {
		err := tt.rt.CheckPlan(tt.p)
		var u *Unsupported
		switch {
		case tt.key == "" && err != nil:
			t.Errorf("%s: %v, want it accepted", tt.name, err)
		case tt.key == "":
		case !errors.As(err, &u):
			t.Errorf("%s: %v, want an *Unsupported", tt.name, err)
		case u.Pool+":"+u.Key != tt.key || !strings.Contains(u.Reason, "family"):
			t.Errorf("%s: %+v, want key %s and a reason naming the family", tt.name, u, tt.key)
		default:
			t.Logf("%s: %v", tt.name, err)
		}
	}
}

// Past 65,536 connections the namespaces the client creates get an
// established hash of their own, a bucket a connection.
func TestChildEhash(t *testing.T) {
	for _, tt := range []struct{ connections, want int }{
		{19_000, 0}, {1 << 16, 0}, {100_000, 1 << 17}, {1_000_000, 1 << 20}, {1 << 30, 1 << 24},
	} {
		if got := childEhash(tt.connections); got != tt.want {
			t.Errorf("childEhash(%d) = %d, want %d", tt.connections, got, tt.want)
		}
	}
}

// The processes of a sharded side share the CPUs, unless the user set
// GOMAXPROCS.
func TestSharedCPUs(t *testing.T) {
	env := []string{"PATH=/bin"}
	if got := sharedCPUs(env, 1); len(got) != 1 {
		t.Errorf("one process: %v, want the environment as it is", got)
	}
	want := fmt.Sprintf("GOMAXPROCS=%d", max(1, runtime.NumCPU()/50))
	if got := sharedCPUs(env, 50); len(got) != 2 || got[1] != want {
		t.Errorf("50 processes: %v, want %s added", got, want)
	}
	if got := sharedCPUs([]string{"GOMAXPROCS=7"}, 50); len(got) != 1 {
		t.Errorf("GOMAXPROCS set: %v, want it kept", got)
	}
}

// The slab is read from /proc/meminfo, and a connection's share of its
// growth is the growth over the peak of open connections.
func TestSlabWatch(t *testing.T) {
	if n, ok := readSlab(); !ok || n <= 0 {
		t.Fatalf("readSlab = %d, %v", n, ok)
	}
	w := startSlabWatch()
	w.mu.Lock()
	w.before, w.peak = 1<<50, 1<<50+8<<20 // above any real slab
	w.mu.Unlock()
	km := w.finish(1024)
	if km.PerConnectionBytes != 8<<10 || km.SlabBeforeBytes != 1<<50 {
		t.Errorf("kernel memory %+v, want 8 KB a connection", km)
	}
	if again := w.finish(1024); again == nil {
		t.Error("a second finish returned nothing")
	}
}
