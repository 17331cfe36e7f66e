package scenarios

import (
	"cmp"
	"maps"
	"slices"

	"github.com/portex/portex/loadgen"
)

// compile turns a valid scenario into the plan of one variant.
func (s *Scenario) compile(variant string) *loadgen.Plan {
	sv := s.Server
	var afterBytes int64
	if n := sv.Close.AfterMessages; n != nil {
		// validate made sure the pools dialing plain listeners agree.
		for _, p := range s.Pools {
			if p.Close != loadgen.CloseServer {
				afterBytes = int64(*n) * int64(p.Payload)
				break
			}
		}
	}
	var listeners []loadgen.Listener
	for k := range sv.Ports {
		l := loadgen.Listener{
			Port:            sv.Port + k,
			CloseFirst:      sv.Close.AfterMessages != nil,
			CloseAfterBytes: afterBytes,
			IdleClose:       sv.Close.Idle,
		}
		if sv.Protocol == loadgen.ProtoHTTP {
			l = loadgen.Listener{Port: sv.Port + k, Protocol: loadgen.ProtoHTTP,
				KeepaliveRequests: sv.KeepaliveRequests, IdleClose: sv.IdleTimeout}
		}
		if len(sv.Exec) > 0 {
			// The user's server serves the plain ports.
			l = loadgen.Listener{Port: sv.Port + k, Program: true}
		}
		listeners = append(listeners, l)
	}
	ports := poolPorts(sv, s.Pools)
	pools := make([]loadgen.Pool, len(s.Pools))
	for i, p := range s.Pools {
		if p.Close == loadgen.CloseServer {
			for _, port := range ports[i] {
				listeners = append(listeners, loadgen.Listener{
					Port:            port,
					CloseFirst:      true,
					CloseAfterBytes: int64(p.Messages) * int64(p.Payload),
				})
			}
		}
		pools[i] = p.compile(ports[i])
	}
	return &loadgen.Plan{
		Scenario: s.Name,
		Variant:  variant,
		Runtime:  s.Runtime,
		Duration: s.Duration,
		Sandbox: loadgen.Sandbox{
			PortRange: s.Sandbox.PortRange,
			Sysctls:   cloneSysctls(s.Sandbox.Sysctls),
			Nofile:    uint64(s.Sandbox.Nofile),
			Processes: s.Sandbox.Processes,
		},
		Server: loadgen.ServerPlan{
			Listeners:   listeners,
			Backlog:     sv.Backlog,
			LingerReset: sv.LingerReset,
			Sysctls:     cloneSysctls(sv.Sysctls),
			DropSYN:     sv.DropSYN,
			Program:     serverProgram(sv),
		},
		Pools:    pools,
		Programs: compilePrograms(s.Programs),
		Stop:     s.Stop,
		NAT:      compileNAT(s.NAT),
		Family:   s.Family,
	}
}

// compileNAT copies the NAT for the plan; nil stays nil.
func compileNAT(n *NAT) *loadgen.NAT {
	if n == nil {
		return nil
	}
	c := *n
	return &c
}

// compile turns a valid pool into the engine's, dialing ports.
func (p *Pool) compile(ports []int) loadgen.Pool {
	lp := loadgen.Pool{
		Name:           p.Name,
		Start:          p.Start,
		Duration:       p.Duration,
		Messages:       p.Messages,
		Payload:        p.Payload,
		Interval:       p.Interval,
		Hold:           p.Hold,
		Close:          p.Close,
		ConnectTimeout: p.ConnectTimeout,
		Leak:           p.Leak,
		Ports:          ports,
		Sources:        p.SourceAddresses,
		Bind:           p.Bind,
		Family:         p.Family,
	}
	concurrency := p.Workers
	if p.Open() {
		lp.Rate, lp.Ramp, lp.MaxInFlight = p.Rate, slices.Clone(p.Ramp), p.MaxInFlight
		concurrency = p.MaxInFlight
	} else {
		lp.Workers = p.Workers
	}
	if p.Close == loadgen.CloseKeep {
		lp.PoolSize = cmp.Or(p.PoolSize, concurrency)
	}
	return lp
}

// cloneSysctls copies a sysctl map for a plan, nil when empty: plans share
// no maps with the scenario or with each other.
// serverProgram is the user's server, nil for none.
func serverProgram(sv Server) *loadgen.ServerProgram {
	if len(sv.Exec) == 0 {
		return nil
	}
	return &loadgen.ServerProgram{Exec: slices.Clone(sv.Exec), Env: maps.Clone(sv.Env), ReadyTimeout: cmp.Or(sv.ReadyTimeout, DefaultReadyTimeout)}
}

func cloneSysctls(m map[string]string) map[string]string {
	if len(m) == 0 {
		return nil
	}
	return maps.Clone(m)
}

// poolPorts returns the server ports each pool dials. A pool the server
// closes (close: server) gets listeners of its own, one per destination,
// above the plain ones (server.port+server.ports, and up, in pool order);
// the others dial the plain listeners server.port, server.port+1, ... one
// per destination.
func poolPorts(sv Server, pools []Pool) [][]int {
	ports := make([][]int, len(pools))
	next := sv.Port + sv.Ports
	for i, p := range pools {
		n := min(max(p.Destinations, 1), maxListeners)
		ports[i] = make([]int, n)
		for k := range ports[i] {
			if p.Close == loadgen.CloseServer {
				ports[i][k] = next
				next++
			} else {
				ports[i][k] = sv.Port + k
			}
		}
	}
	return ports
}
