package scenarios

import "testing"

// Locate points a problem found outside the scenario (a runtime's
// refusal) at the key the run's value comes from.
func TestLocate(t *testing.T) {
	src := `name: x
server:
  ports: 2
pools:
  - name: a
    source_addresses: 2
  - name: b
variants:
  - name: more
    pools:
      - name: a
        source_addresses: 4
  - name: slower
    pools:
      - name: a
        hold: 1s
  - name: b-too
    pools:
      - name: b
        source_addresses: 3
`
	s, err := Parse("f.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		why                string
		variant, pool, key string
		want               string // the problem's "file:line:col: key"
	}{
		{"the baseline: the scenario's key", "baseline", "a", "source_addresses", "f.yaml:6:5: pools[0].source_addresses"},
		{"a variant that writes the key", "more", "a", "source_addresses", "f.yaml:12:9: variants[0].pools[0].source_addresses"},
		{"a variant that changes another key of the pool", "slower", "a", "source_addresses", "f.yaml:6:5: pools[0].source_addresses"},
		{"a variant that writes a key the scenario does not", "b-too", "b", "source_addresses", "f.yaml:20:9: variants[2].pools[0].source_addresses"},
		{"a key nobody writes: the pool", "more", "b", "destinations", "f.yaml:7:5: pools[1].destinations"},
		{"a key from the top", "more", "", "server.ports", "f.yaml:3:3: server.ports"},
		{"a key from the top nobody writes: its section", "more", "", "server.close", "f.yaml:2:1: server.close"},
	}
	for _, tt := range tests {
		p := s.Locate(tt.variant, tt.pool, tt.key, "m")
		if got := p.String(); got != tt.want+": m" {
			t.Errorf("%s: got %q, want %q", tt.why, got, tt.want+": m")
		}
	}
}
