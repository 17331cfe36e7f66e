package scenarios

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/portex/portex/loadgen"
)

// TestEveryKey loads testdata/good/every-key.yaml, which sets every key of
// the language, and checks the plan each run gets.
func TestEveryKey(t *testing.T) {
	s, err := Load("testdata/good/every-key.yaml")
	if err != nil {
		t.Fatal(err)
	}
	plans, err := s.Plans()
	if err != nil {
		t.Fatal(err)
	}
	if got, want := s.VariantNames(), []string{"baseline", "tw-reuse", "slower"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("VariantNames = %v, want %v", got, want)
	}
	if len(plans) != 3 {
		t.Fatalf("got %d plans, want 3", len(plans))
	}
	plainClose := loadgen.Listener{CloseFirst: true, CloseAfterBytes: 2 * 1024, IdleClose: 2 * time.Second}
	listener := func(port int, l loadgen.Listener) loadgen.Listener { l.Port = port; return l }
	baseline := &loadgen.Plan{
		Scenario: "every-key",
		Variant:  "baseline",
		Runtime:  "netns",
		Family:   loadgen.FamilyIPv6,
		Duration: 20 * time.Second,
		Sandbox: loadgen.Sandbox{
			PortRange: loadgen.PortRange{Lo: 50000, Hi: 50099},
			Sysctls:   map[string]string{"net.ipv4.tcp_tw_reuse": "0", "net.ipv4.tcp_fin_timeout": "30"},
			Nofile:    4096,
		},
		Server: loadgen.ServerPlan{
			Listeners: []loadgen.Listener{
				// Plain listeners close after 2 messages of the 1KiB the
				// pools dialing them send, or after 2s idle.
				listener(8000, plainClose), listener(8001, plainClose), listener(8002, plainClose),
				// closed-by-server's own, one per destination, above the
				// plain ones: after its 2 messages of 64B.
				{Port: 8003, CloseFirst: true, CloseAfterBytes: 128},
				{Port: 8004, CloseFirst: true, CloseAfterBytes: 128},
			},
			Backlog:     128,
			LingerReset: true,
			Sysctls:     map[string]string{"net.core.somaxconn": "1024"},
		},
		Pools: []loadgen.Pool{
			{
				Name: "open", Rate: 200, Ramp: []loadgen.Stage{{To: 400, Over: 10 * time.Second}, {To: 0.5, Over: time.Minute}},
				MaxInFlight: 50, Start: time.Second, Duration: 15 * time.Second,
				Messages: 3, Payload: 1024, Interval: 10 * time.Millisecond,
				Hold:  loadgen.Hold{Kind: loadgen.HoldUniform, Min: time.Second, Max: 5 * time.Second},
				Close: loadgen.CloseKeep, PoolSize: 20, ConnectTimeout: 2 * time.Second,
				Ports: []int{8000, 8001, 8002}, Sources: 4, Bind: loadgen.BindNoPort,
			},
			{
				Name: "closed", Workers: 7, Messages: 1, Payload: 1024,
				Hold:  loadgen.Hold{Kind: loadgen.HoldExp, Min: 2 * time.Second},
				Close: loadgen.CloseClient, Leak: 0.05, ConnectTimeout: 5 * time.Second,
				Ports: []int{8000}, Sources: 1, Bind: loadgen.BindBeforeConnect, Family: loadgen.FamilyDual,
			},
			{
				Name: "ramped", Ramp: []loadgen.Stage{{To: 100, Over: 5 * time.Second}}, MaxInFlight: 1000,
				Messages: 1, Payload: 1024, Hold: loadgen.Hold{Kind: loadgen.HoldForever},
				Close: loadgen.CloseReset, ConnectTimeout: 5 * time.Second,
				Ports: []int{8000}, Sources: 1, Bind: loadgen.BindAuto,
			},
			{
				Name: "closed-by-server", Workers: 1, Messages: 2, Payload: 64,
				Hold:  loadgen.Hold{Kind: loadgen.HoldFixed},
				Close: loadgen.CloseServer, ConnectTimeout: 5 * time.Second,
				Ports: []int{8003, 8004}, Sources: 1, Bind: loadgen.BindAuto,
			},
		},
		Stop: loadgen.Stop{On: loadgen.StopOnFirstFailure, AfterFailures: 10},
	}
	if !reflect.DeepEqual(plans[0], baseline) {
		t.Errorf("baseline:\ngot  %s\nwant %s", mustJSON(t, plans[0]), mustJSON(t, baseline))
	}

	// tw-reuse sets one sysctl: the scenario's others stay.
	twReuse := *baseline
	twReuse.Variant = "tw-reuse"
	twReuse.Sandbox.Sysctls = map[string]string{"net.ipv4.tcp_tw_reuse": "1", "net.ipv4.tcp_fin_timeout": "30"}
	if !reflect.DeepEqual(plans[1], &twReuse) {
		t.Errorf("tw-reuse:\ngot  %s\nwant %s", mustJSON(t, plans[1]), mustJSON(t, &twReuse))
	}

	slower := plans[2]
	open, closed := slower.Pools[0], slower.Pools[1]
	checks := []struct {
		what      string
		got, want any
	}{
		{"duration replaced", slower.Duration, 10 * time.Second},
		{"server close: client: plain listeners wait for the client", slower.Server.Listeners[0], loadgen.Listener{Port: 8000}},
		{"the server-close pool's own listeners stay", slower.Server.Listeners[3], baseline.Server.Listeners[3]},
		{"linger default", slower.Server.LingerReset, false},
		{"untouched server keys stay", slower.Server.Backlog, 128},
		{"rate replaced", open.Rate, 50.0},
		{"the ramp stays", open.Ramp, baseline.Pools[0].Ramp},
		{"close replaced", open.Close, loadgen.CloseClient},
		{"pool_size only for keep", open.PoolSize, 0},
		{"untouched pool keys stay", open.Hold, baseline.Pools[0].Hold},
		{"rate makes a pool of workers open", [2]any{closed.Workers, closed.Rate}, [2]any{0, 10.0}},
		{"with the default max_in_flight", closed.MaxInFlight, DefaultMaxInFlight},
		{"and keeps its leak", closed.Leak, 0.05},
		{"pools not named are unchanged", slower.Pools[2], baseline.Pools[2]},
		{"stop.on replaced", slower.Stop.On, loadgen.StopNever},
		{"stop.after_failures stays", slower.Stop.AfterFailures, int64(10)},
		{"family replaced", slower.Family, loadgen.FamilyIPv4},
		{"a pool's own family stays", closed.Family, loadgen.FamilyDual},
		{"a pool without one takes the scenario's", slower.FamilyOf(&slower.Pools[2]), loadgen.FamilyIPv4},
	}
	for _, c := range checks {
		if !reflect.DeepEqual(c.got, c.want) {
			t.Errorf("slower: %s: got %#v, want %#v", c.what, c.got, c.want)
		}
	}

	// Plans share no maps with the scenario or with each other.
	plans[1].Sandbox.Sysctls["net.ipv4.tcp_fin_timeout"] = "1"
	plans[1].Server.Sysctls["net.core.somaxconn"] = "1"
	if s.Sandbox.Sysctls["net.ipv4.tcp_fin_timeout"] != "30" || plans[0].Sandbox.Sysctls["net.ipv4.tcp_fin_timeout"] != "30" ||
		s.Server.Sysctls["net.core.somaxconn"] != "1024" || plans[2].Server.Sysctls["net.core.somaxconn"] != "1024" {
		t.Error("plans share sysctl maps")
	}
	// Applying variants leaves the scenario as it was.
	if s.Pools[1].Workers != 7 || s.Duration != 20*time.Second || s.Sandbox.Sysctls["net.ipv4.tcp_tw_reuse"] != "0" {
		t.Errorf("a variant changed the scenario: %+v", s)
	}
	// Every plan crosses process boundaries as JSON.
	for _, p := range plans {
		if back, err := loadgen.DecodePlan([]byte(mustJSON(t, p))); err != nil || !reflect.DeepEqual(back, p) {
			t.Errorf("%s: JSON round trip: %v", p.Variant, err)
		}
	}
}

// TestLanguageProblems checks one problem for each rule of the language,
// with its position and key.
func TestLanguageProblems(t *testing.T) {
	const head = "name: x\npools:\n  - name: a\n"
	const variant = "variants:\n  - name: v\n"
	tests := []struct {
		why string
		src string
		at  string // "line:col: key"
		msg string // a part of the message
	}{
		// Pools: the open model.
		{"a rate is a number per unit", head + "    rate: fast\n", "4:11: pools[0].rate", `want a rate like 200/s or 30/m, got "fast"`},
		{"per second or minute only", head + "    rate: 2/h\n", "4:11: pools[0].rate", `unknown unit "/h"; use /s or /m`},
		{"no sign", head + "    rate: -5/s\n", "4:11: pools[0].rate", `got "-5/s"`},
		{"a zero rate sends nothing", head + "    rate: 0/s\n", "4:11: pools[0].rate", "must be more than 0/s; to start from nothing, leave rate out and begin with a ramp"},
		{"a rate has a ceiling", head + "    rate: 2000000/s\n", "4:11: pools[0].rate", "must be between 0/s and 1000000/s, got 2000000/s"},
		{"rate, then workers: one problem", head + "    rate: 5/s\n    max_in_flight: 3\n    workers: 2\n", "4:5: pools[0].rate", "exclude each other"},
		{"workers and ramp", head + "    workers: 2\n    ramp: [{to: 1/s, over: 1s}]\n", "5:5: pools[0].ramp", "workers (a closed model"},
		{"a ramp is a list", head + "    ramp: 5\n", "4:11: pools[0].ramp", `want a list of rate stages like [{to: 400/s, over: 10s}], got "5"`},
		{"an empty ramp", head + "    ramp: []\n", "4:11: pools[0].ramp", "needs at least one stage"},
		{"a stage needs time", head + "    ramp: [{to: 1/s, over: 0s}]\n", "4:28: pools[0].ramp[0].over", "must be more than 0s and at most 24h, got 0s"},
		{"a stage needs a rate", head + "    ramp: [{over: 1s}]\n", "4:12: pools[0].ramp[0].to", `missing key "to"`},
		{"a stage's rate", head + "    ramp: [{to: 1, over: 1s}]\n", "4:17: pools[0].ramp[0].to", "a number needs a unit"},
		{"stage keys", head + "    ramp: [{to: 1/s, over: 1s, from: 0/s}]\n", "4:32: pools[0].ramp[0].from", `unknown key "from" in ramp stage`},
		{"max_in_flight needs a rate", head + "    workers: 3\n    max_in_flight: 5\n", "5:5: pools[0].max_in_flight", "applies to an open pool, one with a rate"},
		{"max_in_flight at least 1", head + "    rate: 1/s\n    max_in_flight: 0\n", "5:20: pools[0].max_in_flight", "must be between 1 and 1000000, got 0"},
		// Pools: time.
		{"start not negative", head + "    start: -1s\n", "4:12: pools[0].start", "must not be negative"},
		{"start within the run", head + "    start: 40s\n", "4:12: pools[0].start", "the pool starts at 40s, when the run (duration 30s) is over"},
		{"a pool's duration", head + "    duration: 0s\n", "4:15: pools[0].duration", "must be more than 0s"},
		{"interval not negative", head + "    interval: -1ms\n", "4:15: pools[0].interval", "must be between 0s and 24h"},
		{"uniform takes two", head + "    hold: uniform(1s)\n", "4:11: pools[0].hold", "(uniform takes two durations, like uniform(1s,5s))"},
		{"uniform's durations", head + "    hold: uniform(1s, 5)\n", "4:11: pools[0].hold", "uniform's second duration: a number needs a unit"},
		{"exp's mean", head + "    hold: exp(soon)\n", "4:11: pools[0].hold", "exp's mean: want a duration like 500ms or 2s"},
		{"known distributions", head + "    hold: normal(1s)\n", "4:11: pools[0].hold", `unknown distribution "normal"; use uniform(min,max) or exp(mean)`},
		{"exp not negative", head + "    hold: exp(-1s)\n", "4:11: pools[0].hold", "must not be negative"},
		// Pools: closing.
		{"keep", head + "    close: kept\n", "4:12: pools[0].close", `did you mean "keep"?`},
		{"pool_size at least 1", head + "    close: keep\n    pool_size: 0\n", "5:16: pools[0].pool_size", "must be between 1 and 1000000, got 0"},
		{"leak at most 100%", head + "    leak: 150%\n", "4:11: pools[0].leak", "must be between 0% and 100%, got 150%"},
		{"leak needs a %", head + "    leak: 5\n", "4:11: pools[0].leak", "(a share needs a % sign)"},
		{"leak with close leak", head + "    close: leak\n    leak: 5%\n", "5:5: pools[0].leak", "with close: leak it closes none anyway"},
		{"leak with close keep", head + "    close: keep\n    leak: 5%\n", "5:5: pools[0].leak", "with close: keep it closes none anyway"},
		// Pools: addresses.
		{"destinations at least 1", head + "    destinations: 0\n", "4:19: pools[0].destinations", "must be between 1 and 1000, got 0"},
		{"destinations need server ports", "name: x\npools:\n  - name: a\n    destinations: 2\n", "4:19: pools[0].destinations", "set server.ports to at least 2"},
		{"a server-close pool's own listeners", "name: x\nserver:\n  port: 65530\n  ports: 4\npools:\n  - name: a\n    close: server\n    destinations: 3\n",
			"7:12: pools[0].close", "up to server.port+6 = 65536, above 65535"},
		{"source addresses", head + "    source_addresses: 65\n", "4:23: pools[0].source_addresses", "must be between 1 and 64, got 65"},
		// An unresponsive server.
		{"drop_syn a share", head + "server:\n  drop_syn: maybe\n", "5:13: server.drop_syn", "want true (drop every SYN), false, or a share like 50%"},
		{"drop_syn at most 100%", head + "server:\n  drop_syn: 150%\n", "5:13: server.drop_syn", "must be between 0% and 100%, got 150%"},
		{"drop_syn on netns only", head + "runtime: docker\nserver:\n  drop_syn: true\n", "6:13: server.drop_syn", "runs on the netns runtime only"},
		// The user's server.
		{"server exec with the bundled server's keys", head + "server:\n  exec: [nginx]\n  linger: reset\n", "6:11: server.linger", "server.exec replaces it on the plain ports"},
		{"ready_timeout without exec", head + "server:\n  ready_timeout: 5s\n", "5:18: server.ready_timeout", "applies to server.exec"},
		{"ready_timeout bounds", head + "server:\n  exec: [nginx]\n  ready_timeout: 1ms\n", "6:18: server.ready_timeout", "must be between 100ms and 10m"},
		{"server env names", head + "server:\n  exec: [nginx]\n  env: {PORTEX_PORT: 1}\n", "6:9: server.env.PORTEX_PORT", "are portex's own"},
		// The NAT.
		{"nat addresses at least 1", head + "nat:\n  ports: 60000-60099\n  mode: snat\n  addresses: 0\n", "7:14: nat.addresses", "must be between 1 and 64, got 0"},
		{"nat addresses need snat", head + "nat:\n  ports: 60000-60099\n  addresses: 2\n", "6:14: nat.addresses", "need mode: snat"},
		{"nat slices divide the pool", head + "nat:\n  ports: 60000-60099\n  per_client_ports: 30\n", "6:21: nat.per_client_ports", "does not divide the pool's 100 ports into whole slices; try 25"},
		{"nat slices for every client address", head + "    source_addresses: 5\nnat:\n  ports: 60000-60099\n  per_client_ports: 25\n", "4:23: pools[0].source_addresses", "gives only 4 slices"},
		{"nat conntrack timeouts in seconds", head + "nat:\n  ports: 60000-60099\n  conntrack:\n    time_wait: 1500ms\n", "7:16: nat.conntrack.time_wait", "a whole number of seconds"},
		{"nat conntrack max at least 1", head + "nat:\n  ports: 60000-60099\n  conntrack:\n    max: 0\n", "7:10: nat.conntrack.max", "must be at least 1"},
		{"nat conntrack keys", head + "nat:\n  ports: 60000-60099\n  conntrack:\n    timewait: 10s\n", "7:5: nat.conntrack.timewait", `did you mean "time_wait"?`},
		{"bind modes", head + "    bind: any\n", "4:11: pools[0].bind", `want one of auto, before_connect, no_port; got "any"`},
		{"bind typo", head + "    bind: before-connect\n", "4:11: pools[0].bind", `did you mean "before_connect"?`},
		// Address families.
		{"families", head + "family: ipv5\n", "4:9: family", `want one of ipv4, ipv6, dual; got "ipv5"`},
		{"family typo", head + "    family: ipv-6\n", "4:13: pools[0].family", `did you mean "ipv6"?`},
		{"family not empty", head + "    family: \"\"\n", "4:13: pools[0].family", `want one of ipv4, ipv6, dual; got ""`},
		{"family a string", head + "family: [ipv6]\n", "4:9: family", "want a string"},
		{"ipv6 on netns only", head + "runtime: docker\nfamily: ipv6\n", "5:9: family", "runs on the netns runtime only"},
		{"a pool's dual on netns only", head + "    family: dual\nruntime: docker\n", "4:13: pools[0].family", "runs on the netns runtime only"},
		{"ipv6 without a nat", head + "    family: ipv6\nnat:\n  ports: 60000-60099\n", "4:13: pools[0].family", "the router translates IPv4 only"},
		// Server.
		{"ports at least 1", head + "server:\n  ports: 0\n", "5:10: server.ports", "must be between 1 and 1000, got 0"},
		{"ports within 65535", head + "server:\n  port: 65000\n  ports: 600\n", "6:10: server.ports", "server.port .. server.port+599 = 65599 go above 65535"},
		{"backlog", head + "server:\n  backlog: -1\n", "5:12: server.backlog", "must be between 0 (the default) and 65535, got -1"},
		{"linger", head + "server:\n  linger: maybe\n", "5:11: server.linger", `want "reset" (close with RST: no TIME_WAIT on the server) or "default" (close with FIN), got "maybe"`},
		{"server sysctls", head + "server:\n  sysctls:\n    kernel.pid_max: 5\n", "6:5: server.sysctls.kernel.pid_max", "global to the host"},
		{"server close mapping empty", head + "server:\n  close: {}\n", "5:10: server.close", "want after_messages, idle or both in the mapping"},
		{"server close keys", head + "server:\n  close: {idel: 1s}\n", "5:11: server.close.idel", `unknown key "idel" in server.close; did you mean "idle"?`},
		{"after_messages not negative", head + "server:\n  close: {after_messages: -1}\n", "5:27: server.close.after_messages", "must be between 0 and 1000000000, got -1"},
		{"idle more than 0s", head + "server:\n  close: {idle: 0s}\n", "5:17: server.close.idle", "must be more than 0s, got 0s"},
		// Stop.
		{"first_failure", head + "stop:\n  on: first-failure\n", "5:7: stop.on", `did you mean "first_failure"?`},
		// Variants.
		{"variants are a list", head + "variants: 5\n", "4:11: variants", `want a list of variants (each item starting with "- name: "), got "5"`},
		{"a variant is a mapping", head + "variants:\n  - 5\n", "5:5: variants[0]", `want a mapping of keys, got "5"`},
		{"variant names", head + "variants:\n  - name: Tw Reuse\n", "5:11: variants[0].name", `"Tw Reuse" is not a valid variant name`},
		{"variant keys", head + "variants:\n  - name: v\n    runtime: docker\n", "6:5: variants[0].runtime", `unknown key "runtime" in variant; known keys: name, description, duration, sandbox, server, pools, stop`},
		{"variant pools are a list", head + variant + "    pools: {name: a}\n", "6:12: variants[0].pools", "want a list of pool changes, each naming a pool of the scenario"},
		{"a pool change names its pool", head + variant + "    pools:\n      - close: reset\n", "7:9: variants[0].pools[0]", `missing key "name": a variant changes a pool of the scenario by naming it`},
		{"a pool change is a mapping", head + variant + "    pools:\n      - a\n", "7:9: variants[0].pools[0]", "want a mapping that names a pool of the scenario"},
		{"a pool is changed once", head + variant + "    pools:\n      - name: a\n      - name: a\n        close: reset\n", "8:9: variants[0].pools[1]", `pool "a" is already changed by item 0 of this list; merge the two`},
		{"an unknown pool, nothing near", head + variant + "    pools:\n      - name: zzz\n", "7:15: variants[0].pools[0].name", `the scenario has no pool named "zzz"; its pools: a`},
		{"variant stop", head + variant + "    stop:\n      on: sometimes\n", "7:11: variants[0].stop.on", "want one of exhaustion, first_failure, never"},
		{"variant duration", head + variant + "    duration: 0s\n", "6:15: variants[0].duration", "must be more than 0s"},
		{"variant sandbox", head + variant + "    sandbox:\n      port_range: 60000-50000\n", "7:19: variants[0].sandbox.port_range", "the low end 60000 is above the high end 50000"},
		{"variant server", head + variant + "    server:\n      ports: 0\n", "7:14: variants[0].server.ports", "must be between 1 and 1000"},
		{"variant pool models", head + variant + "    pools:\n      - name: a\n        workers: 2\n        rate: 1/s\n", "9:9: variants[0].pools[0].rate", "exclude each other"},
		{"a variant's max_in_flight on a pool of workers", head + variant + "    pools:\n      - name: a\n        max_in_flight: 3\n",
			"8:9: variants[0].pools[0].max_in_flight", "applies to an open pool"},
		{"a variant's ramp replaces the scenario's, positions too", "name: x\npools:\n  - name: a\n    ramp: [{to: 1/s, over: 1s}, {to: 2/s, over: 1s}]\n" +
			variant + "    pools:\n      - name: a\n        ramp: [{to: 3/s, over: 0s}]\n", "9:32: variants[0].pools[0].ramp[0].over", "must be more than 0s"},
		// A resolved variant obeys every rule of the scenario.
		{"a variant makes a leaky pool keep", "name: x\npools:\n  - name: a\n    leak: 3%\n" + variant + "    pools:\n      - name: a\n        close: keep\n        pool_size: 5\n",
			"9:9: variants[0].pools[0].close", "with close: keep the pool closes no connection, so the leak: 3% it has from the scenario would never apply; add leak: 0%"},
		{"a variant makes a leaky pool leak", "name: x\npools:\n  - name: a\n    leak: 3%\n" + variant + "    pools:\n      - name: a\n        close: leak\n",
			"9:9: variants[0].pools[0].close", "with close: leak the pool closes no connection"},
		{"a variant adds a leak to a keep pool", "name: x\npools:\n  - name: a\n    close: keep\n" + variant + "    pools:\n      - name: a\n        leak: 3%\n",
			"9:9: variants[0].pools[0].leak", "with close: keep it closes none anyway"},
		{"a variant's destinations", head + variant + "    pools:\n      - name: a\n        destinations: 2\n", "8:23: variants[0].pools[0].destinations", "set server.ports to at least 2"},
		{"a variant that breaks a rule at the scenario's key", "name: x\nserver:\n  close: {after_messages: 1}\npools:\n  - name: a\n  - name: b\n    close: server\n" +
			variant + "    pools:\n      - name: b\n        close: client\n        payload: 1KiB\n",
			"3:27: server.close.after_messages", `different payloads (a: 64B, b: 1KiB), so after_messages: 1 is no single byte count; give those pools one payload, or make a pool close: server (in variant "v")`},
	}
	// Each variant copies and checks the whole scenario: the number of
	// variants and of pools is bounded, so that loading stays quick.
	tests = append(tests,
		struct{ why, src, at, msg string }{"at most 100 variants", head + "variants:\n" + strings.Repeat("  - name: v\n", 101),
			"5:3: variants", "has 101 variants; a scenario may have at most 100, one run each"},
		struct{ why, src, at, msg string }{"at most 256 pools", "name: x\npools:\n" + strings.Repeat("  - {}\n", 257),
			"3:3: pools", "has 257 pools; a scenario may have at most 256"},
		struct{ why, src, at, msg string }{"a variant's empty sysctl value", head + variant + "    sandbox:\n      sysctls:\n        net.ipv4.tcp_tw_reuse: ''\n",
			"8:32: variants[0].sandbox.sysctls.net.ipv4.tcp_tw_reuse", "want a value, got nothing"},
	)
	for _, tt := range tests {
		_, err := Parse("f.yaml", []byte(tt.src))
		if err == nil {
			t.Errorf("%s: no problem", tt.why)
			continue
		}
		p := firstProblem(t, err)
		if got := p.String(); !strings.HasPrefix(got, "f.yaml:"+tt.at+": ") || !strings.Contains(p.Msg, tt.msg) {
			t.Errorf("%s:\n got %s\nwant f.yaml:%s: ...%s...", tt.why, err, tt.at, tt.msg)
		}
	}
}

// TestLanguageAccepts checks scenarios that look suspicious and are fine.
func TestLanguageAccepts(t *testing.T) {
	tests := []struct{ why, src string }{
		{"a ramp from nothing", "name: x\npools:\n  - name: a\n    ramp: [{to: 100/s, over: 5s}, {to: 0/s, over: 5s}]\n"},
		{"a rate with a ramp", "name: x\npools:\n  - name: a\n    rate: 0.5/s\n    ramp: [{to: 30/m, over: 5s}]\n"},
		{"keep without pool_size", "name: x\npools:\n  - name: a\n    close: keep\n"},
		{"leak 0% with close leak", "name: x\npools:\n  - name: a\n    close: leak\n    leak: 0%\n"},
		{"server close pools need no plain port of theirs", "name: x\npools:\n  - name: a\n    close: server\n    destinations: 5\n"},
		{"one payload for after_messages", "name: x\nserver:\n  close: {after_messages: 0}\npools:\n  - name: a\n  - name: b\n  - name: c\n    close: server\n    payload: 1KiB\n"},
		{"an empty variant list", "name: x\npools:\n  - name: a\nvariants: []\n"},
		{"a variant makes an open pool closed", "name: x\npools:\n  - name: a\n    rate: 10/s\n    max_in_flight: 5\nvariants:\n  - name: v\n    pools:\n      - name: a\n        workers: 3\n"},
		{"a variant stops keeping", "name: x\npools:\n  - name: a\n    close: keep\n    pool_size: 5\nvariants:\n  - name: v\n    pools:\n      - name: a\n        close: client\n"},
		{"a variant stops the server closing", "name: x\nserver:\n  close: {idle: 1s}\npools:\n  - name: a\nvariants:\n  - name: v\n    server:\n      close: client\n"},
		{"a variant makes a leaky pool keep, and stops its leak", "name: x\npools:\n  - name: a\n    leak: 3%\nvariants:\n  - name: v\n    pools:\n      - name: a\n        close: keep\n        leak: 0%\n"},
		{"a variant named default", "name: x\npools:\n  - name: a\nvariants:\n  - name: default\n"},
		{"a server of the user's", "name: x\nserver:\n  exec: [nginx, -g, \"daemon off;\"]\n  env: {CONF: /etc/x}\n  ready_timeout: 30s\npools:\n  - name: a\n"},
		{"drop_syn as a share", "name: x\nserver:\n  drop_syn: 25%\npools:\n  - name: a\n"},
		{"a NAT with every key", "name: x\npools:\n  - name: a\n    source_addresses: 8\nnat:\n  ports: 60000-60099\n  mode: snat\n  addresses: 2\n  random_fully: true\n  per_client_ports: 25\n  conntrack: {time_wait: 30s, established: 350s, close_wait: 60s, max: 5000}\n"},
	}
	for _, tt := range tests {
		s, err := Parse("f.yaml", []byte(tt.src))
		if err == nil {
			_, err = s.Plans()
		}
		if err != nil {
			t.Errorf("%s: %v", tt.why, err)
		}
	}
}

func TestVariantNamesAndPlansFor(t *testing.T) {
	src := `name: x
pools:
  - name: a
variants:
  - name: one
  - name: two
  - name: three
`
	s, err := Parse("f.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		why   string
		names []string
		want  []string // the plans' variants; nil when an error is wanted
		err   string
	}{
		{"no names: every run, the baseline first", nil, []string{"baseline", "one", "two", "three"}, ""},
		{"run order, not argument order", []string{"three", "baseline"}, []string{"baseline", "three"}, ""},
		{"a name twice runs once", []string{"two", "two"}, []string{"two"}, ""},
		{"an unknown name lists the variants", []string{"one", "tow"},
			nil, `f.yaml: no variant "tow"; did you mean "two"?; the variants are baseline, one, two, three`},
		{"nothing near", []string{"zzz"}, nil, `no variant "zzz"; the variants are baseline, one, two, three`},
		{"an empty name", []string{""}, nil, `no variant ""; the variants are`},
	}
	for _, tt := range tests {
		plans, err := s.PlansFor(tt.names)
		if tt.want == nil {
			if p := firstProblem(t, err); !strings.Contains(p.String(), tt.err) || p.Line != 0 {
				t.Errorf("%s: got %v, want %q", tt.why, err, tt.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", tt.why, err)
			continue
		}
		var got []string
		for _, p := range plans {
			got = append(got, p.Variant)
		}
		if !reflect.DeepEqual(got, tt.want) {
			t.Errorf("%s: got %v, want %v", tt.why, got, tt.want)
		}
	}

	// A variant named baseline takes the baseline's place.
	s, err = Parse("f.yaml", []byte(src+"  - name: baseline\n    duration: 5s\n"))
	if err != nil {
		t.Fatal(err)
	}
	plans, err := s.Plans()
	if err != nil {
		t.Fatal(err)
	}
	if got := s.VariantNames(); !reflect.DeepEqual(got, []string{"one", "two", "three", "baseline"}) {
		t.Errorf("with a variant named baseline: %v", got)
	}
	if last := plans[len(plans)-1]; last.Variant != "baseline" || last.Duration != 5*time.Second {
		t.Errorf("the variant named baseline: %+v", last)
	}

	// Without variants, one plan: default.
	s, _ = Parse("f.yaml", []byte(minimal))
	if got := s.VariantNames(); !reflect.DeepEqual(got, []string{"default"}) {
		t.Errorf("without variants: %v", got)
	}
	if plans, err := s.PlansFor([]string{"default"}); err != nil || len(plans) != 1 {
		t.Errorf("PlansFor(default): %v %v", plans, err)
	}
}

// A problem of the scenario is reported once, not once more per variant.
func TestVariantProblemsReportedOnce(t *testing.T) {
	src := `name: x
sandbox:
  nofile: 5
pools:
  - name: a
    hold: soon
    workers: 0
variants:
  - name: v1
    pools:
      - name: a
        close: reset
  - name: v2
    duration: 1s
    pools:
      - name: a
        hold: forever
        workers: -1
`
	want := []string{
		"f.yaml:3:11: sandbox.nofile: must be between 16 and 1048576",
		"f.yaml:6:11: pools[0].hold: want a duration",
		"f.yaml:7:14: pools[0].workers: must be between 1 and 1000000, got 0",
		"f.yaml:18:18: variants[1].pools[0].workers: must be between 1 and 1000000, got -1",
	}
	_, err := Parse("f.yaml", []byte(src))
	firstProblem(t, err)
	lines := strings.Split(err.Error(), "\n")
	if len(lines) != len(want) {
		t.Fatalf("got %d problems, want %d:\n%v", len(lines), len(want), err)
	}
	for i, w := range want {
		if !strings.HasPrefix(lines[i], w) {
			t.Errorf("problem %d:\n got %s\nwant %s...", i, lines[i], w)
		}
	}
}

// Variants are applied when Plans runs, so changes made in code to the
// scenario reach them.
func TestVariantsSeeChangesMadeInCode(t *testing.T) {
	src := "name: x\nsandbox:\n  sysctls:\n    net.ipv4.tcp_tw_reuse: 0\npools:\n  - name: a\nvariants:\n" +
		"  - name: v\n    sandbox:\n      sysctls:\n        net.ipv4.tcp_fin_timeout: 5\n    pools:\n      - name: a\n        close: reset\n"
	s, err := Parse("f.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	s.Pools[0].Workers = 9
	s.Sandbox.Sysctls["net.ipv4.tcp_tw_reuse"] = "1"
	plans, err := s.PlansFor([]string{"v"})
	if err != nil {
		t.Fatal(err)
	}
	p := plans[0]
	if p.Pools[0].Workers != 9 || p.Pools[0].Close != loadgen.CloseReset ||
		!reflect.DeepEqual(p.Sandbox.Sysctls, map[string]string{"net.ipv4.tcp_tw_reuse": "1", "net.ipv4.tcp_fin_timeout": "5"}) {
		t.Errorf("variant v: %s", mustJSON(t, p))
	}

	// A variant built in code, without overrides, is the scenario under
	// another name.
	s.Variants = append(s.Variants, Variant{Name: "plain"})
	plans, err = s.PlansFor([]string{"plain"})
	if err != nil || plans[0].Variant != "plain" || plans[0].Pools[0].Close != loadgen.CloseClient {
		t.Errorf("a variant built in code: %v %+v", err, plans)
	}
	// Its problems have no position, and say which variant.
	s.Variants = append(s.Variants, Variant{Name: "plain"})
	_, err = s.Plans()
	if p := firstProblem(t, err); p.Key != "variants[2].name" || !strings.Contains(p.Msg, "already used by variants[1]") {
		t.Errorf("duplicate variant built in code: %v", p)
	}
}
