package loadgen

import (
	"bytes"
	"os"
	"strconv"
	"syscall"
	"time"
)

// Resources is what a run cost the processes on each side.
type Resources struct {
	Client *ProcessResources `json:"client,omitempty"`
	Server *ProcessResources `json:"server,omitempty"`
}

// ProcessResources is the cost of one side's processes.
type ProcessResources struct {
	Processes    int     `json:"processes"`
	RSSPeakBytes int64   `json:"rss_peak_bytes"`
	CPUSeconds   float64 `json:"cpu_seconds"`
	// RSSPerConnectionBytes is (RSS at the peak of open connections - RSS
	// before the first connection) / peak open connections: the user-space
	// memory a held connection costs. Zero when nothing was held.
	RSSPerConnectionBytes int64 `json:"rss_per_connection_bytes"`
	// Peak is the most connections the processes held at once.
	Peak int64 `json:"peak_connections"`
}

// Add adds another process's costs: sums, and the memory per connection
// weighted by each process's peak connections.
func (r *ProcessResources) Add(o *ProcessResources) {
	if o == nil {
		return
	}
	if n := r.Peak + o.Peak; n > 0 {
		r.RSSPerConnectionBytes = (r.RSSPerConnectionBytes*r.Peak + o.RSSPerConnectionBytes*o.Peak) / n
	}
	r.Processes += o.Processes
	r.RSSPeakBytes += o.RSSPeakBytes
	r.CPUSeconds += o.CPUSeconds
	r.Peak += o.Peak
}

var pageSize = int64(os.Getpagesize())

// RSS returns the calling process's resident set size, from
// /proc/self/statm (one small read, cheap enough for every sample).
func RSS() int64 {
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		return 0
	}
	fields := bytes.Fields(b)
	if len(fields) < 2 {
		return 0
	}
	pages, _ := strconv.ParseInt(string(fields[1]), 10, 64)
	return pages * pageSize
}

// PeakRSS returns the calling process's peak resident set size (VmHWM).
func PeakRSS() int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range bytes.Split(b, []byte("\n")) {
		if v, ok := bytes.CutPrefix(line, []byte("VmHWM:")); ok {
			f := bytes.Fields(v)
			if len(f) > 0 {
				kb, _ := strconv.ParseInt(string(f[0]), 10, 64)
				return kb << 10
			}
		}
	}
	return 0
}

// CPUTime returns the user and system CPU time the calling process used.
func CPUTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// PerConnection divides the memory grown between before and atPeak over
// peak connections.
func PerConnection(before, atPeak, peak int64) int64 {
	if peak <= 0 || atPeak <= before {
		return 0
	}
	return (atPeak - before) / peak
}

// countFDs counts the calling process's open descriptors.
func countFDs() int {
	f, err := os.Open("/proc/self/fd")
	if err != nil {
		return 0
	}
	defer f.Close()
	names, _ := f.Readdirnames(-1)
	return len(names) - 1 // the directory's own descriptor
}
