package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"

	"github.com/portex/portex/fleet"
	"github.com/portex/portex/k8s"
	"github.com/portex/portex/loadgen"
	"github.com/portex/portex/report"
	"github.com/portex/portex/result"
	"github.com/portex/portex/scenarios"
)

// podWait is how long portex run --runtime pod waits for its echo server.
const podWait = k8s.PodWait

// podTarget reads the pod runtime's --target: HOST (the pools dial the
// scenario's ports there) or HOST:PORT (every pool dials PORT).
func podTarget(s string) (string, int, error) {
	if s == "" {
		return "", 0, errors.New("--runtime pod needs --target HOST or HOST:PORT, the echo server's (a Kubernetes Service's name)")
	}
	host, ps, err := net.SplitHostPort(s)
	if err != nil {
		// No port: a host alone (an IPv6 address needs no brackets then).
		return s, 0, nil
	}
	port, err := strconv.Atoi(ps)
	if err != nil || port < 1 || port > 65535 || host == "" {
		return "", 0, fmt.Errorf("--target %q: want HOST or HOST:PORT with a port in 1..65535", s)
	}
	return host, port, nil
}

// printResultBlock prints the run's result.json on stdout as a marked
// block (portex run --print-result), for kubectl logs to carry out of the
// pod and portex k8s collect to read back.
func printResultBlock(e *env, dir string) {
	data, err := os.ReadFile(filepath.Join(dir, "result.json"))
	if err != nil {
		fmt.Fprintf(e.stderr, "portex run: --print-result: %v\n", err)
		return
	}
	shard := "1/1"
	if rf, err := report.ReadJSON(bytes.NewReader(data)); err == nil && rf.Shard != nil {
		shard = fmt.Sprintf("%d/%d", rf.Shard.Index, rf.Shard.Count)
	}
	if err := k8s.WriteBlock(e.stdout, shard, data); err != nil {
		fmt.Fprintf(e.stderr, "portex run: --print-result: %v\n", err)
	}
}

func cmdK8s(e *env, args []string) int {
	if len(args) > 0 && args[0] == "collect" {
		return cmdK8sCollect(e, args[1:])
	}
	fs := newFlags(e, "k8s", "SCENARIO --shards N [flags] | collect LOG... -o DIR",
		"Write the Kubernetes manifests that run a scenario as N shards: a ConfigMap\n"+
			"with the scenario, the echo server as a Deployment and a Service, and an\n"+
			"Indexed Job whose pods run portex run --shard $(JOB_COMPLETION_INDEX)/N in\n"+
			"the pod runtime. Apply them with kubectl apply -f; gather the results with\n"+
			"portex k8s collect, then portex merge.")
	shards := fs.Int("shards", 0, "how many shards (the Job's completions and parallelism)")
	image := fs.String("image", k8s.DefaultImage, "the image with portex as its entrypoint (docker/Dockerfile)")
	version := fs.String("k8s-version", k8s.Known.String(), "the cluster's Kubernetes release: which sysctls its kubelets take as safe")
	allowUnsafe := fs.Bool("allow-unsafe-sysctls", false, "write sysctls outside the safe set into the pods anyway (the kubelets need --allowed-unsafe-sysctls)")
	service := fs.String("service", k8s.ServiceHeadless, "the echo Service: headless (load reaches the echo pod directly) or clusterip (through kube-proxy's DNAT and conntrack)")
	variants := fs.StringSlice("variant", nil, "only these variants (default: every variant, run in turn by each shard)")
	namespace := fs.String("namespace", "", "the namespace of every object (default: kubectl's)")
	out := fs.StringP("output", "o", "", "write the manifests to this file instead of stdout")
	if code, done := parse(fs, args); done {
		return code
	}
	if fs.NArg() != 1 {
		return fs.fail(errors.New("name one scenario (bundled, or a file)"))
	}
	if *shards < 1 {
		return fs.fail(fmt.Errorf("--shards %d: want at least 1", *shards))
	}
	v, err := k8s.ParseVersion(*version)
	if err != nil {
		return fs.fail(fmt.Errorf("--k8s-version %v", err))
	}
	name := fs.Arg(0)
	sc, err := scenarios.Open(name)
	if err != nil {
		return scenarioError(e, err)
	}
	data, ok := scenarios.Bundled(name)
	if !ok {
		if data, err = os.ReadFile(name); err != nil {
			fmt.Fprintf(e.stderr, "portex k8s: %v\n", err)
			return exitUsage
		}
	}
	runs, err := sc.RunsFor(*variants)
	if err != nil {
		return scenarioError(e, err)
	}
	plans := make([]*loadgen.Plan, len(runs))
	for i, r := range runs {
		plans[i] = r.Plan
		plans[i].Runtime = "pod"
	}
	m, err := k8s.Build(k8s.Options{
		Scenario: sc.Name, YAML: data, Plans: plans, Variants: *variants, Shards: *shards,
		Image: *image, Version: v, AllowUnsafe: *allowUnsafe, Service: *service, Namespace: *namespace,
	})
	if err != nil {
		fmt.Fprintf(e.stderr, "portex k8s: %v\n", err)
		return exitUsage
	}
	doc, err := m.YAML()
	if err != nil {
		fmt.Fprintf(e.stderr, "portex k8s: %v\n", err)
		return exitRuntime
	}
	for _, n := range m.Notes {
		fmt.Fprintf(e.stderr, "portex k8s: note: %s\n", n)
	}
	if *out == "" {
		e.stdout.Write(doc)
		return exitOK
	}
	if err := report.WriteFile(*out, func(w io.Writer) error { _, err := w.Write(doc); return err }); err != nil {
		fmt.Fprintf(e.stderr, "portex k8s: cannot write %s: %v\n", *out, err)
		return exitRuntime
	}
	return exitOK
}

func cmdK8sCollect(e *env, args []string) int {
	fs := newFlags(e, "k8s collect", "[LOG...] -o DIR",
		"Read the shards' pods' logs (kubectl logs output; stdin without a file, or\n"+
			"for -) and write each shard's result.json into DIR/shard-I/, for\n"+
			"portex merge DIR/shard-*. Exits 3 when a block is damaged or a shard is\n"+
			"missing, after writing the others.")
	out := fs.StringP("output", "o", "", "the folder to write into (required)")
	if code, done := parse(fs, args); done {
		return code
	}
	if *out == "" {
		return fs.fail(errors.New("-o DIR is required: the folder for the shards' results"))
	}
	logs := fs.Args()
	if len(logs) == 0 {
		logs = []string{"-"}
	}
	var blocks []k8s.Block
	code := exitOK
	for _, path := range logs {
		var r io.Reader = e.stdin
		name := "stdin"
		if path != "-" {
			f, err := os.Open(path)
			if err != nil {
				fmt.Fprintf(e.stderr, "portex k8s collect: %v\n", err)
				return exitUsage
			}
			defer f.Close()
			r, name = f, path
		}
		bs, err := k8s.ReadBlocks(r, name)
		if err != nil {
			fmt.Fprintf(e.stderr, "portex k8s collect: %v\n", err)
			code = exitRuntime
		}
		blocks = append(blocks, bs...)
	}
	if len(blocks) == 0 {
		fmt.Fprintf(e.stderr, "portex k8s collect: no result block in %v: the pods print one when portex run gets --print-result (portex k8s writes it into the Job)\n", logs)
		return exitRuntime
	}
	byIndex := map[int][]byte{}
	count := 0
	for _, b := range blocks {
		rf, err := report.ReadJSON(bytes.NewReader(b.Data))
		if err != nil {
			fmt.Fprintf(e.stderr, "portex k8s collect: %s:%d: not a portex result: %v\n", b.Source, b.Line, err)
			code = exitRuntime
			continue
		}
		s := shardOf(rf)
		switch {
		case count == 0:
			count = s.Count
		case s.Count != count:
			fmt.Fprintf(e.stderr, "portex k8s collect: %s:%d: shard %s is of a run of %d shards, the others of %d: pass the logs of one Job\n", b.Source, b.Line, s, s.Count, count)
			return exitUsage
		}
		if prev, ok := byIndex[s.Index]; ok {
			if !bytes.Equal(prev, b.Data) {
				fmt.Fprintf(e.stderr, "portex k8s collect: %s:%d: shard %s appears twice with different results: pass the logs of one Job\n", b.Source, b.Line, s)
				return exitUsage
			}
			continue
		}
		byIndex[s.Index] = b.Data
	}
	for _, i := range slicesSorted(byIndex) {
		dir := filepath.Join(*out, fmt.Sprintf("shard-%d", i))
		if err := os.MkdirAll(dir, 0o755); err != nil {
			fmt.Fprintf(e.stderr, "portex k8s collect: %v\n", err)
			return exitRuntime
		}
		path := filepath.Join(dir, "result.json")
		data := byIndex[i]
		if err := report.WriteFile(path, func(w io.Writer) error { _, err := w.Write(data); return err }); err != nil {
			fmt.Fprintf(e.stderr, "portex k8s collect: cannot write %s: %v\n", path, err)
			return exitRuntime
		}
		fmt.Fprintf(e.stdout, "shard %d/%d: %s\n", i, count, path)
	}
	var missing []string
	for i := range count {
		if _, ok := byIndex[i]; !ok {
			missing = append(missing, fmt.Sprintf("%d/%d", i, count))
		}
	}
	if len(missing) > 0 {
		fmt.Fprintf(e.stderr, "portex k8s collect: no result of shard %v: see kubectl get pods -l app.kubernetes.io/component=shard, and merge the others with portex merge --partial\n", missing)
		code = exitRuntime
	}
	return code
}

// shardOf is the shard a result file says it is; a whole run is 0/1.
func shardOf(rf *result.ResultFile) fleet.Spec {
	if rf.Shard == nil {
		return fleet.Spec{Index: 0, Count: 1}
	}
	return fleet.Spec{Index: rf.Shard.Index, Count: rf.Shard.Count}
}

func slicesSorted(m map[int][]byte) []int {
	keys := make([]int, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
