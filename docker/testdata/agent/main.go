// Command agent is the portex agent alone, for the docker package's tests:
// built static, it is the entrypoint of the test image, as portex is of the
// real one. It answers to the same command line: agent, version.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/portex/portex/sandbox"
)

func main() {
	if len(os.Args) < 2 || os.Args[1] != "agent" {
		fmt.Fprintln(os.Stderr, "usage: agent agent")
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	code := sandbox.Agent(ctx, os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
