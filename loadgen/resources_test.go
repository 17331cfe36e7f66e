package loadgen

import (
	"os"
	"testing"
)

// countFDs counts what /proc/self/fd lists, and allocates nothing for
// them (the one allocation is the path for open).
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
	if n := testing.AllocsPerRun(10, func() { countFDs() }); n > 1 {
		t.Errorf("countFDs allocates %v times", n)
	}
}
