package scenarios

import (
	"maps"

	"github.com/portex/portex/loadgen"
)

// DefaultVariant names the plan of a scenario without variants.
const DefaultVariant = "default"

// Plans validates s and compiles it to the engine's plans, one per variant:
// for now exactly one, named "default". Every error it returns is a
// Problems value.
func (s *Scenario) Plans() ([]*loadgen.Plan, error) {
	c := newCollector(s.File)
	validate(s, c)
	if err := c.err(); err != nil {
		return nil, err
	}
	p := s.compile(DefaultVariant)
	if err := p.Check(); err != nil {
		// validate should have caught it: a bug here, not in the file.
		c.addf(pos{}, "", "internal error: the engine refuses the compiled plan (please report it): %v", err)
		return nil, c.err()
	}
	return []*loadgen.Plan{p}, nil
}

// compile turns a valid scenario into the plan of one variant.
func (s *Scenario) compile(variant string) *loadgen.Plan {
	listeners := []loadgen.Listener{{Port: s.Server.Port}}
	ports := poolPorts(s.Server.Port, s.Pools)
	pools := make([]loadgen.Pool, len(s.Pools))
	for i, p := range s.Pools {
		if ports[i] != s.Server.Port {
			listeners = append(listeners, loadgen.Listener{
				Port:            ports[i],
				CloseFirst:      true,
				CloseAfterBytes: int64(p.Messages) * int64(p.Payload),
			})
		}
		pools[i] = loadgen.Pool{
			Name:           p.Name,
			Workers:        p.Workers,
			Messages:       p.Messages,
			Payload:        p.Payload,
			Hold:           p.Hold,
			Close:          p.Close,
			ConnectTimeout: p.ConnectTimeout,
			Ports:          []int{ports[i]},
		}
	}
	var sysctls map[string]string
	if len(s.Sandbox.Sysctls) > 0 {
		sysctls = maps.Clone(s.Sandbox.Sysctls)
	}
	return &loadgen.Plan{
		Scenario: s.Name,
		Variant:  variant,
		Runtime:  s.Runtime,
		Duration: s.Duration,
		Sandbox: loadgen.Sandbox{
			PortRange: s.Sandbox.PortRange,
			Sysctls:   sysctls,
			Nofile:    uint64(s.Sandbox.Nofile),
		},
		Server: loadgen.ServerPlan{Listeners: listeners},
		Pools:  pools,
		Stop:   loadgen.Stop{On: s.Stop.On},
	}
}

// poolPorts returns the server port each pool dials: a listener of its own
// (server.port+1, +2, ... in pool order) for a pool that asks the server to
// close first, server.port for the others.
func poolPorts(server int, pools []Pool) []int {
	ports := make([]int, len(pools))
	next := server
	for i, p := range pools {
		ports[i] = server
		if p.Close == loadgen.CloseServer {
			next++
			ports[i] = next
		}
	}
	return ports
}
