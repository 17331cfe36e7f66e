package main

import (
	"bytes"
	"encoding/json"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/portex/portex/watch"
)

// watchedRun is a `portex run` of the built binary, in the background.
type watchedRun struct {
	bin, out string
	cmd      *exec.Cmd
	stderr   bytes.Buffer
	done     chan struct{} // closed once the run ended, err its end
	err      error
}

func startWatchedRun(t *testing.T, bin, scenario string) *watchedRun {
	t.Helper()
	r := &watchedRun{bin: bin, out: filepath.Join(t.TempDir(), "out"), done: make(chan struct{})}
	r.cmd = exec.Command(bin, "run", writeScenario(t, scenario), "--out", r.out, "--quiet")
	r.cmd.Stderr = &r.stderr
	if err := r.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { r.err = r.cmd.Wait(); close(r.done) }()
	t.Cleanup(func() {
		r.cmd.Process.Kill()
		<-r.done
	})
	return r
}

// agentPid finds the run's agent: its child in a network namespace of its
// own (the netns runtime's client side).
func (r *watchedRun) agentPid(t *testing.T) int {
	t.Helper()
	own, err := os.Readlink("/proc/self/ns/net")
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		entries, _ := os.ReadDir("/proc")
		for _, e := range entries {
			pid, err := strconv.Atoi(e.Name())
			if err != nil {
				continue
			}
			stat, err := os.ReadFile("/proc/" + e.Name() + "/stat")
			if err != nil {
				continue
			}
			// pid (comm) state ppid ...: comm may hold spaces.
			fields := strings.Fields(string(stat[bytes.LastIndexByte(stat, ')')+1:]))
			if len(fields) < 2 || fields[1] != strconv.Itoa(r.cmd.Process.Pid) {
				continue
			}
			if ns, err := os.Readlink("/proc/" + e.Name() + "/ns/net"); err == nil && ns != own {
				return pid
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("no agent of portex run (pid %d) in a namespace of its own; stderr: %s", r.cmd.Process.Pid, r.stderr.String())
	return 0
}

// watchOnce runs portex watch --pid pid --once --format json with args.
func watchOnce(t *testing.T, bin string, pid int, args ...string) *watch.Report {
	t.Helper()
	cmd := exec.Command(bin, append([]string{"watch", "--pid", strconv.Itoa(pid), "--once", "--format", "json"}, args...)...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("portex watch: %v: %s", err, stderr.String())
	}
	var r watch.Report
	if err := json.Unmarshal(out, &r); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	return &r
}

// waitInUse watches until the first destination holds at least n ports.
func waitInUse(t *testing.T, bin string, pid, n int) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		if r := watchOnce(t, bin, pid, "--window", "0"); len(r.Rows) > 0 && r.Rows[0].PortsInUse >= n {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("the run's client never held %d ports", n)
}

func (r *watchedRun) wait(t *testing.T) {
	t.Helper()
	select {
	case <-r.done:
		if r.err != nil {
			t.Fatalf("portex run: %v: %s", r.err, r.stderr.String())
		}
	case <-time.After(60 * time.Second):
		t.Fatal("portex run did not end")
	}
}

// TestWatchHeldConnections watches a sandbox's client namespace holding
// 60 connections: watch reports them against the budget (the range less
// the reserved ports), steady, as the run itself counted them.
func TestWatchHeldConnections(t *testing.T) {
	needsFullTier(t)
	bin := buildPortex(t)
	run := startWatchedRun(t, bin, `name: watch-held
duration: 6s
sandbox:
  port_range: 50000-50199
  sysctls:
    net.ipv4.ip_local_reserved_ports: 50000-50009
server:
  port: 7000
pools:
  - name: held
    workers: 60
    hold: forever
stop:
  on: never
`)
	pid := run.agentPid(t)
	waitInUse(t, bin, pid, 60)
	r := watchOnce(t, bin, pid, "--window", "1s", "--interval", "100ms")
	run.wait(t)
	res := readResult(t, run.out).Runs[0]

	if r.Namespace != "pid "+strconv.Itoa(pid) || r.RangeSize != 200 || r.Reserved != 10 || r.Budget != 190 || len(r.Rows) != 1 {
		t.Fatalf("report %+v: want pid %d, range 200, 10 reserved, budget 190, one destination", r, pid)
	}
	row := r.Rows[0]
	t.Logf("watch: %+v", row)
	if !strings.HasSuffix(row.Destination, ":7000") {
		t.Errorf("destination %s, want the server's port 7000", row.Destination)
	}
	if row.PortsInUse != 60 || row.Headroom != 130 || row.Established != 60 || row.NewPerSecond != 0 || row.Projection.Kind != watch.Steady {
		t.Errorf("row %+v: want 60 in use, 130 headroom, 60 established, none new, steady", row)
	}
	// The run's own count at the same moment: its time-series point
	// nearest the watch's sample.
	at := r.At.Sub(res.StartedAt).Seconds()
	near := -1
	for i, p := range res.TimeSeries.Points {
		if p.Client != nil && p.Client.PortsCounted() && (near < 0 || math.Abs(p.T-at) < math.Abs(res.TimeSeries.Points[near].T-at)) {
			near = i
		}
	}
	if near < 0 {
		t.Fatal("result.json has no point with the client's ports in use")
	}
	p := res.TimeSeries.Points[near]
	if res.PeakOpen != 60 || p.Client.PortsInUse != row.PortsInUse || p.Open != int64(row.Established) {
		t.Errorf("result.json: peak open %d, at %.2fs %d ports in use and %d open; watch at %.2fs: %d and %d",
			res.PeakOpen, p.T, p.Client.PortsInUse, p.Open, at, row.PortsInUse, row.Established)
	}
}

// TestWatchChurnProjection watches a sandbox whose client leaves 25
// TIME_WAIT sockets a second in a 200-port range: watch's projection of
// the time left matches when the run measured the exhaustion, within 10%.
func TestWatchChurnProjection(t *testing.T) {
	needsFullTier(t)
	bin := buildPortex(t)
	run := startWatchedRun(t, bin, `name: watch-churn
duration: 20s
sandbox:
  port_range: 50000-50199
  sysctls:
    net.ipv4.tcp_tw_reuse: 0
server:
  port: 7000
pools:
  - name: churn
    rate: 25/s
    close: client
stop:
  on: exhaustion
`)
	pid := run.agentPid(t)
	waitInUse(t, bin, pid, 25)
	r := watchOnce(t, bin, pid, "--window", "2s", "--interval", "100ms")
	run.wait(t)
	res := readResult(t, run.out).Runs[0]
	if res.Exhaustion == nil {
		t.Fatalf("the run did not exhaust: %s", run.stderr.String())
	}
	if len(r.Rows) != 1 {
		t.Fatalf("report %+v: want one destination", r)
	}
	row := r.Rows[0]
	t.Logf("watch: %+v", row)
	measured := res.StartedAt.Add(time.Duration(res.Exhaustion.AtSeconds * float64(time.Second))).Sub(r.At).Seconds()
	projected := row.Projection.ExhaustsInSeconds
	t.Logf("exhaustion measured at %.2fs into the run; watch at %.2fs projected %.2fs left, measured %.2fs left",
		res.Exhaustion.AtSeconds, r.At.Sub(res.StartedAt).Seconds(), projected, measured)
	if row.Projection.Kind != watch.Rising || math.Abs(row.NewPerSecond-25) > 2.5 || math.Abs(row.Projection.GrowthPerSecond-25) > 2.5 {
		t.Errorf("row %+v: want rising at about 25 ports/s and 25 new/s", row)
	}
	if measured <= 0 || math.Abs(projected-measured) > 0.1*measured {
		t.Errorf("projected %.2fs to exhaustion, measured %.2fs: more than 10%% apart", projected, measured)
	}
	if !strings.Contains(row.Says, "runs out in ~") || !strings.Contains(row.Says, "(projected)") {
		t.Errorf("says %q", row.Says)
	}
}

// TestWatchContainer watches a docker run's client container by name.
func TestWatchContainer(t *testing.T) {
	needsFullTier(t)
	needsDocker(t)
	bin := buildPortex(t)

	cmd := exec.Command(bin, "watch", "--container", "portex-no-such-container", "--once")
	out, err := cmd.CombinedOutput()
	if code := cmd.ProcessState.ExitCode(); code != exitUsage || !strings.Contains(string(out), "no such container: portex-no-such-container") {
		t.Errorf("a container that does not exist: exit %d (%v), %q; want %d", code, err, out, exitUsage)
	}

	run := startWatchedRun(t, bin, `name: watch-container
duration: 30s
runtime: docker
sandbox:
  port_range: 50000-50199
server:
  port: 7000
pools:
  - name: held
    workers: 60
    hold: forever
stop:
  on: never
`)
	var name string
	deadline := time.Now().Add(60 * time.Second)
	for name == "" && time.Now().Before(deadline) {
		ps, err := exec.Command("docker", "ps", "--filter", "name=portex-", "--format", "{{.Names}}").Output()
		if err != nil {
			t.Fatalf("docker ps: %v", err)
		}
		for _, n := range strings.Fields(string(ps)) {
			if strings.HasSuffix(n, "-client") {
				name = n
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	if name == "" {
		t.Fatalf("no client container; stderr: %s", run.stderr.String())
	}
	var r *watch.Report
	for time.Now().Before(deadline) {
		cmd := exec.Command(bin, "watch", "--container", name, "--once", "--window", "0", "--format", "json")
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("portex watch --container %s: %v", name, err)
		}
		r = new(watch.Report)
		if err := json.Unmarshal(out, r); err != nil {
			t.Fatalf("%v: %s", err, out)
		}
		if len(r.Rows) == 1 && r.Rows[0].PortsInUse == 60 {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if r.Namespace != "container "+name || r.RangeSize != 200 || r.Budget != 200 || len(r.Rows) != 1 ||
		r.Rows[0].PortsInUse != 60 || r.Rows[0].Established != 60 {
		t.Errorf("report %+v: want container %s, range 200, budget 200, 60 in use and established toward one destination", r, name)
	}
	run.cmd.Process.Signal(os.Interrupt)
	<-run.done
}
