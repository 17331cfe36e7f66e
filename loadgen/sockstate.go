package loadgen

import (
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// SocketStates counts the TCP sockets of one network namespace by state,
// and the distinct local ports they pin.
type SocketStates struct {
	Established int `json:"established"`
	SynSent     int `json:"syn_sent"`
	SynRecv     int `json:"syn_recv"`
	FinWait1    int `json:"fin_wait1"`
	FinWait2    int `json:"fin_wait2"`
	TimeWait    int `json:"time_wait"`
	CloseWait   int `json:"close_wait"`
	LastAck     int `json:"last_ack"`
	Closing     int `json:"closing"`
	Listen      int `json:"listen"`
	// PortsInUse is the number of distinct local ports held by sockets
	// that are not listening, within the sampler's port range if it has
	// one: what the ephemeral range has left to give.
	PortsInUse int `json:"ports_in_use"`
}

// Total is the number of sockets counted.
func (s SocketStates) Total() int {
	return s.Established + s.SynSent + s.SynRecv + s.FinWait1 + s.FinWait2 + s.TimeWait +
		s.CloseWait + s.LastAck + s.Closing + s.Listen
}

// TCP states as the kernel numbers them (include/net/tcp_states.h).
const (
	tcpEstablished = 1 + iota
	tcpSynSent
	tcpSynRecv
	tcpFinWait1
	tcpFinWait2
	tcpTimeWait
	tcpClose
	tcpCloseWait
	tcpLastAck
	tcpListen
	tcpClosing
)

// SocketSampler reads socket states with the kernel's sock_diag netlink
// interface: one dump request, the replies parsed in place from a reused
// buffer, no allocation per socket. It samples the network namespace it
// was created in. It is safe for concurrent use.
type SocketSampler struct {
	mu     sync.Mutex // guards everything below
	fd     int
	lo, hi int // port range counted in PortsInUse; 0, 0: every port
	buf    []byte
	ports  [65536 / 64]uint64
	seq    uint32
	// The last sample's end and the recent cost (a moving average), for
	// Due.
	lastEnd time.Time
	avgCost time.Duration
}

// maxDuty bounds the share of time the sampler may spend sampling: with
// 100,000 sockets a sock_diag dump takes the kernel hundreds of
// milliseconds (it walks the machine-wide established hash), and sampling
// must not become the load.
const maxDuty = 0.1

// maxGap bounds the wait Due imposes, so that one sample slowed down by a
// busy machine does not silence the sampler for long.
const maxGap = 2 * time.Second

// Due reports whether a periodic sample may be taken now without the
// sampler spending more than a tenth of its time sampling (judged by the
// recent cost, a moving average) and no later than maxGap after the last.
func (s *SocketSampler) Due(now time.Time) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	wait := min(time.Duration(float64(s.avgCost)*(1/maxDuty-1)), maxGap)
	return now.Sub(s.lastEnd) >= wait
}

// NewSocketSampler opens a sock_diag socket in the caller's network
// namespace. Ports outside lo..hi are not counted in PortsInUse unless both
// are 0.
func NewSocketSampler(lo, hi int) (*SocketSampler, error) {
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, unix.NETLINK_INET_DIAG)
	if err != nil {
		return nil, fmt.Errorf("sock_diag: %w", err)
	}
	if err := unix.Bind(fd, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("sock_diag: %w", err)
	}
	return &SocketSampler{fd: fd, lo: lo, hi: hi, buf: make([]byte, 1<<20)}, nil
}

// Close releases the netlink socket.
func (s *SocketSampler) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fd < 0 {
		return nil
	}
	err := unix.Close(s.fd)
	s.fd = -1
	return err
}

// inetDiagReqV2 is struct inet_diag_req_v2 (linux/inet_diag.h).
type inetDiagReqV2 struct {
	Family   uint8
	Protocol uint8
	Ext      uint8
	Pad      uint8
	States   uint32
	ID       [48]byte // struct inet_diag_sockid, zero: every socket
}

const (
	sockDiagByFamily = 20 // SOCK_DIAG_BY_FAMILY
	nlmsgHdrLen      = 16
	inetDiagMsgLen   = 72 // struct inet_diag_msg
)

// Sample counts the namespace's TCP sockets (IPv4) by state.
func (s *SocketSampler) Sample() (SocketStates, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var st SocketStates
	if s.fd < 0 {
		return st, errors.New("sock_diag: sampler closed")
	}
	start := time.Now()
	defer func() {
		s.lastEnd = time.Now()
		cost := s.lastEnd.Sub(start)
		if s.avgCost == 0 {
			s.avgCost = cost
		} else {
			s.avgCost = (3*s.avgCost + cost) / 4
		}
	}()
	s.seq++
	if err := s.request(); err != nil {
		return st, err
	}
	clear(s.ports[:])
	for {
		n, _, err := unix.Recvfrom(s.fd, s.buf, 0)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return st, fmt.Errorf("sock_diag: %w", err)
		}
		done, err := s.parse(s.buf[:n], &st)
		if err != nil || done {
			return st, err
		}
	}
}

func (s *SocketSampler) request() error {
	var msg [nlmsgHdrLen + unsafe.Sizeof(inetDiagReqV2{})]byte
	binary.NativeEndian.PutUint32(msg[0:], uint32(len(msg)))
	binary.NativeEndian.PutUint16(msg[4:], sockDiagByFamily)
	binary.NativeEndian.PutUint16(msg[6:], unix.NLM_F_REQUEST|unix.NLM_F_DUMP)
	binary.NativeEndian.PutUint32(msg[8:], s.seq)
	req := (*inetDiagReqV2)(unsafe.Pointer(&msg[nlmsgHdrLen]))
	*req = inetDiagReqV2{Family: unix.AF_INET, Protocol: unix.IPPROTO_TCP, States: ^uint32(0)}
	if err := unix.Sendto(s.fd, msg[:], 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		return fmt.Errorf("sock_diag: %w", err)
	}
	return nil
}

// parse counts the sockets in one datagram of replies; done reports the end
// of the dump.
func (s *SocketSampler) parse(b []byte, st *SocketStates) (done bool, err error) {
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
				s.count(body, st)
			}
		}
	}
	return false, nil
}

// count adds one struct inet_diag_msg: state at byte 1, the source port
// (big-endian) at byte 4.
func (s *SocketSampler) count(m []byte, st *SocketStates) {
	state := m[1]
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
	case tcpCloseWait:
		st.CloseWait++
	case tcpLastAck:
		st.LastAck++
	case tcpClosing:
		st.Closing++
	case tcpListen:
		st.Listen++
		return
	}
	port := int(binary.BigEndian.Uint16(m[4:]))
	if s.hi > 0 && (port < s.lo || port > s.hi) {
		return
	}
	word, bit := port/64, uint64(1)<<(port%64)
	if s.ports[word]&bit == 0 {
		s.ports[word] |= bit
		st.PortsInUse++
	}
}
