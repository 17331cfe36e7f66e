package loadgen

import (
	"encoding/json"
	"testing"
	"time"
)

// The agent protocol refuses malformed plans: DecodePlan never panics, and
// whatever it accepts passes Check and survives a round trip.
func FuzzDecodePlan(f *testing.F) {
	good := &Plan{Scenario: "s", Variant: "default", Runtime: "netns", Duration: time.Second,
		Sandbox: Sandbox{PortRange: PortRange{Lo: 50000, Hi: 50199}},
		Server:  ServerPlan{Listeners: []Listener{{Port: 7000}}},
		Pools: []Pool{{Name: "p", Workers: 3, Messages: 1, Payload: 64, Hold: Hold{Kind: HoldForever},
			Close: CloseClient, ConnectTimeout: time.Second, Ports: []int{7000}}},
		Stop: Stop{On: StopOnExhaustion}}
	data, _ := json.Marshal(good)
	f.Add(data)
	f.Add([]byte(`{}`))
	f.Add([]byte(`{"duration": -1}`))
	f.Add([]byte(`{"pools": [{"workers": 1e99}]}`))
	f.Add([]byte(`{"unknown": true}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := DecodePlan(data)
		if err != nil {
			return
		}
		if err := p.Check(); err != nil {
			t.Fatalf("accepted a plan that fails Check: %v", err)
		}
		again, err := json.Marshal(p)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := DecodePlan(again); err != nil {
			t.Fatalf("round trip refused: %v", err)
		}
	})
}

func TestDecodePlanRefusesMalformedPlans(t *testing.T) {
	for _, tt := range []struct{ name, json string }{
		{"not JSON", `{`},
		{"unknown field", `{"duration": 1000000000, "bogus": 1}`},
		{"no pools", `{"duration": 1000000000, "server": {"listeners": [{"port": 7000}]}, "stop": {"on": "never"}}`},
		{"pool dials a port nobody listens on", `{"duration": 1000000000, "server": {"listeners": [{"port": 7000}]},
			"pools": [{"name": "p", "workers": 1, "close": "client", "ports": [7001]}], "stop": {"on": "never"}}`},
		{"reversed range", `{"duration": 1000000000, "sandbox": {"port_range": {"lo": 60000, "hi": 50000}},
			"server": {"listeners": [{"port": 7000}]}, "pools": [{"name": "p", "workers": 1, "close": "client", "ports": [7000]}], "stop": {"on": "never"}}`},
	} {
		if _, err := DecodePlan([]byte(tt.json)); err == nil {
			t.Errorf("%s: accepted", tt.name)
		}
	}
}
