package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"time"

	"github.com/portex/portex/analysis"
	"github.com/portex/portex/docker"
	"github.com/portex/portex/fleet"
	"github.com/portex/portex/loadgen"
	"github.com/portex/portex/report"
	"github.com/portex/portex/result"
	"github.com/portex/portex/sandbox"
	"github.com/portex/portex/scenarios"
)

// runOptions are the run command's flags that a runtime takes.
type runOptions struct {
	target        netip.AddrPort // host: dial this instead of the echo server
	allowExternal bool
	// podHost and podPort are the pod runtime's echo server (--target
	// HOST or HOST:PORT; port 0: the scenario's ports).
	podHost string
	podPort int
	// image is the docker runtime's client image (--image).
	image string
}

// newRuntime returns the runtime of the given name.
func newRuntime(e *env, name string, o runOptions) (sandbox.Runtime, error) {
	if o.target.IsValid() && name != "host" {
		return nil, errors.New("--target works with --runtime host or pod only")
	}
	switch name {
	case "", "netns":
		return &sandbox.Netns{Stderr: e.stderr}, nil
	case "docker":
		return &docker.Runtime{Stderr: e.stderr, Image: o.image}, nil
	case "host":
		return &sandbox.Host{Target: o.target, AllowExternal: o.allowExternal}, nil
	case "pod":
		return &sandbox.Pod{Host: o.podHost, Port: o.podPort, AllowExternal: o.allowExternal, Wait: podWait}, nil
	}
	return nil, fmt.Errorf("unknown runtime %q (available: netns, docker, host, pod)", name)
}

func cmdRun(e *env, args []string) int {
	fs := newFlags(e, "run", "[SCENARIO] [flags]",
		"Run a scenario, bundled (by name) or from a file, print a summary and write\n"+
			"result.json. Without a scenario, runs "+scenarios.Default+".")
	out := fs.String("out", "", "folder for the report files (default: a new folder under ./portex-results/)")
	force := fs.Bool("force", false, "write into --out even if it holds a result already")
	runtimeName := fs.String("runtime", "", "where to run: netns, docker, host or pod (default: the scenario's runtime, else netns)")
	quiet := fs.BoolP("quiet", "q", false, "print no progress on stderr")
	variants := fs.StringSlice("variant", nil, "run only this variant; repeat the flag or separate names with commas (default: every variant, the baseline first)")
	scaleTo := fs.String("scale-to", "", "also predict what the load means in this port range, lo-hi (e.g. 32768-60999)")
	duration := fs.Duration("duration", 0, "run each variant this long instead of the scenario's duration")
	target := fs.String("target", "", "with --runtime host: dial this address:port instead of the bundled echo server; with --runtime pod: the echo server's HOST or HOST:PORT (a Service)")
	allowExternal := fs.Bool("allow-external-target", false, "allow a --target outside loopback (load goes to a machine portex does not own)")
	shardFlag := fs.String("shard", "", "run shard i of n of the load (i counts from 0), for portex merge to put together")
	metricsListen := fs.String("metrics-listen", "", "serve Prometheus metrics of the run on this address:port (e.g. 127.0.0.1:9464) while it lasts")
	metricsLinger := fs.Duration("metrics-linger", 0, "with --metrics-listen: keep serving the final metrics this long after the run")
	image := fs.String("image", "", "with --runtime docker: run the client (and its programs) in this image of the engine's, portex's agent added")
	printResult := fs.Bool("print-result", false, "also print result.json on stdout between marker lines, for kubectl logs and portex k8s collect")
	if code, done := parse(fs, args); done {
		return code
	}
	if err := checkRunFlags(fs); err != nil {
		return fs.fail(err)
	}
	if err := checkMetricsFlags(fs); err != nil {
		return fs.fail(err)
	}
	scaleSize := 0
	if *scaleTo != "" {
		lo, hi, err := parseRange(*scaleTo)
		if err != nil {
			fmt.Fprintf(e.stderr, "portex run: --scale-to: %v\n", err)
			return exitUsage
		}
		scaleSize = hi - lo + 1
	}
	if fs.NArg() > 1 {
		fmt.Fprintf(e.stderr, "portex run: one scenario at a time, got %d\n", fs.NArg())
		return exitUsage
	}
	name := scenarios.Default
	if fs.NArg() == 1 {
		name = fs.Arg(0)
	}
	sc, err := scenarios.Open(name)
	if err != nil {
		return scenarioError(e, err)
	}
	runs, err := sc.RunsFor(*variants)
	if err != nil {
		return scenarioError(e, err)
	}
	plans := make([]*loadgen.Plan, len(runs))
	for i, r := range runs {
		plans[i] = r.Plan
	}
	if *duration < 0 {
		fmt.Fprintf(e.stderr, "portex run: --duration must be positive\n")
		return exitUsage
	}
	for _, p := range plans {
		if *runtimeName != "" {
			p.Runtime = *runtimeName
		}
		if *duration > 0 {
			p.Duration = *duration
		}
	}
	var shard *fleet.Spec
	if *shardFlag != "" {
		s, err := fleet.ParseSpec(*shardFlag)
		if err != nil {
			return fs.fail(fmt.Errorf("--shard %v", err))
		}
		shard = &s
	}
	wholes := make([]shardPlan, len(plans))
	if shard != nil {
		for i, p := range plans {
			if wholes[i], err = newShardPlan(p, runs[i].Expect); err != nil {
				fmt.Fprintf(e.stderr, "portex run: --shard: %v\n", err)
				return exitRuntime
			}
			if plans[i], err = shard.Split(p); err != nil {
				fmt.Fprintf(e.stderr, "portex run: --shard %s: %v\n", shard, err)
				return exitUsage
			}
		}
	}
	o := runOptions{allowExternal: *allowExternal, image: *image}
	if *image != "" && plans[0].Runtime != "docker" {
		fmt.Fprintf(e.stderr, "portex run: --image works with --runtime docker only\n")
		return exitUsage
	}
	if *target != "" && plans[0].Runtime == "host" {
		ap, err := netip.ParseAddrPort(*target)
		if err != nil || ap.Addr().Zone() != "" || ap.Addr().Is4In6() {
			fmt.Fprintf(e.stderr, "portex run: --target %q: want an IPv4 or IPv6 address:port, such as 127.0.0.1:7000 or [::1]:7000\n", *target)
			return exitUsage
		}
		o.target = ap
	} else if plans[0].Runtime == "pod" {
		if o.podHost, o.podPort, err = podTarget(*target); err != nil {
			fmt.Fprintf(e.stderr, "portex run: %v\n", err)
			return exitUsage
		}
	} else if *target != "" {
		fmt.Fprintf(e.stderr, "portex run: --target works with --runtime host or pod only\n")
		return exitUsage
	}
	rt, err := newRuntime(e, plans[0].Runtime, o)
	if err != nil {
		fmt.Fprintf(e.stderr, "portex run: %v\n", err)
		return exitUsage
	}
	defer rt.Close()
	// Every variant is checked against the runtime before the first runs.
	if err := refusals(rt, sc, plans); err != nil {
		if _, ok := err.(scenarios.Problems); ok {
			return scenarioError(e, err)
		}
		fmt.Fprintf(e.stderr, "portex run: %v\n", err)
		return exitUsage
	}
	for _, p := range plans {
		if err := sandbox.Preflight(p); err != nil {
			fmt.Fprintf(e.stderr, "portex run: %s, variant %s: %v\n", sc.Name, p.Variant, err)
			return exitUsage
		}
	}
	// A runtime that can tell before the run that it cannot run (no
	// Docker engine, a binary that cannot go into an image, a --target
	// that accepts no connection) says so in one line, and no report
	// folder is made.
	for _, p := range plans {
		if e.ctx.Err() != nil {
			break // interrupted before the run: an empty result is written
		}
		if err := rt.Check(e.ctx, p); err != nil && e.ctx.Err() == nil {
			fmt.Fprintf(e.stderr, "portex run: %v\n", err)
			return exitRuntime
		}
	}
	lm, err := startMetrics(e, *metricsListen, *metricsLinger, *quiet)
	if err != nil {
		fmt.Fprintf(e.stderr, "portex run: %v\n", err)
		return exitUsage
	}
	defer lm.close()
	dir, err := outputDir(*out, sc.Name, *force)
	if err != nil {
		fmt.Fprintf(e.stderr, "portex run: %v\n", err)
		return exitUsage
	}

	// Runs is never null: a run interrupted before its first plan started
	// writes an empty list.
	rf := &result.ResultFile{Schema: result.Schema, Scenario: sc.Name, Runs: []*result.Result{}}
	if shard != nil {
		d := shard.Describe()
		rf.Shard = &d
	}
	var runErr error
	for i, p := range plans {
		if e.ctx.Err() != nil {
			break
		}
		if !*quiet {
			fmt.Fprintf(e.stderr, "portex: running %s, variant %s (%d of %d), in %s\n", sc.Name, p.Variant, i+1, len(plans), p.Runtime)
		}
		var prog *progress
		var onEvent func(result.Event)
		if !*quiet {
			prog = newProgress(e.stderr, p, i+1, len(plans))
			onEvent = prog.event
		}
		lm.begin(sc.Name, p)
		res, err := rt.Run(e.ctx, p, lm.observer(onEvent))
		if res != nil {
			// The capacity model knows the pools' load; a program's it
			// cannot know, and predicts nothing for, nor for pools that
			// share the range with programs.
			if len(p.Pools) > 0 && len(p.Programs) == 0 {
				analysis.AttachModel(p, res)
				if scaleSize > 0 {
					analysis.AttachScaled(p, res, scaleSize)
				}
			}
			if shard == nil {
				// A shard's figures are a part: portex merge checks the
				// expectations on the whole.
				res.Expectations = analysis.Check(runs[i].Expect, res)
			}
			v := analysis.Judge(res)
			res.Verdict = &v
			if shard != nil {
				res.Plan, res.Expect = wholes[i].plan, wholes[i].expect
				res.Notes = append(res.Notes, fmt.Sprintf("shard %s: this machine ran 1/%d of the load; portex merge puts the %d shards' result.json together and checks the scenario's expectations on the whole",
					shard, shard.Count, shard.Count))
			}
			rf.Runs = append(rf.Runs, res)
			prog.done(res)
		}
		lm.end(res)
		if err != nil {
			runErr = err
			break
		}
		if e.ctx.Err() != nil || (res != nil && res.Stopped == result.StoppedInterrupted) {
			break
		}
	}
	code := finish(e, dir, rf, len(plans), runErr)
	if *printResult {
		printResultBlock(e, dir)
	}
	lm.lingerAfter(e, *quiet)
	return code
}

// shardPlan is a variant's whole plan and expectations, as a shard's
// result carries them for portex merge.
type shardPlan struct{ plan, expect json.RawMessage }

func newShardPlan(p *loadgen.Plan, e *analysis.Expect) (shardPlan, error) {
	var s shardPlan
	var err error
	if s.plan, err = json.Marshal(p); err != nil {
		return s, err
	}
	if e != nil {
		s.expect, err = json.Marshal(e)
	}
	return s, err
}

// interrupted says whether a signal cut the run short: it came before
// every plan had run, or the last run says "interrupted" (a signal to
// portex during it, or to its agent alone). A signal after the last run
// ended changes nothing.
func interrupted(ctx context.Context, rf *result.ResultFile, plans int) bool {
	n := len(rf.Runs)
	if n > 0 && rf.Runs[n-1].Stopped == result.StoppedInterrupted {
		return true
	}
	return ctx.Err() != nil && n < plans
}

// finish writes what was measured, whatever happened, and picks the exit
// code. Whether the run was interrupted is decided once, before anything is
// written, so that the files and the exit code say the same.
func finish(e *env, dir string, rf *result.ResultFile, plans int, runErr error) int {
	stopped := interrupted(e.ctx, rf, plans)
	if stopped {
		rf.Stopped = result.StoppedInterrupted
	}
	path := filepath.Join(dir, "result.json")
	writeErr := report.WriteFile(path, func(w io.Writer) error { return report.WriteJSON(w, rf) })
	files := []string{path}
	var renderErr error
	if writeErr != nil {
		files = nil
	} else {
		// timeseries.csv, report.html, summary.md, junit.xml.
		var more []string
		more, renderErr = writeRenderings(dir, rf)
		files = append(files, more...)
	}
	report.WriteText(e.stdout, rf, report.TextOptions{Files: files})
	if renderErr != nil {
		fmt.Fprintf(e.stderr, "portex run: %v\n", renderErr)
	}
	if writeErr != nil {
		fmt.Fprintf(e.stderr, "portex run: cannot write %s: %v; the result follows on stdout\n", path, writeErr)
		report.WriteJSON(e.stdout, rf)
	}
	switch {
	case stopped:
		fmt.Fprintf(e.stderr, "portex: interrupted; the partial result is in %s\n", dir)
		return exitInterrupted
	case runErr != nil:
		fmt.Fprintf(e.stderr, "portex run: %v\n", runErr)
		return exitRuntime
	case writeErr != nil, renderErr != nil:
		return exitRuntime
	}
	if failed := analysis.Failed(rf); len(failed) > 0 {
		for _, f := range failed {
			fmt.Fprintf(e.stderr, "portex: expectation failed: %s\n", f)
		}
		return exitExpectation
	}
	return exitOK
}

// outputDir prepares the folder the report goes to. An explicit folder
// that already holds a result is refused unless force is set.
func outputDir(out, scenario string, force bool) (string, error) {
	if out == "" {
		base := filepath.Join("portex-results", scenario+"-"+time.Now().Format("20060102-150405"))
		out = base
		for i := 2; ; i++ {
			if _, err := os.Stat(out); errors.Is(err, os.ErrNotExist) {
				break
			}
			out = fmt.Sprintf("%s-%d", base, i)
		}
	} else if fi, err := os.Lstat(filepath.Clean(out)); err == nil && fi.Mode()&os.ModeSymlink != 0 {
		// A link would send the report wherever it points, unseen.
		to, _ := filepath.EvalSymlinks(out)
		return "", fmt.Errorf("--out %s is a symbolic link (to %s); pass the folder itself", out, to)
	} else if _, err := os.Stat(filepath.Join(out, "result.json")); err == nil && !force {
		return "", fmt.Errorf("%s already holds a result; choose another --out, or pass --force to replace it", out)
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		return "", fmt.Errorf("output folder: %w", err)
	}
	// Find out now, not after the run, whether the folder takes files.
	probe, err := os.CreateTemp(out, ".portex-probe-*")
	if err != nil {
		return "", fmt.Errorf("output folder %s is not writable: %w", out, err)
	}
	probe.Close()
	os.Remove(probe.Name())
	return out, nil
}

// scenarioError prints a scenario's problems and returns exit code 2.
func scenarioError(e *env, err error) int {
	var ps scenarios.Problems
	if errors.As(err, &ps) {
		fmt.Fprintln(e.stderr, ps.Error())
	} else {
		fmt.Fprintf(e.stderr, "portex: %v\n", err)
	}
	return exitUsage
}
