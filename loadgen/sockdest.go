package loadgen

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"github.com/portex/portex/result"
	"golang.org/x/sys/unix"
)

// What portex measures of a program it did not write is the kernel's side:
// the client namespace's sockets per destination, and each destination's
// local ports in use against its budget. A plain connect() shares a local
// port across destinations, so each (remote address, port) has a range of
// its own, and it runs out when its ports in use (TIME_WAIT included)
// reach the budget.

// destSocket is one client socket of a destinations dump.
type destSocket struct {
	dst    netip.AddrPort
	local  uint16
	state  uint8
	recent bool // TIME_WAIT younger than ReuseDelay
}

// SampleDestinations counts the namespace's client sockets (IPv4) per
// destination: by state, and the distinct local ports they hold, within
// the sampler's range if it has one. Client sockets are those that neither
// listen nor were accepted: a socket whose local port is one a socket of
// the namespace listens on is taken for an accepted one and left out. The
// destinations come sorted by address and port. It always takes a full
// dump, whatever it costs: it is for a program's sockets, which are few
// next to a pool's, and for the moment of exhaustion.
func (s *SocketSampler) SampleDestinations() ([]result.DestinationSockets, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fd < 0 {
		return nil, errors.New("sock_diag: sampler closed")
	}
	s.seq++
	if err := s.request(unix.AF_INET, tcpfAll); err != nil {
		return nil, err
	}
	var socks []destSocket
	listening := make(map[uint16]bool)
	each := func(m []byte) {
		state := m[1]
		local := binary.BigEndian.Uint16(m[4:])
		if state == tcpListen {
			listening[local] = true
			return
		}
		dst := netip.AddrPortFrom(netip.AddrFrom4([4]byte(m[24:28])), binary.BigEndian.Uint16(m[6:]))
		recent := state == tcpTimeWait && binary.NativeEndian.Uint32(m[52:]) > s.recentTW
		socks = append(socks, destSocket{dst: dst, local: local, state: state, recent: recent})
	}
	for {
		n, err := unix.Read(s.fd, s.buf)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("sock_diag: %w", err)
		}
		done, err := s.parseEach(s.buf[:n], each)
		if err != nil {
			return nil, err
		}
		if done {
			break
		}
	}
	return countDestinations(socks, listening, s.lo, s.hi), nil
}

// countDestinations counts the client sockets per destination: those that
// are not on a listening port. Local ports outside lo..hi are not counted
// in PortsInUse unless both are 0.
func countDestinations(socks []destSocket, listening map[uint16]bool, lo, hi int) []result.DestinationSockets {
	type dest struct {
		st    result.SocketStates
		ports map[uint16]bool
	}
	by := make(map[netip.AddrPort]*dest)
	for _, k := range socks {
		if listening[k.local] {
			continue
		}
		d := by[k.dst]
		if d == nil {
			d = &dest{ports: make(map[uint16]bool)}
			by[k.dst] = d
		}
		countState(&d.st, k.state, k.recent)
		if p := int(k.local); (hi == 0 || p >= lo && p <= hi) && !d.ports[k.local] {
			d.ports[k.local] = true
			d.st.PortsInUse++
		}
	}
	out := make([]result.DestinationSockets, 0, len(by))
	for dst, d := range by {
		out = append(out, result.DestinationSockets{Destination: dst, Sockets: d.st})
	}
	slices.SortFunc(out, func(a, b result.DestinationSockets) int { return a.Destination.Compare(b.Destination) })
	return out
}

// countState adds a socket in the given state to st.
func countState(st *result.SocketStates, state uint8, recent bool) {
	switch state {
	case tcpEstablished:
		st.Established++
	case tcpSynSent:
		st.SynSent++
	case tcpSynRecv:
		st.SynRecv++
	case tcpFinWait1:
		st.FinWait1++
	case tcpFinWait2:
		st.FinWait2++
	case tcpTimeWait:
		st.TimeWait++
		if recent {
			st.TimeWaitRecent++
		}
	case tcpCloseWait:
		st.CloseWait++
	case tcpLastAck:
		st.LastAck++
	case tcpClosing:
		st.Closing++
	case tcpListen:
		st.Listen++
	}
}

// parseEach hands each struct inet_diag_msg of one datagram of replies to
// fn; done reports the end of the dump.
func (s *SocketSampler) parseEach(b []byte, fn func(m []byte)) (done bool, err error) {
	for len(b) >= nlmsgHdrLen {
		l := int(binary.NativeEndian.Uint32(b[0:]))
		typ := binary.NativeEndian.Uint16(b[4:])
		seq := binary.NativeEndian.Uint32(b[8:])
		if l < nlmsgHdrLen || l > len(b) {
			return true, errors.New("sock_diag: truncated reply")
		}
		body := b[nlmsgHdrLen:l]
		b = b[min(len(b), (l+3)&^3):]
		if seq != s.seq {
			continue // a stale reply of an abandoned dump
		}
		switch typ {
		case unix.NLMSG_DONE:
			return true, nil
		case unix.NLMSG_ERROR:
			if len(body) >= 4 {
				if errno := int32(binary.NativeEndian.Uint32(body)); errno != 0 {
					return true, fmt.Errorf("sock_diag: %w", unix.Errno(-errno))
				}
			}
			return true, nil
		case sockDiagByFamily:
			if len(body) >= inetDiagMsgLen {
				fn(body)
			}
		}
	}
	return false, nil
}

// DestinationBudget is the local ports a plain connect() can use toward
// one destination: the ports of the range less those of it that reserved
// lists (net.ipv4.ip_local_reserved_ports's value, like "8080,9000-9100";
// empty: none), less bound, the ports of the range that sockets bound
// elsewhere hold (bind() reserves a port for every destination).
func DestinationBudget(r PortRange, reserved string, bound int) (int, error) {
	if r.IsZero() {
		return 0, errors.New("destination budget: no port range")
	}
	taken := make(map[int]bool)
	for item := range strings.SplitSeq(reserved, ",") {
		if item = strings.TrimSpace(item); item == "" {
			continue
		}
		loS, hiS, isRange := strings.Cut(item, "-")
		lo, err1 := strconv.Atoi(strings.TrimSpace(loS))
		hi, err2 := lo, error(nil)
		if isRange {
			hi, err2 = strconv.Atoi(strings.TrimSpace(hiS))
		}
		if err1 != nil || err2 != nil || lo > hi {
			return 0, fmt.Errorf("destination budget: reserved ports %q: %q is not a port or a range lo-hi", reserved, item)
		}
		for p := max(lo, r.Lo); p <= min(hi, r.Hi); p++ {
			taken[p] = true
		}
	}
	return max(0, r.Size()-len(taken)-bound), nil
}

// DestinationExhausted reports whether a destination's local ports in use
// (TIME_WAIT included) have reached its budget: the next plain connect()
// to it fails with EADDRNOTAVAIL.
func DestinationExhausted(d result.DestinationSockets, budget int) bool {
	return d.Sockets.PortsCounted() && budget > 0 && d.Sockets.PortsInUse >= budget
}

// tcpBoundInactive is TCP_BOUND_INACTIVE (Linux 6.8): in a dump request,
// the sockets bound by bind() that neither listen nor are connected; the
// dump reports them in TCP_CLOSE.
const tcpBoundInactive = 13

// DiagSocket is one TCP socket of a DumpSockets dump.
type DiagSocket struct {
	// Local and Remote are the socket's addresses; Remote is 0.0.0.0:0
	// for a listening or a bound, unconnected socket.
	Local, Remote netip.AddrPort
	// State is the kernel's TCP state number (include/net/tcp_states.h);
	// a bound, unconnected socket is in TCP_CLOSE (7).
	State uint8
	// Cookie is the kernel's socket cookie: unique per socket, and kept
	// by the TIME_WAIT socket a connection leaves.
	Cookie uint64
}

// Listening reports whether the socket listens.
func (d DiagSocket) Listening() bool { return d.State == tcpListen }

// BoundInactive reports whether the socket is bound by bind() and neither
// listens nor is connected: its port is taken from every destination.
func (d DiagSocket) BoundInactive() bool { return d.State == tcpClose }

// AddTo counts the socket's state in st, as SampleDestinations does (it
// leaves PortsInUse and TimeWaitRecent alone).
func (d DiagSocket) AddTo(st *result.SocketStates) { countState(st, d.State, false) }

// DumpSockets hands fn every TCP socket of the namespace of one family
// (unix.AF_INET or unix.AF_INET6) in the states SampleDestinations counts
// and, with boundInactive, the sockets bound by bind() that neither
// listen nor are connected (Linux 6.8 and later; an older kernel sends
// none). An IPv6 socket's IPv4-mapped address is given as IPv4. It is a
// full dump, whatever it costs.
func (s *SocketSampler) DumpSockets(family uint8, boundInactive bool, fn func(DiagSocket)) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fd < 0 {
		return errors.New("sock_diag: sampler closed")
	}
	s.seq++
	states := uint32(tcpfAll)
	if boundInactive {
		states |= 1 << tcpBoundInactive
	}
	if err := s.request(family, states); err != nil {
		return err
	}
	addr := func(m []byte, at int) netip.Addr {
		if m[0] == unix.AF_INET6 {
			return netip.AddrFrom16([16]byte(m[at : at+16])).Unmap()
		}
		return netip.AddrFrom4([4]byte(m[at : at+4]))
	}
	each := func(m []byte) {
		fn(DiagSocket{
			Local:  netip.AddrPortFrom(addr(m, 8), binary.BigEndian.Uint16(m[4:])),
			Remote: netip.AddrPortFrom(addr(m, 24), binary.BigEndian.Uint16(m[6:])),
			State:  m[1],
			Cookie: uint64(binary.NativeEndian.Uint32(m[44:])) | uint64(binary.NativeEndian.Uint32(m[48:]))<<32,
		})
	}
	for {
		n, err := unix.Read(s.fd, s.buf)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return fmt.Errorf("sock_diag: %w", err)
		}
		done, err := s.parseEach(s.buf[:n], each)
		if err != nil {
			return err
		}
		if done {
			return nil
		}
	}
}
