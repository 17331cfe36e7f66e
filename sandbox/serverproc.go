package sandbox

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"syscall"
	"time"

	"github.com/portex/portex/result"
)

// The supervision of server processes: start one, wait until it listens,
// watch it, stop it.

// serverProc is the echo server's process, in its own network namespace.
type serverProc struct {
	cmd     *exec.Cmd
	msgs    *decoder
	forward func(Message) // where samples go; nil: kept in series
	exited  chan struct{} // closed when the process is gone; then the fields below are set

	counts *result.ServerCounts
	series []TimedStates
	cost   *result.ProcessResources
	err    error
}

// startServerProc starts `portex agent` as the server in a new network
// namespace (inside the agent's user namespace) and waits until it listens.
// Its socket-state samples go to forward, or if forward is nil are kept.
func startServerProc(req *Request, newNetns bool, forward func(Message)) (*serverProc, error) {
	sreq := *req
	sreq.Role = RoleServer
	data, err := json.Marshal(&sreq)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command("/proc/self/exe", "agent")
	cmd.Stdin = bytes.NewReader(data)
	cmd.Stderr = os.Stderr
	cmd.Env = childEnv()
	if newNetns { // the first of the server's processes: the others inherit it
		cmd.Env = sharedCPUs(cmd.Env, req.Processes)
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Setpgid:   true,
		Pdeathsig: syscall.SIGKILL, // the server never outlives its agent
	}
	if newNetns {
		cmd.SysProcAttr.Cloneflags = syscall.CLONE_NEWNET
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start echo server: %w", err)
	}
	s := &serverProc{cmd: cmd, msgs: newDecoder(stdout), exited: make(chan struct{}), forward: forward}
	m, err := s.msgs.next()
	switch {
	case err != nil:
		s.kill()
		return nil, fmt.Errorf("echo server died while starting: %v", err)
	case m.Type == MsgError:
		s.kill()
		return nil, fmt.Errorf("echo server: %s", m.Error)
	case m.Type != MsgReady:
		s.kill()
		return nil, fmt.Errorf("echo server: unexpected message %q", m.Type)
	}
	go s.watch()
	return s, nil
}

// pid is the server's process id; 0 for no server.
func (s *serverProc) pid() int {
	if s == nil {
		return 0
	}
	return s.cmd.Process.Pid
}

func (s *serverProc) kill() {
	s.cmd.Process.Kill()
	s.cmd.Wait()
}

// watch reads the server's last messages and waits for it to exit; exited
// closes then, whether it was asked to stop or died.
func (s *serverProc) watch() {
	defer close(s.exited)
	for {
		m, err := s.msgs.next()
		if err != nil {
			break
		}
		switch m.Type {
		case MsgSample:
			if s.forward != nil {
				s.forward(m)
			} else if m.Sample != nil {
				s.series = append(s.series, *m.Sample)
			}
		case MsgServer:
			s.counts, s.cost = m.Server, m.Resources
			s.series = append(s.series, m.Series...)
		case MsgError:
			s.err = errors.New("echo server: " + m.Error)
		}
	}
	if err := s.cmd.Wait(); err != nil && s.err == nil {
		s.err = fmt.Errorf("echo server: %w", err)
	}
}

// stop asks the server to finish and returns its counters and samples.
func (s *serverProc) stop() (*result.ServerCounts, []TimedStates, error) {
	c, series, _, err := s.stopCost()
	return c, series, err
}

// stopCost is stop, with the process's costs.
func (s *serverProc) stopCost() (*result.ServerCounts, []TimedStates, *result.ProcessResources, error) {
	s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.exited:
	case <-time.After(5 * time.Second):
		s.cmd.Process.Kill()
		<-s.exited
	}
	return s.counts, s.series, s.cost, s.err
}
