package main

import (
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	"github.com/portex/portex/loadgen"
	"github.com/portex/portex/scenarios"
)

func cmdValidate(e *env, args []string) int {
	fs := newFlags(e, "validate", "FILE... [--runtime NAME]", "Check scenario files (or bundled names); print every problem with file:line:column,\n"+
		"what the runtime cannot run among them.")
	runtimeName := fs.String("runtime", "", "check against this runtime: netns, docker or host (default: the scenario's runtime, else netns)")
	if code, done := parse(fs, args); done {
		return code
	}
	if fs.NArg() == 0 {
		fs.Usage()
		return exitUsage
	}
	code := exitOK
	for _, name := range fs.Args() {
		sc, err := scenarios.Open(name)
		var plans []*loadgen.Plan
		if err == nil {
			plans, err = sc.Plans()
		}
		if err == nil {
			err = checkRuntime(e, sc, plans, *runtimeName)
		}
		if err != nil {
			// Every problem of every file, not the first screenful that
			// the other commands print.
			var ps scenarios.Problems
			if errors.As(err, &ps) {
				for _, p := range ps {
					fmt.Fprintln(e.stderr, p)
				}
			} else {
				fmt.Fprintf(e.stderr, "portex validate: %s: %v\n", name, err)
			}
			code = exitUsage
			continue
		}
		if len(sc.Variants) > 0 {
			fmt.Fprintf(e.stdout, "%s: ok (%s; runs: %s)\n", name, sc.Name, strings.Join(sc.VariantNames(), ", "))
		} else {
			fmt.Fprintf(e.stdout, "%s: ok (%s)\n", name, sc.Name)
		}
	}
	return code
}

// checkRuntime checks a scenario's plans against the named runtime, or
// the scenario's own, as run does before the first variant starts.
func checkRuntime(e *env, sc *scenarios.Scenario, plans []*loadgen.Plan, name string) error {
	if name == "" {
		name = sc.Runtime
	}
	rt, err := newRuntime(e, name, runOptions{})
	if err != nil {
		return err
	}
	defer rt.Close()
	return refusals(rt, sc, plans)
}

func cmdScenarios(e *env, args []string) int {
	fs := newFlags(e, "scenarios", "[show NAME]", "List the bundled scenarios, or print one to copy and edit.")
	if code, done := parse(fs, args); done {
		return code
	}
	switch {
	case fs.NArg() == 0:
		for _, s := range scenarios.Library() {
			fmt.Fprintf(e.stdout, "%-24s %s\n", s.Name, firstSentence(s.Description))
		}
		return exitOK
	case fs.NArg() == 2 && fs.Arg(0) == "show":
		data, ok := scenarios.Bundled(fs.Arg(1))
		if !ok {
			fmt.Fprintf(e.stderr, "portex scenarios: no bundled scenario %q; 'portex scenarios' lists them\n", fs.Arg(1))
			return exitUsage
		}
		e.stdout.Write(data)
		return exitOK
	}
	fs.Usage()
	return exitUsage
}

func firstSentence(s string) string {
	for i := 0; i+1 < len(s); i++ {
		if s[i] == '.' && (s[i+1] == ' ' || s[i+1] == '\n') {
			return s[:i+1]
		}
	}
	return s
}

func cmdEcho(e *env, args []string) int {
	fs := newFlags(e, "echo", "[flags]", "Run the bundled echo server until interrupted, then print its counters.")
	listen := fs.StringArray("listen", []string{"127.0.0.1:7000"}, "address:port to listen on; repeat for more ports (one address for all)")
	backlog := fs.Int("backlog", 0, "listen(2) backlog (default 4096, capped by net.core.somaxconn)")
	closeAfter := fs.Int64("close-after", -1, "close each connection first after echoing this many bytes (0: at once; -1: when the client closes)")
	reset := fs.Bool("reset", false, "close with RST (SO_LINGER 0) instead of FIN")
	if code, done := parse(fs, args); done {
		return code
	}
	cfg := loadgen.ServerConfig{Backlog: *backlog, LingerReset: *reset}
	for _, l := range *listen {
		ap, err := netip.ParseAddrPort(l)
		if err != nil || ap.Addr().Zone() != "" || ap.Addr().Is4In6() {
			fmt.Fprintf(e.stderr, "portex echo: --listen %q: want an IPv4 or IPv6 address:port such as 127.0.0.1:7000 or [::1]:7000\n", l)
			return exitUsage
		}
		if cfg.Addr.IsValid() && cfg.Addr != ap.Addr() {
			fmt.Fprintf(e.stderr, "portex echo: --listen: all ports must share one address\n")
			return exitUsage
		}
		cfg.Addr = ap.Addr()
		cfg.Listeners = append(cfg.Listeners, loadgen.Listener{Port: int(ap.Port()), CloseFirst: *closeAfter >= 0, CloseAfterBytes: max(*closeAfter, 0)})
	}
	srv, err := loadgen.StartServer(cfg)
	if err != nil {
		fmt.Fprintf(e.stderr, "portex echo: %v\n", err)
		return exitRuntime
	}
	fmt.Fprintf(e.stderr, "portex echo: listening on %s:%s\n", cfg.Addr, ports(cfg.Listeners))
	<-e.ctx.Done()
	srv.Close()
	c := srv.Counts()
	fmt.Fprintf(e.stdout, "accepted %d · closed first %d · closed by client %d · errors %d · echoed %d bytes · peak open %d\n",
		c.Accepted, c.ClosedByServer, c.ClosedByPeer, c.Errors, c.BytesEchoed, c.PeakOpen)
	return exitOK
}

func ports(ls []loadgen.Listener) string {
	s := ""
	for i, l := range ls {
		if i > 0 {
			s += ","
		}
		s += strconv.Itoa(l.Port)
	}
	return s
}
