package sandbox

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/portex/portex/loadgen"
	"github.com/portex/portex/result"
)

// needRoot skips a test that needs root and the util-linux tools.
func needRoot(t *testing.T, tools ...string) {
	t.Helper()
	if testing.Short() {
		t.Skip("needs root and namespaces")
	}
	if os.Getuid() != 0 {
		t.Skip("needs root")
	}
	for _, tool := range tools {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("needs %s", tool)
		}
	}
}

// throwawayNetns starts a process in a new network namespace, owned by the
// host's user namespace: a stand-in for the host, never the host itself.
// It returns the holder's pid.
func throwawayNetns(t *testing.T) int {
	t.Helper()
	holder := exec.Command("unshare", "-n", "sleep", "600")
	if err := holder.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { holder.Process.Kill(); holder.Wait() })
	host, _ := os.Readlink("/proc/self/ns/net")
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if ns, err := os.Readlink(fmt.Sprintf("/proc/%d/ns/net", holder.Process.Pid)); err == nil && ns != host {
			return holder.Process.Pid
		}
		if time.Now().After(deadline) {
			t.Fatal("unshare -n did not make a namespace")
		}
	}
}

// nsState is what an agent could write in the namespace of pid: the
// sysctls hostile requests name, the links and the routes (addresses and
// links up show there).
func nsState(t *testing.T, pid int) string {
	t.Helper()
	out, err := exec.Command("nsenter", "-t", fmt.Sprint(pid), "-n", "sh", "-c",
		"cat /proc/sys/net/ipv4/tcp_fin_timeout /proc/sys/net/ipv4/tcp_tw_reuse /proc/sys/net/ipv4/ip_local_port_range "+
			"/proc/sys/net/ipv4/tcp_max_tw_buckets /proc/sys/net/core/somaxconn /proc/sys/net/ipv4/ip_forward; ip -o link; ip -o addr; cat /proc/net/fib_trie; "+
			"if command -v nft >/dev/null; then nft list ruleset; fi").CombinedOutput()
	if err != nil {
		t.Fatalf("read namespace state: %v: %s", err, out)
	}
	return string(out)
}

// hostileRequests are requests that would have the agent write: every
// role, every setup, the caller's namespace forged, wrong, or left out,
// settings on and off the allowlist.
func hostileRequests(t *testing.T, pid int) [][]byte {
	t.Helper()
	ns, _ := os.Readlink(fmt.Sprintf("/proc/%d/ns/net", pid))
	host, _ := os.Readlink("/proc/self/ns/net")
	p := holdPlan(5, loadgen.PortRange{Lo: 50000, Hi: 50009})
	p.Duration = 300 * time.Millisecond
	p.Sandbox.Sysctls = map[string]string{"net.ipv4.tcp_fin_timeout": "7", "net.ipv4.tcp_tw_reuse": "0", "net.ipv4.tcp_max_tw_buckets": "17"}
	p.Server.Sysctls = map[string]string{"net.ipv4.tcp_fin_timeout": "9", "net.core.somaxconn": "11"}
	offList := *p
	offList.Sandbox.Sysctls = map[string]string{"net.core.rmem_max": "4096", "net.ipv4.tcp_fin_timeout": "7"}
	nat := *p
	nat.NAT = &loadgen.NAT{Ports: loadgen.PortRange{Lo: 60000, Hi: 60099}, Mode: loadgen.NATMasquerade}
	var out [][]byte
	for _, plan := range []*loadgen.Plan{p, &offList, &nat} {
		for _, role := range []string{RoleClient, RoleServer, RoleRouter} {
			for _, setup := range []string{SetupNetns, SetupNone} {
				ids := []string{""}
				if setup == SetupNetns {
					ids = []string{"", "net:[1]", "net:[4026531840]", host, ns}
				}
				for _, hostNetns := range ids {
					for _, processes := range []int{0, 2} {
						if processes > 0 && (role != RoleServer || hostNetns != "") {
							continue
						}
						req := Request{Plan: plan, Role: role, Setup: setup, HostNetns: hostNetns, Processes: processes, Target: "127.0.0.1"}
						data, err := json.Marshal(&req)
						if err != nil {
							t.Fatal(err)
						}
						out = append(out, data)
					}
				}
			}
		}
	}
	return out
}

// The agent writes nothing outside a sandbox, whatever its request says:
// run in a namespace of the host's user namespace (started there, or
// sharing its parent's), with every role, setup and forged namespace id,
// it changes no sysctl and makes no link or address.
func TestAgentWritesNothingOutsideASandbox(t *testing.T) {
	needRoot(t, "unshare", "nsenter", "ip")
	pid := throwawayNetns(t)
	before := nsState(t, pid)
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	ran := 0
	for i, req := range hostileRequests(t, pid) {
		for _, how := range [][]string{
			// the agent's parent is this test, in the host's namespace
			{"nsenter", "-t", fmt.Sprint(pid), "-n", self, "agent"},
			// the agent's parent shares its namespace
			{"nsenter", "-t", fmt.Sprint(pid), "-n", "sh", "-c", `"$0" agent; exit $?`, self},
		} {
			// A bound on a hang, not on the refusal's speed: a busy
			// machine takes a while to start a process.
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			cmd := exec.CommandContext(ctx, how[0], how[1:]...)
			cmd.Stdin = bytes.NewReader(req)
			var stdout bytes.Buffer
			cmd.Stdout = &stdout
			cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
			cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
			cmd.Run()
			cancel()
			ran++
			var r Request
			json.Unmarshal(req, &r)
			if r.Setup == SetupNetns && !strings.Contains(stdout.String(), "refusing to write") {
				t.Errorf("request %d (%s, %s, host_netns %q) via %s: no refusal in %.300s", i, r.Role, r.Setup, r.HostNetns, how[len(how)-2], stdout.String())
			}
		}
		if after := nsState(t, pid); after != before {
			t.Fatalf("request %d changed the namespace:\n%s\n%s", i, req, diffLines(before, after))
		}
	}
	t.Logf("%d hostile runs, nothing written", ran)
}

func diffLines(a, b string) string {
	al, bl := strings.Split(a, "\n"), strings.Split(b, "\n")
	var out []string
	for i := 0; i < max(len(al), len(bl)); i++ {
		var x, y string
		if i < len(al) {
			x = al[i]
		}
		if i < len(bl) {
			y = bl[i]
		}
		if x != y {
			out = append(out, "- "+x, "+ "+y)
		}
	}
	return strings.Join(out, "\n")
}

// The agent refuses sysctls off the allowlist even inside a sandbox: the
// loader's validation is not the only guard. (The check writeSysctl makes
// first; the test calls only it, never a write, since these are global.)
func TestWriteSysctlRefusesOffTheAllowlist(t *testing.T) {
	for _, name := range []string{"net.core.rmem_max", "net.ipv4.tcp_mem", "kernel.pid_max", "net.ipv4.tcp_max_orphans", "net.core.wmem_max"} {
		if err := writable(name); err == nil || !strings.Contains(err.Error(), "refused") {
			t.Errorf("writable(%s) = %v, want a refusal", name, err)
		}
	}
	for _, name := range append(loadgen.NamespaceSysctls(), "net.ipv4.ip_local_port_range") {
		if err := writable(name); err != nil {
			t.Errorf("writable(%s) = %v, want it allowed", name, err)
		}
	}
}

// $PORTEX_REQUEST in portex's environment is neither read by its agents
// nor passed on: a run with it set runs the plan given, once.
func TestInheritedRequestIsIgnored(t *testing.T) {
	if testing.Short() {
		t.Skip("needs namespaces")
	}
	bogus := holdPlan(3, loadgen.PortRange{Lo: 50000, Hi: 50009})
	data, _ := json.Marshal(&Request{Plan: bogus, Role: RoleClient, Setup: SetupNetns, StopPipe: true})
	t.Setenv(RequestEnv, string(data))
	p := holdPlan(20, loadgen.PortRange{Lo: 50000, Hi: 50199})
	p.Duration, p.Stop.On = 500*time.Millisecond, loadgen.StopNever
	done := make(chan struct{})
	go func() {
		defer close(done)
		res, err := (&Netns{Stderr: os.Stderr}).Run(context.Background(), p, nil)
		if err != nil {
			t.Error(err)
			return
		}
		if res.Dials.OK != 20 {
			t.Errorf("ok dials %d, want the 20 of the plan given (the inherited one has 3)", res.Dials.OK)
		}
	}()
	peak := 0
	for {
		select {
		case <-done:
			if peak > 3 {
				t.Errorf("%d agent processes at once, want at most the agent and its server", peak)
			}
			assertNoChildren(t)
			return
		case <-time.After(20 * time.Millisecond):
			n := 0
			for _, c := range children(t, os.Getpid()) {
				n += 1 + len(children(t, c))
			}
			peak = max(peak, n)
		}
	}
}

// A sharded run stopped at any moment of its start is a clean stop: every
// shard, started or still starting, stops and reports; nothing is an
// error.
func TestShardedRunStoppedEarlyIsClean(t *testing.T) {
	if testing.Short() {
		t.Skip("needs namespaces")
	}
	for _, after := range []time.Duration{0, 5 * time.Millisecond, 20 * time.Millisecond, 50 * time.Millisecond, 100 * time.Millisecond, 200 * time.Millisecond} {
		p := holdPlan(40, loadgen.PortRange{Lo: 50000, Hi: 50199})
		p.Sandbox.Processes, p.Sandbox.Nofile = 8, 0
		p.Duration, p.Stop.On = time.Minute, loadgen.StopNever
		ctx, cancel := context.WithCancel(context.Background())
		time.AfterFunc(after, cancel)
		res, err := (&Netns{}).Run(ctx, p, nil)
		cancel()
		assertNoChildren(t)
		if err != nil {
			t.Errorf("stopped after %s: %v", after, err)
			continue
		}
		if res.Stopped != result.StoppedInterrupted || res.Error != "" {
			t.Errorf("stopped after %s: stopped %q, error %q: want a clean interruption", after, res.Stopped, res.Error)
		}
	}
}

// A stopped agent does not hang the run: past its duration and the grace
// the watchdog kills it; the result says it overstayed and keeps what was
// measured.
func TestStoppedAgentIsAnOverstay(t *testing.T) {
	if testing.Short() {
		t.Skip("needs namespaces")
	}
	p := holdPlan(30, loadgen.PortRange{Lo: 50000, Hi: 50199})
	p.Duration, p.Stop.On = 2*time.Second, loadgen.StopNever
	var agent int
	rt := &Netns{StopGrace: time.Second, overstaySlack: time.Second, started: func(pid int) { agent = pid }}
	progress := 0
	start := time.Now()
	res, err := rt.Run(context.Background(), p, &Observer{Event: func(ev result.Event) {
		if ev.Type == result.EventProgress {
			if progress++; progress == 2 {
				syscall.Kill(agent, syscall.SIGSTOP)
			}
		}
	}})
	took := time.Since(start)
	t.Logf("took %s", took)
	assertNoChildren(t)
	if took > 8*time.Second {
		t.Errorf("took %s for a 2 s run with 2 s of grace and slack", took)
	}
	if err == nil || !strings.Contains(err.Error(), "overstayed") {
		t.Errorf("err = %v, want an overstay", err)
	}
	if res == nil || res.Stopped != result.StoppedError || !strings.Contains(res.Error, "overstayed") || res.Dials.OK != 30 {
		t.Fatalf("result %+v: want stopped error, the overstay named, the 30 connections kept", res)
	}
}
