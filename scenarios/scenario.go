// Package scenarios reads portex scenarios: YAML files that say which
// sandbox, server and pools of workers a run uses, and when it stops. It
// decodes them strictly, reports every problem at once with its file, line
// and column, applies defaults, and compiles a scenario to the engine's
// plans (loadgen.Plan). It also holds the bundled scenario library.
//
// Decoding is strict: unknown keys (with the closest known key suggested),
// duplicate keys, values of the wrong type, several YAML documents in one
// file, text that is not UTF-8 and files over 1 MiB are all problems.
// Anchors, aliases and tags outside YAML's core schema are refused rather
// than expanded: a scenario is short enough to write out, and refusing them
// keeps loading bounded on any input.
package scenarios

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"time"

	"github.com/portex/portex/loadgen"
)

// maxSize is the largest scenario file Parse and Load accept.
const maxSize = 1 << 20

// Scenario is one scenario file, decoded, with defaults applied. Parse
// returns only valid scenarios; Plans validates again, so a Scenario built
// or changed in code is checked too, but only Parse applies the defaults.
//
// Variants (a later addition) will be named sets of overrides decoded onto
// a copy of these values; Plans will then return one plan per variant.
type Scenario struct {
	File        string        // where it was read from, for messages
	Name        string        // [a-z0-9][a-z0-9-]*, at most 64 characters
	Description string        // what it shows and what to look at
	Duration    time.Duration // upper bound of a run; default 30s
	Runtime     string        // "netns" (default) or "docker"
	Sandbox     Sandbox
	Server      Server
	Pools       []Pool
	Stop        Stop

	values map[string]pos // where each key path's value is written
	keys   map[string]pos // where each key path's key is written
}

// Sandbox is the client side's kernel settings.
type Sandbox struct {
	// PortRange narrows net.ipv4.ip_local_port_range; zero keeps the default.
	PortRange loadgen.PortRange
	// Sysctls are further per-network-namespace sysctls, by dotted name;
	// see AllowedSysctls.
	Sysctls map[string]string
	// Nofile is RLIMIT_NOFILE for the load; 0 keeps the inherited limit.
	Nofile int
}

// Server is the bundled echo server's settings.
type Server struct {
	Port int // the port every pool dials, unless it asks the server to close first; default 7000
}

// Pool is a group of workers sharing one connection lifecycle.
type Pool struct {
	Name           string            // [a-z0-9][a-z0-9_-]*, unique in the scenario
	Workers        int               // concurrent workers; default 1
	Messages       int               // echo exchanges per connection; default 1, 0 = connect only
	Payload        int               // bytes per message; default 64
	Hold           loadgen.Hold      // how long a connection stays open after its messages; default 0s
	Close          loadgen.CloseMode // how a connection ends; default client
	ConnectTimeout time.Duration     // default 5s
}

// Stop says when a run ends before its duration.
type Stop struct {
	On loadgen.StopOn // default exhaustion
}

// defaultScenario is a scenario before its file is decoded onto it.
func defaultScenario(file string) *Scenario {
	return &Scenario{
		File:     file,
		Duration: 30 * time.Second,
		Runtime:  "netns",
		Server:   Server{Port: 7000},
		Stop:     Stop{On: loadgen.StopOnExhaustion},
	}
}

// defaultPool is a pool before its entry is decoded onto it.
func defaultPool() Pool {
	return Pool{
		Workers:        1,
		Messages:       1,
		Payload:        64,
		Hold:           loadgen.Hold{Kind: loadgen.HoldFixed},
		Close:          loadgen.CloseClient,
		ConnectTimeout: 5 * time.Second,
	}
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
	validate(s, c)
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
// cannot.
func readFile(path string) ([]byte, string) {
	f, err := os.Open(path)
	if err != nil {
		return nil, openProblem(err)
	}
	defer f.Close()
	info, err := f.Stat()
	switch {
	case err != nil:
		return nil, openProblem(err)
	case info.IsDir():
		return nil, "is a directory, not a scenario file"
	case info.Mode().IsRegular() && info.Size() > maxSize:
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
