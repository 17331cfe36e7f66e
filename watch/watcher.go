package watch

import (
	"cmp"
	"context"
	"net/netip"
	"slices"
	"time"
)

// Watcher keeps a namespace's recent samples, one window long, and reports
// on them.
type Watcher struct {
	// Window is how far back the rates and the fit look.
	Window time.Duration
	// Namespace names what is watched, for the report.
	Namespace string
	samples   []*Sample
}

// Add takes a sample, newer than the last one: it counts its new sockets
// per destination against the sample before and drops the samples that
// fell out of the window.
func (w *Watcher) Add(s *Sample) {
	if n := len(w.samples); n > 0 {
		prev := w.samples[n-1]
		for dst, d := range s.Dests {
			var before map[uint64]struct{}
			if p := prev.Dests[dst]; p != nil {
				before = p.cookies
			}
			for c := range d.cookies {
				if _, ok := before[c]; !ok {
					d.New++
				}
			}
		}
		for _, d := range prev.Dests {
			d.cookies = nil // only the last sample's are needed
		}
	}
	w.samples = append(w.samples, s)
	cut := 0
	for cut < len(w.samples)-1 && s.At.Sub(w.samples[cut].At) > w.Window {
		cut++
	}
	w.samples = slices.Delete(w.samples, 0, cut)
}

// Report is what one look shows: the namespace's budget, and its
// destinations, least headroom first.
type Report struct {
	At        time.Time `json:"at"`
	Namespace string    `json:"namespace"`
	// PortRange is ip_local_port_range ("50000 50199"), RangeSize its
	// ports; Reserved the ports of it ip_local_reserved_ports takes,
	// Bound those bind() holds (see Sample); Budget what each
	// destination may use.
	PortRange string `json:"port_range"`
	RangeSize int    `json:"range_size"`
	Reserved  int    `json:"reserved_ports"`
	Bound     int    `json:"bound_ports"`
	Budget    int    `json:"budget"`
	// WindowSeconds is the span the rates are measured over, Samples the
	// samples in it.
	WindowSeconds float64 `json:"window_seconds"`
	Samples       int     `json:"samples"`
	// Destinations counts every destination with client sockets.
	Destinations int   `json:"destinations"`
	Rows         []Row `json:"rows"`
}

// Row is one destination of a Report.
type Row struct {
	Destination string `json:"destination"`
	// PortsInUse is the distinct local ports of the range its sockets
	// hold, TIME_WAIT included; Headroom what is left of the budget.
	PortsInUse int `json:"ports_in_use"`
	Budget     int `json:"budget"`
	Headroom   int `json:"headroom"`
	// NewPerSecond is the sockets first seen in a sample, per second of
	// the window: a connection opened and gone between two samples
	// (closed with RST) is missed.
	NewPerSecond float64    `json:"new_per_second"`
	Established  int        `json:"established"`
	TimeWait     int        `json:"time_wait"`
	CloseWait    int        `json:"close_wait"`
	Projection   Projection `json:"projection"`
	// Says is the projection in words.
	Says string `json:"says"`
}

// Report reports on the samples in the window: every destination of the
// last sample, least headroom first (then by address), top of them at
// most (0: all).
func (w *Watcher) Report(top int) Report {
	if len(w.samples) == 0 {
		return Report{Namespace: w.Namespace}
	}
	first, last := w.samples[0], w.samples[len(w.samples)-1]
	reserved, _ := portSet(last.Reserved, last.Range)
	r := Report{At: last.At, Namespace: w.Namespace, PortRange: last.Range.String(), RangeSize: last.Range.Size(),
		Reserved: len(reserved), Bound: last.Bound, Budget: last.Budget,
		WindowSeconds: last.At.Sub(first.At).Seconds(), Samples: len(w.samples), Destinations: len(last.Dests)}
	for dst, d := range last.Dests {
		row := Row{Destination: dst.String(), PortsInUse: d.States.PortsInUse, Budget: last.Budget,
			Headroom: max(0, last.Budget-d.States.PortsInUse), Established: d.States.Established,
			TimeWait: d.States.TimeWait, CloseWait: d.States.CloseWait}
		row.Projection = Project(w.points(dst), last.Budget)
		row.Says = row.Projection.String()
		if r.WindowSeconds > 0 {
			n := 0
			for _, s := range w.samples[1:] {
				if sd := s.Dests[dst]; sd != nil {
					n += sd.New
				}
			}
			row.NewPerSecond = float64(n) / r.WindowSeconds
		}
		r.Rows = append(r.Rows, row)
	}
	slices.SortFunc(r.Rows, func(a, b Row) int {
		if c := cmp.Compare(a.Headroom, b.Headroom); c != 0 {
			return c
		}
		return netip.MustParseAddrPort(a.Destination).Compare(netip.MustParseAddrPort(b.Destination))
	})
	if top > 0 && len(r.Rows) > top {
		r.Rows = r.Rows[:top]
	}
	return r
}

// points is a destination's ports in use over the window: 0 in a sample
// where it had no socket.
func (w *Watcher) points(dst netip.AddrPort) []Point {
	t0 := w.samples[0].At
	pts := make([]Point, len(w.samples))
	for i, s := range w.samples {
		pts[i].T = s.At.Sub(t0).Seconds()
		if d := s.Dests[dst]; d != nil {
			pts[i].InUse = d.States.PortsInUse
		}
	}
	return pts
}

// Loop samples n every interval into w and hands show a report (top rows
// at most) after each sample until ctx ends; with once, one report only,
// once the samples span the window. A failed sample ends it.
//
// Its cost stays bounded however many sockets the namespace holds: a
// sample dumps every socket, so the wait after one is at least
// costShare times what it took (NextWait), and watch spends at most
// about a tenth of a CPU on sampling.
func Loop(ctx context.Context, n *Namespace, w *Watcher, interval time.Duration, once bool, top int, show func(*Report) error) error {
	timer := time.NewTimer(interval)
	defer timer.Stop()
	var start time.Time
	for {
		t0 := time.Now()
		s, err := n.Sample()
		if err != nil {
			return err
		}
		timer.Reset(NextWait(interval, time.Since(t0)))
		if start.IsZero() {
			start = s.At
		}
		w.Add(s)
		if !once || s.At.Sub(start) >= w.Window {
			r := w.Report(top)
			if err := show(&r); err != nil || once {
				return err
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case <-timer.C:
		}
	}
}

// costShare is how many times a sample's cost the wait after it is at
// least.
const costShare = 10

// NextWait is the wait until the next sample, from its start: the
// interval asked for, or costShare times what the last sample cost if
// that is longer.
func NextWait(interval, cost time.Duration) time.Duration {
	return max(interval, costShare*cost)
}
