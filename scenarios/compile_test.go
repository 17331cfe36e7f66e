package scenarios

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/portex/portex/loadgen"
)

func TestPlansCompilesEveryField(t *testing.T) {
	src := `name: mixed
duration: 20s
sandbox:
  port_range: 50000-50099
  sysctls:
    net.ipv4.tcp_tw_reuse: 0
  nofile: 1024
server:
  port: 8000
pools:
  - name: holders
    workers: 10
    hold: forever
  - name: closed-by-server
    workers: 5
    messages: 3
    payload: 1KiB
    close: server
  - name: resetters
    close: reset
    hold: 1s
  - name: connect-only
    messages: 0
    close: server
stop:
  on: never
`
	s, err := Parse("mixed.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	plans, err := s.Plans()
	if err != nil {
		t.Fatal(err)
	}
	pool := func(name string, workers, messages, payload int, hold loadgen.Hold, close loadgen.CloseMode, port int) loadgen.Pool {
		return loadgen.Pool{Name: name, Workers: workers, Messages: messages, Payload: payload, Hold: hold,
			Close: close, ConnectTimeout: 5 * time.Second, Ports: []int{port}, Sources: 1, Bind: loadgen.BindAuto}
	}
	want := &loadgen.Plan{
		Scenario: "mixed",
		Variant:  "default",
		Runtime:  "netns",
		Duration: 20 * time.Second,
		Sandbox: loadgen.Sandbox{
			PortRange: loadgen.PortRange{Lo: 50000, Hi: 50099},
			Sysctls:   map[string]string{"net.ipv4.tcp_tw_reuse": "0"},
			Nofile:    1024,
		},
		Server: loadgen.ServerPlan{Listeners: []loadgen.Listener{
			{Port: 8000},
			{Port: 8001, CloseFirst: true, CloseAfterBytes: 3 * 1024}, // closed-by-server: after 3 messages of 1KiB
			{Port: 8002, CloseFirst: true, CloseAfterBytes: 0},        // connect-only: right after accept
		}},
		Pools: []loadgen.Pool{
			pool("holders", 10, 1, 64, loadgen.Hold{Kind: loadgen.HoldForever}, loadgen.CloseClient, 8000),
			pool("closed-by-server", 5, 3, 1024, loadgen.Hold{Kind: loadgen.HoldFixed}, loadgen.CloseServer, 8001),
			pool("resetters", 1, 1, 64, loadgen.Hold{Kind: loadgen.HoldFixed, Min: time.Second}, loadgen.CloseReset, 8000),
			pool("connect-only", 1, 0, 64, loadgen.Hold{Kind: loadgen.HoldFixed}, loadgen.CloseServer, 8002),
		},
		Stop: loadgen.Stop{On: loadgen.StopNever},
	}
	if len(plans) != 1 || !reflect.DeepEqual(plans[0], want) {
		t.Fatalf("got %s\nwant %s", mustJSON(t, plans), mustJSON(t, want))
	}

	// The plan crosses process boundaries as JSON: it must come back whole.
	back, err := loadgen.DecodePlan([]byte(mustJSON(t, plans[0])))
	if err != nil || !reflect.DeepEqual(back, want) {
		t.Errorf("JSON round trip: %v\n%+v", err, back)
	}

	// Plans must not share maps with the scenario or with each other.
	plans[0].Sandbox.Sysctls["net.ipv4.tcp_tw_reuse"] = "1"
	if s.Sandbox.Sysctls["net.ipv4.tcp_tw_reuse"] != "0" {
		t.Error("changing a plan's sysctls changed the scenario's")
	}
}

func TestPlansValidatesScenariosBuiltInCode(t *testing.T) {
	s, err := Parse("x.yaml", []byte(minimal))
	if err != nil {
		t.Fatal(err)
	}
	s.Pools[0].Workers = 0
	s.Sandbox.Sysctls = map[string]string{"vm.swappiness": "10"}
	_, err = s.Plans()
	firstProblem(t, err)
	for _, want := range []string{
		"pools[0].workers: must be between 1",
		`sandbox.sysctls.vm.swappiness: "vm.swappiness" is global to the host`,
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("missing %q in\n%v", want, err)
		}
	}

	// A scenario built from nothing reports its missing parts without
	// positions.
	_, err = (&Scenario{}).Plans()
	if p := firstProblem(t, err); p.Line != 0 {
		t.Errorf("got %v, want no position", p)
	}
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// An HTTP server's keys reach every plain listener; a pool the server
// closes keeps an echo listener of its own.
func TestPlansCompilesHTTPServer(t *testing.T) {
	src := `name: http
server:
  ports: 2
  protocol: http
  keepalive_requests: 100
  idle_timeout: 5s
pools:
  - name: background
    messages: 0
  - name: echoing
    close: server
`
	s, err := Parse("http.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	plans, err := s.Plans()
	if err != nil {
		t.Fatal(err)
	}
	want := []loadgen.Listener{
		{Port: 7000, Protocol: loadgen.ProtoHTTP, KeepaliveRequests: 100, IdleClose: 5 * time.Second},
		{Port: 7001, Protocol: loadgen.ProtoHTTP, KeepaliveRequests: 100, IdleClose: 5 * time.Second},
		{Port: 7002, CloseFirst: true, CloseAfterBytes: 64},
	}
	if got := plans[0].Server.Listeners; !reflect.DeepEqual(got, want) {
		t.Errorf("listeners:\n got %+v\nwant %+v", got, want)
	}
	if err := plans[0].Check(); err != nil {
		t.Errorf("the engine refuses the plan: %v", err)
	}
}
