package sandbox

import (
	"fmt"
	"net"
	"net/netip"
	"os"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/portex/portex/loadgen"
)

// The netns topology's addresses are loadgen's sandbox address plan, in
// 198.18.0.0/15: clients in 198.18.0.0/16, servers in 198.19.0.0/16, so
// extra source and destination addresses fit.
// The IPv6 ones are in 2001:2::/48, laid out alike (loadgen's
// SandboxClientAddr6 and SandboxServerAddr6): the same link carries both.
var (
	ClientAddr  = loadgen.SandboxClientAddr
	ServerAddr  = loadgen.SandboxServerAddr
	ClientAddr6 = loadgen.SandboxClientAddr6
	ServerAddr6 = loadgen.SandboxServerAddr6
)

const (
	clientLink = "portex0"
	serverLink = "portex1"
	prefixLen  = 15
	prefixLen6 = 48
)

func linkUp(name string) error {
	link, err := netlink.LinkByName(name)
	if err != nil {
		return fmt.Errorf("link %s: %w", name, err)
	}
	if err := netlink.LinkSetUp(link); err != nil {
		return fmt.Errorf("link %s up: %w", name, err)
	}
	return nil
}

// SourceAddr returns the client's i-th address (0: the primary).
func SourceAddr(i int) netip.Addr { return loadgen.SandboxSourceAddr(i) }

// SourceAddr6 returns the client's i-th IPv6 address (0: the primary).
func SourceAddr6(i int) netip.Addr { return loadgen.SandboxSourceAddr6(i) }

// realise builds the topology's network around the calling process, in
// the client's namespace, whose other namespaces already hold a process
// each (pids, by namespace name): each link's veth pair, its ends
// addressed and up, then every namespace's routes, then the client's
// sysctls. It returns the
// client's addresses, the primary first.
func realise(t *Topology, pids map[string]int) ([]netip.Addr, error) {
	pids[NSClient] = os.Getpid()
	if err := linkUp("lo"); err != nil {
		return nil, err
	}
	for _, l := range t.Links {
		if err := wireLink(l, pids); err != nil {
			return nil, err
		}
	}
	for _, h := range t.Namespaces {
		for _, r := range h.Routes {
			err := inNetns(pids[h.Name], func(nh *netlink.Handle) error {
				dst := &net.IPNet{IP: r.Dst.Addr().AsSlice(), Mask: net.CIDRMask(r.Dst.Bits(), r.Dst.Addr().BitLen())}
				return nh.RouteAdd(&netlink.Route{Dst: dst, Gw: r.Via.AsSlice()})
			})
			if err != nil {
				return nil, fmt.Errorf("%s: route to %s via %s: %w", h.Name, r.Dst, r.Via, err)
			}
		}
	}
	if err := applySysctls(t.Namespace(NSClient)); err != nil {
		return nil, err
	}
	return t.Sources(), nil
}

// wireLink creates the link's veth pair from A's namespace into B's, and
// addresses and brings up both ends.
func wireLink(l Link, pids map[string]int) error {
	bPid, ok := pids[l.B.NS]
	if !ok {
		return fmt.Errorf("link %s-%s: namespace %s has no process", l.A.NS, l.B.NS, l.B.NS)
	}
	err := inNetns(pids[l.A.NS], func(h *netlink.Handle) error {
		attrs := netlink.NewLinkAttrs()
		attrs.Name = l.A.Dev
		return h.LinkAdd(&netlink.Veth{LinkAttrs: attrs, PeerName: l.B.Dev, PeerNamespace: netlink.NsPid(bPid)})
	})
	if err != nil {
		return fmt.Errorf("veth pair %s (%s) - %s (%s): %w", l.A.Dev, l.A.NS, l.B.Dev, l.B.NS, err)
	}
	macs := make(map[string]net.HardwareAddr, 2)
	for _, e := range []End{l.A, l.B} {
		err := inNetns(pids[e.NS], func(h *netlink.Handle) error {
			link, err := h.LinkByName(e.Dev)
			if err != nil {
				return fmt.Errorf("veth %s: %w", e.Dev, err)
			}
			macs[e.Dev] = link.Attrs().HardwareAddr
			return nil
		})
		if err != nil {
			return fmt.Errorf("%s: %w", e.NS, err)
		}
	}
	for _, e := range []End{l.A, l.B} {
		peer := l.B
		if e.Dev == l.B.Dev {
			peer = l.A
		}
		err := inNetns(pids[e.NS], func(h *netlink.Handle) error {
			link, err := h.LinkByName(e.Dev)
			if err != nil {
				return fmt.Errorf("veth %s: %w", e.Dev, err)
			}
			if err := staticNeighbours6(h, link, peer.Addrs, macs[peer.Dev]); err != nil {
				return fmt.Errorf("veth %s: %w", e.Dev, err)
			}
			for _, a := range e.Addrs {
				ipnet := &net.IPNet{IP: a.Addr().AsSlice(), Mask: net.CIDRMask(a.Bits(), a.Addr().BitLen())}
				addr := &netlink.Addr{IPNet: ipnet}
				if a.Addr().Is6() {
					// No duplicate address detection: the address is
					// usable at once, not tentative for a second or two,
					// and nothing else is on the link.
					addr.Flags = unix.IFA_F_NODAD
				}
				if err := h.AddrAdd(link, addr); err != nil {
					return fmt.Errorf("address %s on %s: %w", a, e.Dev, err)
				}
			}
			if err := h.LinkSetUp(link); err != nil {
				return fmt.Errorf("veth %s up: %w", e.Dev, err)
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("%s: %w", e.NS, err)
		}
	}
	return nil
}

// staticNeighbours6 tells link the peer's IPv6 addresses, at its
// hardware address, for good: a link of two ends needs no neighbour
// discovery, whose first solicitation on a link just brought up can go
// unanswered and hold the first connections in SYN_SENT for a second
// or more. IPv4's ARP has no such delay and is left as it is.
func staticNeighbours6(h *netlink.Handle, link netlink.Link, peer []netip.Prefix, mac net.HardwareAddr) error {
	for _, a := range peer {
		if !a.Addr().Is6() {
			continue
		}
		n := &netlink.Neigh{LinkIndex: link.Attrs().Index, Family: unix.AF_INET6, State: netlink.NUD_PERMANENT,
			IP: a.Addr().AsSlice(), HardwareAddr: mac}
		if err := h.NeighAdd(n); err != nil {
			return fmt.Errorf("neighbour %s at %s: %w", a.Addr(), mac, err)
		}
	}
	return nil
}

// applySysctls writes the host's sysctls in the calling process's
// namespace, in their order.
func applySysctls(h *Namespace) error {
	if h == nil {
		return nil
	}
	for _, s := range h.Sysctls {
		if err := writeSysctl(s.Name, s.Value); err != nil {
			return err
		}
	}
	return nil
}
