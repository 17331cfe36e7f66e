package sandbox

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strconv"
	"syscall"

	"github.com/portex/portex/loadgen"
)

// ErrUnrunnable marks plans this machine cannot run; they are refused
// before anything starts.
var ErrUnrunnable = errors.New("cannot run on this machine")

// connectionCost is what one held connection costs, kernel and portex, on
// both sides of the sandbox: about 9 KB of kernel memory per connection
// pair (socket structures, buffers at rest), a few hundred bytes of portex.
const connectionCost = 10 << 10

// Preflight refuses, with the reason and what to do instead, a plan that
// this machine cannot run: a descriptor limit above the hard limit, more
// connections or larger payload buffers than memory holds.
func Preflight(p *loadgen.Plan) error {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err == nil && p.Sandbox.Nofile > lim.Max {
		return fmt.Errorf("%w: sandbox.nofile %d is above this machine's hard limit of %d descriptors per process "+
			"(raising it needs CAP_SYS_RESOURCE); leave nofile unset and portex shares the load over enough processes, "+
			"or set sandbox.processes", ErrUnrunnable, p.Sandbox.Nofile, lim.Max)
	}
	if avail := memAvailable(); avail > 0 {
		budget := avail * 9 / 10
		var buffers int64
		for i := range p.Pools {
			pl := &p.Pools[i]
			b := p.BufferBytes(pl)
			buffers += b
			if b > budget {
				workers, key := p.Concurrency(pl), "workers"
				if pl.Open() {
					key = "max_in_flight"
				}
				return fmt.Errorf("%w: pool %q: %s %d x payload %d bytes x 2 (each worker holds the message and its echo) "+
					"need about %d MiB, but only %d MiB of memory is available; lower the pool's %s or payload",
					ErrUnrunnable, pl.Name, key, workers, pl.Payload, b>>20, avail>>20, key)
			}
		}
		need := int64(p.Connections())*connectionCost + buffers
		if need > budget {
			return fmt.Errorf("%w: %d connections need about %d MiB (about %d KiB each, kernel and portex, and %d MiB of payload buffers), "+
				"but only %d MiB of memory is available", ErrUnrunnable, p.Connections(), need>>20, connectionCost>>10, buffers>>20, avail>>20)
		}
	}
	return nil
}

// memAvailable reads MemAvailable from /proc/meminfo, in bytes; 0 if it
// cannot.
func memAvailable() int64 {
	b, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		return 0
	}
	for _, line := range bytes.Split(b, []byte("\n")) {
		if v, ok := bytes.CutPrefix(line, []byte("MemAvailable:")); ok {
			f := bytes.Fields(v)
			if len(f) > 0 {
				kb, _ := strconv.ParseInt(string(f[0]), 10, 64)
				return kb << 10
			}
		}
	}
	return 0
}

// Unsupported is a runtime's refusal of one setting of a plan, found
// before anything runs: the pool it concerns, the scenario key, and why.
// It wraps ErrUnrunnable. Callers that know the scenario point at the key.
type Unsupported struct {
	Runtime string // "docker", "host"
	// Pool names the pool whose key it is; "" for a key of the sandbox
	// or the server.
	Pool string
	// Key is the scenario key: a pool's own ("source_addresses") when Pool
	// is set, else a key path from the top ("server.close").
	Key    string
	Reason string // why the runtime cannot, and what to do instead
}

func (u *Unsupported) Error() string {
	key := u.Key
	if u.Pool != "" {
		key = "pool " + u.Pool + ": " + u.Key
	}
	return fmt.Sprintf("%s: the %s runtime cannot run this: %s", key, u.Runtime, u.Reason)
}

func (u *Unsupported) Unwrap() error { return ErrUnrunnable }

// OneSource refuses, as runtime, a plan with a pool that dials from more
// than one source address; why says what the runtime lacks.
func OneSource(runtime string, p *loadgen.Plan, why string) error {
	for _, pl := range p.Pools {
		if pl.Sources > 1 {
			return &Unsupported{Runtime: runtime, Pool: pl.Name, Key: "source_addresses",
				Reason: fmt.Sprintf("source_addresses is %d, but %s; use the netns runtime", pl.Sources, why)}
		}
	}
	return nil
}
