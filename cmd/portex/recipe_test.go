package main

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// The README's CI recipe must stay true: every portex command in it runs
// here, for real, and the files the later steps use exist.
func TestREADMECIRecipeCommandsRun(t *testing.T) {
	needsFullTier(t)
	readme, err := os.ReadFile(filepath.Join("..", "..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	text := string(readme)
	start := strings.Index(text, "## CI recipe")
	if start < 0 {
		t.Fatal("README has no CI recipe section")
	}
	section := text[start:]
	section = section[:strings.Index(section[3:], "\n## ")+3]
	// `run: sudo "$(go env GOPATH)/bin/portex" run ...` and plain `portex ...`.
	re := regexp.MustCompile(`(?m)run: (?:sudo )?(?:"\$\(go env GOPATH\)/bin/portex"|portex) (.+)$`)
	matches := re.FindAllStringSubmatch(section, -1)
	if len(matches) == 0 {
		t.Fatal("no portex command found in the CI recipe")
	}
	for _, m := range matches {
		args := strings.Fields(m[1])
		out := t.TempDir()
		for i := range args {
			if i > 0 && args[i-1] == "--out" {
				out = filepath.Join(out, args[i])
				args[i] = out
			}
		}
		got := portex(t, context.Background(), args...)
		if got.code != exitOK {
			t.Fatalf("portex %s: exit %d\n%s", m[1], got.code, got.stderr)
		}
		for _, f := range []string{"summary.md", "report.html"} {
			if _, err := os.Stat(filepath.Join(out, f)); err != nil {
				t.Errorf("portex %s: the recipe's later steps need %s: %v", m[1], f, err)
			}
		}
	}
}

// The README's example scenario is valid.
func TestREADMEExampleScenarioIsValid(t *testing.T) {
	readme, err := os.ReadFile(filepath.Join("..", "..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	text := string(readme)
	text = text[strings.Index(text, "## Scenarios"):]
	start := strings.Index(text, "```yaml\n") + len("```yaml\n")
	end := start + strings.Index(text[start:], "```")
	path := writeScenario(t, text[start:end])
	if got := portex(t, context.Background(), "validate", path); got.code != exitOK {
		t.Fatalf("the README's example scenario: exit %d\n%s", got.code, got.stderr)
	}
}
