package loadgen

import (
	"flag"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

// inOwnNetns runs the calling test again, alone, in a fresh user and
// network namespace with only loopback, so that what it counts is its own
// sockets and no one else's. It returns true in the copy that should do the
// work; the original returns false after checking the copy passed.
func inOwnNetns(t testing.TB) bool {
	t.Helper()
	needsFullTier(t, "a user and network namespace of its own")
	if os.Getenv("PORTEX_TEST_NETNS") == t.Name() {
		if err := loopbackUp(); err != nil {
			t.Fatalf("bring lo up: %v", err)
		}
		return true
	}
	args := []string{"-test.run=^" + t.Name() + "$", "-test.count=1", "-test.v"}
	if _, ok := t.(*testing.B); ok {
		args = []string{"-test.run=^$", "-test.bench=^" + t.Name() + "$", "-test.count=1",
			"-test.benchtime=" + flag.Lookup("test.benchtime").Value.String(), "-test.benchmem"}
	}
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(os.Environ(), "PORTEX_TEST_NETNS="+t.Name())
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Cloneflags:  syscall.CLONE_NEWUSER | syscall.CLONE_NEWNET,
		UidMappings: []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Getuid(), Size: 1}},
		GidMappings: []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Getgid(), Size: 1}},
	}
	out, err := cmd.CombinedOutput()
	if _, ok := t.(*testing.B); ok {
		// The copy's results are the benchmark's: show them, and skip the
		// original, which measured nothing.
		if err != nil {
			t.Fatalf("in a fresh network namespace: %v\n%s", err, out)
		}
		for line := range strings.Lines(string(out)) {
			if strings.HasPrefix(line, t.Name()) {
				fmt.Print(line)
			}
		}
		t.SkipNow()
	}
	if err != nil || !strings.Contains(string(out), "--- PASS: "+t.Name()) {
		t.Fatalf("in a fresh network namespace: %v\n%s", err, out)
	}
	return false
}

// needsFullTier skips a test of the fast tier (go test -short): one that
// needs namespaces, or takes seconds, or measures time.
func needsFullTier(t testing.TB, why string) {
	t.Helper()
	if testing.Short() {
		t.Skip("needs " + why + " (full tier: go test ./...)")
	}
}

// loopbackUp sets lo up in the calling process's network namespace.
func loopbackUp() error {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	ifr, err := unix.NewIfreq("lo")
	if err != nil {
		return err
	}
	if err := unix.IoctlIfreq(fd, unix.SIOCGIFFLAGS, ifr); err != nil {
		return err
	}
	ifr.SetUint16(ifr.Uint16() | unix.IFF_UP)
	return unix.IoctlIfreq(fd, unix.SIOCSIFFLAGS, ifr)
}
