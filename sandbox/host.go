package sandbox

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net"
	"net/netip"
	"os"
	"slices"
	"time"

	"github.com/portex/portex/loadgen"
	"github.com/portex/portex/result"
)

// Host runs plans on this machine's own network stack, in-process, with no
// privilege and no namespace: the echo server on loopback (or a target the
// user names), the range narrowed per socket with IP_LOCAL_PORT_RANGE
// (Linux 6.3 or newer). No sysctl is set there, nor a descriptor limit: the
// result carries the host's own values, read back, and notes what the plan
// asked for and did not get.
// Loopback has its own rules (tcp_tw_reuse=2, the default, reuses TIME_WAIT
// ports on loopback), so the host runtime suits quick checks; the netns
// runtime is the realistic one.
type Host struct {
	// Target, if valid, is dialed instead of the bundled echo server;
	// addresses outside loopback also need AllowExternal.
	Target        netip.AddrPort
	AllowExternal bool
}

// ErrExternalTarget refuses a target outside loopback without the opt-in.
var ErrExternalTarget = errors.New("external target needs --allow-external-target")

// CheckPlan refuses what the host runtime cannot do before anything
// starts: several source addresses; and, with a Target, a target outside
// loopback without AllowExternal and the settings that only the bundled
// echo server carries out (see targetCheck). Its errors wrap
// ErrUnrunnable (an *Unsupported names the key) or ErrExternalTarget.
// Check also dials the Target.
func (h *Host) CheckPlan(p *loadgen.Plan) error {
	if err := RefusePrograms("host", p); err != nil {
		return err
	}
	if err := RefuseNAT("host", p); err != nil {
		return err
	}
	if err := RefuseDropSYN("host", p); err != nil {
		return err
	}
	if err := RefuseServerProgram("host", p); err != nil {
		return err
	}
	if err := OneSource("host", p, "the host runtime dials from one address"); err != nil {
		return err
	}
	if err := hostFamilies(p, h.targetFamily()); err != nil {
		return err
	}
	if !h.Target.IsValid() {
		return nil
	}
	if !h.Target.Addr().IsLoopback() && !h.AllowExternal {
		return fmt.Errorf("%w: %s is outside loopback; portex sends load only to its own server or, with --allow-external-target, to a target you name", ErrExternalTarget, h.Target)
	}
	return targetCheck("host", p, h.Target.String())
}

// targetCheck refuses, as runtime, a plan whose pools need the bundled echo
// server when they dial target, a server portex did not start: a pool the
// server closes first (close: server), the server's own close rules
// (server.close) and its RST close (server.linger), which a foreign server
// does not carry out, and several destinations, since every pool dials the
// one target port.
func targetCheck(runtime string, p *loadgen.Plan, target string) error {
	yours := fmt.Sprintf("the pools dial your server at %s, not portex's echo server", target)
	plain := make(map[int]loadgen.Listener, len(p.Server.Listeners))
	for _, l := range p.Server.Listeners {
		plain[l.Port] = l
	}
	for _, pl := range p.Pools {
		switch {
		case pl.Close == loadgen.CloseServer:
			return &Unsupported{Runtime: runtime, Pool: pl.Name, Key: "close",
				Reason: "close: server waits for portex's echo server to close first, and " + yours + "; close the pool from the client (client, reset) or drop --target"}
		case len(pl.Ports) > 1:
			return &Unsupported{Runtime: runtime, Pool: pl.Name, Key: "destinations",
				Reason: fmt.Sprintf("destinations is %d, but with --target every pool dials the one address %s", len(pl.Ports), target)}
		}
		for _, port := range pl.Ports {
			if l := plain[port]; l.CloseFirst || l.IdleClose > 0 {
				return &Unsupported{Runtime: runtime, Key: "server.close",
					Reason: "server.close is carried out by portex's echo server, and " + yours + "; set server.close: client or drop --target"}
			}
		}
	}
	if p.Server.LingerReset {
		return &Unsupported{Runtime: runtime, Key: "server.linger",
			Reason: "server.linger: reset is carried out by portex's echo server, and " + yours + "; drop it or drop --target"}
	}
	return nil
}

// ErrTargetDown is a Target that accepts no connection.
var ErrTargetDown = errors.New("accepts no connection")

// targetTimeout bounds Check's dial of the Target.
const targetTimeout = 3 * time.Second

// Check is CheckPlan, then makes sure the Target, if there is one,
// accepts a connection before anything runs: a run against a port where
// nothing listens would only count refusals. That error wraps
// ErrTargetDown.
func (h *Host) Check(ctx context.Context, p *loadgen.Plan) error {
	if err := h.CheckPlan(p); err != nil {
		return err
	}
	if !h.Target.IsValid() {
		return nil
	}
	d := net.Dialer{Timeout: targetTimeout}
	c, err := d.DialContext(ctx, "tcp", h.Target.String())
	if err != nil {
		return fmt.Errorf("--target %s %w (%v); start your server there first, or check the address", h.Target, ErrTargetDown, dialProblem(err))
	}
	// Closed with RST: the probe leaves no TIME_WAIT behind to hold a
	// port of the range the run is about to count.
	c.(*net.TCPConn).SetLinger(0)
	return c.Close()
}

// dialProblem is a failed dial's reason without the "dial tcp4 ..."
// prefix that repeats the address.
func dialProblem(err error) error {
	var sc *os.SyscallError
	if errors.As(err, &sc) {
		return sc.Err
	}
	var op *net.OpError
	if errors.As(err, &op) && op.Err != nil {
		return op.Err
	}
	return err
}

// Run runs one plan on the host, in this process: obs, if set, is shown
// the engine's events and points as they are made.
func (h *Host) Run(ctx context.Context, p *loadgen.Plan, obs *Observer) (*result.Result, error) {
	if err := h.CheckPlan(p); err != nil {
		return nil, err
	}
	target := netip.MustParseAddr("127.0.0.1")
	if p.UsesIPv6() {
		target = netip.IPv6Loopback() // every pool dials IPv6 (CheckPlan)
	}
	plan := *p
	var srv *loadgen.Server
	if h.Target.IsValid() {
		target = h.Target.Addr()
		plan.Pools = append([]loadgen.Pool(nil), p.Pools...)
		for i := range plan.Pools {
			plan.Pools[i].Ports = []int{int(h.Target.Port())}
		}
		plan.Server.Listeners = []loadgen.Listener{{Port: int(h.Target.Port())}}
	} else {
		var err error
		srv, err = loadgen.StartServer(loadgen.ServerConfig{Addr: target, Listeners: p.Server.Listeners,
			Backlog: p.Server.Backlog, LingerReset: p.Server.LingerReset})
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrRuntime, err)
		}
	}
	sampler, err := loadgen.NewSocketSampler(p.Sandbox.PortRange.Lo, p.Sandbox.PortRange.Hi)
	if err != nil {
		sampler = nil // the host's sockets are also other programs': sampling is a bonus
	} else {
		defer sampler.Close()
	}
	opt := loadgen.Options{
		Target:         target,
		LocalPortRange: p.Sandbox.PortRange,
		Sockets:        sampler,
		Resolution:     seriesResolution,
		Progress:       progressEvery,
	}
	if obs != nil && obs.Event != nil {
		opt.OnEvent = obs.Event
	}
	var points []result.Point
	if obs != nil && obs.Point != nil {
		// The engine keeps no points when it shows them: they are kept
		// here, and put back into the series.
		opt.OnPoint = func(pt result.Point) {
			points = append(points, pt)
			obs.Point(pt)
		}
	}
	res, err := loadgen.Run(ctx, &plan, opt)
	if res != nil && res.TimeSeries != nil && opt.OnPoint != nil {
		res.TimeSeries.Points = points
	}
	if srv != nil {
		srv.Close()
		if res != nil {
			c := srv.Counts()
			res.Server = &c
		}
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrRuntime, err)
	}
	res.Sysctls = readSysctls(nil)
	if r := p.Sandbox.PortRange; !r.IsZero() {
		res.Sysctls["net.ipv4.ip_local_port_range"] = r.String() + ", per socket by IP_LOCAL_PORT_RANGE"
		res.PortRangeSize = r.Size()
	}
	res.Nofile = currentNofile()
	for _, name := range slices.Sorted(maps.Keys(p.Sandbox.Sysctls)) {
		res.Notes = append(res.Notes, fmt.Sprintf("host runtime: %s=%s not applied (portex never writes the host's sysctls); the host has %s",
			name, p.Sandbox.Sysctls[name], valueOr(readSysctl(name))))
	}
	for _, name := range slices.Sorted(maps.Keys(p.Server.Sysctls)) {
		res.Notes = append(res.Notes, fmt.Sprintf("host runtime: server sysctl %s=%s not applied", name, p.Server.Sysctls[name]))
	}
	if p.Sandbox.Nofile > 0 {
		res.Notes = append(res.Notes, fmt.Sprintf("host runtime: nofile %d not applied; the load ran under portex's own limit", p.Sandbox.Nofile))
	}
	if h.Target.IsValid() && p.Server.Backlog > 0 {
		res.Notes = append(res.Notes, fmt.Sprintf("host runtime: server.backlog %d not applied: the target %s is your server", p.Server.Backlog, h.Target))
	}
	res.Target = target.String()
	if target.IsLoopback() {
		res.Notes = append(res.Notes, "host runtime: loopback, where tcp_tw_reuse=2 (the default) reuses TIME_WAIT ports; the netns runtime is the realistic one")
	} else {
		res.Notes = append(res.Notes, fmt.Sprintf("host runtime: the target %s is not loopback: the host's tcp_tw_reuse=%s applies (2, the default, reuses TIME_WAIT ports towards loopback only)",
			target, valueOr(readSysctl(loadgen.SysctlTwReuse))))
	}
	if res.Error != "" {
		return res, fmt.Errorf("%w: %s", ErrRuntime, res.Error)
	}
	return res, nil
}

// Close holds nothing to release: the host runtime keeps nothing between
// runs.
func (h *Host) Close() error { return nil }

func valueOr(v string, err error) string {
	if err != nil {
		return "unknown"
	}
	return v
}

// targetFamily is the family of the Target; empty without one.
func (h *Host) targetFamily() loadgen.Family {
	switch {
	case !h.Target.IsValid():
		return ""
	case h.Target.Addr().Is4() || h.Target.Addr().Is4In6():
		return loadgen.FamilyIPv4
	}
	return loadgen.FamilyIPv6
}
