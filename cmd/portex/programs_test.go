package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/portex/portex/result"
)

// programScenarios are the bundled scenarios that run a program of the
// repository's examples: TestProgramScenarios prepares what each needs
// (builds it onto PATH, or finds its interpreter and runs from the
// repository's root), so TestLibraryRuns leaves them out.
var programScenarios = map[string]struct {
	prepare func(t *testing.T)
	check   func(t *testing.T, r runs)
}{
	// The default transport keeps 2 of 10 connections a round and closes
	// 8 into TIME_WAIT: the 200-port range runs out, the kernel's count
	// says so, and so does the client's own output; with 10 idle
	// connections a host, 10 connections serve every request.
	"go-default-transport": {func(t *testing.T) { buildGoclient(t) }, func(t *testing.T, r runs) {
		base := r["baseline"]
		if ex := base.Exhaustion; ex == nil || ex.Class != "EADDRNOTAVAIL" || ex.Sockets == nil || ex.Sockets.PortsInUse != 200 {
			t.Errorf("baseline: exhaustion %+v; want EADDRNOTAVAIL with the 200 ports in use", ex)
		}
		if len(base.Programs) != 1 {
			t.Fatalf("baseline: programs %+v", base.Programs)
		}
		p := base.Programs[0]
		var types []string
		for _, ev := range base.Events {
			types = append(types, ev.Type+" "+ev.Class)
		}
		if !slices.Contains(types, "exhaustion EADDRNOTAVAIL") || !slices.Contains(types, "first_failure EADDRNOTAVAIL") || types[len(types)-1] != "end " {
			t.Errorf("baseline: events %q; want the exhaustion, the program's first failure, and the end", types)
		}
		if p.ExitCode != 1 || p.FirstErrorClass != "EADDRNOTAVAIL" || p.FirstErrorAtSeconds == nil ||
			!strings.Contains(p.FirstErrorLine, "cannot assign requested address") {
			t.Errorf("baseline: program %+v; want exit 1 and its first error classified", p)
		}
		if base.Server == nil || base.Server.Accepted != 200 {
			t.Errorf("baseline: the server accepted %+v connections, want the 200 the range gives", base.Server)
		}
		fix := r["max-idle-10"]
		if fix.Exhaustion != nil || len(fix.Programs) != 1 || fix.Programs[0].ExitCode != 0 || fix.Programs[0].FirstErrorLine != "" {
			t.Errorf("max-idle-10: exhaustion %+v, programs %+v; want none and exit 0", fix.Exhaustion, fix.Programs)
		}
		// A round's request may dial before the previous round's
		// connection is back in the idle pool (the transport returns it
		// after the handler has its response): on a loaded machine a few
		// more than 10, never anywhere near the 200 of the baseline.
		if fix.Server == nil || fix.Server.Accepted < 10 || fix.Server.Accepted > 20 || fix.Server.Requests != 2000 {
			t.Errorf("max-idle-10: server %+v; want 2000 requests on about 10 connections", fix.Server)
		}
	}},
	// requests.get() per request: a connection each, closed by the
	// client, so 200 requests take the 200 ports; a Session per thread
	// keeps 4 connections for all 600.
	"python-requests": {pythonRequests, func(t *testing.T, r runs) {
		base := r["baseline"]
		if ex := base.Exhaustion; ex == nil || ex.Class != "EADDRNOTAVAIL" || ex.Sockets == nil || ex.Sockets.PortsInUse != 200 {
			t.Errorf("baseline: exhaustion %+v; want EADDRNOTAVAIL with the 200 ports in use", ex)
		}
		if len(base.Programs) != 1 || base.Programs[0].ExitCode != 1 || base.Programs[0].FirstErrorClass != "EADDRNOTAVAIL" ||
			base.Programs[0].FirstErrorRuntime != "python" {
			t.Errorf("baseline: programs %+v; want exit 1 and Python's [Errno 99]", base.Programs)
		}
		s := r["session"]
		if s.Exhaustion != nil || len(s.Programs) != 1 || s.Programs[0].ExitCode != 0 {
			t.Errorf("session: exhaustion %+v, programs %+v; want none and exit 0", s.Exhaustion, s.Programs)
		}
		if s.Server == nil || s.Server.Accepted != 4 || s.Server.Requests != 600 {
			t.Errorf("session: server %+v; want 4 connections for 600 requests", s.Server)
		}
	}},
	// One curl process per request: a connection each, closed by curl,
	// so 200 requests take the 200 ports and the 201st curl exits 7; one
	// curl for the 300 URLs keeps one connection.
	"curl-loop": {needsCurl, func(t *testing.T, r runs) {
		base := r["baseline"]
		if ex := base.Exhaustion; ex == nil || ex.Class != "EADDRNOTAVAIL" || ex.Sockets == nil || ex.Sockets.PortsInUse != 200 {
			t.Errorf("baseline: exhaustion %+v; want EADDRNOTAVAIL with the 200 ports in use", ex)
		}
		if len(base.Programs) != 1 || base.Programs[0].ExitCode != 7 || base.Programs[0].FirstErrorRuntime != "curl" {
			t.Errorf("baseline: programs %+v; want curl's exit 7 and its (7) line", base.Programs)
		}
		if base.Server == nil || base.Server.Accepted != 200 {
			t.Errorf("baseline: server %+v; want the 200 connections the range gives", base.Server)
		}
		one := r["one-curl"]
		if one.Exhaustion != nil || len(one.Programs) != 1 || one.Programs[0].ExitCode != 0 {
			t.Errorf("one-curl: exhaustion %+v, programs %+v; want none and exit 0", one.Exhaustion, one.Programs)
		}
		if one.Server == nil || one.Server.Accepted != 1 || one.Server.Requests != 300 {
			t.Errorf("one-curl: server %+v; want 1 connection for 300 requests", one.Server)
		}
	}},
}

// needsCurl skips, saying so, where curl is not installed.
func needsCurl(t *testing.T) {
	if _, err := exec.LookPath("curl"); err != nil {
		t.Skip("curl is not installed: the curl-loop scenario cannot run")
	}
}

// pythonRequests skips, saying what is missing, where python3 or its
// requests package is not installed; else it moves to the repository's
// root, where the scenario's relative path to the client is.
func pythonRequests(t *testing.T) {
	py, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("python3 is not installed: the python-requests scenario cannot run")
	}
	if out, err := exec.Command(py, "-c", "import requests").CombinedOutput(); err != nil {
		t.Skipf("python3 has no requests package (%v: %s): the python-requests scenario cannot run", err, strings.TrimSpace(string(out)))
	}
	t.Chdir("../..")
}

// buildGoclient builds examples/goclient into a new directory and puts
// that directory first on PATH, as the README tells a user to.
func buildGoclient(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	out, err := exec.Command("go", "build", "-o", filepath.Join(dir, "goclient"), "../../examples/goclient").CombinedOutput()
	if err != nil {
		t.Fatalf("go build goclient: %v\n%s", err, out)
	}
	t.Setenv("PATH", dir+string(os.PathListSeparator)+os.Getenv("PATH"))
	return filepath.Join(dir, "goclient")
}

func TestProgramScenarios(t *testing.T) {
	needsFullTier(t)
	for name, sc := range programScenarios {
		t.Run(name, func(t *testing.T) {
			sc.prepare(t)
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			dir := filepath.Join(t.TempDir(), "out")
			got := portex(t, ctx, "run", name, "--out", dir, "-q")
			if got.code != exitOK {
				t.Fatalf("exit %d, stderr:\n%s", got.code, got.stderr)
			}
			r := readResult(t, dir)
			byVariant := make(runs)
			for _, run := range r.Runs {
				if run.Error != "" {
					t.Errorf("variant %s failed: %s", run.Variant, run.Error)
				}
				byVariant[run.Variant] = run
			}
			sc.check(t, byVariant)
			junit, err := os.ReadFile(filepath.Join(dir, "junit.xml"))
			if err != nil || !strings.Contains(string(junit), "exit_code "+r.Runs[0].Programs[0].Name) {
				t.Errorf("junit.xml does not carry the program's exit_code check (%v):\n%s", err, junit)
			}
		})
	}
}

// programRun runs a scenario of one program and returns the exit code,
// the result's run (nil if none) and stderr.
func programRun(t *testing.T, body string, args ...string) (int, *result.Result, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	dir := filepath.Join(t.TempDir(), "out")
	got := portex(t, ctx, append([]string{"run", writeScenario(t, body), "--out", dir, "-q"}, args...)...)
	var run *result.Result
	if _, err := os.Stat(filepath.Join(dir, "result.json")); err == nil {
		if r := readResult(t, dir); len(r.Runs) > 0 {
			run = r.Runs[0]
		}
	}
	return got.code, run, got.stderr
}

const programHead = `name: prog
duration: 10s
sandbox:
  port_range: 40000-40099
server:
  ports: 2
`

// Pools beside a program share its range: 50 connections held by a pool
// leave the Go client 150 of the 200 ports, and it runs out there; the
// run keeps both the pool's dials and the program's end, and predicts
// nothing (the model does not know the program's load).
func TestProgramBesidePools(t *testing.T) {
	needsFullTier(t)
	buildGoclient(t)
	code, run, stderr := programRun(t, `name: beside
duration: 3s
sandbox:
  port_range: 40000-40199
  sysctls: {net.ipv4.tcp_tw_reuse: 0}
server:
  protocol: http
pools:
  - name: background
    workers: 50
    messages: 0
    hold: forever
programs:
  - name: goclient
    exec: [goclient, -url, "http://{server}/", -concurrency, "10", -requests, "2000"]
stop:
  on: never
expect: {exit_code: 1}
`)
	if code != exitOK || run == nil {
		t.Fatalf("exit %d, stderr:\n%s", code, stderr)
	}
	if run.Dials.OK != 50 || run.Pools[0].Dials.OK != 50 {
		t.Errorf("dials %+v: want the pool's 50 held connections", run.Dials)
	}
	if len(run.Programs) != 1 || run.Programs[0].ExitCode != 1 || run.Programs[0].FirstErrorClass != "EADDRNOTAVAIL" {
		t.Errorf("programs %+v: want the client out of ports, exit 1", run.Programs)
	}
	if len(run.Destinations) != 1 || run.Destinations[0].PortsInUse != 200 || run.Exhaustion == nil {
		t.Errorf("destinations %+v, exhaustion %+v: want the 200 ports full, exhausted", run.Destinations, run.Exhaustion)
	}
	if run.Model != nil {
		t.Errorf("model %+v: the model does not know a program's load, and predicts nothing beside one", run.Model)
	}
}

// A program gets the server's address in its environment and in its
// argv, and the environment holds nothing of portex's request.
func TestProgramEnvironment(t *testing.T) {
	needsFullTier(t)
	code, run, stderr := programRun(t, programHead+`programs:
  - name: env
    exec: [sh, -c, 'echo "arg=$0 server=$PORTEX_SERVER host=$PORTEX_SERVER_HOST port=$PORTEX_SERVER_PORT p0=$PORTEX_SERVER_PORT_0 p1=$PORTEX_SERVER_PORT_1 mine=$MINE req=${PORTEX_REQUEST:-none}"', "{server}"]
    env: {MINE: "yes"}
expect: {exit_code: 0}
`)
	if code != exitOK || run == nil || len(run.Programs) != 1 {
		t.Fatalf("exit %d, run %+v, stderr:\n%s", code, run, stderr)
	}
	want := "arg=198.19.0.1:7000 server=198.19.0.1:7000 host=198.19.0.1 port=7000 p0=7000 p1=7001 mine=yes req=none\n"
	if got := run.Programs[0].OutputTail; got != want {
		t.Errorf("the program printed %q, want %q", got, want)
	}
}

// A program reaches only the sandbox's addresses: a connect to an
// address outside fails at once, for want of a route.
func TestProgramNoRouteOut(t *testing.T) {
	needsFullTier(t)
	buildGoclient(t)
	code, run, stderr := programRun(t, programHead+`programs:
  - name: out
    exec: [goclient, -url, "http://192.0.2.1:80/", -requests, "1", -concurrency, "1"]
expect: {exit_code: 1}
`)
	if code != exitOK || run == nil || len(run.Programs) != 1 {
		t.Fatalf("exit %d, run %+v, stderr:\n%s", code, run, stderr)
	}
	if p := run.Programs[0]; !strings.Contains(p.OutputTail, "connect: network is unreachable") || p.ElapsedSeconds > 5 {
		t.Errorf("program %+v; want a connect that fails at once with no route", p)
	}
}

// The duration ends a program that runs on: SIGTERM, and the run is
// over well within the grace.
func TestProgramDurationStops(t *testing.T) {
	needsFullTier(t)
	start := time.Now()
	code, run, stderr := programRun(t, programHead+`programs:
  - name: sleeper
    exec: [sleep, "60"]
`, "--duration", "1s")
	if code != exitOK || run == nil || len(run.Programs) != 1 {
		t.Fatalf("exit %d, run %+v, stderr:\n%s", code, run, stderr)
	}
	p := run.Programs[0]
	if run.Stopped != result.StoppedDuration || p.Signal != "terminated" || !p.StoppedByPortex {
		t.Errorf("stopped %q, program %+v; want the duration to end it with SIGTERM", run.Stopped, p)
	}
	if d := time.Since(start); d > 8*time.Second {
		t.Errorf("took %s", d)
	}
}

// A program that cannot start, or that a signal kills, fails the
// sandbox (exit 3) with an error that names it.
func TestProgramFailures(t *testing.T) {
	needsFullTier(t)
	plain := filepath.Join(t.TempDir(), "my-client")
	if err := os.WriteFile(plain, []byte("#!/bin/sh\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ name, exec, want string }{
		{"missing", `[/nonexistent/my-client]`, `program "p" did not start: fork/exec /nonexistent/my-client: no such file or directory`},
		{"not-on-path", `[no-such-client-anywhere]`, `program "p" did not start: exec: "no-such-client-anywhere": executable file not found in $PATH`},
		{"not-executable", "[" + plain + "]", `program "p" did not start: fork/exec ` + plain + `: permission denied`},
		{"signal", `[sh, -c, 'kill -SEGV $$']`, `program "p" was killed by signal segmentation fault`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, run, stderr := programRun(t, programHead+"programs:\n  - name: p\n    exec: "+tc.exec+"\n")
			if code != exitRuntime || !strings.Contains(stderr, tc.want) {
				t.Errorf("exit %d, stderr:\n%s\nwant exit 3 and %q", code, stderr, tc.want)
			}
			if run != nil && run.Error == "" {
				t.Errorf("the result has no error: %+v", run)
			}
		})
	}
}

// Programs are refused where they cannot run, and bad keys name their
// line: exit 2.
func TestProgramBadInput(t *testing.T) {
	for _, tc := range []struct{ name, body, want string }{
		{"host", "runtime: host\n" + programHead + "programs: [{name: p, exec: [true]}]\n",
			"programs: programs run on the netns and docker runtimes, not on runtime: host"},
		{"no-exec", programHead + "programs:\n  - name: p\n", `scenario.yaml:8:5: programs[0]: missing required key "exec"`},
		{"bad-env", programHead + "programs:\n  - name: p\n    exec: [true]\n    env: {PORTEX_X: 1}\n", "scenario.yaml:10:11: programs[0].env.PORTEX_X: variables named PORTEX_* are portex's own"},
		{"exit-code-no-programs", programHead + "pools: [{name: c, workers: 1}]\nexpect: {exit_code: 0}\n", "scenario.yaml:8:21: expect.exit_code: checks the exit status of the scenario's programs, and it runs none"},
		{"with-pools-sharded", strings.Replace(programHead, "  port_range: 40000-40099\n", "  port_range: 40000-40099\n  processes: 2\n", 1) + "pools: [{name: c, workers: 1}]\nprograms: [{name: p, exec: [true]}]\n", "programs beside pools run in one client process"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := portex(t, context.Background(), "validate", writeScenario(t, tc.body))
			if got.code != exitUsage || !strings.Contains(got.stdout+got.stderr, tc.want) {
				t.Errorf("exit %d, output:\n%s%s\nwant exit 2 and %q", got.code, got.stdout, got.stderr, tc.want)
			}
		})
	}
	t.Run("host", func(t *testing.T) {
		got := portex(t, context.Background(), "run", writeScenario(t, programHead+"programs: [{name: p, exec: [true]}]\n"), "--runtime", "host", "--out", t.TempDir()+"/o")
		if got.code != exitUsage || !strings.Contains(got.stderr, "programs run on the netns runtime only") {
			t.Errorf("exit %d, stderr:\n%s", got.code, got.stderr)
		}
	})
}

// Ctrl-C stops a program that ignores SIGTERM too: SIGKILL after the
// grace, exit 130, the partial result kept, no process left.
func TestProgramInterrupted(t *testing.T) {
	needsFullTier(t)
	pidFile := filepath.Join(t.TempDir(), "pid")
	path := writeScenario(t, programHead+`programs:
  - name: stubborn
    exec: [sh, -c, 'trap "" TERM; sleep 60 & echo $! > `+pidFile+`; wait']
`)
	dir := filepath.Join(t.TempDir(), "out")
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(time.Second, cancel)
	start := time.Now()
	got := portex(t, ctx, "run", path, "--out", dir, "-q")
	if got.code != exitInterrupted {
		t.Fatalf("exit %d, want 130; stderr:\n%s", got.code, got.stderr)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("took %s to stop", d)
	}
	r := readResult(t, dir)
	if len(r.Runs) != 1 || len(r.Runs[0].Programs) != 1 {
		t.Fatalf("runs %+v", r.Runs)
	}
	if p := r.Runs[0].Programs[0]; p.Signal != "killed" || !p.StoppedByPortex {
		t.Errorf("program %+v; want SIGKILL from portex after the grace", p)
	}
	data, err := os.ReadFile(pidFile)
	if err != nil {
		t.Fatal(err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(data)))
	if err != nil {
		t.Fatal(err)
	}
	// The process may linger a moment as a zombie of a reaped parent.
	deadline := time.Now().Add(5 * time.Second)
	for syscall.Kill(pid, 0) == nil {
		if time.Now().After(deadline) {
			t.Fatalf("the program's child %d is still running", pid)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// portex plan predicts nothing for programs, whose load the model cannot
// know, and says so.
func TestPlanPrograms(t *testing.T) {
	got := portex(t, context.Background(), "plan", "go-default-transport")
	want := "go-default-transport, variant baseline: runs programs, not pools; the capacity model knows only the pools' load: run it to measure (portex run go-default-transport)\n\n" +
		"go-default-transport, variant max-idle-10: runs programs, not pools; the capacity model knows only the pools' load: run it to measure (portex run go-default-transport)\n"
	if got.code != exitOK || got.stdout != want {
		t.Errorf("exit %d, stdout:\n%s\nwant:\n%s", got.code, got.stdout, want)
	}
}

// A process that leaves the program's group and keeps its output open
// does not hold the run past the duration and the grace: portex stops
// reading, and says so.
func TestProgramEscapedChild(t *testing.T) {
	needsFullTier(t)
	pidFile := filepath.Join(t.TempDir(), "pid")
	t.Cleanup(func() {
		if data, err := os.ReadFile(pidFile); err == nil {
			if pid, err := strconv.Atoi(strings.TrimSpace(string(data))); err == nil {
				syscall.Kill(pid, syscall.SIGKILL)
			}
		}
	})
	start := time.Now()
	code, run, stderr := programRun(t, programHead+`programs:
  - name: escaper
    exec: [sh, -c, 'setsid sleep 60 & echo $! > `+pidFile+`']
`, "--duration", "1s")
	if code != exitOK || run == nil || len(run.Programs) != 1 {
		t.Fatalf("exit %d, run %+v, stderr:\n%s", code, run, stderr)
	}
	if d := time.Since(start); d > 15*time.Second {
		t.Errorf("took %s", d)
	}
	if p := run.Programs[0]; p.ExitCode != 0 || p.Signal != "" {
		t.Errorf("program %+v; want its own exit 0", p)
	}
	if !slices.ContainsFunc(run.Notes, func(n string) bool { return strings.Contains(n, "left its process group") }) {
		t.Errorf("notes %q; want one about the process that escaped", run.Notes)
	}
}
