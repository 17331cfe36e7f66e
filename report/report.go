// Package report renders results: the text summary, result.json, and the
// files written next to them. Every renderer works from a result.ResultFile
// alone, so any saved result can be rendered again later.
package report

import (
	"encoding/json"
	"io"
	"os"
	"path/filepath"

	"github.com/portex/portex/result"
)

// WriteJSON writes the result contract, indented.
func WriteJSON(w io.Writer, r *result.ResultFile) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

// WriteFile writes a file so that it is never seen half-written: into a
// temporary file in the same folder, synced, then renamed over path.
func WriteFile(path string, render func(io.Writer) error) (err error) {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	if err := render(tmp); err != nil {
		return err
	}
	if err := tmp.Sync(); err != nil {
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Chmod(tmp.Name(), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}
