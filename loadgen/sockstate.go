package loadgen

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"sync"
	"time"
	"unsafe"

	"github.com/portex/portex/result"
	"golang.org/x/sys/unix"
)

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

// timerTimewait is inet_diag_msg.idiag_timer of a timewait socket.
const timerTimewait = 3

// recentTimeWait is the idiag_expires (milliseconds left) above which a
// TIME_WAIT socket is younger than the reuse delay d.
func recentTimeWait(d time.Duration) uint32 {
	return uint32(max(TimeWait-d, 0) / time.Millisecond)
}

// tcpfAll asks for the sockets in every state the sampler counts (bits 1 to
// 11, as ss does). Not ^0: that includes TCP_BOUND_INACTIVE (Linux 6.8),
// for which the kernel walks the whole bind hash before the first socket is
// sent, which took a sixth of a sample at 100,000 sockets.
const tcpfAll = 1<<(tcpClosing+1) - 2

// SocketSampler reads socket states with the kernel's sock_diag netlink
// interface: one dump request, the replies parsed in place from a reused
// buffer, no allocation per socket. It samples the network namespace it
// was created in. It is safe for concurrent use.
//
// A full sample costs the kernel about a microsecond per socket (it fills
// a message for each), over 100 ms at 100,000 sockets. Most of those
// sockets are ESTABLISHED or TIME_WAIT, which the kernel also counts per
// namespace (CurrEstab in /proc/net/snmp, tw in /proc/net/sockstat). So
// once a full sample costs more than quickAbove, Sample takes quick
// samples: those two states from the counters, the others from a dump
// that asks only for them, which costs the kernel just the walk of its
// hash. A quick sample cannot count the ports in use; a full one is still
// taken when its own duty cycle allows.
//
// That walk is of the machine's whole established hash, every namespace's
// sockets, and at a million connections it takes longer than the time
// series' interval. So once a full sample costs more than countAbove, a
// quick sample is counted: the counters alone, which cost the same at any
// number of sockets. Its Established counts CLOSE_WAIT too, its TimeWait
// the orphans that wait in FIN_WAIT2, and Unsorted the sockets in the
// other states (the namespace's sockets in use less CurrEstab).
type SocketSampler struct {
	mu             sync.Mutex // guards everything below
	fd             int
	snmp, sockstat int // /proc/net files of the namespace
	lo, hi         int // port range counted in PortsInUse; 0, 0: every port
	buf            []byte
	ports          [65536 / 64]uint64
	seq            uint32
	// The last sample's end, the last full sample's start and cost, and
	// the recent cost of the quick ones (a moving average): when the next
	// sample is due, and of which kind.
	lastEnd   time.Time
	lastFull  time.Time
	fullCost  time.Duration
	quickCost time.Duration
	// twFinWait2 counts the timewait sockets in FIN_WAIT2 of a dump.
	twFinWait2 int
	// recentTW is the idiag_expires above which a TIME_WAIT socket
	// counts in TimeWaitRecent (see SetReuseDelay).
	recentTW uint32
	// v6 makes a dump ask for IPv6 sockets too (CountIPv6).
	v6 bool
	// perDest, while a full dump is counted, buckets its sockets by
	// destination (at most maxSampledDestinations); dests is the last
	// full sample's.
	perDest map[netip.AddrPort]*destCount
	dests   []result.DestinationSockets
	// spare are the destCounts of earlier samples, for the next; inFull
	// is set while a full dump is counted.
	spare  []*destCount
	inFull bool
	// lastDst and lastDest are the destination the last socket counted
	// went to, and its count.
	lastDst  netip.AddrPort
	lastDest *destCount
}

// maxSampledDestinations bounds the destinations a full sample counts
// apart; beyond, it counts none apart (Destinations is nil).
const maxSampledDestinations = 256

// destCount is one destination's sockets in a full dump, and the ports
// they hold.
type destCount struct {
	states result.SocketStates
	ports  [65536 / 64]uint64
}

// Destinations is the last full sample's sockets by destination (address
// and port), each with the distinct local ports of the range they hold:
// each destination's budget used. Nil before the first full sample, and
// when the namespace dials more than maxSampledDestinations.
func (s *SocketSampler) Destinations() []result.DestinationSockets {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.dests
}

// CountIPv6 makes the full samples, and the dumps of the quick ones, count
// IPv6 sockets besides IPv4 ones (a second dump: the load is IPv6). The
// quick samples' kernel counters count both families already.
func (s *SocketSampler) CountIPv6() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.v6 = true
}

// SetReuseDelay sets the age below which a TIME_WAIT socket counts in
// TimeWaitRecent: the namespace's tcp_tw_reuse_delay (ReuseDelay unless
// set).
func (s *SocketSampler) SetReuseDelay(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.recentTW = recentTimeWait(d)
}

// maxDuty bounds the share of time the sampler may spend on each kind of
// sample: with 100,000 sockets even a quick sample takes the kernel tens
// of milliseconds (it walks the machine-wide established hash), and
// sampling must not become the load.
const maxDuty = 0.1

// quickAbove is the cost of a full sample above which Sample takes quick
// ones in between (at about 10,000 sockets on a 2-core machine).
const quickAbove = 10 * time.Millisecond

// countAbove is the cost of a full sample above which the quick samples
// are counted (at over 100,000 sockets), unless IPv6 sockets are counted
// too: the counters of sockets in use are per family.
const countAbove = 100 * time.Millisecond

// maxGap bounds the wait between quick samples, so that one slowed down by
// a busy machine does not silence the sampler for long.
const maxGap = 2 * time.Second

// Due reports whether a periodic sample may be taken now without the
// sampler spending more than a tenth of its time on either kind of sample
// (judged by their recent cost), and no later than maxGap after the last
// quick one.
func (s *SocketSampler) Due(now time.Time) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fullDue(now) {
		return true
	}
	return now.Sub(s.lastEnd) >= min(idle(s.quickCost), maxGap)
}

// fullDue reports whether the next sample is a full one: while they are
// cheap, or once the last has been followed by nine times its cost.
func (s *SocketSampler) fullDue(now time.Time) bool {
	return s.fullCost <= quickAbove || now.Sub(s.lastFull) >= s.fullCost+idle(s.fullCost)
}

// idle is the pause after a sample of the given cost that keeps to maxDuty.
func idle(cost time.Duration) time.Duration {
	return time.Duration(float64(cost) * (1/maxDuty - 1))
}

// NewSocketSampler opens a sock_diag socket and the namespace's TCP
// counters in the caller's network namespace. Ports outside lo..hi are not
// counted in PortsInUse unless both are 0.
func NewSocketSampler(lo, hi int) (*SocketSampler, error) {
	s := &SocketSampler{fd: -1, snmp: -1, sockstat: -1, lo: lo, hi: hi, buf: make([]byte, 1<<20), recentTW: recentTimeWait(ReuseDelay)}
	var err error
	if s.fd, err = unix.Socket(unix.AF_NETLINK, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, unix.NETLINK_INET_DIAG); err != nil {
		return nil, fmt.Errorf("sock_diag: %w", err)
	}
	// Connected to the kernel, so that requests are plain writes, which
	// allocate nothing.
	if err = unix.Connect(s.fd, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		s.Close()
		return nil, fmt.Errorf("sock_diag: %w", err)
	}
	// /proc/self/net is the namespace of the process that opens it (of
	// its main thread); the descriptors keep it whoever reads them later.
	if s.snmp, err = unix.Open("/proc/self/net/snmp", unix.O_RDONLY|unix.O_CLOEXEC, 0); err != nil {
		s.Close()
		return nil, fmt.Errorf("socket sampler: %w", err)
	}
	if s.sockstat, err = unix.Open("/proc/self/net/sockstat", unix.O_RDONLY|unix.O_CLOEXEC, 0); err != nil {
		s.Close()
		return nil, fmt.Errorf("socket sampler: %w", err)
	}
	return s, nil
}

// Close releases the netlink socket and the counters' files.
func (s *SocketSampler) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	var err error
	for _, fd := range []*int{&s.fd, &s.snmp, &s.sockstat} {
		if *fd >= 0 {
			err = errors.Join(err, unix.Close(*fd))
			*fd = -1
		}
	}
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

// Sample counts the namespace's TCP sockets (IPv4) by state: a full sample
// while full samples are cheap or when one is due, a quick one otherwise.
func (s *SocketSampler) Sample() (result.SocketStates, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.sample(s.fullDue(time.Now()))
}

// SampleFull counts every socket, and the ports in use, whatever it costs:
// for the moment of exhaustion.
func (s *SocketSampler) SampleFull() (result.SocketStates, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.sample(true)
}

func (s *SocketSampler) sample(full bool) (st result.SocketStates, err error) {
	if s.fd < 0 {
		return st, errors.New("sock_diag: sampler closed")
	}
	start := time.Now()
	defer func() {
		s.lastEnd = time.Now()
		cost := s.lastEnd.Sub(start)
		switch {
		case err != nil:
		case full:
			s.lastFull, s.fullCost = start, cost
		case s.quickCost == 0:
			s.quickCost = cost
		default:
			s.quickCost = (3*s.quickCost + cost) / 4
		}
	}()
	if full {
		if s.perDest == nil {
			s.perDest = make(map[netip.AddrPort]*destCount)
		}
		s.inFull = true
		err := s.dump(tcpfAll, &st)
		s.dests = nil
		if err == nil && len(s.perDest) <= maxSampledDestinations {
			s.dests = make([]result.DestinationSockets, 0, len(s.perDest))
			for dst, d := range s.perDest {
				s.dests = append(s.dests, result.DestinationSockets{Destination: dst, Sockets: d.states})
			}
			slices.SortFunc(s.dests, func(a, b result.DestinationSockets) int { return a.Destination.Compare(b.Destination) })
		}
		for dst, d := range s.perDest {
			s.spare = append(s.spare, d)
			delete(s.perDest, dst)
		}
		s.inFull, s.lastDest = false, nil
		return st, err
	}
	// Quick: the counters first, so that a socket leaving ESTABLISHED or
	// TIME_WAIT meanwhile is seen in the dump rather than missed.
	estab, tw, inuse, err := s.counters()
	if err != nil {
		return st, err
	}
	if s.fullCost > countAbove && !s.v6 {
		st.Established, st.TimeWait, st.Unsorted = estab, tw, max(0, inuse-estab)
		st.PortsInUse = result.PortsUncounted
		return st, nil
	}
	if err := s.dump(tcpfAll&^(1<<tcpEstablished|1<<tcpTimeWait), &st); err != nil {
		return st, err
	}
	// CurrEstab counts CLOSE_WAIT too, and tw counts the orphans that wait
	// in FIN_WAIT2 as timewait sockets, which the dump counted already.
	st.Established = max(0, estab-st.CloseWait)
	st.TimeWait = max(0, tw-s.twFinWait2)
	st.PortsInUse = result.PortsUncounted
	return st, nil
}

// dump asks the kernel for the sockets in the given states and counts
// them.
func (s *SocketSampler) dump(states uint32, st *result.SocketStates) error {
	clear(s.ports[:])
	s.twFinWait2 = 0
	if err := s.dumpFamily(unix.AF_INET, states, st); err != nil || !s.v6 {
		return err
	}
	return s.dumpFamily(unix.AF_INET6, states, st)
}

// dumpFamily counts one family's sockets in the given states.
func (s *SocketSampler) dumpFamily(family uint8, states uint32, st *result.SocketStates) error {
	s.seq++
	if err := s.request(family, states); err != nil {
		return err
	}
	for {
		n, err := unix.Read(s.fd, s.buf)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return fmt.Errorf("sock_diag: %w", err)
		}
		done, err := s.parse(s.buf[:n], st)
		if err != nil || done {
			return err
		}
	}
}

// counters reads the namespace's CurrEstab (ESTABLISHED and CLOSE_WAIT
// sockets) and its count of timewait sockets.
func (s *SocketSampler) counters() (estab, tw, inuse int, err error) {
	b, err := s.read(s.snmp)
	if err != nil {
		return 0, 0, 0, err
	}
	// "Tcp: RtoAlgorithm ... CurrEstab ..." then "Tcp: 1 200 ...".
	names, rest := nextLine(b, "Tcp: ")
	vals, _ := nextLine(rest, "Tcp: ")
	if estab, err = field(names, vals, "CurrEstab", 0); err != nil {
		return 0, 0, 0, err
	}
	if b, err = s.read(s.sockstat); err != nil {
		return 0, 0, 0, err
	}
	// "TCP: inuse 5 orphan 0 tw 3 alloc 7 mem 1".
	line, _ := nextLine(b, "TCP: ")
	if tw, err = field(line, line, "tw", 1); err != nil {
		return 0, 0, 0, err
	}
	if inuse, err = field(line, line, "inuse", 1); err != nil {
		return 0, 0, 0, err
	}
	return estab, tw, inuse, nil
}

// nextLine returns the first line of b that starts with prefix, and what
// follows it.
func nextLine(b []byte, prefix string) (line, rest []byte) {
	for len(b) > 0 {
		line, b, _ = bytes.Cut(b, []byte("\n"))
		if bytes.HasPrefix(line, []byte(prefix)) {
			return line, b
		}
	}
	return nil, nil
}

// field returns the number in vals at the index of name among the fields
// of names, plus skip: counters listed under a line of names (skip 0), or
// name-value pairs on one line (names and vals the same, skip 1).
func field(names, vals []byte, name string, skip int) (int, error) {
	want, i := -1, 0
	for f := range bytes.FieldsSeq(names) {
		if string(f) == name {
			want = i + skip
			break
		}
		i++
	}
	i = 0
	for v := range bytes.FieldsSeq(vals) {
		if i == want {
			return strconv.Atoi(string(v))
		}
		i++
	}
	return 0, fmt.Errorf("socket sampler: no %s in %q", name, names)
}

// read reads a whole /proc file into the sampler's buffer.
func (s *SocketSampler) read(fd int) ([]byte, error) {
	n := 0
	for {
		m, err := unix.Pread(fd, s.buf[n:], int64(n))
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("socket sampler: %w", err)
		}
		if m == 0 || n+m == len(s.buf) {
			return s.buf[:n+m], nil
		}
		n += m
	}
}

func (s *SocketSampler) request(family uint8, states uint32) error {
	var msg [nlmsgHdrLen + unsafe.Sizeof(inetDiagReqV2{})]byte
	binary.NativeEndian.PutUint32(msg[0:], uint32(len(msg)))
	binary.NativeEndian.PutUint16(msg[4:], sockDiagByFamily)
	binary.NativeEndian.PutUint16(msg[6:], unix.NLM_F_REQUEST|unix.NLM_F_DUMP)
	binary.NativeEndian.PutUint32(msg[8:], s.seq)
	req := (*inetDiagReqV2)(unsafe.Pointer(&msg[nlmsgHdrLen]))
	*req = inetDiagReqV2{Family: family, Protocol: unix.IPPROTO_TCP, States: states}
	if _, err := unix.Write(s.fd, msg[:]); err != nil {
		return fmt.Errorf("sock_diag: %w", err)
	}
	return nil
}

// parse counts the sockets in one datagram of replies; done reports the end
// of the dump.
func (s *SocketSampler) parse(b []byte, st *result.SocketStates) (done bool, err error) {
	return s.parseEach(b, func(m []byte) { s.count(m, st) })
}

// count adds one struct inet_diag_msg: state at byte 1, timer at byte 2,
// the source port (big-endian) at byte 4, the timer's milliseconds left at
// byte 52.
func (s *SocketSampler) count(m []byte, st *result.SocketStates) {
	state := m[1]
	if state == tcpFinWait2 && m[2] == timerTimewait {
		s.twFinWait2++
	}
	countState(st, state, state == tcpTimeWait && binary.NativeEndian.Uint32(m[52:]) > s.recentTW)
	if state == tcpListen {
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
	if s.inFull {
		s.countDest(m, state, uint16(port))
	}
}

// countDest buckets a socket of a full dump by its destination: the
// address at byte 24 (4 bytes for AF_INET, 16 for AF_INET6, by the family
// at byte 0), the port (big-endian) at byte 6.
func (s *SocketSampler) countDest(m []byte, state uint8, port uint16) {
	var addr netip.Addr
	switch m[0] {
	case unix.AF_INET:
		addr = netip.AddrFrom4([4]byte(m[24:28]))
	case unix.AF_INET6:
		addr = netip.AddrFrom16([16]byte(m[24:40])).Unmap()
	default:
		return
	}
	dst := netip.AddrPortFrom(addr, binary.BigEndian.Uint16(m[6:]))
	// Sockets come in runs to one destination: the last one first.
	d := s.lastDest
	if d == nil || s.lastDst != dst {
		d = s.perDest[dst]
	}
	if d == nil {
		if len(s.perDest) > maxSampledDestinations {
			return
		}
		if n := len(s.spare); n > 0 {
			d, s.spare = s.spare[n-1], s.spare[:n-1]
			*d = destCount{}
		} else {
			d = &destCount{}
		}
		s.perDest[dst] = d
	}
	s.lastDst, s.lastDest = dst, d
	countState(&d.states, state, false)
	if word, bit := port/64, uint64(1)<<(port%64); d.ports[word]&bit == 0 {
		d.ports[word] |= bit
		d.states.PortsInUse++
	}
}
