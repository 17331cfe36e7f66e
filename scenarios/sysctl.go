package scenarios

import (
	"slices"
	"strings"
)

// allowedSysctls are the sysctls a scenario may set: each belongs to a
// network namespace, so writing it inside the sandbox leaves the host alone.
var allowedSysctls = []string{
	"net.core.somaxconn",
	"net.ipv4.ip_local_reserved_ports",
	"net.ipv4.ip_no_pmtu_disc",
	"net.ipv4.tcp_fastopen",
	"net.ipv4.tcp_fin_timeout",
	"net.ipv4.tcp_keepalive_intvl",
	"net.ipv4.tcp_keepalive_probes",
	"net.ipv4.tcp_keepalive_time",
	"net.ipv4.tcp_max_syn_backlog",
	"net.ipv4.tcp_max_tw_buckets",
	"net.ipv4.tcp_orphan_retries",
	"net.ipv4.tcp_retries2",
	"net.ipv4.tcp_rmem",
	"net.ipv4.tcp_syn_retries",
	"net.ipv4.tcp_synack_retries",
	"net.ipv4.tcp_syncookies",
	"net.ipv4.tcp_timestamps",
	"net.ipv4.tcp_tw_reuse",
	"net.ipv4.tcp_wmem",
}

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

// sysctlValueProblem says why value cannot be written to a sysctl, or "" if
// it can: a value is letters, digits, spaces and tabs, and the ',' and '-'
// of port lists like ip_local_reserved_ports's "50000-50010,50100".
func sysctlValueProblem(value string) string {
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
	return ""
}
