package scenarios

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/portex/portex/loadgen"
)

// errSyntax is a parse error that needs no more words than "want X, got Y".
var errSyntax = errors.New("invalid syntax")

// detail is the part of a parse error worth adding to "want X, got Y".
func detail(err error) string {
	if err == nil || errors.Is(err, errSyntax) {
		return ""
	}
	return " (" + err.Error() + ")"
}

// parseDuration parses Go's duration syntax (300ms, 10s, 1m30s, 2h).
func parseDuration(s string) (time.Duration, error) {
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
	return 0, errSyntax
}

// sizeUnits are the units a size may carry: SI multiples of 1000 and IEC
// multiples of 1024.
var sizeUnits = map[string]int64{
	"": 1, "B": 1,
	"KB": 1000, "kB": 1000, "KiB": 1 << 10,
	"MB": 1000 * 1000, "MiB": 1 << 20,
	"GB": 1000 * 1000 * 1000, "GiB": 1 << 30,
}

// maxSizeValue bounds parsed sizes, far above any size a scenario allows,
// so that validate can report the range instead of an overflow.
const maxSizeValue = 1 << 40

// parseSize parses a byte count with an optional unit: 64, 64B, 4KB (4000
// bytes), 1KiB (1024 bytes), 1MiB.
func parseSize(s string) (int, error) {
	s = strings.TrimSpace(s)
	digits := strings.TrimLeft(s, "0123456789")
	num, unit := s[:len(s)-len(digits)], strings.TrimSpace(digits)
	if num == "" {
		return 0, errSyntax
	}
	mult, ok := sizeUnits[unit]
	if !ok {
		return 0, errors.New("unknown unit " + strconv.Quote(unit) + "; use B, KB, KiB, MB or MiB")
	}
	n, err := strconv.ParseInt(num, 10, 64)
	if err != nil || n > maxSizeValue/mult {
		return 0, errors.New("too large")
	}
	return int(n * mult), nil
}

// parsePortRange parses "lo-hi" into a range; validate checks its bounds.
func parsePortRange(s string) (loadgen.PortRange, bool) {
	lo, hi, ok := strings.Cut(s, "-")
	if !ok {
		return loadgen.PortRange{}, false
	}
	l, okL := port(strings.TrimSpace(lo))
	h, okH := port(strings.TrimSpace(hi))
	return loadgen.PortRange{Lo: l, Hi: h}, okL && okH
}

// port parses a decimal port number of at most 5 digits, with no sign.
func port(s string) (int, bool) {
	if s == "" || len(s) > 5 || strings.Trim(s, "0123456789") != "" {
		return 0, false
	}
	n, err := strconv.Atoi(s)
	return n, err == nil
}

// rateUnits are the time units a rate may be given per.
var rateUnits = map[string]float64{"s": 1, "m": 60}

// parseRate parses a rate like 200/s or 30/m into arrivals per second.
func parseRate(s string) (float64, error) {
	num, unit, ok := strings.Cut(strings.TrimSpace(s), "/")
	num, unit = strings.TrimSpace(num), strings.TrimSpace(unit)
	if !ok {
		if _, err := parseDecimal(num); err == nil {
			return 0, errors.New("a number needs a unit: /s or /m")
		}
		return 0, errSyntax
	}
	per, known := rateUnits[unit]
	if !known {
		return 0, errors.New("unknown unit " + strconv.Quote("/"+unit) + "; use /s or /m")
	}
	v, err := parseDecimal(num)
	if err != nil {
		return 0, err
	}
	return v / per, nil
}

// ParsePercent parses a share written as a percentage, like 2% or 0.5%,
// as a scenario's leak takes it, into a fraction (0.02, 0.005).
func ParsePercent(s string) (float64, error) { return parsePercent(s) }

// parsePercent parses a share written as a percentage, like 5% or 0.5%,
// into a fraction (0.05, 0.005).
func parsePercent(s string) (float64, error) {
	num, ok := strings.CutSuffix(strings.TrimSpace(s), "%")
	if !ok {
		if v, err := parseDecimal(s); err == nil && v <= 1 {
			return 0, fmt.Errorf("a share needs a %% sign; as a fraction, %s would be %s", strings.TrimSpace(s), formatPercent(v))
		} else if err == nil {
			return 0, errors.New("a share needs a % sign")
		}
		return 0, errSyntax
	}
	v, err := parseDecimal(strings.TrimSpace(num))
	if err != nil {
		return 0, err
	}
	return v / 100, nil
}

// maxDecimal bounds the numbers in rates and percentages, far above what
// any scenario allows, so that validate reports ranges, not overflows.
const maxDecimal = 1e12

// parseDecimal parses an unsigned decimal number like 200, 2.5 or .5: no
// sign, no exponent, no hex.
func parseDecimal(s string) (float64, error) {
	s = strings.TrimSpace(s)
	whole, frac, _ := strings.Cut(s, ".")
	if whole+frac == "" || strings.Trim(whole, "0123456789") != "" || strings.Trim(frac, "0123456789") != "" {
		return 0, errSyntax
	}
	v, err := strconv.ParseFloat(s, 64)
	if err != nil || v > maxDecimal {
		return 0, errors.New("too large")
	}
	return v, nil
}

// parseHold parses a hold time: a duration, "forever", "uniform(min,max)"
// or "exp(mean)".
func parseHold(s string) (loadgen.Hold, error) {
	s = strings.TrimSpace(s)
	if s == "forever" {
		return loadgen.Hold{Kind: loadgen.HoldForever}, nil
	}
	if name, args, ok := call(s); ok {
		switch name {
		case "uniform":
			lo, hi, ok := strings.Cut(args, ",")
			if !ok {
				return loadgen.Hold{}, errors.New("uniform takes two durations, like uniform(1s,5s)")
			}
			from, err := parseDuration(lo)
			if err != nil {
				return loadgen.Hold{}, errors.New("uniform's first duration: " + holdArgProblem(err))
			}
			to, err := parseDuration(hi)
			if err != nil {
				return loadgen.Hold{}, errors.New("uniform's second duration: " + holdArgProblem(err))
			}
			return loadgen.Hold{Kind: loadgen.HoldUniform, Min: from, Max: to}, nil
		case "exp":
			mean, err := parseDuration(args)
			if err != nil {
				return loadgen.Hold{}, errors.New("exp's mean: " + holdArgProblem(err))
			}
			return loadgen.Hold{Kind: loadgen.HoldExp, Min: mean}, nil
		}
		return loadgen.Hold{}, errors.New("unknown distribution " + strconv.Quote(name) + "; use uniform(min,max) or exp(mean)")
	}
	d, err := parseDuration(s)
	if err != nil {
		return loadgen.Hold{}, err
	}
	return loadgen.Hold{Kind: loadgen.HoldFixed, Min: d}, nil
}

// holdArgProblem says what is wrong with a duration inside a distribution.
func holdArgProblem(err error) string {
	if errors.Is(err, errSyntax) {
		return "want a duration like 500ms or 2s"
	}
	return err.Error()
}

// call splits "name(args)" into its name and the text between the
// parentheses.
func call(s string) (name, args string, ok bool) {
	open := strings.IndexByte(s, '(')
	if open < 0 || !strings.HasSuffix(s, ")") {
		return "", "", false
	}
	return strings.TrimSpace(s[:open]), s[open+1 : len(s)-1], true
}
