package k8s

import (
	"slices"
	"testing"
)

// The safe set per release, as the kubelet of each has it: each row
// names the release and what it adds to the one before, and the rows
// between show nothing changes in the releases that added nothing.
func TestSafeSysctlsPerVersion(t *testing.T) {
	base := []string{"kernel.shm_rmid_forced", "net.ipv4.ip_local_port_range", "net.ipv4.tcp_syncookies", "net.ipv4.ping_group_range", "net.ipv4.ip_unprivileged_port_start"}
	v127 := append(slices.Clone(base), "net.ipv4.ip_local_reserved_ports")
	v129 := append(slices.Clone(v127), "net.ipv4.tcp_keepalive_time", "net.ipv4.tcp_fin_timeout", "net.ipv4.tcp_keepalive_intvl", "net.ipv4.tcp_keepalive_probes")
	v132 := append(slices.Clone(v129), "net.ipv4.tcp_rmem", "net.ipv4.tcp_wmem")
	v137 := append(slices.Clone(v132), "net.ipv4.tcp_slow_start_after_idle", "net.ipv4.tcp_notsent_lowat")
	for _, tc := range []struct {
		v    Version
		want []string
		why  string
	}{
		{Version{1, 24}, base, "the oldest portex writes for: the first three and ping_group_range (1.18), ip_unprivileged_port_start (1.22)"},
		{Version{1, 26}, base, "nothing new until 1.27"},
		{Version{1, 27}, v127, "ip_local_reserved_ports"},
		{Version{1, 28}, v127, "nothing new in 1.28"},
		{Version{1, 29}, v129, "tcp_fin_timeout and the keepalive three"},
		{Version{1, 31}, v129, "nothing new in 1.30 and 1.31"},
		{Version{1, 32}, v132, "tcp_rmem and tcp_wmem"},
		{Version{1, 36}, v132, "nothing new until 1.37"},
		{Version{1, 37}, v137, "tcp_slow_start_after_idle and tcp_notsent_lowat"},
		{Version{1, 40}, v137, "past the known release: the known set, which only grew"},
	} {
		want := slices.Sorted(slices.Values(tc.want))
		if got := SafeSysctls(tc.v); !slices.Equal(got, want) {
			t.Errorf("%s (%s): got %v\nwant %v", tc.v, tc.why, got, want)
		}
	}
}

// What portex scenarios set that no release made safe stays unsafe in
// every release.
func TestUnsafeSysctlsStayUnsafe(t *testing.T) {
	for _, name := range []string{"net.ipv4.tcp_tw_reuse", "net.ipv4.tcp_max_tw_buckets", "net.ipv4.tcp_timestamps", "net.core.somaxconn", "net.ipv4.tcp_max_syn_backlog"} {
		for _, v := range []Version{Oldest, {1, 29}, Known, {1, 99}} {
			if IsSafe(v, name) {
				t.Errorf("%s safe in %s", name, v)
			}
		}
	}
	if !IsSafe(Version{1, 29}, "net.ipv4.tcp_fin_timeout") || IsSafe(Version{1, 28}, "net.ipv4.tcp_fin_timeout") {
		t.Error("tcp_fin_timeout: want safe from 1.29 on, not before")
	}
}

func TestParseVersion(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Version
		ok   bool
	}{
		{"1.37", Version{1, 37}, true},
		{"v1.29.4", Version{1, 29}, true},
		{"1.24", Version{1, 24}, true},
		{"1.23", Version{}, false}, // before Indexed Jobs were stable
		{"1", Version{}, false},
		{"1.x", Version{}, false},
		{"", Version{}, false},
	} {
		got, err := ParseVersion(tc.in)
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("ParseVersion(%q) = %v, %v; want %v, ok %v", tc.in, got, err, tc.want, tc.ok)
		}
	}
}
