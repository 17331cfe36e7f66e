package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime/pprof"
	"strings"

	"github.com/spf13/pflag"

	"github.com/portex/portex/sandbox"
	"github.com/portex/portex/scenarios"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

// Exit codes.
const (
	exitOK          = 0
	exitExpectation = 1 // an expectation of the scenario failed
	exitUsage       = 2 // bad flags, a bad scenario
	exitRuntime     = 3 // the sandbox or the runtime failed
	exitInterrupted = 130
)

// env is what a command may touch: its streams and the run's context.
type env struct {
	ctx    context.Context
	stdin  io.Reader
	stdout io.Writer
	stderr io.Writer
}

type command struct {
	name    string
	summary string
	hidden  bool
	run     func(e *env, args []string) int
}

func commands() []command {
	return []command{
		{name: "run", summary: "run a scenario (default: " + scenarios.Default + ") and write its report", run: cmdRun},
		{name: "report", summary: "render a saved result again: text, html, md, junit, csv or json", run: cmdReport},
		{name: "compare", summary: "put saved results side by side, with differences from the first", run: cmdCompare},
		{name: "validate", summary: "check scenario files and report every problem", run: cmdValidate},
		{name: "scenarios", summary: "list the bundled scenarios, or show one: scenarios show NAME", run: cmdScenarios},
		{name: "plan", summary: "predict with the capacity model: ports needed, sustainable rate, time to exhaustion", run: cmdPlan},
		{name: "echo", summary: "run the bundled echo server alone", run: cmdEcho},
		{name: "docker", summary: "docker prune: remove what crashed docker runs left behind", run: cmdDocker},
		{name: "version", summary: "print the version", run: cmdVersion},
		{name: "agent", hidden: true, run: cmdAgent},
	}
}

// run is the whole CLI: main only adds the process's streams, arguments
// and signals. It returns the exit code.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	e := &env{ctx: ctx, stdin: stdin, stdout: stdout, stderr: stderr}
	if len(args) == 0 {
		return cmdRun(e, nil)
	}
	switch args[0] {
	case "-h", "--help", "help":
		usage(stdout)
		return exitOK
	case "--version", "-v":
		return cmdVersion(e, nil)
	}
	for _, c := range commands() {
		if c.name == args[0] {
			return c.run(e, args[1:])
		}
	}
	if strings.HasPrefix(args[0], "-") {
		// Flags without a command belong to the default command, run.
		return cmdRun(e, args)
	}
	fmt.Fprintf(stderr, "portex: unknown command %q\n\n", args[0])
	usage(stderr)
	return exitUsage
}

func usage(w io.Writer) {
	fmt.Fprintf(w, "portex reproduces ephemeral-port exhaustion and measures it.\n\nUsage:\n  portex <command> [flags] [args]\n\nCommands:\n")
	for _, c := range commands() {
		if !c.hidden {
			fmt.Fprintf(w, "  %-10s %s\n", c.name, c.summary)
		}
	}
	fmt.Fprintf(w, "\nRun 'portex <command> --help' for a command's flags.\n"+
		"Exit codes: 0 done, 1 an expectation failed, 2 bad usage or scenario, 3 the sandbox failed, 130 interrupted.\n")
}

// newFlags returns a flag set whose errors and help go to e.stderr.
func newFlags(e *env, name, args, summary string) *pflag.FlagSet {
	fs := pflag.NewFlagSet(name, pflag.ContinueOnError)
	fs.SetOutput(e.stderr)
	fs.Usage = func() {
		fmt.Fprintf(e.stderr, "Usage: portex %s %s\n\n%s\n\nFlags:\n%s", name, args, summary, fs.FlagUsages())
	}
	return fs
}

// parse parses flags; done reports that the command should return code.
func parse(fs *pflag.FlagSet, args []string) (code int, done bool) {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, pflag.ErrHelp) {
			return exitOK, true
		}
		return exitUsage, true
	}
	return 0, false
}

func cmdVersion(e *env, args []string) int {
	fs := newFlags(e, "version", "", "Print the version.")
	if code, done := parse(fs, args); done {
		return code
	}
	fmt.Fprintf(e.stdout, "portex %s\n", version)
	return exitOK
}

// cmdAgent is the hidden agent every runtime starts: see package sandbox.
// For development, $PORTEX_AGENT_HEAP_PROFILE names a file that gets the
// agent's heap profile when it ends.
func cmdAgent(e *env, args []string) int {
	code := sandbox.Agent(e.ctx, e.stdin, e.stdout, e.stderr)
	if path := os.Getenv("PORTEX_AGENT_HEAP_PROFILE"); path != "" {
		if f, err := os.Create(fmt.Sprintf("%s.%d", path, os.Getpid())); err == nil {
			pprof.WriteHeapProfile(f)
			f.Close()
		}
	}
	return code
}
