package scenarios

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/portex/portex/loadgen"
)

// allowedSysctls are the sysctls a scenario may set: each belongs to a
// network namespace, so writing it inside the sandbox leaves the host alone.
// The agent enforces the same list.
var allowedSysctls = loadgen.NamespaceSysctls()

// globalSysctls are sysctls known to be global to the host.
var globalSysctls = map[string]bool{
	"net.ipv4.tcp_mem":         true,
	"net.ipv4.tcp_max_orphans": true,
	"net.core.rmem_max":        true,
	"net.core.wmem_max":        true,
}

// globalPrefixes are sysctl trees that are global to the host.
var globalPrefixes = []string{"fs.", "kernel.", "vm."}

// portRangeSysctl is set through sandbox.port_range, not sandbox.sysctls.
const portRangeSysctl = "net.ipv4.ip_local_port_range"

// maxSysctlValue bounds the length of a sysctl value.
const maxSysctlValue = 256

// AllowedSysctls returns, sorted, the sysctls that sandbox.sysctls may set:
// those that belong to a network namespace. net.ipv4.ip_local_port_range
// is set through sandbox.port_range instead.
func AllowedSysctls() []string { return slices.Clone(allowedSysctls) }

// sysctlNameProblem says why a scenario may not set the sysctl name, or ""
// if it may.
func sysctlNameProblem(name string) string {
	if slices.Contains(allowedSysctls, name) {
		return ""
	}
	allowed := "allowed: " + strings.Join(allowedSysctls, ", ")
	if name == portRangeSysctl {
		return "set the port range with sandbox.port_range, like \"port_range: 50000-50199\", not as a sysctl"
	}
	if isGlobalSysctl(name) {
		return quote(name) + " is global to the host, not per network namespace; portex never writes the host's sysctls; " + allowed
	}
	dotted := strings.ReplaceAll(name, "/", ".")
	if near := closest(dotted, allowedSysctls); near != "" {
		return quote(name) + " is not in the per-namespace allowlist; did you mean " + quote(near) + "?"
	}
	return quote(name) + " is not in the per-namespace allowlist; " + allowed
}

func isGlobalSysctl(name string) bool {
	if globalSysctls[name] {
		return true
	}
	for _, p := range globalPrefixes {
		if strings.HasPrefix(name, p) {
			return true
		}
	}
	return false
}

// sysctlValueProblem says why value cannot be written to the sysctl name,
// or "" if it can. A value is letters, digits, spaces and tabs, and the
// ',' and '-' of port lists like ip_local_reserved_ports's
// "50000-50010,50100"; then it must be what the sysctl takes (see
// sysctlValues).
func sysctlValueProblem(name, value string) string {
	switch {
	case strings.TrimSpace(value) == "":
		return "want a value, got nothing"
	case len(value) > maxSysctlValue:
		return "value is longer than 256 characters"
	}
	for _, r := range value {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9':
		case r == ' ' || r == '\t' || r == ',' || r == '-':
		default:
			return "value " + quote(value) + " may hold only letters, digits, spaces, ',' and '-'"
		}
	}
	if rule, ok := sysctlValues[name]; ok {
		return rule.problem(strings.TrimSpace(value))
	}
	return ""
}

// sysctlKind is the shape of a sysctl's value.
type sysctlKind int

const (
	sysctlInt     sysctlKind = iota // one integer in [min, max]
	sysctlTriple                    // three integers in [min, max]: min default max, in that order
	sysctlPortSet                   // a ','-separated list of ports and lo-hi ranges
)

// sysctlRule is what one sysctl takes: its kind, its bounds, the unit of
// its integers and what they mean.
type sysctlRule struct {
	kind     sysctlKind
	min, max int64
	unit     string // "seconds", "milliseconds", or "" for a plain number
	meaning  string // what the values mean, for messages; "" for none
}

// maxSysctlInt is the largest value of the kernel's int sysctls.
const maxSysctlInt = math.MaxInt32

// maxSysctlSeconds bounds the kernel's sysctls kept in jiffies: INT_MAX /
// HZ, at the largest HZ (1000).
const maxSysctlSeconds = math.MaxInt32 / 1000

// sysctlValues are the values each allowed sysctl takes: the kernel's
// bounds (proc_dointvec_minmax, proc_dou8vec_minmax: 0..255, jiffies:
// INT_MAX/HZ), narrowed to the documented values where the kernel accepts
// more than it gives a meaning to, and to non-negative counts and times
// where the kernel would take a negative one. Every allowed sysctl has a
// rule (TestEverySysctlHasARule).
var sysctlValues = map[string]sysctlRule{
	"net.core.somaxconn":               {kind: sysctlInt, min: 0, max: maxSysctlInt},
	"net.ipv4.ip_local_reserved_ports": {kind: sysctlPortSet, min: 0, max: maxPort},
	"net.ipv4.ip_no_pmtu_disc":         {kind: sysctlInt, min: 0, max: 3, meaning: "0 to 3, the path-MTU discovery modes"},
	"net.ipv4.tcp_fastopen":            {kind: sysctlInt, min: 0, max: maxSysctlInt, meaning: "a sum of flags, like 1 (client) or 3 (client and server)"},
	"net.ipv4.tcp_fin_timeout":         {kind: sysctlInt, min: 0, max: maxSysctlSeconds, unit: "seconds"},
	"net.ipv4.tcp_keepalive_intvl":     {kind: sysctlInt, min: 1, max: maxSysctlSeconds, unit: "seconds"},
	"net.ipv4.tcp_keepalive_probes":    {kind: sysctlInt, min: 0, max: 255},
	"net.ipv4.tcp_keepalive_time":      {kind: sysctlInt, min: 1, max: maxSysctlSeconds, unit: "seconds"},
	"net.ipv4.tcp_max_syn_backlog":     {kind: sysctlInt, min: 0, max: maxSysctlInt},
	"net.ipv4.tcp_max_tw_buckets":      {kind: sysctlInt, min: 0, max: maxSysctlInt},
	"net.ipv4.tcp_orphan_retries":      {kind: sysctlInt, min: 0, max: 255},
	"net.ipv4.tcp_retries2":            {kind: sysctlInt, min: 0, max: 255},
	"net.ipv4.tcp_rmem":                {kind: sysctlTriple, min: 1, max: maxSysctlInt, meaning: "bytes: min default max"},
	"net.ipv4.tcp_syn_retries":         {kind: sysctlInt, min: 1, max: 127},
	"net.ipv4.tcp_synack_retries":      {kind: sysctlInt, min: 0, max: 255},
	"net.ipv4.tcp_syncookies":          {kind: sysctlInt, min: 0, max: 2, meaning: "0 off, 1 when the SYN backlog overflows, 2 always"},
	"net.ipv4.tcp_timestamps":          {kind: sysctlInt, min: 0, max: 2, meaning: "0 off, 1 on with a random offset per connection, 2 on without"},
	"net.ipv4.tcp_tw_reuse":            {kind: sysctlInt, min: 0, max: 2, meaning: "0 off, 1 on, 2 on for loopback only"},
	"net.ipv4.tcp_tw_reuse_delay":      {kind: sysctlInt, min: 1, max: 60000, unit: "milliseconds", meaning: "how old a TIME_WAIT socket must be before tcp_tw_reuse takes its port (Linux 6.13+)"},
	"net.ipv4.tcp_wmem":                {kind: sysctlTriple, min: 1, max: maxSysctlInt, meaning: "bytes: min default max"},
}

// problem says why value does not fit the rule, or "" if it does.
func (r sysctlRule) problem(value string) string {
	switch r.kind {
	case sysctlTriple:
		f := strings.Fields(value)
		if len(f) != 3 {
			return fmt.Sprintf("want three integers (%s), like \"4096 131072 6291456\"; got %s", r.meaning, quote(value))
		}
		var n [3]int64
		for i, s := range f {
			v, ok := sysctlInteger(s)
			if !ok || v < r.min || v > r.max {
				return fmt.Sprintf("want three integers from %d to %d (%s); got %s", r.min, r.max, r.meaning, quote(value))
			}
			n[i] = v
		}
		if n[0] > n[1] || n[1] > n[2] {
			return fmt.Sprintf("want min <= default <= max (%s); got %s", r.meaning, quote(value))
		}
	case sysctlPortSet:
		for _, item := range strings.Split(value, ",") {
			lo, hi, isRange := strings.Cut(item, "-")
			l, okL := port(lo)
			h, okH := l, okL
			if isRange {
				h, okH = port(hi)
			}
			if !okL || !okH || l > h || h > int(r.max) {
				return fmt.Sprintf("want ports and ranges of ports from 0 to %d separated by ',' without spaces, like \"50000-50010,50100\"; got %s", maxPort, quote(value))
			}
		}
	default:
		v, ok := sysctlInteger(value)
		if ok && v >= r.min && v <= r.max {
			return ""
		}
		want := fmt.Sprintf("an integer from %d to %d", r.min, r.max)
		if r.max == maxSysctlInt {
			want = fmt.Sprintf("an integer of at least %d", r.min)
		}
		if r.unit != "" {
			want += " (" + r.unit + ")"
		}
		if r.meaning != "" {
			want += ": " + r.meaning
		}
		got := quote(value)
		if ok {
			got = value
		}
		hint := ""
		if b := strings.ToLower(value); b == "true" || b == "false" || b == "yes" || b == "no" || b == "on" || b == "off" {
			hint = "; sysctls take numbers: write 1 for on, 0 for off"
		}
		return "want " + want + ", got " + got + hint
	}
	return ""
}

// sysctlInteger parses a decimal integer with an optional '-', as a
// scenario's YAML integers reach the validator.
func sysctlInteger(s string) (int64, bool) {
	digits := strings.TrimPrefix(s, "-")
	if digits == "" || len(digits) > 19 || strings.Trim(digits, "0123456789") != "" {
		return 0, false
	}
	v, err := strconv.ParseInt(s, 10, 64)
	return v, err == nil
}
