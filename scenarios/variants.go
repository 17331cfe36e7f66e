package scenarios

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/portex/portex/analysis"
	"github.com/portex/portex/loadgen"
)

// DefaultVariant names the plan of a scenario without variants.
const DefaultVariant = "default"

// BaselineVariant names the run of the scenario as written, without
// overrides, that comes before its variants' runs, so that they have
// something to be compared with; a variant of that name takes its place.
const BaselineVariant = "baseline"

// resolved is one plan to be: its variant's name and the scenario with
// the variant's overrides applied.
type resolved struct {
	variant string
	s       *Scenario
}

// VariantNames returns the names of the plans Plans makes, in run order:
// "default" for a scenario without variants; otherwise "baseline" (the
// scenario as written) unless a variant has that name, then every variant
// in file order.
func (s *Scenario) VariantNames() []string {
	if len(s.Variants) == 0 {
		return []string{DefaultVariant}
	}
	var names []string
	if !s.hasVariant(BaselineVariant) {
		names = append(names, BaselineVariant)
	}
	for _, v := range s.Variants {
		names = append(names, v.Name)
	}
	return names
}

func (s *Scenario) hasVariant(name string) bool {
	return slices.ContainsFunc(s.Variants, func(v Variant) bool { return v.Name == name })
}

// Run is one variant ready to run: the engine's plan and, beside it, what
// the scenario expects of the run. The expectations stay with the caller,
// which checks them against the result; the plan alone goes to the agent.
type Run struct {
	Plan   *loadgen.Plan
	Expect *analysis.Expect // nil when the scenario expects nothing
}

// Plans validates s and compiles it to the engine's plans, one per
// variant, in the order of VariantNames. Every error it returns is a
// Problems value.
func (s *Scenario) Plans() ([]*loadgen.Plan, error) { return s.PlansFor(nil) }

// PlansFor is RunsFor's plans alone.
func (s *Scenario) PlansFor(names []string) ([]*loadgen.Plan, error) {
	runs, err := s.RunsFor(names)
	if err != nil {
		return nil, err
	}
	plans := make([]*loadgen.Plan, len(runs))
	for i, r := range runs {
		plans[i] = r.Plan
	}
	return plans, nil
}

// Runs is RunsFor every variant.
func (s *Scenario) Runs() ([]Run, error) { return s.RunsFor(nil) }

// RunsFor validates s and compiles the named variants (see VariantNames)
// to plans with their expectations, in run order; no names means every
// variant. It validates the whole scenario, every variant included. An
// unknown name is a problem that lists the variants. Every error it
// returns is a Problems value.
func (s *Scenario) RunsFor(names []string) ([]Run, error) {
	c := newCollector(s.File)
	variants := s.resolve(c)
	if err := c.err(); err != nil {
		return nil, err
	}
	if len(names) > 0 {
		all := s.VariantNames()
		for _, name := range names {
			if !slices.Contains(all, name) {
				c.addf(pos{}, "", "%s", unknownVariant(name, all))
			}
		}
		if err := c.err(); err != nil {
			return nil, err
		}
		variants = slices.DeleteFunc(variants, func(r resolved) bool { return !slices.Contains(names, r.variant) })
	}
	runs := make([]Run, len(variants))
	for i, r := range variants {
		p := r.s.compile(r.variant)
		if err := p.Check(); err != nil {
			// validate should have caught it: a bug here, not in the file.
			c.addf(pos{}, "", "internal error: the engine refuses the compiled plan of variant %q (please report it): %v", r.variant, err)
			return nil, c.err()
		}
		runs[i] = Run{Plan: p, Expect: r.s.Expect}
	}
	return runs, nil
}

// unknownVariant is the problem with a variant name the scenario lacks.
func unknownVariant(name string, all []string) string {
	msg := fmt.Sprintf("no variant %s", quote(name))
	if near := closest(name, all); near != "" && name != "" {
		msg += fmt.Sprintf("; did you mean %q?", near)
	}
	return msg + "; the variants are " + strings.Join(all, ", ")
}

// resolve validates s and each of its variants, recording every problem
// in c, and returns the runs of VariantNames.
func (s *Scenario) resolve(c *collector) []resolved {
	// Values that failed to decode are left at their defaults: the copies
	// must not report those again, unless a variant writes them.
	undecoded := maps.Clone(c.bad)
	validate(s, c)
	switch {
	case len(s.Variants) == 0:
		return []resolved{{DefaultVariant, s}}
	case len(s.Variants) > maxVariants || len(s.Pools) > maxPools:
		// Reported by validate. Each variant copies and checks the whole
		// scenario: these bounds keep that quick on any input.
		return nil
	}
	var runs []resolved
	if !s.hasVariant(BaselineVariant) {
		runs = append(runs, resolved{BaselineVariant, s})
	}
	seen := make(map[Problem]bool, len(c.problems))
	for _, p := range c.problems {
		seen[p] = true
	}
	for i := range s.Variants {
		runs = append(runs, resolved{s.Variants[i].Name, s.applyVariant(i, c, undecoded, seen)})
	}
	return runs
}

// applyVariant decodes the overrides of variant i onto a deep copy of s,
// validates the copy, records its problems in c, and returns it.
// undecoded holds the key paths of s whose values failed to decode, seen
// the problems in c.
//
// The copy's problems carry the scenario's key paths; adopt renames them.
// Where a variant's value replaces the scenario's, the scenario's
// positions under it are forgotten, so that a problem of the copy never
// points at a value the variant replaced.
func (s *Scenario) applyVariant(i int, c *collector, undecoded map[string]bool, seen map[Problem]bool) *Scenario {
	v := &s.Variants[i]
	vpath := item("variants", i)
	cp := s.clone()
	vc := newCollector(s.File)
	d := newDecoder(vc)
	d.rename = make(map[string]string)
	fields := d.overrideFields(cp)
	for _, o := range v.overrides {
		d.rename[o.key] = child(vpath, o.key)
		d.keys[o.key], d.values[o.key] = o.at, at(o.value)
		if f := lookup(fields, o.key); f != nil {
			f.set(o.key, o.value)
		}
	}
	forget(cp.values, d.values)
	forget(cp.keys, d.values)
	for p, q := range d.values {
		if _, had := cp.values[p]; had && mergedContainer(p) {
			continue // a section keeps the scenario's position
		}
		cp.values[p] = q
		if k, ok := d.keys[p]; ok {
			cp.keys[p] = k
		}
	}
	for k := range undecoded {
		if !overridden(k, d.values) {
			vc.bad[k] = true
		}
	}
	validateVariant(cp, vc, d.values)
	c.adopt(vc, v, d.rename, seen)
	cp.written, cp.rename = d.values, d.rename
	return cp
}

// Locate returns the problem msg about a key in the run of the named
// variant (see VariantNames), for problems found outside the scenario,
// like a runtime's refusal. key is a key of the pool named pool, or, when
// pool is "", a key path from the top, like "server.close". The problem
// points where that run's value comes from: the variant's key if the
// variant writes it, else the scenario's, else the nearest written key
// above it.
func (s *Scenario) Locate(variant, pool, key, msg string) Problem {
	path := key
	if pool != "" {
		if i := slices.IndexFunc(s.Pools, func(p Pool) bool { return p.Name == pool }); i >= 0 {
			path = child(item("pools", i), key)
		}
	}
	from := s
	if len(s.Variants) > 0 {
		for _, r := range s.resolve(newCollector(s.File)) {
			if r.variant == variant {
				from = r.s
				break
			}
		}
	}
	pr := Problem{File: s.File, Key: path, Msg: msg}
	for p := path; ; p = parent(p) {
		q, ok := from.keys[p]
		if !ok {
			q, ok = from.values[p]
		}
		if ok {
			pr.Line, pr.Col = q.line, q.col
			if _, wrote := from.written[p]; wrote && !mergedContainer(p) {
				pr.Key = renamed(path, from.rename)
			}
			return pr
		}
		if p == "" {
			return pr
		}
	}
}

// overridden reports whether a variant replaced the value at key path k:
// wrote it, or a value that holds it, other than a section it merges into.
func overridden(k string, written map[string]pos) bool {
	for p := k; p != ""; p = parent(p) {
		if _, ok := written[p]; ok && !mergedContainer(p) {
			return true
		}
	}
	return false
}

// mergedContainer reports whether a variant's value at path p merges into
// the scenario's rather than replacing it: the sections, the sysctl maps
// and a changed pool.
func mergedContainer(p string) bool {
	switch p {
	case "sandbox", "server", "stop", "pools", "sandbox.sysctls", "server.sysctls":
		return true
	}
	rest, ok := strings.CutPrefix(p, "pools[")
	return ok && strings.HasSuffix(rest, "]") && strings.Trim(rest[:len(rest)-1], "0123456789") == ""
}

// forget deletes from m the positions of the key paths inside a value
// that a variant wrote, other than a section it merges into.
func forget(m map[string]pos, written map[string]pos) {
	if !slices.ContainsFunc(slices.Collect(maps.Keys(written)), func(p string) bool { return !mergedContainer(p) }) {
		return // nothing replaced
	}
	for k := range m {
		for p := parent(k); p != ""; p = parent(p) {
			if _, ok := written[p]; ok && !mergedContainer(p) {
				delete(m, k)
				break
			}
		}
	}
}

// adopt moves the problems of variant v's copy of the scenario from vc
// into c, where seen holds those c has. Those that c has already, the
// scenario's own among them, are dropped. Those written in the variant get
// its key paths, through rename. The others are at the scenario's keys, in
// a combination only the variant makes: they say which variant.
func (c *collector) adopt(vc *collector, v *Variant, rename map[string]string, seen map[Problem]bool) {
	first, last := span(v.node)
	for _, p := range vc.problems {
		if seen[p] {
			continue
		}
		if q := (pos{p.Line, p.Col}); v.node != nil && !before(q, first) && !before(last, q) {
			p.Key = renamed(p.Key, rename)
		} else {
			p.Msg += fmt.Sprintf(" (in variant %s)", quote(v.Name))
		}
		if !seen[p] {
			seen[p] = true
			c.problems = append(c.problems, p)
			c.bad[p.Key] = true
		}
	}
}

// renamed is the variant's key path for the scenario's key path key.
func renamed(key string, rename map[string]string) string {
	for p := key; p != ""; p = parent(p) {
		if r, ok := rename[p]; ok {
			return r + key[len(p):]
		}
	}
	return key
}

// span returns the first and the last position of the nodes in n.
func span(n *yaml.Node) (first, last pos) {
	if n == nil {
		return pos{}, pos{}
	}
	first, last = at(n), at(n)
	var walk func(n *yaml.Node)
	walk = func(n *yaml.Node) {
		if before(last, at(n)) {
			last = at(n)
		}
		for _, c := range n.Content {
			walk(c)
		}
	}
	walk(n)
	return first, last
}

// before reports whether a comes before b in the file.
func before(a, b pos) bool { return a.line < b.line || (a.line == b.line && a.col < b.col) }
