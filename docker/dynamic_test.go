package docker

import (
	"context"
	"debug/elf"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/moby/moby/client"
	"github.com/portex/portex/result"
)

// needCC returns the C compiler, skipping without one except in CI.
func needCC(t *testing.T) string {
	t.Helper()
	cc, err := exec.LookPath("cc")
	if err != nil {
		if os.Getenv("PORTEX_CI") == "1" {
			t.Fatalf("PORTEX_CI=1 and no C compiler: %v", err)
		}
		t.Skipf("no C compiler: %v", err)
	}
	return cc
}

// A program whose libraries are found through its RUNPATH ($ORIGIN/lib),
// one of which needs another through its own RUNPATH, and libc through the
// loader's cache: AgentBinary lists the interpreter first, then every one
// of them at the path the loader opens, each once; StaticBinary still
// refuses it; a missing library is an error naming it and who needs it.
func TestAgentBinaryDynamic(t *testing.T) {
	needsFullTier(t)
	cc := needCC(t)
	dir := t.TempDir()
	lib := filepath.Join(dir, "bin", "lib")
	if err := os.MkdirAll(lib, 0o755); err != nil {
		t.Fatal(err)
	}
	write := func(name, src string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	run := func(args ...string) {
		t.Helper()
		if out, err := exec.Command(cc, args...).CombinedOutput(); err != nil {
			t.Fatalf("cc %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	b := write("b.c", "int b(void) { return 2; }\n")
	a := write("a.c", "int b(void);\nint a(void) { return b() + 1; }\n")
	m := write("main.c", "#include <stdio.h>\nint a(void);\nint main(void) { printf(\"%d\\n\", a()); return 0; }\n")
	run("-shared", "-fPIC", "-o", filepath.Join(lib, "libb.so"), b)
	run("-shared", "-fPIC", "-o", filepath.Join(lib, "liba.so"), a, "-L"+lib, "-lb", "-Wl,--enable-new-dtags,-rpath,$ORIGIN")
	prog := filepath.Join(dir, "bin", "prog")
	run("-o", prog, m, "-L"+lib, "-la", "-Wl,--enable-new-dtags,-rpath,$ORIGIN/lib")
	if out, err := exec.Command(prog).Output(); err != nil || string(out) != "3\n" {
		t.Fatalf("prog: %q %v", out, err)
	}

	bin, err := AgentBinary(prog)
	if err != nil {
		t.Fatal(err)
	}
	ef, err := elf.Open(prog)
	if err != nil {
		t.Fatal(err)
	}
	interp, err := interpreter(ef)
	ef.Close()
	if err != nil || interp == "" {
		t.Fatalf("interpreter %q, %v", interp, err)
	}
	t.Log(bin.Libraries)
	if len(bin.Libraries) == 0 || bin.Libraries[0] != interp {
		t.Fatalf("libraries %v, want the interpreter %s first", bin.Libraries, interp)
	}
	for _, want := range []string{filepath.Join(lib, "liba.so"), filepath.Join(lib, "libb.so")} {
		if !slices.Contains(bin.Libraries, want) {
			t.Errorf("libraries %v lack %s", bin.Libraries, want)
		}
	}
	libc := slices.IndexFunc(bin.Libraries, func(p string) bool { return filepath.Base(p) == "libc.so.6" })
	if libc < 0 {
		t.Errorf("libraries %v lack libc.so.6", bin.Libraries)
	}
	seen := map[string]bool{}
	for _, p := range bin.Libraries {
		real, err := filepath.EvalSymlinks(p)
		if err != nil {
			t.Errorf("%s: %v", p, err)
		}
		if seen[real] {
			t.Errorf("libraries %v hold %s twice", bin.Libraries, real)
		}
		seen[real] = true
	}
	static, err := StaticBinary(prog)
	if !errors.Is(err, ErrNotStatic) {
		t.Errorf("StaticBinary = %+v, %v, want ErrNotStatic", static, err)
	}
	if sb, err := StaticBinary(agentBin); err != nil {
		t.Fatal(err)
	} else if ab, err := AgentBinary(agentBin); err != nil || ab.SHA256 != sb.SHA256 || len(ab.Libraries) != 0 {
		t.Errorf("static agent: AgentBinary = %+v, %v, want %+v", ab, err, sb)
	}

	if err := os.Remove(filepath.Join(lib, "libb.so")); err != nil {
		t.Fatal(err)
	}
	_, err = AgentBinary(prog)
	if !errors.Is(err, ErrNotStatic) || !strings.Contains(err.Error(), "libb.so, needed by "+filepath.Join(lib, "liba.so")) {
		t.Errorf("without libb.so: %v, want ErrNotStatic naming libb.so and liba.so", err)
	}
}

// What the README's install commands build wherever cgo is available, a
// dynamically linked portex, runs a scenario under --runtime docker: its
// image holds its interpreter and libraries.
func TestDynamicPortexRuns(t *testing.T) {
	if testing.Short() {
		t.Skip("builds portex and an image, runs containers; skipped with -short")
	}
	e := needEngine(t)
	needCC(t)
	bin := filepath.Join(t.TempDir(), "portex")
	build := func(args ...string) {
		t.Helper()
		gomod, err := exec.Command("go", "env", "GOMOD").Output()
		if err != nil {
			t.Fatalf("go env GOMOD: %v", err)
		}
		cmd := exec.Command("go", append(append([]string{"build", "-o", bin}, args...), "./cmd/portex")...)
		cmd.Dir = filepath.Dir(strings.TrimSpace(string(gomod)))
		cmd.Env = append(os.Environ(), "CGO_ENABLED=1")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("build portex: %v\n%s", err, out)
		}
	}
	dynamic := func() bool {
		ef, err := elf.Open(bin)
		if err != nil {
			t.Fatal(err)
		}
		defer ef.Close()
		interp, err := interpreter(ef)
		if err != nil {
			t.Fatal(err)
		}
		return interp != ""
	}
	build()
	if !dynamic() {
		t.Log("CGO_ENABLED=1 gave a static portex here; linking it externally")
		build("-ldflags=-linkmode=external")
		if !dynamic() {
			t.Fatal("portex built with -linkmode=external is static")
		}
	}
	b, err := AgentBinary(bin)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("libraries: %v", b.Libraries)
	t.Cleanup(func() {
		e.client().ImageRemove(context.Background(), b.Tag(), client.ImageRemoveOptions{PruneChildren: true})
	})

	scenario := filepath.Join(t.TempDir(), "dynamic.yaml")
	if err := os.WriteFile(scenario, []byte(`name: dynamic
duration: 10s
sandbox:
  port_range: 50000-50019
  sysctls:
    net.ipv4.tcp_tw_reuse: 0
pools:
  - name: holders
    workers: 30
    messages: 1
    hold: forever
stop:
  on: exhaustion
`), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "out")
	cmd := exec.Command(bin, "run", scenario, "--runtime", "docker", "--out", out, "--quiet")
	if msg, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("portex run --runtime docker: %v\n%s", err, msg)
	}
	data, err := os.ReadFile(filepath.Join(out, "result.json"))
	if err != nil {
		t.Fatal(err)
	}
	var rf result.ResultFile
	if err := json.Unmarshal(data, &rf); err != nil {
		t.Fatal(err)
	}
	if len(rf.Runs) != 1 {
		t.Fatalf("%d runs", len(rf.Runs))
	}
	r := rf.Runs[0]
	if r.Runtime != "docker" || r.Dials.OK != 20 || r.Exhaustion == nil || r.Exhaustion.Class != "EADDRNOTAVAIL" {
		t.Errorf("runtime %q ok %d exhaustion %+v, want docker, 20, EADDRNOTAVAIL", r.Runtime, r.Dials.OK, r.Exhaustion)
	}
	if got := r.Sysctls["net.ipv4.ip_local_port_range"]; got != "50000 50019" {
		t.Errorf("port range read back %q", got)
	}
}
