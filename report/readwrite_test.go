package report

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/portex/portex/result"
)

// result.json reads back as it was written: writing what ReadJSON returns
// gives the same bytes, and the histograms still decode.
func TestJSONRoundTrip(t *testing.T) {
	r := fixture(t)
	var first bytes.Buffer
	if err := WriteJSON(&first, r); err != nil {
		t.Fatal(err)
	}
	back, err := ReadJSON(bytes.NewReader(first.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	var second bytes.Buffer
	if err := WriteJSON(&second, back); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(first.Bytes(), second.Bytes()) {
		t.Errorf("written again after ReadJSON, result.json differs:\n--- first:\n%s\n--- second:\n%s", first.Bytes(), second.Bytes())
	}
	if len(back.Runs) != len(r.Runs) || back.Runs[0].Exhaustion == nil || back.Runs[0].Exhaustion.DialsOKBefore != 100 {
		t.Fatalf("read back %d runs, the first's exhaustion %+v", len(back.Runs), back.Runs[0].Exhaustion)
	}
	h, err := back.Runs[0].Latency.Connect.DecodeHDR()
	if err != nil || h == nil || h.TotalCount() != r.Runs[0].Latency.Connect.Count {
		t.Errorf("connect histogram read back: %v, want %d samples", err, r.Runs[0].Latency.Connect.Count)
	}
}

// ReadJSON refuses what is not a result of this schema.
func TestReadJSONRefuses(t *testing.T) {
	for name, in := range map[string]string{
		"empty":        "",
		"not JSON":     "EXHAUSTED after 200 connections\n",
		"another kind": `{"schema": "portex/plan/v1", "runs": []}`,
		"no schema":    `{"scenario": "x", "runs": []}`,
		"truncated":    `{"schema": "` + result.Schema + `", "runs": [{"variant": "a"`,
	} {
		if r, err := ReadJSON(strings.NewReader(in)); err == nil || r != nil {
			t.Errorf("%s: got %v, %v; want an error and no result", name, r, err)
		}
	}
}

// WriteFile puts the rendering in place at once, readable by all; a
// rendering that fails leaves the file as it was and no temporary file.
func TestWriteFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "summary.md")
	if err := WriteFile(path, func(w io.Writer) error { _, err := io.WriteString(w, "first\n"); return err }); err != nil {
		t.Fatal(err)
	}
	if got, err := os.ReadFile(path); err != nil || string(got) != "first\n" {
		t.Fatalf("read %q, %v", got, err)
	}
	if info, err := os.Stat(path); err != nil || info.Mode().Perm() != 0o644 {
		t.Errorf("mode %v, %v: want 0644", info.Mode(), err)
	}

	broken := errors.New("renderer broke")
	err := WriteFile(path, func(w io.Writer) error {
		io.WriteString(w, "half of the sec")
		return broken
	})
	if !errors.Is(err, broken) {
		t.Errorf("WriteFile returned %v, want the renderer's error", err)
	}
	if got, _ := os.ReadFile(path); string(got) != "first\n" {
		t.Errorf("after a failed rendering the file holds %q, want it as it was", got)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 {
		var names []string
		for _, e := range entries {
			names = append(names, e.Name())
		}
		t.Errorf("the folder holds %v, want only summary.md", names)
	}

	if err := WriteFile(filepath.Join(dir, "no-such-folder", "x"), func(io.Writer) error { return nil }); err == nil {
		t.Error("WriteFile into a missing folder succeeded")
	}
}
