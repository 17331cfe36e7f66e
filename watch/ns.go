// Package watch samples a live network namespace, read-only, and reports
// its local ports per destination against each destination's budget: the
// ports in use (TIME_WAIT included), the new connections a second, the
// TIME_WAIT and CLOSE_WAIT sockets, and a projection of when the budget
// runs out at the current rate.
package watch

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"runtime"
	"strings"
	"time"

	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/portex/portex/loadgen"
	"github.com/portex/portex/result"
)

// ErrNoNamespace is the error of Open when the namespace to watch does not
// exist (no such file, no such process) or the file is not one.
var ErrNoNamespace = errors.New("no such network namespace")

// Namespace is a network namespace opened for sampling: a sock_diag socket
// and its two port sysctls, all opened inside it, so that they keep
// reading it from any thread.
type Namespace struct {
	sampler            *loadgen.SocketSampler
	portRange, reserve *os.File
}

// Open opens the network namespace at path (a /proc/PID/ns/net or a bind
// mount of one such as /run/netns/NAME; "" is the caller's own) for
// sampling. Entering another namespace takes CAP_SYS_ADMIN over it; the
// caller's own takes no privilege. Nothing is written.
func Open(path string) (*Namespace, error) {
	if path == "" {
		return open()
	}
	target, err := netns.GetFromPath(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("%w: %s", ErrNoNamespace, path)
		}
		return nil, fmt.Errorf("network namespace %s: %w", path, err)
	}
	defer target.Close()
	type opened struct {
		n   *Namespace
		err error
	}
	ch := make(chan opened, 1)
	// Sockets and /proc/sys/net files belong to the namespace of the
	// thread that opens them: open them on a thread locked into the
	// target, then bring the thread back.
	go func() {
		runtime.LockOSThread()
		own, err := netns.Get()
		if err != nil {
			runtime.UnlockOSThread()
			ch <- opened{err: fmt.Errorf("own network namespace: %w", err)}
			return
		}
		defer own.Close()
		if own.Equal(target) {
			runtime.UnlockOSThread()
			n, err := open()
			ch <- opened{n, err}
			return
		}
		if err := netns.Set(target); err != nil {
			runtime.UnlockOSThread()
			switch {
			case errors.Is(err, unix.EINVAL):
				err = fmt.Errorf("%w: %s is not one (%v)", ErrNoNamespace, path, err)
			case errors.Is(err, unix.EPERM):
				err = fmt.Errorf("enter network namespace %s: %w (it takes CAP_SYS_ADMIN over that namespace: run as root)", path, err)
			default:
				err = fmt.Errorf("enter network namespace %s: %w", path, err)
			}
			ch <- opened{err: err}
			return
		}
		n, err := open()
		if rerr := netns.Set(own); rerr != nil {
			// The thread stays locked, so Go ends it with this
			// goroutine rather than reuse it in the wrong namespace.
			if n != nil {
				n.Close()
			}
			ch <- opened{err: fmt.Errorf("leave network namespace %s: %w", path, rerr)}
			return
		}
		runtime.UnlockOSThread()
		ch <- opened{n, err}
	}()
	o := <-ch
	return o.n, o.err
}

// open opens the sampler and the sysctls in the calling thread's namespace.
func open() (*Namespace, error) {
	s, err := loadgen.NewSocketSampler(0, 0)
	if err != nil {
		return nil, err
	}
	n := &Namespace{sampler: s}
	if n.portRange, err = os.Open("/proc/sys/net/ipv4/ip_local_port_range"); err != nil {
		n.Close()
		return nil, err
	}
	if n.reserve, err = os.Open("/proc/sys/net/ipv4/ip_local_reserved_ports"); err != nil {
		n.Close()
		return nil, err
	}
	return n, nil
}

// Close releases the namespace's socket and files.
func (n *Namespace) Close() error {
	var err error
	if n.sampler != nil {
		err = n.sampler.Close()
	}
	for _, f := range []*os.File{n.portRange, n.reserve} {
		if f != nil {
			err = errors.Join(err, f.Close())
		}
	}
	return err
}

// Sample is one look at a namespace.
type Sample struct {
	At time.Time
	// Range is ip_local_port_range; Reserved ip_local_reserved_ports's
	// value; Bound the ports of the range, not reserved, that sockets
	// bound by bind() hold without a connection (listening, or bound and
	// unconnected), which no plain connect() takes toward any destination.
	Range    loadgen.PortRange
	Reserved string
	Bound    int
	// Budget is what each destination may use: the range less the
	// reserved and the bound ports.
	Budget int
	// Dests holds the client sockets per destination.
	Dests map[netip.AddrPort]*Dest
}

// Dest is one destination's client sockets in a sample.
type Dest struct {
	// States counts them by state; its PortsInUse is the distinct local
	// ports of the range they hold.
	States result.SocketStates
	// New counts the sockets not in the sample before (filled by Watcher).
	New     int
	cookies map[uint64]struct{}
}

// readSysctl reads a sysctl file opened earlier, from its start.
func readSysctl(f *os.File) (string, error) {
	buf := make([]byte, 4096)
	n, err := f.ReadAt(buf, 0)
	if n == 0 && err != nil {
		return "", fmt.Errorf("%s: %w", f.Name(), err)
	}
	return strings.TrimSpace(string(buf[:n])), nil
}

// Sample takes a full sock_diag dump of the namespace's IPv4 and IPv6
// sockets and reads its port sysctls (ip_local_port_range governs both).
func (n *Namespace) Sample() (*Sample, error) {
	rng, err := readSysctl(n.portRange)
	if err != nil {
		return nil, err
	}
	r, err := loadgen.ParseSysctlPortRange(rng)
	if err != nil {
		return nil, fmt.Errorf("ip_local_port_range %q: %w", rng, err)
	}
	reserved, err := readSysctl(n.reserve)
	if err != nil {
		return nil, err
	}
	var socks []loadgen.DiagSocket
	for _, family := range []uint8{unix.AF_INET, unix.AF_INET6} {
		if err := n.sampler.DumpSockets(family, true, func(d loadgen.DiagSocket) { socks = append(socks, d) }); err != nil {
			return nil, err
		}
	}
	return count(time.Now(), r, reserved, socks)
}

// count builds a sample from a dump: client sockets per destination, and
// the ports bind() keeps from every destination. A socket on a port some
// socket of the namespace listens on is an accepted one, not a client's.
func count(at time.Time, r loadgen.PortRange, reserved string, socks []loadgen.DiagSocket) (*Sample, error) {
	reservedSet, err := portSet(reserved, r)
	if err != nil {
		return nil, err
	}
	inRange := func(p uint16) bool { return int(p) >= r.Lo && int(p) <= r.Hi }
	listening := make(map[uint16]bool)
	bound := make(map[uint16]bool)
	for _, k := range socks {
		if k.Listening() || k.BoundInactive() {
			if k.Listening() {
				listening[k.Local.Port()] = true
			}
			if p := k.Local.Port(); inRange(p) && !reservedSet[p] {
				bound[p] = true
			}
		}
	}
	s := &Sample{At: at, Range: r, Reserved: reserved, Bound: len(bound), Dests: make(map[netip.AddrPort]*Dest)}
	ports := make(map[netip.AddrPort]map[uint16]bool)
	for _, k := range socks {
		if k.Listening() || k.BoundInactive() || listening[k.Local.Port()] || k.Remote.Port() == 0 {
			continue
		}
		d := s.Dests[k.Remote]
		if d == nil {
			d = &Dest{cookies: make(map[uint64]struct{})}
			s.Dests[k.Remote] = d
			ports[k.Remote] = make(map[uint16]bool)
		}
		k.AddTo(&d.States)
		d.cookies[k.Cookie] = struct{}{}
		if p := k.Local.Port(); inRange(p) && !ports[k.Remote][p] {
			ports[k.Remote][p] = true
			d.States.PortsInUse++
		}
	}
	s.Budget, err = loadgen.DestinationBudget(r, reserved, s.Bound)
	return s, err
}

// portSet is the ports of r that list (an ip_local_reserved_ports value)
// names.
func portSet(list string, r loadgen.PortRange) (map[uint16]bool, error) {
	set := make(map[uint16]bool)
	for item := range strings.SplitSeq(list, ",") {
		if item = strings.TrimSpace(item); item == "" {
			continue
		}
		var lo, hi int
		if _, err := fmt.Sscanf(item, "%d-%d", &lo, &hi); err != nil {
			if _, err := fmt.Sscanf(item, "%d", &lo); err != nil {
				return nil, fmt.Errorf("ip_local_reserved_ports %q: %q is not a port or a range lo-hi", list, item)
			}
			hi = lo
		}
		for p := max(lo, r.Lo); p <= min(hi, r.Hi); p++ {
			set[uint16(p)] = true
		}
	}
	return set, nil
}
