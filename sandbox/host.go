package sandbox

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net/netip"
	"slices"

	"github.com/portex/portex/loadgen"
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

// Check refuses what the host runtime cannot do before anything starts.
func (h *Host) Check(p *loadgen.Plan) error {
	if p.Sources() > 1 {
		return fmt.Errorf("%w: the host runtime dials from one address; use the netns runtime for source_addresses", ErrUnrunnable)
	}
	if h.Target.IsValid() && !h.Target.Addr().IsLoopback() && !h.AllowExternal {
		return fmt.Errorf("%w: %s is outside loopback; portex sends load only to its own server or, with --allow-external-target, to a target you name", ErrExternalTarget, h.Target)
	}
	return nil
}

// Run runs one plan on the host.
func (h *Host) Run(ctx context.Context, p *loadgen.Plan, onEvent func(loadgen.Event)) (*loadgen.Result, error) {
	if err := h.Check(p); err != nil {
		return nil, err
	}
	target := netip.MustParseAddr("127.0.0.1")
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
	res, err := loadgen.Run(ctx, &plan, loadgen.Options{
		Target:         target,
		LocalPortRange: p.Sandbox.PortRange,
		Sockets:        sampler,
		Resolution:     seriesResolution,
		Progress:       progressEvery,
		OnEvent:        onEvent,
	})
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
		res.Sysctls["net.ipv4.ip_local_port_range"] = r.String() + " (per socket, IP_LOCAL_PORT_RANGE)"
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
	res.Notes = append(res.Notes, "host runtime: loopback, where tcp_tw_reuse=2 (the default) reuses TIME_WAIT ports; the netns runtime is the realistic one")
	return res, nil
}

func valueOr(v string, err error) string {
	if err != nil {
		return "unknown"
	}
	return v
}
