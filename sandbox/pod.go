package sandbox

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/portex/portex/loadgen"
	"github.com/portex/portex/result"
)

// Pod runs plans in a sandbox that the platform built around portex: a
// Kubernetes pod, whose network namespace, sysctls (the pod's
// securityContext.sysctls) and limits the kubelet set before portex
// started. It is the docker runtime's in-container mode run in-process:
// the client role with SetupNone, which writes nothing, reads the
// namespace's settings back into the result, and dials an echo server
// that runs elsewhere (a Service), by address or DNS name.
type Pod struct {
	// Host is the echo server's address or DNS name (a Kubernetes
	// Service's, such as portex-echo).
	Host string
	// Port, if set, is dialed by every pool instead of the plan's own
	// ports (as the host runtime's --target); 0: the plan's ports, which
	// the Service exposes one for one.
	Port int
	// AllowExternal lets the load go to a host other than a loopback
	// address: any DNS name, any other address.
	AllowExternal bool
	// Wait bounds how long Check tries to reach the echo server: a Job's
	// pods may start before the echo server's. 0: one try.
	Wait time.Duration
}

// CheckPlan refuses what a pod cannot do before anything starts:
// programs, a NAT, several source addresses (a pod has one address), a
// target outside loopback without AllowExternal, and, with a Port, the
// settings only the bundled echo server in the same sandbox carries out
// (see targetCheck).
func (p *Pod) CheckPlan(plan *loadgen.Plan) error {
	if p.Host == "" {
		return fmt.Errorf("%w: the pod runtime needs the echo server's address (--target HOST or HOST:PORT)", ErrUnrunnable)
	}
	if err := RefusePrograms("pod", plan); err != nil {
		return err
	}
	if err := RefuseNAT("pod", plan); err != nil {
		return err
	}
	if err := RefuseDropSYN("pod", plan); err != nil {
		return err
	}
	if err := RefuseServerProgram("pod", plan); err != nil {
		return err
	}
	if err := OneSource("pod", plan, "a pod has one address"); err != nil {
		return err
	}
	if a, err := netip.ParseAddr(p.Host); (err != nil || !a.IsLoopback()) && !p.AllowExternal {
		return fmt.Errorf("%w: %s is not a loopback address; portex sends load only to its own server or, with --allow-external-target, to a target you name", ErrExternalTarget, p.Host)
	}
	if p.Port > 0 {
		return targetCheck("pod", plan, p.target())
	}
	return nil
}

func (p *Pod) target() string {
	if p.Port > 0 {
		return net.JoinHostPort(p.Host, strconv.Itoa(p.Port))
	}
	return p.Host
}

// Check is CheckPlan, then makes sure the echo server accepts a
// connection on the first port the plan dials, trying again for up to
// Wait. Its error wraps ErrTargetDown.
func (p *Pod) Check(ctx context.Context, plan *loadgen.Plan) error {
	if err := p.CheckPlan(plan); err != nil {
		return err
	}
	port := p.Port
	if port == 0 && len(plan.Server.Listeners) > 0 {
		port = plan.Server.Listeners[0].Port
	}
	addr := net.JoinHostPort(p.Host, strconv.Itoa(port))
	deadline := time.Now().Add(p.Wait)
	for {
		d := net.Dialer{Timeout: targetTimeout}
		c, err := d.DialContext(ctx, "tcp4", addr)
		if err == nil {
			// RST: no TIME_WAIT left on a port of the range.
			c.(*net.TCPConn).SetLinger(0)
			return c.Close()
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			waited := ""
			if p.Wait > 0 {
				waited = fmt.Sprintf(" within %s", p.Wait)
			}
			return fmt.Errorf("the echo server %s %w%s (%v); start it first (kubectl get pods -l app.kubernetes.io/component=echo), or check the address", addr, ErrTargetDown, waited, dialProblem(err))
		}
		select {
		case <-ctx.Done():
		case <-time.After(time.Second):
		}
	}
}

// Run runs one plan in this process, in the pod's namespace.
func (p *Pod) Run(ctx context.Context, plan *loadgen.Plan, obs *Observer) (*result.Result, error) {
	if err := p.CheckPlan(plan); err != nil {
		return nil, err
	}
	pl := *plan
	if p.Port > 0 {
		pl.Pools = append([]loadgen.Pool(nil), plan.Pools...)
		for i := range pl.Pools {
			pl.Pools[i].Ports = []int{p.Port}
		}
		pl.Server.Listeners = []loadgen.Listener{{Port: p.Port}}
	}
	req := &Request{Plan: &pl, Role: RoleClient, Setup: SetupNone, Target: p.Host}
	r, w := io.Pipe()
	done := make(chan struct{})
	go func() {
		defer close(done)
		out := newEncoder(w)
		if err := runClient(ctx, req, out); err != nil && !errors.Is(err, errReported) {
			out.send(Message{Type: MsgError, Error: err.Error()})
		}
		w.Close()
	}()
	c, agentErr := collect(r, obs, nil)
	io.Copy(io.Discard, r)
	<-done
	res := c.Assemble()
	if res == nil {
		if agentErr == nil {
			agentErr = errors.New("no result")
		}
		return nil, fmt.Errorf("%w: pod: %v", ErrRuntime, agentErr)
	}
	res.Runtime, res.Target = "pod", p.Host
	if res.Variant == "" {
		res.Variant = plan.Variant
	}
	if ctx.Err() != nil && res.Stopped != result.StoppedError {
		res.Stopped = result.StoppedInterrupted
	}
	res.Notes = append(res.Notes, podMismatches(plan, res.Sysctls)...)
	if plan.Server.Backlog > 0 || len(plan.Server.Sysctls) > 0 {
		res.Notes = append(res.Notes, "pod runtime: the echo server runs elsewhere (its own pod): its backlog and sysctls are its own pod's, not read back here")
	}
	if res.Error != "" {
		return res, fmt.Errorf("%w: %s", ErrRuntime, res.Error)
	}
	return res, nil
}

// podMismatches notes each sysctl the plan asks of the client's
// namespace that the pod does not have: the platform sets them (the pod's
// securityContext), portex only reads them back, and the result is of
// the values the load ran under.
func podMismatches(plan *loadgen.Plan, got map[string]string) []string {
	var notes []string
	for _, s := range TopologyOf(plan).Namespace(NSClient).Sysctls {
		want := strings.Join(strings.Fields(s.Value), " ")
		have, ok := got[s.Name]
		switch {
		case !ok:
			notes = append(notes, fmt.Sprintf("pod runtime: the scenario asks for %s=%s; the pod's value could not be read, and the load ran under it", s.Name, want))
		case have != want:
			notes = append(notes, fmt.Sprintf("pod runtime: the scenario asks for %s=%s, the pod has %s: set it in the pod's securityContext.sysctls (portex k8s does); the load ran under %s", s.Name, want, have, have))
		}
	}
	return notes
}

// Close holds nothing to release.
func (p *Pod) Close() error { return nil }

var _ Runtime = (*Pod)(nil)
