package loadgen

import (
	"strconv"
	"strings"
	"time"
)

// The sysctls that decide how long a connection pins its local port and
// how many ports connect() may use.
const (
	SysctlPortRange     = "net.ipv4.ip_local_port_range"
	SysctlReservedPorts = "net.ipv4.ip_local_reserved_ports"
	SysctlTwReuse       = "net.ipv4.tcp_tw_reuse"
	SysctlTwReuseDelay  = "net.ipv4.tcp_tw_reuse_delay"
	SysctlTimestamps    = "net.ipv4.tcp_timestamps"
	SysctlMaxTwBuckets  = "net.ipv4.tcp_max_tw_buckets"
)

// Kernel is what the client's and the server's sysctls say about the
// ports of one destination: how many connect() may use, and how long a
// closed connection keeps its port.
type Kernel struct {
	// Range is the client's ephemeral range; Reserved the ports of it
	// that ip_local_reserved_ports keeps from connect().
	Range    PortRange
	Reserved int
	// Reuse is set when connect() may take over the port of a TIME_WAIT
	// socket older than ReuseDelay (tcp_tw_reuse_delay).
	Reuse      bool
	ReuseDelay time.Duration
	// TimeWaitBuckets is the client namespace's tcp_max_tw_buckets: past
	// that many TIME_WAIT sockets the kernel closes a socket at once,
	// freeing its port. 0: unknown (the kernel's default scales with
	// memory and is far above any narrowed range).
	TimeWaitBuckets int
}

// KernelOf reads the Kernel from the client's and the server's sysctls
// (missing ones take the kernel's defaults). rng, if set, is the range
// the client dials from, over the client's sysctl.
func KernelOf(client, server map[string]string, loopback bool, rng PortRange) Kernel {
	k := Kernel{Range: rng, ReuseDelay: ReuseDelayOf(client), TimeWaitBuckets: sysctlInt(client, SysctlMaxTwBuckets, 0)}
	if k.Range.IsZero() {
		if r, err := ParseSysctlPortRange(client[SysctlPortRange]); err == nil {
			k.Range = r
		} else {
			k.Range = DefaultPortRange
		}
	}
	k.Reserved = ReservedPorts(client[SysctlReservedPorts], k.Range)
	k.Reuse = ReusesTimeWait(client, loopback) && sysctlInt(server, SysctlTimestamps, 1) != 0
	return k
}

// Budget is the ports one destination tuple can use: the range less the
// reserved ports.
func (k Kernel) Budget() int { return max(k.Range.Size()-k.Reserved, 0) }

// TimeWaitPin is how long a client close keeps the port after the
// connection ends: TIME_WAIT, or the reuse delay where ports are reused.
func (k Kernel) TimeWaitPin() time.Duration {
	if k.Reuse {
		return k.ReuseDelay
	}
	return TimeWait
}

// ReuseDelayOf is tcp_tw_reuse_delay, how old a TIME_WAIT socket must be
// before tcp_tw_reuse lets connect() take its port: the sysctl in
// milliseconds where the kernel has it, ReuseDelay otherwise.
func ReuseDelayOf(sysctls map[string]string) time.Duration {
	return time.Duration(sysctlInt(sysctls, SysctlTwReuseDelay, int(ReuseDelay/time.Millisecond))) * time.Millisecond
}

// ReservedPorts counts the ports of rng that list, an
// ip_local_reserved_ports value ("50000-50049,50100"), reserves. A list
// that does not parse counts none.
func ReservedPorts(list string, rng PortRange) int {
	if rng.Size() <= 0 {
		return 0
	}
	taken := make([]bool, rng.Size())
	n := 0
	for _, item := range strings.Split(strings.TrimSpace(list), ",") {
		if item == "" {
			continue
		}
		a, b, isRange := strings.Cut(strings.TrimSpace(item), "-")
		lo, err := strconv.Atoi(a)
		if err != nil {
			return 0
		}
		hi := lo
		if isRange {
			if hi, err = strconv.Atoi(b); err != nil {
				return 0
			}
		}
		for port := max(lo, rng.Lo); port <= min(hi, rng.Hi); port++ {
			if !taken[port-rng.Lo] {
				taken[port-rng.Lo] = true
				n++
			}
		}
	}
	return n
}

// KernelMoves reads the calling process's namespace's KernelCounters at
// each call and says which moved since the call before, by how much: what
// a time series' point carries. The zero value is ready; its first call
// returns nil.
type KernelMoves struct{ prev map[string]int64 }

// Moves returns the counters that moved since the last call; nil when
// none did, on the first call, or when they cannot be read.
func (k *KernelMoves) Moves() map[string]int64 {
	cur, err := ReadKernelCounters("/proc/self/net")
	if err != nil {
		return nil
	}
	prev := k.prev
	k.prev = cur
	if prev == nil {
		return nil
	}
	var moved map[string]int64
	for name, v := range cur {
		if d := v - prev[name]; d != 0 {
			if moved == nil {
				moved = make(map[string]int64)
			}
			moved[name] = d
		}
	}
	return moved
}
