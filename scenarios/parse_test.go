package scenarios

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/portex/portex/loadgen"
)

// minimal is the smallest valid scenario.
const minimal = "name: tiny\npools:\n  - name: clients\n"

func TestParseAppliesDefaults(t *testing.T) {
	s, err := Parse("tiny.yaml", []byte(minimal))
	if err != nil {
		t.Fatal(err)
	}
	want := &Scenario{
		File:     "tiny.yaml",
		Name:     "tiny",
		Duration: 30 * time.Second,
		Runtime:  "netns",
		Server:   Server{Port: 7000, Ports: 1},
		Stop:     Stop{On: loadgen.StopOnExhaustion},
		Pools: []Pool{{
			Name: "clients", Workers: 1, MaxInFlight: 1000, Messages: 1, Payload: 64,
			Hold:  loadgen.Hold{Kind: loadgen.HoldFixed},
			Close: loadgen.CloseClient, ConnectTimeout: 5 * time.Second,
			Destinations: 1, SourceAddresses: 1, Bind: loadgen.BindAuto,
		}},
	}
	s.values, s.keys = nil, nil
	if !reflect.DeepEqual(s, want) {
		t.Errorf("got  %+v\nwant %+v", s, want)
	}
}

func TestParseReadsEveryKey(t *testing.T) {
	src := `name: all-keys
description: |
  Every key set.
duration: 1m30s
runtime: docker
sandbox:
  port_range: 40000-40099
  sysctls:
    net.ipv4.tcp_tw_reuse: 1
    net.ipv4.tcp_rmem: 4096 131072 6291456
    net.ipv4.tcp_fin_timeout: 0x1e
  nofile: 4096
server:
  port: 9000
pools:
  - name: a
    workers: 1_000
    messages: 0
    payload: 4KB
    hold: 250ms
    close: reset
    connect_timeout: 2s
  - name: b
    payload: !!str 1KiB
    hold: forever
    close: leak
stop:
  on: never
`
	s, err := Parse("all.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	checks := []struct {
		what      string
		got, want any
	}{
		{"description keeps the text, trimmed", s.Description, "Every key set."},
		{"duration in Go syntax", s.Duration, 90 * time.Second},
		{"runtime", s.Runtime, "docker"},
		{"port range", s.Sandbox.PortRange, loadgen.PortRange{Lo: 40000, Hi: 40099}},
		{"sysctl integer", s.Sandbox.Sysctls["net.ipv4.tcp_tw_reuse"], "1"},
		{"sysctl with spaces", s.Sandbox.Sysctls["net.ipv4.tcp_rmem"], "4096 131072 6291456"},
		{"sysctl integer in hex is written in decimal", s.Sandbox.Sysctls["net.ipv4.tcp_fin_timeout"], "30"},
		{"nofile", s.Sandbox.Nofile, 4096},
		{"server port", s.Server.Port, 9000},
		{"workers with YAML digit separators", s.Pools[0].Workers, 1000},
		{"messages 0 is kept, not defaulted", s.Pools[0].Messages, 0},
		{"payload KB is 1000 bytes", s.Pools[0].Payload, 4000},
		{"hold fixed", s.Pools[0].Hold, loadgen.Hold{Kind: loadgen.HoldFixed, Min: 250 * time.Millisecond}},
		{"close", s.Pools[0].Close, loadgen.CloseReset},
		{"connect timeout", s.Pools[0].ConnectTimeout, 2 * time.Second},
		{"explicit !!str size", s.Pools[1].Payload, 1024},
		{"hold forever", s.Pools[1].Hold, loadgen.Hold{Kind: loadgen.HoldForever}},
		{"second pool keeps its defaults", s.Pools[1].Workers, 1},
		{"stop", s.Stop.On, loadgen.StopNever},
	}
	for _, c := range checks {
		if !reflect.DeepEqual(c.got, c.want) {
			t.Errorf("%s: got %#v, want %#v", c.what, c.got, c.want)
		}
	}
}

// TestBadFiles loads each file in testdata/bad and checks its first
// problem: position, key path and the words that explain it.
func TestBadFiles(t *testing.T) {
	tests := []struct {
		file      string
		line, col int
		key       string // "" when the problem has no key
		want      string // a part of the message
	}{
		{"unknown-key", 5, 5, "pools[0].wrokers", `unknown key "wrokers" in pool; did you mean "workers"?`},
		{"port-range-reversed", 3, 15, "sandbox.port_range", "the low end 60000 is above the high end 50000"},
		{"hold-soon", 4, 11, "pools[0].hold", `or "forever", got "soon"`},
		{"sysctl-global", 6, 5, "sandbox.sysctls.net.ipv4.tcp_mem", "is global to the host, not per network namespace; portex never writes the host's sysctls; allowed: net.core.somaxconn,"},
		{"sysctl-unknown", 4, 5, "sandbox.sysctls.net.ipv4.tcp_tw_resue", `did you mean "net.ipv4.tcp_tw_reuse"?`},
		{"sysctl-value", 4, 31, "sandbox.sysctls.net.ipv4.tcp_fin_timeout", "may hold only letters, digits"},
		{"sysctl-not-a-number", 4, 31, "sandbox.sysctls.net.ipv4.tcp_fin_timeout", `want an integer from 0 to 2147483 (seconds), got "banana"`},
		{"server-sysctl-range", 4, 28, "server.sysctls.net.ipv4.tcp_tw_reuse", "want an integer from 0 to 2: 0 off, 1 on, 2 on for loopback only, got 7"},
		{"variant-sysctl-range", 11, 32, "variants[0].sandbox.sysctls.net.ipv4.tcp_tw_reuse", "from 0 to 2"},
		{"port-range-sysctl", 4, 5, "sandbox.sysctls.net.ipv4.ip_local_port_range", "set the port range with sandbox.port_range"},
		{"empty", 1, 1, "", "the scenario is empty; it needs at least a name and one pool"},
		{"only-comments", 1, 1, "", "the scenario is empty"},
		{"not-a-mapping", 1, 1, "", "a scenario is a mapping of keys (name, pools, ...), got a list"},
		{"workers-many", 4, 14, "pools[0].workers", `want an integer, got "many"`},
		{"quoted-integer", 4, 14, "pools[0].workers", "quoted, so a string"},
		{"workers-negative", 4, 14, "pools[0].workers", "must be between 1 and 1000000, got -5"},
		{"duplicate-pool-names", 5, 11, "pools[1].name", `pool name "holders" is already used by pools[0]`},
		{"duplicate-key", 5, 1, "duration", `duplicate key "duration" (first set on line 2)`},
		{"port-70000", 3, 9, "server.port", "must be between 1 and 65535, got 70000"},
		{"server-close-overflow", 6, 12, "pools[0].close", "65536, above 65535"},
		{"close-mode", 4, 12, "pools[0].close", `want one of client, server, reset, leak, keep; got "rst"`},
		{"stop-on", 5, 7, "stop.on", `got "exhausted"; did you mean "exhaustion"?`},
		{"runtime", 2, 10, "runtime", `want one of netns, docker; got "kubernetes"`},
		{"nat-docker", 4, 3, "nat", "a NAT in the path runs on the netns runtime only"},
		{"nat-ports-reversed", 3, 10, "nat.ports", "the low end 60099 is above the high end 60000"},
		{"nat-mode", 4, 9, "nat.mode", `want one of masquerade, snat; got "masq"`},
		{"nat-no-ports", 3, 3, "nat", `missing required key "ports"`},
		{"nat-random", 4, 17, "nat.random_fully", `want true or false, got "yes"`},
		{"payload-unit", 4, 14, "pools[0].payload", `got "64BB" (unknown unit "BB"`},
		{"payload-zero", 5, 14, "pools[0].payload", "at least 1 byte when messages is more than 0"},
		{"duration-zero", 2, 11, "duration", "must be more than 0s"},
		{"nofile", 3, 11, "sandbox.nofile", "must be between 16 and 1048576"},
		{"bad-name", 1, 7, "name", `"My Scenario" is not a valid name`},
		{"missing-name", 2, 1, "name", `missing required key "name"`},
		{"pools-not-list", 3, 3, "pools", "want a list of pools"},
		{"multi-document", 4, 1, "", "a second YAML document starts here"},
		{"tab-indent", 4, 1, "", "indent with spaces, not tabs"},
		{"bad-indentation", 5, 4, "", "check the indentation"},
		{"unclosed-quote", 2, 14, "", "the quoted string that starts here is never closed"},
		{"alias", 3, 5, "pools[0]", "anchors (&base) are not supported"},
		{"tag", 4, 14, "pools[0].workers", "tag !custom is not supported"},
		{"rate-unit", 4, 11, "pools[0].rate", `want a rate like 200/s or 30/m, got "200" (a number needs a unit: /s or /m)`},
		{"workers-and-rate", 5, 5, "pools[0].rate", "workers (a closed model: each worker opens one connection after another) and rate (an open model: connections arrive on a schedule) exclude each other; keep one"},
		{"destinations-over-ports", 7, 19, "pools[0].destinations", "dials 3 server ports, but the server listens on 2 (server.ports); set server.ports to at least 3"},
		{"leak-percent", 4, 11, "pools[0].leak", `got "0.05" (a share needs a % sign; as a fraction, 0.05 would be 5%)`},
		{"hold-uniform-reversed", 4, 11, "pools[0].hold", "want 0 <= min <= max, got uniform(5s,1s)"},
		{"server-close-payloads", 3, 27, "server.close.after_messages", "send different payloads (small: 64B, large: 1KiB), so after_messages: 1 is no single byte count"},
		{"server-protocol", 3, 13, "server.protocol", `want one of echo, http; got "gopher"`},
		{"server-keepalive-echo", 3, 3, "server.keepalive_requests", "applies to an HTTP server only; add protocol: http"},
		{"server-http-messages", 6, 15, "pools[0].messages", "the server speaks http and pools exchange echo messages only; set messages: 0"},
		{"server-http-close", 4, 10, "server.close", "an HTTP server closes connections by keepalive_requests and idle_timeout"},
		{"server-http-idle", 4, 17, "server.idle_timeout", "must be more than 0s, got 0s"},
		{"server-close-word", 5, 10, "server.close", `want "client", {after_messages: N} or {idle: 2s}, got "server"`},
		{"ramp-stage-missing", 5, 9, "pools[0].ramp[0].over", `missing key "over": a ramp stage is like {to: 400/s, over: 10s}`},
		{"pool-size-without-keep", 4, 5, "pools[0].pool_size", `applies only to close: keep, the keep-alive pool; this pool closes with "client"`},
		{"stop-after-failures", 5, 19, "stop.after_failures", "must be 0 (no limit) or more, got -1"},
		{"variant-unknown-pool", 7, 15, "variants[0].pools[0].name", `the scenario has no pool named "client"; did you mean "clients"?`},
		{"variant-duplicate-name", 7, 11, "variants[2].name", `variant name "a" is already used by variants[0]`},
		{"variant-unknown-key", 6, 5, "variants[0].sandbx", `unknown key "sandbx" in variant; did you mean "sandbox"?`},
		{"variant-bad-value", 8, 15, "variants[0].pools[0].hold", `got "soon"`},
		{"variant-global-sysctl", 11, 9, "variants[0].sandbox.sysctls.net.ipv4.tcp_mem", "is global to the host"},
		{"variant-breaks-rule", 6, 19, "pools[0].destinations", `the server listens on 1 (server.ports); set server.ports to at least 3 (in variant "one-port")`},
		{"variant-missing-name", 5, 5, "variants[0].name", `missing required key "name": a short id like tw-reuse`},
	}
	listed := make(map[string]bool)
	for _, tt := range tests {
		listed[tt.file+".yaml"] = true
		t.Run(tt.file, func(t *testing.T) {
			path := filepath.Join("testdata", "bad", tt.file+".yaml")
			_, err := Load(path)
			p := firstProblem(t, err)
			if p.File != path || p.Line != tt.line || p.Col != tt.col || p.Key != tt.key {
				t.Errorf("problem at %s:%d:%d key %q, want %s:%d:%d key %q", p.File, p.Line, p.Col, p.Key, path, tt.line, tt.col, tt.key)
			}
			prefix := fmt.Sprintf("%s:%d:%d: ", path, tt.line, tt.col)
			if tt.key != "" {
				prefix += tt.key + ": "
			}
			if text := err.Error(); !strings.HasPrefix(text, prefix) || !strings.Contains(text, tt.want) {
				t.Errorf("error text\n%s\nwant prefix %q and %q", text, prefix, tt.want)
			}
		})
	}
	files, _ := filepath.Glob(filepath.Join("testdata", "bad", "*.yaml"))
	for _, f := range files {
		if !listed[filepath.Base(f)] {
			t.Errorf("%s has no row in this table", f)
		}
	}
}

// firstProblem checks that err is a non-empty Problems and returns its first.
func firstProblem(t *testing.T, err error) Problem {
	t.Helper()
	var ps Problems
	if !errors.As(err, &ps) || len(ps) == 0 {
		t.Fatalf("want Problems, got %T: %v", err, err)
	}
	return ps[0]
}

func TestParseReportsEveryProblem(t *testing.T) {
	src := `name: Several Problems
duraton: 10s
sandbox:
  port_range: 60000-50000
  sysctls:
    kernel.pid_max: 1000
pools:
  - name: a
    workers: many
    hold: soon
  - name: a
    close: rst
stop:
  on: sometimes
`
	want := []string{
		`f.yaml:1:7: name: "Several Problems" is not a valid name`,
		`f.yaml:2:1: duraton: unknown key "duraton" in scenario; did you mean "duration"?`,
		`f.yaml:4:15: sandbox.port_range: the low end 60000`,
		`f.yaml:6:5: sandbox.sysctls.kernel.pid_max: "kernel.pid_max" is global to the host`,
		`f.yaml:9:14: pools[0].workers: want an integer, got "many"`,
		`f.yaml:10:11: pools[0].hold: want a duration`,
		`f.yaml:11:11: pools[1].name: pool name "a" is already used by pools[0]`,
		`f.yaml:12:12: pools[1].close: want one of client, server, reset, leak, keep; got "rst"`,
		`f.yaml:14:7: stop.on: want one of exhaustion, first_failure, never, verdict; got "sometimes"`,
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

func TestBadValuesAreReportedOnce(t *testing.T) {
	// A value that fails to decode keeps its default; the validator must
	// not report that default as a second problem.
	tests := []struct{ src, why string }{
		{"name: x\npools: 5\n", "pools not a list: no \"needs at least one pool\""},
		{"name: x\npools:\n  - [a]\n", "pool not a mapping: no \"missing name\""},
		{"name: x\nduration: soon\npools:\n  - name: a\n", "bad duration: no range problem"},
		{"name: x\npools:\n  - name: a\n    workers: 1.5\n", "float workers: no range problem"},
		{"name: x\npools:\n  - name: a\n    rate: 5/s\n    max_in_flight: 3\n    workers: 2\n", "workers and rate: the conflict, not what follows from it"},
		{"name: x\npools:\n  - name: a\n    rate: fast\n", "bad rate: no workers problem"},
		{"name: x\npools: 5\nvariants:\n  - name: v\n    pools:\n      - name: a\n", "no pools: no unknown pool in a variant"},
		{"name: x\nduration: soon\npools:\n  - name: a\nvariants:\n  - name: v\n  - name: w\n", "bad duration: not again per variant"},
		{"name: x\nsandbox:\n  nofile: 1\npools:\n  - name: a\nvariants:\n  - name: v\n    duration: 5s\n", "a scenario's problem: not again per variant"},
		{"name: x\npools:\n  - name: a\nvariants:\n  - name: v\n    pools:\n      - name: a\n        hold: soon\n", "a variant's bad value: reported once"},
	}
	for _, tt := range tests {
		_, err := Parse("f.yaml", []byte(tt.src))
		firstProblem(t, err)
		if n := strings.Count(err.Error(), "\n") + 1; n != 1 {
			t.Errorf("%s: got %d problems:\n%v", tt.why, n, err)
		}
	}
}

func TestParseRefusesBinaryInput(t *testing.T) {
	tests := []struct {
		why       string
		data      []byte
		line, col int
		want      string
	}{
		{"invalid UTF-8", []byte("name: x\npools: \xff\xfe\n"), 2, 8, "is not UTF-8 text (byte 0xff)"},
		{"NUL byte", []byte("name: x\x00\n"), 1, 8, "control character U+0000"},
		{"UTF-16 with a byte-order mark", []byte("\xff\xfen\x00a\x00"), 1, 1, "is not UTF-8 text"},
		{"random bytes", randomBytes(4096), 0, 0, ""},
	}
	for _, tt := range tests {
		_, err := Parse("bin.yaml", tt.data)
		p := firstProblem(t, err)
		if tt.line > 0 && (p.Line != tt.line || p.Col != tt.col || !strings.Contains(p.Msg, tt.want)) {
			t.Errorf("%s: got %v, want %d:%d %q", tt.why, p, tt.line, tt.col, tt.want)
		}
	}
}

func randomBytes(n int) []byte {
	r := rand.New(rand.NewPCG(1, 2))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.UintN(256))
	}
	return b
}

func TestSizeLimit(t *testing.T) {
	big := bytes.Repeat([]byte("# padding to make the file larger than the limit\n"), (2<<20)/50)
	big = append([]byte(minimal), big...)
	path := filepath.Join(t.TempDir(), "big.yaml")
	if err := os.WriteFile(path, big, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		why string
		err error
	}{
		{"Load refuses it before reading", func() error { _, err := Load(path); return err }()},
		{"Parse refuses it too", func() error { _, err := Parse(path, big); return err }()},
	} {
		p := firstProblem(t, tc.err)
		if p.File != path || p.Line != 0 || !strings.Contains(p.Msg, "may be at most 1 MiB") {
			t.Errorf("%s: got %v", tc.why, p)
		}
	}
}

func TestLoadFileProblems(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		why, path, want string
	}{
		{"missing file", filepath.Join(dir, "nope.yaml"), ": no such file"},
		{"directory", dir, ": is a directory, not a scenario file"},
	}
	for _, tt := range tests {
		_, err := Load(tt.path)
		p := firstProblem(t, err)
		if p.Line != 0 || err.Error() != tt.path+tt.want {
			t.Errorf("%s: got %q, want %q", tt.why, err, tt.path+tt.want)
		}
	}
}

func TestOpen(t *testing.T) {
	local := filepath.Join(t.TempDir(), "local.yaml")
	if err := os.WriteFile(local, []byte(minimal), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		why, arg string
		file     string // the file name the scenario or its problem carries
		want     string // a part of the error; "" for success
	}{
		{"bundled name", Default, "hold-until-exhausted", ""},
		{"bundled name with .yaml", Default + ".yaml", "hold-until-exhausted", ""},
		{"a path", local, local, ""},
		{"a misspelt bundled name", "hold-until-exhausetd", "hold-until-exhausetd", `no bundled scenario of that name; did you mean "hold-until-exhausted"?`},
		{"an unknown name", "zzz", "zzz", "bundled: bench-churn, bench-churn-echo, bench-echo, "},
		{"a missing path", "./zzz.yaml", "./zzz.yaml", "no such file"},
	}
	for _, tt := range tests {
		s, err := Open(tt.arg)
		switch {
		case tt.want == "" && err != nil:
			t.Errorf("%s: %v", tt.why, err)
		case tt.want == "" && s.File != tt.file:
			t.Errorf("%s: File = %q, want %q", tt.why, s.File, tt.file)
		case tt.want != "":
			if p := firstProblem(t, err); p.File != tt.file || !strings.Contains(p.Msg, tt.want) {
				t.Errorf("%s: got %v, want file %q and %q", tt.why, p, tt.file, tt.want)
			}
		}
	}
}

func TestParseDocumentShape(t *testing.T) {
	tests := []struct {
		src       string
		line, col int
		want      string
		why       string
	}{
		{"---\n", 1, 1, "the scenario is empty", "a lone document marker"},
		{"# c\n~\n", 1, 1, "the scenario is empty", "an explicit null"},
		{"42\n", 1, 1, `a scenario is a mapping of keys (name, pools, ...), got "42"`, "a scalar"},
		{minimal + "---\n", 4, 1, "a second YAML document starts here", "a trailing empty document"},
		{minimal + "---\n[\n", 5, 1, "", "a syntax error in a second document is still found"},
		{"name: [a\npools: 1\n", 1, 8, "a [list] or {mapping} written on one line is not closed", "unclosed flow list"},
		{"name: x\nname: y\npools:\n  - name: a\n", 2, 1, `duplicate key "name" (first set on line 1)`, "duplicate top-level key"},
		{"name: x\npools:\n  - name: a\n    hold: -1s\n", 4, 11, "must not be negative", "negative hold"},
		{"name: x\nduration: 25h\npools:\n  - name: a\n", 2, 11, "at most 24h", "too long a run"},
		{"name: x\nduration: 10\npools:\n  - name: a\n", 2, 11, "a number needs a unit", "duration without unit"},
		{"name: x\npools:\n  - name: a\n    payload: 17MiB\n", 4, 14, "must be at most 16MiB, got 17MiB", "payload too big"},
		{"name: x\npools:\n  - name: a\n    connect_timeout: 0s\n", 4, 22, "must be more than 0s", "zero connect timeout"},
		{"name: x\npools:\n  - name: a\n    workers: 99999999999999999999\n", 4, 14, "want an integer", "integer overflow"},
		{"name: x\npools:\n  - name: Bad Name\n", 3, 11, "is not a valid pool name", "pool name syntax"},
		{"name: x\npools:\n  - workers: 2\n", 3, 5, `pools[0].name: missing required key "name"`, "pool without a name"},
		{"name: x\npools: []\n", 2, 8, "needs at least one pool", "empty pool list"},
		{"name: x\nsandbox: 5\npools:\n  - name: a\n", 2, 10, "want a mapping of keys, got \"5\"", "section not a mapping"},
		{"name: x\n[a]: 1\npools:\n  - name: a\n", 2, 1, "keys must be plain words, got a list", "a list as a key"},
		{"name: x\nfoo: 1\npools:\n  - name: a\n", 2, 1, "known keys: name, description, duration, runtime, sandbox, server, pools, stop, variants", "no near key: list them"},
		{"name: x\nsandbox:\n  port_range: 80-90\npools:\n  - name: a\n", 3, 15, "80-90 is not within 1024-65535", "privileged ports"},
		{"name: x\nsandbox:\n  port_range: 50000\npools:\n  - name: a\n", 3, 15, `want a port range "lo-hi" like 50000-50199, got "50000"`, "one port"},
		{"name: x\nsandbox:\n  sysctls:\n    net.ipv4.tcp_syncookies: [1]\npools:\n  - name: a\n", 4, 30, "want a number or a word, got a list", "sysctl value not a scalar"},
	}
	for _, tt := range tests {
		_, err := Parse("f.yaml", []byte(tt.src))
		p := firstProblem(t, err)
		if p.Line != tt.line || p.Col != tt.col || !strings.Contains(p.String(), tt.want) {
			t.Errorf("%s: got %v, want %d:%d %q", tt.why, p, tt.line, tt.col, tt.want)
		}
	}
}
