package scenarios

import (
	"slices"
	"strings"
	"testing"
)

func TestAllowedSysctls(t *testing.T) {
	got := AllowedSysctls()
	if !slices.IsSorted(got) || len(got) != 20 {
		t.Errorf("want 20 sorted names, got %v", got)
	}
	got[0] = "changed"
	if AllowedSysctls()[0] == "changed" {
		t.Error("AllowedSysctls returns the package's own slice")
	}
}

// TestEverySysctlHasARule checks that the value of every allowed sysctl
// is checked, and that every rule is of an allowed sysctl.
func TestEverySysctlHasARule(t *testing.T) {
	for _, name := range AllowedSysctls() {
		if _, ok := sysctlValues[name]; !ok {
			t.Errorf("%s: no value rule", name)
		}
	}
	for name := range sysctlValues {
		if !slices.Contains(AllowedSysctls(), name) {
			t.Errorf("%s: a rule for a sysctl that is not allowed", name)
		}
	}
}

func TestSysctlProblems(t *testing.T) {
	tests := []struct {
		name, value string
		want        string // a part of the problem; "" for none
		why         string
	}{
		{"net.ipv4.tcp_tw_reuse", "1", "", "allowed"},
		{"net.ipv4.ip_local_reserved_ports", "50000-50010,50100", "", "port lists need ',' and '-'"},
		{"net.ipv4.tcp_rmem", "4096\t131072 6291456", "", "tabs and spaces"},
		{"net.ipv4.ip_local_port_range", "1 2", "sandbox.port_range", "the range has its own key"},
		{"net.ipv4.tcp_max_orphans", "1", "global to the host", "known global"},
		{"net.core.wmem_max", "1", "global to the host", "known global"},
		{"fs.file-max", "1", "global to the host", "fs tree"},
		{"kernel.pid_max", "1", "global to the host", "kernel tree"},
		{"vm.swappiness", "1", "global to the host", "vm tree"},
		{"net/ipv4/tcp_tw_reuse", "1", `did you mean "net.ipv4.tcp_tw_reuse"?`, "slashes for dots"},
		{"net.ipv6.conf.all.disable_ipv6", "1", "not in the per-namespace allowlist; allowed: net.core.somaxconn", "unknown"},
		{"net.ipv4.tcp_fin_timeout", "", "want a value", "empty value"},
		{"net.ipv4.tcp_fin_timeout", "5\n6", "may hold only", "newline"},
		{"net.ipv4.tcp_fin_timeout", "$(reboot)", "may hold only", "shell characters"},
		{"net.ipv4.tcp_fin_timeout", strings.Repeat("1", 300), "longer than 256", "long value"},

		// Each sysctl's own values: what this kernel refuses (written in a
		// fresh network namespace), or accepts without a meaning.
		{"net.ipv4.tcp_fin_timeout", "banana", `want an integer from 0 to 2147483 (seconds), got "banana"`, "not a number"},
		{"net.ipv4.tcp_fin_timeout", "-1", "got -1", "a negative time, which the kernel takes"},
		{"net.ipv4.tcp_fin_timeout", "0", "", "zero seconds"},
		{"net.ipv4.tcp_fin_timeout", "2147483", "", "INT_MAX/HZ at HZ 1000"},
		{"net.ipv4.tcp_fin_timeout", "2147484", "got 2147484", "above INT_MAX/HZ at HZ 1000"},
		{"net.ipv4.tcp_fin_timeout", "1 2", `got "1 2"`, "two numbers, of which the kernel takes the first"},
		{"net.ipv4.tcp_tw_reuse", "7", "want an integer from 0 to 2: 0 off, 1 on, 2 on for loopback only, got 7", "above 2"},
		{"net.ipv4.tcp_tw_reuse", "2", "", "loopback only"},
		{"net.ipv4.tcp_tw_reuse", "true", "write 1 for on, 0 for off", "a YAML boolean"},
		{"net.ipv4.tcp_timestamps", "3", "from 0 to 2", "the kernel takes up to 255, without a meaning"},
		{"net.ipv4.tcp_syncookies", "3", "from 0 to 2", "the kernel takes up to 255, without a meaning"},
		{"net.ipv4.ip_no_pmtu_disc", "4", "from 0 to 3", "four modes"},
		{"net.ipv4.tcp_syn_retries", "0", "from 1 to 127", "at least one SYN retry"},
		{"net.ipv4.tcp_syn_retries", "128", "from 1 to 127", "the kernel's maximum"},
		{"net.ipv4.tcp_retries2", "256", "from 0 to 255", "a u8"},
		{"net.ipv4.tcp_keepalive_time", "0", "from 1 to 2147483 (seconds)", "a keepalive every 0 s"},
		{"net.core.somaxconn", "-1", "want an integer of at least 0, got -1", "negative"},
		{"net.core.somaxconn", "2147483647", "", "INT_MAX"},
		{"net.core.somaxconn", "2147483648", "of at least 0", "above INT_MAX"},
		{"net.ipv4.tcp_max_tw_buckets", "0", "", "no TIME_WAIT buckets"},
		{"net.ipv4.tcp_tw_reuse_delay", "200", "", "200 ms"},
		{"net.ipv4.tcp_tw_reuse_delay", "0", "from 1 to 60000 (milliseconds)", "the kernel refuses 0"},
		{"net.ipv4.tcp_tw_reuse_delay", "60001", "got 60001", "above TIME_WAIT's 60 s, which the kernel refuses"},
		{"net.ipv4.tcp_max_syn_backlog", "-5", "of at least 0", "negative"},
		{"net.ipv4.tcp_rmem", "4096", "want three integers", "one number"},
		{"net.ipv4.tcp_wmem", "0 1 2", "from 1 to 2147483647", "zero bytes"},
		{"net.ipv4.tcp_wmem", "5 4 3", "min <= default <= max", "out of order"},
		{"net.ipv4.ip_local_reserved_ports", "65536", "from 0 to 65535", "above the last port"},
		{"net.ipv4.ip_local_reserved_ports", "50010-50000", "like \"50000-50010,50100\"", "a reversed range"},
		{"net.ipv4.ip_local_reserved_ports", "50000 50001", "without spaces", "spaces, which the kernel refuses"},
		{"net.ipv4.ip_local_reserved_ports", "50000-", "like", "an open range"},
	}
	for _, tt := range tests {
		got := sysctlNameProblem(tt.name)
		if got == "" {
			got = sysctlValueProblem(tt.name, tt.value)
		}
		if (tt.want == "") != (got == "") || !strings.Contains(got, tt.want) {
			t.Errorf("%s: %s=%q: got %q, want %q", tt.why, tt.name, tt.value, got, tt.want)
		}
	}
}
