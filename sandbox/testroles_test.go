package sandbox

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"syscall"
	"time"

	"github.com/portex/portex/loadgen"
	"github.com/portex/portex/result"
)

// Benchmarks measure other tools in portex's sandbox: the test binary,
// when it is the agent, takes these variables to replace the load or the
// echo server with a command (testRoles). The variables reach the agents
// through the environment every runtime passes on.
const (
	envClientExec = "PORTEX_TEST_CLIENT_EXEC" // JSON argv, run in the client's namespace
	envClientOut  = "PORTEX_TEST_CLIENT_OUT"  // file that receives its output
	envServerExec = "PORTEX_TEST_SERVER_EXEC" // JSON argv, run in place of the echo server
)

// setTestRoles sets testRoles from the environment, in the agent.
func setTestRoles() {
	var argv []string
	if json.Unmarshal([]byte(os.Getenv(envClientExec)), &argv) == nil && len(argv) > 0 {
		outPath := os.Getenv(envClientOut)
		testRoles.client = func(ctx context.Context, target netip.Addr, port int) error {
			out, err := execAgainst(ctx, argv, target, port)
			if err != nil {
				return err
			}
			return os.WriteFile(outPath, []byte(out), 0o600)
		}
	}
	var sargv []string
	if json.Unmarshal([]byte(os.Getenv(envServerExec)), &sargv) == nil && len(sargv) > 0 {
		testRoles.server = func(ctx context.Context, p *loadgen.Plan, ready func()) error {
			return serveExec(ctx, sargv, p.Server.Listeners[0].Port, ready)
		}
	}
}

// benchSandbox is the netns runtime with the test roles: Exec runs a
// command in the client's namespace instead of the load; serverExec, if
// set, runs in the server's namespace instead of the echo server.
type benchSandbox struct {
	serverExec []string
}

// Run runs p, with serverExec in place of the echo server if set.
func (b *benchSandbox) Run(ctx context.Context, p *loadgen.Plan, obs *Observer) (*result.Result, error) {
	defer b.setenv(nil, "")()
	return (&Netns{Stderr: os.Stderr}).Run(ctx, p, obs)
}

// Exec runs argv in the client's namespace of a sandbox built for p, with
// the echo server up and $PORTEX_TARGET, $PORTEX_PORT naming it, and
// returns what it printed.
func (b *benchSandbox) Exec(ctx context.Context, p *loadgen.Plan, argv []string) (string, error) {
	f, err := os.CreateTemp("", "portex-exec-*")
	if err != nil {
		return "", err
	}
	f.Close()
	defer os.Remove(f.Name())
	defer b.setenv(argv, f.Name())()
	if _, err := (&Netns{Stderr: os.Stderr}).Run(ctx, p, nil); err != nil {
		return "", err
	}
	out, err := os.ReadFile(f.Name())
	if err == nil && len(out) == 0 {
		err = fmt.Errorf("exec %s: no output", argv[0])
	}
	return string(out), err
}

func (b *benchSandbox) setenv(argv []string, outPath string) (unset func()) {
	set := func(k string, v any) {
		if data, _ := json.Marshal(v); v != nil && string(data) != "null" {
			os.Setenv(k, string(data))
		}
	}
	set(envClientExec, argv)
	os.Setenv(envClientOut, outPath)
	set(envServerExec, b.serverExec)
	return func() {
		os.Unsetenv(envClientExec)
		os.Unsetenv(envClientOut)
		os.Unsetenv(envServerExec)
	}
}

// execAgainst runs argv against the echo server and returns its output.
func execAgainst(ctx context.Context, argv []string, target netip.Addr, port int) (string, error) {
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Env = append(os.Environ(), "PORTEX_TARGET="+target.String(), fmt.Sprintf("PORTEX_PORT=%d", port))
	out, err := cmd.Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return "", fmt.Errorf("exec %s: %v: %s", argv[0], err, ee.Stderr)
		}
		return "", fmt.Errorf("exec %s: %w", argv[0], err)
	}
	return string(out), nil
}

// serveExec runs argv as the server: ready once port takes a connection,
// killed when ctx ends.
func serveExec(ctx context.Context, argv []string, port int, ready func()) error {
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = append(os.Environ(), fmt.Sprintf("PORTEX_PORT=%d", port))
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("server exec: %w", err)
	}
	defer func() {
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) // and its children
		cmd.Wait()
	}()
	addr := netip.AddrPortFrom(netip.AddrFrom4([4]byte{127, 0, 0, 1}), uint16(port)).String()
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		c, err := net.Dial("tcp4", addr)
		if err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("server exec %s: nothing listens on %s: %v", argv[0], addr, err)
		}
	}
	ready()
	<-ctx.Done()
	return nil
}
