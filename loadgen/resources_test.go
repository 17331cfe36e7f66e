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

func TestFDFollowerStopsListing(t *testing.T) {
	lists, fds := 0, 0
	f := fdFollower{list: func() int { lists++; return fds }}
	check := func(open, want int64, wantLists int) {
		t.Helper()
		if n := f.count(open); n != want || lists != wantLists {
			t.Fatalf("count(%d) = %d after %d listings, want %d after %d", open, n, lists, want, wantLists)
		}
	}
	// Below the bound every count lists the directory.
	fds = 110
	check(100, 110, 1)
	fds = 200
	check(190, 200, 2)
	// Past it, the count follows the connections without listing.
	check(fdWalkMax+190, fdWalkMax+200, 2)
	check(fdWalkMax+1190, fdWalkMax+1200, 2)
	// Back below it, the directory is listed again.
	fds = 50
	check(40, 50, 3)
}
