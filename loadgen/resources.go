package loadgen

import (
	"bytes"
	"encoding/binary"
	"os"
	"strconv"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

var pageSize = int64(os.Getpagesize())

// statm is /proc/self/statm, opened once: RSS is read ten times a second
// for as long as a run lasts, and must leave no garbage behind. It is read
// into statmBuf, not into a buffer on RSS's stack: the race detector's
// annotation of the read takes the buffer's address, which moves a local
// one to the heap.
var (
	statm = sync.OnceValue(func() int {
		fd, err := unix.Open("/proc/self/statm", unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			return -1
		}
		return fd
	})
	statmMu  sync.Mutex // guards statmBuf
	statmBuf [128]byte
)

// RSS returns the calling process's resident set size, from
// /proc/self/statm (one small read, no allocation).
func RSS() int64 {
	statmMu.Lock()
	defer statmMu.Unlock()
	n, err := unix.Pread(statm(), statmBuf[:], 0)
	if err != nil || n <= 0 {
		return 0
	}
	// "size resident shared ...", in pages: the second field.
	_, rest, _ := bytes.Cut(statmBuf[:n], []byte(" "))
	var pages int64
	for _, c := range rest {
		if c < '0' || c > '9' {
			break
		}
		pages = pages*10 + int64(c-'0')
	}
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

// MinPerConnectionPeak is the fewest connections open at once over which
// PerConnection divides: below it, the resident memory's own steps (pages,
// the garbage collector's heap) outweigh what the connections cost.
const MinPerConnectionPeak = 1000

// PerConnection divides the memory grown between before and atPeak over
// peak connections; 0 when fewer than MinPerConnectionPeak were open.
func PerConnection(before, atPeak, peak int64) int64 {
	if peak < MinPerConnectionPeak || atPeak <= before {
		return 0
	}
	return (atPeak - before) / peak
}

// fdDir is /proc/self/fd, opened once and read from the start each time:
// a soak counts descriptors every second, and opening the directory then
// would fail exactly when the process runs out of them.
var (
	fdsMu sync.Mutex // guards fdDir's offset and fdsBuf
	fdDir = sync.OnceValue(func() int {
		fd, err := unix.Open("/proc/self/fd", unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
		if err != nil {
			return -1
		}
		return fd
	})
	fdsBuf [16 << 10]byte
)

// countFDs counts the calling process's open descriptors: the entries of
// /proc/self/fd, read with getdents64 and counted in place.
func countFDs() int {
	fdsMu.Lock()
	defer fdsMu.Unlock()
	fd := fdDir()
	if fd < 0 {
		return 0
	}
	if _, err := unix.Seek(fd, 0, 0); err != nil {
		return 0
	}
	n := -2 // "." and ".."; the directory's own descriptor is one of ours
	for {
		m, err := unix.Getdents(fd, fdsBuf[:])
		if err == unix.EINTR {
			continue
		}
		if err != nil || m <= 0 {
			return max(n, 0)
		}
		// struct linux_dirent64: d_ino, d_off, then d_reclen at 16.
		for b := fdsBuf[:m]; len(b) >= 19; {
			reclen := int(binary.NativeEndian.Uint16(b[16:]))
			if reclen == 0 || reclen > len(b) {
				break
			}
			n++
			b = b[reclen:]
		}
	}
}
