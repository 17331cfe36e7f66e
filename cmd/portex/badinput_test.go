package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// Every malformed scenario, committed or generated here (huge, binary, deep,
// an alias bomb), exits 2 with file:line:column and a message, quickly,
// without a panic or a stack trace.
func TestBadScenariosExitTwo(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("..", "..", "scenarios", "testdata", "bad", "*.yaml"))
	if err != nil || len(files) < 40 {
		t.Fatalf("want the corpus of at least 40 bad scenarios, found %d (%v)", len(files), err)
	}
	dir := t.TempDir()
	gen := func(name string, write func(f *os.File) error) string {
		path := filepath.Join(dir, name)
		f, err := os.Create(path)
		if err != nil {
			t.Fatal(err)
		}
		if err := write(f); err != nil {
			t.Fatal(err)
		}
		f.Close()
		return path
	}
	files = append(files,
		gen("huge.yaml", func(f *os.File) error { // 100 MB, sparse: cheap to make
			if _, err := f.WriteString("name: huge\npools:\n  - name: p\n"); err != nil {
				return err
			}
			return f.Truncate(100 << 20)
		}),
		gen("binary.yaml", func(f *os.File) error {
			b := make([]byte, 4096)
			for i := range b {
				b[i] = byte(i*7 + i/3)
			}
			_, err := f.Write(b)
			return err
		}),
		gen("deep.yaml", func(f *os.File) error {
			_, err := f.WriteString("name: deep\npools: " + strings.Repeat("[", 10000) + strings.Repeat("]", 10000) + "\n")
			return err
		}),
		gen("alias-bomb.yaml", func(f *os.File) error {
			var b strings.Builder
			b.WriteString("a0: &a0 [x, x, x, x, x, x, x, x, x]\n")
			for i := 1; i < 10; i++ {
				fmt.Fprintf(&b, "a%d: &a%d [*a%d, *a%d, *a%d, *a%d, *a%d, *a%d, *a%d, *a%d, *a%d]\n", i, i, i-1, i-1, i-1, i-1, i-1, i-1, i-1, i-1, i-1)
			}
			b.WriteString("name: bomb\npools: *a9\n")
			_, err := f.WriteString(b.String())
			return err
		}),
	)
	position := regexp.MustCompile(`:\d+(:\d+)?: `)
	for _, path := range files {
		t.Run(filepath.Base(path), func(t *testing.T) {
			start := time.Now()
			got := portex(t, context.Background(), "validate", path)
			if took := time.Since(start); took > 5*time.Second {
				t.Errorf("took %s", took)
			}
			if got.code != exitUsage {
				t.Fatalf("exit %d, want 2; stderr %q", got.code, got.stderr)
			}
			first := strings.SplitN(got.stderr, "\n", 2)[0]
			if !strings.HasPrefix(first, path) || (!position.MatchString(first) && !strings.Contains(first, "MiB")) {
				t.Errorf("first line %q: want %s:line:column: key: message", first, path)
			}
			if strings.Contains(got.stderr, "goroutine ") || strings.Contains(got.stderr, "panic") {
				t.Errorf("a stack trace:\n%s", got.stderr)
			}
		})
	}
}
