package main

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// serverExecScenario holds 150 connections in a 100-port range against
// the user's server, whose command is exec.
func serverExecScenario(exec string) string {
	return fmt.Sprintf(`name: own-server
duration: 3s
sandbox:
  port_range: 40000-40099
  sysctls: {net.ipv4.tcp_tw_reuse: 0}
server:
  exec: %s
  ready_timeout: 2s
pools:
  - name: holders
    workers: 150
    hold: forever
stop:
  on: exhaustion
`, exec)
}

// The user's server, here portex's own echo server run as a foreign
// program on {port}, serves the pools in place of the bundled one: the
// client runs out at 100 as ever, the server's kernel accepted the 100,
// and the result keeps how the program ended (stopped by portex).
func TestServerExecServesThePools(t *testing.T) {
	needsFullTier(t)
	bin := buildPortex(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	dir := filepath.Join(t.TempDir(), "out")
	got := portex(t, ctx, "run", writeScenario(t, serverExecScenario(fmt.Sprintf(`[%q, echo, --listen, "0.0.0.0:{port}"]`, bin))), "--out", dir, "-q")
	if got.code != exitOK {
		t.Fatalf("exit %d, stderr:\n%s", got.code, got.stderr)
	}
	run := readResult(t, dir).Runs[0]
	if run.Exhaustion == nil || run.Dials.OK != 100 || run.Exhaustion.Class != "EADDRNOTAVAIL" {
		t.Errorf("exhaustion %+v, %d ok: want 100 connections, then EADDRNOTAVAIL", run.Exhaustion, run.Dials.OK)
	}
	s := run.Server
	if s == nil || s.Program == nil || !s.Program.StoppedByPortex || s.Accepted != 0 {
		t.Fatalf("server %+v: want the program's result, stopped by portex, and nothing accepted by the bundled server", s)
	}
	if n := run.Kernel.Server["TcpPassiveOpens"]; n != 100 {
		t.Errorf("the server's kernel accepted %d connections, want 100", n)
	}
	if !strings.Contains(got.stdout, "server     your program server · exit 0 when portex stopped it after") {
		t.Errorf("the summary does not say how the server program ended:\n%s", got.stdout)
	}
}

// A server that never listens, one that exits first, and one that is not
// there are errors before the run, exit 3, each with what the program
// said.
func TestServerExecFailures(t *testing.T) {
	needsFullTier(t)
	for _, c := range []struct{ name, exec, want string }{
		{"never listens", `[sleep, "30"]`, "port 7000 did not accept a connection within 2s (server.ready_timeout"},
		{"exits first", `[sh, -c, "echo bad config file; exit 3"]`, "exited (status 3) before port 7000 accepted a connection; its output:\nbad config file"},
		{"not found", `[/nonexistent/server]`, "did not start"},
	} {
		t.Run(c.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			got := portex(t, ctx, "run", writeScenario(t, serverExecScenario(c.exec)), "--out", filepath.Join(t.TempDir(), "out"), "-q")
			if got.code != exitRuntime || !strings.Contains(got.stderr, c.want) {
				t.Errorf("exit %d, stderr:\n%s\nwant exit 3 and %q", got.code, got.stderr, c.want)
			}
		})
	}
}
