package scenarios

import (
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"go.yaml.in/yaml/v3"

	"github.com/portex/portex/loadgen"
)

// decoder walks a scenario's YAML nodes onto a Scenario that already holds
// the defaults: a key that is present overwrites its field, a value that
// cannot be decoded is a problem and leaves the field as it was. It checks
// shape and types only; validate checks ranges and rules across fields.
type decoder struct {
	*collector
	values map[string]pos // where each key path's value is written
	keys   map[string]pos // where each key path's key is written

	// rename maps the scenario's key paths to a variant's, while the
	// variant's overrides are decoded onto a copy of the scenario: its
	// problems carry the scenario's key paths until then. Nil otherwise.
	rename map[string]string
}

func newDecoder(c *collector) *decoder {
	return &decoder{collector: c, values: make(map[string]pos), keys: make(map[string]pos)}
}

// setter decodes the value n of the key path path onto a field.
type setter func(path string, n *yaml.Node)

// field is a known key of a mapping.
type field struct {
	key string
	set setter
}

// into makes a setter that stores what parse returns in dst, if it succeeds.
func into[T any](dst *T, parse func(path string, n *yaml.Node) (T, bool)) setter {
	return func(path string, n *yaml.Node) {
		if v, ok := parse(path, n); ok {
			*dst = v
		}
	}
}

// str parses a string scalar as any string type.
func str[T ~string](d *decoder) func(string, *yaml.Node) (T, bool) {
	return func(path string, n *yaml.Node) (T, bool) {
		s, ok := d.scalar(path, n, "a string")
		return T(strings.TrimSpace(s)), ok
	}
}

func (d *decoder) scenario(n *yaml.Node, s *Scenario) {
	d.values[""] = at(n)
	d.mapping("", "scenario", n, []field{
		{"name", into(&s.Name, str[string](d))},
		{"description", into(&s.Description, str[string](d))},
		{"duration", into(&s.Duration, d.duration)},
		{"runtime", into(&s.Runtime, str[string](d))},
		{"sandbox", func(path string, n *yaml.Node) { d.sandbox(path, n, &s.Sandbox) }},
		{"server", func(path string, n *yaml.Node) { d.server(path, n, &s.Server) }},
		{"pools", into(&s.Pools, d.pools)},
		{"stop", func(path string, n *yaml.Node) { d.stop(path, n, &s.Stop) }},
		{"variants", into(&s.Variants, d.variants)},
		{"expect", into(&s.Expect, d.expect)}, // also in overrideFields
		{"programs", into(&s.Programs, d.programs)},
		{"nat", func(path string, n *yaml.Node) { d.nat(path, n, &s.NAT) }},
		{"family", into(&s.Family, str[loadgen.Family](d))}, // also in overrideFields
	})
}

func (d *decoder) sandbox(path string, n *yaml.Node, sb *Sandbox) {
	d.mapping(path, "sandbox", n, []field{
		{"port_range", into(&sb.PortRange, d.portRange)},
		{"sysctls", d.mergeSysctls(&sb.Sysctls)},
		{"nofile", into(&sb.Nofile, d.integer)},
		{"processes", into(&sb.Processes, d.integer)},
	})
}

// nat decodes the NAT's keys onto *nat, made if nil (a variant changes
// the scenario's NAT key by key, or adds one).
func (d *decoder) nat(path string, n *yaml.Node, nat **NAT) {
	if *nat == nil {
		*nat = &NAT{Mode: loadgen.NATMasquerade}
	} else {
		c := **nat
		*nat = &c
	}
	nt := *nat
	d.mapping(path, "nat", n, []field{
		{"ports", into(&nt.Ports, d.portRange)},
		{"mode", into(&nt.Mode, str[string](d))},
		{"random_fully", into(&nt.RandomFully, d.boolean)},
		{"addresses", into(&nt.Addresses, d.integer)},
		{"per_client_ports", into(&nt.PerClientPorts, d.integer)},
		{"conntrack", func(path string, n *yaml.Node) {
			ct := &nt.Conntrack
			d.mapping(path, "conntrack", n, []field{
				{"time_wait", into(&ct.TimeWait, d.duration)},
				{"established", into(&ct.Established, d.duration)},
				{"close_wait", into(&ct.CloseWait, d.duration)},
				{"max", into(&ct.Max, d.integer)},
			})
		}},
	})
}

func (d *decoder) server(path string, n *yaml.Node, sv *Server) {
	d.mapping(path, "server", n, []field{
		{"port", into(&sv.Port, d.integer)},
		{"ports", into(&sv.Ports, d.integer)},
		{"backlog", into(&sv.Backlog, d.integer)},
		{"linger", into(&sv.LingerReset, d.linger)},
		{"sysctls", d.mergeSysctls(&sv.Sysctls)},
		{"close", into(&sv.Close, d.serverClose)},
		{"protocol", into(&sv.Protocol, str[loadgen.Protocol](d))},
		{"keepalive_requests", into(&sv.KeepaliveRequests, d.integer)},
		{"idle_timeout", into(&sv.IdleTimeout, d.duration)},
		{"drop_syn", into(&sv.DropSYN, d.dropSYN)},
		{"exec", into(&sv.Exec, d.argv)},
		{"env", into(&sv.Env, d.env)},
		{"ready_timeout", into(&sv.ReadyTimeout, d.duration)},
	})
}

// dropSYN parses the share of SYNs the server drops: true (all), false
// (none) or a percentage.
func (d *decoder) dropSYN(path string, n *yaml.Node) (float64, bool) {
	s, ok := d.scalar(path, n, "true, false or a percentage")
	if !ok {
		return 0, false
	}
	switch strings.TrimSpace(s) {
	case "true":
		return 1, true
	case "false":
		return 0, true
	}
	v, err := parsePercent(s)
	if err != nil {
		d.addf(at(n), path, "want true (drop every SYN), false, or a share like 50%%, got %s%s", quote(s), detail(err))
		return 0, false
	}
	return v, true
}

func (d *decoder) stop(path string, n *yaml.Node, st *Stop) {
	d.mapping(path, "stop", n, []field{
		{"on", into(&st.On, str[loadgen.StopOn](d))},
		{"after_failures", func(path string, n *yaml.Node) {
			if v, ok := d.integer(path, n); ok {
				st.AfterFailures = int64(v)
			}
		}},
	})
}

// pools decodes the list of pools; an empty value is an empty list, which
// validate reports.
func (d *decoder) pools(path string, n *yaml.Node) ([]Pool, bool) {
	if !d.plain(path, n) {
		return nil, false
	}
	if isNull(n) {
		return nil, true
	}
	if n.Kind != yaml.SequenceNode {
		d.addf(at(n), path, "want a list of pools (each item starting with \"- \"), got %s", describe(n))
		return nil, false
	}
	pools := make([]Pool, len(n.Content))
	for i, elem := range n.Content {
		p := item(path, i)
		d.values[p] = at(elem)
		pools[i] = defaultPool()
		d.pool(p, elem, &pools[i])
	}
	return pools, true
}

// pool decodes one pool's mapping onto p: a new pool's defaults, or a
// pool of the scenario that a variant changes.
func (d *decoder) pool(path string, n *yaml.Node, p *Pool) {
	written := d.mapping(path, "pool", n, d.poolFields(p))
	d.poolRules(path, written, p)
}

// poolFields are a pool's keys. Workers makes the pool a closed model and
// rate or ramp an open one, so each clears the other: a variant can switch
// a pool's model by setting one of them.
func (d *decoder) poolFields(p *Pool) []field {
	return []field{
		{"name", into(&p.Name, str[string](d))},
		{"workers", func(path string, n *yaml.Node) {
			if v, ok := d.integer(path, n); ok {
				p.Workers, p.Rate, p.Ramp = v, 0, nil
			}
		}},
		{"rate", func(path string, n *yaml.Node) {
			if v, ok := d.rate(path, n); ok {
				p.Rate, p.Workers = v, 0
			}
		}},
		{"ramp", func(path string, n *yaml.Node) {
			if v, ok := d.ramp(path, n); ok {
				p.Ramp, p.Workers = v, 0
			}
		}},
		{"max_in_flight", into(&p.MaxInFlight, d.integer)},
		{"start", into(&p.Start, d.duration)},
		{"duration", into(&p.Duration, d.duration)},
		{"messages", into(&p.Messages, d.integer)},
		{"payload", into(&p.Payload, d.size)},
		{"interval", into(&p.Interval, d.duration)},
		{"hold", into(&p.Hold, d.hold)},
		{"close", into(&p.Close, str[loadgen.CloseMode](d))},
		{"pool_size", into(&p.PoolSize, d.integer)},
		{"leak", into(&p.Leak, d.percent)},
		{"connect_timeout", into(&p.ConnectTimeout, d.duration)},
		{"destinations", into(&p.Destinations, d.integer)},
		{"source_addresses", into(&p.SourceAddresses, d.integer)},
		{"bind", into(&p.Bind, str[loadgen.BindMode](d))},
		{"family", into(&p.Family, str[loadgen.Family](d))},
	}
}

// poolRules checks which of the keys written in one pool mapping go
// together, once the mapping is decoded onto p. It looks at the keys of
// that mapping only: a variant that makes an open pool closed (workers)
// or stops keeping connections (close) is not blamed for the
// max_in_flight or pool_size the scenario wrote, which then no longer
// apply.
func (d *decoder) poolRules(path string, written []entry, p *Pool) {
	has := make(map[string]entry, len(written))
	for _, e := range written {
		has[e.name] = e
	}
	if _, ok := has["workers"]; ok {
		conflict := false
		for _, k := range []string{"rate", "ramp"} {
			if e, ok := has[k]; ok {
				d.addf(at(e.key), child(path, k), "workers (a closed model: each worker opens one connection after another) "+
					"and %s (an open model: connections arrive on a schedule) exclude each other; keep one", k)
				conflict = true
			}
		}
		if conflict {
			return // which model the pool ended up with depends on the order of the keys
		}
	}
	if e, ok := has["rate"]; ok && p.Rate == 0 && len(p.Ramp) == 0 && !d.reported(child(path, "rate")) {
		d.addf(at(e.value), child(path, "rate"), "must be more than 0/s; to start from nothing, leave rate out and begin with a ramp")
	}
	if e, ok := has["max_in_flight"]; ok && !p.Open() {
		d.addf(at(e.key), child(path, "max_in_flight"), "applies to an open pool, one with a rate; "+
			"a pool of workers has at most one connection per worker in flight")
	}
	if e, ok := has["pool_size"]; ok && p.Close != loadgen.CloseKeep {
		d.addf(at(e.key), child(path, "pool_size"), "applies only to close: keep, the keep-alive pool; this pool closes with %s", quote(string(p.Close)))
	}
	if e, ok := has["leak"]; ok && p.Leak > 0 && (p.Close == loadgen.CloseKeep || p.Close == loadgen.CloseLeak) {
		d.addf(at(e.key), child(path, "leak"), "is the share of connections a pool forgets to close; with close: %s it closes none anyway", p.Close)
	}
}

// variants decodes the list of variants: each one's name and description,
// and its overrides as written, which Plans decodes onto a copy of the
// scenario (see Scenario.applyVariant).
func (d *decoder) variants(path string, n *yaml.Node) ([]Variant, bool) {
	if !d.plain(path, n) {
		return nil, false
	}
	if isNull(n) {
		return nil, true
	}
	if n.Kind != yaml.SequenceNode {
		d.addf(at(n), path, "want a list of variants (each item starting with \"- name: \"), got %s", describe(n))
		return nil, false
	}
	variants := make([]Variant, len(n.Content))
	for i, elem := range n.Content {
		p := item(path, i)
		d.values[p] = at(elem)
		v := &variants[i]
		v.node = elem
		fields := []field{
			{"name", into(&v.Name, str[string](d))},
			{"description", into(&v.Description, str[string](d))},
		}
		for _, f := range d.overrideFields(&Scenario{}) {
			fields = append(fields, field{f.key, func(path string, n *yaml.Node) {
				v.overrides = append(v.overrides, override{key: f.key, at: d.keys[path], value: n})
			}})
		}
		d.mapping(p, "variant", elem, fields)
	}
	return variants, true
}

// overrideFields are the keys a variant may override besides its name and
// description, decoded onto s, a copy of the scenario, under the
// scenario's own key paths. Pools are changed by name; sysctls add to the
// scenario's; every other value replaces the scenario's.
func (d *decoder) overrideFields(s *Scenario) []field {
	return []field{
		{"duration", into(&s.Duration, d.duration)},
		{"sandbox", func(path string, n *yaml.Node) { d.sandbox(path, n, &s.Sandbox) }},
		{"server", func(path string, n *yaml.Node) { d.server(path, n, &s.Server) }},
		{"pools", func(path string, n *yaml.Node) { d.poolChanges(path, n, s.Pools) }},
		{"stop", func(path string, n *yaml.Node) { d.stop(path, n, &s.Stop) }},
		{"nat", func(path string, n *yaml.Node) { d.nat(path, n, &s.NAT) }},
		{"expect", into(&s.Expect, d.expect)},       // replaces the scenario's
		{"programs", into(&s.Programs, d.programs)}, // replaces the scenario's
		{"family", into(&s.Family, str[loadgen.Family](d))},
	}
}

// poolChanges decodes a variant's list of pool changes: each names a pool
// of the scenario and sets the keys it changes. d.rename learns the
// variant's key path of each pool it changes.
func (d *decoder) poolChanges(path string, n *yaml.Node, pools []Pool) {
	if !d.plain(path, n) || isNull(n) {
		return
	}
	if n.Kind != yaml.SequenceNode {
		d.addf(at(n), path, "want a list of pool changes, each naming a pool of the scenario, like [{name: clients, close: reset}], got %s", describe(n))
		return
	}
	changed := make(map[int]int, len(n.Content)) // pool index → the item that changes it
	for k, elem := range n.Content {
		// Problems before the pool is known get a key path of their own,
		// which rename turns into the variant's.
		own := item("variant-pools", k)
		d.rename[own] = item(d.rename[path], k)
		j, ok := d.poolByName(own, elem, pools)
		if !ok {
			continue
		}
		p := item("pools", j)
		if first, dup := changed[j]; dup {
			d.addf(at(elem), own, "pool %q is already changed by item %d of this list; merge the two", pools[j].Name, first)
			continue
		}
		changed[j] = k
		d.rename[p] = d.rename[own]
		d.pool(p, elem, &pools[j])
		// The name only finds the pool; its position stays the scenario's.
		delete(d.values, child(p, "name"))
		delete(d.keys, child(p, "name"))
	}
}

// poolByName finds the pool of the scenario that a variant's pool change
// names.
func (d *decoder) poolByName(path string, n *yaml.Node, pools []Pool) (int, bool) {
	if !d.plain(path, n) {
		return 0, false
	}
	if n.Kind != yaml.MappingNode {
		d.addf(at(n), path, "want a mapping that names a pool of the scenario and sets what changes, like {name: clients, close: reset}, got %s", describe(n))
		return 0, false
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if k := n.Content[i]; k.Kind != yaml.ScalarNode || k.Value != "name" {
			continue
		}
		s, ok := d.scalar(child(path, "name"), n.Content[i+1], "the name of a pool of the scenario")
		if !ok {
			return 0, false
		}
		s = strings.TrimSpace(s)
		names := make([]string, len(pools))
		for j, p := range pools {
			if p.Name == s {
				return j, true
			}
			names[j] = p.Name
		}
		if len(pools) == 0 {
			return 0, false // the scenario's own problem, reported there
		}
		msg := fmt.Sprintf("the scenario has no pool named %s", quote(s))
		if near := closest(s, names); near != "" {
			msg += fmt.Sprintf("; did you mean %q?", near)
		} else {
			msg += "; its pools: " + strings.Join(names, ", ")
		}
		d.addf(at(n.Content[i+1]), child(path, "name"), "%s", msg)
		return 0, false
	}
	d.addf(at(n), path, "missing key \"name\": a variant changes a pool of the scenario by naming it")
	return 0, false
}

// mergeSysctls makes a setter that adds the sysctls written to those in
// dst, replacing only those it names: a variant that sets one sysctl keeps
// the scenario's others.
func (d *decoder) mergeSysctls(dst *map[string]string) setter {
	return func(path string, n *yaml.Node) {
		m, ok := d.sysctls(path, n)
		if !ok {
			return
		}
		if *dst == nil {
			*dst = make(map[string]string, len(m))
		}
		maps.Copy(*dst, m)
	}
}

// sysctls decodes a mapping of sysctl names to scalar values; validate
// checks the names and values.
func (d *decoder) sysctls(path string, n *yaml.Node) (map[string]string, bool) {
	entries, ok := d.entries(path, n)
	if !ok {
		return nil, false
	}
	m := make(map[string]string, len(entries))
	for _, e := range entries {
		p := child(path, e.name)
		s, ok := d.scalar(p, e.value, "a number or a word")
		if !ok {
			continue
		}
		var v int64
		if e.value.ShortTag() == "!!int" && e.value.Decode(&v) == nil {
			s = strconv.FormatInt(v, 10)
		}
		m[e.name] = s
	}
	return m, true
}

// entry is one key and its value in a mapping.
type entry struct {
	name       string
	key, value *yaml.Node
}

// entries returns the entries of the mapping n at path, recording where
// each is and refusing duplicate and non-scalar keys. An empty value is an
// empty mapping: what remains when every entry is commented out.
func (d *decoder) entries(path string, n *yaml.Node) ([]entry, bool) {
	if !d.plain(path, n) {
		return nil, false
	}
	if isNull(n) {
		return nil, true
	}
	if n.Kind != yaml.MappingNode {
		d.addf(at(n), path, "want a mapping of keys, got %s", describe(n))
		return nil, false
	}
	seen := make(map[string]int, len(n.Content)/2)
	entries := make([]entry, 0, len(n.Content)/2)
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if !d.plain(path, k) {
			continue
		}
		if k.Kind != yaml.ScalarNode {
			d.addf(at(k), path, "keys must be plain words, got %s", describe(k))
			continue
		}
		p := child(path, k.Value)
		if line, dup := seen[k.Value]; dup {
			d.addf(at(k), p, "duplicate key %q (first set on line %d)", k.Value, line)
			continue
		}
		seen[k.Value] = k.Line
		d.keys[p], d.values[p] = at(k), at(v)
		entries = append(entries, entry{name: k.Value, key: k, value: v})
	}
	return entries, true
}

// mapping decodes the mapping n at path, described as what in messages,
// through its known fields, and returns its entries.
func (d *decoder) mapping(path, what string, n *yaml.Node, fields []field) []entry {
	entries, _ := d.entries(path, n)
	for _, e := range entries {
		p := child(path, e.name)
		if f := lookup(fields, e.name); f != nil {
			f.set(p, e.value)
			continue
		}
		names := make([]string, len(fields))
		for i, f := range fields {
			names[i] = f.key
		}
		if near := closest(e.name, names); near != "" {
			d.addf(at(e.key), p, "unknown key %q in %s; did you mean %q?", e.name, what, near)
		} else {
			d.addf(at(e.key), p, "unknown key %q in %s; known keys: %s", e.name, what, strings.Join(names, ", "))
		}
	}
	return entries
}

func lookup(fields []field, key string) *field {
	for i := range fields {
		if fields[i].key == key {
			return &fields[i]
		}
	}
	return nil
}

// coreTags are the tags a scenario may write explicitly, e.g. !!str 0777.
var coreTags = map[string]bool{"!!str": true, "!!int": true, "!!float": true, "!!bool": true, "!!null": true, "!!map": true, "!!seq": true}

// plain refuses aliases, anchors and unknown tags.
func (d *decoder) plain(path string, n *yaml.Node) bool {
	switch {
	case n.Kind == yaml.AliasNode:
		d.addf(at(n), path, "aliases (*%s) are not supported; write the value out", n.Value)
	case n.Anchor != "":
		d.addf(at(n), path, "anchors (&%s) are not supported; write the value out where it is needed", n.Anchor)
	case n.Style&yaml.TaggedStyle != 0 && !coreTags[n.Tag]:
		d.addf(at(n), path, "tag %s is not supported", n.Tag)
	default:
		return true
	}
	return false
}

// scalar returns the text of the scalar n, or records that a value like
// want was expected.
func (d *decoder) scalar(path string, n *yaml.Node, want string) (string, bool) {
	if !d.plain(path, n) {
		return "", false
	}
	if n.Kind != yaml.ScalarNode || isNull(n) {
		d.addf(at(n), path, "want %s, got %s", want, describe(n))
		return "", false
	}
	return n.Value, true
}

// integer parses an integer scalar.
func (d *decoder) integer(path string, n *yaml.Node) (int, bool) {
	s, ok := d.scalar(path, n, "an integer")
	if !ok {
		return 0, false
	}
	var v int64
	if n.ShortTag() != "!!int" || n.Decode(&v) != nil || int64(int(v)) != v {
		d.addf(at(n), path, "want an integer, got %s%s", quote(s), quotedHint(n))
		return 0, false
	}
	return int(v), true
}

// duration parses a Go duration like 30s or 1m30s.
func (d *decoder) duration(path string, n *yaml.Node) (time.Duration, bool) {
	s, ok := d.scalar(path, n, "a duration")
	if !ok {
		return 0, false
	}
	v, err := parseDuration(s)
	if err != nil {
		d.addf(at(n), path, "want a duration like 30s or 1m30s, got %s%s", quote(s), detail(err))
		return 0, false
	}
	return v, true
}

// hold parses a hold time: a duration, "forever", uniform(min,max) or
// exp(mean).
func (d *decoder) hold(path string, n *yaml.Node) (loadgen.Hold, bool) {
	s, ok := d.scalar(path, n, "a duration or \"forever\"")
	if !ok {
		return loadgen.Hold{}, false
	}
	h, err := parseHold(s)
	if err != nil {
		d.addf(at(n), path, "want a duration like 500ms, uniform(1s,5s), exp(2s) or \"forever\", got %s%s", quote(s), detail(err))
		return loadgen.Hold{}, false
	}
	return h, true
}

// rate parses a rate like 200/s or 30/m into arrivals per second.
func (d *decoder) rate(path string, n *yaml.Node) (float64, bool) {
	s, ok := d.scalar(path, n, "a rate")
	if !ok {
		return 0, false
	}
	v, err := parseRate(s)
	if err != nil {
		d.addf(at(n), path, "want a rate like 200/s or 30/m, got %s%s", quote(s), detail(err))
		return 0, false
	}
	return v, true
}

// ramp decodes a list of rate stages like [{to: 400/s, over: 10s}].
func (d *decoder) ramp(path string, n *yaml.Node) ([]loadgen.Stage, bool) {
	const example = "[{to: 400/s, over: 10s}]"
	if !d.plain(path, n) {
		return nil, false
	}
	switch {
	case n.Kind != yaml.SequenceNode:
		d.addf(at(n), path, "want a list of rate stages like %s, got %s", example, describe(n))
		return nil, false
	case len(n.Content) == 0:
		d.addf(at(n), path, "needs at least one stage, like %s; without a ramp, leave the key out", example)
		return nil, false
	}
	stages := make([]loadgen.Stage, len(n.Content))
	for i, elem := range n.Content {
		p := item(path, i)
		d.values[p] = at(elem)
		st := &stages[i]
		written := d.mapping(p, "ramp stage", elem, []field{
			{"to", into(&st.To, d.rate)},
			{"over", into(&st.Over, d.duration)},
		})
		if elem.Kind != yaml.MappingNode || d.reported(p) {
			continue
		}
		for _, key := range []string{"to", "over"} {
			if !slices.ContainsFunc(written, func(e entry) bool { return e.name == key }) {
				d.addf(at(elem), child(p, key), "missing key %q: a ramp stage is like %s", key, example[1:len(example)-1])
			}
		}
	}
	return stages, true
}

// percent parses a share written as a percentage, like 5%.
func (d *decoder) percent(path string, n *yaml.Node) (float64, bool) {
	s, ok := d.scalar(path, n, "a percentage")
	if !ok {
		return 0, false
	}
	v, err := parsePercent(s)
	if err != nil {
		d.addf(at(n), path, "want a percentage like 5%%, got %s%s", quote(s), detail(err))
		return 0, false
	}
	return v, true
}

// linger parses how the server closes: "reset" (with RST) or "default"
// (with FIN).
func (d *decoder) linger(path string, n *yaml.Node) (bool, bool) {
	s, ok := d.scalar(path, n, "\"reset\" or \"default\"")
	if !ok {
		return false, false
	}
	switch strings.TrimSpace(s) {
	case "reset":
		return true, true
	case "default":
		return false, true
	}
	d.addf(at(n), path, "want \"reset\" (close with RST: no TIME_WAIT on the server) or \"default\" (close with FIN), got %s", quote(s))
	return false, false
}

// serverClose parses when the server closes first: "client" (never: it
// waits for the client), or a mapping of after_messages and idle.
func (d *decoder) serverClose(path string, n *yaml.Node) (ServerClose, bool) {
	const want = "\"client\", {after_messages: N} or {idle: 2s}"
	if !d.plain(path, n) {
		return ServerClose{}, false
	}
	if n.Kind == yaml.MappingNode {
		var sc ServerClose
		written := d.mapping(path, "server.close", n, []field{
			{"after_messages", func(path string, n *yaml.Node) {
				if v, ok := d.integer(path, n); ok {
					sc.AfterMessages = &v
				}
			}},
			{"idle", into(&sc.Idle, d.duration)},
		})
		if len(written) == 0 {
			d.addf(at(n), path, "want after_messages, idle or both in the mapping; to wait for the client, write close: client")
			return ServerClose{}, false
		}
		return sc, true
	}
	s, ok := d.scalar(path, n, want)
	if !ok {
		return ServerClose{}, false
	}
	if strings.TrimSpace(s) != "client" {
		d.addf(at(n), path, "want %s, got %s", want, quote(s))
		return ServerClose{}, false
	}
	return ServerClose{}, true
}

// size parses a byte size like 64, 64B, 4KB or 1MiB.
func (d *decoder) size(path string, n *yaml.Node) (int, bool) {
	s, ok := d.scalar(path, n, "a size")
	if !ok {
		return 0, false
	}
	v, err := parseSize(s)
	if err != nil {
		d.addf(at(n), path, "want a size like 64, 64B, 4KB, 1KiB or 1MiB, got %s%s", quote(s), detail(err))
		return 0, false
	}
	return v, true
}

// portRange parses "lo-hi".
func (d *decoder) portRange(path string, n *yaml.Node) (loadgen.PortRange, bool) {
	s, ok := d.scalar(path, n, "a port range")
	if !ok {
		return loadgen.PortRange{}, false
	}
	r, ok := parsePortRange(s)
	if !ok {
		d.addf(at(n), path, "want a port range \"lo-hi\" like 50000-50199, got %s", quote(s))
		return loadgen.PortRange{}, false
	}
	return r, true
}

func isNull(n *yaml.Node) bool { return n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null" }

// describe says what n is, for "want X, got Y" messages.
func describe(n *yaml.Node) string {
	switch {
	case n.Kind == yaml.MappingNode:
		return "a mapping"
	case n.Kind == yaml.SequenceNode:
		return "a list"
	case n.Kind == yaml.AliasNode:
		return "an alias"
	case isNull(n):
		return "nothing"
	}
	return quote(n.Value)
}

// quote quotes s for a message, shortened to 40 characters.
func quote(s string) string {
	if utf8.RuneCountInString(s) > 40 {
		s = string([]rune(s)[:40]) + "..."
	}
	return strconv.Quote(s)
}

// quotedHint explains why a quoted number is not a number.
func quotedHint(n *yaml.Node) string {
	if n.Style&(yaml.DoubleQuotedStyle|yaml.SingleQuotedStyle) != 0 {
		return " (quoted, so a string: remove the quotes)"
	}
	return ""
}
