package sandbox

import (
	"bufio"
	"fmt"
	"io"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"sync"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"
	"github.com/vishvananda/netns"

	"github.com/portex/portex/loadgen"
	"github.com/portex/portex/result"
)

// readConntrackStats reads the router's conntrack statistics
// (/proc/<pid>/net/stat/nf_conntrack, see parseConntrackStats) and, with
// limited, the packets its conntrack limit dropped; nil when there is
// none to read (no router, or no conntrack in its namespace).
func readConntrackStats(pid int, limited bool) *result.Conntrack {
	if pid <= 0 {
		return nil
	}
	f, err := os.Open(fmt.Sprintf("/proc/%d/net/stat/nf_conntrack", pid))
	if err != nil {
		return nil
	}
	defer f.Close()
	ct := parseConntrackStats(f)
	if ct != nil && limited {
		ct.LimitDrops = readLimitDrops(pid)
	}
	return ct
}

// parseConntrackStats sums the counters of a nf_conntrack statistics
// file over its CPUs: a header line of names, then a line of hex numbers
// per CPU. It returns nil for a file it cannot read.
func parseConntrackStats(r io.Reader) *result.Conntrack {
	sc := bufio.NewScanner(r)
	if !sc.Scan() {
		return nil
	}
	names := strings.Fields(sc.Text())
	sums := make([]uint64, len(names))
	for sc.Scan() {
		for i, v := range strings.Fields(sc.Text()) {
			if i >= len(sums) {
				break
			}
			n, err := strconv.ParseUint(v, 16, 64)
			if err != nil {
				return nil
			}
			sums[i] += n
		}
	}
	var ct result.Conntrack
	for i, name := range names {
		switch name {
		case "insert_failed":
			ct.InsertFailed = sums[i]
		case "drop":
			ct.Drop = sums[i]
		case "early_drop":
			ct.EarlyDrop = sums[i]
		}
	}
	return &ct
}

// readLimitDrops reads the packet counter of the router's conntrack limit
// rule (installNAT's forward chain) through netlink in its namespace; 0
// when it has none.
func readLimitDrops(pid int) uint64 {
	ns, err := netns.GetFromPid(pid)
	if err != nil {
		return 0
	}
	defer ns.Close()
	c, err := nftables.New(nftables.WithNetNSFd(int(ns)))
	if err != nil {
		return 0
	}
	defer c.CloseLasting()
	rules, err := c.GetRules(&nftables.Table{Family: nftables.TableFamilyIPv4, Name: natTable}, &nftables.Chain{Name: limitChain})
	if err != nil {
		return 0
	}
	var n uint64
	for _, r := range rules {
		for _, e := range r.Exprs {
			if ctr, ok := e.(*expr.Counter); ok {
				n += ctr.Packets
			}
		}
	}
	return n
}

// readConntrackTable reads the router's conntrack table
// (/proc/<pid>/net/nf_conntrack); nil when it cannot be read.
func readConntrackTable(pid int) *result.NATTable {
	if pid <= 0 {
		return nil
	}
	f, err := os.Open(fmt.Sprintf("/proc/%d/net/nf_conntrack", pid))
	if err != nil {
		return nil
	}
	defer f.Close()
	return parseConntrackTable(f)
}

// parseConntrackTable counts the TCP entries of a nf_conntrack table by
// state and by original destination. A line reads
//
//	ipv4 2 tcp 6 117 TIME_WAIT src=198.18.0.1 dst=198.19.0.1 sport=40000 dport=7000 src=198.19.0.1 ...
//
// the state after the timeout, then the original direction's tuple
// first, the reply direction's after it.
func parseConntrackTable(r io.Reader) *result.NATTable {
	t := &result.NATTable{States: map[string]int{}, Destinations: map[string]int{}}
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 6 || f[2] != "tcp" {
			continue
		}
		var dst, dport string
		for _, kv := range f[6:] {
			if v, ok := strings.CutPrefix(kv, "dst="); ok && dst == "" {
				dst = v
			} else if v, ok := strings.CutPrefix(kv, "dport="); ok && dport == "" {
				dport = v
			}
		}
		t.Entries++
		t.States[f[5]]++
		if a, err := netip.ParseAddr(dst); err == nil {
			if p, err := strconv.ParseUint(dport, 10, 16); err == nil {
				t.Destinations[netip.AddrPortFrom(a, uint16(p)).String()]++
			}
		}
	}
	return t
}

// natWatch detects, beside the engine, that the NAT ran out: the client's
// dials time out while the router's insert_failed rises (the NAT found no
// free port for a SYN and dropped it) or its conntrack limit drops SYNs.
// It sees the engine's events and points, and gives each point the
// router's counters and table; callers may call it from several
// goroutines.
type natWatch struct {
	routerPid int
	limited   bool // the NAT has a conntrack limit (nat.conntrack.max)
	sysctls   map[string]string
	start     *result.Conntrack

	mu        sync.Mutex // guards the fields below
	at        float64    // when the first timeout after insert_failed rose came; -1: none yet
	limit     string     // what ran out then: "" (ports) or "conntrack"
	class     string     // the class of the timeouts that showed it
	ok        int64      // successful dials in the points up to at's
	open      int64      // connections held at the point of at
	pointOpen bool       // at's point was seen
	peak      *result.NATTable
	peakTW    int
}

func newNATWatch(r *routerProc, n *loadgen.NAT) *natWatch {
	w := &natWatch{routerPid: r.pid(), limited: n.Conntrack.Max > 0, sysctls: r.sysctls, at: -1}
	w.start = w.stats()
	return w
}

// stats reads the router's counters now.
func (w *natWatch) stats() *result.Conntrack { return readConntrackStats(w.routerPid, w.limited) }

// ranOut says whether the NAT has refused connections since the start,
// and what ran out, as Exhaustion.Limit says it: "" its ports (its
// insert_failed rose), "conntrack" its limit (the limit's rule dropped).
func (w *natWatch) ranOut(now *result.Conntrack) (limit string, ok bool) {
	switch {
	case w.start == nil || now == nil:
		return "", false
	case now.InsertFailed > w.start.InsertFailed:
		return "", true
	case now.LimitDrops > w.start.LimitDrops:
		return "conntrack", true
	}
	return "", false
}

// event takes the engine's events: the first timeout, if the router
// refused connections by then, is the moment the NAT ran out.
func (w *natWatch) event(ev result.Event) {
	if ev.Type != result.EventFirstFailure || !timedOut(ev.Class) {
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.at < 0 {
		if limit, ok := w.ranOut(w.stats()); ok {
			w.at, w.limit, w.class = ev.AtSeconds, limit, ev.Class
		}
	}
}

// timedOut reports whether a failure class is a dial that timed out, the
// kernel's (ETIMEDOUT: its SYN retries ran out) or portex's own
// (connect_timeout): what a NAT that drops SYNs leaves the client.
func timedOut(class string) bool {
	return class == loadgen.ClassETIMEDOUT.String() || class == loadgen.ClassTimeout.String()
}

// timeouts counts a point's timed-out dials and names the class of most.
func timeouts(pt *result.Point) (int64, string) {
	k, t := pt.Failures[loadgen.ClassETIMEDOUT.String()], pt.Failures[loadgen.ClassTimeout.String()]
	if k > t {
		return k + t, loadgen.ClassETIMEDOUT.String()
	}
	return k + t, loadgen.ClassTimeout.String()
}

// point takes the engine's points and gives each the growth of the
// router's counters since the start and its table at the point's end. A
// point with timeouts, once the router refused connections, marks the NAT
// out at its end if no event did; the dials that succeeded up to the
// point that holds that moment are the connections the NAT gave.
func (w *natWatch) point(pt *result.Point) {
	now := w.stats()
	if w.start != nil && now != nil {
		pt.NAT = &result.Conntrack{InsertFailed: now.InsertFailed - w.start.InsertFailed,
			Drop: now.Drop - w.start.Drop, EarlyDrop: now.EarlyDrop - w.start.EarlyDrop,
			LimitDrops: now.LimitDrops - w.start.LimitDrops}
	}
	pt.NATTable = readConntrackTable(w.routerPid)
	w.mu.Lock()
	defer w.mu.Unlock()
	if tb := pt.NATTable; tb != nil {
		if w.peak == nil || tb.Entries > w.peak.Entries {
			w.peak = tb
		}
		w.peakTW = max(w.peakTW, tb.States["TIME_WAIT"])
	}
	if w.pointOpen {
		return
	}
	if n, class := timeouts(pt); w.at < 0 && n > 0 {
		if limit, ok := w.ranOut(now); ok {
			w.at, w.limit, w.class = pt.T, limit, class
		}
	}
	w.ok += pt.OK
	if w.at >= 0 && pt.T >= w.at {
		w.open, w.pointOpen = pt.Open, true
	}
}

// replay judges a sharded run, whose events and points came whole at its
// end, as event and point judge a run as it goes: if the router refused
// connections by the end, the first timeout is when the NAT ran out, and
// the points up to it count the connections it gave. The points of a
// sharded run carry no router counters.
func (w *natWatch) replay(run *result.Result) {
	limit, ok := w.ranOut(w.stats())
	if !ok {
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.at >= 0 {
		return
	}
	for _, ev := range run.Events {
		if ev.Type == result.EventFirstFailure && timedOut(ev.Class) && (w.at < 0 || ev.AtSeconds < w.at) {
			w.at, w.limit, w.class = ev.AtSeconds, limit, ev.Class
		}
	}
	if w.at < 0 || run.TimeSeries == nil {
		return
	}
	for _, pt := range run.TimeSeries.Points {
		w.ok += pt.OK
		if pt.T >= w.at {
			w.open, w.pointOpen = pt.Open, true
			break
		}
	}
}

// finish reads the router's counters once more and returns the NAT's part
// of the result, and the exhaustion it saw (nil: none), for the plan's
// destinations.
func (w *natWatch) finish(p *loadgen.Plan) (*result.NAT, *result.Exhaustion) {
	n := &result.NAT{Mode: p.NAT.Mode, Ports: p.NAT.Ports.Size(), RandomFully: p.NAT.RandomFully,
		Addresses: p.NAT.Addresses, PerClientPorts: p.NAT.PerClientPorts, ConntrackMax: p.NAT.Conntrack.Max,
		Sysctls: w.sysctls, Start: w.start, End: w.stats()}
	w.mu.Lock()
	defer w.mu.Unlock()
	n.Peak, n.PeakTimeWait = w.peak, w.peakTW
	if w.at < 0 {
		return n, nil
	}
	return n, &result.Exhaustion{Where: "nat", Limit: w.limit, Destination: destinations(p), Class: w.class,
		AtSeconds: w.at, DialsOKBefore: w.ok, OpenConnections: w.open}
}

// routerSysctls are the router's conntrack settings a result reports,
// read back by the router in its namespace (nf_conntrack_max shows the
// limit of the whole machine: a namespace cannot change it).
var routerSysctls = []string{
	"net.netfilter.nf_conntrack_tcp_timeout_time_wait",
	"net.netfilter.nf_conntrack_tcp_timeout_established",
	"net.netfilter.nf_conntrack_tcp_timeout_close_wait",
	"net.netfilter.nf_conntrack_max",
}

// destinations names the server addresses the plan's pools dial.
func destinations(p *loadgen.Plan) string {
	var ds []string
	seen := map[int]bool{}
	for _, pl := range p.Pools {
		for _, port := range pl.Ports {
			if !seen[port] {
				seen[port] = true
				ds = append(ds, netip.AddrPortFrom(ServerAddr, uint16(port)).String())
			}
		}
	}
	return strings.Join(ds, ", ")
}
