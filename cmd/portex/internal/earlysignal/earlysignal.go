// Package earlysignal catches SIGINT and SIGTERM from the moment the
// process starts, before the other packages are initialised: until
// os/signal is told about a signal, the Go runtime gives it the default
// action, which kills the process before it has written anything.
//
// Import it first from package main. Its only dependencies are os/signal
// and syscall, and its import path sorts before the heavy packages', so the
// Go runtime initialises it early.
package earlysignal

import (
	"os"
	"os/signal"
	"syscall"
)

// C receives SIGINT and SIGTERM from process start on. It is buffered:
// signals that come before anyone reads it wait there (one of each kind at
// least; more may be dropped, as os/signal does when a channel is full).
var C = make(chan os.Signal, 16)

func init() {
	signal.Notify(C, syscall.SIGINT, syscall.SIGTERM)
}

// Release gives SIGINT and SIGTERM back to whatever handled them before
// (the default action): for a process, such as a test binary, that does not
// mean to read C.
func Release() {
	signal.Stop(C)
}
