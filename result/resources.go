package result

// Resources is what a run cost the processes on each side.
type Resources struct {
	Client *ProcessResources `json:"client,omitempty"`
	Server *ProcessResources `json:"server,omitempty"`
	// Kernel is the machine's kernel memory the run took.
	Kernel *KernelMemory `json:"kernel,omitempty"`
}

// ProcessResources is the cost of one side's processes.
type ProcessResources struct {
	Processes    int     `json:"processes"`
	RSSPeakBytes int64   `json:"rss_peak_bytes"`
	CPUSeconds   float64 `json:"cpu_seconds"`
	// RSSPerConnectionBytes is (RSS at the peak of open connections - RSS
	// before the first connection) / peak open connections: the user-space
	// memory a held connection costs. Zero when fewer than
	// loadgen.MinPerConnectionPeak connections were open at once.
	RSSPerConnectionBytes int64 `json:"rss_per_connection_bytes,omitempty"`
	// Peak is the most connections the processes held at once.
	Peak int64 `json:"peak_connections"`
}

// Add adds another process's costs: sums, and the memory per connection
// weighted by each process's peak connections.
func (r *ProcessResources) Add(o *ProcessResources) {
	if o == nil {
		return
	}
	switch n := r.Peak + o.Peak; {
	case o.RSSPerConnectionBytes == 0: // too few connections to tell
	case r.RSSPerConnectionBytes == 0:
		r.RSSPerConnectionBytes = o.RSSPerConnectionBytes
	default:
		r.RSSPerConnectionBytes = (r.RSSPerConnectionBytes*r.Peak + o.RSSPerConnectionBytes*o.Peak) / n
	}
	r.Processes += o.Processes
	r.RSSPeakBytes += o.RSSPeakBytes
	r.CPUSeconds += o.CPUSeconds
	r.Peak += o.Peak
}

// KernelMemory is the kernel memory a run took, from the machine's slab
// (/proc/meminfo): the sockets of both ends, their inodes, dentries and
// files, epoll items and request sockets. It is the whole machine's, so
// anything else that ran meanwhile is in it.
type KernelMemory struct {
	SlabBeforeBytes int64 `json:"slab_before_bytes"`
	SlabPeakBytes   int64 `json:"slab_peak_bytes"`
	// PerConnectionBytes is (peak - before) / the most connections open
	// at once: a connection's kernel memory, both of its ends when the
	// server is in the sandbox too.
	PerConnectionBytes int64 `json:"per_connection_bytes,omitempty"`
}
