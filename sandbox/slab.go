package sandbox

import (
	"bytes"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/portex/portex/result"
)

// slabWatch follows the machine's slab (the kernel's own objects: a
// socket, its inode, dentry and file, its epoll item, a request socket)
// from before the load to its most, for the kernel's memory a connection
// costs. The slab is the whole machine's, not a namespace's: what else
// runs meanwhile is in it.
type slabWatch struct {
	before int64
	stop   chan struct{}
	done   chan struct{}
	mu     sync.Mutex
	peak   int64
}

// slabEvery is how often slabWatch reads /proc/meminfo.
const slabEvery = 200 * time.Millisecond

// startSlabWatch reads the slab now and then every slabEvery until
// finish; nil if /proc/meminfo has none.
func startSlabWatch() *slabWatch {
	before, ok := readSlab()
	if !ok {
		return nil
	}
	w := &slabWatch{before: before, peak: before, stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(w.done)
		t := time.NewTicker(slabEvery)
		defer t.Stop()
		for {
			select {
			case <-w.stop:
				return
			case <-t.C:
				if n, ok := readSlab(); ok {
					w.mu.Lock()
					w.peak = max(w.peak, n)
					w.mu.Unlock()
				}
			}
		}
	}()
	return w
}

// finish stops the watch and reports the slab before and at its most,
// per connection of the peak's.
func (w *slabWatch) finish(peakOpen int64) *result.KernelMemory {
	if w == nil {
		return nil
	}
	select {
	case <-w.stop:
	default:
		close(w.stop)
	}
	<-w.done
	w.mu.Lock()
	defer w.mu.Unlock()
	km := &result.KernelMemory{SlabBeforeBytes: w.before, SlabPeakBytes: w.peak}
	if peakOpen > 0 && w.peak > w.before {
		km.PerConnectionBytes = (w.peak - w.before) / peakOpen
	}
	return km
}

// readSlab returns the Slab line of /proc/meminfo, in bytes.
func readSlab() (int64, bool) {
	b, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		return 0, false
	}
	for line := range bytes.Lines(b) {
		rest, ok := bytes.CutPrefix(line, []byte("Slab:"))
		if !ok {
			continue
		}
		kb, err := strconv.ParseInt(string(bytes.TrimSuffix(bytes.TrimSpace(rest), []byte(" kB"))), 10, 64)
		return kb << 10, err == nil
	}
	return 0, false
}
