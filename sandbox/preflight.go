package sandbox

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"slices"
	"strconv"
	"strings"
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
// this machine cannot run: a sysctl this kernel lacks, a descriptor limit
// above the hard limit, more connections or larger payload buffers than
// memory holds.
func Preflight(p *loadgen.Plan) error {
	if err := kernelHas(p); err != nil {
		return err
	}
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

// sysctlSince names the Linux release that brought a sysctl the
// allowlist takes, for the refusal on an older kernel.
var sysctlSince = map[string]string{
	loadgen.SysctlTwReuseDelay: "6.13",
}

// kernelHas refuses a plan that sets a sysctl this kernel does not have.
// The sandbox's namespaces run on the host's kernel, and a per-namespace
// sysctl exists in every namespace or in none, so the host's /proc/sys
// tells (it is only read).
func kernelHas(p *loadgen.Plan) error {
	check := func(key string, sysctls map[string]string) error {
		for _, name := range slices.Sorted(maps.Keys(sysctls)) {
			path, err := sysctlPath(name)
			if err != nil {
				return err
			}
			if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
				since := ""
				if v, ok := sysctlSince[name]; ok {
					since = fmt.Sprintf(" (it came in Linux %s)", v)
				}
				return fmt.Errorf("%w: %s: %s: this kernel (Linux %s) has no such sysctl%s; remove it from the scenario or run on a newer kernel",
					ErrUnrunnable, key, name, kernelRelease(), since)
			}
		}
		return nil
	}
	if err := check("sandbox.sysctls", p.Sandbox.Sysctls); err != nil {
		return err
	}
	return check("server.sysctls", p.Server.Sysctls)
}

// kernelRelease is the running kernel's release ("6.18.4").
func kernelRelease() string {
	b, err := os.ReadFile("/proc/sys/kernel/osrelease")
	if err != nil {
		return "unknown"
	}
	return strings.TrimSpace(string(b))
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
