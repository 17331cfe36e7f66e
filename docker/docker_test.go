package docker

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/moby/moby/client"

	"github.com/portex/portex/loadgen"
	"github.com/portex/portex/result"
	"github.com/portex/portex/sandbox"
)

// The containers run a static build of docker/testdata/agent: the agent
// alone, which is all they need. TestMain builds it once.
var (
	agentBin  string  // its path
	engine    *Engine // nil when no engine answers
	engineErr error   // why not
	image     string  // the agent's image, built once
	testImage = "io.portex.test"
)

func TestMain(m *testing.M) {
	os.Exit(testMain(m))
}

func testMain(m *testing.M) int {
	if os.Getenv("PORTEX_TEST_NO_ENGINE_CHILD") != "" {
		return m.Run() // TestNoEngine's child: it needs nothing else
	}
	if flag.Parse(); testing.Short() {
		return m.Run() // the fast tier: see needsFullTier
	}
	dir, err := os.MkdirTemp("", "portex-docker-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	agentBin = filepath.Join(dir, "agent")
	if err := buildStatic(agentBin, "./docker/testdata/agent"); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	engine, engineErr = Connect(ctx)
	if engine != nil {
		defer engine.Close()
		engine.imageLabels = map[string]string{testImage: "agent"}
		bin, err := StaticBinary(agentBin)
		if err == nil {
			image, err = engine.Image(ctx, bin)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		defer removeStaleTestImages(bin)
	}
	return m.Run()
}

// buildStatic builds a package of this module (a path relative to its root)
// with cgo off.
func buildStatic(out, pkg string) error {
	gomod, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return fmt.Errorf("go env GOMOD: %w", err)
	}
	cmd := exec.Command("go", "build", "-o", out, pkg)
	cmd.Dir = filepath.Dir(strings.TrimSpace(string(gomod)))
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("build %s: %v\n%s", pkg, err, b)
	}
	return nil
}

// removeStaleTestImages removes the images of older test agents; the
// current one stays for the next run.
func removeStaleTestImages(current *Binary) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cli := engine.client()
	imgs, err := cli.ImageList(ctx, client.ImageListOptions{Filters: make(client.Filters).Add("label", testImage)})
	if err != nil {
		return
	}
	for _, img := range imgs.Items {
		if img.Labels[LabelBinary] == current.SHA256 {
			continue
		}
		for _, ref := range img.RepoTags {
			cli.ImageRemove(ctx, ref, client.ImageRemoveOptions{PruneChildren: true})
		}
	}
}

// needEngine skips a test when no Docker engine answers, except in CI
// (PORTEX_CI=1), where containers must be exercised.
func needEngine(tb testing.TB) *Engine {
	tb.Helper()
	if testing.Short() {
		tb.Skip("needs a Docker engine (full tier: go test ./...)")
	}
	if engine != nil {
		return engine
	}
	if os.Getenv("PORTEX_CI") == "1" {
		tb.Fatalf("PORTEX_CI=1 and no Docker engine: %v", engineErr)
	}
	tb.Skipf("no Docker engine: %v", engineErr)
	return nil
}

// holdPlan is the foundation's acceptance shape: workers dial, echo once,
// and hold their connection for ever, until the range runs out.
func holdPlan(workers int, rng loadgen.PortRange, ports ...int) *loadgen.Plan {
	if len(ports) == 0 {
		ports = []int{7000}
	}
	var ls []loadgen.Listener
	for _, port := range ports {
		ls = append(ls, loadgen.Listener{Port: port})
	}
	return &loadgen.Plan{
		Scenario: "test", Variant: "default", Runtime: "docker", Duration: 10 * time.Second,
		Sandbox: loadgen.Sandbox{PortRange: rng, Sysctls: map[string]string{"net.ipv4.tcp_tw_reuse": "0"}, Nofile: 8192},
		Server:  loadgen.ServerPlan{Listeners: ls},
		Pools: []loadgen.Pool{{Name: "holders", Workers: workers, Messages: 1, Payload: 64,
			Hold: loadgen.Hold{Kind: loadgen.HoldForever}, Close: loadgen.CloseClient,
			ConnectTimeout: 5 * time.Second, Ports: ports}},
		Stop: loadgen.Stop{On: loadgen.StopOnExhaustion},
	}
}

// testWriter sends the containers' diagnostics to the test's log.
type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Logf("container: %s", strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// assertRemoved checks that no container or network with the label is left.
func assertRemoved(t *testing.T, label string) {
	t.Helper()
	ctx := context.Background()
	f := make(client.Filters).Add("label", label)
	cs, err := engine.client().ContainerList(ctx, client.ContainerListOptions{All: true, Filters: f})
	if err != nil {
		t.Fatal(err)
	}
	ns, err := engine.client().NetworkList(ctx, client.NetworkListOptions{Filters: f})
	if err != nil {
		t.Fatal(err)
	}
	if len(cs.Items) > 0 || len(ns.Items) > 0 {
		t.Errorf("left behind: %d containers, %d networks labelled %s", len(cs.Items), len(ns.Items), label)
	}
}

// The Runtime (what `portex run --runtime docker` uses) builds or reuses
// the image, runs, and removes everything.
func TestRuntime(t *testing.T) {
	needsFullTier(t)
	needEngine(t)
	r := &Runtime{Binary: agentBin, Stderr: testWriter{t}}
	defer r.Close()
	var id string
	r.started = func(s *Sandbox) { id = s.ID() }
	p := holdPlan(30, loadgen.PortRange{Lo: 50000, Hi: 50019})
	var events int
	res, err := r.Run(context.Background(), p, &sandbox.Observer{Event: func(result.Event) { events++ }})
	if err != nil {
		t.Fatal(err)
	}
	if res.Dials.OK != 20 || res.Runtime != "docker" || events == 0 {
		t.Errorf("ok %d runtime %q events %d, want 20 docker and some", res.Dials.OK, res.Runtime, events)
	}
	if r.image != image {
		t.Errorf("image %q, want the one built already, %q", r.image, image)
	}
	assertRemoved(t, LabelRun+"="+id)
}

// A sysctl the engine refuses fails the run with ErrRuntime and a message
// that names it; nothing is left behind.
func TestBadSysctlIsRuntimeError(t *testing.T) {
	needsFullTier(t)
	needEngine(t)
	r := &Runtime{Binary: agentBin}
	defer r.Close()
	var id string
	r.started = func(s *Sandbox) { id = s.ID() }
	p := holdPlan(3, loadgen.PortRange{Lo: 50000, Hi: 50019})
	p.Sandbox.Sysctls["net.ipv4.no_such_knob"] = "1"
	_, err := r.Run(context.Background(), p, nil)
	if !errors.Is(err, sandbox.ErrRuntime) || !strings.Contains(err.Error(), "no_such_knob") {
		t.Fatalf("err = %v, want ErrRuntime naming the sysctl", err)
	}
	t.Log(err)
	assertRemoved(t, LabelRun+"="+id)
}

func TestStaticBinary(t *testing.T) {
	needsFullTier(t)
	b, err := StaticBinary(agentBin)
	if err != nil {
		t.Fatal(err)
	}
	if len(b.SHA256) != 64 || !strings.HasPrefix(b.Tag(), ImageRepo+":"+b.SHA256[:16]) {
		t.Errorf("binary %+v tag %s", b, b.Tag())
	}
	for _, path := range []string{"Dockerfile", "/bin/sh"} {
		if _, err := StaticBinary(path); !errors.Is(err, ErrNotStatic) || !strings.Contains(err.Error(), "CGO_ENABLED=0") {
			t.Errorf("StaticBinary(%s) = %v, want ErrNotStatic saying how to build one", path, err)
		}
	}
}

// With no engine at DOCKER_HOST, the runtime says so in one line, wrapping
// ErrNoEngine and ErrRuntime, and fast. Testcontainers caches the engine it
// found for the whole process, so this runs in a child.
func TestNoEngine(t *testing.T) {
	needsFullTier(t)
	if os.Getenv("PORTEX_TEST_NO_ENGINE_CHILD") != "" {
		r := &Runtime{Binary: os.Getenv("PORTEX_TEST_AGENT")}
		start := time.Now()
		_, err := r.Run(context.Background(), holdPlan(1, loadgen.PortRange{}), nil)
		if !errors.Is(err, ErrNoEngine) || !errors.Is(err, sandbox.ErrRuntime) {
			t.Fatalf("err = %v, want ErrNoEngine and ErrRuntime", err)
		}
		if msg := err.Error(); strings.Contains(msg, "\n") || !strings.Contains(msg, "/nonexistent.sock") {
			t.Errorf("message %q, want one line naming the socket", msg)
		}
		if d := time.Since(start); d > 10*time.Second {
			t.Errorf("took %s to find no engine", d)
		}
		return
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestNoEngine$", "-test.v")
	cmd.Env = append(os.Environ(), "PORTEX_TEST_NO_ENGINE_CHILD=1", "PORTEX_TEST_AGENT="+agentBin,
		"DOCKER_HOST=unix:///nonexistent.sock")
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "--- PASS: TestNoEngine") {
		t.Fatalf("child: %v\n%s", err, out)
	}
}

// Prune removes what carries portex's label and nothing else.
func TestPrune(t *testing.T) {
	needsFullTier(t)
	e := needEngine(t)
	ctx := context.Background()
	s, err := NewSandbox(ctx, e, image, holdPlan(1, loadgen.PortRange{}))
	if err != nil {
		s.Close()
		t.Fatal(err)
	}
	// A crashed run: portex is gone, its echo server and network are not.
	// (Prune itself would also remove the containers of other packages'
	// tests running at the same time: prune this run only.)
	n, err := e.remove(ctx, LabelRun+"="+s.ID(), false)
	if err != nil {
		t.Fatal(err)
	}
	if n.Containers != 1 || n.Networks != 1 || n.Images != 0 {
		t.Errorf("pruned %+v, want the server and the network", n)
	}
	assertRemoved(t, LabelRun+"="+s.ID())
	if err := s.Close(); err != nil {
		t.Errorf("close after prune: %v", err)
	}
	if ok, err := e.HasImage(ctx, image); !ok || err != nil {
		t.Errorf("image %s gone (%v); prune without images must keep it", image, err)
	}
}

// A container killed mid-run: the run ends with a runtime error naming the
// client agent, the partial result is kept, and everything is removed.
func TestKilledContainerKeepsPartialResult(t *testing.T) {
	needsFullTier(t)
	e := needEngine(t)
	p := holdPlan(50, loadgen.PortRange{Lo: 50000, Hi: 50199})
	p.Duration, p.Stop.On = time.Minute, loadgen.StopNever
	s := NewUnstartedSandbox(e, image, p)
	s.Stderr = testWriter{t}
	if err := s.Start(context.Background()); err != nil {
		s.Close()
		t.Fatal(err)
	}
	progress := 0
	res, err := s.Run(context.Background(), &sandbox.Observer{Event: func(ev result.Event) {
		if ev.Type != result.EventProgress {
			return
		}
		if progress++; progress == 2 {
			out, err := exec.Command("docker", "kill", "portex-"+s.ID()+"-client").CombinedOutput()
			if err != nil {
				t.Errorf("docker kill: %v %s", err, out)
			}
		}
	}})
	if cerr := s.Close(); cerr != nil {
		t.Error(cerr)
	}
	assertRemoved(t, LabelRun+"="+s.ID())
	if !errors.Is(err, sandbox.ErrRuntime) || !strings.Contains(err.Error(), "client agent") {
		t.Fatalf("err = %v, want a runtime error naming the client agent", err)
	}
	if res == nil || res.Dials.OK != 50 {
		t.Fatalf("partial result %+v: want the 50 connections seen before the kill", res)
	}
	if res.Stopped != result.StoppedError || res.Variant != "default" || !strings.Contains(res.Error, "client agent died") {
		t.Errorf("stopped %q variant %q error %q: want error, the variant, and why", res.Stopped, res.Variant, res.Error)
	}
}
