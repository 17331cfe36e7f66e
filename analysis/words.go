package analysis

import (
	"fmt"
	"sort"
	"strings"
)

// The wording a verdict's text shares with the renderers that show it.

// Seconds formats seconds as the reports do: "2.05s".
func Seconds(s float64) string { return fmt.Sprintf("%.2fs", s) }

// Plural is "s" unless n is 1.
func Plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

// ExhaustedCall is the system call that fails with an exhaustion class:
// bind() for EADDRINUSE, connect() otherwise.
func ExhaustedCall(class string) string {
	if class == "EADDRINUSE" {
		return "bind()"
	}
	return "connect()"
}

// Failures lists failure counts by class, the most frequent first:
// "EADDRNOTAVAIL 12 · ETIMEDOUT 1", or "none".
func Failures(m map[string]int64) string {
	if len(m) == 0 {
		return "none"
	}
	names := make([]string, 0, len(m))
	for k := range m {
		names = append(names, k)
	}
	sort.Slice(names, func(i, j int) bool {
		if m[names[i]] != m[names[j]] {
			return m[names[i]] > m[names[j]]
		}
		return names[i] < names[j]
	})
	parts := make([]string, len(names))
	for i, n := range names {
		parts[i] = fmt.Sprintf("%s %d", n, m[n])
	}
	return strings.Join(parts, " · ")
}
