package scenarios

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// maxShown is how many problems Problems.Error lists before it summarises
// the rest.
const maxShown = 50

// Problem is one thing wrong with a scenario, at a place in its file.
type Problem struct {
	File string // the name given to Parse, Load or Open
	Line int    // 1-based; 0 when the problem concerns the whole file
	Col  int    // 1-based, in characters; 0 when Line is 0
	Key  string // the key path, like pools[0].hold; empty for syntax errors
	Msg  string // what is wrong and, where possible, how to fix it
}

// String formats the problem on one line as "file:line:col: key: message",
// leaving out the position when Line is 0 and the key when there is none.
func (p Problem) String() string {
	var b strings.Builder
	b.WriteString(p.File)
	if p.Line > 0 {
		b.WriteString(":" + strconv.Itoa(p.Line) + ":" + strconv.Itoa(max(p.Col, 1)))
	}
	if b.Len() > 0 {
		b.WriteString(": ")
	}
	if p.Key != "" {
		b.WriteString(p.Key + ": ")
	}
	b.WriteString(strings.ReplaceAll(p.Msg, "\n", " "))
	return b.String()
}

// Problems is every problem found in a scenario, in file order. Every error
// that Parse, Load, Open and Plans return because of their input is a
// Problems value, so callers can tell bad input (errors.As) from failures
// of their own.
type Problems []Problem

// Error lists the problems one a line, the first 50 of them, then how many
// more there are.
func (ps Problems) Error() string {
	lines := make([]string, 0, min(len(ps), maxShown)+1)
	for i, p := range ps {
		if i == maxShown {
			lines = append(lines, fmt.Sprintf("... and %d more", len(ps)-maxShown))
			break
		}
		lines = append(lines, p.String())
	}
	return strings.Join(lines, "\n")
}

// pos is a place in a file; the zero pos means the whole file.
type pos struct{ line, col int }

// at is where n starts.
func at(n *yaml.Node) pos { return pos{n.Line, n.Column} }

// collector gathers problems and remembers which key paths have one, so
// that a value that failed to decode is not reported again by the
// validator.
type collector struct {
	file     string
	problems Problems
	bad      map[string]bool
}

func newCollector(file string) *collector {
	return &collector{file: file, bad: make(map[string]bool)}
}

// addf records a problem at p about the key path key.
func (c *collector) addf(p pos, key, format string, args ...any) {
	c.problems = append(c.problems, Problem{
		File: c.file, Line: p.line, Col: p.col, Key: key,
		Msg: fmt.Sprintf(format, args...),
	})
	c.bad[key] = true
}

// reported reports whether key or one of its parents already has a problem.
func (c *collector) reported(key string) bool {
	for ; key != ""; key = parent(key) {
		if c.bad[key] {
			return true
		}
	}
	return false
}

// err returns the problems in file order, or nil when there are none.
func (c *collector) err() error {
	if len(c.problems) == 0 {
		return nil
	}
	slices.SortStableFunc(c.problems, func(a, b Problem) int {
		if a.Line != b.Line {
			return a.Line - b.Line
		}
		return a.Col - b.Col
	})
	return c.problems
}

// child is the key path of key inside the mapping at path.
func child(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// item is the key path of the i-th element of the list at path.
func item(path string, i int) string { return path + "[" + strconv.Itoa(i) + "]" }

// parent strips the last element from a key path ("pools[0].hold" →
// "pools[0]" → "pools" → "").
func parent(path string) string {
	i := strings.LastIndexAny(path, ".[")
	if i < 0 {
		return ""
	}
	return path[:i]
}
