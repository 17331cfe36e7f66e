package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/portex/portex/loadgen"
)

// cmdExec runs one command of the user's in the narrowed sandbox: the
// one-off form of a scenario with a program. It writes that scenario
// (--save-scenario keeps it) and runs it as portex run does, so the
// verdict, the reports and the exit codes are run's.
func cmdExec(e *env, args []string) int {
	fs := newFlags(e, "exec", "[flags] -- COMMAND [ARGS...]",
		"Run your own program in the narrowed sandbox (a network namespace with its own\n"+
			"port range, sysctls and nofile) against the bundled server, and report when and\n"+
			"why it ran out of ports. \"{server}\" in the arguments stands for the server's\n"+
			"host:port, which the program also gets as PORTEX_SERVER (and PORTEX_SERVER_HOST,\n"+
			"PORTEX_SERVER_PORT). The run is the scenario portex writes for it: see\n"+
			"--save-scenario to keep it and edit it into variants.")
	rng := fs.String("range", "50000-50199", "the sandbox's ephemeral port range, lo-hi")
	duration := fs.Duration("duration", 30*time.Second, "stop the program after this long (SIGTERM, then SIGKILL)")
	sysctls := fs.StringArray("sysctl", nil, "a sysctl of the sandbox, NAME=VALUE (e.g. net.ipv4.tcp_tw_reuse=1); repeat the flag")
	nofile := fs.Int("nofile", 0, "the program's RLIMIT_NOFILE (0: portex's own)")
	envs := fs.StringArray("env", nil, "an environment variable for the program, NAME=VALUE; repeat the flag")
	server := fs.String("server", string(loadgen.ProtoHTTP), "what the bundled server speaks: http (a keep-alive HTTP responder) or echo")
	serverPorts := fs.Int("server-ports", 1, "how many ports the server listens on (PORTEX_SERVER_PORT_0, _1, ...)")
	name := fs.String("name", "", "the program's name in the report (default: the command's base name)")
	expectExit := fs.Int("expect-exit", 0, "the exit status the program must end with; -1: do not check it")
	save := fs.String("save-scenario", "", "also write the scenario portex runs to this file")
	dryRun := fs.Bool("dry-run", false, "print the scenario (or write it, with --save-scenario) and run nothing")
	runtimeName := fs.String("runtime", "netns", "where to run: netns, or docker (the command goes into the client's image; see --image)")
	image := fs.String("image", "", "with --runtime docker: run the command in this image of the engine's, portex's agent added")
	out := fs.String("out", "", "folder for the report files (default: a new folder under ./portex-results/)")
	force := fs.Bool("force", false, "write into --out even if it holds a result already")
	quiet := fs.BoolP("quiet", "q", false, "print no progress on stderr")
	if code, done := parse(fs, args); done {
		return code
	}
	argv := fs.Args()
	if len(argv) == 0 {
		return fs.fail(fmt.Errorf("no command: give it after --, as in portex exec -- curl -s http://{server}/"))
	}
	if fs.ArgsLenAtDash() != 0 {
		return fs.fail(fmt.Errorf("%q: put the command after --, as in portex exec [flags] -- %s", argv[0], strings.Join(argv, " ")))
	}
	sc, err := execScenario(argv, execOptions{rng: *rng, duration: *duration, sysctls: *sysctls, nofile: *nofile, env: *envs,
		server: *server, serverPorts: *serverPorts, name: *name, expectExit: *expectExit})
	if err != nil {
		return fs.fail(err)
	}
	var buf bytes.Buffer
	buf.WriteString("# Written by portex exec: run it again with portex run FILE.\n")
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(sc); err != nil {
		return fs.fail(err)
	}
	enc.Close()
	doc := buf.Bytes()
	if *save != "" {
		if err := os.WriteFile(*save, doc, 0o644); err != nil {
			fmt.Fprintf(e.stderr, "portex exec: --save-scenario: %v\n", err)
			return exitUsage
		}
	}
	if *dryRun {
		if *save == "" {
			e.stdout.Write(doc)
		}
		return exitOK
	}
	dir, err := os.MkdirTemp("", "portex-exec-")
	if err != nil {
		fmt.Fprintf(e.stderr, "portex exec: %v\n", err)
		return exitRuntime
	}
	defer os.RemoveAll(dir)
	file := filepath.Join(dir, sc.Name+".yaml")
	if err := os.WriteFile(file, doc, 0o644); err != nil {
		fmt.Fprintf(e.stderr, "portex exec: %v\n", err)
		return exitRuntime
	}
	runArgs := []string{file, "--runtime", *runtimeName}
	if *image != "" {
		runArgs = append(runArgs, "--image", *image)
	}
	if *out != "" {
		runArgs = append(runArgs, "--out", *out)
	}
	if *force {
		runArgs = append(runArgs, "--force")
	}
	if *quiet {
		runArgs = append(runArgs, "--quiet")
	}
	return cmdRun(e, runArgs)
}

// execOptions are portex exec's flags that shape its scenario.
type execOptions struct {
	rng                 string
	duration            time.Duration
	sysctls, env        []string
	nofile, serverPorts int
	server, name        string
	expectExit          int
}

// execDoc is the scenario portex exec writes, in the language's order.
type execDoc struct {
	Name        string       `yaml:"name"`
	Description string       `yaml:"description"`
	Duration    string       `yaml:"duration"`
	Runtime     string       `yaml:"runtime"`
	Sandbox     execSandbox  `yaml:"sandbox"`
	Server      execServer   `yaml:"server"`
	Programs    []execProg   `yaml:"programs"`
	Expect      *execExpects `yaml:"expect,omitempty"`
}

type execSandbox struct {
	PortRange string            `yaml:"port_range"`
	Sysctls   map[string]string `yaml:"sysctls,omitempty"`
	Nofile    int               `yaml:"nofile,omitempty"`
}

type execServer struct {
	Protocol string `yaml:"protocol"`
	Ports    int    `yaml:"ports,omitempty"`
}

type execProg struct {
	Name string            `yaml:"name"`
	Exec []string          `yaml:"exec"`
	Env  map[string]string `yaml:"env,omitempty"`
}

type execExpects struct {
	ExitCode *int `yaml:"exit_code,omitempty"`
}

// notName is what a program's name may not hold.
var notName = regexp.MustCompile(`[^a-z0-9-]+`)

// execScenario builds the scenario for argv: each flag becomes its key, so
// the loader checks it as it checks a scenario file.
func execScenario(argv []string, o execOptions) (*execDoc, error) {
	if _, _, err := parseRange(o.rng); err != nil {
		return nil, fmt.Errorf("--range: %w", err)
	}
	if o.duration <= 0 {
		return nil, fmt.Errorf("--duration must be positive, got %s", o.duration)
	}
	name := o.name
	if name == "" {
		name = strings.Trim(notName.ReplaceAllString(strings.ToLower(filepath.Base(argv[0])), "-"), "-")
		if name == "" {
			name = "program"
		}
	}
	kv := func(flag string, items []string) (map[string]string, error) {
		if len(items) == 0 {
			return nil, nil
		}
		m := make(map[string]string, len(items))
		for _, it := range items {
			k, v, ok := strings.Cut(it, "=")
			if !ok || k == "" {
				return nil, fmt.Errorf("--%s %q: want NAME=VALUE", flag, it)
			}
			m[k] = v
		}
		return m, nil
	}
	sys, err := kv("sysctl", o.sysctls)
	if err != nil {
		return nil, err
	}
	env, err := kv("env", o.env)
	if err != nil {
		return nil, err
	}
	doc := &execDoc{
		Name:        "exec-" + name,
		Description: fmt.Sprintf("portex exec -- %s", strings.Join(argv, " ")),
		Duration:    o.duration.String(),
		Runtime:     "netns",
		Sandbox:     execSandbox{PortRange: o.rng, Sysctls: sys, Nofile: o.nofile},
		Server:      execServer{Protocol: o.server, Ports: o.serverPorts},
		Programs:    []execProg{{Name: name, Exec: argv, Env: env}},
	}
	if o.expectExit >= 0 {
		code := o.expectExit
		doc.Expect = &execExpects{ExitCode: &code}
	}
	return doc, nil
}
