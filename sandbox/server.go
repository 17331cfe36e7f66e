package sandbox

import (
	"context"
	"fmt"
	"syscall"
	"time"

	"github.com/portex/portex/loadgen"
	"github.com/portex/portex/result"
)

// serveEcho is the server role: it sets up the server's namespace
// (SetupNetns), runs the echo server, with its peer processes, until ctx
// ends, then reports its counters.
func serveEcho(ctx context.Context, req *Request, out *encoder) error {
	p := req.Plan
	if req.Lifetime > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, req.Lifetime)
		defer cancel()
	}
	if req.Setup == SetupNetns {
		if err := setUpServerNetns(req); err != nil {
			return err
		}
	}
	if testRoles.server != nil {
		if err := testRoles.server(ctx, p, func() { out.send(Message{Type: MsgReady}) }); err != nil {
			return err
		}
		return out.send(Message{Type: MsgServer, Server: &result.ServerCounts{}})
	}
	var prog *runningProgram
	if sp := p.Server.Program; sp != nil && !req.Peer {
		var err error
		if prog, err = startServerProgram(sp, p.Server.ProgramPorts()); err != nil {
			return err
		}
		defer prog.stop()
	}
	var bundled []loadgen.Listener
	for _, l := range p.Server.Listeners {
		if !l.Program {
			bundled = append(bundled, l)
		}
	}
	srv, err := startBundled(loadgen.ServerConfig{Listeners: bundled, Backlog: p.Server.Backlog,
		LingerReset: p.Server.LingerReset, ReusePort: req.Processes > 1 || req.Setup == SetupNone})
	if err != nil {
		return err
	}
	peers, err := startPeers(req)
	if err != nil {
		srv.Close()
		return err
	}
	defer peers.stop()
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
	if prog != nil {
		pr := prog.stop()
		c.Program = &pr
	}
	samples := <-series // the sampler is done: cost is ours alone now
	res := cost.result()
	if err := peers.stopCounts(&c, res); err != nil {
		return err
	}
	return out.send(Message{Type: MsgServer, Server: &c, Series: samples, Resources: res})
}

// bundledServer is the bundled server, or nothing where the user's
// server serves every port.
type bundledServer struct{ *loadgen.Server }

// startBundled starts the bundled server on cfg's listeners, if any.
func startBundled(cfg loadgen.ServerConfig) (bundledServer, error) {
	if len(cfg.Listeners) == 0 {
		return bundledServer{}, nil
	}
	srv, err := loadgen.StartServer(cfg)
	return bundledServer{srv}, err
}

func (b bundledServer) Close() {
	if b.Server != nil {
		b.Server.Close()
	}
}

func (b bundledServer) Open() int64 {
	if b.Server == nil {
		return 0
	}
	return b.Server.Open()
}

func (b bundledServer) Counts() result.ServerCounts {
	if b.Server == nil {
		return result.ServerCounts{}
	}
	return b.Server.Counts()
}

// setUpServerNetns brings up the server namespace's loopback and writes
// its sysctls, once the guard agrees that the namespace is a sandbox's.
func setUpServerNetns(req *Request) error {
	if err := sandboxGuard(req.HostNetns); err != nil {
		return err
	}
	if err := linkUp("lo"); err != nil {
		return err
	}
	if err := applySysctls(TopologyOf(req.Plan).Namespace(NSServer)); err != nil {
		return fmt.Errorf("echo server: %w", err)
	}
	return installDropSYN(req.Plan.Server.DropSYN)
}

// peerSet is the echo server's peer processes: more server processes in
// its namespace that share its ports.
type peerSet []*serverProc

// startPeers starts the peers a request asks for (Processes - 1).
func startPeers(req *Request) (peerSet, error) {
	var peers peerSet
	for i := 1; i < req.Processes; i++ {
		peer, err := startServerProc(&Request{Plan: req.Plan, Role: RoleServer, Setup: SetupNone, Peer: true}, false, nil)
		if err != nil {
			peers.stop()
			return nil, err
		}
		peers = append(peers, peer)
	}
	return peers, nil
}

// stopCounts stops the peers together (the last is in after the slowest
// one's stop, not after all of theirs in turn) and adds their counters to
// c and their costs to res.
func (ps *peerSet) stopCounts(c *result.ServerCounts, res *result.ProcessResources) error {
	peers := *ps
	*ps = nil
	for _, peer := range peers {
		peer.cmd.Process.Signal(syscall.SIGTERM)
	}
	for _, peer := range peers {
		pc, _, pres, err := peer.stopCost()
		if err != nil {
			return err
		}
		*c = addServerCounts(*c, pc)
		res.Add(pres)
	}
	return nil
}

// stop stops the peers that are left, if any.
func (ps *peerSet) stop() {
	for _, peer := range *ps {
		peer.stop()
	}
	*ps = nil
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
