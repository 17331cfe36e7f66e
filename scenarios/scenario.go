// Package scenarios reads portex scenarios: YAML files that say which
// sandbox, server and pools of workers a run uses, when it stops, and
// which variants of it to run. It decodes them strictly, reports every
// problem at once with its file, line and column, applies defaults, and
// compiles a scenario to the engine's plans (loadgen.Plan), one per
// variant. It also holds the bundled scenario library.
//
// Decoding is strict: unknown keys (with the closest known key suggested),
// duplicate keys, values of the wrong type, several YAML documents in one
// file, text that is not UTF-8 and files over 1 MiB are all problems.
// Anchors, aliases and tags outside YAML's core schema are refused rather
// than expanded: a scenario is short enough to write out, and refusing them
// keeps loading bounded on any input.
//
// # Scenario reference
//
// Durations are Go's (500ms, 10s, 1m30s); sizes are bytes with an optional
// unit (64, 64B, 4KB = 4000, 1KiB = 1024, 1MiB); rates are a number per
// second or per minute (200/s, 30/m, 2.5/s); shares are percentages (5%).
//
//	name               required; [a-z0-9][a-z0-9-]*, at most 64 characters
//	description        what the scenario shows and what to look at
//	duration           upper bound of each run; default 30s, at most 24h
//	runtime            netns (default) or docker
//	family             ipv4 (default), ipv6 or dual (every other dial over each):
//	                   the pools' address family; netns only, without a nat
//	sandbox:
//	  port_range       the client's ephemeral range, "lo-hi" within 1024-65535; default: the sandbox's
//	  sysctls          per-network-namespace sysctls of the client (see AllowedSysctls)
//	  nofile           RLIMIT_NOFILE of the load, 16..1048576; default: inherited
//	server:
//	  port             first plain listener; default 7000
//	  ports            plain listeners port .. port+ports-1; default 1, at most 1000
//	  backlog          listen(2) backlog; default 0: the engine's
//	  linger           default (close with FIN) or reset (RST: no TIME_WAIT on the server)
//	  sysctls          the server namespace's sysctls, same allowlist
//	  close            when the server closes first on its plain listeners:
//	                   client (default: never, it waits for the client),
//	                   {after_messages: N} (after echoing N messages of the pools'
//	                   payload; 0: right after accept; the pools dialing plain
//	                   listeners must then share one payload), {idle: 2s}
//	                   (connections idle that long), or both keys; echo only
//	  protocol         what the plain listeners speak: echo (default) or http (any
//	                   HTTP/1.1 request gets a small 200 response, the connection
//	                   kept alive unless the client asks for close); pools dialing
//	                   an http server must be connect-only (messages: 0)
//	  keepalive_requests  http: responses per connection before the server closes
//	                   it (the last says Connection: close); default 0: no limit
//	  idle_timeout     http: the server closes a keep-alive connection idle that
//	                   long; default 0s: never
//	pools:             required, 1 to 256; each:
//	  name             required; [a-z0-9][a-z0-9_-]*, unique
//	  workers          closed model: that many loops, each one connection after
//	                   another; default 1
//	  rate             open model: arrivals per second on an absolute schedule,
//	                   whatever happens to earlier ones; excludes workers
//	  ramp             open model: rate stages after rate, each {to: 400/s, over: 10s},
//	                   the rate moving linearly; without rate it starts at 0/s
//	  max_in_flight    open model: connections at once at most; an arrival that
//	                   finds that many busy is dropped and counted; default 1000
//	  start            delay from the start of the run; default 0s
//	  duration         how long the pool runs from its start; default: to the end
//	  messages         echo exchanges per connection; default 1, 0 = connect only
//	  payload          bytes per message; default 64
//	  interval         pause between messages; default 0s
//	  hold             how long a connection stays open after its messages: a
//	                   duration, forever, uniform(1s,5s) or exp(2s) (mean); default 0s
//	  close            client (default: FIN, TIME_WAIT on the client), server (the
//	                   server closes first on listeners of its own, above the
//	                   plain ones, one per destination, after messages×payload
//	                   bytes), reset (RST, no TIME_WAIT), leak (never closed until
//	                   the run ends), keep (keep-alive: connections reused)
//	  pool_size        close keep only: connections the pool shares; default: workers,
//	                   or max_in_flight in an open pool
//	  leak             share of connections never closed, like 5%; default 0%
//	  connect_timeout  default 5s
//	  destinations     server ports dialed in turn, port .. port+destinations-1;
//	                   default 1; at most server.ports (close server: own listeners)
//	  source_addresses client addresses dialed from in turn, 1..64; default 1
//	  bind             auto (default: plain connect(); with several source addresses
//	                   as no_port), before_connect (bind() to port 0 first: the port is
//	                   reserved for every destination, EADDRINUSE when out),
//	                   no_port (bind() with IP_BIND_ADDRESS_NO_PORT)
//	  family           ipv4, ipv6 or dual; default: the scenario's family
//	stop:
//	  on               exhaustion (default: the first time a pool finds every
//	                   destination out of ports), first_failure, never
//	  after_failures   also stop after that many failures of any class; default 0: no limit
//	variants:          a list of at most 100; each one run:
//	  name             required; [a-z0-9][a-z0-9_-]*, unique
//	  description      what it changes, and why
//	  duration         replaces the scenario's
//	  sandbox          keys as above; replace the scenario's, except sysctls, which
//	                   add to the scenario's (a variant that sets tcp_tw_reuse
//	                   keeps the scenario's other sysctls)
//	  server           as sandbox
//	  pools            a list of changes, each naming a pool of the scenario and
//	                   setting some of its keys; workers and rate switch the
//	                   pool's model
//	  stop             keys as above
//
// A scenario without variants runs once, as variant "default". A scenario
// with variants runs first as written, as variant "baseline", so that
// every variant is compared with it, then each variant in file order;
// a variant named "baseline" takes the place of that first run (and runs
// where it is in the file). "portex run --variant" picks some.
//
// Expectations ("expect": exhausted, within, dials_ok, failures,
// p99_connect, p50_schedule_lag, p99_schedule_lag, max_time_wait) are
// checked after each run, and fail the exit code with 1; a variant's
// expect replaces the scenario's.
package scenarios

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"slices"
	"syscall"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/portex/portex/analysis"
	"github.com/portex/portex/loadgen"
)

// maxSize is the largest scenario file Parse and Load accept.
const maxSize = 1 << 20

// Scenario is one scenario file, decoded, with defaults applied. Parse
// returns only valid scenarios; Plans validates again, so a Scenario built
// or changed in code is checked too, but only Parse applies the defaults.
//
// Variants hold their overrides as written; Plans decodes each onto a deep
// copy of the scenario (the decoder writes only the keys that are
// present), validates the copy and compiles it. So a change made in code to
// the scenario reaches every variant that does not override it.
type Scenario struct {
	File        string        // where it was read from, for messages
	Name        string        // [a-z0-9][a-z0-9-]*, at most 64 characters
	Description string        // what it shows and what to look at
	Duration    time.Duration // upper bound of a run; default 30s
	Runtime     string        // "netns" (default) or "docker"
	Sandbox     Sandbox
	Server      Server
	Pools       []Pool
	// Programs are the user's programs run in the client's sandbox, in
	// place of pools.
	Programs []Program
	Stop     Stop
	// NAT puts a source NAT between client and server; nil: none.
	NAT *NAT
	// Family is the pools' address family unless a pool names its own;
	// empty: ipv4.
	Family loadgen.Family
	// Expect is what a run must show; nil: nothing is checked.
	Expect *analysis.Expect
	// Variants are named sets of overrides, one run each; see
	// VariantNames for the runs they make.
	Variants []Variant

	values map[string]pos // where each key path's value is written
	keys   map[string]pos // where each key path's key is written

	// In a variant's copy of the scenario: the key paths the variant
	// wrote (the scenario's paths) and the variant's paths for them.
	written map[string]pos
	rename  map[string]string
}

// DefaultReadyTimeout is how long portex waits for a server program's
// ports to accept when server.ready_timeout is not set.
const DefaultReadyTimeout = 10 * time.Second

// NAT is a source NAT in a router namespace between client and server:
// the engine's type, as the scenario writes it.
type NAT = loadgen.NAT

// Sandbox is the client side's kernel settings.
type Sandbox struct {
	// PortRange narrows net.ipv4.ip_local_port_range; zero keeps the default.
	PortRange loadgen.PortRange
	// Sysctls are further per-network-namespace sysctls, by dotted name;
	// see AllowedSysctls.
	Sysctls map[string]string
	// Nofile is RLIMIT_NOFILE for the load; 0 keeps the inherited limit.
	Nofile int
	// Processes shares the load over that many client processes (and the
	// echo server over as many); 0 lets portex choose.
	Processes int
}

// Server is the bundled echo server's settings.
type Server struct {
	// Port is the first of the plain listeners, the ports that pools dial
	// unless they ask the server to close first; default 7000.
	Port int
	// Ports is how many plain listeners there are: Port .. Port+Ports-1;
	// default 1.
	Ports int
	// Backlog is the listen(2) backlog; 0 leaves the engine's default.
	Backlog int
	// LingerReset makes the server close with RST (SO_LINGER {1, 0}).
	LingerReset bool
	// Sysctls are the server namespace's sysctls; see AllowedSysctls.
	Sysctls map[string]string
	// Close says when the server closes connections on its plain
	// listeners itself.
	Close ServerClose
	// Protocol is what the plain listeners speak: echo (also "") or http.
	Protocol loadgen.Protocol
	// KeepaliveRequests, with protocol http, is how many responses a
	// connection gets before the server closes it; 0: no limit.
	KeepaliveRequests int
	// IdleTimeout, with protocol http, makes the server close a
	// keep-alive connection idle that long; 0: never.
	IdleTimeout time.Duration
	// DropSYN is the share of SYNs the server's namespace drops
	// unanswered (drop_syn: true is 1).
	DropSYN float64
	// Exec, if set, is the user's server, run in the server's namespace
	// on the plain ports in place of the bundled one, with Env; portex
	// waits ReadyTimeout at most (0: DefaultReadyTimeout) for each port
	// to accept.
	Exec         []string
	Env          map[string]string
	ReadyTimeout time.Duration
}

// ServerClose says when the server closes a connection on a plain listener
// before the client does. The zero value waits for the client.
type ServerClose struct {
	// AfterMessages, if set, makes the server close after echoing that
	// many messages (0: right after accept).
	AfterMessages *int
	// Idle, if positive, makes the server close connections idle that long.
	Idle time.Duration
}

// ClientFirst reports whether the server waits for the client to close.
func (c ServerClose) ClientFirst() bool { return c.AfterMessages == nil && c.Idle == 0 }

// Pool is a group of workers sharing one connection lifecycle. It is a
// closed model (Workers loops, each one connection after another) unless
// Rate or Ramp make it an open one (arrivals on a schedule, at most
// MaxInFlight at a time).
type Pool struct {
	Name        string          // [a-z0-9][a-z0-9_-]*, unique in the scenario
	Workers     int             // closed model: concurrent workers; default 1, 0 in an open pool
	Rate        float64         // open model: arrivals per second at the start
	Ramp        []loadgen.Stage // open model: then these rate stages, in order
	MaxInFlight int             // open model: connections at once at most; default 1000

	Start    time.Duration // delay from the start of the run; default 0s
	Duration time.Duration // how long the pool runs from its start; 0: to the end of the run

	Messages       int               // echo exchanges per connection; default 1, 0 = connect only
	Payload        int               // bytes per message; default 64
	Interval       time.Duration     // pause between messages; default 0s
	Hold           loadgen.Hold      // how long a connection stays open after its messages; default 0s
	Close          loadgen.CloseMode // how a connection ends; default client
	PoolSize       int               // close keep: connections shared; 0: Workers or MaxInFlight
	Leak           float64           // share of connections (0..1) never closed; default 0
	ConnectTimeout time.Duration     // default 5s

	Destinations    int              // server ports dialed in turn; default 1
	SourceAddresses int              // client addresses dialed from in turn; default 1
	Bind            loadgen.BindMode // how a socket gets its local address; default auto
	Family          loadgen.Family   // the address family dialed; empty: the scenario's
}

// Open reports whether the pool is an open model: arrivals at a rate.
func (p *Pool) Open() bool { return p.Rate > 0 || len(p.Ramp) > 0 }

// Stop says when a run ends before its duration: the plan's own type.
// On defaults to exhaustion; AfterFailures 0 sets no limit.
type Stop = loadgen.Stop

// Variant is a named set of overrides of the scenario: one run.
type Variant struct {
	Name        string // [a-z0-9][a-z0-9_-]*, unique among the variants
	Description string // what it changes, and why

	// overrides are the variant's keys other than name and description,
	// as written, in file order.
	overrides []override
	node      *yaml.Node // the whole variant, to tell its problems from the scenario's
}

// override is one key a variant sets and its value.
type override struct {
	key   string
	at    pos // where the key is written
	value *yaml.Node
}

// DefaultMaxInFlight bounds an open pool's connections in flight when it
// does not say: an arrival that finds that many busy is dropped and counted.
const DefaultMaxInFlight = 1000

// defaultScenario is a scenario before its file is decoded onto it.
func defaultScenario(file string) *Scenario {
	return &Scenario{
		File:     file,
		Duration: 30 * time.Second,
		Runtime:  "netns",
		Server:   Server{Port: 7000, Ports: 1},
		Stop:     Stop{On: loadgen.StopOnExhaustion},
	}
}

// defaultPool is a pool before its entry is decoded onto it.
func defaultPool() Pool {
	return Pool{
		Workers:         1,
		MaxInFlight:     DefaultMaxInFlight,
		Messages:        1,
		Payload:         64,
		Hold:            loadgen.Hold{Kind: loadgen.HoldFixed},
		Close:           loadgen.CloseClient,
		ConnectTimeout:  5 * time.Second,
		Destinations:    1,
		SourceAddresses: 1,
		Bind:            loadgen.BindAuto,
	}
}

// clone returns a deep copy of s without its variants: what a variant's
// overrides are decoded onto.
func (s *Scenario) clone() *Scenario {
	c := *s
	c.Variants = nil
	c.Sandbox.Sysctls = maps.Clone(s.Sandbox.Sysctls)
	c.Server.Sysctls = maps.Clone(s.Server.Sysctls)
	if s.Server.Close.AfterMessages != nil {
		n := *s.Server.Close.AfterMessages
		c.Server.Close.AfterMessages = &n
	}
	c.Pools = slices.Clone(s.Pools)
	for i := range c.Pools {
		c.Pools[i].Ramp = slices.Clone(c.Pools[i].Ramp)
	}
	c.values, c.keys = make(map[string]pos, len(s.values)), make(map[string]pos, len(s.keys))
	maps.Copy(c.values, s.values)
	maps.Copy(c.keys, s.keys)
	return &c
}

// Parse decodes and validates one scenario. file names the data in
// problems only. Every error it returns is a Problems value.
func Parse(file string, data []byte) (s *Scenario, err error) {
	defer func() {
		// The last line of defence: the fuzz test checks it is never reached.
		if r := recover(); r != nil {
			s, err = nil, Problems{{File: file, Msg: fmt.Sprintf("internal error while reading the scenario (please report it): %v", r)}}
		}
	}()
	c := newCollector(file)
	root := document(c, data)
	if root == nil {
		return nil, c.err()
	}
	s = defaultScenario(file)
	d := newDecoder(c)
	d.scenario(root, s)
	s.values, s.keys = d.values, d.keys
	s.resolve(c)
	if err := c.err(); err != nil {
		return nil, err
	}
	return s, nil
}

// Load reads and parses the scenario file at path. Every error it returns
// is a Problems value, a missing file's too.
func Load(path string) (*Scenario, error) {
	data, msg := readFile(path)
	if msg != "" {
		return nil, Problems{{File: path, Msg: msg}}
	}
	return Parse(path, data)
}

// readFile reads at most maxSize bytes of the file at path, or says why it
// cannot. Only a regular file is read: opening a FIFO blocks until a
// writer comes, and reading a device may never end. The file is checked
// before it is opened, opened without blocking, and checked again (it may
// have been replaced meanwhile).
func readFile(path string) ([]byte, string) {
	info, err := os.Stat(path)
	if err != nil {
		return nil, openProblem(err)
	}
	if msg := notRegular(info); msg != "" {
		return nil, msg
	}
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, openProblem(err)
	}
	defer f.Close()
	info, err = f.Stat()
	if err != nil {
		return nil, openProblem(err)
	}
	if msg := notRegular(info); msg != "" {
		return nil, msg
	}
	if info.Size() > maxSize {
		return nil, tooLarge(info.Size())
	}
	data, err := io.ReadAll(io.LimitReader(f, maxSize+1))
	if err != nil {
		return nil, openProblem(err)
	}
	if len(data) > maxSize {
		return nil, "is larger than 1 MiB, the limit for a scenario file"
	}
	return data, ""
}

// notRegular says why a file that is not a regular file cannot be a
// scenario, or "" when it is one.
func notRegular(info fs.FileInfo) string {
	m := info.Mode()
	switch {
	case m.IsRegular():
		return ""
	case m.IsDir():
		return "is a directory, not a scenario file"
	case m&fs.ModeNamedPipe != 0:
		return "is a named pipe (FIFO), not a scenario file; portex reads scenarios from regular files only"
	case m&fs.ModeSocket != 0:
		return "is a socket, not a scenario file; portex reads scenarios from regular files only"
	case m&fs.ModeDevice != 0:
		return "is a device, not a scenario file; portex reads scenarios from regular files only"
	}
	return "is not a regular file; portex reads scenarios from regular files only"
}

// openProblem says why a file could not be read, without repeating its name.
func openProblem(err error) string {
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return "no such file"
	case errors.Is(err, fs.ErrPermission):
		return "cannot read it: permission denied"
	}
	var pe *fs.PathError
	if errors.As(err, &pe) {
		err = pe.Err
	}
	return "cannot read it: " + err.Error()
}

// tooLarge is the problem with a file of n bytes.
func tooLarge(n int64) string {
	return fmt.Sprintf("is %.1f MiB; a scenario file may be at most 1 MiB", float64(n)/(1<<20))
}
