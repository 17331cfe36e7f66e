package scenarios

import (
	"errors"
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
