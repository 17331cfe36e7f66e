package main

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"sigs.k8s.io/yaml"

	batchv1 "k8s.io/api/batch/v1"

	"github.com/portex/portex/loadgen"
)

// A sysctl outside the kubelet's safe set is refused, exit 2, with the
// reason and both flags named; with --allow-unsafe-sysctls the manifests
// are written and stderr says what the kubelets must allow, and that
// nofile cannot be set per pod.
func TestK8sUnsafeSysctlExitsTwo(t *testing.T) {
	got := portex(t, context.Background(), "k8s", "hold-until-exhausted", "--shards", "4")
	if got.code != exitUsage || got.stdout != "" {
		t.Fatalf("exit %d, stdout %q; want 2 and no manifests", got.code, got.stdout)
	}
	for _, want := range []string{"net.ipv4.tcp_tw_reuse", "--allow-unsafe-sysctls", "--allowed-unsafe-sysctls=net.ipv4.tcp_tw_reuse"} {
		if !strings.Contains(got.stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, got.stderr)
		}
	}
	out := filepath.Join(t.TempDir(), "m.yaml")
	got = portex(t, context.Background(), "k8s", "hold-until-exhausted", "--shards", "4", "--allow-unsafe-sysctls", "--service", "clusterip", "-o", out)
	if got.code != exitOK {
		t.Fatalf("with the flag: exit %d\n%s", got.code, got.stderr)
	}
	for _, want := range []string{"note:", "--allowed-unsafe-sysctls=net.ipv4.tcp_tw_reuse", "nofile 8192", "no per-pod descriptor limit"} {
		if !strings.Contains(got.stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, got.stderr)
		}
	}
	data, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	docs := strings.Split(string(data), "\n---\n")
	var job batchv1.Job
	if err := yaml.UnmarshalStrict([]byte(docs[len(docs)-1]), &job); err != nil || *job.Spec.Completions != 4 {
		t.Errorf("the Job does not decode strictly: %v", err)
	}
	if !strings.Contains(docs[2], "type: ClusterIP") || strings.Contains(docs[2], "clusterIP: None") {
		t.Errorf("--service clusterip wrote:\n%s", docs[2])
	}
	for _, bad := range [][]string{
		{"k8s", "soak"}, // no --shards
		{"k8s", "soak", "--shards", "2", "--k8s-version", "1.20"}, // too old
		{"k8s", "cloud-nat", "--shards", "2"},                     // a NAT
		{"k8s", "soak", "--shards", "2", "--service", "nodeport", "--allow-unsafe-sysctls"},
	} {
		if got := portex(t, context.Background(), bad...); got.code != exitUsage {
			t.Errorf("%v: exit %d, want 2\n%s", bad, got.code, got.stderr)
		}
	}
}

const podScenario = `name: pod-holders
duration: 1s
server:
  port: 7000
pools:
  - name: holders
    workers: %d
    messages: 1
    hold: forever
    connect_timeout: 2s
stop:
  on: never
`

// A shard's block, printed by portex run --print-result in the pod
// runtime, goes through a log into portex k8s collect, and what collect
// writes is what portex merge takes: two shards of 10 holders against an
// echo server on loopback merge to 10 connections.
func TestK8sCollectFeedsMerge(t *testing.T) {
	port := freePort(t)
	srv, err := loadgen.StartServer(loadgen.ServerConfig{Addr: netip.MustParseAddr("127.0.0.1"), Listeners: []loadgen.Listener{{Port: port}}})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	scenario := writeScenario(t, fmt.Sprintf(podScenario, 10))
	var log bytes.Buffer
	for i := range 2 {
		got := portex(t, context.Background(), "run", scenario, "--runtime", "pod", "--target", fmt.Sprintf("127.0.0.1:%d", port),
			"--shard", fmt.Sprintf("%d/2", i), "--out", filepath.Join(t.TempDir(), "out"), "--quiet", "--print-result")
		if got.code != exitOK {
			t.Fatalf("shard %d: exit %d\n%s", i, got.code, got.stderr)
		}
		log.WriteString(got.stdout)
	}
	logFile := filepath.Join(t.TempDir(), "pods.log")
	os.WriteFile(logFile, log.Bytes(), 0o644)
	dir := filepath.Join(t.TempDir(), "collected")
	got := portex(t, context.Background(), "k8s", "collect", logFile, "-o", dir)
	if got.code != exitOK || !strings.Contains(got.stdout, "shard 1/2") {
		t.Fatalf("collect: exit %d\n%s%s", got.code, got.stdout, got.stderr)
	}
	m := merge(t, []string{filepath.Join(dir, "shard-0"), filepath.Join(dir, "shard-1")}).Runs[0]
	if m.Dials.OK != 10 || m.Runtime != "pod" {
		t.Errorf("merged: %d ok in runtime %q, want 10 in pod", m.Dials.OK, m.Runtime)
	}
	// One shard's log alone: collect writes it and says the other is
	// missing.
	half := strings.SplitAfter(log.String(), "--- portex result.json end ---\n")[0]
	os.WriteFile(logFile, []byte(half), 0o644)
	got = portex(t, context.Background(), "k8s", "collect", logFile, "-o", t.TempDir())
	if got.code != exitRuntime || !strings.Contains(got.stderr, "1/2") || !strings.Contains(got.stderr, "--partial") {
		t.Errorf("one shard of two: exit %d\n%s", got.code, got.stderr)
	}
}

// The Job's shards as the Job runs them: n=2 portex processes at once in
// the pod runtime, against a portex echo process (as the echo Deployment
// runs it), their stdout prefixed as kubectl logs --prefix prints it,
// collected and merged: the exact counts of one run of the whole.
func TestK8sShardsMergeToTheSingleRun(t *testing.T) {
	needsFullTier(t)
	bin := buildPortex(t)
	port := freePort(t)
	echo := exec.Command(bin, "echo", "--listen", fmt.Sprintf("127.0.0.1:%d", port))
	var echoErr bytes.Buffer
	echo.Stderr = &echoErr
	if err := echo.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { echo.Process.Signal(os.Interrupt); echo.Wait() }()
	for deadline := time.Now().Add(10 * time.Second); ; {
		c, err := net.Dial("tcp4", fmt.Sprintf("127.0.0.1:%d", port))
		if err == nil {
			c.(*net.TCPConn).SetLinger(0)
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("portex echo not listening: %v\n%s", err, echoErr.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	scenario := writeScenario(t, fmt.Sprintf(podScenario, 60))
	target := fmt.Sprintf("127.0.0.1:%d", port)
	single := filepath.Join(t.TempDir(), "single")
	if got := portex(t, context.Background(), "run", scenario, "--runtime", "pod", "--target", target, "--out", single, "--quiet"); got.code != exitOK {
		t.Fatalf("single run: exit %d\n%s", got.code, got.stderr)
	}
	whole := readResult(t, single).Runs[0]

	const n = 2
	outs := make([][]byte, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			cmd := exec.Command(bin, "run", scenario, "--runtime", "pod", "--target", target, "--shard", fmt.Sprintf("%d/%d", i, n),
				"--out", filepath.Join(t.TempDir(), "out"), "--quiet", "--print-result")
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			outs[i], errs[i] = cmd.Output()
			if errs[i] != nil {
				errs[i] = fmt.Errorf("%v: %s", errs[i], stderr.String())
			}
		})
	}
	wg.Wait()
	var logs bytes.Buffer
	for i := range n {
		if errs[i] != nil {
			t.Fatalf("shard %d: %v", i, errs[i])
		}
		for _, line := range strings.SplitAfter(string(outs[i]), "\n") {
			if line != "" {
				fmt.Fprintf(&logs, "[pod/portex-pod-holders-shards-%d-x1y2z/shard] %s", i, line)
			}
		}
	}
	dir := filepath.Join(t.TempDir(), "collected")
	cmd := exec.Command(bin, "k8s", "collect", "-o", dir)
	cmd.Stdin = &logs
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("collect: %v\n%s", err, out)
	}
	m := merge(t, []string{filepath.Join(dir, "shard-0"), filepath.Join(dir, "shard-1")}).Runs[0]
	if whole.Dials.OK != 60 || m.Dials.OK != whole.Dials.OK || m.Dials.Attempted != whole.Dials.Attempted || m.Dials.Failed != whole.Dials.Failed {
		t.Errorf("dials: merged %+v, single %+v; want 60 ok in both", m.Dials, whole.Dials)
	}
	if m.Latency.Connect.Count != whole.Latency.Connect.Count || m.Latency.Connect.Count != 60 {
		t.Errorf("connect samples: merged %d, single %d, want 60", m.Latency.Connect.Count, whole.Latency.Connect.Count)
	}
	if m.PeakOpen != whole.PeakOpen {
		t.Errorf("peak open: merged %d, single %d", m.PeakOpen, whole.PeakOpen)
	}
}

// The pod runtime needs its echo server named, and a name (which may
// point anywhere) needs --allow-external-target; --target is for the host
// and pod runtimes only. Each is refused before anything runs, exit 2.
func TestRunPodRuntimeFlags(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--runtime", "pod"}, "--runtime pod needs --target HOST or HOST:PORT"},
		{[]string{"--runtime", "pod", "--target", "portex-echo"}, "needs --allow-external-target"},
		{[]string{"--runtime", "pod", "--target", "portex-echo:99999", "--allow-external-target"}, "a port in 1..65535"},
		{[]string{"--runtime", "docker", "--target", "127.0.0.1:7000"}, "--target works with --runtime host or pod only"},
	} {
		dir := filepath.Join(t.TempDir(), "out")
		got := portex(t, context.Background(), append([]string{"run", "soak", "--out", dir, "--quiet"}, tc.args...)...)
		if got.code != exitUsage || !strings.Contains(got.stderr, tc.want) {
			t.Errorf("%v: exit %d, want 2 with %q:\n%s", tc.args, got.code, tc.want, got.stderr)
		}
		noFolder(t, dir)
	}
}

// Variants that ask for different echo servers cannot share the one
// Deployment: refused, naming --variant; with --variant the Job's pods
// run the chosen variant alone.
func TestK8sVariants(t *testing.T) {
	got := portex(t, context.Background(), "k8s", "time-wait-churn", "--shards", "2", "--allow-unsafe-sysctls")
	if got.code != exitUsage || !strings.Contains(got.stderr, "--variant") {
		t.Fatalf("exit %d, want 2 naming --variant:\n%s", got.code, got.stderr)
	}
	got = portex(t, context.Background(), "k8s", "time-wait-churn", "--shards", "2", "--allow-unsafe-sysctls", "--variant", "baseline")
	if got.code != exitOK || !strings.Contains(got.stdout, "- --variant\n        - baseline\n") {
		t.Errorf("exit %d; the Job does not pass --variant baseline:\n%s%s", got.code, got.stdout, got.stderr)
	}
}
