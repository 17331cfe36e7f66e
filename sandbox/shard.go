package sandbox

import (
	"context"
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"sync"
	"syscall"

	"github.com/portex/portex/loadgen"
)

// Past one process's descriptors: a run that needs more connections than a
// process may hold (the hard RLIMIT_NOFILE, 20,000 on some machines, cannot
// be raised without CAP_SYS_RESOURCE) is shared out over several agent
// processes in the same client namespace, and the echo server over as many
// processes in the server's, sharing its ports with SO_REUSEPORT. Their
// results merge without loss (loadgen.Merge).

// fdHeadroom is the descriptors a process keeps for itself.
const fdHeadroom = 256

// processes decides how many processes run the plan.
func processes(p *loadgen.Plan) int {
	if p.Sandbox.Processes > 0 {
		return p.Sandbox.Processes
	}
	if p.Sandbox.Nofile > 0 {
		// An explicit limit is the experiment (EMFILE): one process.
		return 1
	}
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil || lim.Max <= 2*fdHeadroom {
		return 1
	}
	per := int(lim.Max) - fdHeadroom
	return max(1, (p.Connections()+per-1)/per)
}

func addServerCounts(a loadgen.ServerCounts, b *loadgen.ServerCounts) loadgen.ServerCounts {
	if b == nil {
		return a
	}
	a.Accepted += b.Accepted
	a.ClosedByPeer += b.ClosedByPeer
	a.ClosedByServer += b.ClosedByServer
	a.Errors += b.Errors
	a.BytesEchoed += b.BytesEchoed
	a.PeakOpen += b.PeakOpen
	return a
}

func addCost(dst, src *loadgen.ProcessResources) {
	if src == nil {
		return
	}
	n := dst.PeakConnections() + src.PeakConnections()
	if n > 0 {
		dst.RSSPerConnectionBytes = (dst.RSSPerConnectionBytes*dst.PeakConnections() + src.RSSPerConnectionBytes*src.PeakConnections()) / n
	}
	dst.Processes += src.Processes
	dst.RSSPeakBytes += src.RSSPeakBytes
	dst.CPUSeconds += src.CPUSeconds
	dst.Peak = n
}

// runShards runs the plan over n client processes in this namespace and
// merges their results. It forwards one stream of events: progress summed
// over the shards, and the first of each notable event; when the plan stops
// on exhaustion, the first shard to run out stops them all.
func runShards(ctx context.Context, p *loadgen.Plan, n int, target netip.Addr, sources []netip.Addr, sampler *loadgen.SocketSampler, out *encoder) (*loadgen.Result, error) {
	plans := loadgen.Split(p, n)
	var (
		mu       sync.Mutex // guards last, seen, stopping
		last     = make([]loadgen.Progress, n)
		seen     = map[string]bool{}
		stopping bool
		cmds     []*exec.Cmd
		gates    []*os.File // write ends of the shards' go-ahead pipes
		quiesced int        // shards waiting at their go-ahead, or gone
	)
	// release lets every shard close its connections: once all of them
	// stopped dialing (see Request.Shard).
	release := func() {
		for _, g := range gates {
			g.Close()
		}
	}
	stopAll := func() {
		for _, c := range cmds {
			c.Process.Signal(syscall.SIGTERM)
		}
	}
	arrived := func() {
		if quiesced++; quiesced == 1 {
			// One shard's stop (its duration, a stop rule) stops the plan.
			stopAll()
		}
		if quiesced == n {
			release()
		}
	}
	results := make([]*loadgen.Result, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i, sp := range plans {
		req, err := json.Marshal(&Request{Plan: sp, Role: RoleClient, Setup: SetupNone, Target: target.String(), Sources: sources, Shard: true})
		if err != nil {
			return nil, err
		}
		goAhead, goAheadW, err := os.Pipe()
		if err != nil {
			return nil, err
		}
		gates = append(gates, goAheadW)
		cmd := exec.Command("/proc/self/exe", "agent")
		cmd.ExtraFiles = []*os.File{goAhead}
		cmd.Stdin = bytesReader(req)
		cmd.Stderr = os.Stderr
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			return nil, err
		}
		if err := cmd.Start(); err != nil {
			stopAll()
			release()
			return nil, fmt.Errorf("start shard %d: %w", i, err)
		}
		goAhead.Close()
		cmds = append(cmds, cmd)
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i], errs[i] = collect(stdout, func(ev loadgen.Event) {
				mu.Lock()
				defer mu.Unlock()
				switch ev.Type {
				case loadgen.EventProgress:
					last[i] = *ev.Progress
					sum := loadgen.Progress{Client: ev.Progress.Client}
					for _, l := range last {
						sum.Attempted += l.Attempted
						sum.OK += l.OK
						sum.Failed += l.Failed
						sum.Open += l.Open
					}
					ev.Progress = &sum
					out.send(Message{Type: MsgEvent, Event: &ev})
				case loadgen.EventEnd:
				default:
					key := ev.Type + "/" + ev.Class
					if !seen[key] {
						seen[key] = true
						out.send(Message{Type: MsgEvent, Event: &ev})
					}
					if ev.Type == loadgen.EventExhaustion && p.Stop.On == loadgen.StopOnExhaustion && !stopping {
						stopping = true
						stopAll()
					}
				}
			}, func(m Message) {
				if m.Type == MsgQuiesced {
					mu.Lock()
					arrived()
					mu.Unlock()
				}
			})
			mu.Lock()
			if results[i] == nil { // died before it could wait: do not wait for it
				arrived()
			}
			mu.Unlock()
			if err := cmd.Wait(); err != nil && errs[i] == nil && results[i] == nil {
				errs[i] = fmt.Errorf("shard %d: %w", i, err)
			}
		}()
	}
	sampleCtx, stopSampling := context.WithCancel(context.Background())
	samples := sampleWith(sampleCtx, sampler, seriesInterval)
	stopped := make(chan struct{})
	go func() {
		select {
		case <-ctx.Done():
			stopAll()
		case <-stopped:
		}
	}()
	wg.Wait()
	close(stopped)
	release()

	stopSampling()
	res := loadgen.Merge(results)
	if res != nil && res.TimeSeries != nil {
		series := <-samples
		alignStates(res.TimeSeries, res.StartedAt, series, func(pt *loadgen.Point, st *TimedStates) { pt.Client = &st.States })
		for _, s := range series {
			if res.TimeSeries.SamplerCost == nil {
				res.TimeSeries.SamplerCost = &loadgen.SamplerCost{}
			}
			res.TimeSeries.SamplerCost.Add(s.Cost, s.States.Total())
		}
	}
	if res == nil {
		for _, err := range errs {
			if err != nil {
				return nil, err
			}
		}
		return nil, fmt.Errorf("no shard reported a result")
	}
	// The shards the coordinator stopped say "interrupted"; the reason is
	// the one the first shard to stop gave.
	res.Stopped = loadgen.StoppedInterrupted
	for _, want := range []string{loadgen.StoppedExhaustion, loadgen.StoppedFailures, loadgen.StoppedDuration} {
		for _, r := range results {
			if r != nil && r.Stopped == want && res.Stopped == loadgen.StoppedInterrupted {
				res.Stopped = want
			}
		}
	}
	switch {
	case ctx.Err() != nil:
		res.Stopped = loadgen.StoppedInterrupted
	case stopping:
		res.Stopped = loadgen.StoppedExhaustion
	}
	for i, err := range errs {
		if err != nil && res.Error == "" {
			res.Stopped, res.Error = loadgen.StoppedError, fmt.Sprintf("shard %d of %d: %v", i+1, n, err)
		}
	}
	return res, nil
}
