package sandbox

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"sort"
	"sync"
	"syscall"
	"time"

	"github.com/portex/portex/loadgen"
	"github.com/portex/portex/result"
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
	per := perProcess()
	if per == 0 {
		return 1
	}
	return max(1, (p.Connections()+per-1)/per)
}

// perProcess is the descriptors a process may spend on connections: the
// hard limit less fdHeadroom, or 0 if that leaves too few to share over.
func perProcess() int {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil || lim.Max <= 2*fdHeadroom {
		return 0
	}
	return int(lim.Max) - fdHeadroom
}

// serverShare is the share of its descriptors a server process is planned
// to fill when the server is shared over several. SO_REUSEPORT spreads
// connections by a hash of their addresses, not by the room each process
// has left (the README's kernel facts say by how much), and a process out
// of descriptors leaves the handshakes it cannot accept in its backlog,
// where the client counts them open.
const serverShare = 0.85

// serverProcesses is how many echo server processes serve a run whose
// client runs in clients processes: as many, and more when the shares
// SO_REUSEPORT makes would fill a process.
func serverProcesses(p *loadgen.Plan, clients int) int {
	per := perProcess()
	if clients <= 1 || per == 0 || p.Sandbox.Nofile > 0 {
		return clients
	}
	room := int(float64(per) * serverShare)
	return max(clients, (p.Connections()+room-1)/room)
}

func addServerCounts(a result.ServerCounts, b *result.ServerCounts) result.ServerCounts {
	if b == nil {
		return a
	}
	a.Accepted += b.Accepted
	a.ClosedByPeer += b.ClosedByPeer
	a.ClosedByServer += b.ClosedByServer
	a.Errors += b.Errors
	a.Requests += b.Requests
	a.BytesEchoed += b.BytesEchoed
	a.PeakOpen += b.PeakOpen
	return a
}

// runShards runs the plan over n client processes in this namespace and
// merges their results; it returns the merged result and the samples of
// the namespace it took, for the reader to put into the time series. It
// forwards one stream of events: progress summed over the shards, and the
// first of each notable event. The first shard to stop (its duration, a
// stop rule, exhaustion) stops them all. A shard is stopped by closing its
// stop pipe, which it reads once it is ready to stop: a shard told to stop
// while it still starts stops cleanly, as soon as it can.
func runShards(ctx context.Context, p *loadgen.Plan, n int, c *clientSide, out *encoder) (*result.Result, []TimedStates, error) {
	sampler := c.sampler
	set := &shardSet{
		n: n, out: out, stopOnExhaustion: p.Stop.On == loadgen.StopOnExhaustion || p.Stop.On == loadgen.StopOnVerdict, sampler: sampler,
		signaled: make([]bool, n), quiesced: make([]bool, n),
		last: make([]result.Progress, n), seen: map[string]bool{},
	}
	results := make([]*result.Result, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i, sp := range loadgen.Split(p, n) {
		req := &Request{Plan: sp, Role: RoleClient, Setup: SetupNone, Target: c.target.String(), Sources: c.sources,
			Target6: c.target6, Sources6: c.sources6,
			Shard: true, StopPipe: true}
		if err := set.start(i, req, &wg, &results[i], &errs[i]); err != nil {
			set.abort()
			wg.Wait()
			return nil, nil, err
		}
	}
	sampleCtx, stopSampling := context.WithCancel(context.Background())
	samples := sampleWith(sampleCtx, sampler, seriesResolution)
	stopped := make(chan struct{})
	go func() {
		select {
		case <-ctx.Done():
			set.mu.Lock()
			set.stopAll()
			set.mu.Unlock()
		case <-stopped:
		}
	}()
	wg.Wait()
	close(stopped)
	set.abort() // releases what is left, signals no one: all are gone
	stopSampling()

	res := loadgen.Merge(results)
	series := <-samples
	if res == nil {
		for _, err := range errs {
			if err != nil {
				return nil, nil, err
			}
		}
		return nil, nil, fmt.Errorf("no shard reported a result")
	}
	if set.final != nil {
		// The final sample is the namespace with every connection the
		// load made still held: the last of the series. A sample taken
		// after it, as the shards close their connections, would take
		// its place in the point that holds both.
		kept := series[:0]
		for _, st := range series {
			if st.UnixNano < set.final.UnixNano {
				kept = append(kept, st)
			}
		}
		series = append(kept, *set.final)
		sort.SliceStable(series, func(i, j int) bool { return series[i].UnixNano < series[j].UnixNano })
	}
	res.Stopped = stopReason(results)
	switch {
	case ctx.Err() != nil:
		res.Stopped = result.StoppedInterrupted
	case set.exhausted:
		res.Stopped = result.StoppedExhaustion
	}
	for i, err := range errs {
		if err != nil && res.Error == "" {
			res.Stopped, res.Error = result.StoppedError, fmt.Sprintf("shard %d of %d: %v", i+1, n, err)
		}
	}
	return res, series, nil
}

// stopReason is the reason the first shard to stop gave: the shards the
// coordinator stopped say "interrupted".
func stopReason(results []*result.Result) string {
	for _, want := range []string{result.StoppedExhaustion, result.StoppedFailures, result.StoppedDuration} {
		for _, r := range results {
			if r != nil && r.Stopped == want {
				return want
			}
		}
	}
	return result.StoppedInterrupted
}

// shardSet is the client processes of one sharded run.
type shardSet struct {
	n                int
	out              *encoder
	stopOnExhaustion bool
	sampler          *loadgen.SocketSampler // nil: no samples

	mu        sync.Mutex // guards everything below
	cmds      []*exec.Cmd
	stops     []*os.File // write ends of the shards' stop pipes
	gates     []*os.File // write ends of the shards' go-ahead pipes
	released  bool
	signaled  []bool // told to stop: its stop pipe is closed
	quiesced  []bool // stopped dialing and waiting at its go-ahead, or gone
	nQuiesced int
	stopping  bool // stopAll was called: shards still to start stop at once
	exhausted bool
	last      []result.Progress
	// progressAt is when the last progress passed on was reported.
	progressAt float64
	seen       map[string]bool
	// final is a full sample taken when every shard has stopped dialing
	// and still holds its connections: the ports in use at the end of the
	// load, however rarely a full sample was affordable during it.
	final *TimedStates
}

// start starts shard i and a goroutine that collects its stream into res
// and err.
func (s *shardSet) start(i int, req *Request, wg *sync.WaitGroup, res **result.Result, errp *error) error {
	data, err := json.Marshal(req)
	if err != nil {
		return err
	}
	stopR, stop, err := os.Pipe()
	if err != nil {
		return err
	}
	defer stopR.Close() // the child has its own copy
	goAhead, gate, err := os.Pipe()
	if err != nil {
		stop.Close()
		return err
	}
	defer goAhead.Close()
	cmd := exec.Command("/proc/self/exe", "agent")
	cmd.ExtraFiles = []*os.File{stopR, goAhead} // stopFD, goAheadFD
	cmd.Stdin = bytes.NewReader(data)
	cmd.Stderr = os.Stderr
	cmd.Env = sharedCPUs(childEnv(), s.n)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		stop.Close()
		gate.Close()
		return err
	}
	if err := cmd.Start(); err != nil {
		stop.Close()
		gate.Close()
		return fmt.Errorf("start shard %d: %w", i, err)
	}
	s.mu.Lock()
	s.cmds = append(s.cmds, cmd)
	s.stops = append(s.stops, stop)
	s.gates = append(s.gates, gate)
	if s.stopping {
		// The run stopped while this shard started: it stops at once.
		s.signaled[len(s.cmds)-1] = true
		stop.Close()
	}
	s.mu.Unlock()
	wg.Add(1)
	go func() {
		defer wg.Done()
		c, err := collect(stdout, &Observer{Event: func(ev result.Event) { s.event(i, ev) }}, func(m Message) {
			if m.Type == MsgQuiesced {
				s.arrive(i)
			}
		})
		*res, *errp = c.Assemble(), err
		s.arrive(i) // gone: no one waits for it any more
		if err := cmd.Wait(); err != nil && *errp == nil {
			if r := *res; r == nil || (r.Stopped == result.StoppedError && r.Error == "") {
				// Dead before its result: what its events told is kept.
				*errp = fmt.Errorf("the shard died mid-run (%w)", err)
			}
		}
	}()
	return nil
}

// event forwards one shard's event as the run's.
func (s *shardSet) event(i int, ev result.Event) {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch ev.Type {
	case result.EventProgress:
		s.last[i] = *ev.Progress
		sum := result.Progress{Client: ev.Progress.Client}
		for _, l := range s.last {
			sum.Attempted += l.Attempted
			sum.OK += l.OK
			sum.Failed += l.Failed
			sum.Open += l.Open
		}
		ev.Progress = &sum
		// Each shard reports every progressEvery: pass on one sum for
		// each such period, or the rates read from consecutive sums are
		// of a fraction of it.
		if ev.AtSeconds-s.progressAt >= 0.9*progressEvery.Seconds() {
			s.progressAt = ev.AtSeconds
			s.out.send(Message{Type: MsgEvent, Event: &ev})
		}
	case result.EventEnd:
	default:
		if key := ev.Type + "/" + ev.Class; !s.seen[key] {
			s.seen[key] = true
			s.out.send(Message{Type: MsgEvent, Event: &ev})
		}
		if ev.Type == result.EventExhaustion && s.stopOnExhaustion && !s.exhausted {
			s.exhausted = true
			s.stopAll()
		}
	}
}

// arrive notes that shard i stopped dialing (or is gone): the first stops
// the others; when all have, they may close their connections.
func (s *shardSet) arrive(i int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.quiesced[i] {
		return
	}
	s.quiesced[i] = true
	if s.nQuiesced++; s.nQuiesced == 1 {
		s.stopAll()
	}
	if s.nQuiesced == s.n {
		s.sampleFinal()
		s.release()
	}
}

// sampleFinal takes the final full sample, once. The caller holds mu.
func (s *shardSet) sampleFinal() {
	if s.sampler == nil || s.final != nil || s.released {
		return
	}
	t0 := time.Now()
	if st, err := s.sampler.SampleFull(); err == nil {
		s.final = &TimedStates{UnixNano: t0.UnixNano(), States: st, Cost: time.Since(t0), RSS: loadgen.RSS()}
	}
}

// stopAll tells every started shard to stop, by closing its stop pipe,
// and every shard that starts from now on. The caller holds mu.
func (s *shardSet) stopAll() {
	s.stopping = true
	for i, stop := range s.stops {
		if !s.signaled[i] {
			s.signaled[i] = true
			stop.Close()
		}
	}
}

// release closes the go-ahead pipes, once. The caller holds mu.
func (s *shardSet) release() {
	if s.released {
		return
	}
	s.released = true
	for _, g := range s.gates {
		g.Close()
	}
}

// abort stops every shard and lets them all close their connections.
func (s *shardSet) abort() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stopAll()
	s.release()
}
