package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime/debug"
	"runtime/pprof"
	"strings"
	"time"

	"github.com/spf13/pflag"

	"github.com/portex/portex/sandbox"
	"github.com/portex/portex/scenarios"
)

// version, when set at build time with -ldflags "-X main.version=...",
// is what portex version prints; otherwise it reads the build's own
// record (see buildVersion).
var version = ""

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
		{name: "exec", summary: "run your own program in the narrowed sandbox: exec [flags] -- COMMAND [ARGS...]", run: cmdExec},
		{name: "report", summary: "render a saved result again: text, html, md, junit, csv or json", run: cmdReport},
		{name: "merge", summary: "merge the results of a run's shards (run --shard i/n) into one", run: cmdMerge},
		{name: "k8s", summary: "write the Kubernetes manifests of N shards; k8s collect reads their results out of the logs", run: cmdK8s},
		{name: "compare", summary: "put saved results side by side, with differences from the first", run: cmdCompare},
		{name: "validate", summary: "check scenario files and report every problem", run: cmdValidate},
		{name: "scenarios", summary: "list the bundled scenarios, or show one: scenarios show NAME", run: cmdScenarios},
		{name: "plan", summary: "predict with the capacity model: ports needed, sustainable rate, time to exhaustion", run: cmdPlan},
		{name: "watch", summary: watchSummary, run: cmdWatch},
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
		// Bare portex explains itself; `portex run` runs the default
		// scenario.
		usage(stdout)
		return exitOK
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
	fmt.Fprintf(w, "\nStart with 'portex run': it runs the bundled %s scenario.\n"+
		"Run 'portex <command> --help' for a command's flags.\n"+
		"Exit codes: 0 done, 1 an expectation failed, 2 bad usage or scenario, 3 the sandbox failed, 130 interrupted.\n", scenarios.Default)
}

// flagSet is a command's flags, with what parse needs to explain a bad
// one: the command's name, its usage line, and where to write.
type flagSet struct {
	*pflag.FlagSet
	name, args string
	stderr     io.Writer
}

// newFlags returns a flag set whose errors and help go to e.stderr.
func newFlags(e *env, name, args, summary string) *flagSet {
	fs := &flagSet{FlagSet: pflag.NewFlagSet(name, pflag.ContinueOnError), name: name, args: args, stderr: e.stderr}
	fs.SetOutput(e.stderr)
	fs.Usage = func() {
		fmt.Fprintf(e.stderr, "Usage: portex %s %s\n\n%s\n\nFlags:\n%s", name, args, summary, fs.FlagUsages())
	}
	return fs
}

// parse parses flags; done reports that the command should return code.
// pflag returns its errors without printing them (ContinueOnError): a bad
// flag is printed here, with the command's usage line and where its flags
// are listed.
func parse(fs *flagSet, args []string) (code int, done bool) {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, pflag.ErrHelp) {
			return exitOK, true
		}
		return fs.fail(err), true
	}
	if err := swallowedFlag(fs.FlagSet); err != nil {
		return fs.fail(err), true
	}
	return 0, false
}

// fail prints a bad flag's error with the command's usage line.
func (fs *flagSet) fail(err error) int {
	fmt.Fprintf(fs.stderr, "portex %s: %v\nUsage: portex %s %s (run 'portex %s --help' for its flags)\n",
		fs.name, err, fs.name, fs.args, fs.name)
	return exitUsage
}

// swallowedFlag finds a text flag whose value looks like a flag: given
// `--out -q`, pflag takes -q as the folder's name. "-" alone (stdin or
// stdout) is a value.
func swallowedFlag(fs *pflag.FlagSet) error {
	var err error
	fs.Visit(func(f *pflag.Flag) {
		var values []string
		switch v := f.Value.(type) {
		case pflag.SliceValue:
			values = v.GetSlice()
		default:
			if f.Value.Type() == "string" {
				values = []string{f.Value.String()}
			}
		}
		for _, v := range values {
			if err == nil && len(v) > 1 && strings.HasPrefix(v, "-") {
				err = fmt.Errorf("--%s %s: the value looks like a flag; give --%s a value (write ./%s for a file or folder of that name)", f.Name, v, f.Name, v)
			}
		}
	})
	return err
}

// checkRunFlags checks the flags of portex run that depend on each other
// or share a scenario's bounds.
func checkRunFlags(fs *flagSet) error {
	if fs.Changed("duration") {
		d, _ := fs.GetDuration("duration")
		if d <= 0 || d > scenarios.MaxDuration {
			return fmt.Errorf("--duration %s: want more than 0s and at most %s, as a scenario's duration", fmtDuration(d), fmtDuration(scenarios.MaxDuration))
		}
	}
	if allow, _ := fs.GetBool("allow-external-target"); allow && !fs.Changed("target") {
		return errors.New("--allow-external-target needs --target: it allows a --target outside loopback")
	}
	return nil
}

// fmtDuration prints whole hours as 24h, not 24h0m0s.
func fmtDuration(d time.Duration) string {
	if d != 0 && d%time.Hour == 0 {
		return fmt.Sprintf("%dh", d/time.Hour)
	}
	return d.String()
}

func cmdVersion(e *env, args []string) int {
	fs := newFlags(e, "version", "", "Print the version.")
	if code, done := parse(fs, args); done {
		return code
	}
	v := version
	if v == "" {
		info, _ := debug.ReadBuildInfo()
		v = buildVersion(info)
	}
	fmt.Fprintf(e.stdout, "portex %s\n", v)
	return exitOK
}

// buildVersion describes a build from what the Go toolchain recorded in
// it: the main module's version (set by go install module@version), and
// the VCS revision a build from a checkout carries, marked "+dirty" when
// the tree had uncommitted changes. "dev" when neither is known (go run,
// go test, a build with -buildvcs=false).
func buildVersion(info *debug.BuildInfo) string {
	if info == nil {
		return "dev"
	}
	var rev, at string
	var dirty bool
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.time":
			at = s.Value
		case "vcs.modified":
			dirty = s.Value == "true"
		}
	}
	v := info.Main.Version
	if v == "(devel)" {
		v = ""
	}
	if rev != "" {
		if len(rev) > 12 {
			rev = rev[:12]
		}
		if dirty {
			rev += "+dirty"
		}
		if at != "" {
			rev += " " + at
		}
		if v == "" {
			v = "dev"
		}
		v += " (" + rev + ")"
	}
	if v == "" {
		return "dev"
	}
	return v
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
