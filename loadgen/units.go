package loadgen

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// The parsers of the units a plan is written in: port ranges, rates,
// durations and shares. The scenario loader, portex plan's flags and the
// agent all read them here, so that one spelling means one thing
// everywhere. They check syntax only; the plan (Check) and the scenario's
// validation check the values.

// ErrSyntax is a parse error that needs no more words than "want X, got
// Y"; other errors of these parsers say what is wrong.
var ErrSyntax = errors.New("invalid syntax")

// ParsePortRange parses a port range as a scenario or a flag writes it:
// "lo-hi", spaces around the dash allowed. A reversed range parses.
func ParsePortRange(s string) (PortRange, error) {
	lo, hi, ok := strings.Cut(s, "-")
	if !ok {
		return PortRange{}, ErrSyntax
	}
	l, okL := parsePort(strings.TrimSpace(lo))
	h, okH := parsePort(strings.TrimSpace(hi))
	if !okL || !okH {
		return PortRange{}, ErrSyntax
	}
	return PortRange{Lo: l, Hi: h}, nil
}

// ParseSysctlPortRange parses net.ipv4.ip_local_port_range as the kernel
// writes it (PortRange.String): "lo hi", with ParsePortRange's ports.
func ParseSysctlPortRange(v string) (PortRange, error) {
	f := strings.Fields(v)
	if len(f) != 2 {
		return PortRange{}, ErrSyntax
	}
	return ParsePortRange(f[0] + "-" + f[1])
}

// parsePort parses a decimal port number of at most 5 digits, with no
// sign.
func parsePort(s string) (int, bool) {
	if s == "" || len(s) > 5 || strings.Trim(s, "0123456789") != "" {
		return 0, false
	}
	n, err := strconv.Atoi(s)
	return n, err == nil
}

// ParseDuration parses Go's duration syntax (300ms, 10s, 1m30s, 2h), and
// says what is missing from a bare number or a day count.
func ParseDuration(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	if d, err := time.ParseDuration(s); err == nil {
		return d, nil
	}
	if s != "" && strings.Trim(s, "0123456789") == "" {
		return 0, errors.New("a number needs a unit: ms, s, m or h")
	}
	if strings.HasSuffix(s, "d") && strings.Trim(s[:len(s)-1], "0123456789") == "" && len(s) > 1 {
		return 0, errors.New("there is no day unit; write hours, like 24h")
	}
	return 0, ErrSyntax
}

// rateUnits are the time units a rate may be given per.
var rateUnits = map[string]float64{"s": 1, "m": 60}

// ParseRate parses a rate like 200/s or 30/m into arrivals per second.
func ParseRate(s string) (float64, error) {
	num, unit, ok := strings.Cut(strings.TrimSpace(s), "/")
	num, unit = strings.TrimSpace(num), strings.TrimSpace(unit)
	if !ok {
		if _, err := ParseDecimal(num); err == nil {
			return 0, errors.New("a number needs a unit: /s or /m")
		}
		return 0, ErrSyntax
	}
	per, known := rateUnits[unit]
	if !known {
		return 0, errors.New("unknown unit " + strconv.Quote("/"+unit) + "; use /s or /m")
	}
	v, err := ParseDecimal(num)
	if err != nil {
		return 0, err
	}
	return v / per, nil
}

// ParseShare parses a share written as a percentage, like 5% or 0.5%,
// into a fraction (0.05, 0.005). A bare number is refused, with what it
// would be as a fraction.
func ParseShare(s string) (float64, error) {
	num, ok := strings.CutSuffix(strings.TrimSpace(s), "%")
	if !ok {
		if v, err := ParseDecimal(s); err == nil && v <= 1 {
			return 0, fmt.Errorf("a share needs a %% sign; as a fraction, %s would be %s", strings.TrimSpace(s), FormatShare(v))
		} else if err == nil {
			return 0, errors.New("a share needs a % sign")
		}
		return 0, ErrSyntax
	}
	v, err := ParseDecimal(strings.TrimSpace(num))
	if err != nil {
		return 0, err
	}
	return v / 100, nil
}

// FormatShare writes a share as a percentage: 0.02 is "2%".
func FormatShare(f float64) string {
	return strconv.FormatFloat(math.Round(f*100*1e9)/1e9, 'f', -1, 64) + "%"
}

// maxDecimal bounds the numbers in rates and percentages, far above what
// any scenario allows, so that validation reports ranges, not overflows.
const maxDecimal = 1e12

// ParseDecimal parses an unsigned decimal number like 200, 2.5 or .5: no
// sign, no exponent, no hex.
func ParseDecimal(s string) (float64, error) {
	s = strings.TrimSpace(s)
	whole, frac, _ := strings.Cut(s, ".")
	if whole+frac == "" || strings.Trim(whole, "0123456789") != "" || strings.Trim(frac, "0123456789") != "" {
		return 0, ErrSyntax
	}
	v, err := strconv.ParseFloat(s, 64)
	if err != nil || v > maxDecimal {
		return 0, errors.New("too large")
	}
	return v, nil
}
