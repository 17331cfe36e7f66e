package sandbox

import (
	"context"
	"os"
	"os/signal"
	"syscall"
	"testing"
	"time"

	"github.com/portex/portex/loadgen"
	"github.com/portex/portex/result"
)

// TestMain lets the test binary be its own agent, as the portex binary is.
func TestMain(m *testing.M) {
	if len(os.Args) > 1 && os.Args[1] == "agent" {
		setTestRoles()
		ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
		code := Agent(ctx, os.Stdin, os.Stdout, os.Stderr)
		stop()
		os.Exit(code)
	}
	os.Exit(m.Run())
}

func holdPlan(workers int, rng loadgen.PortRange) *loadgen.Plan {
	return &loadgen.Plan{
		Scenario: "test", Variant: "default", Runtime: "netns", Duration: 10 * time.Second,
		Sandbox: loadgen.Sandbox{PortRange: rng, Sysctls: map[string]string{"net.ipv4.tcp_tw_reuse": "0"}, Nofile: 8192},
		Server:  loadgen.ServerPlan{Listeners: []loadgen.Listener{{Port: 7000}}},
		Pools: []loadgen.Pool{{Name: "holders", Workers: workers, Messages: 1, Payload: 64,
			Hold: loadgen.Hold{Kind: loadgen.HoldForever}, Close: loadgen.CloseClient,
			ConnectTimeout: 5 * time.Second, Ports: []int{7000}}},
		Stop: loadgen.Stop{On: loadgen.StopOnExhaustion},
	}
}

// range100 is the 100-port range of the kernel facts' measurements.
func range100() loadgen.PortRange { return loadgen.PortRange{Lo: 50000, Hi: 50099} }

// listeners returns n plain listeners from port 7000 up, and their ports.
func listeners(n int) ([]loadgen.Listener, []int) {
	var ls []loadgen.Listener
	var ports []int
	for i := 0; i < n; i++ {
		ls = append(ls, loadgen.Listener{Port: 7000 + i})
		ports = append(ports, 7000+i)
	}
	return ls, ports
}

func run(t *testing.T, p *loadgen.Plan) *result.Result {
	t.Helper()
	rt := &Netns{Stderr: os.Stderr}
	res, err := rt.Run(context.Background(), p, nil)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// With 128 descriptors the process runs out of files before ports.
func TestFDLimitIsEMFILE(t *testing.T) {
	needsFullTier(t)
	p := holdPlan(300, loadgen.PortRange{Lo: 20000, Hi: 60000})
	p.Sandbox.Nofile = 128
	p.Duration = time.Second
	res := run(t, p)
	if res.Failures["EMFILE"] == 0 || res.Failures["EADDRNOTAVAIL"] != 0 || res.Exhaustion != nil {
		t.Fatalf("failures %v exhaustion %+v: want EMFILE only", res.Failures, res.Exhaustion)
	}
	if res.Dials.OK < 50 || res.Dials.OK > 128 {
		t.Errorf("ok dials = %d, want somewhat under 128", res.Dials.OK)
	}
}

// The time series holds both sides' socket states: during TIME_WAIT churn
// the client's TIME_WAIT count climbs to the range size.
func TestTimeSeriesShowsBothSides(t *testing.T) {
	needsFullTier(t)
	p := holdPlan(0, range100())
	p.Duration = 3 * time.Second
	p.Pools[0] = loadgen.Pool{Name: "churn", Rate: 100, MaxInFlight: 20, Messages: 1, Payload: 64,
		Hold: loadgen.Hold{Kind: loadgen.HoldFixed}, Close: loadgen.CloseClient, ConnectTimeout: time.Second, Ports: []int{7000}}
	res := run(t, p)
	if res.Exhaustion == nil || res.Exhaustion.Sockets == nil || res.Exhaustion.Sockets.TimeWait < 95 {
		t.Fatalf("exhaustion %+v: want a socket snapshot with ~100 in TIME_WAIT", res.Exhaustion)
	}
	if res.Exhaustion.Sockets.PortsInUse != 100 {
		t.Errorf("ports in use at exhaustion = %d, want all 100", res.Exhaustion.Sockets.PortsInUse)
	}
	var peakTW, serverListen int
	for _, pt := range res.TimeSeries.Points {
		if pt.Client != nil {
			peakTW = max(peakTW, pt.Client.TimeWait)
		}
		if pt.Server != nil {
			serverListen = max(serverListen, pt.Server.Listen)
		}
	}
	if peakTW < 95 || serverListen < 1 {
		t.Errorf("peak client TIME_WAIT %d, server listeners %d: want ~100 and its listening sockets (one per event loop)", peakTW, serverListen)
	}
}

// Three client processes and three echo-server processes share one plan:
// the counts add up as if one process had run it.
func TestShardedRunMerges(t *testing.T) {
	needsFullTier(t)
	p := holdPlan(300, loadgen.PortRange{Lo: 50000, Hi: 50199})
	p.Sandbox.Processes = 3
	p.Sandbox.Nofile = 0
	res := run(t, p)
	if res.Dials.OK != 200 || res.Exhaustion == nil || res.Exhaustion.Class != "EADDRNOTAVAIL" {
		t.Fatalf("ok %d exhaustion %+v: want 200 then EADDRNOTAVAIL across the shards", res.Dials.OK, res.Exhaustion)
	}
	if c := res.Resources.Client; c.Processes != 3 {
		t.Errorf("client processes %d, want 3", c.Processes)
	}
	if res.Server == nil || res.Server.Accepted != 200 {
		t.Errorf("server counts %+v, want 200 accepted over its processes", res.Server)
	}
	if res.Resources.Server == nil || res.Resources.Server.Processes != 3 {
		t.Errorf("server resources %+v, want 3 processes", res.Resources.Server)
	}
	if res.Latency.Connect.Count != 200 {
		t.Errorf("merged connect histogram holds %d samples, want 200", res.Latency.Connect.Count)
	}
	// The ports in use are counted once more when every shard has stopped
	// dialing and still holds its connections: the series shows the range
	// full, however short the run.
	peak := -1
	for _, pt := range res.TimeSeries.Points {
		if pt.Client != nil && pt.Client.PortsCounted() {
			peak = max(peak, pt.Client.PortsInUse)
		}
	}
	if peak != 200 {
		t.Errorf("the series' most ports in use is %d, want 200 (the range, full at the end of the load)", peak)
	}
}

// The benchmarks' server role puts another program in the server's
// namespace in place of the echo server: here the benchmarks' C server, whose echo portex
// uses; the result has no server counts, which only portex's server keeps.
func TestServerExecReplacesTheEchoServer(t *testing.T) {
	needsFullTier(t)
	p := churnEchoPlan(500 * time.Millisecond)
	rt := &benchSandbox{serverExec: []string{buildC(t, "httpd"), "7000"}}
	res, err := rt.Run(context.Background(), p, nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.Dials.OK < 100 || len(res.Failures) != 0 || res.Latency.EchoRTT.Count < res.Dials.OK-int64(p.Pools[0].Workers) {
		t.Fatalf("dials %+v failures %v, %d echoes: want the C server to echo", res.Dials, res.Failures, res.Latency.EchoRTT.Count)
	}
	if res.Server == nil || res.Server.Accepted != 0 {
		t.Errorf("server counts %+v: want none, the echo server did not run", res.Server)
	}
}

// Each destination has a range of its own, and the samples count its
// ports apart: two server ports in a 100-port range, 200 held, and each
// destination is full at 100 of 100, in the points and in the peaks.
func TestDestinationsCountedApart(t *testing.T) {
	needsFullTier(t)
	p := holdPlan(250, range100())
	ls, ports := listeners(2)
	p.Server.Listeners, p.Pools[0].Ports = ls, ports
	p.Pools[0].ConnectTimeout = 200 * time.Millisecond
	p.Duration, p.Stop = time.Second, loadgen.Stop{On: loadgen.StopNever}
	res := run(t, p)
	if res.Dials.OK != 200 || len(res.Destinations) != 2 {
		t.Fatalf("%d ok, destinations %+v: want 200, two destinations", res.Dials.OK, res.Destinations)
	}
	for _, d := range res.Destinations {
		if d.PortsInUse != 100 || d.Budget != 100 {
			t.Errorf("destination %+v: want 100 of 100 ports in use", d)
		}
	}
	seen := false
	for _, pt := range res.TimeSeries.Points {
		seen = seen || (len(pt.Destinations) == 2 && pt.Destinations[0].Sockets.PortsInUse == 100 && pt.Destinations[1].Sockets.PortsInUse == 100)
	}
	if !seen {
		t.Error("no point carries the two destinations' counts, 100 each")
	}
}
