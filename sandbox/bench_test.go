package sandbox

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/portex/portex/loadgen"
	"github.com/portex/portex/result"
)

// Side-by-side benchmarks: portex and a peer measured in the same sandbox
// (fresh namespaces, the same echo server), alternating, median of three.
// Run them on a quiet machine:
//
//	go test ./sandbox -run '^$' -bench . -benchtime 1x

func churnPlan(workers int, d time.Duration) *loadgen.Plan {
	return &loadgen.Plan{
		Scenario: "bench-churn", Variant: "default", Runtime: "netns", Duration: d,
		Sandbox: loadgen.Sandbox{PortRange: loadgen.PortRange{Lo: 10000, Hi: 60999}, Nofile: 16384},
		Server:  loadgen.ServerPlan{Listeners: []loadgen.Listener{{Port: 7000}}},
		Pools: []loadgen.Pool{{Name: "churn", Workers: workers, Hold: loadgen.Hold{Kind: loadgen.HoldFixed},
			Close: loadgen.CloseReset, ConnectTimeout: 5 * time.Second, Ports: []int{7000}}},
		Stop: loadgen.Stop{On: loadgen.StopNever},
	}
}

// buildC compiles a peer from testdata/bench.
func buildC(b testing.TB, name string) string {
	b.Helper()
	if _, err := exec.LookPath("gcc"); err != nil {
		b.Skip("gcc is needed to build the C peer")
	}
	bin := filepath.Join(b.TempDir(), name)
	if out, err := exec.Command("gcc", "-O2", "-o", bin, filepath.Join("testdata", "bench", name+".c")).CombinedOutput(); err != nil {
		b.Fatalf("gcc: %v\n%s", err, out)
	}
	return bin
}

// rate is connections a second over a run's time series.
func rate(r *result.Result) float64 {
	if r.TimeSeries == nil || len(r.TimeSeries.Points) == 0 {
		return 0
	}
	pts := r.TimeSeries.Points
	return float64(r.Dials.OK) / pts[len(pts)-1].T
}

func median(xs []float64) float64 {
	sort.Float64s(xs)
	return xs[len(xs)/2]
}

// BenchmarkChurnVsC: connect + RST close, new connections a second, portex
// against a plain C loop (target: at least 80%).
func BenchmarkChurnVsC(b *testing.B) {
	bin := buildC(b, "churn")
	rt := &benchSandbox{}
	const secs = 2
	for _, workers := range []int{1, 2, 4} {
		b.Run(fmt.Sprintf("workers=%d", workers), func(b *testing.B) {
			var ours, theirs []float64
			for range 3 {
				out, err := rt.Exec(context.Background(), churnPlan(1, time.Second), []string{bin, fmt.Sprint(secs)})
				if err != nil {
					b.Fatal(err)
				}
				var n, failed int64
				var t float64
				if _, err := fmt.Sscan(out, &n, &t, &failed); err != nil || failed > 0 {
					b.Fatalf("C peer printed %q (%v)", out, err)
				}
				theirs = append(theirs, float64(n)/t)
				res, err := rt.Run(context.Background(), churnPlan(workers, secs*time.Second), nil)
				if err != nil {
					b.Fatal(err)
				}
				if res.Dials.Failed > 0 {
					b.Fatalf("portex churn failed %d dials: %v", res.Dials.Failed, res.Failures)
				}
				ours = append(ours, rate(res))
			}
			p, c := median(ours), median(theirs)
			b.ReportMetric(p, "portex-conn/s")
			b.ReportMetric(c, "c-conn/s")
			b.ReportMetric(p/c, "ratio")
		})
	}
}

// holdPlanAt holds n idle connections spread over 4 server ports for d.
func holdPlanAt(n int, d time.Duration) *loadgen.Plan {
	ls, ports := listeners(4)
	return &loadgen.Plan{
		Scenario: "bench-hold", Variant: "default", Runtime: "netns", Duration: d,
		Sandbox: loadgen.Sandbox{PortRange: loadgen.PortRange{Lo: 10000, Hi: 60999}},
		Server: loadgen.ServerPlan{Listeners: ls, Backlog: 65535,
			Sysctls: map[string]string{"net.core.somaxconn": "65535"}},
		Pools: []loadgen.Pool{{Name: "holders", Workers: n, Hold: loadgen.Hold{Kind: loadgen.HoldForever},
			Close: loadgen.CloseClient, ConnectTimeout: 10 * time.Second, Ports: ports}},
		Stop: loadgen.Stop{On: loadgen.StopNever},
	}
}

// BenchmarkHold opens and holds idle connections: the time to open them
// all, the memory each costs portex on both sides, and what one
// socket-state sample costs with that many sockets (target at 100,000:
// at most 50 ms). 100,000 connections take several client and server
// processes (the hard descriptor limit is 20,000 a process here).
func BenchmarkHold(b *testing.B) {
	bin := buildC(b, "hold")
	for _, n := range []int{19_000, 100_000} {
		b.Run(fmt.Sprintf("connections=%d", n), func(b *testing.B) {
			if n <= 19_000 {
				// The C peer, one process: within one descriptor limit.
				out, err := (&benchSandbox{}).Exec(context.Background(), holdPlanAt(n, time.Second), []string{bin, fmt.Sprint(n), "4"})
				if err != nil {
					b.Fatal(err)
				}
				var opened int
				var secs float64
				if _, err := fmt.Sscan(out, &opened, &secs); err != nil || opened != n {
					b.Fatalf("C peer printed %q", out)
				}
				b.ReportMetric(secs, "c-s-to-open-all")
			}
			res, err := (&Netns{Stderr: os.Stderr}).Run(context.Background(), holdPlanAt(n, 6*time.Second), nil)
			if err != nil {
				b.Fatal(err)
			}
			if res.Dials.OK != int64(n) {
				b.Fatalf("opened %d of %d (failures %v)", res.Dials.OK, n, res.Failures)
			}
			var opened float64
			for _, p := range res.TimeSeries.Points {
				if p.Open >= int64(n) {
					opened = p.T
					break
				}
			}
			b.ReportMetric(opened, "s-to-open-all")
			b.ReportMetric(float64(res.Resources.Client.RSSPerConnectionBytes), "client-B/conn")
			b.ReportMetric(float64(res.Resources.Server.RSSPerConnectionBytes), "server-B/conn")
			b.ReportMetric(float64(res.Resources.Client.Processes), "client-procs")
			if c := res.TimeSeries.SamplerCost; c != nil {
				b.ReportMetric(c.Full.MeanMs, "full-sample-mean-ms")
				b.ReportMetric(c.Quick.MeanMs, "quick-sample-mean-ms")
				b.ReportMetric(c.Quick.MaxMs, "quick-sample-max-ms")
			}
		})
	}
}

// scalePlan is bench-hold-1m at n connections: held forever over a
// destination port for every 20,000 connections (under half of the
// 51,000-port range each: see analysis.SlowPortsNote), until d.
func scalePlan(n int, d time.Duration) *loadgen.Plan {
	ls, ports := listeners((n + 19_999) / 20_000)
	p := holdPlanAt(n, d)
	p.Scenario, p.Server.Listeners, p.Pools[0].Ports = "bench-hold-1m", ls, ports
	return p
}

// BenchmarkHoldScale opens 10,000 to 1,000,000 held connections in one
// run (set PORTEX_BENCH_MAX to stop lower) and reports how each figure
// grows: the time to open them all and the rate, each side's user memory
// and the kernel's (the machine's slab) a connection, the CPU a
// connection (both sides), and the samplers' costs. The table in the
// README is its output.
func BenchmarkHoldScale(b *testing.B) {
	limit := 1_000_000
	if v := os.Getenv("PORTEX_BENCH_MAX"); v != "" {
		fmt.Sscan(v, &limit)
	}
	for _, n := range []int{10_000, 100_000, 300_000, 1_000_000} {
		if n > limit {
			break
		}
		b.Run(fmt.Sprintf("connections=%d", n), func(b *testing.B) {
			// Long enough to open them at two thirds of the rate
			// measured here.
			d := max(5*time.Second, time.Duration(n/10)*time.Millisecond)
			res, err := (&Netns{Stderr: os.Stderr}).Run(context.Background(), scalePlan(n, d), nil)
			if err != nil {
				b.Fatal(err)
			}
			if res.Dials.OK != int64(n) || res.Dials.Failed != 0 {
				b.Fatalf("opened %d of %d (failures %v)", res.Dials.OK, n, res.Failures)
			}
			var first, all float64
			for _, p := range res.TimeSeries.Points {
				if first == 0 && p.Open > 0 {
					first = p.T
				}
				if p.Open >= int64(n) {
					all = p.T
					break
				}
			}
			if all == 0 {
				b.Fatalf("never all %d open at once", n)
			}
			r := res.Resources
			b.ReportMetric(all, "s-to-open-all")
			b.ReportMetric(float64(n)/(all-first+res.TimeSeries.IntervalSeconds), "conn/s")
			b.ReportMetric(float64(r.Client.RSSPerConnectionBytes), "client-B/conn")
			b.ReportMetric(float64(r.Server.RSSPerConnectionBytes), "server-B/conn")
			if r.Kernel != nil {
				b.ReportMetric(float64(r.Kernel.PerConnectionBytes), "kernel-B/conn")
			}
			b.ReportMetric((r.Client.CPUSeconds+r.Server.CPUSeconds)/float64(n)*1e6, "cpu-us/conn")
			b.ReportMetric(float64(r.Client.Processes), "client-procs")
			b.ReportMetric(float64(r.Server.Processes), "server-procs")
			if c := res.TimeSeries.SamplerCost; c != nil {
				b.ReportMetric(c.Full.MeanMs, "full-sample-ms")
				b.ReportMetric(c.Quick.MeanMs, "quick-sample-ms")
			}
			b.ReportMetric(res.ElapsedSeconds-res.LoadStoppedSeconds, "s-to-close")
		})
	}
}

// BenchmarkHoldShapes holds 19,000 connections in one client process in
// each closed-model pool shape, and reports the client's and the server's
// memory a connection (target: at most 300 B on the client, as a hold
// forever costs): held forever with no message or one; held 20 s (longer
// than the run) after one message, none, or two a second apart; leaked.
func BenchmarkHoldShapes(b *testing.B) {
	const n = 19_000
	hold20 := loadgen.Hold{Kind: loadgen.HoldFixed, Min: 20 * time.Second}
	for _, tt := range []struct {
		name string
		pool func(*loadgen.Pool)
	}{
		{"forever", func(p *loadgen.Pool) {}},
		{"forever-one-message", func(p *loadgen.Pool) { p.Messages, p.Payload = 1, 64 }},
		{"20s-one-message", func(p *loadgen.Pool) { p.Messages, p.Payload, p.Hold = 1, 64, hold20 }},
		{"20s-no-message", func(p *loadgen.Pool) { p.Hold = hold20 }},
		{"20s-two-messages-1s-apart", func(p *loadgen.Pool) { p.Messages, p.Payload, p.Interval, p.Hold = 2, 64, time.Second, hold20 }},
		// Half the workers, each leaking its first connection after
		// 2 s and holding a second at the end.
		{"leaked", func(p *loadgen.Pool) {
			p.Workers, p.Messages, p.Payload, p.Close = n/2, 1, 64, loadgen.CloseLeak
			p.Hold = loadgen.Hold{Kind: loadgen.HoldFixed, Min: 2 * time.Second}
		}},
	} {
		b.Run(tt.name, func(b *testing.B) {
			p := holdPlanAt(n, 4*time.Second)
			tt.pool(&p.Pools[0])
			res, err := (&Netns{Stderr: os.Stderr}).Run(context.Background(), p, nil)
			if err != nil {
				b.Fatal(err)
			}
			if res.PeakOpen < n*19/20 || res.Dials.Failed > 0 {
				b.Fatalf("peak open %d of %d (dials %+v, failures %v)", res.PeakOpen, n, res.Dials, res.Failures)
			}
			b.ReportMetric(float64(res.Resources.Client.RSSPerConnectionBytes), "client-B/conn")
			b.ReportMetric(float64(res.Resources.Server.RSSPerConnectionBytes), "server-B/conn")
		})
	}
}

// echoPlan is bench-echo: 100 workers, each sending 64-byte messages one
// after the other on a kept-alive connection of its own.
func echoPlan(d time.Duration) *loadgen.Plan {
	return &loadgen.Plan{
		Scenario: "bench-echo", Variant: "default", Runtime: "netns", Duration: d,
		Sandbox: loadgen.Sandbox{PortRange: loadgen.PortRange{Lo: 10000, Hi: 60999}},
		Server:  loadgen.ServerPlan{Listeners: []loadgen.Listener{{Port: 7000}}},
		Pools: []loadgen.Pool{{Name: "echo", Workers: 100, Hold: loadgen.Hold{Kind: loadgen.HoldFixed},
			Close: loadgen.CloseKeep, PoolSize: 100, Messages: 1000, Payload: 64,
			ConnectTimeout: 5 * time.Second, Ports: []int{7000}}},
		Stop: loadgen.Stop{On: loadgen.StopNever},
	}
}

// BenchmarkEchoVsFortio: 64-byte request/response over 100 kept-alive
// connections, round trips a second, portex against fortio's tcp mode
// (target: at least 1.2x), both against portex's echo server in the same
// sandbox. fortio comes from $PORTEX_FORTIO or $PATH:
//
//	GOBIN=/tmp/peers go install fortio.org/fortio@v1.65.0
//	PORTEX_FORTIO=/tmp/peers/fortio go test ./sandbox -run '^$' -bench EchoVsFortio -benchtime 1x
func BenchmarkEchoVsFortio(b *testing.B) {
	fortio := os.Getenv("PORTEX_FORTIO")
	if fortio == "" {
		var err error
		if fortio, err = exec.LookPath("fortio"); err != nil {
			b.Skip("fortio is needed: go install fortio.org/fortio@v1.65.0, then PORTEX_FORTIO=<path>")
		}
	}
	rt := &benchSandbox{}
	const secs = 4
	var ours, theirs []float64
	for range 3 {
		script := fmt.Sprintf(`exec %s load -quiet -qps 0 -c 100 -t %ds -payload-size 64 -json - tcp://$PORTEX_TARGET:$PORTEX_PORT 2>/dev/null`, fortio, secs)
		out, err := rt.Exec(context.Background(), echoPlan(time.Second), []string{"/bin/sh", "-c", script})
		if err != nil {
			b.Fatal(err)
		}
		var f struct {
			ActualQPS         float64
			RetCodes          map[string]int64
			DurationHistogram struct{ Count int64 }
		}
		if err := json.Unmarshal([]byte(out), &f); err != nil || f.DurationHistogram.Count == 0 ||
			f.RetCodes["OK"] != f.DurationHistogram.Count {
			b.Fatalf("fortio printed %s (%v)", out, err)
		}
		theirs = append(theirs, f.ActualQPS)
		res, err := rt.Run(context.Background(), echoPlan(secs*time.Second), nil)
		if err != nil {
			b.Fatal(err)
		}
		if res.Dials.Failed > 0 || res.TimeSeries == nil {
			b.Fatalf("portex echo failed %d dials: %v", res.Dials.Failed, res.Failures)
		}
		pts := res.TimeSeries.Points
		ours = append(ours, float64(res.Latency.EchoRTT.Count)/pts[len(pts)-1].T)
	}
	p, f := median(ours), median(theirs)
	b.ReportMetric(p, "portex-rtt/s")
	b.ReportMetric(f, "fortio-rtt/s")
	b.ReportMetric(p/f, "ratio")
}

// churnEchoPlan is bench-churn-echo: one 64-byte echo per connection,
// then an RST close.
func churnEchoPlan(d time.Duration) *loadgen.Plan {
	p := churnPlan(256, d)
	p.Scenario = "bench-churn-echo"
	p.Pools[0].Messages, p.Pools[0].Payload = 1, 64
	// wrk closes with FIN, and its ports wait in TIME_WAIT: let them be
	// reused rather than run out.
	p.Sandbox.Sysctls = map[string]string{"net.ipv4.tcp_tw_reuse": "1"}
	return p
}

var wrkRate = regexp.MustCompile(`Requests/sec:\s+([0-9.]+)`)

// BenchmarkChurnEchoVsWrk: one 64-byte exchange per connection, new
// connections a second, portex against wrk with Connection: close
// (target: at least 1.2x), both against the same C server (httpd.c: an
// HTTP response for wrk, an echo for portex) in the same sandbox. Each
// gets the best of 4, 16, 64 and 256 concurrent connections (portex:
// workers); wrk does best at 64, portex at 256.
//
//	apt-get install wrk
//	go test ./sandbox -run '^$' -bench ChurnEchoVsWrk -benchtime 1x
func BenchmarkChurnEchoVsWrk(b *testing.B) {
	if _, err := exec.LookPath("wrk"); err != nil {
		b.Skip("wrk is needed: apt-get install wrk")
	}
	rt := &benchSandbox{serverExec: []string{buildC(b, "httpd"), "7000"}}
	const secs = 3
	verbose := os.Getenv("PORTEX_BENCH_VERBOSE") != ""
	var ours, theirs []float64
	for range 3 {
		var bestOurs, bestTheirs float64
		for _, conns := range []int{4, 16, 64, 256} {
			script := fmt.Sprintf(`exec wrk -t2 -c%d -d%ds -H 'Connection: close' http://$PORTEX_TARGET:$PORTEX_PORT/`, conns, secs)
			out, err := rt.Exec(context.Background(), churnEchoPlan(time.Second), []string{"/bin/sh", "-c", script})
			if err != nil {
				b.Fatal(err)
			}
			m := wrkRate.FindStringSubmatch(out)
			if m == nil || strings.Contains(out, "Socket errors") || strings.Contains(out, "Non-2xx") {
				b.Fatalf("wrk printed %s", out)
			}
			w, _ := strconv.ParseFloat(m[1], 64)
			p := churnEchoPlan(secs * time.Second)
			p.Pools[0].Workers = conns
			res, err := rt.Run(context.Background(), p, nil)
			if err != nil {
				b.Fatal(err)
			}
			if res.Dials.Failed > 0 || len(res.Failures) > 0 {
				b.Fatalf("portex failed: %d dials, %v", res.Dials.Failed, res.Failures)
			}
			if verbose {
				b.Logf("%d connections: portex %.0f/s, wrk %.0f/s", conns, rate(res), w)
			}
			bestOurs, bestTheirs = max(bestOurs, rate(res)), max(bestTheirs, w)
		}
		ours, theirs = append(ours, bestOurs), append(theirs, bestTheirs)
	}
	p, w := median(ours), median(theirs)
	b.ReportMetric(p, "portex-conn/s")
	b.ReportMetric(w, "wrk-conn/s")
	b.ReportMetric(p/w, "ratio")
}
