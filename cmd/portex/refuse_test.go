package main

import (
	"context"
	"errors"
	"io/fs"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/portex/portex/loadgen"
)

// noFolder fails if the run made its report folder: it was refused before.
func noFolder(t *testing.T, dir string) {
	t.Helper()
	if _, err := os.Stat(dir); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("%s exists (%v): the refused run made its report folder", dir, err)
	}
}

// freePort is a loopback port where nothing listens.
func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// Every variant is checked against the runtime before the first one
// runs: mitigations' more-sources (source_addresses 2) cannot run under
// docker or on the host, so nothing runs, exit 2, at the variant's key.
func TestRunRefusesAVariantTheRuntimeCannotRun(t *testing.T) {
	for _, rt := range []string{"docker", "host"} {
		dir := filepath.Join(t.TempDir(), "out")
		got := portex(t, context.Background(), "run", "mitigations", "--runtime", rt, "--out", dir, "--quiet")
		want := "mitigations:109:9: variants[8].pools[0].source_addresses: the " + rt + " runtime cannot run this: source_addresses is 2"
		if got.code != exitUsage || !strings.Contains(got.stderr, want) || !strings.Contains(got.stderr, "(variant more-sources)") || got.stdout != "" {
			t.Errorf("--runtime %s: exit %d\nstdout %q\nstderr %q\nwant exit 2 and %q", rt, got.code, got.stdout, got.stderr, want)
		}
		noFolder(t, dir)
	}
}

// A NAT needs the netns runtime's router namespace: under docker or on
// the host the run is refused, exit 2, at the nat key, before it starts.
func TestRunRefusesANATOffNetns(t *testing.T) {
	for _, rt := range []string{"docker", "host"} {
		dir := filepath.Join(t.TempDir(), "out")
		got := portex(t, context.Background(), "run", "cloud-nat", "--runtime", rt, "--out", dir, "--quiet")
		want := "cloud-nat:14:1: nat: the " + rt + " runtime cannot run this: a NAT in the path runs on the netns runtime only"
		if got.code != exitUsage || !strings.Contains(got.stderr, want) || got.stdout != "" {
			t.Errorf("--runtime %s: exit %d\nstdout %q\nstderr %q\nwant exit 2 and %q", rt, got.code, got.stdout, got.stderr, want)
		}
		noFolder(t, dir)
	}
	path := writeScenario(t, "name: x\nruntime: docker\nnat:\n  ports: 60000-60099\npools:\n  - name: a\n")
	got := portex(t, context.Background(), "validate", path)
	if got.code != exitUsage || !strings.Contains(got.stderr, path+":4:3: nat: a NAT in the path runs on the netns runtime only") {
		t.Errorf("runtime: docker in the scenario: exit %d, %s", got.code, got.stderr)
	}
}

// A key the variants inherit is reported once, at the scenario's key,
// with every variant it stops.
func TestRunRefusesAnInheritedKeyOnce(t *testing.T) {
	path := writeScenario(t, "name: x\nduration: 1s\npools:\n  - name: a\n    source_addresses: 2\nvariants:\n  - name: v\n    pools:\n      - name: a\n        hold: 1ms\n")
	dir := filepath.Join(t.TempDir(), "out")
	got := portex(t, context.Background(), "run", path, "--runtime", "host", "--out", dir, "--quiet")
	lines := strings.Split(strings.TrimSpace(got.stderr), "\n")
	if got.code != exitUsage || len(lines) != 1 || !strings.HasPrefix(lines[0], path+":5:5: pools[0].source_addresses: the host runtime cannot run this") ||
		!strings.HasSuffix(lines[0], "(variants baseline, v)") {
		t.Errorf("exit %d, stderr %q", got.code, got.stderr)
	}
	noFolder(t, dir)
}

// validate checks against the scenario's runtime, or --runtime's.
func TestValidateChecksTheRuntime(t *testing.T) {
	if got := portex(t, context.Background(), "validate", "mitigations"); got.code != exitOK {
		t.Errorf("mitigations under netns: exit %d, %s", got.code, got.stderr)
	}
	got := portex(t, context.Background(), "validate", "mitigations", "--runtime", "docker")
	if got.code != exitUsage || !strings.Contains(got.stderr, "variants[8].pools[0].source_addresses: the docker runtime cannot run this") {
		t.Errorf("mitigations under docker: exit %d, %s", got.code, got.stderr)
	}
	path := writeScenario(t, "name: x\nruntime: docker\npools:\n  - name: a\n    source_addresses: 2\n")
	got = portex(t, context.Background(), "validate", path)
	if got.code != exitUsage || !strings.Contains(got.stderr, path+":5:5: pools[0].source_addresses: the docker runtime cannot run this") {
		t.Errorf("runtime: docker in the scenario: exit %d, %s", got.code, got.stderr)
	}
}

// --target at a port where nothing listens is refused before the run:
// exit 3, one line, no report folder.
func TestRunTargetMustAccept(t *testing.T) {
	target := "127.0.0.1:" + strconv.Itoa(freePort(t))
	path := writeScenario(t, "name: x\nduration: 10s\npools:\n  - name: a\n    workers: 2\n")
	dir := filepath.Join(t.TempDir(), "out")
	got := portex(t, context.Background(), "run", path, "--runtime", "host", "--target", target, "--out", dir, "--quiet")
	if got.code != exitRuntime || !strings.Contains(got.stderr, "--target "+target+" accepts no connection (connection refused)") {
		t.Errorf("exit %d, stderr %q", got.code, got.stderr)
	}
	noFolder(t, dir)
}

// With --target the pools dial a server portex did not start: what only
// portex's echo server carries out is refused at its key, exit 2.
func TestRunTargetRefusesWhatNeedsTheBundledServer(t *testing.T) {
	port := freePort(t)
	srv, err := loadgen.StartServer(loadgen.ServerConfig{Addr: netip.MustParseAddr("127.0.0.1"), Listeners: []loadgen.Listener{{Port: port}}})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	target := "127.0.0.1:" + strconv.Itoa(port)
	tests := []struct{ why, src, want string }{
		{"a pool the server closes", "pools:\n  - name: a\n    close: server\n", ":5:5: pools[0].close: the host runtime cannot run this: close: server"},
		{"the server's idle close", "server:\n  close: {idle: 1s}\npools:\n  - name: a\n", ":4:3: server.close: the host runtime cannot run this: server.close"},
		{"a variant's after_messages", "pools:\n  - name: a\nvariants:\n  - name: v\n    server:\n      close: {after_messages: 1}\n",
			":8:7: variants[0].server.close: the host runtime cannot run this: server.close"},
	}
	for _, tt := range tests {
		path := writeScenario(t, "name: x\nduration: 1s\n"+tt.src)
		dir := filepath.Join(t.TempDir(), "out")
		got := portex(t, context.Background(), "run", path, "--runtime", "host", "--target", target, "--out", dir, "--quiet")
		if got.code != exitUsage || !strings.Contains(got.stderr, path+tt.want) {
			t.Errorf("%s: exit %d, stderr %q, want %q", tt.why, got.code, got.stderr, tt.want)
		}
		noFolder(t, dir)
	}
	// A pool of the client's own runs against it.
	path := writeScenario(t, "name: x\nduration: 300ms\npools:\n  - name: a\n    workers: 2\n")
	dir := filepath.Join(t.TempDir(), "out")
	start := time.Now()
	got := portex(t, context.Background(), "run", path, "--runtime", "host", "--target", target, "--out", dir, "--quiet")
	if got.code != exitOK {
		t.Fatalf("exit %d after %s, stderr %q", got.code, time.Since(start), got.stderr)
	}
	if r := readResult(t, dir); len(r.Runs) != 1 || r.Runs[0].Dials.OK == 0 || srv.Counts().Accepted == 0 {
		t.Errorf("runs %d: nothing reached the target", len(r.Runs))
	}
}

// A pool whose payload buffers do not fit in memory is refused before the
// run, at the pool and its keys, exit 2, and no report folder is made.
func TestRunRefusesPayloadsMemoryCannotHold(t *testing.T) {
	file := filepath.Join(t.TempDir(), "big.yaml")
	if err := os.WriteFile(file, []byte("name: big\npools:\n  - name: fat\n    workers: 10000\n    payload: 16MiB\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "out")
	got := portex(t, context.Background(), "run", file, "--out", dir, "--quiet")
	if got.code != exitUsage || !strings.Contains(got.stderr, `pool "fat": workers 10000 x payload 16777216 bytes`) ||
		!strings.Contains(got.stderr, "lower the pool's workers or payload") {
		t.Errorf("exit %d, stderr %q: want exit 2 naming the pool, workers and payload", got.code, got.stderr)
	}
	noFolder(t, dir)
}
