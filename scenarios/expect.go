package scenarios

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/portex/portex/analysis"
	"github.com/portex/portex/loadgen"
)

// expect decodes an expect block:
//
//	expect:
//	  exhausted: true          # or false
//	  within: 5s               # exhaustion no later than this
//	  dials_ok: {min: 200, max: 200}   # or 200, ">= 200", "190..210"
//	  failures: {EADDRNOTAVAIL: ">0", EMFILE: 0}
//	  p99_connect: "<5ms"
//	  p99_schedule_lag: "<2ms"     # and p50_schedule_lag
//	  max_time_wait: 1000
//	  verdict: held            # or exhausted, not_exhausted, fd_exhausted
//
// A variant's expect replaces the scenario's as a whole.
func (d *decoder) expect(path string, n *yaml.Node) (*analysis.Expect, bool) {
	if !d.plain(path, n) || isNull(n) {
		return nil, false
	}
	e := &analysis.Expect{}
	d.mapping(path, "expect", n, []field{
		{"exhausted", func(path string, n *yaml.Node) {
			if v, ok := d.boolean(path, n); ok {
				e.Exhausted = &v
			}
		}},
		{"within", into(&e.Within, d.duration)},
		{"dials_ok", func(path string, n *yaml.Node) {
			if b, ok := d.bounds(path, n); ok {
				e.DialsOK = &b
			}
		}},
		{"failures", func(path string, n *yaml.Node) { e.Failures = d.failureBounds(path, n) }},
		{"p99_connect", into(&e.P99Connect, d.latencyBound)},
		{"p50_schedule_lag", into(&e.P50ScheduleLag, d.latencyBound)},
		{"p99_schedule_lag", into(&e.P99ScheduleLag, d.latencyBound)},
		{"verdict", func(path string, n *yaml.Node) {
			if s, ok := d.scalar(path, n, "a verdict"); ok {
				if !slices.Contains(analysis.ExpectableVerdicts, s) {
					d.addf(at(n), path, "want one of %s, got %s", strings.Join(analysis.ExpectableVerdicts, ", "), quote(s))
					return
				}
				e.Verdict = s
			}
		}},
		{"max_time_wait", func(path string, n *yaml.Node) {
			if v, ok := d.integer(path, n); ok {
				if v < 0 {
					d.addf(at(n), path, "want a count >= 0, got %d", v)
					return
				}
				n := int64(v)
				e.MaxTimeWait = &n
			}
		}},
		{"exit_code", func(path string, n *yaml.Node) {
			if v, ok := d.integer(path, n); ok {
				if v < 0 || v > 255 {
					d.addf(at(n), path, "want an exit status from 0 to 255, got %d", v)
					return
				}
				e.ExitCode = &v
			}
		}},
	})
	return e, true
}

// latencyBound decodes a bound on a latency: "<5ms" (the "<" may be left
// out).
func (d *decoder) latencyBound(path string, n *yaml.Node) (time.Duration, bool) {
	s, ok := d.scalar(path, n, "a duration")
	if !ok {
		return 0, false
	}
	v, err := parseDuration(strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(s), "<")))
	if err != nil || v <= 0 {
		d.addf(at(n), path, "want a latency bound like \"<5ms\", got %s", quote(s))
		return 0, false
	}
	return v, true
}

func (d *decoder) boolean(path string, n *yaml.Node) (bool, bool) {
	s, ok := d.scalar(path, n, "true or false")
	if !ok {
		return false, false
	}
	var v bool
	if n.ShortTag() != "!!bool" || n.Decode(&v) != nil {
		d.addf(at(n), path, "want true or false, got %s", quote(s))
		return false, false
	}
	return v, true
}

// bounds decodes a count's bounds: an integer (exactly), an expression
// (">0", ">= 200", "<5", "<= 10", "190..210"), or {min: N, max: M}.
func (d *decoder) bounds(path string, n *yaml.Node) (analysis.Bounds, bool) {
	if n.Kind == yaml.MappingNode {
		var b analysis.Bounds
		d.mapping(path, "bounds", n, []field{
			{"min", func(path string, n *yaml.Node) {
				if v, ok := d.integer(path, n); ok {
					m := int64(v)
					b.Min = &m
				}
			}},
			{"max", func(path string, n *yaml.Node) {
				if v, ok := d.integer(path, n); ok {
					m := int64(v)
					b.Max = &m
				}
			}},
		})
		if b.Min != nil && b.Max != nil && *b.Min > *b.Max {
			d.addf(at(n), path, "min %d is above max %d", *b.Min, *b.Max)
			return b, false
		}
		return b, true
	}
	s, ok := d.scalar(path, n, "a count, an expression such as \">0\", or {min, max}")
	if !ok {
		return analysis.Bounds{}, false
	}
	b, err := parseBounds(s)
	if err != nil {
		d.addf(at(n), path, "%v", err)
		return b, false
	}
	return b, true
}

// failureBounds decodes failures: {CLASS: bounds, ...}.
func (d *decoder) failureBounds(path string, n *yaml.Node) map[string]analysis.Bounds {
	entries, ok := d.entries(path, n)
	if !ok {
		return nil
	}
	out := make(map[string]analysis.Bounds, len(entries))
	for _, e := range entries {
		p := child(path, e.name)
		if _, known := loadgen.ParseClass(e.name); !known {
			hint := ""
			if near := closest(e.name, loadgen.ClassNames()); near != "" {
				hint = fmt.Sprintf("; did you mean %q?", near)
			}
			d.addf(at(e.key), p, "unknown failure class %q%s (classes: %s)", e.name, hint, strings.Join(loadgen.ClassNames(), ", "))
			continue
		}
		if b, ok := d.bounds(p, e.value); ok {
			out[e.name] = b
		}
	}
	return out
}

// parseBounds parses "200", ">0", ">=200", "<5", "<=10" or "190..210".
func parseBounds(s string) (analysis.Bounds, error) {
	s = strings.TrimSpace(s)
	num := func(t string) (*int64, error) {
		v, err := strconv.ParseInt(strings.TrimSpace(t), 10, 64)
		if err != nil || v < 0 {
			return nil, fmt.Errorf("want a count, \">N\", \">=N\", \"<N\", \"<=N\" or \"A..B\", got %q", s)
		}
		return &v, nil
	}
	var b analysis.Bounds
	var err error
	switch {
	case strings.HasPrefix(s, ">="):
		b.Min, err = num(s[2:])
	case strings.HasPrefix(s, ">"):
		if b.Min, err = num(s[1:]); err == nil {
			*b.Min++
		}
	case strings.HasPrefix(s, "<="):
		b.Max, err = num(s[2:])
	case strings.HasPrefix(s, "<"):
		if b.Max, err = num(s[1:]); err == nil {
			if *b.Max == 0 {
				return b, fmt.Errorf("%q: no count is below 0", s)
			}
			*b.Max--
		}
	case strings.Contains(s, ".."):
		lo, hi, _ := strings.Cut(s, "..")
		if b.Min, err = num(lo); err == nil {
			if b.Max, err = num(hi); err == nil && *b.Min > *b.Max {
				err = fmt.Errorf("%q: the range is reversed", s)
			}
		}
	default:
		b.Min, err = num(s)
		b.Max = b.Min
	}
	return b, err
}
