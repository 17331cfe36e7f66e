// Command portex reproduces ephemeral-port exhaustion on purpose, measures
// it, and compares mitigations. See README.md.
package main

import (
	// First: SIGINT and SIGTERM are caught from process start on.
	"github.com/portex/portex/cmd/portex/internal/earlysignal"

	"context"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/portex/portex/sandbox"
)

// hardStopGrace is how long after the first signal a further one is taken
// as "stop now". Signals within it are the same request delivered twice:
// coreutils timeout, for one, signals the process and then its process
// group, so portex gets two within microseconds.
const hardStopGrace = time.Second

func main() {
	agent := len(os.Args) >= 2 && os.Args[1] == "agent"
	ctx := stopContext(earlysignal.C, agent, hardStopGrace)
	os.Exit(run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

// stopContext returns a context that ends at the first signal from sigs.
// Unless once is set, a signal that comes hardStop or more after the first
// closes the context's hard stop (see sandbox.WithHardStop): the runtimes
// then kill their agents at once instead of waiting for their reports, and
// portex still writes the partial result rebuilt from their events. A
// signal a grace after that one gets the default action. An agent (once)
// stops once and ignores later signals: it reports.
func stopContext(sigs <-chan os.Signal, once bool, grace time.Duration) context.Context {
	ctx, cancel := context.WithCancel(context.Background())
	hard := make(chan struct{})
	go func() {
		<-sigs
		cancel()
		last := time.Now()
		for range sigs {
			if !once && time.Since(last) >= grace {
				close(hard)
				last = time.Now()
				break
			}
		}
		for sig := range sigs {
			// A third signal, a grace after the hard stop, is the
			// way out of anything that still does not end: the
			// default action, at once.
			if !once && time.Since(last) >= grace {
				signal.Reset(syscall.SIGINT, syscall.SIGTERM)
				syscall.Kill(os.Getpid(), sig.(syscall.Signal))
			}
		}
	}()
	return sandbox.WithHardStop(ctx, hard)
}
