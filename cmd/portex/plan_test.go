package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// portex plan says what grows and what settles, over a stated horizon, and
// tells TIME_WAIT sockets from the ports they pin.
func TestPlanFigures(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		want    []string
		notWant []string
	}{
		{"an RST-closed pool settles", []string{"--rate", "100/s", "--close", "reset"},
			[]string{"ports needed       0 of 28232 per destination tuple at steady state", "exhaustion         never within 24h"},
			[]string{"growing"}},
		{"the server closes first: it settles", []string{"--rate", "100/s", "--hold", "1s", "--close", "server"},
			[]string{"ports needed       100 of 28232 per destination tuple at steady state", "at most 28232.0 new connections/s"},
			[]string{"growing"}},
		{"a keep-alive pool holds its size", []string{"--close", "keep", "--pool-size", "25"},
			[]string{"ports needed       25 of 28232 per destination tuple at steady state"},
			[]string{"growing"}},
		{"a leak states its horizon", []string{"--rate", "100/s", "--leak", "1%"},
			[]string{"ports needed       92340 of 28232 per destination tuple after 24h, and growing", "exhaustion         after 6h11m32s"},
			nil},
		{"a leak as a fraction is the same leak", []string{"--rate", "100/s", "--leak", "0.01"},
			[]string{"ports needed       92340 of 28232 per destination tuple after 24h, and growing"},
			nil},
		{"tcp_tw_reuse=1: 300 ports, 14116 TIME_WAIT sockets (one parity of the range)", []string{"--rate", "300/s", "--tw-reuse", "1"},
			[]string{"ports needed       300 of 28232 per destination tuple at steady state", "TIME_WAIT sockets  about 14116 per destination tuple"},
			nil},
		{"max_in_flight caps the served rate", []string{"--rate", "100/s", "--hold", "200ms", "--leak", "3%", "--range", "50000-50149", "--max-in-flight", "10"},
			[]string{"exhaustion         after 3s", "max_in_flight 10 with 200ms holds serves 50 new connections/s of 100"},
			nil},
		// Cloud NAT keeps a closed connection's port 120 s: 100/s over 4
		// clients, 25/s each for 1 s + 120 s, 3025 of a slice of 64.
		{"behind GCP Cloud NAT", []string{"--rate", "100/s", "--hold", "1s", "--nat", "gcp", "--sources", "4"},
			[]string{"64 ports per destination per client", "ports needed       3025 of 64 per NAT tuple", "exhaustion         after 2.56s",
				"https://cloud.google.com/nat/docs/ports-and-addresses", "keeps its NAT port 120s"},
			[]string{"tcp_tw_reuse"}},
		// An AWS NAT gateway's 55,000 per destination are shared by the
		// clients, and nothing holds a closed port.
		{"behind an AWS NAT gateway", []string{"--rate", "1000/s", "--hold", "2s", "--nat", "aws", "--sources", "8"},
			[]string{"ports needed       2000 of 55000 per NAT tuple at steady state", "at most 27500.0 new connections/s per NAT tuple", "ErrorPortAllocation"},
			nil},
		{"behind Azure's default SNAT", []string{"--rate", "10/s", "--close", "leak", "--nat", "azure"},
			[]string{"ports needed", "of 1024 per NAT tuple", "exhaustion         after 1m42.4s"},
			nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := portex(t, context.Background(), append([]string{"plan"}, tt.args...)...)
			if got.code != exitOK {
				t.Fatalf("exit %d, stderr %q", got.code, got.stderr)
			}
			for _, w := range tt.want {
				if !strings.Contains(got.stdout, w) {
					t.Errorf("no %q in:\n%s", w, got.stdout)
				}
			}
			for _, w := range tt.notWant {
				if strings.Contains(got.stdout, w) {
					t.Errorf("%q in:\n%s", w, got.stdout)
				}
			}
		})
	}
}

// A scenario with a NAT is planned at the NAT: its budget per NAT tuple,
// and the kernel's hash of the client addresses onto the NAT addresses.
func TestPlanScenarioBehindANAT(t *testing.T) {
	got := portex(t, context.Background(), "plan", "cloud-nat")
	if got.code != exitOK {
		t.Fatalf("exit %d, stderr %q", got.code, got.stderr)
	}
	for _, w := range []string{
		"cloud-nat, variant baseline, a NAT's 100 ports per NAT tuple",
		"cloud-nat, variant static-slices, a NAT's 20 ports per NAT tuple",
		"puts its 4 client addresses on 2 of the 2 NAT addresses, at most 2 on one",
		"nat.conntrack.max 50",
		"per NAT tuple\n",
	} {
		if !strings.Contains(got.stdout, w) {
			t.Errorf("no %q in:\n%s", w, got.stdout)
		}
	}
}

// A scenario's plan: the connection-limit variant's in-flight cap is
// modelled, and the model's formula is printed once, after every variant.
func TestPlanScenario(t *testing.T) {
	got := portex(t, context.Background(), "plan", "mitigations")
	if got.code != exitOK {
		t.Fatalf("exit %d, stderr %q", got.code, got.stderr)
	}
	if n := strings.Count(got.stdout, "  model   ports(t)"); n != 1 {
		t.Errorf("the formula is printed %d times, want once:\n%s", n, got.stdout)
	}
	_, limit, _ := strings.Cut(got.stdout, "variant connection-limit,")
	limit, _, _ = strings.Cut(limit, "\n\nmitigations, variant")
	if !strings.Contains(limit, "exhaustion         after 3s") {
		t.Errorf("connection-limit (10 in flight, 200 ms holds: 50/s served): want exhaustion after 3s:\n%s", limit)
	}
	if !strings.Contains(got.stdout, "(tw-reuse)") || !strings.Contains(got.stdout, "(every variant but tw-reuse)") {
		t.Errorf("assumptions do not say which variants they apply to:\n%s", got.stdout)
	}
}

func TestPlanRefusesWhatItWouldIgnore(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{nil, "portex plan: name a scenario, or describe a load with --rate"},
		{[]string{"mitigations", "--rate", "5/s"}, "portex plan: --rate describes a load of its own, and the scenario describes its load; with a scenario only --range applies"},
		{[]string{"mitigations", "--hold", "1s", "--leak", "0"}, "portex plan: --hold, --leak describe a load"},
		{[]string{"--rate", "5/s", "--leak", "150%"}, `portex plan: --leak "150%": want a share within 0..1 or 0%..100%`},
		{[]string{"--rate", "5/s", "--leak", "2"}, `portex plan: --leak "2": want a share`},
		{[]string{"--close", "keep"}, "portex plan: --close keep needs --pool-size"},
		{[]string{"--rate", "5/s", "--close", "rst"}, `portex plan: --close "rst": want client, server, reset, leak or keep`},
	}
	for _, tt := range tests {
		got := portex(t, context.Background(), append([]string{"plan"}, tt.args...)...)
		if got.code != exitUsage || !strings.Contains(got.stderr, tt.want) || !strings.Contains(got.stderr, "Usage: portex plan") {
			t.Errorf("plan %v: exit %d, stderr %q: want 2 and %q", tt.args, got.code, got.stderr, tt.want)
		}
	}
	if got := portex(t, context.Background(), "plan", "mitigations", "--range", "50000-50599"); got.code != exitOK || !strings.Contains(got.stdout, "variant baseline, 600 ports") {
		t.Errorf("plan SCENARIO --range: exit %d, stderr %q", got.code, got.stderr)
	}
}

// A scenario that reserves ports of its range is planned against the
// rest: 50 of 200 reserved, 50/s closed by the client, out in 3 s.
func TestPlanReservedPorts(t *testing.T) {
	path := filepath.Join(t.TempDir(), "reserved.yaml")
	yaml := `name: reserved
duration: 5s
sandbox:
  port_range: 50000-50199
  sysctls:
    net.ipv4.tcp_tw_reuse: 0
    net.ipv4.ip_local_reserved_ports: 50000-50049
pools:
  - name: churn
    rate: 50/s
    close: client
`
	if err := os.WriteFile(path, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	got := portex(t, context.Background(), "plan", path)
	if got.code != exitOK {
		t.Fatalf("exit %d, stderr %q", got.code, got.stderr)
	}
	for _, want := range []string{"150 usable of 200 ports", "of 150 per destination tuple", "exhaustion         after 3s"} {
		if !strings.Contains(got.stdout, want) {
			t.Errorf("plan lacks %q:\n%s", want, got.stdout)
		}
	}
}
