package scenarios

import (
	"errors"
	"strconv"
	"strings"

	"github.com/portex/portex/loadgen"
)

// The parsers of the scenario's units are the engine's (see
// loadgen.ParsePortRange): the loader, portex plan and the agent read one
// spelling the same way.
var (
	parseDuration = loadgen.ParseDuration
	parseRate     = loadgen.ParseRate
	parsePercent  = loadgen.ParseShare
)

// parsePortRange parses "lo-hi" into a range; validate checks its bounds.
func parsePortRange(s string) (loadgen.PortRange, bool) {
	r, err := loadgen.ParsePortRange(s)
	return r, err == nil
}

// errSyntax is a parse error that needs no more words than "want X, got Y".
var errSyntax = loadgen.ErrSyntax

// detail is the part of a parse error worth adding to "want X, got Y".
func detail(err error) string {
	if err == nil || errors.Is(err, errSyntax) {
		return ""
	}
	return " (" + err.Error() + ")"
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

// port parses a decimal port number of at most 5 digits, with no sign.
func port(s string) (int, bool) {
	if s == "" || len(s) > 5 || strings.Trim(s, "0123456789") != "" {
		return 0, false
	}
	n, err := strconv.Atoi(s)
	return n, err == nil
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
