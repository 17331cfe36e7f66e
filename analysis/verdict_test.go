package analysis

import (
	"strings"
	"testing"
	"time"

	"github.com/portex/portex/loadgen"
	"github.com/portex/portex/result"
)

// steadySeries is a run whose client pins ramp up to level over ramp
// seconds, then stay there (plus grow per second), sampled every 0.1 s for
// secs seconds.
func steadySeries(secs, ramp float64, level, grow float64) *result.TimeSeries {
	ts := &result.TimeSeries{IntervalSeconds: 0.1}
	for i := 1; float64(i)/10 <= secs+1e-9; i++ {
		t := float64(i) / 10
		ports := level
		if t < ramp {
			ports = level * t / ramp
		}
		ports += grow * t
		ts.Points = append(ts.Points, result.Point{T: t, Attempted: 10, OK: 10,
			Client: &result.SocketStates{TimeWait: int(ports), PortsInUse: int(ports)}})
	}
	return ts
}

func modelRun(elapsed float64, m result.Model, ts *result.TimeSeries) *result.Result {
	m.PortBudget, m.Tuples = 150, 1
	if m.HorizonSeconds == 0 {
		m.HorizonSeconds = 3600
	}
	return &result.Result{Variant: "v", Runtime: "netns", ElapsedSeconds: elapsed, Stopped: result.StoppedDuration,
		PortRangeSize: 150, Sysctls: map[string]string{"net.ipv4.ip_local_port_range": "50000 50149"},
		Dials: result.Dials{Attempted: 100, OK: 100}, Failures: map[string]int64{}, Model: &m, TimeSeries: ts}
}

func TestJudge(t *testing.T) {
	for _, tt := range []struct {
		name    string
		run     *result.Result
		outcome string
		basis   string
		text    []string // fragments the verdict's line must hold
	}{
		{
			// The mitigations scenario's wider-range variant, run for 2 s:
			// 100/s of 200 ms holds closed by the client, TIME_WAIT 60 s,
			// 600 ports. Ports in use still climb: not held.
			name: "a run that ends while ports in use still climb is not held",
			run: modelRun(2, result.Model{PortsNeeded: 6020, ExhaustionAtSeconds: ptr(6.0), CycleSeconds: 60.2},
				steadySeries(2, 60.2, 6020, 0)),
			outcome: OutcomeNotExhausted, basis: BasisModel,
			text: []string{"NOT EXHAUSTED within 2.00s", "the model predicts the ports run out at about 6.00s", "a prediction, not measured"},
		},
		{
			name: "flat below the budget for a full cycle is held",
			run: modelRun(1.5, result.Model{PortsNeeded: 20, CycleSeconds: 0.2},
				steadySeries(1.5, 0.2, 20, 0)),
			outcome: OutcomeHeld, basis: BasisMeasured,
			text: []string{"HELD at a steady state: 20 of 150 ports in use", "a full cycle of 200ms, the hold"},
		},
		{
			name: "flat, but with connections held forever still to open, is not held",
			run: func() *result.Result {
				r := modelRun(1.5, result.Model{PortsNeeded: 40, HeldConnections: 40}, steadySeries(1.5, 0.2, 20, 0))
				r.PeakOpen = 20
				return r
			}(),
			outcome: OutcomeNotExhausted, basis: BasisModel,
			text: []string{"no steady state: 20 of the pools' 40 connections were open at most when the load stopped",
				"showing it takes all 40 connections open, then 1.00s of them held"},
		},
		{
			name: "flat for less than a cycle is not held; the model's steady state is a prediction",
			run: modelRun(1.5, result.Model{PortsNeeded: 120, CycleSeconds: 60.2},
				steadySeries(1.5, 0.2, 120, 0)),
			outcome: OutcomeNotExhausted, basis: BasisModel,
			text: []string{"holds at a steady state with 120 of 150 ports", "showing it takes a run of 120.40s", "TIME_WAIT alone lasts 60 s"},
		},
		{
			name: "a leak that looks flat over one cycle is not held",
			run: modelRun(3, result.Model{PortsNeeded: 150, ExhaustionAtSeconds: ptr(26.2), CycleSeconds: 0.2, Grows: true},
				steadySeries(3, 0.2, 20, 1)),
			outcome: OutcomeNotExhausted, basis: BasisModel,
			text: []string{"run out at about 26.20s", "never closed"},
		},
		{
			name: "flat at the budget is not held",
			run: modelRun(3, result.Model{PortsNeeded: 150, CycleSeconds: 0.2},
				steadySeries(3, 0.2, 150, 0)),
			outcome: OutcomeNotExhausted,
		},
		{
			name: "an interrupted run says so, not NOT EXHAUSTED",
			run: func() *result.Result {
				r := modelRun(0.5, result.Model{PortsNeeded: 6020, ExhaustionAtSeconds: ptr(1.5), CycleSeconds: 60.2}, steadySeries(0.5, 60.2, 6020, 0))
				r.Stopped = result.StoppedInterrupted
				return r
			}(),
			outcome: OutcomeInterrupted, basis: BasisModel,
			text: []string{"INTERRUPTED after 0.50s, before an answer"},
		},
		{
			name: "a run without a model is only not exhausted within its length",
			run: func() *result.Result {
				r := modelRun(1.5, result.Model{}, steadySeries(1.5, 0.2, 20, 0))
				r.Model = nil
				return r
			}(),
			outcome: OutcomeNotExhausted, basis: BasisMeasured,
			text: []string{"NOT EXHAUSTED within 1.50s"},
		},
		{
			name: "exhaustion is measured",
			run: func() *result.Result {
				r := modelRun(1.5, result.Model{PortsNeeded: 6020, ExhaustionAtSeconds: ptr(1.5), CycleSeconds: 60.2}, nil)
				r.Exhaustion = &result.Exhaustion{Class: "EADDRNOTAVAIL", AtSeconds: 1.5, DialsOKBefore: 150, OpenConnections: 1}
				return r
			}(),
			outcome: OutcomeExhausted, basis: BasisMeasured,
			text: []string{"EXHAUSTED after 150 connections in 1.50s", "1 connection open"},
		},
		{
			name: "a run that failed is an error",
			run: func() *result.Result {
				r := modelRun(0.2, result.Model{PortsNeeded: 20, CycleSeconds: 0.2}, steadySeries(0.2, 0.2, 20, 0))
				r.Stopped, r.Error = result.StoppedError, "the echo server died mid-run"
				return r
			}(),
			outcome: OutcomeError,
			text:    []string{"ERROR after 0.20s", "the echo server died mid-run"},
		},
	} {
		t.Run(tt.name, func(t *testing.T) {
			v := Judge(tt.run)
			if v.Outcome != tt.outcome || (tt.basis != "" && v.Basis != tt.basis) {
				t.Errorf("outcome %s, basis %s; want %s, %s\n%s", v.Outcome, v.Basis, tt.outcome, tt.basis, v.Text)
			}
			for _, frag := range tt.text {
				if !strings.Contains(v.Text, frag) {
					t.Errorf("verdict lacks %q:\n%s", frag, v.Text)
				}
			}
			if v.Outcome != OutcomeHeld && strings.Contains(v.Text, "HELD") {
				t.Errorf("says held: %s", v.Text)
			}
		})
	}
}

// FindSteady's rows say what each checks.
func TestFindSteady(t *testing.T) {
	flat := func(n int, ports float64) []loadgen.PinSample {
		var s []loadgen.PinSample
		for i := 1; i <= n; i++ {
			s = append(s, loadgen.PinSample{T: float64(i) / 10, Ports: ports})
		}
		return s
	}
	for _, tt := range []struct {
		name    string
		samples []loadgen.PinSample
		window  float64
		budget  int
		want    bool
	}{
		{"flat for longer than the window", flat(20, 50), 1, 100, true},
		{"a window longer than the samples", flat(20, 50), 3, 100, false},
		{"at the budget", flat(20, 100), 1, 100, false},
		{"too few samples", flat(4, 50), 0.2, 100, false},
		{"a failure for want of a port in the window", func() []loadgen.PinSample {
			s := flat(20, 50)
			s[18].Exhausted = true
			return s
		}(), 1, 100, false},
		{"growing by more than noise", func() []loadgen.PinSample {
			s := flat(20, 50)
			for i := range s {
				s[i].Ports += float64(i)
			}
			return s
		}(), 1, 1000, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, got := loadgen.FindSteady(tt.samples, secondsDur(tt.window), tt.budget)
			if got != tt.want {
				t.Errorf("FindSteady = %v, want %v", got, tt.want)
			}
		})
	}
}

func secondsDur(s float64) time.Duration { return time.Duration(s * float64(time.Second)) }

func ptr[T any](v T) *T { return &v }

// A run of programs, not pools: portex dialed nothing, so the verdict
// counts the connections the server accepted from them.
func TestJudgePrograms(t *testing.T) {
	r := &result.Result{Variant: "v", Runtime: "netns", ElapsedSeconds: 0.3, Stopped: "exited",
		PortRangeSize: 200, Sysctls: map[string]string{"net.ipv4.ip_local_port_range": "40000 40199"},
		Failures: map[string]int64{}, Server: &result.ServerCounts{Accepted: 10},
		Programs: []result.ProgramResult{{Name: "goclient"}}}
	v := Judge(r)
	if v.Outcome != OutcomeNotExhausted || v.Basis != BasisMeasured || v.Predicted ||
		!strings.Contains(v.Text, "served the 10 connections the server accepted from the program,") {
		t.Errorf("verdict %+v", v)
	}
}

// A NAT's exhaustion says where, for which destination, and that the
// client saw timeouts; the client's own keeps its wording.
func TestJudgeNAT(t *testing.T) {
	r := &result.Result{ElapsedSeconds: 3, PortRangeSize: 30000,
		NAT:        &result.NAT{Mode: "masquerade", Ports: 100},
		Exhaustion: &result.Exhaustion{Where: "nat", Destination: "198.19.0.1:7000", Class: "ETIMEDOUT", AtSeconds: 1.01, DialsOKBefore: 100, OpenConnections: 100}}
	v := Judge(r)
	want := "EXHAUSTED at the NAT in 1.01s: the NAT ran out of ports for 198.19.0.1:7000 after 100 connections; the client saw timeouts, not EADDRNOTAVAIL (a pool of 100 NAT ports per destination, 100 connections open)"
	if v.Outcome != OutcomeExhausted || v.Text != want {
		t.Fatalf("verdict %s %q\nwant %q", v.Outcome, v.Text, want)
	}
	r.Exhaustion.Where = ""
	if v := Judge(r); !strings.HasPrefix(v.Text, "EXHAUSTED after 100 connections in 1.01s: connect() failed with ETIMEDOUT") {
		t.Errorf("the client's own exhaustion: %q", v.Text)
	}
}
