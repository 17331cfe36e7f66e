package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/portex/portex/docker"
	"github.com/portex/portex/metrics"
	"github.com/portex/portex/watch"
)

const watchSummary = "show a live network namespace's local ports per destination against their budget, read-only"

func cmdWatch(e *env, args []string) int {
	fs := newFlags(e, "watch", "[flags]", "Sample a live network namespace (the host's by default) with sock_diag and show, per\n"+
		"destination: local ports in use (TIME_WAIT included) against the budget, new connections\n"+
		"a second, TIME_WAIT, CLOSE_WAIT, and a projection at the current rate. Writes nothing.")
	netnsPath := fs.String("netns", "", "watch the network namespace at this path (/run/netns/NAME, /proc/PID/ns/net)")
	pid := fs.Int("pid", 0, "watch the network namespace of this process")
	container := fs.String("container", "", "watch the network namespace of this Docker container (name or id)")
	interval := fs.Duration("interval", time.Second, "time between samples")
	window := fs.Duration("window", 10*time.Second, "how far back rates and projections look")
	top := fs.Int("top", 20, "show at most this many destinations, least headroom first (0: all)")
	once := fs.Bool("once", false, "sample for one --window, print one report and exit")
	metricsListen := fs.String("metrics-listen", "", "also serve the report as Prometheus metrics on this address (host:port) at /metrics")
	format := fs.String("format", "", "table, plain or json (default: table on a terminal, plain otherwise)")
	if code, done := parse(fs, args); done {
		return code
	}
	if fs.NArg() > 0 {
		return fs.fail(fmt.Errorf("unexpected argument %q", fs.Arg(0)))
	}
	chosen := 0
	for _, name := range []string{"netns", "pid", "container"} {
		if fs.Changed(name) {
			chosen++
		}
	}
	switch {
	case chosen > 1:
		return fs.fail(errors.New("--netns, --pid and --container each name the namespace: give one"))
	case fs.Changed("pid") && *pid <= 0:
		return fs.fail(fmt.Errorf("--pid %d: want a process id", *pid))
	case fs.Changed("netns") && *netnsPath == "":
		return fs.fail(errors.New("--netns: want a path"))
	case fs.Changed("container") && *container == "":
		return fs.fail(errors.New("--container: want a name or id"))
	case *interval < 10*time.Millisecond:
		return fs.fail(fmt.Errorf("--interval %s: want 10ms or more", *interval))
	case *window < 0:
		return fs.fail(fmt.Errorf("--window %s: want 0 or more", *window))
	case *once && *metricsListen != "":
		return fs.fail(errors.New("--metrics-listen serves metrics while watch runs: not with --once"))
	case *top < 0:
		return fs.fail(fmt.Errorf("--top %d: want 0 (all) or more", *top))
	}
	var show func(io.Writer, *watch.Report) error
	switch *format {
	case "":
		switch {
		case !isTerminal(e.stdout):
			show = watch.WritePlain
		case *once:
			show = watch.WriteTable
		default: // a live table, redrawn in place
			show = func(w io.Writer, r *watch.Report) error {
				fmt.Fprint(w, "\x1b[H\x1b[2J")
				return watch.WriteTable(w, r)
			}
		}
	case "table":
		show = watch.WriteTable
	case "plain":
		show = watch.WritePlain
	case "json":
		show = watch.WriteJSON
	default:
		return fs.fail(fmt.Errorf("--format %q: want table, plain or json", *format))
	}

	path, label := "", "host"
	switch {
	case *netnsPath != "":
		path, label = *netnsPath, "netns "+*netnsPath
	case *pid > 0:
		path, label = "/proc/"+strconv.Itoa(*pid)+"/ns/net", "pid "+strconv.Itoa(*pid)
		if _, err := os.Stat("/proc/" + strconv.Itoa(*pid)); errors.Is(err, os.ErrNotExist) {
			fmt.Fprintf(e.stderr, "portex watch: --pid %d: no such process\n", *pid)
			return exitUsage
		}
	case *container != "":
		eng, err := docker.Connect(e.ctx)
		if err != nil {
			fmt.Fprintf(e.stderr, "portex watch: --container %s: %v\n", *container, err)
			return exitRuntime
		}
		p, err := eng.ContainerPid(e.ctx, *container)
		eng.Close()
		if err != nil {
			fmt.Fprintf(e.stderr, "portex watch: --container: %v\n", err)
			if errors.Is(err, docker.ErrNoContainer) {
				return exitUsage
			}
			return exitRuntime
		}
		path, label = "/proc/"+strconv.Itoa(p)+"/ns/net", "container "+*container
	}
	ns, err := watch.Open(path)
	if err != nil {
		fmt.Fprintf(e.stderr, "portex watch: %v\n", err)
		if errors.Is(err, watch.ErrNoNamespace) {
			return exitUsage
		}
		return exitRuntime
	}
	defer ns.Close()
	w := &watch.Watcher{Window: *window, Namespace: label}
	exp := &watch.Exporter{}
	if *metricsListen != "" {
		reg := prometheus.NewRegistry()
		reg.MustRegister(exp)
		srv := &metrics.Server{Addr: *metricsListen, Gatherer: reg}
		if err := srv.Start(e.ctx); err != nil {
			fmt.Fprintf(e.stderr, "portex watch: --metrics-listen %s: %v\n", *metricsListen, err)
			return exitUsage
		}
		defer func() {
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			defer cancel()
			srv.Close(ctx)
		}()
		fmt.Fprintf(e.stderr, "portex watch: metrics on http://%s/metrics\n", srv.Listening())
	}
	err = watch.Loop(e.ctx, ns, w, *interval, *once, *top, func(r *watch.Report) error {
		exp.Update(r)
		return show(e.stdout, r)
	})
	if err != nil {
		fmt.Fprintf(e.stderr, "portex watch: %v\n", err)
		return exitRuntime
	}
	return exitOK
}
