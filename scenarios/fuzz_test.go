package scenarios

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzParse checks that no input makes Parse panic (not even into its own
// recover), that every error is a Problems value with sane positions, and
// that every scenario it accepts compiles, every variant included. Its
// seeds are the malformed files of testdata/bad, every-key.yaml and the
// bundled library.
func FuzzParse(f *testing.F) {
	seeds, _ := filepath.Glob(filepath.Join("testdata", "bad", "*.yaml"))
	good, _ := filepath.Glob(filepath.Join("testdata", "good", "*.yaml"))
	for _, path := range append(seeds, good...) {
		data, err := os.ReadFile(path)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	bundled, _ := fs.Glob(library, "library/*.yaml")
	for _, path := range bundled {
		data, _ := library.ReadFile(path)
		f.Add(data)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := Parse("fuzz.yaml", data)
		if err != nil {
			var ps Problems
			if !errors.As(err, &ps) || len(ps) == 0 {
				t.Fatalf("error is not a non-empty Problems: %T %v", err, err)
			}
			for _, p := range ps {
				if p.Line < 0 || p.Col < 0 || (p.Line > 0) != (p.Col > 0) || p.Msg == "" {
					t.Errorf("bad problem %#v", p)
				}
				if strings.HasPrefix(p.Msg, "internal error") {
					t.Errorf("Parse recovered from a panic: %v", p)
				}
			}
			return
		}
		plans, err := s.Plans()
		if err != nil {
			t.Fatalf("Parse accepted a scenario that Plans refuses: %v", err)
		}
		if names := s.VariantNames(); len(plans) != len(names) {
			t.Errorf("%d plans for the variants %v", len(plans), names)
		}
	})
}
