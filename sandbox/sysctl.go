package sandbox

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"

	"github.com/portex/portex/loadgen"
	"github.com/portex/portex/result"
	"golang.org/x/sys/unix"
)

// Reported are the sysctls every result shows, read back from the sandbox,
// whether or not the scenario set them.
var Reported = []string{
	"net.ipv4.ip_local_port_range",
	"net.ipv4.ip_local_reserved_ports",
	"net.ipv4.tcp_tw_reuse",
	"net.ipv4.tcp_tw_reuse_delay", // Linux 6.13+: absent before

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

// topologySysctls are the sysctls a topology writes from the plan's
// shape, never from a plan's sysctls: a router's from its nat settings, a
// client's child hash from its connections (Namespace.ChildEhash).
var topologySysctls = map[string]bool{
	"net.ipv4.tcp_child_ehash_entries":                   true,
	"net.ipv4.ip_forward":                                true,
	"net.netfilter.nf_conntrack_tcp_timeout_time_wait":   true,
	"net.netfilter.nf_conntrack_tcp_timeout_established": true,
	"net.netfilter.nf_conntrack_tcp_timeout_close_wait":  true,
}

// writable refuses a sysctl the agent may not write: anything but the
// port range, loadgen.NamespaceSysctls and topologySysctls.
func writable(name string) error {
	if name != "net.ipv4.ip_local_port_range" && !topologySysctls[name] && !loadgen.IsNamespaceSysctl(name) {
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

// readSysctlsIn reads the reported sysctls and the given extra names in
// the network namespace of process pid (the echo server's): /proc/sys
// shows the reading thread's namespace, so a thread of ours joins pid's
// for the reads, and goes back. nil if it cannot.
func readSysctlsIn(pid int, extra map[string]string) map[string]string {
	if pid <= 0 {
		return nil
	}
	target, err := os.Open(fmt.Sprintf("/proc/%d/ns/net", pid))
	if err != nil {
		return nil
	}
	defer target.Close()
	runtime.LockOSThread()
	own, err := os.Open("/proc/thread-self/ns/net")
	if err != nil {
		runtime.UnlockOSThread()
		return nil
	}
	defer own.Close()
	if err := unix.Setns(int(target.Fd()), unix.CLONE_NEWNET); err != nil {
		runtime.UnlockOSThread()
		return nil
	}
	out := readSysctls(extra)
	// A thread that cannot go back stays locked: the runtime ends it with
	// the goroutine rather than reuse it in the wrong namespace.
	if unix.Setns(int(own.Fd()), unix.CLONE_NEWNET) == nil {
		runtime.UnlockOSThread()
	}
	return out
}

// startCounters reads the kernel's counters of the client's namespace and
// of the server's (process serverPid; none if 0) as a run starts. The
// result holds them until endCounters turns them into growth.
func startCounters(serverPid int) *result.KernelCounters {
	k := &result.KernelCounters{}
	k.Client, _ = loadgen.ReadKernelCounters("/proc/self/net")
	if serverPid > 0 {
		k.Server, _ = loadgen.ReadKernelCounters(fmt.Sprintf("/proc/%d/net", serverPid))
	}
	if k.Client == nil && k.Server == nil {
		return nil
	}
	return k
}

// endCounters is the growth of the counters since start (startCounters),
// read again now; nil when none could be read.
func endCounters(start *result.KernelCounters, serverPid int) *result.KernelCounters {
	if start == nil {
		return nil
	}
	end := startCounters(serverPid)
	if end == nil {
		return nil
	}
	return &result.KernelCounters{Client: loadgen.CounterGrowth(start.Client, end.Client), Server: loadgen.CounterGrowth(start.Server, end.Server)}
}

// netnsID identifies the calling process's network namespace.
func netnsID() (string, error) { return os.Readlink("/proc/self/ns/net") }
