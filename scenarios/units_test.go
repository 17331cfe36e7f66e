package scenarios

import (
	"testing"
	"time"

	"github.com/portex/portex/loadgen"
)

func TestParseSize(t *testing.T) {
	tests := []struct {
		in   string
		want int
		ok   bool
		why  string
	}{
		{"64", 64, true, "a bare number is bytes"},
		{"64B", 64, true, "B is bytes"},
		{" 64 B ", 64, true, "spaces around and before the unit"},
		{"4KB", 4000, true, "KB is SI: 1000"},
		{"4kB", 4000, true, "kB is SI too"},
		{"1KiB", 1024, true, "KiB is IEC: 1024"},
		{"1MiB", 1 << 20, true, "MiB"},
		{"2MB", 2_000_000, true, "MB"},
		{"1GiB", 1 << 30, true, "GiB parses; validate refuses it"},
		{"64BB", 0, false, "unknown unit"},
		{"64kb", 0, false, "units are case-sensitive: kb could be kilobits"},
		{"B", 0, false, "unit without a number"},
		{"", 0, false, "empty"},
		{"-1", 0, false, "no sign"},
		{"1.5KiB", 0, false, "no fractions"},
		{"99999999999999999999", 0, false, "overflows int64"},
		{"2000GiB", 0, false, "above the parse bound"},
	}
	for _, tt := range tests {
		got, err := parseSize(tt.in)
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("%s: parseSize(%q) = %d, %v; want %d, ok=%v", tt.why, tt.in, got, err, tt.want, tt.ok)
		}
	}
}

func TestParseDuration(t *testing.T) {
	tests := []struct {
		in     string
		want   time.Duration
		detail string // "" when the parse succeeds or needs no explanation
		why    string
	}{
		{"10s", 10 * time.Second, "", "seconds"},
		{"1m30s", 90 * time.Second, "", "compound"},
		{"0", 0, "", "Go accepts a bare 0"},
		{"-5s", -5 * time.Second, "", "negative parses; validate refuses it"},
		{"10", 0, " (a number needs a unit: ms, s, m or h)", "bare number"},
		{"2d", 0, " (there is no day unit; write hours, like 24h)", "days"},
		{"soon", 0, "", "words"},
	}
	for _, tt := range tests {
		got, err := parseDuration(tt.in)
		if got != tt.want || detail(err) != tt.detail {
			t.Errorf("%s: parseDuration(%q) = %s, %q; want %s, %q", tt.why, tt.in, got, detail(err), tt.want, tt.detail)
		}
	}
}

func TestParsePortRange(t *testing.T) {
	tests := []struct {
		in   string
		want loadgen.PortRange
		ok   bool
		why  string
	}{
		{"50000-50199", loadgen.PortRange{Lo: 50000, Hi: 50199}, true, "plain"},
		{"50000 - 50199", loadgen.PortRange{Lo: 50000, Hi: 50199}, true, "spaces around the dash"},
		{"60000-50000", loadgen.PortRange{Lo: 60000, Hi: 50000}, true, "reversed parses; validate refuses it"},
		{"50000 50199", loadgen.PortRange{}, false, "the sysctl's own syntax"},
		{"50000", loadgen.PortRange{}, false, "a single port"},
		{"-5-10", loadgen.PortRange{}, false, "signs"},
		{"1-2-3", loadgen.PortRange{}, false, "two dashes"},
		{"123456-123457", loadgen.PortRange{}, false, "more than 5 digits"},
	}
	for _, tt := range tests {
		got, ok := parsePortRange(tt.in)
		if ok != tt.ok || (ok && got != tt.want) {
			t.Errorf("%s: parsePortRange(%q) = %v, %v; want %v, %v", tt.why, tt.in, got, ok, tt.want, tt.ok)
		}
	}
}

func TestClosest(t *testing.T) {
	keys := []string{"name", "workers", "messages", "payload", "hold", "close", "connect_timeout"}
	tests := []struct {
		word, want, why string
	}{
		{"wrokers", "workers", "a transposition is one edit"},
		{"worker", "workers", "a missing letter"},
		{"Workers", "workers", "case is ignored"},
		{"connect-timeout", "connect_timeout", "dash for underscore"},
		{"hodl", "hold", "short word, one transposition"},
		{"xyz", "", "nothing near"},
		{"timeout", "", "too far from connect_timeout"},
		{string(make([]byte, 1000)), "", "long words are not compared"},
	}
	for _, tt := range tests {
		if got := closest(tt.word, keys); got != tt.want {
			t.Errorf("%s: closest(%q) = %q, want %q", tt.why, tt.word, got, tt.want)
		}
	}
}

func TestParseRate(t *testing.T) {
	tests := []struct {
		in     string
		want   float64
		detail string // "" when the parse succeeds or needs no explanation
		ok     bool
		why    string
	}{
		{"200/s", 200, "", true, "per second"},
		{"30/m", 0.5, "", true, "per minute, compiled to per second"},
		{"2.5/s", 2.5, "", true, "fractions"},
		{".5/s", 0.5, "", true, "a leading dot"},
		{" 200 / s ", 200, "", true, "spaces"},
		{"0/s", 0, "", true, "zero parses; validate refuses it where it sends nothing"},
		{"200", 0, " (a number needs a unit: /s or /m)", false, "bare number"},
		{"200/h", 0, ` (unknown unit "/h"; use /s or /m)`, false, "hours"},
		{"200/sec", 0, ` (unknown unit "/sec"; use /s or /m)`, false, "long unit"},
		{"-5/s", 0, "", false, "no sign"},
		{"1e3/s", 0, "", false, "no exponent"},
		{"0x10/s", 0, "", false, "no hex"},
		{"/s", 0, "", false, "no number"},
		{"./s", 0, "", false, "a lone dot"},
		{"1.2.3/s", 0, "", false, "two dots"},
		{"fast", 0, "", false, "a word"},
		{"99999999999999999999/s", 0, " (too large)", false, "huge"},
	}
	for _, tt := range tests {
		got, err := parseRate(tt.in)
		if (err == nil) != tt.ok || got != tt.want || detail(err) != tt.detail {
			t.Errorf("%s: parseRate(%q) = %v, %q; want %v, %q", tt.why, tt.in, got, detail(err), tt.want, tt.detail)
		}
	}
}

func TestParsePercent(t *testing.T) {
	tests := []struct {
		in     string
		want   float64
		detail string
		ok     bool
		why    string
	}{
		{"5%", 0.05, "", true, "a percentage is a share"},
		{"0.5%", 0.005, "", true, "fractions"},
		{"100%", 1, "", true, "all"},
		{" 20 % ", 0.2, "", true, "spaces"},
		{"150%", 1.5, "", true, "parses; validate refuses it"},
		{"0.05", 0, " (a share needs a % sign; as a fraction, 0.05 would be 5%)", false, "a fraction"},
		{"5", 0, " (a share needs a % sign)", false, "a bare number above 1"},
		{"-5%", 0, "", false, "no sign"},
		{"%", 0, "", false, "no number"},
		{"five%", 0, "", false, "a word"},
	}
	for _, tt := range tests {
		got, err := parsePercent(tt.in)
		if (err == nil) != tt.ok || got != tt.want || detail(err) != tt.detail {
			t.Errorf("%s: parsePercent(%q) = %v, %q; want %v, %q", tt.why, tt.in, got, detail(err), tt.want, tt.detail)
		}
	}
}

func TestParseHold(t *testing.T) {
	s := time.Second
	tests := []struct {
		in   string
		want loadgen.Hold
		ok   bool
		why  string
	}{
		{"250ms", loadgen.Hold{Kind: loadgen.HoldFixed, Min: s / 4}, true, "a duration"},
		{"0s", loadgen.Hold{Kind: loadgen.HoldFixed}, true, "no hold"},
		{"forever", loadgen.Hold{Kind: loadgen.HoldForever}, true, "forever"},
		{"uniform(1s,5s)", loadgen.Hold{Kind: loadgen.HoldUniform, Min: s, Max: 5 * s}, true, "uniform"},
		{"uniform( 1s , 5s )", loadgen.Hold{Kind: loadgen.HoldUniform, Min: s, Max: 5 * s}, true, "spaces inside"},
		{"uniform(5s,1s)", loadgen.Hold{Kind: loadgen.HoldUniform, Min: 5 * s, Max: s}, true, "reversed parses; validate refuses it"},
		{"exp(2s)", loadgen.Hold{Kind: loadgen.HoldExp, Min: 2 * s}, true, "exponential with a mean"},
		{"uniform(1s)", loadgen.Hold{}, false, "one bound"},
		{"uniform(1s,5s,9s)", loadgen.Hold{}, false, "three bounds"},
		{"exp()", loadgen.Hold{}, false, "no mean"},
		{"exp(2s", loadgen.Hold{}, false, "unclosed"},
		{"normal(1s)", loadgen.Hold{}, false, "unknown distribution"},
		{"Forever", loadgen.Hold{}, false, "case matters"},
		{"soon", loadgen.Hold{}, false, "a word"},
	}
	for _, tt := range tests {
		got, err := parseHold(tt.in)
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("%s: parseHold(%q) = %v, %v; want %v, ok=%v", tt.why, tt.in, got, err, tt.want, tt.ok)
		}
	}
}
