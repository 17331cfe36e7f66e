package sandbox

import (
	"fmt"
	"net"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/portex/portex/loadgen"
	"github.com/portex/portex/result"
)

// The user's server (server.exec): a program run in the server's
// namespace on the plain ports, in place of the bundled server. portex
// cannot count what it accepts; the server namespace's sockets and
// kernel counters say what it did.

// RefuseServerProgram refuses, as runtime, a plan with a server program.
func RefuseServerProgram(runtime string, p *loadgen.Plan) error {
	if p.Server.Program == nil {
		return nil
	}
	return &Unsupported{Runtime: runtime, Key: "server.exec",
		Reason: "your server program runs on the netns runtime only; use --runtime netns"}
}

// startServerProgram starts the plan's server program in the calling
// process's (the server's) namespace and waits until each of its ports
// accepts a connection on loopback, ReadyTimeout at most. A program that
// exits first, or never accepts, is an error that carries its output.
func startServerProgram(sp *loadgen.ServerProgram, ports []int) (*runningProgram, error) {
	env := childEnv()
	env = append(env, "PORTEX_PORT="+strconv.Itoa(ports[0]))
	for i, p := range ports {
		env = append(env, fmt.Sprintf("PORTEX_PORT_%d=%d", i, p))
	}
	start := time.Now()
	since := func() float64 { return time.Since(start).Seconds() }
	pr := loadgen.Program{Name: "server", Exec: sp.Argv(ports[0]), Env: sp.Env}
	rp, err := startProgram(pr, "", env, start, since, func(result.Event) {})
	if err != nil {
		return nil, fmt.Errorf("server.exec: %w", err)
	}
	deadline := start.Add(sp.ReadyTimeout)
	for _, port := range ports {
		addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
		for {
			c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
			if err == nil {
				c.Close()
				break
			}
			select {
			case <-rp.done:
				res := rp.result()
				return nil, fmt.Errorf("server.exec %s exited (status %d%s) before port %d accepted a connection; its output:\n%s",
					strings.Join(res.Argv, " "), res.ExitCode, signalWords(res.Signal), port, outputOf(res))
			default:
			}
			if time.Now().After(deadline) {
				res := rp.stop()
				return nil, fmt.Errorf("server.exec %s: port %d did not accept a connection within %s (server.ready_timeout; the program must listen on every address, 0.0.0.0 or ::, of $PORTEX_PORT); its output:\n%s",
					strings.Join(res.Argv, " "), port, sp.ReadyTimeout, outputOf(res))
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	return rp, nil
}

// stop ends the program (SIGTERM to its process group, SIGKILL after
// programGrace) and returns how it ended.
func (rp *runningProgram) stop() result.ProgramResult {
	select {
	case <-rp.done:
		return rp.result()
	default:
	}
	rp.mu.Lock()
	rp.stopped = true
	rp.mu.Unlock()
	syscall.Kill(-rp.cmd.Process.Pid, syscall.SIGTERM)
	select {
	case <-rp.done:
	case <-time.After(programGrace):
		syscall.Kill(-rp.cmd.Process.Pid, syscall.SIGKILL)
		select {
		case <-rp.done:
		case <-time.After(programGrace):
			rp.out.Close() // a process that left the group holds the output open
			<-rp.done
		}
	}
	return rp.result()
}

// result is a copy of what the program did so far.
func (rp *runningProgram) result() result.ProgramResult {
	rp.mu.Lock()
	defer rp.mu.Unlock()
	return rp.res
}

func signalWords(sig string) string {
	if sig == "" {
		return ""
	}
	return ", signal " + sig
}

// outputOf is a program's output for an error message: its tail, or
// that it printed nothing.
func outputOf(res result.ProgramResult) string {
	if res.OutputTail == "" {
		return "(nothing)"
	}
	return strings.TrimRight(res.OutputTail, "\n")
}
