package sandbox

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/netip"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/google/nftables"
	"github.com/google/nftables/binaryutil"
	"github.com/google/nftables/expr"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/portex/portex/loadgen"
	"github.com/portex/portex/result"
)

// The router role (Plan.NAT): a third network namespace between the
// client's and the server's, inside the client agent's user namespace.
//
//	client 198.18.0.1/16 (portex0) ── portexr0 198.18.255.254/16
//	                     router, ip_forward=1, nftables postrouting nat
//	server 198.19.0.1/16 (portex1) ── portexr1 198.19.255.254/16
//
// The client routes 198.19.0.0/16 through the router; the server has no
// route to 198.18.0.0/16 at all, so it answers only what the router
// translated to its own server-side address. The router process sets its
// namespace up (forwarding, the nat table) once the guard agrees, says
// ready, and waits to be stopped; the client agent wires the links and
// reads the router's conntrack counters from /proc/<pid>/net.

// The router's addresses, one on each side.
var (
	RouterClientAddr = netip.MustParseAddr("198.18.255.254")
	RouterServerAddr = netip.MustParseAddr("198.19.255.254")
)

const (
	routerClientLink = "portexr0"
	routerServerLink = "portexr1"
	natPrefixLen     = 16
	natTable         = "portex"
)

// RefuseNAT refuses a plan with a NAT on a runtime that has no router
// namespace to put it in.
func RefuseNAT(runtime string, p *loadgen.Plan) error {
	if p.NAT == nil {
		return nil
	}
	return &Unsupported{Runtime: runtime, Key: "nat",
		Reason: "a NAT in the path runs on the netns runtime only (a router namespace between client and server); use --runtime netns"}
}

// runRouter is the router role: forwarding on and the NAT installed in its
// own namespace, then it waits until ctx ends.
func runRouter(ctx context.Context, req *Request, out *encoder) error {
	if req.Setup != SetupNetns {
		return fmt.Errorf("agent: the router role needs the netns setup")
	}
	if err := sandboxGuard(req.HostNetns); err != nil {
		return err
	}
	if req.Plan.NAT == nil {
		return fmt.Errorf("agent: the router role needs a plan with a nat")
	}
	if err := linkUp("lo"); err != nil {
		return err
	}
	if err := applySysctls(TopologyOf(req.Plan).Namespace(NSRouter)); err != nil {
		return fmt.Errorf("router: %w", err)
	}
	if err := installNAT(req.Plan.NAT); err != nil {
		return err
	}
	out.send(Message{Type: MsgReady})
	<-ctx.Done()
	return nil
}

// installNAT adds, in the calling process's network namespace, the table
// `ip portex` with a postrouting nat chain whose one rule is
// `ip protocol tcp snat to RouterServerAddr:LO-HI`, fully random if asked.
//
// Both modes install that rule. Masquerade picks the outgoing interface's
// address per packet, which here is always RouterServerAddr; and
// google/nftables (v0.3.0) sends a masq expression's port registers
// without the NF_NAT_RANGE_PROTO_SPECIFIED flag, which the kernel needs to
// use them (without it the client's own source port is kept), so a real
// `masquerade to :LO-HI` cannot be installed through it.
func installNAT(n *loadgen.NAT) error {
	c, err := nftables.New()
	if err != nil {
		return fmt.Errorf("router: nftables: %w", err)
	}
	t := c.AddTable(&nftables.Table{Family: nftables.TableFamilyIPv4, Name: natTable})
	ch := c.AddChain(&nftables.Chain{Name: "postrouting", Table: t, Type: nftables.ChainTypeNAT,
		Hooknum: nftables.ChainHookPostrouting, Priority: nftables.ChainPriorityNATSource})
	c.AddRule(&nftables.Rule{Table: t, Chain: ch, Exprs: []expr.Any{
		// ip protocol tcp
		&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: 9, Len: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{unix.IPPROTO_TCP}},
		&expr.Immediate{Register: 1, Data: RouterServerAddr.AsSlice()},
		&expr.Immediate{Register: 2, Data: binaryutil.BigEndian.PutUint16(uint16(n.Ports.Lo))},
		&expr.Immediate{Register: 3, Data: binaryutil.BigEndian.PutUint16(uint16(n.Ports.Hi))},
		&expr.NAT{Type: expr.NATTypeSourceNAT, Family: unix.NFPROTO_IPV4, RegAddrMin: 1,
			RegProtoMin: 2, RegProtoMax: 3, FullyRandom: n.RandomFully, Specified: true},
	}})
	if err := c.Flush(); err != nil {
		return fmt.Errorf("router: install the nat rule: %w", err)
	}
	return nil
}

// routerProc is the router's process, in its own network namespace.
type routerProc struct {
	cmd  *exec.Cmd
	done chan error
}

// startRouterProc starts `portex agent` as the router in a new network
// namespace and waits until its NAT is installed.
func startRouterProc(req *Request) (*routerProc, error) {
	rreq := *req
	rreq.Role, rreq.StopPipe, rreq.Processes = RoleRouter, false, 0
	data, err := json.Marshal(&rreq)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command("/proc/self/exe", "agent")
	cmd.Stdin = bytes.NewReader(data)
	cmd.Stderr = os.Stderr
	cmd.Env = childEnv()
	cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWNET, Setpgid: true, Pdeathsig: syscall.SIGKILL}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start router: %w", err)
	}
	r := &routerProc{cmd: cmd, done: make(chan error, 1)}
	msgs := newDecoder(stdout)
	m, err := msgs.next()
	switch {
	case err != nil:
		err = fmt.Errorf("router died while starting: %v", err)
	case m.Type == MsgError:
		err = fmt.Errorf("router: %s", m.Error)
	case m.Type != MsgReady:
		err = fmt.Errorf("router: unexpected message %q", m.Type)
	}
	if err != nil {
		cmd.Process.Kill()
		cmd.Wait()
		return nil, err
	}
	go func() {
		for {
			if _, err := msgs.next(); err != nil {
				break
			}
		}
		r.done <- cmd.Wait()
	}()
	return r, nil
}

// pid is the router's process id; 0 for none.
func (r *routerProc) pid() int {
	if r == nil {
		return 0
	}
	return r.cmd.Process.Pid
}

// stop ends the router; its namespace goes with it.
func (r *routerProc) stop() {
	if r == nil || r.cmd.ProcessState != nil {
		return
	}
	r.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-r.done:
	case <-time.After(5 * time.Second):
		r.cmd.Process.Kill()
		<-r.done
	}
	r.cmd.ProcessState = &os.ProcessState{}
}

// inNetns calls f with a netlink handle in pid's network namespace.
func inNetns(pid int, f func(*netlink.Handle) error) error {
	ns, err := netns.GetFromPid(pid)
	if err != nil {
		return fmt.Errorf("namespace of pid %d: %w", pid, err)
	}
	defer ns.Close()
	h, err := netlink.NewHandleAt(ns)
	if err != nil {
		return fmt.Errorf("namespace of pid %d: %w", pid, err)
	}
	defer h.Close()
	return f(h)
}

// readConntrackStats reads the router's conntrack statistics
// (/proc/<pid>/net/stat/nf_conntrack, see parseConntrackStats); nil when
// there is none to read (no router, or no conntrack in its namespace).
func readConntrackStats(pid int) *result.Conntrack {
	if pid <= 0 {
		return nil
	}
	f, err := os.Open(fmt.Sprintf("/proc/%d/net/stat/nf_conntrack", pid))
	if err != nil {
		return nil
	}
	defer f.Close()
	return parseConntrackStats(f)
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

// natWatch detects, beside the engine, that the NAT ran out: the client's
// dials time out while the router's insert_failed rises (the NAT found no
// free port for a SYN and dropped it). It sees the engine's events and
// points; callers may call it from several goroutines.
type natWatch struct {
	routerPid int
	start     *result.Conntrack

	mu        sync.Mutex // guards the fields below
	at        float64    // when the first timeout after insert_failed rose came; -1: none yet
	ok        int64      // successful dials in the points up to at's
	open      int64      // connections held at the point of at
	pointOpen bool       // at's point was seen
}

func newNATWatch(routerPid int) *natWatch {
	return &natWatch{routerPid: routerPid, start: readConntrackStats(routerPid), at: -1}
}

// rose reports whether insert_failed grew since the start.
func (w *natWatch) rose() bool {
	now := readConntrackStats(w.routerPid)
	return w.start != nil && now != nil && now.InsertFailed > w.start.InsertFailed
}

// event takes the engine's events: the first timeout, if the router's
// insert_failed rose by then, is the moment the NAT ran out.
func (w *natWatch) event(ev result.Event) {
	if ev.Type != result.EventFirstFailure || ev.Class != loadgen.ClassETIMEDOUT.String() {
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.at < 0 && w.rose() {
		w.at = ev.AtSeconds
	}
}

// point takes the engine's points and gives each the growth of the
// router's counters since the start. A point with timeouts, once
// insert_failed rose, marks the NAT out at its end if no event did; the
// dials that succeeded up to the point that holds that moment are the
// connections the NAT gave.
func (w *natWatch) point(pt *result.Point) {
	now := readConntrackStats(w.routerPid)
	if w.start != nil && now != nil {
		pt.NAT = &result.Conntrack{InsertFailed: now.InsertFailed - w.start.InsertFailed,
			Drop: now.Drop - w.start.Drop, EarlyDrop: now.EarlyDrop - w.start.EarlyDrop}
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.pointOpen {
		return
	}
	if w.at < 0 && pt.Failures[loadgen.ClassETIMEDOUT.String()] > 0 && pt.NAT != nil && pt.NAT.InsertFailed > 0 {
		w.at = pt.T
	}
	w.ok += pt.OK
	if w.at >= 0 && pt.T >= w.at {
		w.open, w.pointOpen = pt.Open, true
	}
}

// finish reads the router's counters once more and returns the NAT's part
// of the result, and the exhaustion it saw (nil: none), for the plan's
// destinations.
func (w *natWatch) finish(p *loadgen.Plan) (*result.NAT, *result.Exhaustion) {
	n := &result.NAT{Mode: p.NAT.Mode, Ports: p.NAT.Ports.Size(), RandomFully: p.NAT.RandomFully,
		Start: w.start, End: readConntrackStats(w.routerPid)}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.at < 0 {
		return n, nil
	}
	return n, &result.Exhaustion{Where: "nat", Destination: destinations(p), Class: loadgen.ClassETIMEDOUT.String(),
		AtSeconds: w.at, DialsOKBefore: w.ok, OpenConnections: w.open}
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
