// Package loadgen is the portex engine: it opens, holds, closes and leaks TCP
// connections as a Plan says, classifies every failure by errno, and records
// what happened. It also holds the bundled echo server.
//
// The engine never prints, exits, reads flags or knows about YAML: a Plan
// goes in, a Result and a stream of Events come out.
package loadgen

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"time"
)

// Plan is one variant of a scenario, fully resolved: defaults applied, units
// parsed. It is the engine's only input and crosses process and container
// boundaries as JSON.
type Plan struct {
	Scenario string        `json:"scenario"`
	Variant  string        `json:"variant"`
	Runtime  string        `json:"runtime"`
	Duration time.Duration `json:"duration"` // hard upper bound of the run
	Sandbox  Sandbox       `json:"sandbox"`
	Server   ServerPlan    `json:"server"`
	Pools    []Pool        `json:"pools"`
	// Programs run in the client's sandbox instead of the pools.
	Programs []Program `json:"programs,omitempty"`
	Stop     Stop      `json:"stop"`
	// NAT, if set, puts a router namespace between client and server
	// that translates the client's connections; nil: a direct link.
	NAT *NAT `json:"nat,omitempty"`
	// Family is the address family of the pools that name none; empty
	// means FamilyIPv4.
	Family Family `json:"family,omitempty"`
}

// Family is the address family a pool dials over.
type Family string

// The families.
const (
	FamilyIPv4 Family = "ipv4"
	FamilyIPv6 Family = "ipv6"
	// FamilyDual alternates the families dial by dial: half of the
	// connections over IPv4, half over IPv6, each family with a port
	// range of its own per destination address.
	FamilyDual Family = "dual"
)

// Valid reports whether f is a known family; empty is not.
func (f Family) Valid() bool {
	switch f {
	case FamilyIPv4, FamilyIPv6, FamilyDual:
		return true
	}
	return false
}

// IPv4 reports whether f dials over IPv4 (ipv4 or dual).
func (f Family) IPv4() bool { return f != FamilyIPv6 }

// IPv6 reports whether f dials over IPv6 (ipv6 or dual).
func (f Family) IPv6() bool { return f == FamilyIPv6 || f == FamilyDual }

// FamilyOf is the family pool pl dials over: its own, else the plan's,
// else FamilyIPv4.
func (p *Plan) FamilyOf(pl *Pool) Family {
	switch {
	case pl.Family != "":
		return pl.Family
	case p.Family != "":
		return p.Family
	}
	return FamilyIPv4
}

// UsesIPv6 reports whether some pool of the plan dials over IPv6.
func (p *Plan) UsesIPv6() bool {
	for i := range p.Pools {
		if p.FamilyOf(&p.Pools[i]).IPv6() {
			return true
		}
	}
	return false
}

// UsesIPv4 reports whether some pool of the plan dials over IPv4.
func (p *Plan) UsesIPv4() bool {
	for i := range p.Pools {
		if p.FamilyOf(&p.Pools[i]).IPv4() {
			return true
		}
	}
	return false
}

// NAT modes (NAT.Mode).
const (
	NATMasquerade = "masquerade" // the router's outgoing address, found per packet
	NATSNAT       = "snat"       // the router's server-side address, fixed in the rule
)

// NAT is a source NAT between client and server: every TCP connection
// leaves the router from one of its Addresses with a source port from
// Ports, so the router holds at most Ports.Size() connections per
// destination and NAT address.
type NAT struct {
	Ports PortRange `json:"ports"`
	Mode  string    `json:"mode"`
	// RandomFully picks each source port at random (NF_NAT_RANGE_PROTO_RANDOM_FULLY).
	RandomFully bool `json:"random_fully,omitempty"`
	// Addresses is how many addresses the NAT translates to, each with the
	// whole pool; 0 means 1. The kernel picks one per (client address,
	// destination address) by a hash, and keeps it: one client talking to
	// one destination uses one NAT address, however many there are.
	Addresses int `json:"addresses,omitempty"`
	// PerClientPorts, if set, gives each client address a fixed slice of
	// this many ports of the pool, in the order of the addresses (static
	// port allocation, as GCP Cloud NAT and Azure's outbound rules do).
	PerClientPorts int `json:"per_client_ports,omitempty"`
	// Conntrack are the router's connection-tracking settings.
	Conntrack NATConntrack `json:"conntrack,omitzero"`
}

// NATConntrack are a router's connection-tracking settings; the zero
// value of each keeps the kernel's.
type NATConntrack struct {
	// The nf_conntrack_tcp_timeout_* sysctls of the router's namespace:
	// how long an entry in that state stays in the table.
	TimeWait    time.Duration `json:"time_wait,omitempty"`
	Established time.Duration `json:"established,omitempty"`
	CloseWait   time.Duration `json:"close_wait,omitempty"`
	// Max is how many connections the router tracks at once. A network
	// namespace cannot set nf_conntrack_max (the kernel makes it read-only
	// outside the initial one), so a `ct count over Max drop` rule in the
	// router's forward chain stands in for a full table: a SYN beyond it
	// is dropped, as a full table drops it.
	Max int `json:"max,omitempty"`
}

// Sysctls are the router's conntrack timeouts as sysctls, in a fixed
// order; nil for none set.
func (c NATConntrack) Sysctls() [][2]string {
	var out [][2]string
	for _, s := range []struct {
		name string
		d    time.Duration
	}{
		{"net.netfilter.nf_conntrack_tcp_timeout_time_wait", c.TimeWait},
		{"net.netfilter.nf_conntrack_tcp_timeout_established", c.Established},
		{"net.netfilter.nf_conntrack_tcp_timeout_close_wait", c.CloseWait},
	} {
		if s.d > 0 {
			out = append(out, [2]string{s.name, strconv.FormatInt(int64(s.d.Round(time.Second)/time.Second), 10)})
		}
	}
	return out
}

// AddressCount is how many addresses the NAT has: Addresses, at least 1.
func (n *NAT) AddressCount() int { return max(1, n.Addresses) }

// Slice is the part of the NAT that client address i may use under
// PerClientPorts: the index of its NAT address and its ports. ok is false
// without static allocation, or for a client beyond the pool.
func (n *NAT) Slice(i int) (addr int, ports PortRange, ok bool) {
	k := n.PerClientPorts
	if k <= 0 {
		return 0, PortRange{}, false
	}
	perAddr := n.Ports.Size() / k
	if perAddr == 0 || i >= perAddr*n.AddressCount() {
		return 0, PortRange{}, false
	}
	lo := n.Ports.Lo + (i%perAddr)*k
	return i / perAddr, PortRange{Lo: lo, Hi: lo + k - 1}, true
}

// Check reports what is wrong with the NAT's settings.
func (n *NAT) Check() error {
	if n.Ports.Lo < 1 || n.Ports.Hi > 65535 || n.Ports.Hi < n.Ports.Lo {
		return fmt.Errorf("nat: ports %d-%d: want lo-hi within 1-65535", n.Ports.Lo, n.Ports.Hi)
	}
	if n.Mode != NATMasquerade && n.Mode != NATSNAT {
		return fmt.Errorf("nat: mode %q: want %s or %s", n.Mode, NATMasquerade, NATSNAT)
	}
	if n.Addresses < 0 || n.Addresses > MaxNATAddresses {
		return fmt.Errorf("nat: addresses %d: want 1 to %d", n.Addresses, MaxNATAddresses)
	}
	if n.Addresses > 1 && n.Mode == NATMasquerade {
		return fmt.Errorf("nat: addresses %d with mode masquerade: masquerade translates to the one address of the outgoing link; use mode snat", n.Addresses)
	}
	if k := n.PerClientPorts; k < 0 || k > n.Ports.Size() {
		return fmt.Errorf("nat: per_client_ports %d: want 1 to the pool's %d", k, n.Ports.Size())
	} else if k > 0 && n.Ports.Size()%k != 0 {
		return fmt.Errorf("nat: per_client_ports %d does not divide the pool's %d ports into whole slices", k, n.Ports.Size())
	}
	if c := n.Conntrack; c.Max < 0 || c.TimeWait < 0 || c.Established < 0 || c.CloseWait < 0 {
		return fmt.Errorf("nat: conntrack settings must not be negative")
	}
	return nil
}

// MaxNATAddresses bounds NAT.Addresses.
const MaxNATAddresses = 64

// Sandbox is the client side's kernel settings, applied inside the sandbox.
type Sandbox struct {
	// PortRange is net.ipv4.ip_local_port_range; the zero value leaves the
	// sandbox's default in place.
	PortRange PortRange `json:"port_range"`
	// Sysctls are further per-network-namespace sysctls, by dotted name.
	Sysctls map[string]string `json:"sysctls,omitempty"`
	// Nofile is RLIMIT_NOFILE for the load; 0 keeps the inherited limit.
	Nofile uint64 `json:"nofile,omitempty"`
	// Processes shares the load (and the echo server) out over that many
	// processes in the same namespaces, each with its own descriptor
	// limit; 0 chooses: one, or as many as the connections need when the
	// inherited limit cannot hold them.
	Processes int `json:"processes,omitempty"`
}

// PortRange is an inclusive range of local ports.
type PortRange struct {
	Lo int `json:"lo"`
	Hi int `json:"hi"`
}

// IsZero reports whether the range is unset.
func (r PortRange) IsZero() bool { return r.Lo == 0 && r.Hi == 0 }

// Size is the number of ports in the range.
func (r PortRange) Size() int {
	if r.IsZero() {
		return 0
	}
	return r.Hi - r.Lo + 1
}

// String formats the range as the sysctl file does: "lo hi".
func (r PortRange) String() string { return fmt.Sprintf("%d %d", r.Lo, r.Hi) }

// ServerPlan configures the bundled echo server.
type ServerPlan struct {
	Listeners []Listener `json:"listeners"`
	Backlog   int        `json:"backlog,omitempty"` // listen(2) backlog; 0 means the default
	// LingerReset makes the server close with RST (SO_LINGER {1, 0}).
	LingerReset bool              `json:"linger_reset,omitempty"`
	Sysctls     map[string]string `json:"sysctls,omitempty"` // the server namespace's sysctls
	// DropSYN is the share (0..1] of the SYNs to the listeners that the
	// server's namespace drops unanswered, as an unresponsive destination
	// or a firewall does; 0: none. The client's SYNs are retransmitted
	// until its connect_timeout or the kernel's tcp_syn_retries end them,
	// their ports held in SYN_SENT meanwhile.
	DropSYN float64 `json:"drop_syn,omitempty"`
	// Program, if set, is the user's server: it serves the listeners
	// marked Program, in place of the bundled server.
	Program *ServerProgram `json:"program,omitempty"`
}

// ServerProgram is a server of the user's, run in the server's namespace:
// its argv, with "{port}" standing for the first port it serves, and the
// variables it gets beside PORTEX_PORT (that port) and PORTEX_PORT_0, _1,
// ... (each port it serves). It must listen on every address (0.0.0.0 or
// ::) of those ports: portex waits until each accepts, ReadyTimeout at
// most.
type ServerProgram struct {
	Exec         []string          `json:"exec"`
	Env          map[string]string `json:"env,omitempty"`
	ReadyTimeout time.Duration     `json:"ready_timeout"`
}

// PortToken in a server program's argv stands for its first port.
const PortToken = "{port}"

// Argv is the server program's argv with PortToken replaced by port.
func (sp *ServerProgram) Argv(port int) []string {
	out := make([]string, len(sp.Exec))
	for i, a := range sp.Exec {
		out[i] = strings.ReplaceAll(a, PortToken, strconv.Itoa(port))
	}
	return out
}

// ProgramPorts are the ports the server program serves, in order.
func (s *ServerPlan) ProgramPorts() []int {
	var ports []int
	for _, l := range s.Listeners {
		if l.Program {
			ports = append(ports, l.Port)
		}
	}
	return ports
}

// Listener is one listening port of the echo server and how it treats its
// connections.
type Listener struct {
	Port int `json:"port"`
	// CloseFirst makes the server close a connection itself, after it has
	// echoed CloseAfterBytes bytes (0: right after accept), instead of
	// waiting for the client to close.
	CloseFirst      bool  `json:"close_first,omitempty"`
	CloseAfterBytes int64 `json:"close_after_bytes,omitempty"`
	// IdleClose, if set, makes the server close connections that were
	// idle that long: with ProtoHTTP, the keep-alive idle timeout.
	IdleClose time.Duration `json:"idle_close,omitempty"`
	// Protocol is what the server speaks on the port; "" is ProtoEcho.
	Protocol Protocol `json:"protocol,omitempty"`
	// KeepaliveRequests, with ProtoHTTP, is how many responses a
	// connection gets before the server closes it (the last one says
	// Connection: close); 0: no limit.
	KeepaliveRequests int `json:"keepalive_requests,omitempty"`
	// Program marks a port the user's server program (ServerPlan.Program)
	// serves: the bundled server does not listen on it.
	Program bool `json:"program,omitempty"`
}

// Protocol is what a listener of the bundled server speaks.
type Protocol string

// The protocols.
const (
	// ProtoEcho echoes every byte it reads.
	ProtoEcho Protocol = "echo"
	// ProtoHTTP answers every HTTP/1.1 request with a small 200 response,
	// keeping the connection alive unless the client, the version or
	// KeepaliveRequests says otherwise.
	ProtoHTTP Protocol = "http"
)

// HTTP reports whether the listener answers HTTP.
func (l Listener) HTTP() bool { return l.Protocol == ProtoHTTP }

// CloseMode says how a connection ends.
type CloseMode string

// The close modes.
const (
	CloseClient CloseMode = "client" // the client closes first (FIN): TIME_WAIT on the client
	CloseServer CloseMode = "server" // the server closes first: TIME_WAIT on the server
	CloseReset  CloseMode = "reset"  // SO_LINGER {1, 0}: RST, no TIME_WAIT
	CloseLeak   CloseMode = "leak"   // never closed until the run ends
	CloseKeep   CloseMode = "keep"   // kept open and reused: the keep-alive mitigation
)

// Valid reports whether m is a known close mode.
func (m CloseMode) Valid() bool {
	switch m {
	case CloseClient, CloseServer, CloseReset, CloseLeak, CloseKeep:
		return true
	}
	return false
}

// Pool is a group of workers sharing one connection lifecycle.
//
// Without Rate a pool is a closed model: Workers loops each open a
// connection, use it, close it and start over. With Rate it is an open
// model: connections arrive on an absolute schedule whatever happens to the
// earlier ones, at most MaxInFlight at a time; an arrival that finds no free
// slot is dropped and counted, never delayed.
type Pool struct {
	Name    string `json:"name"`
	Workers int    `json:"workers,omitempty"` // closed model: concurrent workers

	Rate        float64 `json:"rate,omitempty"`          // open model: arrivals per second at the start
	Ramp        []Stage `json:"ramp,omitempty"`          // then these rate stages, in order
	MaxInFlight int     `json:"max_in_flight,omitempty"` // open model: concurrent connections at most
	// Phase shifts the open model's schedule by that share of an
	// arrival, within [0, 1): the k-th arrival is due when k+Phase
	// arrivals are. Split sets it so that shards interleave.
	Phase float64 `json:"phase,omitempty"`

	// Start delays the pool from the start of the run; Duration, if set,
	// stops it that long after its start.
	Start    time.Duration `json:"start,omitempty"`
	Duration time.Duration `json:"duration,omitempty"`

	Messages       int           `json:"messages"`           // echo exchanges per connection; 0 = connect only
	Payload        int           `json:"payload"`            // bytes per message
	Interval       time.Duration `json:"interval,omitempty"` // pause between messages
	Hold           Hold          `json:"hold"`
	Close          CloseMode     `json:"close"`
	ConnectTimeout time.Duration `json:"connect_timeout"`
	// PoolSize is how many connections a keep-alive pool (Close "keep")
	// shares among its workers or arrivals.
	PoolSize int `json:"pool_size,omitempty"`
	// Leak is the share of connections (0..1) never closed until the run
	// ends, as an application that forgets to close would.
	Leak float64 `json:"leak,omitempty"`

	// Ports are the server ports this pool dials, in turn. Pools that ask
	// the server to close first dial a listener of their own.
	Ports []int `json:"ports"`
	// Sources is how many of the client's source addresses the pool dials
	// from, in turn; 0 or 1: the primary address, chosen by the kernel.
	Sources int `json:"sources,omitempty"`
	// Bind says how a socket gets its local address.
	Bind BindMode `json:"bind,omitempty"`
	// Family is the address family the pool dials over; empty: the
	// plan's (see Plan.FamilyOf).
	Family Family `json:"family,omitempty"`
}

// Stage is one step of a rate ramp: the rate moves linearly from where the
// previous stage ended to To over Over.
type Stage struct {
	To   float64       `json:"to"`
	Over time.Duration `json:"over"`
}

// Open reports whether the pool is an open model (arrivals at a rate).
func (p *Pool) Open() bool { return p.Rate > 0 || len(p.Ramp) > 0 }

// BindMode says whether and how a socket is bound before connect().
type BindMode string

// The bind modes.
const (
	// BindAuto: plain connect(), the kernel picks address and port; with
	// several source addresses, as BindNoPort.
	BindAuto BindMode = "auto"
	// BindBeforeConnect: bind() to port 0 first, as Go does for any
	// Dialer.LocalAddr. The port is then reserved for every destination,
	// and the range runs out after one range's worth of connections, with
	// EADDRINUSE.
	BindBeforeConnect BindMode = "before_connect"
	// BindNoPort: bind() the address with IP_BIND_ADDRESS_NO_PORT, so that
	// connect() picks the port and shares it across destinations.
	BindNoPort BindMode = "no_port"
)

// HoldKind says how a hold time is drawn.
type HoldKind string

// The hold kinds.
const (
	HoldFixed   HoldKind = "fixed"
	HoldForever HoldKind = "forever"
	HoldUniform HoldKind = "uniform" // uniform in [Min, Max]
	HoldExp     HoldKind = "exp"     // exponential with mean Min
)

// Hold is how long a connection stays open after its messages.
type Hold struct {
	Kind HoldKind      `json:"kind"`
	Min  time.Duration `json:"min,omitempty"`
	Max  time.Duration `json:"max,omitempty"`
}

// Forever reports whether the hold never ends on its own.
func (h Hold) Forever() bool { return h.Kind == HoldForever }

// Draw returns one hold time. It is meaningless for Forever.
func (h Hold) Draw(r *rand.Rand) time.Duration {
	switch h.Kind {
	case HoldUniform:
		if h.Max <= h.Min {
			return h.Min
		}
		return h.Min + time.Duration(r.Int64N(int64(h.Max-h.Min)+1))
	case HoldExp:
		return time.Duration(r.ExpFloat64() * float64(h.Min))
	default:
		return h.Min
	}
}

// Mean is the hold's average; meaningless for Forever.
func (h Hold) Mean() time.Duration {
	if h.Kind == HoldUniform {
		return (h.Min + h.Max) / 2
	}
	return h.Min
}

// String formats the hold as a scenario would write it.
func (h Hold) String() string {
	switch h.Kind {
	case HoldForever:
		return "forever"
	case HoldUniform:
		return fmt.Sprintf("uniform(%s,%s)", h.Min, h.Max)
	case HoldExp:
		return fmt.Sprintf("exp(%s)", h.Min)
	default:
		return h.Min.String()
	}
}

// Connections is an upper bound of the connections the plan holds at once
// (leaks aside): workers, in-flight arrivals, keep-alive pools, each pool
// bounded by its port budget (see Concurrency).
func (p *Plan) Connections() int {
	n := 0
	for i := range p.Pools {
		pl := &p.Pools[i]
		switch {
		case pl.Close == CloseKeep:
			n += min(pl.PoolSize, p.Concurrency(pl))
		default:
			n += p.Concurrency(pl)
		}
	}
	return n
}

// BufferBytes is the memory pool pl's workers hold for their messages: two
// payload buffers each (the message out, the echo in), for as many workers
// as the pool runs at once (see Concurrency).
func (p *Plan) BufferBytes(pl *Pool) int64 {
	if pl.Messages == 0 {
		return 0
	}
	return int64(p.Concurrency(pl)) * 2 * int64(pl.Payload)
}

// SlotHeadroom is how many connect attempts beyond its port budget a pool
// may have under way: an attempt that finds no free port fails at once
// (EADDRNOTAVAIL), so a few are enough to keep the failures coming at the
// offered rate.
const SlotHeadroom = 1024

// PortBudget is the most connections pool pl can hold at once: one per
// local port of the range (the whole port space when the range is not
// narrowed) and destination tuple (server port and source address). It is
// an upper bound: reserved ports and bind() take from it.
func (p *Plan) PortBudget(pl *Pool) int {
	size := p.Sandbox.PortRange.Size()
	if size <= 0 {
		size = 65536
	}
	n := size * max(1, len(pl.Ports)) * max(1, pl.Sources)
	if p.FamilyOf(pl) == FamilyDual {
		n *= 2 // a range per family
	}
	return n
}

// Concurrency is how many connections pool pl works on at once: its
// max_in_flight (open model) or its workers (closed model), but no more
// than its port budget and SlotHeadroom. More could only fail for want of
// a port, and would cost memory, goroutines and processes sized to a load
// the range cannot hold.
func (p *Plan) Concurrency(pl *Pool) int {
	n := pl.Workers
	if pl.Open() {
		n = pl.MaxInFlight
	}
	return min(n, p.PortBudget(pl)+SlotHeadroom)
}

// MaxSources bounds the source addresses a pool can use.
const MaxSources = 64

// Sources returns how many source addresses the plan's pools need.
func (p *Plan) Sources() int {
	n := 1
	for _, pl := range p.Pools {
		n = max(n, pl.Sources)
	}
	return n
}

// StopOn names the condition that ends a run before its duration.
type StopOn string

// The stop conditions.
const (
	StopOnExhaustion   StopOn = "exhaustion"    // the first EADDRNOTAVAIL (or EADDRINUSE from bind)
	StopOnFirstFailure StopOn = "first_failure" // the first failure of any class
	StopNever          StopOn = "never"         // run for the whole duration
	// StopOnVerdict ends the run as soon as its verdict is known: at
	// exhaustion, or once ports in use have stayed flat below the budget
	// for a full cycle (see FindSteady). The duration bounds it.
	StopOnVerdict StopOn = "verdict"
)

// Stop says when a run ends early.
type Stop struct {
	On StopOn `json:"on"`
	// AfterFailures, if positive, also ends the run after that many
	// failures of any class.
	AfterFailures int64 `json:"after_failures,omitempty"`
}

// check reports why the server cannot serve the listener as it says.
func (l Listener) check() error {
	switch l.Protocol {
	case "", ProtoEcho:
		if l.KeepaliveRequests != 0 {
			return fmt.Errorf("plan: server port %d: keepalive_requests is for protocol http", l.Port)
		}
	case ProtoHTTP:
		if l.CloseFirst {
			return fmt.Errorf("plan: server port %d: an http listener closes by keepalive_requests and idle_close, not close_first", l.Port)
		}
		if l.KeepaliveRequests < 0 {
			return fmt.Errorf("plan: server port %d: negative keepalive_requests", l.Port)
		}
	default:
		return fmt.Errorf("plan: server port %d: unknown protocol %q", l.Port, l.Protocol)
	}
	return nil
}

// DecodePlan reads a Plan from JSON and checks that the engine can run it.
// Unknown fields are errors: a plan is a contract, not a hint.
func DecodePlan(data []byte) (*Plan, error) {
	var p Plan
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&p); err != nil {
		return nil, fmt.Errorf("decode plan: %w", err)
	}
	if err := p.Check(); err != nil {
		return nil, err
	}
	return &p, nil
}

// Check reports the first reason the engine cannot run p. The scenario
// loader reports problems with file positions; Check is the engine's own
// defence against plans from elsewhere.
func (p *Plan) Check() error {
	if p.Duration <= 0 {
		return fmt.Errorf("plan: duration must be positive, got %s", p.Duration)
	}
	if r := p.Sandbox.PortRange; !r.IsZero() && (r.Lo < 1024 || r.Hi > 65535 || r.Lo > r.Hi) {
		return fmt.Errorf("plan: port range %d-%d is not within 1024-65535 in increasing order", r.Lo, r.Hi)
	}
	if p.NAT != nil {
		if err := p.NAT.Check(); err != nil {
			return fmt.Errorf("plan: %w", err)
		}
		if k := p.NAT.PerClientPorts; k > 0 {
			if slices := p.NAT.Ports.Size() / k * p.NAT.AddressCount(); p.Sources() > slices {
				return fmt.Errorf("plan: nat: per_client_ports %d gives %d slices, fewer than the %d client addresses", k, slices, p.Sources())
			}
		}
	}
	if sp := p.Server.Program; sp != nil && (len(sp.Exec) == 0 || sp.Exec[0] == "" || sp.ReadyTimeout <= 0 || len(p.Server.ProgramPorts()) == 0) {
		return fmt.Errorf("plan: server program: want a command, a ready timeout and a port to serve")
	}
	if p.Family != "" && !p.Family.Valid() {
		return fmt.Errorf("plan: unknown family %q: want ipv4, ipv6 or dual", p.Family)
	}
	if d := p.Server.DropSYN; d < 0 || d > 1 || d != d {
		return fmt.Errorf("plan: server drop_syn %v: want a share within 0..1", d)
	}
	listening := make(map[int]bool)
	httpPort := make(map[int]bool)
	for _, l := range p.Server.Listeners {
		if l.Port < 1 || l.Port > 65535 {
			return fmt.Errorf("plan: server port %d is not within 1-65535", l.Port)
		}
		if err := l.check(); err != nil {
			return err
		}
		listening[l.Port] = true
		httpPort[l.Port] = l.HTTP()
	}
	if err := checkPrograms(p); err != nil {
		return err
	}
	if len(p.Pools) == 0 && len(p.Programs) == 0 {
		return fmt.Errorf("plan: no pools and no programs")
	}
	for _, pl := range p.Pools {
		switch {
		case !pl.Open() && pl.Workers < 1:
			return fmt.Errorf("plan: pool %q: workers must be at least 1", pl.Name)
		case pl.Open() && pl.MaxInFlight < 1:
			return fmt.Errorf("plan: pool %q: max_in_flight must be at least 1", pl.Name)
		case pl.Rate < 0:
			return fmt.Errorf("plan: pool %q: negative rate", pl.Name)
		case pl.Phase < 0 || pl.Phase >= 1:
			return fmt.Errorf("plan: pool %q: phase %v is not within [0, 1)", pl.Name, pl.Phase)
		case pl.Close == CloseKeep && pl.PoolSize < 1:
			return fmt.Errorf("plan: pool %q: a keep-alive pool needs a pool_size of at least 1", pl.Name)
		case pl.Leak < 0 || pl.Leak > 1:
			return fmt.Errorf("plan: pool %q: leak %v is not a share between 0 and 1", pl.Name, pl.Leak)
		case pl.Messages < 0 || pl.Payload < 0:
			return fmt.Errorf("plan: pool %q: messages and payload cannot be negative", pl.Name)
		case pl.Messages > 0 && pl.Payload < 1:
			return fmt.Errorf("plan: pool %q: messages need a payload of at least 1 byte", pl.Name)
		case !pl.Close.Valid():
			return fmt.Errorf("plan: pool %q: unknown close mode %q", pl.Name, pl.Close)
		case len(pl.Ports) == 0:
			return fmt.Errorf("plan: pool %q: no server ports to dial", pl.Name)
		case pl.Sources < 0 || pl.Sources > MaxSources:
			return fmt.Errorf("plan: pool %q: sources %d is not within 0-%d", pl.Name, pl.Sources, MaxSources)
		}
		if pl.Family != "" && !pl.Family.Valid() {
			return fmt.Errorf("plan: pool %q: unknown family %q: want ipv4, ipv6 or dual", pl.Name, pl.Family)
		}
		switch pl.Bind {
		case "", BindAuto, BindBeforeConnect, BindNoPort:
		default:
			return fmt.Errorf("plan: pool %q: unknown bind mode %q", pl.Name, pl.Bind)
		}
		for _, st := range pl.Ramp {
			if st.To < 0 || st.Over <= 0 {
				return fmt.Errorf("plan: pool %q: a ramp stage needs a rate >= 0 and a positive time", pl.Name)
			}
		}
		for _, port := range pl.Ports {
			if !listening[port] {
				return fmt.Errorf("plan: pool %q: port %d has no listener", pl.Name, port)
			}
			if httpPort[port] && pl.Messages > 0 {
				return fmt.Errorf("plan: pool %q: port %d answers HTTP, and pools exchange echo messages only; "+
					"a pool dialing it must be connect-only (messages 0)", pl.Name, port)
			}
		}
	}
	switch p.Stop.On {
	case StopOnExhaustion, StopOnFirstFailure, StopNever, StopOnVerdict:
	default:
		return fmt.Errorf("plan: unknown stop condition %q", p.Stop.On)
	}
	return nil
}
