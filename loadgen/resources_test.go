package loadgen

import (
	"fmt"
	"os"
	"strings"
	"testing"
)

// countFDs counts what /proc/self/fd lists, and allocates nothing.
func TestCountFDs(t *testing.T) {
	before := countFDs()
	var files []*os.File
	for range 10 {
		f, err := os.Open("/dev/null")
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, f)
	}
	defer func() {
		for _, f := range files {
			f.Close()
		}
	}()
	entries, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	got := countFDs()
	if got != before+10 || got != len(entries)-1 {
		t.Errorf("countFDs: %d before, %d with 10 more open; /proc/self/fd lists %d besides its own", before, got, len(entries)-1)
	}
	if n := testing.AllocsPerRun(10, func() { countFDs() }); n != 0 {
		t.Errorf("countFDs allocates %v times", n)
	}
}

// RSS reads what /proc/self/statm says, and allocates nothing.
func TestRSS(t *testing.T) {
	rss := RSS()
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Fatal(err)
	}
	var kb int64
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			fmt.Sscan(v, &kb)
		}
	}
	if d := rss - kb<<10; rss <= 0 || d < -1<<20 || d > 1<<20 {
		t.Errorf("RSS %d bytes, VmRSS %d kB", rss, kb)
	}
	if n := testing.AllocsPerRun(10, func() { RSS() }); n != 0 {
		t.Errorf("RSS allocates %v times", n)
	}
}
