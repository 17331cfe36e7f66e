package main

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"encoding/xml"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/portex/portex/result"
)

// `portex run` writes the five files; `portex report` renders each format
// again from result.json; `portex compare` puts two results side by side.
func TestRunWritesReportsAndReportRendersThem(t *testing.T) {
	needsFullTier(t)
	dir := filepath.Join(t.TempDir(), "out")
	got := portex(t, context.Background(), "run", "--out", dir, "-q")
	if got.code != exitOK {
		t.Fatalf("run: exit %d, stderr:\n%s", got.code, got.stderr)
	}
	for _, name := range []string{"result.json", "timeseries.csv", "report.html", "summary.md", "junit.xml"} {
		path := filepath.Join(dir, name)
		info, err := os.Stat(path)
		if err != nil || info.Size() == 0 {
			t.Errorf("%s: %v (size %d)", name, err, sizeOf(info))
		}
		if !strings.Contains(got.stdout, path) {
			t.Errorf("the summary does not list %s:\n%s", path, got.stdout)
		}
	}
	resultPath := filepath.Join(dir, "result.json")

	text := portex(t, context.Background(), "report", resultPath)
	if text.code != exitOK || !strings.Contains(text.stdout, "EXHAUSTED after 200 connections") {
		t.Errorf("report (text): exit %d\n%s%s", text.code, text.stdout, text.stderr)
	}
	checks := map[string]func(string) bool{
		"html": func(s string) bool {
			return strings.HasPrefix(s, "<!DOCTYPE html>") && strings.Count(s, "<svg ") >= 3 && !strings.Contains(s, "<script")
		},
		"md": func(s string) bool {
			return strings.HasPrefix(s, "## portex: hold-until-exhausted") && strings.Contains(s, "| default | exhausted | ") && strings.Contains(s, " | 200 | ")
		},
		"junit": func(s string) bool {
			var doc struct {
				Suites []struct {
					Cases []struct {
						Name string `xml:"name,attr"`
					} `xml:"testcase"`
				} `xml:"testsuite"`
			}
			return xml.Unmarshal([]byte(s), &doc) == nil && len(doc.Suites) == 1 && len(doc.Suites[0].Cases) > 0
		},
		"csv": func(s string) bool {
			rows, err := csv.NewReader(strings.NewReader(s)).ReadAll()
			return err == nil && len(rows) >= 2 && rows[0][0] == "variant" && rows[1][0] == "default"
		},
		"json": func(s string) bool {
			var r result.ResultFile
			return json.Unmarshal([]byte(s), &r) == nil && r.Schema == result.Schema && len(r.Runs) == 1
		},
	}
	for format, ok := range checks {
		got := portex(t, context.Background(), "report", resultPath, "--format", format)
		if got.code != exitOK || !ok(got.stdout) {
			t.Errorf("report --format %s: exit %d, stderr %q, output:\n%.600s", format, got.code, got.stderr, got.stdout)
		}
		// -o writes the same into a file.
		file := filepath.Join(t.TempDir(), "out."+format)
		if o := portex(t, context.Background(), "report", resultPath, "-f", format, "-o", file); o.code != exitOK || o.stdout != "" {
			t.Errorf("report -f %s -o: exit %d, stdout %q, stderr %q", format, o.code, o.stdout, o.stderr)
		} else if data, err := os.ReadFile(file); err != nil || !ok(string(data)) {
			t.Errorf("report -f %s -o %s: %v\n%.600s", format, file, err, data)
		}
	}

	// A second result, as if measured with a mitigation: compared with the
	// first, row by row, with differences.
	r := readResult(t, dir)
	r.Runs[0].Exhaustion.DialsOKBefore = 250
	r.Runs[0].Exhaustion.AtSeconds *= 2
	data, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	other := filepath.Join(t.TempDir(), "mitigated.json")
	if err := os.WriteFile(other, data, 0o644); err != nil {
		t.Fatal(err)
	}
	cmp := portex(t, context.Background(), "compare", resultPath, other)
	if cmp.code != exitOK {
		t.Fatalf("compare: exit %d, stderr:\n%s", cmp.code, cmp.stderr)
	}
	lines := strings.Split(strings.TrimSpace(cmp.stdout), "\n")
	if len(lines) < 3 || !strings.HasPrefix(lines[0], "run ") || !strings.HasPrefix(lines[1], "out ") ||
		!strings.HasPrefix(lines[2], "mitigated ") || !strings.Contains(lines[2], "+100%") || !strings.Contains(lines[2], " 250 ") {
		t.Errorf("compare:\n%s", cmp.stdout)
	}
	md := portex(t, context.Background(), "compare", "--format", "md", resultPath, other)
	if md.code != exitOK || !strings.Contains(md.stdout, "| mitigated | exhausted | ") || !strings.Contains(md.stdout, "| 250 (+50 +25%) |") {
		t.Errorf("compare --format md: exit %d\n%s%s", md.code, md.stdout, md.stderr)
	}
}

func sizeOf(info os.FileInfo) int64 {
	if info == nil {
		return -1
	}
	return info.Size()
}

// A file that is not a result, a result of another schema, a missing
// file, an unknown format: exit code 2 and one line saying why.
func TestReportBadInput(t *testing.T) {
	dir := t.TempDir()
	garbage := filepath.Join(dir, "garbage.json")
	os.WriteFile(garbage, []byte("{not json"), 0o644)
	schema := filepath.Join(dir, "schema.json")
	os.WriteFile(schema, []byte(`{"schema": "portex/result/v0", "runs": []}`), 0o644)
	hist := filepath.Join(dir, "histogram.json")
	os.WriteFile(hist, []byte(`{"schema": "portex/result/v1", "scenario": "x", "runs": [{"variant": "default",
		"latency": {"connect": {"count": 3, "hdr": "not a histogram"}, "echo_rtt": {}}}]}`), 0o644)
	for _, tc := range []struct {
		args []string
		say  string
	}{
		{[]string{"report", garbage}, "garbage.json"},
		{[]string{"report", schema}, `schema "portex/result/v0"`},
		{[]string{"report", filepath.Join(dir, "missing.json")}, "no such file"},
		{[]string{"report", hist, "--format", "html"}, "histogram"},
		{[]string{"report", hist, "--format", "pdf"}, `unknown format "pdf"`},
		{[]string{"report"}, "one result file"},
		{[]string{"compare", garbage}, "garbage.json"},
		{[]string{"compare"}, "at least one result file"},
		{[]string{"compare", hist, "--format", "html"}, `unknown format "html"`},
	} {
		got := portex(t, context.Background(), tc.args...)
		if got.code != exitUsage || !strings.Contains(got.stderr, tc.say) {
			t.Errorf("portex %s: exit %d, stderr %q; want exit 2 saying %q", strings.Join(tc.args, " "), got.code, got.stderr, tc.say)
		}
	}
}
