package scenarios

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"
)

func TestParseBounds(t *testing.T) {
	n := func(v int64) *int64 { return &v }
	tests := []struct {
		in       string
		min, max *int64
		bad      bool
	}{
		{in: "200", min: n(200), max: n(200)},
		{in: ">0", min: n(1)},
		{in: ">= 200", min: n(200)},
		{in: "<5", max: n(4)},
		{in: "<=10", max: n(10)},
		{in: "190..210", min: n(190), max: n(210)},
		{in: "<0", bad: true},
		{in: "210..190", bad: true},
		{in: "many", bad: true},
		{in: "-3", bad: true},
	}
	for _, tt := range tests {
		b, err := parseBounds(tt.in)
		if (err != nil) != tt.bad {
			t.Errorf("%q: err %v", tt.in, err)
			continue
		}
		if tt.bad {
			continue
		}
		if !eq(b.Min, tt.min) || !eq(b.Max, tt.max) {
			t.Errorf("%q: got %s", tt.in, b)
		}
	}
}

func eq(a, b *int64) bool { return (a == nil) == (b == nil) && (a == nil || *a == *b) }

func TestExpectDecodesAndVariantsReplaceIt(t *testing.T) {
	s, err := Parse("e.yaml", []byte(`name: e
pools:
  - name: p
expect:
  exhausted: true
  within: 5s
  dials_ok: {min: 200, max: 200}
  failures: {EADDRNOTAVAIL: ">0", EMFILE: 0}
  p99_connect: "<5ms"
  p50_schedule_lag: 200us
  p99_schedule_lag: "<2ms"
  max_time_wait: 1000
variants:
  - name: v
    expect:
      exhausted: false
`))
	if err != nil {
		t.Fatal(err)
	}
	runs, err := s.Runs()
	if err != nil {
		t.Fatal(err)
	}
	base, v := runs[0].Expect, runs[1].Expect
	if base == nil || !*base.Exhausted || base.Within != 5*time.Second || base.DialsOK.String() != "200" ||
		base.Failures["EADDRNOTAVAIL"].String() != ">= 1" || base.Failures["EMFILE"].String() != "0" ||
		base.P99Connect != 5*time.Millisecond || *base.MaxTimeWait != 1000 ||
		base.P50ScheduleLag != 200*time.Microsecond || base.P99ScheduleLag != 2*time.Millisecond {
		t.Errorf("baseline expect %+v", base)
	}
	if v == nil || *v.Exhausted || v.Within != 0 || v.Failures != nil {
		t.Errorf("variant expect %+v: want the variant's alone", v)
	}
}

func TestExpectProblems(t *testing.T) {
	tests := []struct{ body, want string }{
		{"expect:\n  exhausted: maybe\n", "e.yaml:5:14: expect.exhausted: want true or false"},
		{"expect:\n  failures: {EADDRNOTAVIAL: 0}\n", `e.yaml:5:14: expect.failures.EADDRNOTAVIAL: unknown failure class "EADDRNOTAVIAL"; did you mean "EADDRNOTAVAIL"?`},
		{"expect:\n  dials_ok: {min: 5, max: 2}\n", "e.yaml:5:13: expect.dials_ok: min 5 is above max 2"},
		{"expect:\n  p99_connect: soon\n", "e.yaml:5:16: expect.p99_connect: want a latency bound"},
		{"expect:\n  p99_schedule_lag: \"<0s\"\n", `e.yaml:5:21: expect.p99_schedule_lag: want a latency bound like "<5ms", got "<0s"`},
		{"expect:\n  p50_schedule_lag: [1ms]\n", "e.yaml:5:21: expect.p50_schedule_lag: want a duration"},
		{"expect:\n  exhaustd: true\n", `e.yaml:5:3: expect.exhaustd: unknown key`},
		{"expect:\n  verdict: fine\n", `e.yaml:5:12: expect.verdict: want one of exhausted, held, not_exhausted, fd_exhausted, got "fine"`},
	}
	for _, tt := range tests {
		_, err := Parse("e.yaml", []byte("name: e\npools:\n  - name: p\n"+tt.body))
		var ps Problems
		if !errors.As(err, &ps) || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%q: got %v, want %q", tt.body, err, tt.want)
		}
	}
}

// The expectations stay beside the plan: the plan that goes to the agent
// carries none.
func TestExpectStaysOutOfThePlan(t *testing.T) {
	s, err := Parse("e.yaml", []byte(`name: e
pools:
  - name: p
expect:
  exhausted: true
  max_time_wait: 10
`))
	if err != nil {
		t.Fatal(err)
	}
	runs, err := s.Runs()
	if err != nil {
		t.Fatal(err)
	}
	if len(runs) != 1 || runs[0].Expect == nil || !*runs[0].Expect.Exhausted {
		t.Fatalf("runs %+v: want one with its expectations", runs)
	}
	b, err := json.Marshal(runs[0].Plan)
	if err != nil {
		t.Fatal(err)
	}
	var keys map[string]json.RawMessage
	if err := json.Unmarshal(b, &keys); err != nil {
		t.Fatal(err)
	}
	if _, ok := keys["expect"]; ok || strings.Contains(string(b), "max_time_wait") {
		t.Errorf("the plan carries the expectations: %s", b)
	}
}
