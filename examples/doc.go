// Package examples holds small real programs that cause port exhaustion
// the way applications do (goclient: Go's default HTTP transport; python:
// requests without a Session), and the tests that build them and run
// them against the bundled HTTP responder in a fresh network namespace
// with a narrowed port range: each runs out of ports, and its fix does
// not.
package examples
