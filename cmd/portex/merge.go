package main

import (
	"fmt"
	"io"
	"path/filepath"

	"github.com/portex/portex/analysis"
	"github.com/portex/portex/fleet"
	"github.com/portex/portex/report"
	"github.com/portex/portex/result"
)

func cmdMerge(e *env, args []string) int {
	fs := newFlags(e, "merge", "SHARD.json|DIR ... [-o merged.json] [--partial]",
		"Merge the results of a run's shards (portex run --shard i/n, one per machine)\n"+
			"into one: counters add, HDR histograms merge without loss, the time series\n"+
			"add up on the shards' wall clocks, events keep their shard; the model, the\n"+
			"expectations and the verdict are worked out on the merged figures. Prints\n"+
			"the summary; exits 1 when an expectation fails, as run does.")
	out := fs.StringP("output", "o", "", "write the merged result.json here (atomically); every renderer reads it (portex report)")
	partial := fs.Bool("partial", false, "merge even when some of the n shards are missing (the result says which)")
	if code, done := parse(fs, args); done {
		return code
	}
	if fs.NArg() == 0 {
		return fs.fail(fmt.Errorf("name the shards' result files"))
	}
	var files []*result.ResultFile
	var names []string
	for _, path := range fs.Args() {
		rf, err := loadResult(e, path)
		if err != nil {
			fmt.Fprintf(e.stderr, "portex merge: %v\n", err)
			return exitUsage
		}
		files = append(files, rf)
		names = append(names, path)
	}
	merged, err := fleet.Merge(files, names, fleet.Options{Partial: *partial})
	if err != nil {
		fmt.Fprintf(e.stderr, "portex merge: %v\n", err)
		return exitUsage
	}
	var written []string
	if *out != "" {
		if err := report.WriteFile(*out, func(w io.Writer) error { return report.WriteJSON(w, merged) }); err != nil {
			fmt.Fprintf(e.stderr, "portex merge: cannot write %s: %v\n", *out, err)
			return exitRuntime
		}
		written = append(written, filepath.Clean(*out))
	}
	report.WriteText(e.stdout, merged, report.TextOptions{Files: written})
	if *out == "" {
		fmt.Fprintln(e.stderr, "portex merge: no -o given: the merged result was not saved")
	}
	if failed := analysis.Failed(merged); len(failed) > 0 {
		for _, f := range failed {
			fmt.Fprintf(e.stderr, "portex: expectation failed: %s\n", f)
		}
		return exitExpectation
	}
	return exitOK
}
