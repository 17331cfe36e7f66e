package docker

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"github.com/moby/moby/api/pkg/stdcopy"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"
	"github.com/testcontainers/testcontainers-go"
	"github.com/testcontainers/testcontainers-go/network"

	"github.com/portex/portex/loadgen"
	"github.com/portex/portex/result"
	"github.com/portex/portex/sandbox"
)

// echoAlias is the echo server's host name on a sandbox's network.
const echoAlias = "echo"

// Sandbox is one plan's containers on a network of its own: the echo
// server, started with the sandbox, and the client agent, which Run starts.
// No port is published: the client reaches the server by its network alias.
//
// It has the shape of httptest.Server: NewSandbox is NewUnstartedSandbox
// and Start; Close blocks until every container and the network are gone.
type Sandbox struct {
	// Plan is what runs; nothing changes it.
	Plan *loadgen.Plan
	// Image runs both agents (the client's unless ClientImage is set);
	// see Engine.Image.
	Image string
	// ClientImage, if set, runs the client's agent: one with the plan's
	// programs in it (Runtime.programImage).
	ClientImage string
	// Stderr receives the containers' diagnostics (their stderr); nil
	// discards them.
	Stderr io.Writer
	// StopGrace is how long an interrupted agent has to report before its
	// container is killed; 0 means 10 s.
	StopGrace time.Duration

	engine *Engine
	id     string
	stderr *sandbox.TailBuffer

	// logCtx carries the log streams; Close ends it. It is not the run's
	// context: an interrupted agent's last words must still come through.
	logCtx    context.Context
	logCancel context.CancelFunc

	mu      sync.Mutex // guards network, server, started and closed
	network string
	server  *serverAgent
	started bool
	closed  bool

	lifetime time.Duration // a test's bound on the echo server's life; 0: serverLifetime
}

// NewUnstartedSandbox returns a sandbox for p that is not started yet: set
// its fields, then call Start.
func NewUnstartedSandbox(e *Engine, image string, p *loadgen.Plan) *Sandbox {
	logCtx, cancel := context.WithCancel(context.Background())
	return &Sandbox{Plan: p, Image: image, engine: e, id: newRunID(), logCtx: logCtx, logCancel: cancel}
}

// NewSandbox creates and starts a sandbox for p: its network and its echo
// server, listening. The caller must Close it, even after an error.
func NewSandbox(ctx context.Context, e *Engine, image string, p *loadgen.Plan) (*Sandbox, error) {
	s := NewUnstartedSandbox(e, image, p)
	return s, s.Start(ctx)
}

func newRunID() string {
	var b [6]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// ID is the run id: the value of LabelRun on everything the sandbox
// creates, and part of its containers' names.
func (s *Sandbox) ID() string { return s.id }

// Endpoint is the echo server's host name on the sandbox's network, as the
// client dials it (the ports are the plan's listeners).
func (s *Sandbox) Endpoint() string { return echoAlias }

// Network is the name of the sandbox's network, once started.
func (s *Sandbox) Network() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.network
}

func (s *Sandbox) labels(role string) map[string]string {
	l := map[string]string{LabelRun: s.id}
	if role != "" {
		l[LabelRole] = role
	}
	return l
}

// Start creates the network and starts the echo server, and returns when it
// listens.
func (s *Sandbox) Start(ctx context.Context) error {
	s.mu.Lock()
	if s.started || s.closed {
		s.mu.Unlock()
		return errors.New("docker: sandbox already started or closed")
	}
	s.started = true
	s.stderr = &sandbox.TailBuffer{Max: 4096, W: s.Stderr}
	s.mu.Unlock()
	if err := CheckPlan(s.Plan); err != nil {
		return err
	}

	// Objects are created whole even when ctx ends meanwhile: the engine
	// would finish creating them anyway, after Close had looked for them.
	// Close then finds and removes them.
	nctx, cancel := uninterrupted(ctx)
	// Internal: the run's network has no way out; the client reaches
	// the echo server on it and nothing else.
	nw, err := network.New(nctx, network.WithLabels(s.labels("")), network.WithInternal())
	cancel()
	if err != nil {
		return fmt.Errorf("docker: create network: %w", err)
	}
	s.mu.Lock()
	s.network = nw.Name
	s.mu.Unlock()

	id, err := s.startContainer(ctx, sandbox.RoleServer, sandbox.TopologyOf(s.Plan).Namespace(sandbox.NSServer))
	if err != nil {
		return fmt.Errorf("docker: echo server: %w", err)
	}
	srv := &serverAgent{ready: make(chan error, 1), done: make(chan struct{}), id: id}
	s.mu.Lock()
	s.server = srv
	s.mu.Unlock()
	go srv.read(s.engine.follow(s.logCtx, id, s.stderr))

	select {
	case err := <-srv.ready:
		if err != nil {
			return fmt.Errorf("docker: echo server: %w%s", err, s.stderr.Suffix())
		}
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(readyTimeout):
		return fmt.Errorf("docker: echo server not listening after %s%s", readyTimeout, s.stderr.Suffix())
	}
}

// CheckPlan refuses what the docker runtime cannot run, before anything
// starts: a pool with several source addresses, since a container has one
// address on its network (extra ones would need the agent to add them).
// Its errors are *sandbox.Unsupported.
func CheckPlan(p *loadgen.Plan) error {
	if err := sandbox.RefuseNAT("docker", p); err != nil {
		return err
	}
	if err := sandbox.RefuseDropSYN("docker", p); err != nil {
		return err
	}
	if err := sandbox.RefuseServerProgram("docker", p); err != nil {
		return err
	}
	if err := sandbox.OneSource("docker", p, "a container has one address on its network"); err != nil {
		return err
	}
	if err := sandbox.RefuseIPv6("docker", p, "the docker runtime's network has IPv4 addresses only"); err != nil {
		return err
	}
	return realisable(sandbox.TopologyOf(p))
}

// realisable refuses a topology the docker runtime has no realisation for:
// it runs the client's and the server's namespaces as two containers on
// one network, the one link between them.
func realisable(t *sandbox.Topology) error {
	for _, ns := range t.Namespaces {
		if ns.Name != sandbox.NSClient && ns.Name != sandbox.NSServer {
			return &sandbox.Unsupported{Runtime: "docker", Key: "nat", Reason: fmt.Sprintf("the %s namespace: the docker runtime runs a client and a server container; use --runtime netns", ns.Name)}
		}
	}
	if len(t.Links) != 1 {
		return &sandbox.Unsupported{Runtime: "docker", Key: "sandbox", Reason: fmt.Sprintf("%d links: the docker runtime joins its two containers with one network", len(t.Links))}
	}
	return nil
}

// readyTimeout bounds the wait for a started echo server to listen.
const readyTimeout = 30 * time.Second

// startContainer creates and starts an agent's container on the sandbox's
// network, as namespace ns of the topology, and returns its id.
func (s *Sandbox) startContainer(ctx context.Context, role string, ns *sandbox.Namespace) (string, error) {
	sysctls, ulimits := containerSettings(ns)
	plan := *s.Plan
	plan.Runtime = "docker"
	req := sandbox.Request{Plan: &plan, Role: role, Setup: sandbox.SetupNone}
	if role == sandbox.RoleClient {
		req.Target = echoAlias
	} else {
		// The echo server outlives no run, even when portex dies
		// without removing it: it stops by itself once the client
		// would have been stopped by the watchdog.
		req.Lifetime = serverLifetime(s.Plan, s.grace())
		if s.lifetime > 0 {
			req.Lifetime = s.lifetime
		}
	}
	mem, pids := containerLimits(s.Plan)
	data, err := json.Marshal(&req)
	if err != nil {
		return "", err
	}
	nw := s.Network()
	image := s.Image
	if role == sandbox.RoleClient && s.ClientImage != "" {
		image = s.ClientImage
	}
	cr := testcontainers.ContainerRequest{
		Image:          image,
		Name:           "portex-" + s.id + "-" + role,
		Cmd:            []string{"agent"},
		Env:            map[string]string{sandbox.RequestEnv: string(data)},
		Labels:         s.labels(role),
		Networks:       []string{nw},
		NetworkAliases: map[string][]string{nw: aliases(role)},
		// The agents need no privilege: the engine sets the sysctls and
		// limits, the agents only read them back. So: a user that is not
		// root (nobody), no capability, no new privileges, a read-only
		// root filesystem.
		User: "65534:65534",
		HostConfigModifier: func(hc *container.HostConfig) {
			hc.Sysctls = sysctls
			hc.Ulimits = ulimits
			hc.CapDrop = []string{"ALL"}
			hc.SecurityOpt = append(hc.SecurityOpt, "no-new-privileges")
			hc.ReadonlyRootfs = true
			// Bounded: memory (kernel socket memory included), tasks
			// and the logs the engine keeps.
			hc.Memory, hc.MemorySwap = mem, mem
			hc.PidsLimit = &pids
			hc.LogConfig = container.LogConfig{Type: "json-file", Config: map[string]string{"max-size": logMaxSize, "max-file": "2"}}
		},
	}
	cctx, cancel := uninterrupted(ctx)
	defer cancel()
	c, err := s.engine.provider.CreateContainer(cctx, cr)
	if err != nil {
		return "", fmt.Errorf("create container: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return "", err // created: Close removes it
	}
	if err := c.Start(cctx); err != nil {
		return "", fmt.Errorf("start container: %s", oneLine(err))
	}
	return c.GetContainerID(), nil
}

// logMaxSize caps each of a container's two log files: the agents' event
// streams and results are a few MiB at most.
const logMaxSize = "64m"

// containerLimits are an agent container's memory limit, in bytes, and its
// task limit: a base for the agent itself, and for memory the plan's
// connections at a generous cost each (both sides' kernel memory is charged
// to the containers).
func containerLimits(p *loadgen.Plan) (memory, pids int64) {
	const base, perConnection = 256 << 20, 32 << 10
	return base + int64(p.Connections())*perConnection, 1024
}

// serverLifetime bounds an echo server container's life: past the run's
// duration, the client watchdog's grace and slack for starting the client.
func serverLifetime(p *loadgen.Plan, grace time.Duration) time.Duration {
	return p.Duration + overstaySlack + 2*grace + readyTimeout
}

// overstaySlack is what the client watchdog allows past the plan's
// duration and the stop grace, for the agent's start and its report.
const overstaySlack = 30 * time.Second

func (s *Sandbox) grace() time.Duration {
	if s.StopGrace > 0 {
		return s.StopGrace
	}
	return 10 * time.Second
}

// uninterrupted keeps ctx's values but not its cancellation, bounded in
// time instead: for API calls whose objects must exist whole or not at all.
func uninterrupted(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
}

func aliases(role string) []string {
	if role == sandbox.RoleServer {
		return []string{echoAlias}
	}
	return nil
}

// containerSettings are the sysctls and ulimits of the container that
// realises namespace ns of the run's topology.
func containerSettings(ns *sandbox.Namespace) (map[string]string, []*container.Ulimit) {
	var ulimits []*container.Ulimit
	if n := int64(ns.Nofile); n > 0 {
		ulimits = []*container.Ulimit{{Name: "nofile", Soft: n, Hard: n}}
	}
	return ns.SysctlMap(), ulimits
}

// Run starts the client agent, shows its events and points to obs (if
// set) as they arrive and returns its result, with the echo server's counters. When
// ctx ends the agent is sent SIGTERM and its partial result is returned with
// Stopped "interrupted". A failure of the containers themselves wraps
// sandbox.ErrRuntime; a result may come with it. Run once per sandbox.
func (s *Sandbox) Run(ctx context.Context, obs *sandbox.Observer) (*result.Result, error) {
	s.mu.Lock()
	srv := s.server
	s.mu.Unlock()
	if srv == nil {
		return nil, fmt.Errorf("%w: docker: sandbox not started", sandbox.ErrRuntime)
	}
	id, err := s.startContainer(ctx, sandbox.RoleClient, sandbox.TopologyOf(s.Plan).Namespace(sandbox.NSClient))
	if err != nil {
		return nil, fmt.Errorf("%w: docker: client: %v", sandbox.ErrRuntime, err)
	}

	grace := s.grace()
	stopped := make(chan struct{})
	watched := make(chan struct{})
	var serverDied atomic.Bool
	go func() {
		defer close(watched)
		serverDied.Store(s.watch(ctx, id, srv, grace, stopped))
	}()

	stdout := s.engine.follow(s.logCtx, id, s.stderr)
	c, agentErr := sandbox.Collect(stdout, obs)
	io.Copy(io.Discard, stdout)
	status, waitErr := s.engine.wait(id)
	close(stopped)
	<-watched

	counts, srvErr := s.stopServer(srv, grace)
	// The server's samples came on its own stream.
	c.Server = append(c.Server, srv.series...)
	res := c.Assemble()
	if res != nil && serverDied.Load() {
		// As in the netns runtime: the run cannot go on without its
		// server, and what it measured until then is kept.
		srvStatus, _ := s.engine.wait(srv.id)
		res.Stopped = result.StoppedError
		res.Error = fmt.Sprintf("the echo server died mid-run (its container exited with status %d)%s", srvStatus, s.stderr.Suffix())
	}
	if res != nil && ctx.Err() != nil && !serverDied.Load() && res.Error == "" && res.Stopped == result.StoppedError {
		// Told to stop, then killed by portex itself: an interruption,
		// whose counters are rebuilt from the events.
		res.Stopped = result.StoppedInterrupted
		res.Notes = append(res.Notes, "the client agent was killed before it reported (a second signal, or it did not stop within its grace): the counters are rebuilt from its events")
	}
	if res != nil && res.Error == "" && res.Stopped == result.StoppedError {
		// A partial result rebuilt from events: the client died.
		res.Error = fmt.Sprintf("the client agent died mid-run (its container exited with status %d)%s", status, s.stderr.Suffix())
	}
	if res != nil {
		res.Runtime = "docker"
		if res.Variant == "" {
			res.Variant = s.Plan.Variant
		}
		if res.Server == nil {
			res.Server = counts
			if res.Resources != nil {
				res.Resources.Server = srv.cost
			}
		}
		if ctx.Err() != nil && res.Stopped != result.StoppedError {
			res.Stopped = result.StoppedInterrupted
		}
	}
	switch {
	case res != nil && res.Error != "":
		return res, fmt.Errorf("%w: %s", sandbox.ErrRuntime, res.Error)
	case res != nil && waitErr != nil:
		return res, fmt.Errorf("%w: docker: client container: %v", sandbox.ErrRuntime, waitErr)
	case res != nil && status != 0 && res.Stopped != result.StoppedInterrupted:
		return res, fmt.Errorf("%w: docker: the client agent exited with status %d%s", sandbox.ErrRuntime, status, s.stderr.Suffix())
	case res != nil && srvErr != nil:
		return res, fmt.Errorf("%w: docker: %v", sandbox.ErrRuntime, srvErr)
	case res != nil:
		return res, nil
	case agentErr != nil:
		return nil, fmt.Errorf("%w: docker: agent: %v", sandbox.ErrRuntime, agentErr)
	default:
		return nil, fmt.Errorf("%w: docker: the client agent ended without a result (exit status %d)%s", sandbox.ErrRuntime, status, s.stderr.Suffix())
	}
}

// watch stops the client container when ctx ends, when the echo server's
// container ends first (it reports that, true), or when the run overstays
// its plan's duration: SIGTERM first, so the agent reports, then SIGKILL
// after grace, or at once on a hard stop (sandbox.HardStop).
func (s *Sandbox) watch(ctx context.Context, id string, srv *serverAgent, grace time.Duration, stopped <-chan struct{}) (serverDied bool) {
	// The agent ends the run itself at the plan's duration; the slack
	// covers its start and its report.
	overstay := time.NewTimer(s.Plan.Duration + grace + overstaySlack)
	defer overstay.Stop()
	done := srv.done
wait:
	select {
	case <-stopped:
		return false
	case <-done:
		// The server's log stream ended: it died, unless the stream
		// alone broke off.
		if s.engine.running(srv.id) {
			done = nil
			goto wait
		}
		serverDied = true
	case <-ctx.Done():
	case <-overstay.C:
	}
	// An agent that is its container's pid 1 ignores a SIGTERM that comes
	// before its handler exists, so the request is repeated until it
	// stops, or the grace is over.
	s.engine.signal(id, "SIGTERM")
	again := time.NewTicker(200 * time.Millisecond)
	defer again.Stop()
	deadline := time.After(grace)
	for {
		select {
		case <-stopped:
			return serverDied
		case <-again.C:
			s.engine.signal(id, "SIGTERM")
			continue
		case <-deadline:
		case <-sandbox.HardStop(ctx):
		}
		s.engine.signal(id, "SIGKILL")
		return serverDied
	}
}

// stopServer asks the echo server to finish and returns its counters.
func (s *Sandbox) stopServer(srv *serverAgent, grace time.Duration) (*result.ServerCounts, error) {
	s.engine.signal(srv.id, "SIGTERM")
	select {
	case <-srv.done:
	case <-time.After(grace):
		s.engine.signal(srv.id, "SIGKILL")
		<-srv.done
	}
	return srv.counts, srv.err
}

// Close removes the sandbox's containers (killing them if they still run)
// and its network, and returns when they are gone. It finds them by their
// LabelRun, so that a container whose creation was interrupted goes too.
func (s *Sandbox) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	started := s.started
	srv := s.server
	s.mu.Unlock()
	defer s.logCancel()
	if !started {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	_, err := s.engine.remove(ctx, LabelRun+"="+s.id, false)
	s.logCancel()
	if srv != nil {
		<-srv.done
	}
	if err != nil {
		return fmt.Errorf("docker: remove run %s: %w; 'portex docker prune' removes leftovers", s.id, err)
	}
	return nil
}

// serverAgent follows the echo server's messages.
type serverAgent struct {
	id     string
	ready  chan error    // one value: nil once it listens, or why not
	done   chan struct{} // closed at the end of its stream; counts and err are set then
	counts *result.ServerCounts
	series []sandbox.TimedStates
	cost   *result.ProcessResources
	err    error
}

func (a *serverAgent) read(stdout io.ReadCloser) {
	defer close(a.done)
	defer stdout.Close()
	isReady := false
	notReady := func(err error) {
		if !isReady {
			isReady = true
			a.ready <- err
		}
	}
	sc := bufio.NewScanner(stdout)
	sc.Buffer(make([]byte, 64<<10), 4<<20)
	for sc.Scan() {
		var m sandbox.Message
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			continue
		}
		switch m.Type {
		case sandbox.MsgReady:
			notReady(nil)
		case sandbox.MsgSample:
			if m.Sample != nil {
				a.series = append(a.series, *m.Sample)
			}
		case sandbox.MsgServer:
			a.counts, a.cost = m.Server, m.Resources
			a.series = append(a.series, m.Series...)
		case sandbox.MsgError:
			a.err = errors.New("echo server: " + m.Error)
			notReady(a.err)
		}
	}
	notReady(errors.New("the echo server ended before it listened"))
}

// follow streams a container's logs from its start until it stops: stdout
// through the returned reader, stderr to stderr.
func (e *Engine) follow(ctx context.Context, id string, stderr io.Writer) io.ReadCloser {
	pr, pw := io.Pipe()
	go func() {
		rc, err := e.client().ContainerLogs(ctx, id, client.ContainerLogsOptions{ShowStdout: true, ShowStderr: true, Follow: true})
		if err != nil {
			pw.CloseWithError(fmt.Errorf("docker: logs: %w", err))
			return
		}
		defer rc.Close()
		_, err = stdcopy.StdCopy(pw, stderr, rc)
		pw.CloseWithError(err)
	}()
	return pr
}

// wait returns the container's exit status once it has stopped.
func (e *Engine) wait(id string) (int64, error) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	w := e.client().ContainerWait(ctx, id, client.ContainerWaitOptions{Condition: container.WaitConditionNotRunning})
	select {
	case r := <-w.Result:
		if r.Error != nil && r.Error.Message != "" {
			return r.StatusCode, errors.New(r.Error.Message)
		}
		return r.StatusCode, nil
	case err := <-w.Error:
		return -1, err
	}
}

// running reports whether a container is still running; one that cannot
// be inspected is taken for gone.
func (e *Engine) running(id string) bool {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := e.client().ContainerInspect(ctx, id, client.ContainerInspectOptions{})
	return err == nil && c.Container.State != nil && c.Container.State.Running
}

// signal sends a signal to a container; a container that is gone already
// is no error worth reporting.
func (e *Engine) signal(id, sig string) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	e.client().ContainerKill(ctx, id, client.ContainerKillOptions{Signal: sig})
}
