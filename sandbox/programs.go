package sandbox

import (
	"bufio"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/portex/portex/loadgen"
	"github.com/portex/portex/result"
)

// The program role: the user's own programs, run in the client's
// namespace once the sandbox is set up (sysctls, range, nofile, the echo
// server listening). portex cannot see their errno, so it measures the
// kernel's side: the namespace's sockets per destination every
// programSampleEvery, against each destination's budget; the first moment
// one is full is the run's exhaustion, as for pools. Their output is
// captured (bounded), streamed as events, and read for the wordings of
// failed connects (loadgen.ClassifyOutput).

// Bounds of the program role.
const (
	programSampleEvery = 100 * time.Millisecond
	// programGrace is how long a program has to exit after SIGTERM
	// before it gets SIGKILL.
	programGrace = 2 * time.Second
	// outputTailBytes is how much of a program's output is kept from its
	// end; outputHeadLines, how many lines from its start.
	outputTailBytes = 64 << 10
	outputHeadLines = 20
	// outputLineBytes bounds one line in events and in the head.
	outputLineBytes = 1024
	// outputEvents bounds the lines a program streams as events.
	outputEvents = 1000
)

// StoppedExited is a programs run's Stopped when every program exited by
// itself.
const StoppedExited = "exited"

// ProgramEnv is the environment portex gives a program beside the
// agent's: the server's address, whole and in parts, and each of its
// ports (PORTEX_SERVER_PORT_0, _1, ...).
func ProgramEnv(server netip.Addr, ports []int) []string {
	env := []string{
		"PORTEX_SERVER=" + netip.AddrPortFrom(server, uint16(ports[0])).String(),
		"PORTEX_SERVER_HOST=" + server.String(),
		"PORTEX_SERVER_PORT=" + strconv.Itoa(ports[0]),
	}
	for i, p := range ports {
		env = append(env, fmt.Sprintf("PORTEX_SERVER_PORT_%d=%d", i, p))
	}
	return env
}

// RefusePrograms refuses, as runtime, a plan with programs.
func RefusePrograms(runtime string, p *loadgen.Plan) error {
	if len(p.Programs) == 0 {
		return nil
	}
	return &Unsupported{Runtime: runtime, Key: "programs",
		Reason: "programs run on the netns runtime only; use --runtime netns"}
}

// runningProgram is one program started, and what it printed.
type runningProgram struct {
	res     result.ProgramResult
	cmd     *exec.Cmd
	out     *os.File // the read end of its stdout and stderr
	start   time.Time
	done    chan struct{} // closed once the program exited and its output is read
	stopped bool          // portex sent it a signal
	partial bool          // the last piece read did not end its line
	mu      sync.Mutex    // guards res and stopped
}

// runPrograms runs the plan's programs in this namespace until all have
// exited, or the plan's duration or ctx ends them, sampling the sockets.
func runPrograms(ctx context.Context, req *Request, c *clientSide, out *encoder) (*result.Result, error) {
	p := req.Plan
	start := time.Now()
	res := &result.Result{Variant: p.Variant, Runtime: p.Runtime, StartedAt: start, Failures: map[string]int64{}}
	var ports []int
	for _, l := range p.Server.Listeners {
		ports = append(ports, l.Port)
	}
	server := netip.AddrPortFrom(c.target, uint16(ports[0])).String()
	env := append(childEnv(), ProgramEnv(c.target, ports)...)
	budget := 0
	if c.hi > 0 {
		reserved, _ := os.ReadFile("/proc/sys/net/ipv4/ip_local_reserved_ports")
		budget, _ = loadgen.DestinationBudget(loadgen.PortRange{Lo: c.lo, Hi: c.hi}, strings.TrimSpace(string(reserved)), 0)
	}
	since := func() float64 { return time.Since(start).Seconds() }
	// The result keeps the run's events as the engine's does, but for
	// progress and the output lines, which the result keeps bounded.
	var evMu sync.Mutex
	send := func(ev result.Event) {
		if ev.Type != result.EventProgress && ev.Type != result.EventOutput {
			evMu.Lock()
			res.Events = append(res.Events, ev)
			evMu.Unlock()
		}
		out.send(Message{Type: MsgEvent, Event: &ev})
	}

	var progs []*runningProgram
	stopAll := func(sig syscall.Signal) {
		for _, rp := range progs {
			select {
			case <-rp.done:
			default:
				rp.mu.Lock()
				rp.stopped = true
				rp.mu.Unlock()
				syscall.Kill(-rp.cmd.Process.Pid, sig)
			}
		}
	}
	for _, pr := range p.Programs {
		rp, err := startProgram(pr, server, env, start, since, send)
		if err != nil {
			stopAll(syscall.SIGKILL)
			for _, rp := range progs {
				<-rp.done
			}
			return res, err
		}
		progs = append(progs, rp)
	}
	allDone := make(chan struct{})
	go func() {
		for _, rp := range progs {
			<-rp.done
		}
		close(allDone)
	}()

	runCtx, cancel := context.WithTimeout(ctx, p.Duration)
	defer cancel()
	ts := &result.TimeSeries{IntervalSeconds: programSampleEvery.Seconds()}
	peaks := destinationPeaks{}
	var kernel loadgen.KernelMoves
	kernel.Moves()
	tick := time.NewTicker(programSampleEvery)
	defer tick.Stop()
	lastProgress := time.Time{}
	sample := func() {
		if c.sampler == nil {
			return
		}
		dests, err := c.sampler.SampleDestinations()
		if err != nil {
			return
		}
		var total result.SocketStates
		var full *result.DestinationSockets
		for i, d := range dests {
			addStates(&total, d.Sockets)
			peaks.add(d, budget, since())
			if full == nil && res.Exhaustion == nil && loadgen.DestinationExhausted(d, budget) {
				full = &dests[i]
			}
		}
		if full != nil {
			snap := full.Sockets
			at := since()
			class := loadgen.ClassEADDRNOTAVAIL.String()
			// Every port in use but a handshake's was a connection the
			// program opened: at least that many came before.
			res.Exhaustion = &result.Exhaustion{Class: class, AtSeconds: at, Sockets: &snap,
				OpenConnections: int64(total.Established), DialsOKBefore: int64(snap.Total() - snap.SynSent)}
			send(result.Event{Type: result.EventExhaustion, AtSeconds: at, Class: class,
				Message: fmt.Sprintf("%s: %d local ports in use of a budget of %d (%d in TIME_WAIT)",
					full.Destination, snap.PortsInUse, budget, snap.TimeWait),
				Progress: &result.Progress{Open: int64(total.Established), Client: &snap}})
		}
		res.PeakOpen = max(res.PeakOpen, int64(total.Established))
		t := since()
		ts.Points = append(ts.Points, result.Point{T: t, Open: int64(total.Established), Client: &total, Kernel: kernel.Moves()})
		if time.Since(lastProgress) >= progressEvery {
			lastProgress = time.Now()
			send(result.Event{Type: result.EventProgress, AtSeconds: t,
				Progress: &result.Progress{Open: int64(total.Established), Client: &total}})
		}
	}
	sample()
	stopped := ""
loop:
	for {
		select {
		case <-allDone:
			sample()
			stopped = StoppedExited
			break loop
		case <-tick.C:
			sample()
		case <-runCtx.Done():
			sample()
			stopped = result.StoppedDuration
			if ctx.Err() != nil {
				stopped = result.StoppedInterrupted
			}
			stopAll(syscall.SIGTERM)
			select {
			case <-allDone:
			case <-time.After(programGrace):
				stopAll(syscall.SIGKILL)
				select {
				case <-allDone:
				case <-time.After(programGrace):
					// A process that left the group still holds the
					// output open: stop reading it.
					for _, rp := range progs {
						select {
						case <-rp.done:
						default:
							rp.out.Close()
							res.Notes = append(res.Notes, fmt.Sprintf("program %q: a process it started left its process group and outlived it, holding its output open", rp.res.Name))
						}
					}
					<-allDone
				}
			}
			break loop
		}
	}
	res.ElapsedSeconds = since()
	res.Stopped = stopped
	if res.Exhaustion != nil && stopped == StoppedExited {
		res.Stopped = result.StoppedExhaustion
	}
	send(result.Event{Type: result.EventEnd, AtSeconds: res.ElapsedSeconds, Message: res.Stopped})
	evMu.Lock()
	slices.SortStableFunc(res.Events, func(a, b result.Event) int { return cmp.Compare(a.AtSeconds, b.AtSeconds) })
	evMu.Unlock()
	res.TimeSeries = ts
	res.Destinations = peaks.list()
	var failed []string
	for _, rp := range progs {
		rp.mu.Lock()
		res.Programs = append(res.Programs, rp.res)
		rp.mu.Unlock()
		if rp.res.Signal != "" && !rp.res.StoppedByPortex {
			failed = append(failed, fmt.Sprintf("program %q was killed by signal %s", rp.res.Name, rp.res.Signal))
		}
	}
	if len(failed) > 0 {
		return res, errors.New(strings.Join(failed, "; "))
	}
	return res, nil
}

// startProgram starts pr in its own process group, its stdout and stderr
// read line by line until it exits.
func startProgram(pr loadgen.Program, server string, env []string, runStart time.Time, since func() float64, send func(result.Event)) (*runningProgram, error) {
	argv := pr.Argv(server)
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = append([]string(nil), env...)
	for k, v := range pr.Env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	r, w, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	cmd.Stdout, cmd.Stderr = w, w
	if err := cmd.Start(); err != nil {
		r.Close()
		w.Close()
		return nil, fmt.Errorf("program %q did not start: %v", pr.Name, err)
	}
	w.Close()
	rp := &runningProgram{cmd: cmd, out: r, start: time.Now(), done: make(chan struct{}),
		res: result.ProgramResult{Name: pr.Name, Argv: argv}}
	go func() {
		defer close(rp.done)
		rp.read(r, since, send)
		r.Close()
		err := cmd.Wait()
		rp.mu.Lock()
		defer rp.mu.Unlock()
		rp.res.ElapsedSeconds = time.Since(rp.start).Seconds()
		rp.res.StoppedByPortex = rp.stopped
		var ee *exec.ExitError
		switch {
		case errors.As(err, &ee):
			if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
				rp.res.ExitCode, rp.res.Signal = -1, ws.Signal().String()
			} else {
				rp.res.ExitCode = ee.ExitCode()
			}
		case err != nil:
			rp.res.ExitCode, rp.res.Signal = -1, err.Error()
		}
	}()
	return rp, nil
}

// read reads the program's output to its end: each line goes out as an
// event (up to outputEvents), into the head (the first lines) and the
// tail (the last bytes), and is classified.
func (rp *runningProgram) read(r io.Reader, since func() float64, send func(result.Event)) {
	br := bufio.NewReaderSize(r, 64<<10)
	var tail []byte
	lines := 0
	for {
		line, err := br.ReadSlice('\n')
		if len(line) > 0 {
			tail = append(tail, line...)
			if len(tail) > 2*outputTailBytes {
				tail = append(tail[:0], tail[len(tail)-outputTailBytes:]...)
			}
			text := strings.TrimRight(string(line[:min(len(line), outputLineBytes)]), "\r\n")
			at := since()
			rp.mu.Lock()
			rp.res.OutputBytes += int64(len(line))
			// A line longer than the buffer comes in pieces: only its
			// first piece counts as a line.
			whole := !rp.partial
			rp.partial = line[len(line)-1] != '\n'
			if whole {
				lines++
				if lines <= outputHeadLines {
					rp.res.OutputHead += text + "\n"
				}
				if rp.res.FirstErrorLine == "" {
					if m, ok := loadgen.ClassifyOutput(text); ok {
						rp.res.FirstErrorLine, rp.res.FirstErrorClass, rp.res.FirstErrorRuntime = text, m.Class.String(), m.Runtime
						rp.res.FirstErrorAtSeconds = &at
						send(result.Event{Type: result.EventFirstFailure, AtSeconds: at, Class: m.Class.String(), Program: rp.res.Name, Message: text})
					}
				}
			}
			rp.mu.Unlock()
			if whole && lines <= outputEvents {
				send(result.Event{Type: result.EventOutput, AtSeconds: at, Program: rp.res.Name, Message: text})
			}
		}
		if err != nil && err != bufio.ErrBufferFull {
			break
		}
	}
	if len(tail) > outputTailBytes {
		tail = tail[len(tail)-outputTailBytes:]
	}
	rp.mu.Lock()
	rp.res.OutputTail = string(tail)
	rp.mu.Unlock()
}

// destinationPeaks keeps each destination's peaks over the samples.
type destinationPeaks map[netip.AddrPort]*result.DestinationPeak

func (dp destinationPeaks) add(d result.DestinationSockets, budget int, at float64) {
	p := dp[d.Destination]
	if p == nil {
		p = &result.DestinationPeak{Destination: d.Destination.String(), Budget: budget}
		dp[d.Destination] = p
	}
	if d.Sockets.PortsInUse > p.PortsInUse {
		p.PortsInUse, p.AtSeconds = d.Sockets.PortsInUse, at
	}
	p.TimeWait = max(p.TimeWait, d.Sockets.TimeWait)
	p.CloseWait = max(p.CloseWait, d.Sockets.CloseWait)
}

// list is the peaks, the fullest destination first.
func (dp destinationPeaks) list() []result.DestinationPeak {
	out := make([]result.DestinationPeak, 0, len(dp))
	for _, p := range dp {
		out = append(out, *p)
	}
	result.SortPeaks(out)
	return out
}

// addStates adds the sockets of one destination, s, to total.
func addStates(total *result.SocketStates, s result.SocketStates) {
	total.Established += s.Established
	total.SynSent += s.SynSent
	total.SynRecv += s.SynRecv
	total.FinWait1 += s.FinWait1
	total.FinWait2 += s.FinWait2
	total.TimeWait += s.TimeWait
	total.CloseWait += s.CloseWait
	total.LastAck += s.LastAck
	total.Closing += s.Closing
	total.Listen += s.Listen
	total.Unsorted += s.Unsorted
	// Each destination has a budget of its own: the ports in use that
	// count are the fullest destination's.
	total.PortsInUse = max(total.PortsInUse, s.PortsInUse)
	total.TimeWaitRecent += s.TimeWaitRecent
}
