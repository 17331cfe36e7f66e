package sandbox

import (
	"net/netip"
	"slices"
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
