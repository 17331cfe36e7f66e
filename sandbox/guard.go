package sandbox

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// The agent writes sysctls and creates links only where it can show, by
// itself, that it runs in a sandbox: whatever the request says, whoever
// started it. A sandbox's network namespace here is one that
//
//   - is not its parent's (the process that started it, portex or the
//     client agent, stays in the namespace it had), where the parent may
//     be inspected,
//   - belongs to the user namespace the agent runs in (made there, not
//     entered from outside), and
//   - that user namespace is not the initial one (its uid map is not the
//     identity over every uid).
//
// The netns runtime's agents pass all three: the client agent is started
// in new user and network namespaces, the server agent in a new network
// namespace inside the client's user namespace. An agent in the host's
// namespaces, or in one its parent shares, or in a network namespace
// entered from the host's user namespace, fails at least one.

// errNotSandbox refuses a write outside a sandbox.
var errNotSandbox = errors.New("agent: refusing to write sysctls or links")

// sandboxGuard returns nil if the calling process's network namespace is a
// sandbox's (see above), else an error that wraps errNotSandbox and says
// which check failed. hostNetns, if set, is the namespace the caller says
// it runs in: an agent that finds itself there is refused too; an agent
// elsewhere is not let in by it.
func sandboxGuard(hostNetns string) error {
	fail := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s", errNotSandbox, fmt.Sprintf(format, args...))
	}
	self, err := os.Readlink("/proc/self/ns/net")
	if err != nil {
		return fail("cannot tell which network namespace it runs in: %v", err)
	}
	if hostNetns != "" && self == hostNetns {
		return fail("network namespace %s is its caller's", self)
	}
	// A parent outside the agent's user namespace (portex, for the
	// client agent) may not be inspected from inside it: then the
	// ownership check below is what shows the namespace is not its.
	ppid := os.Getppid()
	parent, err := os.Readlink(fmt.Sprintf("/proc/%d/ns/net", ppid))
	switch {
	case errors.Is(err, os.ErrPermission):
	case err != nil:
		return fail("cannot read its parent's network namespace: %v", err)
	case parent == self:
		return fail("network namespace %s is its parent's (pid %d)", self, ppid)
	}
	if initial, err := initialUserns(); err != nil {
		return fail("cannot read its uid map: %v", err)
	} else if initial {
		return fail("it runs in the initial user namespace, not in one of its own")
	}
	owner, err := netnsOwner()
	if err != nil {
		return fail("cannot tell which user namespace owns network namespace %s: %v", self, err)
	}
	user, err := nsInode("/proc/self/ns/user")
	if err != nil {
		return fail("cannot read its user namespace: %v", err)
	}
	if owner != user {
		return fail("network namespace %s belongs to another user namespace than its own", self)
	}
	return nil
}

// initialUserns reports whether the calling process runs in the initial
// user namespace, whose uid map is the identity over every uid.
func initialUserns() (bool, error) {
	b, err := os.ReadFile("/proc/self/uid_map")
	if err != nil {
		return false, err
	}
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		f := strings.Fields(line)
		if len(f) == 3 && f[0] == "0" && f[1] == "0" && f[2] == strconv.FormatUint(1<<32-1, 10) {
			return true, nil
		}
	}
	return false, nil
}

// netnsOwner is the inode of the user namespace that owns the calling
// process's network namespace.
func netnsOwner() (uint64, error) {
	f, err := os.Open("/proc/self/ns/net")
	if err != nil {
		return 0, err
	}
	defer f.Close()
	fd, err := unix.IoctlRetInt(int(f.Fd()), unix.NS_GET_USERNS)
	if err != nil {
		return 0, fmt.Errorf("NS_GET_USERNS: %w", err)
	}
	defer unix.Close(fd)
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return 0, err
	}
	return st.Ino, nil
}

func nsInode(path string) (uint64, error) {
	var st syscall.Stat_t
	if err := syscall.Stat(path, &st); err != nil {
		return 0, err
	}
	return st.Ino, nil
}
