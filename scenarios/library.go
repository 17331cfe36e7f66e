package scenarios

import (
	"embed"
	"errors"
	"io/fs"
	"os"
	"path"
	"slices"
	"strings"
)

// Default is the bundled scenario a run uses when it names none.
const Default = "hold-until-exhausted"

//go:embed library/*.yaml
var library embed.FS

// Entry describes one bundled scenario.
type Entry struct {
	Name        string // what Open and Bundled take
	Description string // the scenario's own description
}

// Library lists the bundled scenarios, sorted by name.
func Library() []Entry {
	var entries []Entry
	for _, name := range bundledNames() {
		e := Entry{Name: name}
		if s, err := Open(name); err == nil {
			e.Description = s.Description
		} else {
			e.Description = "(broken: " + err.Error() + ")"
		}
		entries = append(entries, e)
	}
	return entries
}

// Bundled returns the YAML of the bundled scenario name (with or without
// ".yaml").
func Bundled(name string) ([]byte, bool) {
	name = strings.TrimSuffix(name, ".yaml")
	if name == "" || strings.ContainsAny(name, `/\`) {
		return nil, false
	}
	data, err := library.ReadFile("library/" + name + ".yaml")
	return data, err == nil
}

// Open loads a bundled scenario when nameOrPath is a bundled name (no
// slash; ".yaml" optional), and the file at nameOrPath otherwise: write
// ./name.yaml to load a local file that shares a bundled name. Every error
// it returns is a Problems value.
func Open(nameOrPath string) (*Scenario, error) {
	if data, ok := Bundled(nameOrPath); ok {
		return Parse(libraryFile(strings.TrimSuffix(nameOrPath, ".yaml")), data)
	}
	if !strings.ContainsAny(nameOrPath, `/\`) {
		if _, err := os.Stat(nameOrPath); errors.Is(err, fs.ErrNotExist) {
			return nil, Problems{{File: nameOrPath, Msg: notFound(nameOrPath)}}
		}
	}
	return Load(nameOrPath)
}

// notFound explains a name that is neither a file nor a bundled scenario.
func notFound(name string) string {
	names := bundledNames()
	msg := "no such file, and no bundled scenario of that name"
	if near := closest(strings.TrimSuffix(name, ".yaml"), names); near != "" {
		return msg + "; did you mean " + quote(near) + "?"
	}
	return msg + "; bundled: " + strings.Join(names, ", ")
}

// libraryFile is what problems in a bundled scenario name as their file:
// the scenario's name, as the user typed it and portex scenarios lists it.
func libraryFile(name string) string { return name }

// bundledNames lists the bundled scenarios' names, sorted.
func bundledNames() []string {
	files, _ := fs.Glob(library, "library/*.yaml")
	names := make([]string, len(files))
	for i, f := range files {
		names[i] = strings.TrimSuffix(path.Base(f), ".yaml")
	}
	slices.Sort(names)
	return names
}
