package loadgen

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// KernelCounters are the TCP counters of a network namespace that explain
// a run's exhaustion, named as nstat names them: the file's row prefix
// ("TcpExt", "Tcp") and the column.
var KernelCounters = []string{
	"TcpActiveOpens",            // connect()s that sent a SYN
	"TcpPassiveOpens",           // connections accepted from a SYN
	"TcpAttemptFails",           // connection attempts that failed (refused, timed out, reset)
	"TcpEstabResets",            // established connections reset
	"TcpExtTCPTimeWaitOverflow", // closes that skipped TIME_WAIT: tcp_max_tw_buckets was full
	"TcpExtTW",                  // sockets that entered TIME_WAIT
	"TcpExtTWRecycled",          // TIME_WAIT ports connect() took over (tcp_tw_reuse)
	"TcpExtTWKilled",            // TIME_WAIT sockets ended early
	"TcpExtPAWSTimewait",        // segments to a TIME_WAIT socket dropped by PAWS
	"TcpExtTCPSynRetrans",       // SYNs sent again: a SYN or its answer was lost
	"TcpExtListenOverflows",     // handshakes dropped: the accept queue was full
	"TcpExtListenDrops",         // handshakes dropped at a listener, for any reason
	"TcpExtTCPAbortOnTimeout",   // connections aborted after their retries ran out
	"TcpExtTCPAbortOnLinger",    // connections aborted by a linger timeout
}

// ReadKernelCounters reads the KernelCounters from dir's netstat and snmp
// files (/proc/self/net: the caller's namespace; /proc/PID/net: that
// process's). Counters the kernel does not have are absent.
func ReadKernelCounters(dir string) (map[string]int64, error) {
	out := make(map[string]int64, len(KernelCounters))
	for _, name := range []string{"netstat", "snmp"} {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			return nil, fmt.Errorf("kernel counters: %w", err)
		}
		parseNetstat(b, out)
	}
	return out, nil
}

// parseNetstat adds the KernelCounters of one /proc/net/netstat or snmp
// file to out: pairs of lines, the column names then the values, each
// led by the row's prefix and a colon.
func parseNetstat(b []byte, out map[string]int64) {
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	var head []string
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) == 0 || !strings.HasSuffix(f[0], ":") {
			continue
		}
		if head == nil || head[0] != f[0] {
			head = f
			continue
		}
		prefix := strings.TrimSuffix(f[0], ":")
		for i := 1; i < len(f) && i < len(head); i++ {
			name := prefix + head[i]
			if !isKernelCounter(name) {
				continue
			}
			if v, err := strconv.ParseInt(f[i], 10, 64); err == nil {
				out[name] = v
			}
		}
		head = nil
	}
}

func isKernelCounter(name string) bool {
	for _, n := range KernelCounters {
		if n == name {
			return true
		}
	}
	return false
}

// CounterGrowth is end less start for every counter both have.
func CounterGrowth(start, end map[string]int64) map[string]int64 {
	if start == nil || end == nil {
		return nil
	}
	out := make(map[string]int64, len(end))
	for name, v := range end {
		if s, ok := start[name]; ok {
			out[name] = v - s
		}
	}
	return out
}
