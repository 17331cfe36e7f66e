package sandbox

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"slices"
	"strconv"
	"syscall"

	"github.com/portex/portex/loadgen"
	"github.com/portex/portex/result"
)

// clientSide is the client's end of a sandbox, set up: where the load
// goes, from where, the echo server's process (SetupNetns) and what the
// namespace reads back.
type clientSide struct {
	target    netip.Addr
	sources   []netip.Addr
	target6   netip.Addr   // the server's IPv6 address; unset: no pool dials IPv6
	sources6  []netip.Addr // the client's IPv6 addresses
	srv       *serverProc  // nil: the runtime runs the server (SetupNone)
	processes int          // client processes sharing the load
	sysctls   map[string]string
	// serverSysctls are read back from the server's namespace; kernel
	// holds both namespaces' counters at the start.
	serverSysctls map[string]string
	kernel        *result.KernelCounters
	lo, hi        int                    // the port range read back; 0, 0: none
	sampler       *loadgen.SocketSampler // nil: a shard, whose coordinator samples
	plan          *loadgen.Plan
	router        *routerProc // nil: no NAT in the path (Plan.NAT)
	nat           *natWatch   // nil: no NAT in the path
	slab          *slabWatch  // nil: a shard, or no slab to read
}

// close stops what the set-up started that is still running.
func (c *clientSide) close() {
	if c.srv != nil {
		c.srv.stop()
	}
	if c.sampler != nil {
		c.sampler.Close()
	}
	c.router.stop()
	c.slab.finish(0)
}

// runClient is the client role: it sets the sandbox up, runs the load
// (over several processes if one cannot hold it) and reports the result.
// A set-up that fails is reported as a result with the error, and the
// agent exits non-zero.
func runClient(ctx context.Context, req *Request, out *encoder) error {
	p := req.Plan
	c, err := setUpClient(ctx, req, out)
	if err != nil {
		return reportFailure(ctx, out, &result.Result{Variant: p.Variant, Runtime: p.Runtime}, err)
	}
	defer c.close()
	if testRoles.client != nil {
		if err := testRoles.client(ctx, c.target, p.Server.Listeners[0].Port); err != nil {
			return err
		}
		return out.send(Message{Type: MsgResult, Result: &result.Result{Variant: p.Variant, Runtime: p.Runtime}})
	}
	var run *result.Result
	var clientSeries []TimedStates
	if len(p.Programs) > 0 && len(p.Pools) > 0 && c.processes <= 1 {
		run, err := runBeside(ctx, req, c, out)
		if err != nil {
			if run == nil {
				run = &result.Result{Variant: p.Variant, Runtime: p.Runtime}
			}
			run.Sysctls = c.sysctls
			return reportFailure(ctx, out, run, err)
		}
		return finishClient(run, c, nil, out)
	}
	if len(p.Programs) > 0 {
		run, err := runPrograms(ctx, req, c, out)
		if err != nil {
			run.Sysctls = c.sysctls
			return reportFailure(ctx, out, run, err)
		}
		return finishClient(run, c, nil, out)
	}
	if c.processes > 1 {
		run, clientSeries, err = runShards(ctx, p, c.processes, c, out)
		if run != nil && c.nat != nil {
			c.nat.replay(run)
		}
	} else {
		run, err = runLoad(ctx, req, c, out)
	}
	if err != nil {
		return reportFailure(ctx, out, &result.Result{Variant: p.Variant, Runtime: p.Runtime, Sysctls: c.sysctls}, err)
	}
	return finishClient(run, c, clientSeries, out)
}

// setUpClient builds the client's end: with SetupNetns the server's
// namespace and process, the veth pair, the sysctls (once the guard
// agrees); with SetupNone it resolves the target the runtime named. Then
// it reads the settings back, opens the sampler and sets the descriptor
// limit.
func setUpClient(ctx context.Context, req *Request, out *encoder) (c *clientSide, err error) {
	p := req.Plan
	c = &clientSide{processes: 1, plan: p}
	defer func() {
		if err != nil {
			c.close()
		}
	}()
	switch req.Setup {
	case SetupNetns:
		if err := sandboxGuard(req.HostNetns); err != nil {
			return c, err
		}
		t := TopologyOf(p)
		c.processes = t.Namespace(NSClient).Processes
		// Unsharded, the points are streamed and the reader aligns the
		// server's samples with them: pass the samples on as they come.
		var forward func(Message)
		if c.processes <= 1 {
			forward = func(m Message) { out.send(m) }
		}
		if n := t.Namespace(NSClient).ChildEhash; n > 0 {
			if err := writeSysctl("net.ipv4.tcp_child_ehash_entries", strconv.Itoa(n)); err != nil {
				return c, err
			}
		}
		sreq := *req
		sreq.Processes, sreq.StopPipe = t.Namespace(NSServer).Processes, false
		pids := make(map[string]int)
		for _, h := range t.Namespaces {
			switch h.Name {
			case NSClient: // this process
			case NSServer:
				if c.srv, err = startServerProc(&sreq, true, forward); err != nil {
					return c, err
				}
				pids[h.Name] = c.srv.pid()
			case NSRouter:
				if c.router, err = startRouterProc(&sreq); err != nil {
					return c, err
				}
				pids[h.Name] = c.router.pid()
				c.nat = newNATWatch(c.router, p.NAT)
			default:
				return c, fmt.Errorf("netns: cannot realise namespace %q", h.Name)
			}
		}
		if c.sources, err = realise(t, pids); err != nil {
			return c, err
		}
		c.target = ServerAddr
		if p.UsesIPv6() {
			c.target6, c.sources6 = ServerAddr6, t.Sources6()
		}
	default:
		if c.target, err = resolve(ctx, req.Target); err != nil {
			return c, err
		}
		c.sources = req.Sources
		c.target6, c.sources6 = req.Target6, req.Sources6
	}
	c.sysctls = readSysctls(p.Sandbox.Sysctls)
	c.serverSysctls = readSysctlsIn(c.srv.pid(), p.Server.Sysctls)
	c.kernel = startCounters(c.srv.pid())
	if !req.Shard {
		c.slab = startSlabWatch()
	}
	c.lo, c.hi = portRange(c.sysctls["net.ipv4.ip_local_port_range"])
	// One process samples the namespace's sockets: a shard leaves it to
	// its coordinator.
	if !req.Shard && testRoles.client == nil {
		if c.sampler, err = loadgen.NewSocketSampler(c.lo, c.hi); err != nil {
			return c, err
		}
	}
	if err := setNofile(p.Sandbox.Nofile); err != nil {
		return c, err
	}
	return c, nil
}

// runLoad runs the plan's load in this process. A shard, when its run
// stops, reports MsgQuiesced and waits for its coordinator's go-ahead
// before it closes its connections.
func runLoad(ctx context.Context, req *Request, c *clientSide, out *encoder) (*result.Result, error) {
	runCtx, cancelRun := context.WithCancelCause(ctx)
	defer cancelRun(nil)
	if c.srv != nil {
		go func() {
			select {
			case <-c.srv.exited:
				cancelRun(errServerDied)
			case <-runCtx.Done():
			}
		}()
	}
	var beforeClose func()
	if req.Shard {
		beforeClose = func() {
			out.send(Message{Type: MsgQuiesced})
			goAhead := os.NewFile(goAheadFD, "go-ahead")
			var b [1]byte
			goAhead.Read(b[:]) // returns when the coordinator closes it, or dies
			goAhead.Close()
		}
	}
	run, err := loadgen.Run(runCtx, req.Plan, loadgen.Options{
		BeforeClose: beforeClose,
		Target:      c.target,
		Sources:     c.sources,
		Target6:     c.target6,
		Sources6:    c.sources6,
		Sockets:     c.sampler,
		Resolution:  seriesResolution,
		Progress:    progressEvery,
		OnEvent: func(ev result.Event) {
			if c.nat != nil {
				c.nat.event(ev)
			}
			out.send(Message{Type: MsgEvent, Event: &ev})
		},
		// The points go out as they are made: the load's process keeps
		// no time series, however long the run.
		OnPoint: func(pt result.Point) {
			if c.nat != nil {
				c.nat.point(&pt)
			}
			out.send(Message{Type: MsgPoint, Point: &pt})
		},
	})
	if err != nil {
		return nil, err
	}
	if errors.Is(context.Cause(runCtx), errServerDied) && ctx.Err() == nil {
		<-c.srv.exited
		run.Stopped, run.Error = result.StoppedError, fmt.Sprintf("the echo server died mid-run (%v)", c.srv.err)
	}
	return run, nil
}

// runBeside runs the plan's pools and its programs at once, in this
// namespace: the pools as background load sharing the range, the
// programs as ever. The result is the engine's (its dials, latency and
// time series) with the programs', their destinations' peaks, and their
// events; the exhaustion is the first that either saw. The run lasts
// the plan's duration, or until the engine stops, whatever the programs
// do.
func runBeside(ctx context.Context, req *Request, c *clientSide, out *encoder) (*result.Result, error) {
	pools, progs := *req, *req
	pp, gp := *req.Plan, *req.Plan
	pp.Programs, gp.Pools = nil, nil
	pools.Plan, progs.Plan = &pp, &gp
	type outcome struct {
		res *result.Result
		err error
	}
	progDone := make(chan outcome, 1)
	progCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		res, err := runPrograms(progCtx, &progs, c, out)
		progDone <- outcome{res, err}
	}()
	run, err := runLoad(ctx, &pools, c, out)
	cancel() // the engine is done: so are the programs
	po := <-progDone
	if err != nil {
		return run, err
	}
	if pr := po.res; pr != nil {
		run.Programs, run.Destinations = pr.Programs, pr.Destinations
		run.Notes = append(run.Notes, pr.Notes...)
		for _, ev := range pr.Events {
			if ev.Program != "" || ev.Type == result.EventExhaustion {
				run.Events = append(run.Events, ev)
			}
		}
		slices.SortStableFunc(run.Events, func(a, b result.Event) int { return cmp.Compare(a.AtSeconds, b.AtSeconds) })
		if ex := pr.Exhaustion; ex != nil && (run.Exhaustion == nil || ex.AtSeconds < run.Exhaustion.AtSeconds) {
			run.Exhaustion = ex
		}
	}
	return run, po.err
}

// finishClient adds to the engine's result what the agent knows of its
// environment (the sysctls read back, the range, the descriptor limit, the
// echo server's side) and reports it, with the samples the reader puts
// into its time series.
func finishClient(run *result.Result, c *clientSide, clientSeries []TimedStates, out *encoder) error {
	run.Sysctls, run.ServerSysctls = c.sysctls, c.serverSysctls
	run.Kernel = endCounters(c.kernel, c.srv.pid())
	run.Nofile = currentNofile()
	if c.nat != nil {
		var ex *result.Exhaustion
		run.NAT, ex = c.nat.finish(c.plan)
		if run.Exhaustion == nil && ex != nil {
			run.Exhaustion = ex
		}
	}
	if c.hi > 0 {
		run.PortRangeSize = c.hi - c.lo + 1
	}
	if c.target6.IsValid() && c.srv != nil && len(c.sources6) > 0 {
		run.Notes = append(run.Notes, familyNote(c.plan, c.sources6[0], c.target6))
	}
	if d := c.plan.Server.DropSYN; d > 0 {
		run.Notes = append(run.Notes, fmt.Sprintf("the server's namespace dropped %s of the SYNs to its listeners (server.drop_syn): dials that timed out found an unresponsive destination, not exhausted ports; their ports were held in SYN_SENT until then", percentWords(d)))
	}
	var series []TimedStates
	if c.srv != nil {
		counts, samples, err := c.srv.stop()
		if err != nil && run.Error == "" {
			run.Error = err.Error()
		}
		run.Server = counts
		if run.Resources != nil {
			run.Resources.Kernel = c.slab.finish(run.PeakOpen)
			run.Resources.Server = c.srv.cost
		}
		series = samples
	}
	return out.send(Message{Type: MsgResult, Result: run, Series: series, ClientSeries: clientSeries})
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
