package sandbox

import (
	"context"
	"errors"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/portex/portex/loadgen"
	"golang.org/x/sys/unix"
)

// privateLoopback runs the calling test again alone in fresh user and
// network namespaces (with lo up), so that loopback is its own; it returns
// true in that copy.
func privateLoopback(t *testing.T) bool {
	t.Helper()
	if os.Getenv("PORTEX_TEST_NETNS") == t.Name() {
		if err := linkUp("lo"); err != nil {
			t.Fatal(err)
		}
		return true
	}
	cmd := exec.Command(os.Args[0], "-test.run=^"+t.Name()+"$", "-test.count=1", "-test.v")
	cmd.Env = append(os.Environ(), "PORTEX_TEST_NETNS="+t.Name())
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Cloneflags:  syscall.CLONE_NEWUSER | syscall.CLONE_NEWNET,
		UidMappings: []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Getuid(), Size: 1}},
		GidMappings: []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Getgid(), Size: 1}},
	}
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "--- PASS: "+t.Name()) {
		t.Fatalf("with a loopback of its own: %v\n%s", err, out)
	}
	return false
}

// The host runtime narrows the range per socket (IP_LOCAL_PORT_RANGE):
// 200 ports, 300 holders, 200 connections, then EADDRNOTAVAIL; no sysctl
// is written.
func TestHostRuntimeNarrowsPerSocket(t *testing.T) {
	if !privateLoopback(t) {
		return
	}
	var uts unix.Utsname
	unix.Uname(&uts)
	p := holdPlan(300, loadgen.PortRange{Lo: 50000, Hi: 50199})
	p.Runtime = "host" // sysctls and nofile stay asked for: notes say they were not applied
	before := hostSysctls(t)
	res, err := (&Host{}).Run(context.Background(), p, nil)
	if err != nil {
		t.Fatalf("%v (kernel %s: IP_LOCAL_PORT_RANGE needs 6.3)", err, unix.ByteSliceToString(uts.Release[:]))
	}
	if res.Dials.OK != 200 || res.Exhaustion == nil || res.Exhaustion.Class != "EADDRNOTAVAIL" {
		t.Fatalf("ok %d exhaustion %+v: want 200 then EADDRNOTAVAIL", res.Dials.OK, res.Exhaustion)
	}
	if res.PortRangeSize != 200 || !strings.Contains(res.Sysctls["net.ipv4.ip_local_port_range"], "per socket") {
		t.Errorf("range %d %q", res.PortRangeSize, res.Sysctls["net.ipv4.ip_local_port_range"])
	}
	if len(res.Notes) < 2 || !strings.Contains(res.Notes[0], "tcp_tw_reuse=0 not applied") {
		t.Errorf("notes %q: want the unapplied sysctl and nofile named", res.Notes)
	}
	if after := hostSysctls(t); after != before {
		t.Errorf("sysctls changed: %v -> %v", before, after)
	}
}

func TestHostRuntimeRefuses(t *testing.T) {
	p := holdPlan(3, loadgen.PortRange{Lo: 50000, Hi: 50199})
	p.Duration = time.Second
	p.Pools[0].Sources = 2
	if err := (&Host{}).Check(p); !errors.Is(err, ErrUnrunnable) {
		t.Errorf("two source addresses on the host: %v", err)
	}
	p.Pools[0].Sources = 1
	external := &Host{Target: netip.MustParseAddrPort("192.0.2.1:80")}
	if err := external.Check(p); !errors.Is(err, ErrExternalTarget) {
		t.Errorf("an external target without the opt-in: %v", err)
	}
	external.AllowExternal = true
	if err := external.Check(p); err != nil {
		t.Errorf("with the opt-in: %v", err)
	}
	if err := (&Host{Target: netip.MustParseAddrPort("127.0.0.1:8080")}).Check(p); err != nil {
		t.Errorf("a loopback target: %v", err)
	}
}
