package loadgen

import (
	"math/bits"
	"net/netip"
)

// The sandbox's address plan, from 198.18.0.0/15, the range set aside for
// benchmarking (RFC 2544): clients in 198.18.0.0/16, servers in
// 198.19.0.0/16, a router's two sides at the top of each. The netns
// runtime puts its namespaces there; the capacity model hashes the same
// addresses as a NAT between them does.
var (
	SandboxClientAddr = netip.MustParseAddr("198.18.0.1")
	SandboxServerAddr = netip.MustParseAddr("198.19.0.1")
	// SandboxRouterClientAddr and SandboxNATAddr(0) are the router's
	// addresses on the client's side and on the server's.
	SandboxRouterClientAddr = netip.MustParseAddr("198.18.255.254")
)

// The sandbox's IPv6 address plan, from 2001:2::/48, the prefix set aside
// for benchmarking (RFC 5180), laid out as the IPv4 one: clients in
// 2001:2::/64, servers in 2001:2:0:1::/64, both on one /48 link.
var (
	SandboxClientAddr6 = netip.MustParseAddr("2001:2::1")
	SandboxServerAddr6 = netip.MustParseAddr("2001:2:0:1::1")
)

// SandboxSourceAddr6 is the client's i-th IPv6 address (0: the primary):
// 2001:2::1, 2001:2::2, and so on.
func SandboxSourceAddr6(i int) netip.Addr {
	a := SandboxClientAddr6.As16()
	a[14], a[15] = byte((i+1)>>8), byte(i+1)
	return netip.AddrFrom16(a)
}

// SandboxSourceAddr is the client's i-th address (0: the primary).
func SandboxSourceAddr(i int) netip.Addr {
	a := SandboxClientAddr.As4()
	a[2], a[3] = byte(i/250), byte(1+i%250)
	return netip.AddrFrom4(a)
}

// SandboxNATAddr is the router's i-th address on the server's side, one
// the NAT translates to: 198.19.255.254, then the addresses below it.
func SandboxNATAddr(i int) netip.Addr {
	return netip.AddrFrom4([4]byte{198, 19, 255, byte(254 - i)})
}

// NATAddressIndex is which of n NAT addresses (0: SandboxNATAddr(0)) a
// Linux source NAT over the contiguous range SandboxNATAddr(n-1) ..
// SandboxNATAddr(0) gives a connection from src to dst. The kernel picks
// it in nf_nat_core.c's find_best_ips_proto: a jhash2 of the source's
// nf_inet_addr (four words, the first holding the IPv4 address) seeded
// with the destination's address, scaled onto the range. A given source
// talking to a given destination always gets the same NAT address,
// whatever its port.
func NATAddressIndex(src, dst netip.Addr, n int) int {
	if n <= 1 {
		return 0
	}
	s, d := src.As4(), dst.As4()
	// The words are read from memory as the CPU's native (here little-
	// endian) u32s of the network-order bytes.
	k := [4]uint32{uint32(s[0]) | uint32(s[1])<<8 | uint32(s[2])<<16 | uint32(s[3])<<24}
	seed := uint32(d[0]) | uint32(d[1])<<8 | uint32(d[2])<<16 | uint32(d[3])<<24
	j := jhash2(k[:], seed)
	lowest := n - 1
	return lowest - int(uint64(j)*uint64(n)>>32)
}

// jhash2 is the kernel's jhash2 (Bob Jenkins' lookup3 over u32 words).
func jhash2(k []uint32, initval uint32) uint32 {
	a := 0xdeadbeef + uint32(len(k))<<2 + initval
	b, c := a, a
	for len(k) > 3 {
		a += k[0]
		b += k[1]
		c += k[2]
		a, b, c = jhashMix(a, b, c)
		k = k[3:]
	}
	switch len(k) {
	case 3:
		c += k[2]
		fallthrough
	case 2:
		b += k[1]
		fallthrough
	case 1:
		a += k[0]
		c = jhashFinal(a, b, c)
	}
	return c
}

func jhashMix(a, b, c uint32) (uint32, uint32, uint32) {
	rol := bits.RotateLeft32
	a -= c
	a ^= rol(c, 4)
	c += b
	b -= a
	b ^= rol(a, 6)
	a += c
	c -= b
	c ^= rol(b, 8)
	b += a
	a -= c
	a ^= rol(c, 16)
	c += b
	b -= a
	b ^= rol(a, 19)
	a += c
	c -= b
	c ^= rol(b, 4)
	b += a
	return a, b, c
}

func jhashFinal(a, b, c uint32) uint32 {
	rol := bits.RotateLeft32
	c ^= b
	c -= rol(b, 14)
	a ^= c
	a -= rol(c, 11)
	b ^= a
	b -= rol(a, 25)
	c ^= b
	c -= rol(b, 16)
	a ^= c
	a -= rol(c, 4)
	b ^= a
	b -= rol(a, 14)
	c ^= b
	c -= rol(b, 24)
	return c
}
