package sandbox

import (
	"bytes"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/portex/portex/analysis"
	"github.com/portex/portex/loadgen"
	"github.com/portex/portex/report"
	"github.com/portex/portex/result"
)

// The kernel's answers, run by portex in real namespaces and set beside
// its model and its report. The figures are those of a plain socket
// program in fresh namespaces: a 200-port range with 50 reserved holds
// 150; 20 TIME_WAIT buckets keep 50/s of client closes on 100 ports from
// ever running out (the other closes skip TIME_WAIT); tcp_tw_reuse=1
// takes a TIME_WAIT port once tcp_tw_reuse_delay old, so 300/s on 100
// ports gets 100 a second, and with a 200 ms delay all 300;
// tcp_timestamps=0 on the server disables that reuse.

// kernelChurn is 50 (or rate) new connections a second, closed by the
// client at once, on a 100-port range, for d, never stopping early.
func kernelChurn(rate float64, d time.Duration) *loadgen.Plan {
	p := holdPlan(0, range100())
	p.Duration = d
	p.Stop = loadgen.Stop{On: loadgen.StopNever}
	p.Pools[0] = loadgen.Pool{Name: "churn", Rate: rate, MaxInFlight: 50, Messages: 1, Payload: 64,
		Hold: loadgen.Hold{Kind: loadgen.HoldFixed}, Close: loadgen.CloseClient,
		ConnectTimeout: time.Second, Ports: []int{7000}}
	return p
}

// judged attaches the model and the verdict, as the CLI does, and renders
// the text report.
func judged(t *testing.T, p *loadgen.Plan, res *result.Result) string {
	t.Helper()
	analysis.AttachModel(p, res)
	v := analysis.Judge(res)
	res.Verdict = &v
	var b bytes.Buffer
	if err := report.WriteText(&b, &result.ResultFile{Schema: result.Schema, Scenario: "kernel", Runs: []*result.Result{res}}, report.TextOptions{}); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// agrees checks the model's state at the last sample against the
// sample's, in the result and in the report.
func agrees(t *testing.T, res *result.Result, text string) {
	t.Helper()
	c := res.Model.Check
	if c == nil || !c.Agrees {
		t.Errorf("the model's state does not match the run: %+v", c)
		return
	}
	if !strings.Contains(text, "it expects") || strings.Contains(text, "does not match") {
		t.Errorf("report lacks the model's state:\n%s", text)
	}
}

func skipShort(t *testing.T) {
	if testing.Short() {
		t.Skip("real namespaces")
	}
}

func TestReservedPortsLeaveTheRest(t *testing.T) {
	skipShort(t)
	t.Parallel()
	t.Run("held", func(t *testing.T) {
		t.Parallel()
		p := holdPlan(300, loadgen.PortRange{Lo: 50000, Hi: 50199})
		p.Sandbox.Sysctls[loadgen.SysctlReservedPorts] = "50000-50049"
		res := run(t, p)
		text := judged(t, p, res)
		if res.Dials.OK != 150 || res.Exhaustion == nil || res.Exhaustion.DialsOKBefore != 150 {
			t.Errorf("ok %d, exhaustion %+v: want 150 connections of 200 ports with 50 reserved", res.Dials.OK, res.Exhaustion)
		}
		if res.Sysctls[loadgen.SysctlReservedPorts] != "50000-50049" {
			t.Errorf("reserved ports read back as %q", res.Sysctls[loadgen.SysctlReservedPorts])
		}
		if m := res.Model; m.PortBudget != 150 || m.PortRange != 200 {
			t.Errorf("model budget %d of %d, want 150 of 200", m.PortBudget, m.PortRange)
		}
		if !strings.Contains(res.Verdict.Text, "150 usable of 200 ports") || res.Verdict.Budget != 150 {
			t.Errorf("verdict (budget %d): %s", res.Verdict.Budget, res.Verdict.Text)
		}
		if !strings.Contains(text, "150 usable of 200 ports") {
			t.Errorf("report lacks the usable ports:\n%s", text)
		}
		var md bytes.Buffer
		if err := report.WriteMarkdown(&md, &result.ResultFile{Schema: result.Schema, Scenario: "kernel", Runs: []*result.Result{res}}); err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(md.String(), "150 usable of 200 ports") {
			t.Errorf("summary.md lacks the usable ports:\n%s", md.String())
		}
	})
	t.Run("churn", func(t *testing.T) {
		t.Parallel()
		p := kernelChurn(50, 5*time.Second)
		p.Sandbox.PortRange = loadgen.PortRange{Lo: 50000, Hi: 50199}
		p.Sandbox.Sysctls[loadgen.SysctlReservedPorts] = "50000-50049"
		p.Stop = loadgen.Stop{On: loadgen.StopOnExhaustion}
		res := run(t, p)
		judged(t, p, res)
		if res.Exhaustion == nil || math.Abs(res.Exhaustion.AtSeconds-3) > 0.2 || res.Exhaustion.DialsOKBefore != 150 {
			t.Fatalf("exhaustion %+v, want after 150 dials at about 3.00 s", res.Exhaustion)
		}
		if at := res.Model.ExhaustionAtSeconds; at == nil || math.Abs(*at-3) > 1e-3 {
			t.Errorf("model predicts %v, want 3.00 s", at)
		}
	})
}

func TestTimeWaitBucketsNeverExhaust(t *testing.T) {
	skipShort(t)
	t.Parallel()
	p := kernelChurn(50, 6*time.Second)
	p.Sandbox.Sysctls[loadgen.SysctlMaxTwBuckets] = "20"
	res := run(t, p)
	text := judged(t, p, res)
	if res.Exhaustion != nil || res.Failures["EADDRNOTAVAIL"] != 0 || res.Dials.OK < 290 {
		t.Errorf("exhaustion %+v, failures %v, %d ok: want 300 and no exhaustion", res.Exhaustion, res.Failures, res.Dials.OK)
	}
	overflow := res.Kernel.Client["TcpExtTCPTimeWaitOverflow"]
	if want := res.Dials.OK - 20; overflow < want-5 || overflow > want {
		t.Errorf("TCPTimeWaitOverflow %d, want about %d (every close past the 20 buckets)", overflow, want)
	}
	// The time series carries the counter as it moves, interval by
	// interval; the first overflow comes once 20 sockets sit in
	// TIME_WAIT, at about 0.4 s.
	var series int64
	first := -1.0
	for _, pt := range res.TimeSeries.Points {
		if n := pt.Kernel["TcpExtTCPTimeWaitOverflow"]; n > 0 {
			series += n
			if first < 0 {
				first = pt.T
			}
		}
	}
	if series < overflow-60 || series > overflow || first < 0.3 || first > 1 {
		t.Errorf("time series: %d overflows from %.2fs, want about %d from 0.4 s", series, first, overflow)
	}
	m := res.Model
	if m.ExhaustionAtSeconds != nil || m.TimeWaitSockets != 20 || m.TimeWaitBuckets != 20 {
		t.Errorf("model: exhaustion %v, %.1f TIME_WAIT sockets (buckets %d); want none and 20", m.ExhaustionAtSeconds, m.TimeWaitSockets, m.TimeWaitBuckets)
	}
	if !strings.Contains(text, "the kernel skipped TIME_WAIT for ") || !strings.Contains(text, "tcp_max_tw_buckets=20") {
		t.Errorf("report lacks the overflow:\n%s", text)
	}
	agrees(t, res, text)
}

func TestReuseDelay(t *testing.T) {
	skipShort(t)
	if _, err := readSysctl(loadgen.SysctlTwReuseDelay); err != nil {
		t.Skip("this kernel has no tcp_tw_reuse_delay")
	}
	t.Parallel()
	t.Run("1s: 100 of 300 a second", func(t *testing.T) {
		t.Parallel()
		p := kernelChurn(300, 3*time.Second)
		p.Pools[0].MaxInFlight = 300
		p.Sandbox.Sysctls[loadgen.SysctlTwReuse] = "1"
		res := run(t, p)
		judged(t, p, res)
		// Every second the ports of the second before come free at once:
		// at most 100 dials succeed a second, the rest fail. What the
		// kernel guarantees is the bound; how many rounds of reuse a busy
		// machine fits in the run is the scheduler's: the fresh range and
		// at least one round.
		secs := res.ElapsedSeconds
		if ok := float64(res.Dials.OK); ok > 100*math.Ceil(secs)+5 || ok < 200 {
			t.Errorf("%d ok in %.2fs, want at most 100 a second, and at least the range and one round of reuse (200)", res.Dials.OK, secs)
		}
		if f := float64(res.Failures["EADDRNOTAVAIL"]); f < 100*secs {
			t.Errorf("%v failures in %.2fs, want EADDRNOTAVAIL for most of the 300 a second", res.Failures, secs)
		}
		m := res.Model
		if r := m.MaxSustainableRatePerS; r == nil || math.Abs(*r-100) > 1e-3 || m.ReuseDelaySeconds != 1 {
			t.Errorf("model sustains %v/s with delay %.1fs, want 100/s and 1s", r, m.ReuseDelaySeconds)
		}
		if at := m.ExhaustionAtSeconds; at == nil || math.Abs(*at-1.0/3) > 1e-3 {
			t.Errorf("model exhaustion %v, want 1/3 s", at)
		}
		if res.Kernel.Client["TcpExtTWRecycled"] < 100 {
			t.Errorf("TWRecycled %d: connect() should have taken over TIME_WAIT ports", res.Kernel.Client["TcpExtTWRecycled"])
		}
	})
	t.Run("200ms: all 300 a second", func(t *testing.T) {
		t.Parallel()
		p := kernelChurn(300, 3*time.Second)
		p.Pools[0].MaxInFlight = 300
		p.Sandbox.Sysctls[loadgen.SysctlTwReuse] = "1"
		p.Sandbox.Sysctls[loadgen.SysctlTwReuseDelay] = "200"
		res := run(t, p)
		judged(t, p, res)
		// Every dial succeeds while the schedule keeps up. On a busy
		// machine a schedule that fell behind catches up in a burst, and
		// a burst of more than the 40 spare ports within 200 ms fails a
		// few (with the 1 s delay two in three fail).
		lag := time.Duration(res.Latency.ScheduleLag.P99Us) * time.Microsecond
		switch {
		case res.Dials.OK < 850:
			t.Errorf("%d ok in 3 s, want 900", res.Dials.OK)
		case lag < 20*time.Millisecond && res.Dials.Failed > 0:
			t.Errorf("failures %v with the schedule on time (p99 lag %s): want none", res.Failures, lag)
		case res.Dials.Failed*10 > res.Dials.Attempted:
			t.Errorf("failures %v (p99 lag %s): want none but what bursts explain", res.Failures, lag)
		}
		if res.Sysctls[loadgen.SysctlTwReuseDelay] != "200" {
			t.Errorf("delay read back as %q", res.Sysctls[loadgen.SysctlTwReuseDelay])
		}
		m := res.Model
		if m.ExhaustionAtSeconds != nil || m.MaxSustainableRatePerS == nil || math.Abs(*m.MaxSustainableRatePerS-500) > 1e-3 {
			t.Errorf("model: exhaustion %v, sustains %v; want none and 500/s", m.ExhaustionAtSeconds, m.MaxSustainableRatePerS)
		}
	})
}

// With tcp_tw_reuse=1, the TIME_WAIT sockets pile up (at most one a port
// connect() cycles through) while their ports are reused after the delay: the model states both
// figures, and both match the run's.
func TestReuseModelStateMatches(t *testing.T) {
	skipShort(t)
	t.Parallel()
	p := kernelChurn(50, 4*time.Second)
	p.Sandbox.Sysctls[loadgen.SysctlTwReuse] = "1"
	res := run(t, p)
	text := judged(t, p, res)
	if res.Dials.Failed != 0 {
		t.Errorf("failures %v", res.Failures)
	}
	agrees(t, res, text)
	// connect() scans one parity of the range first: the 50 young
	// TIME_WAIT ports fit in it, and only its 50 ports are cycled.
	if c := res.Model.Check; c != nil && (c.Ports != 50 || c.TimeWait != 50) {
		t.Errorf("model state %+v, want 50 ports (50/s x 1 s) and 50 TIME_WAIT sockets (one a port of one parity)", c)
	}
}

// tcp_timestamps=0 on the server: the TIME_WAIT sockets carry no
// timestamp and tcp_tw_reuse=1 cannot take them; 50/s runs out at 2 s.
func TestServerTimestampsOffDisableReuse(t *testing.T) {
	skipShort(t)
	t.Parallel()
	p := kernelChurn(50, 5*time.Second)
	p.Stop = loadgen.Stop{On: loadgen.StopOnExhaustion}
	p.Sandbox.Sysctls[loadgen.SysctlTwReuse] = "1"
	p.Server.Sysctls = map[string]string{loadgen.SysctlTimestamps: "0"}
	res := run(t, p)
	judged(t, p, res)
	if res.ServerSysctls[loadgen.SysctlTimestamps] != "0" || res.Sysctls[loadgen.SysctlTimestamps] != "1" {
		t.Errorf("timestamps read back: client %q, server %q", res.Sysctls[loadgen.SysctlTimestamps], res.ServerSysctls[loadgen.SysctlTimestamps])
	}
	if res.Exhaustion == nil || math.Abs(res.Exhaustion.AtSeconds-2) > 0.3 {
		t.Fatalf("exhaustion %+v, want at about 2 s", res.Exhaustion)
	}
	if m := res.Model; m.ReusesTimeWait || m.ExhaustionAtSeconds == nil || math.Abs(*m.ExhaustionAtSeconds-2) > 1e-3 {
		t.Errorf("model: reuse %v, exhaustion %v; want no reuse, 2 s", m.ReusesTimeWait, m.ExhaustionAtSeconds)
	}
}
