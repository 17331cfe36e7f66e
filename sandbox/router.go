package sandbox

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"syscall"
	"time"

	"github.com/google/nftables"
	"github.com/google/nftables/binaryutil"
	"github.com/google/nftables/expr"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/portex/portex/loadgen"
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
	RouterClientAddr = loadgen.SandboxRouterClientAddr
	RouterServerAddr = loadgen.SandboxNATAddr(0)
)

const (
	routerClientLink = "portexr0"
	routerServerLink = "portexr1"
	natPrefixLen     = 16
	natTable         = "portex"
	limitChain       = "forward" // the conntrack limit's chain
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
	if err := installNAT(req.Plan.NAT, TopologyOf(req.Plan).Sources()); err != nil {
		return err
	}
	back := map[string]string{}
	for _, name := range routerSysctls {
		if v, err := readSysctl(name); err == nil {
			back[name] = v
		}
	}
	out.send(Message{Type: MsgReady, Sysctls: back})
	<-ctx.Done()
	return nil
}

// NATAddr is the router's i-th address on the server side, one it
// translates to: RouterServerAddr, then the addresses below it.
func NATAddr(i int) netip.Addr { return loadgen.SandboxNATAddr(i) }

// installNAT adds, in the calling process's network namespace, the table
// `ip portex`: a postrouting nat chain whose rules translate every TCP
// connection to the NAT's addresses and ports, and, with a conntrack
// maximum, a forward filter chain that drops connections beyond it.
//
// Without static slices there is one rule, `ip protocol tcp snat to
// NATAddr(n-1)-NATAddr(0) : LO-HI`, fully random if asked; the kernel
// picks the address by a hash of the client's and the destination's
// addresses (nf_nat_core's find_best_ips_proto) and a free port for it.
// With PerClientPorts each client address gets a rule of its own, `ip
// saddr A snat to ADDR:lo-hi`, its slice.
//
// Both modes install snat. Masquerade picks the outgoing interface's
// address per packet, which here is always RouterServerAddr; and
// google/nftables (v0.3.0) sends a masq expression's port registers
// without the NF_NAT_RANGE_PROTO_SPECIFIED flag, which the kernel needs to
// use them (without it the client's own source port is kept), so a real
// `masquerade to :LO-HI` cannot be installed through it.
func installNAT(n *loadgen.NAT, sources []netip.Addr) error {
	c, err := nftables.New()
	if err != nil {
		return fmt.Errorf("router: nftables: %w", err)
	}
	t := c.AddTable(&nftables.Table{Family: nftables.TableFamilyIPv4, Name: natTable})
	ch := c.AddChain(&nftables.Chain{Name: "postrouting", Table: t, Type: nftables.ChainTypeNAT,
		Hooknum: nftables.ChainHookPostrouting, Priority: nftables.ChainPriorityNATSource})
	if n.PerClientPorts > 0 {
		for i, src := range sources {
			addr, ports, ok := n.Slice(i)
			if !ok {
				return fmt.Errorf("router: client address %s has no slice of the NAT's ports", src)
			}
			c.AddRule(&nftables.Rule{Table: t, Chain: ch, Exprs: append(matchSource(src),
				snatTo(NATAddr(addr), NATAddr(addr), ports, n.RandomFully)...)})
		}
	} else {
		c.AddRule(&nftables.Rule{Table: t, Chain: ch, Exprs: append(matchTCP(),
			snatTo(NATAddr(n.AddressCount()-1), NATAddr(0), n.Ports, n.RandomFully)...)})
	}
	if limit := n.Conntrack.Max; limit > 0 {
		fw := c.AddChain(&nftables.Chain{Name: limitChain, Table: t, Type: nftables.ChainTypeFilter,
			Hooknum: nftables.ChainHookForward, Priority: nftables.ChainPriorityFilter})
		// ip protocol tcp ct count over MAX counter drop
		c.AddRule(&nftables.Rule{Table: t, Chain: fw, Exprs: append(matchTCP(),
			&expr.Connlimit{Count: uint32(limit), Flags: expr.NFT_CONNLIMIT_F_INV},
			&expr.Counter{},
			&expr.Verdict{Kind: expr.VerdictDrop})})
	}
	if err := c.Flush(); err != nil {
		return fmt.Errorf("router: install the nat rules: %w", err)
	}
	return nil
}

// matchTCP is `ip protocol tcp`.
func matchTCP() []expr.Any {
	return []expr.Any{
		&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: 9, Len: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{unix.IPPROTO_TCP}},
	}
}

// matchSource is `ip protocol tcp ip saddr ADDR`.
func matchSource(a netip.Addr) []expr.Any {
	return append(matchTCP(),
		&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: 12, Len: 4},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: a.AsSlice()})
}

// snatTo is `snat to LO-HI:PORTS` (`snat to LO:PORTS` for one address),
// fully random if asked.
func snatTo(lo, hi netip.Addr, ports loadgen.PortRange, randomFully bool) []expr.Any {
	nat := &expr.NAT{Type: expr.NATTypeSourceNAT, Family: unix.NFPROTO_IPV4, RegAddrMin: 1,
		RegProtoMin: 3, RegProtoMax: 4, FullyRandom: randomFully, Specified: true}
	exprs := []expr.Any{&expr.Immediate{Register: 1, Data: lo.AsSlice()}}
	if hi != lo {
		exprs = append(exprs, &expr.Immediate{Register: 2, Data: hi.AsSlice()})
		nat.RegAddrMax = 2
	}
	return append(exprs,
		&expr.Immediate{Register: 3, Data: binaryutil.BigEndian.PutUint16(uint16(ports.Lo))},
		&expr.Immediate{Register: 4, Data: binaryutil.BigEndian.PutUint16(uint16(ports.Hi))},
		nat)
}

// routerProc is the router's process, in its own network namespace.
type routerProc struct {
	cmd     *exec.Cmd
	done    chan error
	sysctls map[string]string // its conntrack sysctls, read back at its start
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
	default:
		r.sysctls = m.Sysctls
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
