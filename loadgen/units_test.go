package loadgen

import (
	"errors"
	"testing"
)

func TestParsePortRangeForms(t *testing.T) {
	tests := []struct {
		in     string
		sysctl bool // read as the sysctl writes it
		want   PortRange
		ok     bool
		why    string
	}{
		{"50000-50199", false, PortRange{Lo: 50000, Hi: 50199}, true, "as a scenario writes it"},
		{"50000 - 50199", false, PortRange{Lo: 50000, Hi: 50199}, true, "spaces around the dash"},
		{"50000 50199", false, PortRange{}, false, "the sysctl's syntax is not a scenario's"},
		{"50000\t50199\n", true, PortRange{Lo: 50000, Hi: 50199}, true, "as the kernel writes it"},
		{"50000 50199", true, PortRange{Lo: 50000, Hi: 50199}, true, "as PortRange.String writes it"},
		{"50000-50199", true, PortRange{}, false, "a dash is not the sysctl's"},
		{"-5 10", true, PortRange{}, false, "signs"},
		{"123456 123457", true, PortRange{}, false, "more than 5 digits"},
		{"", true, PortRange{}, false, "empty"},
	}
	for _, tt := range tests {
		parse := ParsePortRange
		if tt.sysctl {
			parse = ParseSysctlPortRange
		}
		got, err := parse(tt.in)
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("%s: parse(%q) = %v, %v; want %v, ok %v", tt.why, tt.in, got, err, tt.want, tt.ok)
		}
		if err != nil && !errors.Is(err, ErrSyntax) {
			t.Errorf("%s: %v is not ErrSyntax", tt.why, err)
		}
	}
	r := PortRange{Lo: 32768, Hi: 60999}
	if got, err := ParseSysctlPortRange(r.String()); err != nil || got != r {
		t.Errorf("ParseSysctlPortRange(%q) = %v, %v: want the range back", r.String(), got, err)
	}
}
