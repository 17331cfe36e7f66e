package sandbox

import (
	"maps"
	"net/netip"
	"slices"

	"github.com/portex/portex/loadgen"
)

// Topology is a run's sandbox as data: the network namespaces,
// each with the sysctls and limits written in it, the links that join
// them, and the roles placed in them. TopologyOf builds it from the plan;
// the netns runtime realises it with namespaces and veth pairs (realise),
// the docker runtime with one container per namespace on a network of the
// run's own. A new namespace or role is a change here and in the
// realisations, never in the engine.
type Topology struct {
	Namespaces []Namespace
	Links      []Link
	Roles      []Role
}

// The namespaces a topology may have.
const (
	NSClient = "client" // portex's pools or the user's programs; the agent's own namespace
	NSServer = "server" // the echo server, in a namespace of its own
	NSRouter = "router" // a NAT between the two (Plan.NAT)
)

// Namespace is one network namespace of the sandbox.
type Namespace struct {
	Name string
	// Sysctls are written in the namespace in this order, before any
	// role in it starts.
	Sysctls []Sysctl
	// Nofile is RLIMIT_NOFILE for the roles in it; 0 keeps the inherited
	// limit.
	Nofile uint64
	// Processes is how many processes share the namespace's role.
	Processes int
	// Routes are added once the links are up.
	Routes []Route
	// ChildEhash is tcp_child_ehash_entries, written before the
	// namespace's role creates the server's and the router's namespaces,
	// which then have an established hash of that many buckets of their
	// own; 0: they share the machine's (see childEhash).
	ChildEhash int
}

// Sysctl is one setting, by dotted name.
type Sysctl struct{ Name, Value string }

// SysctlMap is the namespace's sysctls as a map, for a runtime that takes them
// whole (a container's).
func (h *Namespace) SysctlMap() map[string]string {
	if len(h.Sysctls) == 0 {
		return nil
	}
	m := make(map[string]string, len(h.Sysctls))
	for _, s := range h.Sysctls {
		m[s.Name] = s.Value
	}
	return m
}

// Route sends the traffic for Dst through Via.
type Route struct {
	Dst netip.Prefix
	Via netip.Addr
}

// Link is a veth pair between two namespaces; A's end is created in A's
// namespace, with its peer in B's.
type Link struct{ A, B End }

// End is one end of a link: the namespace it is in, its device and its
// addresses, the primary first.
type End struct {
	NS    string
	Dev   string
	Addrs []netip.Prefix
}

// RoleKind says what a role runs.
type RoleKind string

// The roles.
const (
	RolePools   RoleKind = "pools"   // portex's pools (the engine)
	RoleProgram RoleKind = "program" // a user's program (Plan.Programs)
	RoleEcho    RoleKind = "echo"    // the bundled echo server
	RoleNAT     RoleKind = "nat"     // forwarding and the NAT rule
)

// Role is something placed in a namespace.
type Role struct {
	Kind RoleKind
	NS   string
	Name string // a program's name; empty for the others
}

// childEhash is the established hash a run of that many connections
// gives the namespaces its client creates: a bucket a connection, in a
// power of two, past 65,536 connections; 0 below. Every namespace made
// from the host's shares the host's hash (tcp_ehash_entries, sized by the
// machine's memory), whose chains grow with the sockets of every
// namespace, walked by every packet's lookup and by connect()'s check of
// each port it tries.
func childEhash(connections int) int {
	if connections <= 1<<16 {
		return 0
	}
	n := 1 << 17
	for n < connections && n < 1<<24 { // the kernel's maximum
		n <<= 1
	}
	return n
}

// TopologyOf is the sandbox the plan asks for. Without a NAT, client and
// server share one link on 198.18.0.0/15, and on 2001:2::/48 too when a
// pool dials IPv6 (the IPv4 addresses first, then the IPv6 ones, the
// primary of each first); with one, the router sits
// between them on two /16 links, the client routes the servers' /16
// through it and the server has no route back, so it answers only what
// the router translated.
func TopologyOf(p *loadgen.Plan) *Topology {
	client := Namespace{Name: NSClient, Nofile: p.Sandbox.Nofile, Processes: max(1, processes(p))}
	if !p.Sandbox.PortRange.IsZero() {
		client.Sysctls = append(client.Sysctls, Sysctl{"net.ipv4.ip_local_port_range", p.Sandbox.PortRange.String()})
	}
	client.Sysctls = append(client.Sysctls, sortedSysctls(p.Sandbox.Sysctls)...)
	client.ChildEhash = childEhash(p.Connections())
	server := Namespace{Name: NSServer, Sysctls: sortedSysctls(p.Server.Sysctls), Processes: serverProcesses(p, client.Processes)}

	t := &Topology{}
	if len(p.Programs) > 0 {
		for _, pr := range p.Programs {
			t.Roles = append(t.Roles, Role{Kind: RoleProgram, NS: NSClient, Name: pr.Name})
		}
	} else {
		t.Roles = append(t.Roles, Role{Kind: RolePools, NS: NSClient})
	}
	t.Roles = append(t.Roles, Role{Kind: RoleEcho, NS: NSServer})

	sources := make([]netip.Prefix, p.Sources())
	if p.NAT == nil {
		for i := range sources {
			sources[i] = netip.PrefixFrom(SourceAddr(i), prefixLen)
		}
		servers := []netip.Prefix{netip.PrefixFrom(ServerAddr, prefixLen)}
		if p.UsesIPv6() {
			for i := range p.Sources() {
				sources = append(sources, netip.PrefixFrom(SourceAddr6(i), prefixLen6))
			}
			servers = append(servers, netip.PrefixFrom(ServerAddr6, prefixLen6))
		}
		t.Namespaces = []Namespace{client, server}
		t.Links = []Link{{
			A: End{NS: NSClient, Dev: clientLink, Addrs: sources},
			B: End{NS: NSServer, Dev: serverLink, Addrs: servers},
		}}
		return t
	}
	for i := range sources {
		sources[i] = netip.PrefixFrom(SourceAddr(i), natPrefixLen)
	}
	client.Routes = []Route{{Dst: netip.PrefixFrom(ServerAddr, natPrefixLen).Masked(), Via: RouterClientAddr}}
	router := Namespace{Name: NSRouter, Sysctls: []Sysctl{{"net.ipv4.ip_forward", "1"}}}
	for _, s := range p.NAT.Conntrack.Sysctls() {
		router.Sysctls = append(router.Sysctls, Sysctl{s[0], s[1]})
	}
	natAddrs := make([]netip.Prefix, p.NAT.AddressCount())
	for i := range natAddrs {
		natAddrs[i] = netip.PrefixFrom(NATAddr(i), natPrefixLen)
	}
	t.Namespaces = []Namespace{client, router, server}
	t.Links = []Link{
		{
			A: End{NS: NSClient, Dev: clientLink, Addrs: sources},
			B: End{NS: NSRouter, Dev: routerClientLink, Addrs: []netip.Prefix{netip.PrefixFrom(RouterClientAddr, natPrefixLen)}},
		},
		{
			A: End{NS: NSRouter, Dev: routerServerLink, Addrs: natAddrs},
			B: End{NS: NSServer, Dev: serverLink, Addrs: []netip.Prefix{netip.PrefixFrom(ServerAddr, natPrefixLen)}},
		},
	}
	t.Roles = append(t.Roles, Role{Kind: RoleNAT, NS: NSRouter})
	return t
}

// Namespace returns the named namespace, nil if the topology has none.
func (t *Topology) Namespace(name string) *Namespace {
	for i := range t.Namespaces {
		if t.Namespaces[i].Name == name {
			return &t.Namespaces[i]
		}
	}
	return nil
}

// Sources are the client's IPv4 addresses on its link, the primary first.
func (t *Topology) Sources() []netip.Addr { return t.clientAddrs(false) }

// Sources6 are the client's IPv6 addresses on its link, the primary
// first; none when no pool dials IPv6.
func (t *Topology) Sources6() []netip.Addr { return t.clientAddrs(true) }

func (t *Topology) clientAddrs(v6 bool) []netip.Addr {
	var out []netip.Addr
	for _, l := range t.Links {
		for _, e := range []End{l.A, l.B} {
			if e.NS == NSClient {
				for _, a := range e.Addrs {
					if a.Addr().Is6() == v6 {
						out = append(out, a.Addr())
					}
				}
			}
		}
	}
	return out
}

func sortedSysctls(m map[string]string) []Sysctl {
	var out []Sysctl
	for _, name := range slices.Sorted(maps.Keys(m)) {
		out = append(out, Sysctl{name, m[name]})
	}
	return out
}
