package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"syscall"

	"github.com/portex/portex/report"
	"github.com/portex/portex/result"
)

// renderings are the files portex run writes next to result.json, and the
// formats portex report renders, by format name.
var renderings = []struct {
	format, file string
	write        func(io.Writer, *result.ResultFile) error
}{
	{"csv", "timeseries.csv", report.WriteCSV},
	{"html", "report.html", report.WriteHTML},
	{"md", "summary.md", report.WriteMarkdown},
	{"junit", "junit.xml", report.WriteJUnit},
}

// writeRenderings writes every rendering of the result into dir, each
// atomically. It returns the paths written, and the first error; a
// rendering that fails does not keep the others from being written.
func writeRenderings(dir string, rf *result.ResultFile) ([]string, error) {
	var files []string
	var first error
	for _, r := range renderings {
		path := filepath.Join(dir, r.file)
		err := report.WriteFile(path, func(w io.Writer) error { return r.write(w, rf) })
		if err != nil {
			if first == nil {
				first = fmt.Errorf("cannot write %s: %w", path, err)
			}
			continue
		}
		files = append(files, path)
	}
	return files, first
}

func cmdReport(e *env, args []string) int {
	fs := newFlags(e, "report", "RESULT.json|DIR [--format F] [-o FILE]",
		"Render a saved result again: as the text summary (the default), or as HTML,\n"+
			"Markdown, JUnit XML, CSV (the time series) or JSON. RESULT.json may be - for\n"+
			"stdin; a folder stands for the result.json in it (what portex run --out wrote).")
	format := fs.StringP("format", "f", "text", "text, html, md, junit, csv or json")
	out := fs.StringP("output", "o", "", "write to this file (atomically) instead of stdout")
	if code, done := parse(fs, args); done {
		return code
	}
	if fs.NArg() != 1 {
		fmt.Fprintf(e.stderr, "portex report: one result file, got %d\n", fs.NArg())
		fs.Usage()
		return exitUsage
	}
	render, err := reportFormat(*format)
	if err != nil {
		fmt.Fprintf(e.stderr, "portex report: %v\n", err)
		return exitUsage
	}
	rf, err := loadResult(e, fs.Arg(0))
	if err != nil {
		fmt.Fprintf(e.stderr, "portex report: %v\n", err)
		return exitUsage
	}
	return writeOutput(e, "report", *out, func(w io.Writer) error { return render(w, rf) })
}

// reportFormat returns the renderer of a format name.
func reportFormat(name string) (func(io.Writer, *result.ResultFile) error, error) {
	switch name {
	case "text", "txt":
		return func(w io.Writer, r *result.ResultFile) error {
			return report.WriteText(w, r, report.TextOptions{})
		}, nil
	case "json":
		return report.WriteJSON, nil
	case "markdown":
		name = "md"
	case "xml":
		name = "junit"
	}
	for _, r := range renderings {
		if r.format == name {
			return r.write, nil
		}
	}
	return nil, fmt.Errorf("unknown format %q (text, html, md, junit, csv or json)", name)
}

func cmdCompare(e *env, args []string) int {
	fs := newFlags(e, "compare", "A.json|DIR [B.json|DIR ...] [--format text|md] [-o FILE]",
		"Put the runs of saved results side by side (the variants of one file, or\n"+
			"several files), with each figure's difference from the first run: successful\n"+
			"dials before exhaustion, time to exhaustion, p99 connect latency, peak\n"+
			"TIME_WAIT and failures.")
	format := fs.StringP("format", "f", "text", "text or md")
	out := fs.StringP("output", "o", "", "write to this file (atomically) instead of stdout")
	if code, done := parse(fs, args); done {
		return code
	}
	if fs.NArg() == 0 {
		fmt.Fprintln(e.stderr, "portex compare: name at least one result file")
		fs.Usage()
		return exitUsage
	}
	var write func(io.Writer, []report.Source) error
	switch *format {
	case "text", "txt":
		write = report.WriteCompare
	case "md", "markdown":
		write = report.WriteCompareMarkdown
	default:
		fmt.Fprintf(e.stderr, "portex compare: unknown format %q (text or md)\n", *format)
		return exitUsage
	}
	var srcs []report.Source
	seen := map[string]int{}
	for _, path := range fs.Args() {
		rf, err := loadResult(e, path)
		if err != nil {
			fmt.Fprintf(e.stderr, "portex compare: %v\n", err)
			return exitUsage
		}
		name := report.SourceName(path)
		if seen[name]++; seen[name] > 1 {
			name = fmt.Sprintf("%s#%d", name, seen[name])
		}
		srcs = append(srcs, report.Source{Name: name, File: rf})
	}
	return writeOutput(e, "compare", *out, func(w io.Writer) error { return write(w, srcs) })
}

// loadResult reads a result file, the result.json in a folder (what
// portex run --out wrote), or stdin for "-".
func loadResult(e *env, path string) (*result.ResultFile, error) {
	var r io.Reader = e.stdin
	if path != "-" {
		if fi, err := os.Stat(path); err == nil && fi.IsDir() {
			dir := path
			path = filepath.Join(dir, "result.json")
			if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
				return nil, fmt.Errorf("%s holds no result.json; pass the folder portex run wrote (its --out), or a result.json", dir)
			}
		}
		f, err := openRegular(path)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		r = f
	}
	rf, err := report.ReadJSON(r)
	if err != nil {
		// Whatever else it is (timeseries.csv, summary.md, another
		// program's JSON), it is not what portex run wrote.
		return nil, fmt.Errorf("%s is not a portex result.json (%v); pass the result.json that portex run writes, or the folder it wrote it in", path, err)
	}
	return rf, nil
}

// writeOutput renders to stdout, or atomically to a file. A result that
// cannot be rendered (a histogram that does not decode) or a file that
// cannot be written is bad input: exit code 2.
func writeOutput(e *env, cmd, path string, render func(io.Writer) error) int {
	var err error
	if path == "" || path == "-" {
		err = render(e.stdout)
	} else {
		err = report.WriteFile(path, render)
	}
	if err != nil {
		fmt.Fprintf(e.stderr, "portex %s: %v\n", cmd, err)
		return exitUsage
	}
	return exitOK
}

// openRegular opens a file for reading if it is a regular one: a FIFO
// would block the open until a writer came, a device might never end. It
// checks before opening, opens without blocking, and checks again.
func openRegular(path string) (*os.File, error) {
	check := func(fi os.FileInfo) error {
		if !fi.Mode().IsRegular() {
			return fmt.Errorf("%s is not a regular file (%s); pass a result.json, or - for stdin", path, fi.Mode().Type())
		}
		return nil
	}
	fi, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if err := check(fi); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, err
	}
	if fi, err = f.Stat(); err == nil {
		err = check(fi)
	}
	if err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}
