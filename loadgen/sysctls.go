package loadgen

import "slices"

// namespaceSysctls are the sysctls a plan may set: each belongs to a
// network namespace, so writing it inside a sandbox leaves the host alone.
// The port range, set through Sandbox.PortRange, is not among them.
var namespaceSysctls = []string{
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
	"net.ipv4.tcp_tw_reuse_delay",
	"net.ipv4.tcp_wmem",
}

// NamespaceSysctls returns, sorted, the sysctls a plan may set (the
// allowlist the scenario loader and the agent both enforce).
func NamespaceSysctls() []string { return slices.Clone(namespaceSysctls) }

// IsNamespaceSysctl reports whether a plan may set the sysctl name.
func IsNamespaceSysctl(name string) bool { return slices.Contains(namespaceSysctls, name) }
