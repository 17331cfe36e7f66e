package scenarios

import (
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/portex/portex/loadgen"
)

// The rules validate applies.
var (
	scenarioName = regexp.MustCompile(`^[a-z0-9][a-z0-9-]*$`)
	poolName     = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]*$`)

	runtimes       = []string{"netns", "docker"}
	closeModes     = []loadgen.CloseMode{loadgen.CloseClient, loadgen.CloseServer, loadgen.CloseReset, loadgen.CloseLeak}
	stopConditions = []loadgen.StopOn{loadgen.StopOnExhaustion, loadgen.StopNever}
)

const (
	maxNameLen         = 64
	maxDuration        = 24 * time.Hour
	maxWorkers         = 1_000_000
	maxMessages        = 1_000_000_000 // keeps messages × payload far from overflow
	maxPayload         = 16 << 20
	minNofile          = 16
	maxNofile          = 1 << 20
	maxPort            = 65535
	minEphemeralPort   = 1024
	missingPoolExample = "e.g. \"pools: [{name: clients, workers: 10}]\""
)

// validator checks a decoded scenario's values and the rules across them.
// It skips key paths whose values already failed to decode.
type validator struct {
	c *collector
	s *Scenario
}

// validate records every problem with s's values in c.
func validate(s *Scenario, c *collector) {
	v := validator{c: c, s: s}
	v.top()
	v.sandbox()
	v.server()
	v.pools()
	oneOf(v, "stop.on", s.Stop.On, stopConditions)
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
	for _, name := range slices.Sorted(maps.Keys(sb.Sysctls)) {
		path := child("sandbox.sysctls", name)
		if msg := sysctlNameProblem(name); msg != "" {
			v.keyf(path, "%s", msg)
		} else if msg := sysctlValueProblem(sb.Sysctls[name]); msg != "" {
			v.addf(path, "%s", msg)
		}
	}
	if sb.Nofile != 0 && (sb.Nofile < minNofile || sb.Nofile > maxNofile) {
		v.addf("sandbox.nofile", "must be between %d and %d (or 0 to keep the inherited limit), got %d", minNofile, maxNofile, sb.Nofile)
	}
}

func (v validator) server() {
	if p := v.s.Server.Port; p < 1 || p > maxPort {
		v.addf("server.port", "must be between 1 and %d, got %d", maxPort, p)
	}
}

func (v validator) pools() {
	s := v.s
	if len(s.Pools) == 0 {
		if v.given("pools") {
			v.addf("pools", "needs at least one pool, %s", missingPoolExample)
		} else {
			v.addf("pools", "missing required key \"pools\": at least one pool of workers, %s", missingPoolExample)
		}
		return
	}
	names := make(map[string]int, len(s.Pools))
	ports := poolPorts(s.Server.Port, s.Pools)
	for i, p := range s.Pools {
		path := item("pools", i)
		v.pool(path, p)
		if first, dup := names[p.Name]; dup && p.Name != "" {
			v.addf(path+".name", "pool name %q is already used by pools[%d]", p.Name, first)
		} else {
			names[p.Name] = i
		}
		if ports[i] != s.Server.Port && ports[i] > maxPort && !v.c.reported("server.port") {
			v.addf(path+".close", "a pool the server closes dials its own listener, server.port+%d = %d, above %d; lower server.port",
				ports[i]-s.Server.Port, ports[i], maxPort)
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
	if p.Workers < 1 || p.Workers > maxWorkers {
		v.addf(path+".workers", "must be between 1 and %d, got %d", maxWorkers, p.Workers)
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
	v.hold(path+".hold", p.Hold)
	oneOf(v, path+".close", p.Close, closeModes)
	if p.ConnectTimeout <= 0 {
		v.addf(path+".connect_timeout", "must be more than 0s, got %s", p.ConnectTimeout)
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
