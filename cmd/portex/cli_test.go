package main

import (
	"context"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"testing"

	"github.com/portex/portex/report"
	"github.com/portex/portex/result"
)

// A bad flag, on any command, exits 2 and says what was wrong and how the
// command is used; nothing runs.
func TestBadFlagsSayWhatIsWrong(t *testing.T) {
	t.Chdir(t.TempDir()) // a run that went ahead would leave ./portex-results
	var tests []struct {
		args []string
		want string
	}
	for _, c := range commands() {
		if c.hidden {
			continue
		}
		tests = append(tests, struct {
			args []string
			want string
		}{[]string{c.name, "--no-such-flag"}, "portex " + c.name + ": unknown flag: --no-such-flag"})
	}
	tests = append(tests, []struct {
		args []string
		want string
	}{
		{[]string{"run", "--duraton", "20s"}, "portex run: unknown flag: --duraton"},
		{[]string{"run", "--duration", "10"}, `portex run: invalid argument "10" for "--duration" flag`},
		{[]string{"plan", "--rate", "5/s", "--leak", "lots"}, `portex plan: --leak "lots": want a share`},
		{[]string{"plan", "--hold", "forever"}, `portex plan: invalid argument "forever" for "--hold" flag`},
		// Flags read durations, rates and ranges as a scenario does.
		{[]string{"plan", "--hold", "10"}, `"--hold" flag: a number needs a unit: ms, s, m or h`},
		{[]string{"run", "--duration", "2d"}, `"--duration" flag: there is no day unit`},
		{[]string{"plan", "--rate", "1e3/s"}, `portex plan: --rate: "1e3/s": want a positive rate`},
		{[]string{"plan", "--tw-reuse", "yes"}, `portex plan: invalid argument "yes" for "--tw-reuse" flag`},
		{[]string{"--duraton", "1s"}, "portex run: unknown flag: --duraton"},
	}...)
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			got := portex(t, context.Background(), tt.args...)
			if got.code != exitUsage {
				t.Errorf("exit %d, want 2", got.code)
			}
			cmd := tt.args[0]
			if strings.HasPrefix(cmd, "-") {
				cmd = "run"
			}
			if !strings.Contains(got.stderr, tt.want) || !strings.Contains(got.stderr, "Usage: portex "+cmd+" ") ||
				!strings.Contains(got.stderr, "'portex "+cmd+" --help'") {
				t.Errorf("stderr %q: want %q and the usage of %s", got.stderr, tt.want, cmd)
			}
			if got.stdout != "" {
				t.Errorf("stdout %q, want nothing", got.stdout)
			}
		})
	}
	if _, err := os.Stat("portex-results"); err == nil {
		t.Errorf("a bad flag left ./portex-results")
	}
}

// Bare portex prints the help and runs nothing.
func TestBarePortexPrintsHelp(t *testing.T) {
	t.Chdir(t.TempDir())
	got := portex(t, context.Background())
	if got.code != exitOK || !strings.Contains(got.stdout, "Commands:") || !strings.Contains(got.stdout, "portex run") {
		t.Errorf("exit %d, stdout %q, stderr %q: want the help", got.code, got.stdout, got.stderr)
	}
	if _, err := os.Stat("portex-results"); err == nil {
		t.Errorf("bare portex made ./portex-results")
	}
}

// Flags of portex run that a scenario would refuse, or that mean nothing
// alone, are refused before anything runs or any folder is made.
func TestRunRefusesFlagsBeforeTheRun(t *testing.T) {
	t.Chdir(t.TempDir())
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"--duration", "0s"}, "--duration 0s: want more than 0s and at most 24h"},
		{[]string{"--duration", "48h"}, "--duration 48h: want more than 0s and at most 24h"},
		{[]string{"--duration", "-1s"}, "--duration -1s: want more than 0s"},
		{[]string{"--allow-external-target"}, "--allow-external-target needs --target"},
		{[]string{"--out", "-q"}, "--out -q: the value looks like a flag"},
		{[]string{"--variant", "-q"}, "--variant -q: the value looks like a flag"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			got := portex(t, context.Background(), append([]string{"run"}, tt.args...)...)
			if got.code != exitUsage || !strings.Contains(got.stderr, "portex run: "+tt.want) || !strings.Contains(got.stderr, "Usage: portex run") {
				t.Errorf("exit %d, stderr %q: want 2 and %q", got.code, got.stderr, tt.want)
			}
		})
	}
	for _, name := range []string{"portex-results", "-q"} {
		if _, err := os.Stat(name); err == nil {
			t.Errorf("a refused run made ./%s", name)
		}
	}
	// "-" alone is a value (stdout), not a flag.
	dir := writeResult(t)
	if got := portex(t, context.Background(), "report", dir, "-o", "-"); got.code != exitOK {
		t.Errorf("report -o -: exit %d, stderr %q", got.code, got.stderr)
	}
}

// writeResult writes a small result.json into a new folder, as portex run
// does, and returns the folder.
func writeResult(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	res := &result.ResultFile{Schema: result.Schema, Scenario: "saved", Runs: []*result.Result{{
		Variant: "default", Runtime: "netns", ElapsedSeconds: 1, Stopped: result.StoppedDuration,
	}}}
	f, err := os.Create(filepath.Join(dir, "result.json"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := report.WriteJSON(f, res); err != nil {
		t.Fatal(err)
	}
	return dir
}

// portex report and compare take the folder portex run wrote; a file that
// is not a result says so and names what to pass.
func TestReportTakesAFolderAndNamesWhatItWants(t *testing.T) {
	dir := writeResult(t)
	byFile := portex(t, context.Background(), "report", filepath.Join(dir, "result.json"))
	byDir := portex(t, context.Background(), "report", dir)
	if byDir.code != exitOK || byDir.stdout != byFile.stdout || !strings.Contains(byDir.stdout, "saved") {
		t.Errorf("report DIR: exit %d, stderr %q\n%s\nwant what report DIR/result.json prints:\n%s", byDir.code, byDir.stderr, byDir.stdout, byFile.stdout)
	}
	if got := portex(t, context.Background(), "compare", dir, dir); got.code != exitOK {
		t.Errorf("compare DIR DIR: exit %d, stderr %q", got.code, got.stderr)
	}

	csv := filepath.Join(dir, "timeseries.csv")
	if err := os.WriteFile(csv, []byte("variant,t_seconds\ndefault,0.1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, cmd := range []string{"report", "compare"} {
		got := portex(t, context.Background(), cmd, csv)
		if got.code != exitUsage || !strings.Contains(got.stderr, csv+" is not a portex result.json") ||
			!strings.Contains(got.stderr, "pass the result.json that portex run writes, or the folder") {
			t.Errorf("%s timeseries.csv: exit %d, stderr %q", cmd, got.code, got.stderr)
		}
	}
	empty := t.TempDir()
	if got := portex(t, context.Background(), "report", empty); got.code != exitUsage || !strings.Contains(got.stderr, empty+" holds no result.json") {
		t.Errorf("report of a folder without a result: exit %d, stderr %q", got.code, got.stderr)
	}
}

// Problems name a bundled scenario as the user knows it, and YAML syntax
// errors come in portex's words with file:line:column.
func TestScenarioErrorsInTheUsersWords(t *testing.T) {
	got := portex(t, context.Background(), "run", "hold-until-exhausted", "--variant", "nope", "--out", t.TempDir())
	if got.code != exitUsage || !strings.HasPrefix(got.stderr, `hold-until-exhausted: no variant "nope"`) || strings.Contains(got.stderr, "library/") {
		t.Errorf("exit %d, stderr %q: want the bundled scenario's name, no internal path", got.code, got.stderr)
	}
	path := writeScenario(t, "{{{\n")
	got = portex(t, context.Background(), "validate", path)
	if got.code != exitUsage || !strings.HasPrefix(got.stderr, path+":1:") || strings.Contains(got.stderr, "did not find expected node content") ||
		!strings.Contains(got.stderr, "is not closed") {
		t.Errorf("exit %d, stderr %q: want file:line and portex's words", got.code, got.stderr)
	}
}

func TestBuildVersion(t *testing.T) {
	settings := func(kv ...string) []debug.BuildSetting {
		var s []debug.BuildSetting
		for i := 0; i < len(kv); i += 2 {
			s = append(s, debug.BuildSetting{Key: kv[i], Value: kv[i+1]})
		}
		return s
	}
	tests := []struct {
		why  string
		info *debug.BuildInfo
		want string
	}{
		{"no build info", nil, "dev"},
		{"go run or go test: nothing recorded", &debug.BuildInfo{Main: debug.Module{Version: "(devel)"}}, "dev"},
		{"go install module@version", &debug.BuildInfo{Main: debug.Module{Version: "v0.3.1"}}, "v0.3.1"},
		{"a build from a clean checkout", &debug.BuildInfo{Main: debug.Module{Version: "(devel)"},
			Settings: settings("vcs.revision", "77f7ad13f94709ac57a84aa81438b0973d59250e", "vcs.time", "2026-01-02T03:04:05Z", "vcs.modified", "false")},
			"dev (77f7ad13f947 2026-01-02T03:04:05Z)"},
		{"a build from a changed checkout", &debug.BuildInfo{Main: debug.Module{Version: "(devel)"},
			Settings: settings("vcs.revision", "77f7ad13f94709ac57a84aa81438b0973d59250e", "vcs.modified", "true")},
			"dev (77f7ad13f947+dirty)"},
		{"a tagged version with its revision", &debug.BuildInfo{Main: debug.Module{Version: "v1.2.0"},
			Settings: settings("vcs.revision", "abc", "vcs.modified", "false")},
			"v1.2.0 (abc)"},
	}
	for _, tt := range tests {
		if got := buildVersion(tt.info); got != tt.want {
			t.Errorf("%s: %q, want %q", tt.why, got, tt.want)
		}
	}
}

// -ldflags "-X main.version=..." still wins over the build's record.
func TestVersionFlagOverride(t *testing.T) {
	old := version
	t.Cleanup(func() { version = old })
	version = "v9.9.9-test"
	if got := portex(t, context.Background(), "version"); got.code != exitOK || got.stdout != "portex v9.9.9-test\n" {
		t.Errorf("exit %d, stdout %q", got.code, got.stdout)
	}
}
