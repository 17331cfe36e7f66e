// Package k8s writes the Kubernetes manifests that run a scenario's shards
// as an Indexed Job against the echo server as a Deployment and a
// Service, and reads the shards' results back out of their logs.
//
// The manifests are built from the Kubernetes API types (k8s.io/api) and
// written with sigs.k8s.io/yaml, never from text templates. In a pod the
// pod itself is the sandbox: the kubelet sets the sysctls of the pod's
// securityContext, and portex runs there with the pod runtime
// (sandbox.Pod), which reads them back and dials the Service.
package k8s

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// Version is a Kubernetes minor release, such as 1.37.
type Version struct{ Major, Minor int }

func (v Version) String() string { return fmt.Sprintf("%d.%d", v.Major, v.Minor) }

// Less reports whether v comes before w.
func (v Version) Less(w Version) bool {
	return v.Major < w.Major || v.Major == w.Major && v.Minor < w.Minor
}

// Known is the newest release whose safe sysctls this table knows: the one
// of the k8s.io/api types portex is built with.
var Known = Version{1, 37}

// Oldest is the oldest release portex writes manifests for: sysctls in
// a pod's securityContext are stable from 1.21, and an Indexed Job's
// completion index, which each shard's pod reads, from 1.24.
var Oldest = Version{1, 24}

// ParseVersion reads "1.37" (a leading "v" and a patch release, as in
// "v1.37.2", are taken and ignored).
func ParseVersion(s string) (Version, error) {
	t := strings.TrimPrefix(strings.TrimSpace(s), "v")
	parts := strings.Split(t, ".")
	if len(parts) < 2 || len(parts) > 3 {
		return Version{}, fmt.Errorf("%q: want a Kubernetes release such as %s", s, Known)
	}
	var n [3]int
	for i, p := range parts {
		v, err := strconv.Atoi(p)
		if err != nil || v < 0 {
			return Version{}, fmt.Errorf("%q: want a Kubernetes release such as %s", s, Known)
		}
		n[i] = v
	}
	v := Version{n[0], n[1]}
	if v.Less(Oldest) {
		return Version{}, fmt.Errorf("%q: portex writes manifests for Kubernetes %s and later (Indexed Jobs with a completion index, sysctls in the pod's securityContext)", s, Oldest)
	}
	return v, nil
}

// SafeSysctl is one sysctl the kubelet lets a pod set without the
// node's --allowed-unsafe-sysctls: from which Kubernetes release, and the
// Linux release it needs (below it the kubelet drops it from the safe set,
// since the sysctl is not namespaced there).
type SafeSysctl struct {
	Name   string
	Since  Version
	Kernel string // "" for any kernel Kubernetes runs on
}

// safeSysctls is the kubelet's safe set (pkg/kubelet/sysctl) release by
// release, as Kubernetes' "Using sysctls in a Kubernetes Cluster" lists
// it. The first three were there when sysctls came to pods; no release
// removed one.
var safeSysctls = []SafeSysctl{
	{"kernel.shm_rmid_forced", Version{1, 0}, ""},
	{"net.ipv4.ip_local_port_range", Version{1, 0}, ""},
	{"net.ipv4.tcp_syncookies", Version{1, 0}, ""},
	{"net.ipv4.ping_group_range", Version{1, 18}, ""},
	{"net.ipv4.ip_unprivileged_port_start", Version{1, 22}, ""},
	{"net.ipv4.ip_local_reserved_ports", Version{1, 27}, "3.16"},
	{"net.ipv4.tcp_keepalive_time", Version{1, 29}, "4.5"},
	{"net.ipv4.tcp_fin_timeout", Version{1, 29}, "4.6"},
	{"net.ipv4.tcp_keepalive_intvl", Version{1, 29}, "4.5"},
	{"net.ipv4.tcp_keepalive_probes", Version{1, 29}, "4.5"},
	{"net.ipv4.tcp_rmem", Version{1, 32}, "4.15"},
	{"net.ipv4.tcp_wmem", Version{1, 32}, "4.15"},
	{"net.ipv4.tcp_slow_start_after_idle", Version{1, 37}, "4.15"},
	{"net.ipv4.tcp_notsent_lowat", Version{1, 37}, "4.6"},
}

// SafeSysctlTable returns the whole table, in the order releases added
// to it.
func SafeSysctlTable() []SafeSysctl { return slices.Clone(safeSysctls) }

// SafeSysctls returns, sorted, the sysctls the kubelet of release v
// treats as safe. Past Known it returns Known's set: the safe set has only
// grown, so a newer kubelet takes at least these.
func SafeSysctls(v Version) []string {
	var out []string
	for _, s := range safeSysctls {
		if !v.Less(s.Since) {
			out = append(out, s.Name)
		}
	}
	slices.Sort(out)
	return out
}

// IsSafe reports whether the kubelet of release v lets a pod set name
// without --allowed-unsafe-sysctls.
func IsSafe(v Version, name string) bool { return slices.Contains(SafeSysctls(v), name) }

// safeSince is the release that made name safe, if one did.
func safeSince(name string) (SafeSysctl, bool) {
	for _, s := range safeSysctls {
		if s.Name == name {
			return s, true
		}
	}
	return SafeSysctl{}, false
}
