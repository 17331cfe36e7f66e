package loadgen

import (
	"context"
	"net/netip"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/portex/portex/result"
)

var loopback6 = netip.MustParseAddr("::1")

// IPv6 dials run out of ports as IPv4 ones do: ip_local_port_range, an
// ipv4 sysctl, governs IPv6 connect() too. With 100 ports: 100 held
// connections, 300 over three destination ports, 100 and EADDRINUSE when
// bind() comes first, EADDRNOTAVAIL at about 2 s for 50/s closed by the
// client; and 100 held over IPv6 leave IPv4's 100 to another destination
// untouched.
func TestIPv6Exactness(t *testing.T) {
	if !inOwnNetns(t) {
		return
	}
	for name, v := range map[string]string{"ip_local_port_range": "40000 40099", "tcp_tw_reuse": "0"} {
		if err := os.WriteFile("/proc/sys/net/ipv4/"+name, []byte(v), 0); err != nil {
			t.Fatal(err)
		}
	}
	ports := []int{7000, 7001, 7002}
	var ls []Listener
	for _, p := range ports {
		ls = append(ls, Listener{Port: p})
	}
	srv, err := StartServer(ServerConfig{Addr: loopback6, Listeners: ls})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	srv4, err := StartServer(ServerConfig{Addr: loopback, Listeners: []Listener{{Port: 7100}}})
	if err != nil {
		t.Fatal(err)
	}
	defer srv4.Close()
	sampler, err := NewSocketSampler(40000, 40099)
	if err != nil {
		t.Fatal(err)
	}
	defer sampler.Close()
	holders := func(n int, ports ...int) *Plan {
		p := plan(ports, Pool{Name: "holders", Workers: n, Messages: 1, Payload: 16, Close: CloseClient, Hold: Hold{Kind: HoldForever}})
		p.Stop, p.Duration = Stop{On: StopOnExhaustion}, 5*time.Second
		return p
	}
	runOn := func(p *Plan, target netip.Addr, sources ...netip.Addr) *result.Result {
		t.Helper()
		res, err := Run(context.Background(), p, Options{Target: target, Sources: sources, Sockets: sampler})
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	want := func(name string, res *result.Result, ok int64, class string) {
		t.Helper()
		if res.Dials.OK != ok || res.Exhaustion == nil || res.Exhaustion.Class != class || res.Exhaustion.DialsOKBefore != ok {
			t.Errorf("%s: ok %d, exhaustion %+v; want %d then %s", name, res.Dials.OK, res.Exhaustion, ok, class)
		}
	}

	res := runOn(holders(150, 7000), loopback6)
	want("hold", res, 100, "EADDRNOTAVAIL")
	if s := res.Exhaustion.Sockets; s == nil || s.PortsInUse != 100 || s.Established < 100 {
		t.Errorf("hold: sockets at exhaustion %+v, want the 100 IPv6 ports counted", s)
	}
	want("three destinations", runOn(holders(400, ports...), loopback6), 300, "EADDRNOTAVAIL")
	bind := holders(400, ports...)
	bind.Pools[0].Bind = BindBeforeConnect
	want("bind first", runOn(bind, loopback6, loopback6), 100, "EADDRINUSE")

	churn := plan([]int{7000}, Pool{Name: "churn", Rate: 50, MaxInFlight: 20, Messages: 1, Payload: 16, Close: CloseClient})
	churn.Stop, churn.Duration = Stop{On: StopOnExhaustion}, 4*time.Second
	res = runOn(churn, loopback6)
	if res.Exhaustion == nil || res.Exhaustion.AtSeconds < 1.5 || res.Exhaustion.AtSeconds > 3 {
		t.Errorf("churn: exhaustion %+v, want EADDRNOTAVAIL at about 2 s", res.Exhaustion)
	}
	// The churn's TIME_WAIT sockets hold every port towards [::1]:7000;
	// the next checks dial other destinations.
	time.Sleep(100 * time.Millisecond)

	// 100 held over IPv6 to [::1]:7001, and meanwhile IPv4 to
	// 127.0.0.1:7100 gets its own 100.
	v6 := holders(100, 7001)
	v6.Stop, v6.Duration = Stop{On: StopNever}, 2*time.Second
	var wg sync.WaitGroup
	var held *result.Result
	wg.Add(1)
	go func() {
		defer wg.Done()
		held, _ = Run(context.Background(), v6, Options{Target: loopback6})
	}()
	time.Sleep(700 * time.Millisecond)
	want("IPv4 beside 100 IPv6", runOn(holders(150, 7100), loopback), 100, "EADDRNOTAVAIL")
	wg.Wait()
	if held == nil || held.Dials.OK != 100 || held.Dials.Failed != 0 {
		t.Errorf("IPv6 holders beside IPv4: %+v", held)
	}
}
