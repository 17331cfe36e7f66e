package sandbox

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/portex/portex/loadgen"
	"github.com/portex/portex/result"
)

func TestParseConntrackStats(t *testing.T) {
	// Two CPUs; entries is per namespace, not per CPU, and not read.
	const file = `entries  clashres found new invalid ignore delete chainlength insert insert_failed drop early_drop icmp_error  expect_new expect_create expect_delete search_restart
00000096  00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000000 0000000a 0000000a 00000001 00000000  00000000 00000000 00000000 00000000
00000096  00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000010 00000011 00000000 00000000  00000000 00000000 00000000 00000000
`
	got := parseConntrackStats(strings.NewReader(file))
	want := result.Conntrack{InsertFailed: 0x1a, Drop: 0x1b, EarlyDrop: 1}
	if got == nil || *got != want {
		t.Fatalf("got %+v, want %+v", got, want)
	}
	if got := parseConntrackStats(strings.NewReader("insert_failed\nzz\n")); got != nil {
		t.Errorf("a line that is not hex: got %+v, want nil", got)
	}
	if got := parseConntrackStats(strings.NewReader("")); got != nil {
		t.Errorf("an empty file: got %+v, want nil", got)
	}
}

func TestRefuseNAT(t *testing.T) {
	p := holdPlan(1, range100())
	if err := RefuseNAT("docker", p); err != nil {
		t.Fatalf("no nat: %v", err)
	}
	p.NAT = &loadgen.NAT{Ports: loadgen.PortRange{Lo: 60000, Hi: 60099}, Mode: loadgen.NATSNAT}
	if err := (&Host{}).CheckPlan(p); err == nil || !strings.Contains(err.Error(), "netns runtime only") {
		t.Fatalf("host runtime: %v, want the NAT refused", err)
	}
}

// natPlan holds workers connections through a NAT of 100 ports, to
// destinations server ports, each dial given 1 s.
func natPlan(workers, destinations int, mode string) *loadgen.Plan {
	p := holdPlan(workers, loadgen.PortRange{Lo: 30000, Hi: 59999})
	ls, ports := listeners(destinations)
	p.Server.Listeners = ls
	p.Pools[0].Ports = ports
	p.Pools[0].ConnectTimeout = time.Second
	p.Duration = 3 * time.Second
	p.Stop = loadgen.Stop{On: loadgen.StopNever}
	p.NAT = &loadgen.NAT{Ports: loadgen.PortRange{Lo: 60000, Hi: 60099}, Mode: mode}
	return p
}

// hostNetState is what a NAT in a sandbox must leave alone on the host:
// the names of its nftables tables, every rule that names portex's table
// or its sandbox addresses (if nft is installed), and the sysctls a router
// could touch. Docker's own rules are left out: the engine rewrites them
// whenever another test creates a network, and they are not portex's.
func hostNetState(t *testing.T) string {
	t.Helper()
	var b strings.Builder
	if _, err := exec.LookPath("nft"); err == nil {
		tables, err := exec.Command("nft", "list", "tables").CombinedOutput()
		if err != nil {
			t.Logf("nft list tables: %v", err)
		}
		b.Write(tables)
		rules, err := exec.Command("nft", "list", "ruleset").CombinedOutput()
		if err != nil {
			t.Logf("nft list ruleset: %v", err)
		}
		for line := range strings.Lines(string(rules)) {
			if strings.Contains(line, natTable) || strings.Contains(line, "198.18.") || strings.Contains(line, "198.19.") {
				b.WriteString(line)
			}
		}
	}
	for _, f := range []string{
		"/proc/sys/net/ipv4/ip_forward",
		"/proc/sys/net/ipv4/conf/all/forwarding",
		"/proc/sys/net/ipv4/ip_local_port_range",
		"/proc/sys/net/netfilter/nf_conntrack_max",
		"/proc/sys/net/netfilter/nf_conntrack_tcp_timeout_established",
		"/proc/sys/net/netfilter/nf_conntrack_tcp_timeout_time_wait",
	} {
		v, err := os.ReadFile(f)
		b.WriteString(f + "=" + string(v))
		if err != nil {
			b.WriteString("(" + err.Error() + ")\n")
		}
	}
	return b.String()
}

// A pool of 100 NAT ports gives exactly 100 held connections to one
// destination; then the NAT drops the SYNs and the dials time out: an
// exhaustion at the NAT, not the client's EADDRNOTAVAIL. Two destinations
// get 100 each. The host's ruleset and sysctls are as they were.
func TestNATExhaustion(t *testing.T) {
	needsFullTier(t)
	before := hostNetState(t)
	for _, c := range []struct {
		name         string
		workers      int
		destinations int
		mode         string
		want         int64
	}{
		{"one destination", 150, 1, loadgen.NATMasquerade, 100},
		{"two destinations", 250, 2, loadgen.NATMasquerade, 200},
		{"snat", 150, 1, loadgen.NATSNAT, 100},
	} {
		t.Run(c.name, func(t *testing.T) {
			res := run(t, natPlan(c.workers, c.destinations, c.mode))
			if res.Dials.OK != c.want || res.PeakOpen != c.want {
				t.Errorf("ok dials %d, peak open %d; want %d", res.Dials.OK, res.PeakOpen, c.want)
			}
			if res.Failures["EADDRNOTAVAIL"] != 0 || res.Failures["timeout"] == 0 {
				t.Errorf("failures %v: want timeouts only", res.Failures)
			}
			ex := res.Exhaustion
			if ex == nil || ex.Where != "nat" || ex.Class != "timeout" || ex.DialsOKBefore != c.want || ex.OpenConnections != c.want {
				t.Fatalf("exhaustion %+v: want at the NAT after %d connections", ex, c.want)
			}
			if !strings.HasPrefix(ex.Destination, "198.19.0.1:7000") || ex.AtSeconds < 1 || ex.AtSeconds > 2 {
				t.Errorf("exhaustion for %q at %.2fs: want 198.19.0.1:7000 at about 1s (connect_timeout)", ex.Destination, ex.AtSeconds)
			}
			n := res.NAT
			if n == nil || n.Ports != 100 || n.Start == nil || n.End == nil || n.End.InsertFailed <= n.Start.InsertFailed || n.End.Drop <= n.Start.Drop {
				t.Errorf("nat %+v: want the router's insert_failed and drop to rise", n)
			}
			var last *result.Conntrack
			if res.TimeSeries != nil {
				for _, pt := range res.TimeSeries.Points {
					if pt.NAT != nil {
						last = pt.NAT
					}
				}
			}
			if last == nil || last.InsertFailed == 0 {
				t.Errorf("the time series' last NAT counters %+v: want insert_failed risen", last)
			}
		})
	}
	if after := hostNetState(t); after != before {
		t.Errorf("the host's nftables or sysctls changed:\nbefore:\n%s\nafter:\n%s", before, after)
	}
}

// Without a NAT in the way, nothing of it shows: no exhaustion at the NAT
// for a pool that simply times out, and no router counters.
func TestNoNATNoRouter(t *testing.T) {
	needsFullTier(t)
	p := natPlan(50, 1, loadgen.NATMasquerade)
	p.NAT = nil
	p.Duration = time.Second
	res := run(t, p)
	if res.NAT != nil || res.Exhaustion != nil || res.Dials.OK != 50 {
		t.Fatalf("nat %+v exhaustion %+v ok %d: want a plain run of 50 connections", res.NAT, res.Exhaustion, res.Dials.OK)
	}
}

// The router's namespace holds what the kernel was asked for, as nft
// itself lists it: forwarding on, one snat rule with the pool, fully
// random when asked.
func TestRouterInstallsTheRule(t *testing.T) {
	needsFullTier(t)
	needRoot(t, "unshare", "nsenter", "nft")
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	host, err := netnsID()
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		mode   string
		random bool
		nat    func(*loadgen.Plan)
		want   string
	}{
		{loadgen.NATMasquerade, false, nil, "ip protocol tcp snat to 198.19.255.254:60000-60099\n"},
		{loadgen.NATSNAT, true, nil, "ip protocol tcp snat to 198.19.255.254:60000-60099 fully-random\n"},
		{loadgen.NATSNAT, false, func(p *loadgen.Plan) { p.NAT.Addresses = 3 },
			"ip protocol tcp snat to 198.19.255.252-198.19.255.254:60000-60099\n"},
		{loadgen.NATSNAT, false, func(p *loadgen.Plan) { p.NAT.PerClientPorts, p.NAT.Addresses, p.Pools[0].Sources = 50, 2, 3 },
			"ip saddr 198.18.0.1 snat to 198.19.255.254:60000-60049\n" +
				"\t\tip protocol tcp ip saddr 198.18.0.2 snat to 198.19.255.254:60050-60099\n" +
				"\t\tip protocol tcp ip saddr 198.18.0.3 snat to 198.19.255.253:60000-60049\n"},
		{loadgen.NATSNAT, false, func(p *loadgen.Plan) { p.NAT.Conntrack.Max = 500 },
			"hook forward priority filter; policy accept;\n\t\tip protocol tcp ct count over 500 counter packets 0 bytes 0 drop\n"},
	} {
		p := natPlan(1, 1, c.mode)
		p.NAT.RandomFully = c.random
		if c.nat != nil {
			c.nat(p)
		}
		req, err := json.Marshal(&Request{Plan: p, Role: RoleRouter, Setup: SetupNetns, HostNetns: host})
		if err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command("unshare", "-Urn", self, "agent")
		cmd.Stdin = bytes.NewReader(req)
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		m, err := newDecoder(stdout).next()
		if err != nil || m.Type != MsgReady {
			cmd.Process.Kill()
			cmd.Wait()
			t.Fatalf("%s: router said %+v (%v), want ready", c.mode, m, err)
		}
		out, err := exec.Command("nsenter", "-t", strconv.Itoa(cmd.Process.Pid), "-U", "-n", "--preserve-credentials",
			"sh", "-c", "cat /proc/sys/net/ipv4/ip_forward; nft list ruleset").CombinedOutput()
		cmd.Process.Signal(syscall.SIGTERM)
		cmd.Wait()
		if err != nil {
			t.Fatalf("%s: %v: %s", c.mode, err, out)
		}
		if !strings.HasPrefix(string(out), "1\n") || !strings.Contains(string(out), "table ip portex") || !strings.Contains(string(out), c.want) {
			t.Errorf("%s: the router's namespace holds\n%s\nwant ip_forward 1 and %q", c.mode, out, c.want)
		}
	}
}

// What the NAT gives is the kernel's NAT's rule: one pool per destination
// and NAT address, the address picked by a hash of the client's and the
// destination's addresses and kept, static slices when the plan asks
// for them, and a conntrack limit standing in for a full table.
func TestNATAddressesSlicesAndLimit(t *testing.T) {
	needsFullTier(t)
	for _, c := range []struct {
		name               string
		addresses, sources int
		perClient, max     int
		lo, hi             int64 // the connections held: exact where lo == hi
		limit              string
	}{
		// One client, one destination: one hash, one NAT address.
		{"two NAT addresses, one client address", 2, 1, 0, 0, 100, 100, ""},
		// The 4 client addresses hash to both NAT addresses (see
		// loadgen.NATAddressIndex), 2 and 2; 2 client addresses hash to
		// the same one; 3 to one each of 3.
		{"two NAT addresses, four client addresses", 2, 4, 0, 0, 200, 200, ""},
		{"two NAT addresses, two client addresses on one of them", 2, 2, 0, 0, 100, 100, ""},
		{"three NAT addresses, three client addresses", 3, 3, 0, 0, 300, 300, ""},
		// Clients share one NAT address's pool.
		{"three client addresses, one NAT address", 1, 3, 0, 0, 100, 100, ""},
		// 3 slices of 25 used, the fourth idle: 75, not the pool's 100.
		{"static slices of 25 for three client addresses", 1, 3, 25, 0, 75, 75, ""},
		// ct count races a SYN or two in flight: within 2 of the limit.
		{"conntrack limit of 60", 1, 1, 0, 60, 58, 60, "conntrack"},
	} {
		t.Run(c.name, func(t *testing.T) {
			p := natPlan(400, 1, loadgen.NATSNAT)
			p.NAT.Addresses, p.NAT.PerClientPorts, p.NAT.Conntrack.Max = c.addresses, c.perClient, c.max
			p.Pools[0].Sources = c.sources
			res := run(t, p)
			if res.Dials.OK < c.lo || res.Dials.OK > c.hi || res.PeakOpen != res.Dials.OK {
				t.Errorf("ok dials %d, peak open %d: want %d to %d held", res.Dials.OK, res.PeakOpen, c.lo, c.hi)
			}
			if res.Failures["EADDRNOTAVAIL"] != 0 || res.Failures["timeout"] == 0 {
				t.Errorf("failures %v: want timeouts only", res.Failures)
			}
			ex := res.Exhaustion
			if ex == nil || ex.Where != "nat" || ex.Limit != c.limit || ex.DialsOKBefore != res.Dials.OK {
				t.Errorf("exhaustion %+v: want at the NAT (limit %q) after %d connections", ex, c.limit, res.Dials.OK)
			}
			n := res.NAT
			if n == nil || n.Peak == nil || n.Peak.Entries != int(res.Dials.OK) ||
				n.Peak.States["ESTABLISHED"] != int(res.Dials.OK) || n.Peak.Destinations["198.19.0.1:7000"] != int(res.Dials.OK) {
				t.Fatalf("nat %+v peak %+v: want the router's table to hold the %d connections, established, to 198.19.0.1:7000", n, n.Peak, res.Dials.OK)
			}
			if c.max > 0 && (n.End.LimitDrops <= n.Start.LimitDrops || n.ConntrackMax != c.max) {
				t.Errorf("nat %+v: want the limit's drops to rise", n)
			}
			if n.Sysctls["net.netfilter.nf_conntrack_tcp_timeout_time_wait"] == "" {
				t.Errorf("router sysctls %v: want the conntrack timeouts read back", n.Sysctls)
			}
		})
	}
}

// A NAT evicts closing conntrack entries when it runs short, so churn
// with FIN close at 50/s through 100 ports never runs out, however many
// TIME_WAIT entries the table holds; a shorter conntrack TIME_WAIT is
// read back.
func TestNATChurnEvicts(t *testing.T) {
	needsFullTier(t)
	p := natPlan(0, 1, loadgen.NATSNAT)
	p.Pools[0].Workers, p.Pools[0].Rate = 0, 50
	p.Pools[0].Hold = loadgen.Hold{Kind: loadgen.HoldFixed, Min: 10 * time.Millisecond}
	p.Pools[0].MaxInFlight = 200
	p.Duration = 4 * time.Second
	p.NAT.Conntrack.TimeWait = 30 * time.Second
	res := run(t, p)
	if res.Exhaustion != nil || res.Dials.Failed != 0 || res.Dials.OK < 150 {
		t.Fatalf("exhaustion %+v, %d ok, %d failed: want about 200 connections and no exhaustion", res.Exhaustion, res.Dials.OK, res.Dials.Failed)
	}
	n := res.NAT
	if n != nil {
		t.Logf("%d ok; the NAT's table held at most %+v, %d in TIME_WAIT", res.Dials.OK, n.Peak, n.PeakTimeWait)
	}
	if n == nil || n.PeakTimeWait < 90 {
		t.Errorf("nat %+v: want the NAT's table full of TIME_WAIT entries (about 100, the pool)", n)
	}
	if got := n.Sysctls["net.netfilter.nf_conntrack_tcp_timeout_time_wait"]; got != "30" {
		t.Errorf("router's conntrack time_wait %q: want 30", got)
	}
}

func TestParseConntrackTable(t *testing.T) {
	const file = `ipv4     2 tcp      6 431999 ESTABLISHED src=198.18.0.1 dst=198.19.0.1 sport=40000 dport=7000 src=198.19.0.1 dst=198.19.255.254 sport=7000 dport=60000 [ASSURED] mark=0 zone=0 use=2
ipv4     2 tcp      6 117 TIME_WAIT src=198.18.0.2 dst=198.19.0.1 sport=40001 dport=7001 src=198.19.0.1 dst=198.19.255.254 sport=7001 dport=60001 [ASSURED] mark=0 zone=0 use=2
ipv4     2 tcp      6 110 SYN_SENT src=198.18.0.1 dst=198.19.0.1 sport=40002 dport=7000 [UNREPLIED] src=198.19.0.1 dst=198.19.255.254 sport=7000 dport=60002 mark=0 zone=0 use=2
ipv4     2 udp      17 20 src=198.18.0.1 dst=198.19.0.1 sport=5353 dport=53 src=198.19.0.1 dst=198.19.255.254 sport=53 dport=5353 mark=0 zone=0 use=2
`
	got := parseConntrackTable(strings.NewReader(file))
	if got.Entries != 3 || got.States["ESTABLISHED"] != 1 || got.States["TIME_WAIT"] != 1 || got.States["SYN_SENT"] != 1 {
		t.Errorf("entries %d, states %v: want 3 TCP entries, one in each state", got.Entries, got.States)
	}
	if got.Destinations["198.19.0.1:7000"] != 2 || got.Destinations["198.19.0.1:7001"] != 1 || len(got.Destinations) != 2 {
		t.Errorf("destinations %v: want the original direction's, 2 to :7000 and 1 to :7001", got.Destinations)
	}
}

// An unresponsive server: its namespace drops every SYN. With a 1 s
// connect_timeout every dial fails on portex's own deadline, classed
// timeout, never EADDRNOTAVAIL, its port held in SYN_SENT meanwhile; with
// a 5 s one and tcp_syn_retries=1 the kernel gives up first, after the
// SYN and one resend (1 s + 2 s): ETIMEDOUT at about 3 s.
func TestDropSYN(t *testing.T) {
	needsFullTier(t)
	t.Run("portex's connect_timeout", func(t *testing.T) {
		p := holdPlan(20, loadgen.PortRange{Lo: 30000, Hi: 30099})
		p.Server.DropSYN = 1
		p.Pools[0].ConnectTimeout = time.Second
		p.Duration, p.Stop = 2500*time.Millisecond, loadgen.Stop{On: loadgen.StopNever}
		res := run(t, p)
		if res.Dials.OK != 0 || res.Failures["timeout"] < 20 || res.Failures["timeout"] != res.Dials.Failed || res.Failures["EADDRNOTAVAIL"] != 0 {
			t.Errorf("dials %+v, failures %v: want every dial to time out on connect_timeout", res.Dials, res.Failures)
		}
		if res.Exhaustion != nil {
			t.Errorf("exhaustion %+v: a server that does not answer is not the ports running out", res.Exhaustion)
		}
		peak := 0
		for _, pt := range res.TimeSeries.Points {
			if pt.Client != nil {
				peak = max(peak, pt.Client.SynSent)
			}
		}
		if peak < 18 || peak > 20 {
			t.Errorf("at most %d client sockets in SYN_SENT: want the 20 workers' dials holding their ports there", peak)
		}
	})
	t.Run("a share of the SYNs", func(t *testing.T) {
		p := holdPlan(20, loadgen.PortRange{Lo: 30000, Hi: 39999})
		p.Server.DropSYN = 0.5
		p.Pools[0].ConnectTimeout = 300 * time.Millisecond
		p.Pools[0].Hold, p.Pools[0].Close = loadgen.Hold{Kind: loadgen.HoldFixed, Min: 10 * time.Millisecond}, loadgen.CloseReset
		p.Duration, p.Stop = 3*time.Second, loadgen.Stop{On: loadgen.StopNever}
		res := run(t, p)
		// A dial whose SYN is dropped times out before the resend (1 s).
		ok, lost := float64(res.Dials.OK), float64(res.Failures["timeout"])
		if share := lost / (ok + lost); ok+lost < 100 || share < 0.35 || share > 0.65 {
			t.Errorf("%v ok, %v timed out: want about half the dials dropped", ok, lost)
		}
	})
	t.Run("the kernel's SYN retries", func(t *testing.T) {
		p := holdPlan(5, loadgen.PortRange{Lo: 30000, Hi: 30099})
		p.Server.DropSYN = 1
		p.Sandbox.Sysctls["net.ipv4.tcp_syn_retries"] = "1"
		p.Pools[0].ConnectTimeout = 5 * time.Second
		p.Duration, p.Stop = 4*time.Second, loadgen.Stop{On: loadgen.StopNever}
		res := run(t, p)
		if res.Dials.OK != 0 || res.Failures["ETIMEDOUT"] < 5 || res.Failures["timeout"] != 0 {
			t.Errorf("dials %+v, failures %v: want the kernel's ETIMEDOUT for each dial, no portex timeout", res.Dials, res.Failures)
		}
		var first float64
		for _, ev := range res.Events {
			if ev.Type == result.EventFirstFailure && ev.Class == "ETIMEDOUT" {
				first = ev.AtSeconds
			}
		}
		if first < 2.8 || first > 3.6 {
			t.Errorf("the first ETIMEDOUT at %.2fs: want about 3s (a SYN, one resend 1 s later, 2 s more)", first)
		}
	})
}

// A NAT in a sharded run (sandbox.processes 2): the router's counters at
// the end and the shards' first timeout show it ran out, as in one
// process.
func TestNATExhaustionSharded(t *testing.T) {
	needsFullTier(t)
	p := natPlan(150, 1, loadgen.NATSNAT)
	p.Sandbox.Processes = 2
	res := run(t, p)
	ex := res.Exhaustion
	if res.Dials.OK != 100 || ex == nil || ex.Where != "nat" || ex.Class != "timeout" || ex.DialsOKBefore != 100 {
		t.Fatalf("%d ok, exhaustion %+v: want 100 connections, then exhausted at the NAT", res.Dials.OK, ex)
	}
}
