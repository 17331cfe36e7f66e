package scenarios

import (
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/portex/portex/loadgen"
)

// The rules validate applies.
var (
	scenarioName = regexp.MustCompile(`^[a-z0-9][a-z0-9-]*$`)
	poolName     = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]*$`)
	variantName  = poolName

	runtimes       = []string{"netns", "docker"}
	closeModes     = []loadgen.CloseMode{loadgen.CloseClient, loadgen.CloseServer, loadgen.CloseReset, loadgen.CloseLeak, loadgen.CloseKeep}
	protocols      = []loadgen.Protocol{loadgen.ProtoEcho, loadgen.ProtoHTTP}
	bindModes      = []loadgen.BindMode{loadgen.BindAuto, loadgen.BindBeforeConnect, loadgen.BindNoPort}
	families       = []loadgen.Family{loadgen.FamilyIPv4, loadgen.FamilyIPv6, loadgen.FamilyDual}
	stopConditions = []loadgen.StopOn{loadgen.StopOnExhaustion, loadgen.StopOnFirstFailure, loadgen.StopNever, loadgen.StopOnVerdict}
)

const (
	maxNameLen         = 64
	maxDuration        = 24 * time.Hour
	maxWorkers         = 1_000_000
	maxMessages        = 1_000_000_000 // keeps messages × payload far from overflow
	maxPayload         = 16 << 20
	maxProcesses       = 64
	minNofile          = 16
	maxNofile          = 1 << 20
	maxPort            = 65535
	minEphemeralPort   = 1024
	maxListeners       = 1000 // server.ports and destinations
	maxBacklog         = 65535
	maxRate            = 1_000_000 // arrivals per second
	maxVariants        = 100
	maxPools           = 256
	missingPoolExample = "e.g. \"pools: [{name: clients, workers: 10}]\""
)

// MaxDuration is the longest run a scenario may ask for (duration must be
// more than 0s and at most this); portex run --duration shares the bound.
const MaxDuration = maxDuration

// validator checks a decoded scenario's values and the rules across them.
// It skips key paths whose values already failed to decode.
type validator struct {
	c *collector
	s *Scenario
	// written, when s is a variant's copy of a scenario, holds the key
	// paths the variant wrote: the sysctls it did not write are the
	// scenario's, checked with the scenario, and may be many.
	written map[string]pos
}

// validate records every problem with s's values in c.
func validate(s *Scenario, c *collector) { validator{c: c, s: s}.all() }

// validateVariant is validate for a variant's copy of a scenario; written
// holds the key paths the variant wrote.
func validateVariant(s *Scenario, c *collector, written map[string]pos) {
	validator{c: c, s: s, written: written}.all()
}

func (v validator) all() {
	v.top()
	v.sandbox()
	v.server()
	v.pools()
	v.programs()
	v.stop()
	v.nat()
	v.variants()
}

// addf records a problem at the value of path, or at the nearest enclosing
// value when path is not written in the file.
func (v validator) addf(path, format string, args ...any) {
	if !v.c.reported(path) {
		v.c.addf(v.where(v.s.values, path), path, format, args...)
	}
}

// keyf records a problem at the key of path.
func (v validator) keyf(path, format string, args ...any) {
	if !v.c.reported(path) {
		v.c.addf(v.where(v.s.keys, path), path, format, args...)
	}
}

// where finds path, or its nearest parent, in m or else in the values.
func (v validator) where(m map[string]pos, path string) pos {
	for p := path; ; p = parent(p) {
		if q, ok := m[p]; ok {
			return q
		}
		if q, ok := v.s.values[p]; ok {
			return q
		}
		if p == "" {
			return pos{}
		}
	}
}

// given reports whether path is written in the file.
func (v validator) given(path string) bool {
	_, ok := v.s.values[path]
	return ok
}

func (v validator) top() {
	s := v.s
	switch {
	case s.Name == "" && !v.given("name"):
		v.addf("name", "missing required key \"name\": a short id like my-test")
	case len(s.Name) > maxNameLen || !scenarioName.MatchString(s.Name):
		v.addf("name", "%s is not a valid name: use lowercase letters, digits and '-', starting with a letter or digit, at most %d characters", quote(s.Name), maxNameLen)
	}
	if s.Duration <= 0 || s.Duration > maxDuration {
		v.addf("duration", "must be more than 0s and at most 24h, got %s", s.Duration)
	}
	oneOf(v, "runtime", s.Runtime, runtimes)
	v.family("family", s.Family)
}

// family checks the family at path (the scenario's or a pool's), if
// written: a known one, and IPv6 only where the sandbox has it.
func (v validator) family(path string, f loadgen.Family) {
	if f == "" && !v.given(path) {
		return
	}
	oneOf(v, path, f, families)
	if !f.IPv6() || v.c.reported(path) {
		return
	}
	switch {
	case v.s.Runtime == "docker":
		v.addf(path, "family %s runs on the netns runtime only (the docker runtime's network has IPv4 addresses only); use runtime: netns", f)
	case v.s.NAT != nil:
		v.addf(path, "family %s with a nat: the router translates IPv4 only; drop the nat or use family ipv4", f)
	}
}

func (v validator) nat() {
	n := v.s.NAT
	if n == nil {
		return
	}
	if v.s.Runtime == "docker" {
		v.addf("nat", "a NAT in the path runs on the netns runtime only (a router namespace between client and server); use runtime: netns")
	}
	switch r := n.Ports; {
	case r.IsZero() && !v.given("nat.ports"):
		v.addf("nat", "missing required key \"ports\": the NAT's source-port pool, like 60000-60099")
	case r.Lo < 1 || r.Hi > maxPort:
		v.addf("nat.ports", "%d-%d is not within 1-%d", r.Lo, r.Hi, maxPort)
	case r.Lo > r.Hi:
		v.addf("nat.ports", "the low end %d is above the high end %d; write it as %d-%d", r.Lo, r.Hi, r.Hi, r.Lo)
	}
	oneOf(v, "nat.mode", n.Mode, []string{loadgen.NATMasquerade, loadgen.NATSNAT})
	switch {
	case v.given("nat.addresses") && (n.Addresses < 1 || n.Addresses > loadgen.MaxNATAddresses):
		v.addf("nat.addresses", "must be between 1 and %d, got %d", loadgen.MaxNATAddresses, n.Addresses)
	case n.Addresses > 1 && n.Mode == loadgen.NATMasquerade:
		v.addf("nat.addresses", "%d addresses need mode: snat (masquerade translates to the one address of the outgoing link)", n.Addresses)
	}
	if k := n.PerClientPorts; v.given("nat.per_client_ports") && !v.c.reported("nat.ports") {
		size := n.Ports.Size()
		switch {
		case k < 1 || k > size:
			v.addf("nat.per_client_ports", "must be between 1 and the pool's %d ports, got %d", size, k)
		case size%k != 0:
			v.addf("nat.per_client_ports", "%d does not divide the pool's %d ports into whole slices; try %d", k, size, largestDivisor(size, k))
		default:
			slices := size / k * n.AddressCount()
			for i, p := range v.s.Pools {
				if p.SourceAddresses > slices {
					v.addf(fmt.Sprintf("pools[%d].source_addresses", i), "%d client addresses, but nat.per_client_ports %d gives only %d slices of the NAT's ports", p.SourceAddresses, k, slices)
				}
			}
		}
	}
	ct := n.Conntrack
	for _, d := range []struct {
		key string
		d   time.Duration
	}{{"time_wait", ct.TimeWait}, {"established", ct.Established}, {"close_wait", ct.CloseWait}} {
		path := "nat.conntrack." + d.key
		if v.given(path) && (d.d < time.Second || d.d%time.Second != 0) {
			v.addf(path, "must be a whole number of seconds, at least 1s (the kernel's conntrack timeouts count seconds), got %s", d.d)
		}
	}
	if v.given("nat.conntrack.max") && ct.Max < 1 {
		v.addf("nat.conntrack.max", "must be at least 1, got %d", ct.Max)
	}
}

// serverExec checks the user's server: a command, a ready timeout, the
// netns runtime, and none of the keys that shape the bundled server's
// plain ports, which it replaces.
func (v validator) serverExec() {
	sv := v.s.Server
	if len(sv.Exec) == 0 {
		for _, k := range []string{"env", "ready_timeout"} {
			if v.given("server." + k) {
				v.addf("server."+k, "applies to server.exec, your server program, and the scenario has none")
			}
		}
		return
	}
	if strings.TrimSpace(sv.Exec[0]) == "" {
		v.addf("server.exec", "needs a command to run")
	}
	if v.given("server.ready_timeout") && (sv.ReadyTimeout < 100*time.Millisecond || sv.ReadyTimeout > 10*time.Minute) {
		v.addf("server.ready_timeout", "must be between 100ms and 10m, got %s", sv.ReadyTimeout)
	}
	if v.s.Runtime == "docker" || v.s.Runtime == "host" {
		v.addf("server.exec", "your server program runs on the netns runtime only, not on runtime: %s", v.s.Runtime)
	}
	for _, k := range []string{"protocol", "keepalive_requests", "idle_timeout", "close", "linger"} {
		if v.given("server." + k) {
			v.addf("server."+k, "shapes the bundled server, and server.exec replaces it on the plain ports; remove one of the two")
		}
	}
}

// largestDivisor is the largest divisor of n not above k.
func largestDivisor(n, k int) int {
	for d := min(k, n); d > 1; d-- {
		if n%d == 0 {
			return d
		}
	}
	return 1
}

func (v validator) sandbox() {
	sb := v.s.Sandbox
	if r := sb.PortRange; !r.IsZero() {
		switch {
		case r.Lo < minEphemeralPort || r.Hi > maxPort:
			v.addf("sandbox.port_range", "%d-%d is not within %d-%d", r.Lo, r.Hi, minEphemeralPort, maxPort)
		case r.Lo > r.Hi:
			v.addf("sandbox.port_range", "the low end %d is above the high end %d; write it as %d-%d", r.Lo, r.Hi, r.Hi, r.Lo)
		}
	}
	v.sysctls("sandbox.sysctls", sb.Sysctls)
	if sb.Processes < 0 || sb.Processes > maxProcesses {
		v.addf("sandbox.processes", "must be between 1 and %d (or 0 to let portex choose), got %d", maxProcesses, sb.Processes)
	}
	if sb.Nofile != 0 && (sb.Nofile < minNofile || sb.Nofile > maxNofile) {
		v.addf("sandbox.nofile", "must be between %d and %d (or 0 to keep the inherited limit), got %d", minNofile, maxNofile, sb.Nofile)
	}
}

// sysctls checks the names and values of the sysctls at path.
func (v validator) sysctls(path string, m map[string]string) {
	var names []string
	if v.written == nil {
		names = slices.Collect(maps.Keys(m))
	} else {
		for p := range v.written {
			if name, ok := strings.CutPrefix(p, path+"."); ok {
				if _, in := m[name]; in {
					names = append(names, name)
				}
			}
		}
	}
	slices.Sort(names)
	for _, name := range names {
		p := child(path, name)
		if msg := sysctlNameProblem(name); msg != "" {
			v.keyf(p, "%s", msg)
		} else if msg := sysctlValueProblem(name, m[name]); msg != "" {
			v.addf(p, "%s", msg)
		}
	}
}

func (v validator) server() {
	sv := v.s.Server
	v.serverExec()
	switch {
	case sv.DropSYN < 0 || sv.DropSYN > 1:
		v.addf("server.drop_syn", "must be between 0%% and 100%%, got %s", formatPercent(sv.DropSYN))
	case sv.DropSYN > 0 && v.s.Runtime == "docker":
		v.addf("server.drop_syn", "an unresponsive server (a rule that drops SYNs in its namespace) runs on the netns runtime only; use runtime: netns")
	}
	if p := sv.Port; p < 1 || p > maxPort {
		v.addf("server.port", "must be between 1 and %d, got %d", maxPort, p)
	}
	switch {
	case sv.Ports < 1 || sv.Ports > maxListeners:
		v.addf("server.ports", "must be between 1 and %d, got %d", maxListeners, sv.Ports)
	case sv.Port+sv.Ports-1 > maxPort && !v.c.reported("server.port"):
		v.addf("server.ports", "the listeners server.port .. server.port+%d = %d go above %d; lower server.port or server.ports",
			sv.Ports-1, sv.Port+sv.Ports-1, maxPort)
	}
	if sv.Backlog < 0 || sv.Backlog > maxBacklog {
		v.addf("server.backlog", "must be between 0 (the default) and %d, got %d", maxBacklog, sv.Backlog)
	}
	v.sysctls("server.sysctls", sv.Sysctls)
	if n := sv.Close.AfterMessages; n != nil && (*n < 0 || *n > maxMessages) {
		v.addf("server.close.after_messages", "must be between 0 and %d, got %d", maxMessages, *n)
	}
	if sv.Close.Idle < 0 || (sv.Close.Idle == 0 && v.given("server.close.idle")) {
		v.addf("server.close.idle", "must be more than 0s, got %s", sv.Close.Idle)
	}
	v.protocol()
	if sv.Close.AfterMessages != nil && sv.Protocol != loadgen.ProtoHTTP {
		if sizes := plainPayloads(v.s.Pools); len(sizes) > 1 {
			v.addf("server.close.after_messages", "the pools that dial the server's plain ports send different payloads (%s), "+
				"so after_messages: %d is no single byte count; give those pools one payload, or make a pool close: server",
				strings.Join(sizes, ", "), *sv.Close.AfterMessages)
		}
	}
}

// maxKeepaliveRequests bounds server.keepalive_requests.
const maxKeepaliveRequests = 1_000_000_000

// protocol checks server.protocol and the keys that go with http.
func (v validator) protocol() {
	sv := v.s.Server
	if sv.Protocol != "" || v.given("server.protocol") {
		oneOf(v, "server.protocol", sv.Protocol, protocols)
	}
	if sv.Protocol != loadgen.ProtoHTTP {
		for _, key := range []string{"keepalive_requests", "idle_timeout"} {
			if v.given("server." + key) {
				v.keyf("server."+key, "applies to an HTTP server only; add protocol: http, or remove it")
			}
		}
		return
	}
	if n := sv.KeepaliveRequests; n < 0 || n > maxKeepaliveRequests {
		v.addf("server.keepalive_requests", "must be between 0 (no limit) and %d, got %d", maxKeepaliveRequests, n)
	}
	if sv.IdleTimeout < 0 || (sv.IdleTimeout == 0 && v.given("server.idle_timeout")) {
		v.addf("server.idle_timeout", "must be more than 0s, got %s", sv.IdleTimeout)
	}
	if !sv.Close.ClientFirst() {
		v.addf("server.close", "an HTTP server closes connections by keepalive_requests and idle_timeout; "+
			"use those, or remove close")
	}
	for i, p := range v.s.Pools {
		if p.Close != loadgen.CloseServer && p.Messages > 0 {
			v.addf(item("pools", i)+".messages", "the server speaks http and pools exchange echo messages only; "+
				"set messages: 0 (connect only), or make the pool close: server (a plain echo listener of its own)")
		}
	}
}

// plainPayloads lists the different payloads of the pools that dial the
// server's plain listeners, as "pool: size", the first pool of each size.
func plainPayloads(pools []Pool) []string {
	var sizes []string
	seen := make(map[int]bool)
	for _, p := range pools {
		if p.Close != loadgen.CloseServer && !seen[p.Payload] {
			seen[p.Payload] = true
			sizes = append(sizes, p.Name+": "+formatSize(p.Payload))
		}
	}
	return sizes
}

func (v validator) pools() {
	s := v.s
	if len(s.Pools) == 0 && len(s.Programs) > 0 {
		return
	}
	if len(s.Pools) == 0 {
		if v.given("pools") {
			v.addf("pools", "needs at least one pool, %s", missingPoolExample)
		} else {
			v.addf("pools", "missing required key \"pools\": at least one pool of workers, %s", missingPoolExample)
		}
		return
	}
	if len(s.Pools) > maxPools {
		v.addf("pools", "has %d pools; a scenario may have at most %d", len(s.Pools), maxPools)
	}
	names := make(map[string]int, len(s.Pools))
	ports := poolPorts(s.Server, s.Pools)
	serverBad := v.c.reported("server.port") || v.c.reported("server.ports")
	for i, p := range s.Pools {
		path := item("pools", i)
		v.pool(path, p)
		if first, dup := names[p.Name]; dup && p.Name != "" {
			v.addf(path+".name", "pool name %q is already used by pools[%d]", p.Name, first)
		} else {
			names[p.Name] = i
		}
		if serverBad || v.c.reported(path+".destinations") {
			continue
		}
		if last := ports[i][len(ports[i])-1]; p.Close == loadgen.CloseServer && last > maxPort {
			v.addf(path+".close", "a pool the server closes dials listeners of its own, up to server.port+%d = %d, above %d; lower server.port",
				last-s.Server.Port, last, maxPort)
		}
		if p.Close != loadgen.CloseServer && p.Destinations > s.Server.Ports {
			v.addf(path+".destinations", "dials %d server ports, but the server listens on %d (server.ports); set server.ports to at least %d",
				p.Destinations, s.Server.Ports, p.Destinations)
		}
	}
}

func (v validator) pool(path string, p Pool) {
	switch {
	case p.Name == "" && !v.given(path+".name"):
		v.addf(path+".name", "missing required key \"name\": a short id like clients")
	case len(p.Name) > maxNameLen || !poolName.MatchString(p.Name):
		v.addf(path+".name", "%s is not a valid pool name: use lowercase letters, digits, '_' and '-', starting with a letter or digit, at most %d characters", quote(p.Name), maxNameLen)
	}
	v.model(path, p)
	switch {
	case p.Start < 0:
		v.addf(path+".start", "must not be negative, got %s", p.Start)
	case p.Start >= v.s.Duration && v.s.Duration > 0 && !v.c.reported("duration"):
		v.addf(path+".start", "the pool starts at %s, when the run (duration %s) is over; start it earlier or lengthen duration", p.Start, v.s.Duration)
	}
	if p.Duration < 0 || p.Duration > maxDuration || (p.Duration == 0 && v.given(path+".duration")) {
		v.addf(path+".duration", "must be more than 0s and at most 24h, got %s", p.Duration)
	}
	if p.Messages < 0 || p.Messages > maxMessages {
		v.addf(path+".messages", "must be between 0 and %d, got %d", maxMessages, p.Messages)
	}
	switch {
	case p.Payload < 0 || p.Payload > maxPayload:
		v.addf(path+".payload", "must be at most 16MiB, got %s", formatSize(p.Payload))
	case p.Payload < 1 && p.Messages > 0:
		v.addf(path+".payload", "must be at least 1 byte when messages is more than 0")
	}
	if p.Interval < 0 || p.Interval > maxDuration {
		v.addf(path+".interval", "must be between 0s and 24h, got %s", p.Interval)
	}
	v.hold(path+".hold", p.Hold)
	oneOf(v, path+".close", p.Close, closeModes)
	if p.PoolSize < 0 || p.PoolSize > maxWorkers || (p.PoolSize == 0 && v.given(path+".pool_size")) {
		v.addf(path+".pool_size", "must be between 1 and %d, got %d", maxWorkers, p.PoolSize)
	}
	if p.Leak < 0 || p.Leak > 1 {
		v.addf(path+".leak", "must be between 0%% and 100%%, got %s", formatPercent(p.Leak))
	}
	v.leakApplies(path, p)
	if p.ConnectTimeout <= 0 {
		v.addf(path+".connect_timeout", "must be more than 0s, got %s", p.ConnectTimeout)
	}
	if p.Destinations < 1 || p.Destinations > maxListeners {
		v.addf(path+".destinations", "must be between 1 and %d, got %d", maxListeners, p.Destinations)
	}
	if p.SourceAddresses < 1 || p.SourceAddresses > loadgen.MaxSources {
		v.addf(path+".source_addresses", "must be between 1 and %d, got %d", loadgen.MaxSources, p.SourceAddresses)
	}
	oneOf(v, path+".bind", p.Bind, bindModes)
	v.family(path+".family", p.Family)
}

// leakApplies refuses a leak share on a pool that closes no connection
// anyway (close: keep or leak), as the decoder does where one mapping
// writes both. A variant that makes a leaky pool keep its connections is
// told at its close key: the scenario's leak would silently not apply,
// and the variant can say leak: 0%.
func (v validator) leakApplies(path string, p Pool) {
	if p.Leak <= 0 || (p.Close != loadgen.CloseKeep && p.Close != loadgen.CloseLeak) {
		return
	}
	_, wroteClose := v.written[path+".close"]
	_, wroteLeak := v.written[path+".leak"]
	if wroteClose && !wroteLeak {
		v.keyf(path+".close", "with close: %s the pool closes no connection, so the leak: %s it has from the scenario would never apply; "+
			"add leak: 0%% to this change, or leave close as it is", p.Close, formatPercent(p.Leak))
		return
	}
	v.keyf(path+".leak", "is the share of connections a pool forgets to close; with close: %s it closes none anyway", p.Close)
}

// model checks a pool's workers (closed model) or its rate, ramp and
// max_in_flight (open model).
func (v validator) model(path string, p Pool) {
	if !p.Open() {
		if (p.Workers < 1 || p.Workers > maxWorkers) && !v.c.reported(path+".rate") {
			v.addf(path+".workers", "must be between 1 and %d, got %d", maxWorkers, p.Workers)
		}
		return
	}
	if p.Workers != 0 {
		v.addf(path+".rate", "workers (%d) and rate exclude each other: a pool is either workers or arrivals at a rate", p.Workers)
	}
	if p.Rate < 0 || p.Rate > maxRate {
		v.addf(path+".rate", "must be between 0/s and %d/s, got %s", maxRate, formatRate(p.Rate))
	}
	for k, st := range p.Ramp {
		sp := item(path+".ramp", k)
		if st.To < 0 || st.To > maxRate {
			v.addf(sp+".to", "must be between 0/s and %d/s, got %s", maxRate, formatRate(st.To))
		}
		if st.Over <= 0 || st.Over > maxDuration {
			v.addf(sp+".over", "must be more than 0s and at most 24h, got %s", st.Over)
		}
	}
	if p.MaxInFlight < 1 || p.MaxInFlight > maxWorkers {
		v.addf(path+".max_in_flight", "must be between 1 and %d, got %d", maxWorkers, p.MaxInFlight)
	}
}

func (v validator) stop() {
	oneOf(v, "stop.on", v.s.Stop.On, stopConditions)
	if n := v.s.Stop.AfterFailures; n < 0 {
		v.addf("stop.after_failures", "must be 0 (no limit) or more, got %d", n)
	}
}

// variants checks the variants' names; validate checks each variant's
// copy of the scenario like the scenario itself (see Scenario.resolve).
func (v validator) variants() {
	if n := len(v.s.Variants); n > maxVariants {
		v.addf("variants", "has %d variants; a scenario may have at most %d, one run each", n, maxVariants)
		return
	}
	names := make(map[string]int, len(v.s.Variants))
	for i, vr := range v.s.Variants {
		path := item("variants", i) + ".name"
		switch {
		case vr.Name == "" && !v.given(path):
			v.addf(path, "missing required key \"name\": a short id like tw-reuse")
			continue
		case len(vr.Name) > maxNameLen || !variantName.MatchString(vr.Name):
			v.addf(path, "%s is not a valid variant name: use lowercase letters, digits, '_' and '-', starting with a letter or digit, at most %d characters", quote(vr.Name), maxNameLen)
		}
		if first, dup := names[vr.Name]; dup {
			v.addf(path, "variant name %q is already used by variants[%d]", vr.Name, first)
		} else {
			names[vr.Name] = i
		}
	}
}

func (v validator) hold(path string, h loadgen.Hold) {
	switch h.Kind {
	case loadgen.HoldForever:
	case loadgen.HoldFixed, loadgen.HoldExp:
		if h.Min < 0 {
			v.addf(path, "must not be negative, got %s", h.Min)
		}
	case loadgen.HoldUniform:
		if h.Min < 0 || h.Max < h.Min {
			v.addf(path, "want 0 <= min <= max, got %s", h)
		}
	default:
		v.addf(path, "unknown hold kind %q", h.Kind)
	}
}

// oneOf checks that got is one of the allowed values.
func oneOf[T ~string](v validator, path string, got T, allowed []T) {
	if slices.Contains(allowed, got) {
		return
	}
	names := make([]string, len(allowed))
	for i, a := range allowed {
		names[i] = string(a)
	}
	msg := fmt.Sprintf("want one of %s; got %s", strings.Join(names, ", "), quote(string(got)))
	if near := closest(string(got), names); near != "" && got != "" {
		msg += fmt.Sprintf("; did you mean %q?", near)
	}
	v.addf(path, "%s", msg)
}

// formatRate writes arrivals per second as a scenario would.
func formatRate(r float64) string { return strconv.FormatFloat(r, 'f', -1, 64) + "/s" }

// formatPercent writes a share as a percentage.
var formatPercent = loadgen.FormatShare

// formatSize writes n bytes as a scenario would.
func formatSize(n int) string {
	switch {
	case n != 0 && n%(1<<20) == 0:
		return fmt.Sprintf("%dMiB", n>>20)
	case n != 0 && n%(1<<10) == 0:
		return fmt.Sprintf("%dKiB", n>>10)
	}
	return fmt.Sprintf("%dB", n)
}
