package scenarios

import (
	"slices"
	"strings"
	"testing"
)

func TestAllowedSysctls(t *testing.T) {
	got := AllowedSysctls()
	if !slices.IsSorted(got) || len(got) != 19 {
		t.Errorf("want 19 sorted names, got %v", got)
	}
	got[0] = "changed"
	if AllowedSysctls()[0] == "changed" {
		t.Error("AllowedSysctls returns the package's own slice")
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
	}
	for _, tt := range tests {
		got := sysctlNameProblem(tt.name)
		if got == "" {
			got = sysctlValueProblem(tt.value)
		}
		if (tt.want == "") != (got == "") || !strings.Contains(got, tt.want) {
			t.Errorf("%s: %s=%q: got %q, want %q", tt.why, tt.name, tt.value, got, tt.want)
		}
	}
}
