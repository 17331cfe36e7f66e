package sandbox

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/portex/portex/loadgen"
	"github.com/portex/portex/result"
)

// ErrRuntime marks failures of the sandbox or the runtime itself, as
// opposed to failures the run measured.
var ErrRuntime = errors.New("runtime failed")

// Netns runs plans in fresh user and network namespaces: the agent (client)
// in one, the echo server in another, joined by a veth pair. Every namespace
// vanishes with its last process: nothing to clean on the host, nothing of
// the host's network or sysctls touched.
type Netns struct {
	// Exe is the portex binary to start as the agent; empty means the
	// running binary (/proc/self/exe).
	Exe string
	// Stderr receives the agent's own diagnostics; nil discards them.
	Stderr io.Writer
	// StopGrace is how long an interrupted agent has to report before it
	// is killed; 0 means 10 s.
	StopGrace time.Duration

	overstaySlack time.Duration // 0: overstaySlack; tests make it short
	started       func(pid int) // a test hook: the agent's pid, once started
}

// overstaySlack is how long past its duration and StopGrace an agent may
// run before the watchdog stops it: its start (a sharded run's processes)
// and its report.
const overstaySlack = 30 * time.Second

// CheckPlan accepts every valid plan but one: the netns runtime carries
// out every setting a scenario has, save a NAT for pools that dial IPv6.
func (n *Netns) CheckPlan(p *loadgen.Plan) error { return refuseNATIPv6("netns", p) }

// Check is CheckPlan; whether namespaces can be made shows when the agent
// starts.
func (n *Netns) Check(ctx context.Context, p *loadgen.Plan) error { return n.CheckPlan(p) }

// Close holds nothing to release: every namespace vanished with its run.
func (n *Netns) Close() error { return nil }

// Run runs one plan and returns its result. obs, if set, is shown the
// agent's events, points and server samples as they arrive. When ctx ends the agent is asked to stop
// and its partial result is returned with Stopped "interrupted". An agent
// still running StopGrace plus a slack past the plan's duration (stopped,
// wedged) is stopped, then killed after StopGrace: the result is what it
// reported until then, with Stopped "error" and an Error that says so. A
// failure of the sandbox itself wraps ErrRuntime; a result may come with
// it.
func (n *Netns) Run(ctx context.Context, p *loadgen.Plan, obs *Observer) (*result.Result, error) {
	return n.run(ctx, p, obs)
}

func (n *Netns) run(ctx context.Context, p *loadgen.Plan, obs *Observer) (*result.Result, error) {
	host, err := netnsID()
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrRuntime, err)
	}
	req, err := json.Marshal(&Request{Plan: p, Role: RoleClient, Setup: SetupNetns, HostNetns: host, StopPipe: true})
	if err != nil {
		return nil, err
	}
	exe := n.Exe
	if exe == "" {
		exe = "/proc/self/exe"
	}
	stopR, stop, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrRuntime, err)
	}
	defer stop.Close()
	cmd := exec.Command(exe, "agent")
	cmd.Stdin = bytes.NewReader(req)
	cmd.Env = childEnv()
	cmd.ExtraFiles = []*os.File{stopR} // stopFD
	stderr := &TailBuffer{Max: 4096, W: n.Stderr}
	cmd.Stderr = stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Cloneflags:  syscall.CLONE_NEWUSER | syscall.CLONE_NEWNET,
		UidMappings: []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Getuid(), Size: 1}},
		GidMappings: []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Getgid(), Size: 1}},
		Setpgid:     true,            // terminal signals reach portex, which stops the agent itself
		Pdeathsig:   syscall.SIGKILL, // and the agent never outlives portex
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		stopR.Close()
		return nil, err
	}
	err = cmd.Start()
	stopR.Close()
	if err != nil {
		return nil, fmt.Errorf("%w: cannot create user and network namespaces (%v); is unprivileged user namespace creation allowed?", ErrRuntime, err)
	}
	if n.started != nil {
		n.started(cmd.Process.Pid)
	}

	grace := n.StopGrace
	if grace <= 0 {
		grace = 10 * time.Second
	}
	slack := n.overstaySlack
	if slack <= 0 {
		slack = overstaySlack
	}
	bound := p.Duration + grace + slack
	var overstayed atomic.Bool
	var killed atomic.Bool // portex killed the agent after asking it to stop
	stopped := make(chan struct{})
	watched := make(chan struct{})
	go func() {
		defer close(watched)
		overstay := time.NewTimer(bound)
		defer overstay.Stop()
		select {
		case <-stopped:
			return
		case <-ctx.Done():
		case <-overstay.C:
			overstayed.Store(true)
		}
		stop.Close() // the agent stops the run and reports
		select {
		case <-stopped:
			return
		case <-time.After(grace):
		case <-HardStop(ctx):
		}
		killed.Store(true)
		cmd.Process.Kill()
	}()

	c, agentErr := collect(stdout, obs, nil)
	io.Copy(io.Discard, stdout)
	waitErr := cmd.Wait()
	close(stopped)
	<-watched
	res := c.Assemble()

	if res != nil && ctx.Err() != nil && res.Stopped != result.StoppedError {
		res.Stopped = result.StoppedInterrupted
	}
	if res != nil && killed.Load() && !overstayed.Load() && res.Error == "" && res.Stopped == result.StoppedError {
		// Stopped, then killed by portex itself: an interruption, whose
		// counters are rebuilt from the events.
		res.Variant, res.Runtime = p.Variant, p.Runtime
		res.Stopped = result.StoppedInterrupted
		res.Notes = append(res.Notes, "the agent was killed before it reported (a second signal, or it overstayed its stop grace): the counters are rebuilt from its events")
	}
	if res != nil && overstayed.Load() {
		// A stopped or wedged agent: what it reported is kept, the
		// overstay is the run's error.
		res.Variant, res.Runtime = p.Variant, p.Runtime
		res.Stopped = result.StoppedError
		res.Error = fmt.Sprintf("the agent overstayed: still running %s after the plan's duration of %s, and stopped; its partial result is kept (%v)%s",
			(grace + slack).Round(time.Second), p.Duration, waitErr, stderr.Suffix())
	}
	if res != nil && res.Error == "" && res.Stopped == result.StoppedError {
		// A partial result rebuilt from events: the agent died.
		res.Variant, res.Runtime = p.Variant, p.Runtime
		res.Error = fmt.Sprintf("the agent (the client side of the sandbox) died mid-run (%v)%s", waitErr, stderr.Suffix())
	}
	switch {
	case res != nil && res.Error != "":
		return res, fmt.Errorf("%w: %s", ErrRuntime, res.Error)
	case res != nil && waitErr != nil && res.Stopped != result.StoppedInterrupted:
		return res, fmt.Errorf("%w: the agent exited with %v%s", ErrRuntime, waitErr, stderr.Suffix())
	case res != nil:
		return res, nil
	case overstayed.Load():
		return nil, fmt.Errorf("%w: the agent overstayed: no result %s after the plan's duration of %s, and stopped (%v)%s",
			ErrRuntime, (grace + slack).Round(time.Second), p.Duration, waitErr, stderr.Suffix())
	case agentErr != nil:
		return nil, fmt.Errorf("%w: agent: %v", ErrRuntime, agentErr)
	default:
		return nil, fmt.Errorf("%w: agent ended without a result (%v)%s", ErrRuntime, waitErr, stderr.Suffix())
	}
}

// TailBuffer passes writes on to W (if set) and keeps the last Max bytes,
// for error messages that quote what a child process said last.
type TailBuffer struct {
	Max int
	W   io.Writer

	mu  sync.Mutex // guards buf
	buf []byte
}

// Write keeps the tail of p and passes it on; it never fails.
func (t *TailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, p...)
	if len(t.buf) > t.Max {
		t.buf = t.buf[len(t.buf)-t.Max:]
	}
	if t.W != nil {
		t.W.Write(p)
	}
	return len(p), nil
}

// Suffix is ": " and the last bytes written, trimmed, or "" if none.
func (t *TailBuffer) Suffix() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	s := strings.TrimSpace(string(t.buf))
	if s == "" {
		return ""
	}
	return ": " + s
}
