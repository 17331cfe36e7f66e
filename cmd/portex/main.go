// Command portex reproduces ephemeral-port exhaustion on purpose, measures
// it, and compares mitigations. See README.md.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	if len(os.Args) < 2 || os.Args[1] != "agent" {
		go func() {
			// After the first signal, the next one gets the default
			// action: a second Ctrl-C stops portex at once. Its agents
			// die with it (they are started with a parent-death signal)
			// and their namespaces vanish with them. An agent keeps
			// handling signals: it stops once, and reports.
			<-ctx.Done()
			stop()
		}()
	}
	os.Exit(run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}
