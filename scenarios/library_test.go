package scenarios

import (
	"io/fs"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/portex/portex/loadgen"
)

func TestLibraryScenariosParseAndCompile(t *testing.T) {
	files, err := fs.Glob(library, "library/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no bundled scenarios: %v", err)
	}
	for _, f := range files {
		name := strings.TrimSuffix(strings.TrimPrefix(f, "library/"), ".yaml")
		t.Run(name, func(t *testing.T) {
			s, err := Open(name)
			if err != nil {
				t.Fatal(err)
			}
			if s.Name != name {
				t.Errorf("name %q, want the file's name %q", s.Name, name)
			}
			if n := strings.Count(s.Description, ". "); s.Description == "" || n < 1 || n > 3 {
				t.Errorf("description should be 2-3 sentences: %q", s.Description)
			}
			// `portex scenarios` lists the first sentence on one line.
			if first, _, _ := strings.Cut(s.Description, ". "); len(first) > 90 {
				t.Errorf("first sentence is %d characters, too long for the listing: %q", len(first), first)
			}
			plans, err := s.Plans()
			if err != nil {
				t.Fatal(err)
			}
			names := s.VariantNames()
			var total time.Duration
			for i, p := range plans {
				if p.Variant != names[i] {
					t.Errorf("plan %d is variant %q, want %q", i, p.Variant, names[i])
				}
				if p.Duration > 10*time.Second && !longByDesign[name] {
					t.Errorf("variant %s may run %s; CI runs every bundled scenario, keep each run under 10s", p.Variant, p.Duration)
				}
				total += p.Duration
			}
			// Every bundled scenario finishes in under 30 s, but soak,
			// which CI runs shortened. A scenario whose runs stop at their
			// verdict mostly ends long before its durations add up (the
			// time it takes is TestLibraryRuns's): its bound is 2 min.
			bound := 30 * time.Second
			if len(plans) > 0 && plans[0].Stop.On == loadgen.StopOnVerdict {
				bound = 2 * time.Minute
			}
			if total > bound && !longByDesign[name] {
				t.Errorf("its runs may take %s in all", total)
			}
			for _, v := range s.Variants {
				if v.Description == "" {
					t.Errorf("variant %s has no description", v.Name)
				}
			}
		})
	}
}

// TestLibraryHasTheIssueScenarios checks that the library holds the
// scenarios and variants the README promises.
func TestLibraryHasTheIssueScenarios(t *testing.T) {
	want := map[string][]string{
		"hold-until-exhausted": {"default"},
		"time-wait-churn":      {"baseline", "tw-reuse", "reset", "server-close"},
		"leaky-client":         {"default"},
		"close-wait-leak":      {"default"},
		"bind-before-connect":  {"baseline", "no-port", "plain-connect"},
		"fd-limit":             {"default"},
		"cloud-nat": {"baseline", "more-destinations", "more-nat-addresses", "static-slices", "larger-slices",
			"keep-alive", "conntrack-limit"},
		"node-snat": {"baseline", "random-fully", "churn"},
		"mitigations": {"baseline", "wider-range", "shorter-holds", "server-closes-first", "keep-alive",
			"connection-limit", "tw-reuse", "rst-close", "more-destinations", "more-sources", "fin-timeout", "rst-close-leaking"},
	}
	for name, variants := range want {
		s, err := Open(name)
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if got := s.VariantNames(); !slices.Equal(got, variants) {
			t.Errorf("%s: variants %v, want %v", name, got, variants)
		}
	}
}

func TestDefaultScenario(t *testing.T) {
	s, err := Open(Default)
	if err != nil {
		t.Fatal(err)
	}
	plans, err := s.Plans()
	if err != nil {
		t.Fatal(err)
	}
	p := plans[0]
	checks := []struct {
		what      string
		got, want any
	}{
		{"a 200-port range", p.Sandbox.PortRange, loadgen.PortRange{Lo: 50000, Hi: 50199}},
		{"more connections at once than ports", p.Pools[0].MaxInFlight, 300},
		{"opened at a rate the charts can follow", p.Pools[0].Rate, 150.0},
		{"held forever", p.Pools[0].Hold.Forever(), true},
		{"no TIME_WAIT reuse", p.Sandbox.Sysctls["net.ipv4.tcp_tw_reuse"], "0"},
		{"stops at exhaustion", p.Stop.On, loadgen.StopOnExhaustion},
		{"bounded", p.Duration.String(), "10s"},
		{"description names the errno", strings.Contains(s.Description, "EADDRNOTAVAIL"), true},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s: got %v, want %v", c.what, c.got, c.want)
		}
	}
}

func TestLibraryAndBundled(t *testing.T) {
	entries := Library()
	if !slices.IsSortedFunc(entries, func(a, b Entry) int { return strings.Compare(a.Name, b.Name) }) {
		t.Errorf("Library is not sorted: %v", entries)
	}
	i := slices.IndexFunc(entries, func(e Entry) bool { return e.Name == Default })
	if i < 0 || entries[i].Description == "" || strings.HasPrefix(entries[i].Description, "(broken") {
		t.Fatalf("Library lacks a described %q: %v", Default, entries)
	}
	tests := []struct {
		name string
		ok   bool
		why  string
	}{
		{Default, true, "by name"},
		{Default + ".yaml", true, "with the suffix"},
		{"library/" + Default, false, "a path is not a name"},
		{"../scenarios/library/" + Default, false, "no escaping the library"},
		{"", false, "empty"},
		{"nope", false, "unknown"},
	}
	for _, tt := range tests {
		data, ok := Bundled(tt.name)
		if ok != tt.ok || (ok && !strings.Contains(string(data), "name: "+Default)) {
			t.Errorf("%s: Bundled(%q) = %d bytes, %v; want ok=%v", tt.why, tt.name, len(data), ok, tt.ok)
		}
	}
}

// longByDesign are the bundled scenarios that run longer than CI allows;
// CI runs them shortened (cmd/portex TestLongScenariosRun).
var longByDesign = map[string]bool{"soak": true, "bench-hold-1m": true}
