package docker

import (
	"bufio"
	"bytes"
	"debug/elf"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// A dynamically linked portex (what go build and go install give wherever
// cgo is available) runs in a FROM scratch image once the image holds its
// ELF interpreter and every shared library it needs. libraries finds them
// as the dynamic loader would on this machine, so that the image holds the
// very files the binary runs with here, at the same paths.

// libraries returns the files a dynamically linked executable needs to
// start: its ELF interpreter first, then its DT_NEEDED libraries and
// theirs, recursively, each at the path the dynamic loader would open. A
// static executable needs none. The error names the library not found and
// who needs it.
func libraries(exe string, ef *elf.File) ([]string, error) {
	interp, err := interpreter(ef)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", exe, err)
	}
	if interp == "" {
		return nil, nil
	}
	r := &resolver{class: ef.Class, machine: ef.Machine, found: map[string]string{}}
	if v := os.Getenv("LD_LIBRARY_PATH"); v != "" {
		r.envPath = filepath.SplitList(v)
	}
	files := []string{interp}
	seen := map[string]bool{interp: true}
	// loaded maps the sonames of what is loaded to its path: a DT_NEEDED
	// name that matches one (the interpreter's, which libc names) is
	// that object, not searched for.
	loaded := map[string]string{}
	inf, err := openELF(interp)
	if err != nil {
		return nil, err
	}
	defer inf.Close()
	if err := addSoname(loaded, interp, inf); err != nil {
		return nil, err
	}
	exeSearch, err := searchPaths(exe, ef)
	if err != nil {
		return nil, err
	}
	type object struct {
		path   string
		file   *elf.File
		search paths
	}
	queue := []object{{exe, ef, exeSearch}}
	for len(queue) > 0 {
		o := queue[0]
		queue = queue[1:]
		needed, err := o.file.DynString(elf.DT_NEEDED)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", o.path, err)
		}
		for _, name := range needed {
			if _, ok := loaded[name]; ok {
				continue
			}
			path, err := r.find(name, o.search, exeSearch)
			if err != nil {
				return nil, fmt.Errorf("%s, needed by %s: %w", name, o.path, err)
			}
			loaded[name] = path
			if seen[path] {
				continue
			}
			seen[path] = true
			files = append(files, path)
			lf, err := openELF(path)
			if err != nil {
				return nil, err
			}
			defer lf.Close()
			if err := addSoname(loaded, path, lf); err != nil {
				return nil, err
			}
			search, err := searchPaths(path, lf)
			if err != nil {
				return nil, err
			}
			queue = append(queue, object{path, lf, search})
		}
	}
	return files, nil
}

// interpreter is the path in ef's PT_INTERP segment, or "" if it has none.
func interpreter(ef *elf.File) (string, error) {
	for _, prog := range ef.Progs {
		if prog.Type != elf.PT_INTERP {
			continue
		}
		b := make([]byte, prog.Filesz)
		if _, err := prog.ReadAt(b, 0); err != nil {
			return "", fmt.Errorf("read the ELF interpreter: %w", err)
		}
		return string(bytes.TrimRight(b, "\x00")), nil
	}
	return "", nil
}

// paths are an object's own search directories, $ORIGIN expanded: DT_RPATH
// (which the loader ignores when DT_RUNPATH is there) and DT_RUNPATH.
type paths struct {
	rpath, runpath []string
}

func searchPaths(path string, ef *elf.File) (paths, error) {
	var p paths
	runpath, err := ef.DynString(elf.DT_RUNPATH)
	if err != nil {
		return p, fmt.Errorf("%s: %w", path, err)
	}
	rpath, err := ef.DynString(elf.DT_RPATH)
	if err != nil {
		return p, fmt.Errorf("%s: %w", path, err)
	}
	origin := filepath.Dir(path)
	if real, err := filepath.EvalSymlinks(path); err == nil {
		origin = filepath.Dir(real)
	}
	expand := func(list []string) []string {
		var dirs []string
		for _, l := range list {
			for _, d := range strings.Split(l, ":") {
				d = strings.NewReplacer("${ORIGIN}", origin, "$ORIGIN", origin).Replace(d)
				if d != "" {
					dirs = append(dirs, d)
				}
			}
		}
		return dirs
	}
	p.runpath = expand(runpath)
	if len(p.runpath) == 0 {
		p.rpath = expand(rpath)
	}
	return p, nil
}

// resolver finds shared libraries in the dynamic loader's order (ld.so(8)):
// a name with a slash is a path; otherwise the loading object's DT_RPATH
// and the executable's, LD_LIBRARY_PATH, the object's DT_RUNPATH, the
// loader's cache (ldconfig -p), then the default directories. A candidate
// counts only if it is an ELF file of the executable's class and machine,
// as the loader skips the others.
type resolver struct {
	class   elf.Class
	machine elf.Machine
	envPath []string
	cache   map[string][]string // ldconfig -p: name → paths; nil until read
	found   map[string]string   // name → path, for names without their own search paths
}

func (r *resolver) find(name string, obj, exe paths) (string, error) {
	if strings.Contains(name, "/") {
		if r.fits(name) {
			return name, nil
		}
		return "", errors.New("not found")
	}
	var dirs []string
	dirs = append(dirs, obj.rpath...)
	dirs = append(dirs, exe.rpath...)
	dirs = append(dirs, r.envPath...)
	dirs = append(dirs, obj.runpath...)
	for _, d := range dirs {
		if p := filepath.Join(d, name); r.fits(p) {
			return p, nil
		}
	}
	if p, ok := r.found[name]; ok {
		return p, nil
	}
	if r.cache == nil {
		r.cache = ldCache()
	}
	candidates := r.cache[name]
	for _, d := range defaultDirs(r.class, r.machine) {
		candidates = append(candidates, filepath.Join(d, name))
	}
	for _, p := range candidates {
		if r.fits(p) {
			r.found[name] = p
			return p, nil
		}
	}
	return "", errors.New("not found (searched its RPATH/RUNPATH, LD_LIBRARY_PATH, ldconfig -p and the default directories)")
}

// fits reports whether path is an ELF file the executable can load.
func (r *resolver) fits(path string) bool {
	f, err := elf.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	return f.Class == r.class && f.Machine == r.machine
}

// ldCache reads the loader's cache as ldconfig -p prints it, one
// "\tNAME (FLAGS) => PATH" line per library; an empty map when there is no
// ldconfig.
func ldCache() map[string][]string {
	cache := map[string][]string{}
	ldconfig, err := exec.LookPath("ldconfig")
	if err != nil {
		for _, p := range []string{"/sbin/ldconfig", "/usr/sbin/ldconfig"} {
			if _, err := os.Stat(p); err == nil {
				ldconfig = p
				break
			}
		}
	}
	if ldconfig == "" {
		return cache
	}
	out, err := exec.Command(ldconfig, "-p").Output()
	if err != nil {
		return cache
	}
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		left, path, ok := strings.Cut(line, " => ")
		if !ok {
			continue
		}
		name, _, _ := strings.Cut(left, " ")
		cache[name] = append(cache[name], path)
	}
	return cache
}

// defaultDirs are the directories the loader searches last: the multiarch
// ones of Debian and its kin, then lib64 or lib.
func defaultDirs(class elf.Class, m elf.Machine) []string {
	var dirs []string
	if t := multiarch[m]; t != "" {
		dirs = append(dirs, "/lib/"+t, "/usr/lib/"+t)
	}
	if class == elf.ELFCLASS64 {
		dirs = append(dirs, "/lib64", "/usr/lib64")
	}
	return append(dirs, "/lib", "/usr/lib")
}

var multiarch = map[elf.Machine]string{
	elf.EM_X86_64:  "x86_64-linux-gnu",
	elf.EM_AARCH64: "aarch64-linux-gnu",
	elf.EM_386:     "i386-linux-gnu",
	elf.EM_ARM:     "arm-linux-gnueabihf",
	elf.EM_PPC64:   "powerpc64le-linux-gnu",
	elf.EM_S390:    "s390x-linux-gnu",
	elf.EM_RISCV:   "riscv64-linux-gnu",
}

// addSoname records the DT_SONAME of f, the object at path, as loaded.
func addSoname(loaded map[string]string, path string, f *elf.File) error {
	sonames, err := f.DynString(elf.DT_SONAME)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	for _, n := range sonames {
		if _, ok := loaded[n]; !ok {
			loaded[n] = path
		}
	}
	return nil
}

// openELF opens a shared library for reading its dynamic section.
func openELF(path string) (*elf.File, error) {
	f, err := elf.Open(path)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return f, nil
}
