package scenarios

import (
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
	})
}

func (d *decoder) sandbox(path string, n *yaml.Node, sb *Sandbox) {
	d.mapping(path, "sandbox", n, []field{
		{"port_range", into(&sb.PortRange, d.portRange)},
		{"sysctls", into(&sb.Sysctls, d.sysctls)},
		{"nofile", into(&sb.Nofile, d.integer)},
	})
}

func (d *decoder) server(path string, n *yaml.Node, sv *Server) {
	d.mapping(path, "server", n, []field{
		{"port", into(&sv.Port, d.integer)},
	})
}

func (d *decoder) stop(path string, n *yaml.Node, st *Stop) {
	d.mapping(path, "stop", n, []field{
		{"on", into(&st.On, str[loadgen.StopOn](d))},
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

func (d *decoder) pool(path string, n *yaml.Node, p *Pool) {
	d.mapping(path, "pool", n, []field{
		{"name", into(&p.Name, str[string](d))},
		{"workers", into(&p.Workers, d.integer)},
		{"messages", into(&p.Messages, d.integer)},
		{"payload", into(&p.Payload, d.size)},
		{"hold", into(&p.Hold, d.hold)},
		{"close", into(&p.Close, str[loadgen.CloseMode](d))},
		{"connect_timeout", into(&p.ConnectTimeout, d.duration)},
	})
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
// through its known fields.
func (d *decoder) mapping(path, what string, n *yaml.Node, fields []field) {
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

// hold parses a hold time: a duration or "forever".
func (d *decoder) hold(path string, n *yaml.Node) (loadgen.Hold, bool) {
	s, ok := d.scalar(path, n, "a duration or \"forever\"")
	if !ok {
		return loadgen.Hold{}, false
	}
	if strings.TrimSpace(s) == "forever" {
		return loadgen.Hold{Kind: loadgen.HoldForever}, true
	}
	v, err := parseDuration(s)
	if err != nil {
		d.addf(at(n), path, "want a duration like 500ms or 2m, or \"forever\", got %s%s", quote(s), detail(err))
		return loadgen.Hold{}, false
	}
	return loadgen.Hold{Kind: loadgen.HoldFixed, Min: v}, true
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
