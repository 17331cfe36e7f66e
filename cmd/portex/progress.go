package main

import (
	"fmt"
	"io"
	"os"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/portex/portex/loadgen"
	"github.com/portex/portex/report"
	"github.com/portex/portex/result"
)

// progress shows a run as it goes: on a terminal one live line, rewritten
// in place (ports in use / range, dials attempted per second, failures,
// elapsed, variant i of n); elsewhere (CI logs) plain periodic lines.
// Notable events (first failures, exhaustion, recovery) and each finished
// variant's verdict always get a line of their own.
type progress struct {
	w         io.Writer
	live      bool
	variant   string
	i, n      int
	rng       int
	lastT     float64
	lastDials int64   // dials attempted (ok and failed) at lastT
	printed   float64 // when the last plain line was printed
	dirty     bool    // a live line is on screen
	interval  float64 // seconds between plain lines
}

func newProgress(w io.Writer, p *loadgen.Plan, i, n int) *progress {
	return &progress{w: w, live: isTerminal(w), variant: p.Variant, i: i, n: n,
		rng: p.Sandbox.PortRange.Size(), interval: 1}
}

// isTerminal reports whether w is a terminal.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	_, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	return err == nil
}

func (p *progress) event(ev result.Event) {
	switch ev.Type {
	case result.EventProgress:
		p.progressLine(ev)
	case result.EventFirstFailure:
		if ev.Program != "" {
			p.note("%6.2fs first %s in program %s's output: %s", ev.AtSeconds, ev.Class, ev.Program, ev.Message)
			break
		}
		p.note("%6.2fs first %s (pool %s)", ev.AtSeconds, ev.Class, ev.Pool)
	case result.EventOutput:
		p.note("%6.2fs %s| %s", ev.AtSeconds, ev.Program, ev.Message)
	case result.EventExhaustion:
		var open int64
		var sockets string
		if ev.Progress != nil {
			open = ev.Progress.Open
			if c := ev.Progress.Client; c != nil {
				sockets = fmt.Sprintf("%d sockets in TIME_WAIT, %d in CLOSE_WAIT", c.TimeWait, c.CloseWait)
				if c.PortsCounted() {
					sockets = fmt.Sprintf("%d ports in use, %s", c.PortsInUse, sockets)
				}
				sockets = "; " + sockets
			}
		}
		p.note("%6.2fs ports exhausted (%s) with %d connections open%s", ev.AtSeconds, ev.Class, open, sockets)
	case result.EventRecovery:
		p.note("%6.2fs recovered: a new connection got a port (pool %s)", ev.AtSeconds, ev.Pool)
	case result.EventDropped:
		p.note("%6.2fs first dropped arrival: every slot busy (pool %s)", ev.AtSeconds, ev.Pool)
	case result.EventEnd:
		p.clear()
	}
}

func (p *progress) progressLine(ev result.Event) {
	pr := ev.Progress
	if pr == nil {
		return
	}
	// Every attempt counts, failed or not: a run whose dials all fail
	// still dials.
	rate := 0.0
	if dt := ev.AtSeconds - p.lastT; dt > 0 {
		rate = float64(pr.Attempted-p.lastDials) / dt
	}
	p.lastT, p.lastDials = ev.AtSeconds, pr.Attempted
	var b strings.Builder
	fmt.Fprintf(&b, "%6.2fs [%d/%d %s] ", ev.AtSeconds, p.i, p.n, p.variant)
	if pr.Client != nil && pr.Client.PortsCounted() {
		if p.rng > 0 {
			fmt.Fprintf(&b, "ports %d/%d · ", pr.Client.PortsInUse, p.rng)
		} else {
			fmt.Fprintf(&b, "ports %d · ", pr.Client.PortsInUse)
		}
	}
	if pr.Client != nil {
		fmt.Fprintf(&b, "TIME_WAIT %d · ", pr.Client.TimeWait)
	}
	fmt.Fprintf(&b, "%.0f dials/s · ok %d · failed %d · open %d", rate, pr.OK, pr.Failed, pr.Open)
	line := report.Printable(b.String())
	if p.live {
		fmt.Fprintf(p.w, "\r\033[K%s", line)
		p.dirty = true
		return
	}
	if ev.AtSeconds-p.printed >= p.interval {
		p.printed = ev.AtSeconds
		fmt.Fprintf(p.w, "portex: %s\n", line)
	}
}

// done leaves the variant's verdict on a line of its own, in place of the
// live line: one line per finished variant stays on screen, and a run
// whose summary goes to a file or a pipe still shows it. A nil progress
// (--quiet) prints nothing.
func (p *progress) done(res *result.Result) {
	if p == nil || res == nil {
		return
	}
	p.note("[%d/%d %s] %s", p.i, p.n, p.variant, report.Verdict(res))
}

// note prints an event on a line of its own, above the live line. Names
// and classes come from the agent and the scenario: their control
// characters are printed as spaces.
func (p *progress) note(format string, args ...any) {
	p.clear()
	fmt.Fprintf(p.w, "portex: %s\n", report.Printable(fmt.Sprintf(format, args...)))
}

func (p *progress) clear() {
	if p.dirty {
		fmt.Fprint(p.w, "\r\033[K")
		p.dirty = false
	}
}
