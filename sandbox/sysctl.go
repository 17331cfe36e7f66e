package sandbox

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/portex/portex/loadgen"
)

// Reported are the sysctls every result shows, read back from the sandbox,
// whether or not the scenario set them.
var Reported = []string{
	"net.ipv4.ip_local_port_range",
	"net.ipv4.tcp_tw_reuse",
	"net.ipv4.tcp_fin_timeout",
	"net.ipv4.tcp_timestamps",
	"net.ipv4.tcp_max_tw_buckets",
	"net.core.somaxconn",
}

// sysctlPath maps a dotted sysctl name to its file under /proc/sys. The
// name must be plain: letters, digits, dots, underscores and dashes.
func sysctlPath(name string) (string, error) {
	if name == "" || strings.Contains(name, "..") || strings.Trim(name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") != "" {
		return "", fmt.Errorf("sysctl %q: not a sysctl name", name)
	}
	if !strings.HasPrefix(name, "net.") {
		return "", fmt.Errorf("sysctl %q: only net.* sysctls live in a network namespace", name)
	}
	return filepath.Join("/proc/sys", strings.ReplaceAll(name, ".", "/")), nil
}

// readSysctl returns a sysctl's value with tabs and runs of blanks folded to
// one space ("50000 50199").
func readSysctl(name string) (string, error) {
	path, err := sysctlPath(name)
	if err != nil {
		return "", err
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	return strings.Join(strings.Fields(string(b)), " "), nil
}

// writeSysctl sets a sysctl of the calling process's network namespace:
// the port range or one of loadgen.NamespaceSysctls, whatever the request
// asked for. Callers make sure that namespace is a sandbox's (see
// sandboxGuard), never the host's.
func writeSysctl(name, value string) error {
	if err := writable(name); err != nil {
		return err
	}
	path, err := sysctlPath(name)
	if err != nil {
		return err
	}
	if err := os.WriteFile(path, []byte(value+"\n"), 0); err != nil {
		return fmt.Errorf("sysctl %s=%s: %w", name, value, err)
	}
	return nil
}

// writable refuses a sysctl the agent may not write: anything but the
// port range and loadgen.NamespaceSysctls.
func writable(name string) error {
	if name != "net.ipv4.ip_local_port_range" && !loadgen.IsNamespaceSysctl(name) {
		return fmt.Errorf("sysctl %s: refused: not one of the per-namespace sysctls a plan may set", name)
	}
	return nil
}

// readSysctls reads the reported sysctls and the given extra names.
func readSysctls(extra map[string]string) map[string]string {
	out := make(map[string]string)
	for _, name := range Reported {
		if v, err := readSysctl(name); err == nil {
			out[name] = v
		}
	}
	for name := range extra {
		if v, err := readSysctl(name); err == nil {
			out[name] = v
		}
	}
	return out
}

// netnsID identifies the calling process's network namespace.
func netnsID() (string, error) { return os.Readlink("/proc/self/ns/net") }
