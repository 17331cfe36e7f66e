package scenarios

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"

	"go.yaml.in/yaml/v3"
)

// emptyScenario is the problem with a file that holds no scenario.
const emptyScenario = "the scenario is empty; it needs at least a name and one pool, e.g. " +
	"\"name: my-test\" and \"pools: [{name: clients, workers: 10}]\""

// document checks that data is one YAML document holding a mapping and
// returns that mapping, or records why not and returns nil.
func document(c *collector, data []byte) *yaml.Node {
	if len(data) > maxSize {
		c.addf(pos{}, "", "%s", tooLarge(int64(len(data))))
		return nil
	}
	if p, msg := badText(data); msg != "" {
		c.addf(p, "", "%s", msg)
		return nil
	}
	docs, err := documents(data)
	switch {
	case err != nil:
		msg := yamlMessage(err)
		off := locate(data, msg)
		words := msg
		if w, ok := yamlWords[msg]; ok {
			words = w
		}
		c.addf(position(data, off), "", "%s%s", words, syntaxHint(data, off, msg))
		return nil
	case len(docs) == 0:
		c.addf(pos{1, 1}, "", emptyScenario)
		return nil
	case len(docs) > 1:
		c.addf(at(docs[1]), "", "a second YAML document starts here; a scenario file holds exactly one")
		return nil
	}
	if len(docs[0].Content) == 0 || isNull(docs[0].Content[0]) {
		c.addf(pos{1, 1}, "", emptyScenario) // a lone "---" or "~"
		return nil
	}
	root := docs[0].Content[0]
	if root.Kind != yaml.MappingNode {
		c.addf(at(root), "", "a scenario is a mapping of keys (name, pools, ...), got %s", describe(root))
		return nil
	}
	return root
}

// documents parses the first two YAML documents in data: two are enough to
// know there are too many.
func documents(data []byte) ([]*yaml.Node, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var docs []*yaml.Node
	for len(docs) < 2 {
		var doc yaml.Node
		if err := dec.Decode(&doc); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			return nil, err
		}
		docs = append(docs, &doc)
	}
	return docs, nil
}

// yamlMessage is a YAML parser's error without its "yaml: line N: " prefix:
// that line number is not reliable (parser errors count from 0, scanner
// errors from 1, and some point at the enclosing block), so locate finds
// the place itself.
func yamlMessage(err error) string {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	if rest, ok := strings.CutPrefix(msg, "line "); ok {
		if _, after, found := strings.Cut(rest, ": "); found {
			msg = after
		}
	}
	return msg
}

// locate finds where the YAML parser meets the error msg in data: the
// offset of the last character of the shortest prefix of data that already
// fails with msg. It bisects
// between a prefix that does not fail so (the empty one) and one that does
// (all of data), so it always ends at a character whose addition makes the
// parser fail with msg, in about log2(len(data)) parses.
func locate(data []byte, msg string) int {
	lo, hi := 0, len(data)
	for {
		mid := runeBoundary(data, lo, hi)
		if mid < 0 {
			break
		}
		if err := firstError(data[:mid]); err != nil && yamlMessage(err) == msg {
			hi = mid
		} else {
			lo = mid
		}
	}
	return lo
}

// yamlWords says what the YAML parser's most cryptic messages mean.
var yamlWords = map[string]string{
	"did not find expected node content": "YAML syntax: a value is missing here; a {mapping} or [list] written on one line is not closed, or a ',' or ':' has nothing after it",
}

// syntaxHint adds advice to the YAML parser's terse message about the
// character at offset off.
func syntaxHint(data []byte, off int, msg string) string {
	var c byte
	if off < len(data) {
		c = data[off]
	}
	switch {
	case strings.Contains(msg, "tab") || c == '\t':
		return "; indent with spaces, not tabs"
	case msg == "found unexpected end of stream" && (c == '"' || c == '\''):
		return "; the quoted string that starts here is never closed"
	case strings.Contains(msg, "expected ',' or"):
		return "; a [list] or {mapping} written on one line is not closed, or lacks a ','"
	case msg == "did not find expected key" || msg == "did not find expected '-' indicator" ||
		msg == "mapping values are not allowed in this context":
		return "; check the indentation and the ':' of this line"
	}
	return ""
}

// runeBoundary returns the start of a character strictly between lo and hi,
// near the middle, or -1 if there is none.
func runeBoundary(data []byte, lo, hi int) int {
	mid := lo + (hi-lo)/2
	for mid > lo && !utf8.RuneStart(data[mid]) {
		mid--
	}
	if mid > lo {
		return mid
	}
	for mid = lo + 1; mid < hi; mid++ {
		if utf8.RuneStart(data[mid]) {
			return mid
		}
	}
	return -1
}

// firstError is the error that parsing data's first two documents meets.
func firstError(data []byte) error {
	_, err := documents(data)
	return err
}

// position converts a byte offset in data to a line and a column counted
// in characters, as the YAML parser counts them.
func position(data []byte, offset int) pos {
	start := bytes.LastIndexByte(data[:offset], '\n') + 1
	return pos{
		line: 1 + bytes.Count(data[:offset], []byte("\n")),
		col:  1 + utf8.RuneCount(data[start:offset]),
	}
}

// badText finds the first byte sequence that is not UTF-8 or a character
// YAML forbids (C0 and C1 controls other than tab, newline, carriage
// return and next line, DEL, U+FFFE and U+FFFF).
func badText(data []byte) (pos, string) {
	for i := 0; i < len(data); {
		r, size := utf8.DecodeRune(data[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			return position(data, i), fmt.Sprintf("is not UTF-8 text (byte 0x%02x); a scenario is a YAML text file", data[i])
		case forbidden(r):
			return position(data, i), fmt.Sprintf("contains the control character %U; a scenario is a YAML text file", r)
		}
		i += size
	}
	return pos{}, ""
}

// forbidden reports whether YAML forbids the character r in a stream.
func forbidden(r rune) bool {
	switch {
	case r == '\t' || r == '\n' || r == '\r' || r == 0x85:
		return false
	case r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0):
		return true
	}
	return r == 0xfffe || r == 0xffff
}
