package sandbox

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"runtime/debug"
	"slices"
	"syscall"
	"time"

	"github.com/portex/portex/loadgen"
	"github.com/portex/portex/result"
)

// Agent roles.
const (
	RoleClient = "client" // applies the client's settings and runs the load
	RoleServer = "server" // runs the echo server
)

// Setups: who builds the sandbox around the agent.
const (
	// SetupNetns: the agent runs in fresh user and network namespaces and
	// builds the rest itself: the server's namespace, the veth pair, the
	// sysctls.
	SetupNetns = "netns"
	// SetupNone: the runtime built the sandbox (a container); the agent
	// only reads the settings back and runs.
	SetupNone = "none"
)

// Request is what an agent reads on stdin (or from $PORTEX_REQUEST).
type Request struct {
	Plan  *loadgen.Plan `json:"plan"`
	Role  string        `json:"role"`
	Setup string        `json:"setup"`
	// Target is the echo server's address or host name (SetupNone).
	Target string `json:"target,omitempty"`
	// HostNetns identifies the caller's network namespace; an agent that
	// finds itself there refuses to write any sysctl.
	HostNetns string `json:"host_netns,omitempty"`
	// Exec, if set, runs this command in the client's namespace instead of
	// the plan's load, with $PORTEX_TARGET and $PORTEX_PORT naming the echo
	// server: how benchmarks run other tools in the very same sandbox.
	Exec []string `json:"exec,omitempty"`
	// ServerExec, if set, runs this command in the server's namespace in
	// place of the echo server, with $PORTEX_PORT naming the plan's first
	// listener: how benchmarks put portex and another tool against the
	// same server of that tool's kind.
	ServerExec []string `json:"server_exec,omitempty"`
	// Peer marks an echo server process started by another to share its
	// ports: it serves, and leaves sampling the namespace to the first.
	Peer bool `json:"peer,omitempty"`
	// Processes is how many processes share the run (see
	// loadgen.Sandbox.Processes), decided by the agent that builds the
	// sandbox; 0 or 1: this one alone.
	Processes int `json:"processes,omitempty"`
	// Sources are the client's addresses (SetupNone shards).
	Sources []netip.Addr `json:"sources,omitempty"`
	// Shard marks one of several client processes: when its run stops it
	// reports MsgQuiesced and waits, before closing its connections, until
	// descriptor 3 (a pipe from the coordinator) is closed.
	Shard bool `json:"shard,omitempty"`
}

// RequestEnv names the environment variable that may carry the request
// instead of stdin (containers).
const RequestEnv = "PORTEX_REQUEST"

// maxRequest bounds a request read from stdin.
const maxRequest = 4 << 20

// errServerDied ends a run whose echo server is gone.
var errServerDied = errors.New("echo server died")

// Exit codes of the agent.
const (
	agentOK     = 0
	agentFailed = 3
)

// agentGCPercent is the agent's GOGC: the heap grows by at most a quarter
// of what is live before a collection.
const agentGCPercent = 25

// Agent runs the hidden `portex agent` command. ctx ends on SIGINT or
// SIGTERM; the agent then stops the run and still reports what it measured.
func Agent(ctx context.Context, stdin io.Reader, stdout, stderr io.Writer) int {
	// The agent's memory should hold still, so that its RSS shows what the
	// load holds rather than garbage between two collections. The hot
	// paths allocate next to nothing, so a tight target costs little CPU.
	// A GOGC in the environment still decides.
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(agentGCPercent)
	}
	out := newEncoder(stdout)
	req, err := readRequest(stdin)
	if err != nil {
		out.send(Message{Type: MsgError, Error: err.Error()})
		return agentFailed
	}
	switch req.Role {
	case RoleServer:
		err = serveEcho(ctx, req, out)
	default:
		err = runClient(ctx, req, out)
	}
	if err != nil {
		out.send(Message{Type: MsgError, Error: err.Error()})
		return agentFailed
	}
	return agentOK
}

func readRequest(stdin io.Reader) (*Request, error) {
	var data []byte
	if env := os.Getenv(RequestEnv); env != "" {
		data = []byte(env)
	} else {
		var err error
		data, err = io.ReadAll(io.LimitReader(stdin, maxRequest+1))
		if err != nil {
			return nil, fmt.Errorf("agent: read request: %w", err)
		}
		if len(data) > maxRequest {
			return nil, fmt.Errorf("agent: request larger than %d bytes", maxRequest)
		}
	}
	var req Request
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		return nil, fmt.Errorf("agent: decode request: %w", err)
	}
	if req.Plan == nil {
		return nil, errors.New("agent: request has no plan")
	}
	if err := req.Plan.Check(); err != nil {
		return nil, fmt.Errorf("agent: %w", err)
	}
	switch req.Role {
	case RoleClient, RoleServer:
	default:
		return nil, fmt.Errorf("agent: unknown role %q", req.Role)
	}
	switch req.Setup {
	case SetupNetns, SetupNone:
	default:
		return nil, fmt.Errorf("agent: unknown setup %q", req.Setup)
	}
	return &req, nil
}

// inSandbox reports an error unless the agent runs in a network namespace
// other than its caller's: the guard in front of every sysctl write.
func inSandbox(req *Request) error {
	id, err := netnsID()
	if err != nil {
		return fmt.Errorf("agent: cannot tell which network namespace it runs in: %w", err)
	}
	if req.HostNetns == "" || id == req.HostNetns {
		return fmt.Errorf("agent: refusing to write sysctls: network namespace %s is not a sandbox's", id)
	}
	return nil
}

// serveEcho runs the echo server until ctx ends, then reports its counters.
func serveEcho(ctx context.Context, req *Request, out *encoder) error {
	p := req.Plan
	if req.Setup == SetupNetns {
		if err := inSandbox(req); err != nil {
			return err
		}
		if err := linkUp("lo"); err != nil {
			return err
		}
		for _, name := range slices.Sorted(maps.Keys(p.Server.Sysctls)) {
			if err := writeSysctl(name, p.Server.Sysctls[name]); err != nil {
				return fmt.Errorf("echo server: %w", err)
			}
		}
	}
	if len(req.ServerExec) > 0 {
		return serveExec(ctx, req, out)
	}
	srv, err := loadgen.StartServer(loadgen.ServerConfig{Listeners: p.Server.Listeners, Backlog: p.Server.Backlog,
		LingerReset: p.Server.LingerReset, ReusePort: req.Processes > 1 || req.Setup == SetupNone})
	if err != nil {
		return err
	}
	// More server processes in this namespace share the ports.
	var peers []*serverProc
	defer func() {
		for _, peer := range peers {
			peer.stop()
		}
	}()
	for i := 1; i < req.Processes; i++ {
		peer, err := startServerProc(&Request{Plan: p, Role: RoleServer, Setup: SetupNone, Peer: true}, false, nil)
		if err != nil {
			srv.Close()
			return err
		}
		peers = append(peers, peer)
	}
	out.send(Message{Type: MsgReady})
	cost := newCostMeter()
	// The samples go out as they are taken: the server keeps no series.
	emit := func(ts TimedStates) { out.send(Message{Type: MsgSample, Sample: &ts}) }
	if req.Peer {
		emit = nil
	}
	series := sampleUntil(ctx, seriesResolution, func() { cost.sample(srv.Open()) }, emit)
	<-ctx.Done()
	srv.Close()
	c := srv.Counts()
	samples := <-series // the sampler is done: cost is ours alone now
	res := cost.result()
	// The peers stop together: the last is in after the slowest one's
	// stop, not after all of theirs in turn.
	for _, peer := range peers {
		peer.cmd.Process.Signal(syscall.SIGTERM)
	}
	for _, peer := range peers {
		pc, _, pres, err := peer.stopCost()
		if err != nil {
			return err
		}
		c = addServerCounts(c, pc)
		res.Add(pres)
	}
	peers = nil
	return out.send(Message{Type: MsgServer, Server: &c, Series: samples, Resources: res})
}

// serveExec runs req.ServerExec as the server: ready once the plan's first
// port takes a connection, killed when the run ends. It reports no counts.
func serveExec(ctx context.Context, req *Request, out *encoder) error {
	port := req.Plan.Server.Listeners[0].Port
	cmd := exec.Command(req.ServerExec[0], req.ServerExec[1:]...)
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
			return fmt.Errorf("server exec %s: nothing listens on %s: %v", req.ServerExec[0], addr, err)
		}
	}
	out.send(Message{Type: MsgReady})
	<-ctx.Done()
	return out.send(Message{Type: MsgServer, Server: &result.ServerCounts{}})
}

// costMeter measures what a process costs, and what a held connection
// costs it.
type costMeter struct {
	rssBefore, rssAtPeak, peak int64
	cpuBefore                  time.Duration
}

func newCostMeter() *costMeter {
	return &costMeter{rssBefore: loadgen.RSS(), cpuBefore: loadgen.CPUTime()}
}

func (m *costMeter) sample(open int64) {
	if open > m.peak {
		m.peak, m.rssAtPeak = open, loadgen.RSS()
	}
}

func (m *costMeter) result() *result.ProcessResources {
	return &result.ProcessResources{
		Processes:             1,
		RSSPeakBytes:          loadgen.PeakRSS(),
		CPUSeconds:            (loadgen.CPUTime() - m.cpuBefore).Seconds(),
		RSSPerConnectionBytes: loadgen.PerConnection(m.rssBefore, m.rssAtPeak, m.peak),
		Peak:                  m.peak,
	}
}

// seriesInterval is the time series' steady resolution on both sides;
// seriesResolution, its schedule, finer in the first second.
const seriesInterval = 100 * time.Millisecond

var seriesResolution = loadgen.NewResolution(seriesInterval)

// progressEvery is how often progress events go out.
const progressEvery = 250 * time.Millisecond

// sampleUntil samples the namespace's socket states on the schedule until
// ctx ends, and hands each sample to emit; with no emit it takes none, and
// only calls also at every tick.
func sampleUntil(ctx context.Context, sched loadgen.Resolution, also func(), emit func(TimedStates)) <-chan []TimedStates {
	var s *loadgen.SocketSampler
	if emit != nil {
		var err error
		if s, err = loadgen.NewSocketSampler(0, 0); err != nil {
			s = nil
		}
	}
	out := make(chan []TimedStates, 1)
	go func() {
		if s != nil {
			defer s.Close()
		}
		out <- <-sampleEvery(ctx, s, sched, also, emit)
	}()
	return out
}

// sampleWith samples with s (nil: no samples) on the schedule until ctx
// ends.
func sampleWith(ctx context.Context, s *loadgen.SocketSampler, sched loadgen.Resolution) <-chan []TimedStates {
	return sampleEvery(ctx, s, sched, func() {}, nil)
}

// sampleEvery samples with s on the schedule until ctx ends, calling also
// at every tick; each sample goes to emit, or if emit is nil is kept and
// delivered at the end. A sample is stamped with when it was taken, not
// when its tick was due: a late tick must not move a count back in time.
func sampleEvery(ctx context.Context, s *loadgen.SocketSampler, sched loadgen.Resolution, also func(), emit func(TimedStates)) <-chan []TimedStates {
	out := make(chan []TimedStates, 1)
	go func() {
		var samples []TimedStates
		defer func() { out <- samples }()
		start := time.Now()
		every := sched.At(0)
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				now := time.Now()
				if next := sched.At(now.Sub(start)); next != every {
					every = next
					t.Reset(every)
				}
				also()
				if s == nil || !s.Due(now) {
					continue
				}
				t0 := time.Now()
				if st, err := s.Sample(); err == nil {
					ts := TimedStates{UnixNano: t0.UnixNano(), States: st, Cost: time.Since(t0), RSS: loadgen.RSS()}
					if emit != nil {
						emit(ts)
					} else {
						samples = append(samples, ts)
					}
				}
			}
		}
	}()
	return out
}

// runClient builds the sandbox (SetupNetns), runs the load and reports.
func runClient(ctx context.Context, req *Request, out *encoder) error {
	p := req.Plan
	res := &result.Result{Variant: p.Variant, Runtime: p.Runtime}
	var srv *serverProc
	fail := func(err error) error {
		res.Stopped, res.Error = result.StoppedError, err.Error()
		if srv != nil {
			srv.stop()
		}
		out.send(Message{Type: MsgResult, Result: res})
		return nil
	}

	var target netip.Addr
	var sources []netip.Addr
	switch req.Setup {
	case SetupNetns:
		if err := inSandbox(req); err != nil {
			return err
		}
		var err error
		req.Processes = processes(p)
		// Unsharded, the points are streamed and the reader aligns the
		// server's samples with them: pass the samples on as they come.
		var forward func(Message)
		if req.Processes <= 1 {
			forward = func(m Message) { out.send(m) }
		}
		if srv, err = startServerProc(req, true, forward); err != nil {
			return fail(err)
		}
		if sources, err = wireVeth(srv.cmd.Process.Pid, p.Sources()); err != nil {
			return fail(err)
		}
		if err := applyClientSettings(p); err != nil {
			return fail(err)
		}
		target = ServerAddr
	default:
		var err error
		if target, err = resolve(ctx, req.Target); err != nil {
			return fail(err)
		}
		sources = req.Sources
	}
	res.Sysctls = readSysctls(p.Sandbox.Sysctls)
	res.ServerSysctls = readSysctlsIn(srv.pid(), p.Server.Sysctls)
	res.Kernel = startCounters(srv.pid())
	if len(req.Exec) > 0 {
		if err := setNofile(p.Sandbox.Nofile); err != nil {
			return fail(err)
		}
		output, err := execIn(ctx, req.Exec, target, p.Server.Listeners[0].Port)
		if srv != nil {
			srv.stop()
		}
		if err != nil {
			return err
		}
		return out.send(Message{Type: MsgExec, Output: output})
	}
	lo, hi := portRange(res.Sysctls["net.ipv4.ip_local_port_range"])
	// One process samples the namespace's sockets: a shard leaves it to
	// its coordinator.
	var sampler *loadgen.SocketSampler
	if !req.Shard {
		var err error
		if sampler, err = loadgen.NewSocketSampler(lo, hi); err != nil {
			return fail(err)
		}
		defer sampler.Close()
	}
	if err := setNofile(p.Sandbox.Nofile); err != nil {
		return fail(err)
	}

	if req.Processes > 1 {
		run, err := runShards(ctx, p, req.Processes, target, sources, sampler, out)
		if err != nil {
			return fail(err)
		}
		return finishClient(res, run, srv, lo, hi, out)
	}
	runCtx, cancelRun := context.WithCancelCause(ctx)
	defer cancelRun(nil)
	if srv != nil {
		go func() {
			select {
			case <-srv.exited:
				cancelRun(errServerDied)
			case <-runCtx.Done():
			}
		}()
	}
	var beforeClose func()
	if req.Shard {
		beforeClose = func() {
			out.send(Message{Type: MsgQuiesced})
			goAhead := os.NewFile(3, "go-ahead")
			var b [1]byte
			goAhead.Read(b[:]) // returns when the coordinator closes it, or dies
			goAhead.Close()
		}
	}
	run, err := loadgen.Run(runCtx, p, loadgen.Options{
		BeforeClose: beforeClose,
		Target:      target,
		Sources:     sources,
		Sockets:     sampler,
		Resolution:  seriesResolution,
		Progress:    progressEvery,
		OnEvent:     func(ev result.Event) { out.send(Message{Type: MsgEvent, Event: &ev}) },
		// The points go out as they are made: the load's process keeps
		// no time series, however long the run.
		OnPoint: func(pt result.Point) { out.send(Message{Type: MsgPoint, Point: &pt}) },
	})
	if err != nil {
		return fail(err)
	}
	if errors.Is(context.Cause(runCtx), errServerDied) && ctx.Err() == nil {
		<-srv.exited
		run.Stopped, run.Error = result.StoppedError, fmt.Sprintf("the echo server died mid-run (%v)", srv.err)
	}
	return finishClient(res, run, srv, lo, hi, out)
}

// finishClient completes a run's result with what the agent knows (the
// sysctls read back, the range, the echo server's side) and reports it.
func finishClient(res, run *result.Result, srv *serverProc, lo, hi int, out *encoder) error {
	run.Sysctls, run.ServerSysctls = res.Sysctls, res.ServerSysctls
	run.Kernel = endCounters(res.Kernel, srv.pid())
	run.Nofile = currentNofile()
	if hi > 0 {
		run.PortRangeSize = hi - lo + 1
	}
	res = run
	var series []TimedStates
	if srv != nil {
		counts, samples, err := srv.stop()
		if err != nil && res.Error == "" {
			res.Error = err.Error()
		}
		res.Server = counts
		if res.Resources != nil {
			res.Resources.Server = srv.cost
		}
		series = samples
		if res.TimeSeries != nil && len(res.TimeSeries.Points) > 0 {
			// Sharded: the points were merged here.
			AlignServer(res.TimeSeries, res.StartedAt, series)
			series = nil
		}
	}
	// Streamed points: the reader aligns the server's samples with them.
	return out.send(Message{Type: MsgResult, Result: res, Series: series})
}

func resolve(ctx context.Context, host string) (netip.Addr, error) {
	if a, err := netip.ParseAddr(host); err == nil {
		return a, nil
	}
	addrs, err := net.DefaultResolver.LookupNetIP(ctx, "ip4", host)
	if err != nil || len(addrs) == 0 {
		return netip.Addr{}, fmt.Errorf("agent: resolve server %q: %v", host, err)
	}
	return addrs[0], nil
}

// applyClientSettings writes the client's sysctls in its namespace.
func applyClientSettings(p *loadgen.Plan) error {
	if !p.Sandbox.PortRange.IsZero() {
		if err := writeSysctl("net.ipv4.ip_local_port_range", p.Sandbox.PortRange.String()); err != nil {
			return err
		}
	}
	for _, name := range slices.Sorted(maps.Keys(p.Sandbox.Sysctls)) {
		if err := writeSysctl(name, p.Sandbox.Sysctls[name]); err != nil {
			return err
		}
	}
	return nil
}

func setNofile(n uint64) error {
	if n == 0 {
		return nil
	}
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return fmt.Errorf("nofile: %w", err)
	}
	if n > lim.Max {
		return fmt.Errorf("nofile %d is above the hard limit %d of this machine; shard the load over several agents instead", n, lim.Max)
	}
	lim.Cur = n
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return fmt.Errorf("nofile %d: %w", n, err)
	}
	return nil
}

func currentNofile() uint64 {
	var lim syscall.Rlimit
	syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim)
	return lim.Cur
}

// portRange is the range the sysctl reads back, 0, 0 when it reads as
// none.
func portRange(v string) (lo, hi int) {
	r, err := loadgen.ParseSysctlPortRange(v)
	if err != nil || r.Hi < r.Lo {
		return 0, 0
	}
	return r.Lo, r.Hi
}

// AlignServer puts the server's samples into the client's time series: each
// point gets the last server sample taken at or before its end. The run
// started at start (the client's clock; both sides share the machine's).
func AlignServer(ts *result.TimeSeries, start time.Time, series []TimedStates) {
	alignStates(ts, start, series, func(pt *result.Point, st *TimedStates) {
		pt.Server, pt.ServerRSSBytes = &st.States, st.RSS
	})
}

// alignStates gives each point of ts the last sample taken at or before its
// end, through set.
func alignStates(ts *result.TimeSeries, start time.Time, series []TimedStates, set func(*result.Point, *TimedStates)) {
	if ts == nil || len(series) == 0 {
		return
	}
	// A point takes a sample from its own interval (or half an interval
	// before, for clocks a little apart), never an older one: where the
	// sampler skipped, the point says nothing rather than something stale.
	j := -1
	prev := 0.0
	for i := range ts.Points {
		dt := ts.Points[i].T - prev
		if dt <= 0 {
			dt = ts.IntervalSeconds
		}
		prev = ts.Points[i].T
		window := int64(1.5 * dt * float64(time.Second))
		end := start.Add(time.Duration(ts.Points[i].T * float64(time.Second))).UnixNano()
		for j+1 < len(series) && series[j+1].UnixNano <= end {
			j++
		}
		if j >= 0 && end-series[j].UnixNano <= window {
			st := series[j]
			set(&ts.Points[i], &st)
		}
	}
}

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

// execIn runs argv against the echo server and returns its output.
func execIn(ctx context.Context, argv []string, target netip.Addr, port int) (string, error) {
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
