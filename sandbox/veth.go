package sandbox

import (
	"fmt"
	"net"
	"net/netip"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
)

// The netns topology: the client's and the server's network namespaces,
// joined by a veth pair, addressed from 198.18.0.0/15, the range set aside
// for benchmarking (RFC 2544). Clients live in 198.18.0.0/16, servers in
// 198.19.0.0/16, so extra source and destination addresses fit later.
var (
	ClientAddr = netip.MustParseAddr("198.18.0.1")
	ServerAddr = netip.MustParseAddr("198.19.0.1")
)

const (
	clientLink = "portex0"
	serverLink = "portex1"
	prefixLen  = 15
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

func addrOf(a netip.Addr) *netlink.Addr {
	return &netlink.Addr{IPNet: &net.IPNet{IP: a.AsSlice(), Mask: net.CIDRMask(prefixLen, 32)}}
}

// SourceAddr returns the client's i-th address (0: the primary).
func SourceAddr(i int) netip.Addr {
	a := ClientAddr.As4()
	a[2], a[3] = byte(i/250), byte(1+i%250)
	return netip.AddrFrom4(a)
}

// wireVeth creates the veth pair from the calling (client) namespace into
// the server process's namespace, addresses both ends and brings them up.
// The client end gets sources addresses; it returns them, primary first.
func wireVeth(serverPid, sources int) ([]netip.Addr, error) {
	addrs, err := wireVethLinks(serverPid)
	if err != nil {
		return nil, err
	}
	link, err := netlink.LinkByName(clientLink)
	if err != nil {
		return nil, fmt.Errorf("veth %s: %w", clientLink, err)
	}
	for i := 1; i < sources; i++ {
		a := SourceAddr(i)
		if err := netlink.AddrAdd(link, addrOf(a)); err != nil {
			return nil, fmt.Errorf("source address %s: %w", a, err)
		}
		addrs = append(addrs, a)
	}
	return addrs, nil
}

func wireVethLinks(serverPid int) ([]netip.Addr, error) {
	addrs := []netip.Addr{ClientAddr}
	if err := linkUp("lo"); err != nil {
		return nil, err
	}
	attrs := netlink.NewLinkAttrs()
	attrs.Name = clientLink
	veth := &netlink.Veth{LinkAttrs: attrs, PeerName: serverLink, PeerNamespace: netlink.NsPid(serverPid)}
	if err := netlink.LinkAdd(veth); err != nil {
		return nil, fmt.Errorf("veth pair: %w", err)
	}
	link, err := netlink.LinkByName(clientLink)
	if err != nil {
		return nil, fmt.Errorf("veth %s: %w", clientLink, err)
	}
	if err := netlink.AddrAdd(link, addrOf(ClientAddr)); err != nil {
		return nil, fmt.Errorf("address %s: %w", ClientAddr, err)
	}
	if err := netlink.LinkSetUp(link); err != nil {
		return nil, fmt.Errorf("veth %s up: %w", clientLink, err)
	}

	ns, err := netns.GetFromPid(serverPid)
	if err != nil {
		return nil, fmt.Errorf("server namespace: %w", err)
	}
	defer ns.Close()
	h, err := netlink.NewHandleAt(ns)
	if err != nil {
		return nil, fmt.Errorf("server namespace: %w", err)
	}
	defer h.Close()
	peer, err := h.LinkByName(serverLink)
	if err != nil {
		return nil, fmt.Errorf("veth %s: %w", serverLink, err)
	}
	if err := h.AddrAdd(peer, addrOf(ServerAddr)); err != nil {
		return nil, fmt.Errorf("address %s: %w", ServerAddr, err)
	}
	if err := h.LinkSetUp(peer); err != nil {
		return nil, fmt.Errorf("veth %s up: %w", serverLink, err)
	}
	return addrs, nil
}
