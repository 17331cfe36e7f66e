package report

import (
	"encoding/csv"
	"io"
	"maps"
	"slices"
	"strconv"

	"github.com/portex/portex/result"
)

// csvStates are the socket-state columns of timeseries.csv, for each side,
// in this order.
var csvStates = []struct {
	name  string
	value func(*result.SocketStates) int
}{
	{"established", func(s *result.SocketStates) int { return s.Established }},
	{"syn_sent", func(s *result.SocketStates) int { return s.SynSent }},
	{"syn_recv", func(s *result.SocketStates) int { return s.SynRecv }},
	{"time_wait", func(s *result.SocketStates) int { return s.TimeWait }},
	{"close_wait", func(s *result.SocketStates) int { return s.CloseWait }},
	{"fin_wait1", func(s *result.SocketStates) int { return s.FinWait1 }},
	{"fin_wait2", func(s *result.SocketStates) int { return s.FinWait2 }},
	{"last_ack", func(s *result.SocketStates) int { return s.LastAck }},
	{"closing", func(s *result.SocketStates) int { return s.Closing }},
	{"unsorted", func(s *result.SocketStates) int { return s.Unsorted }},
	{"ports_in_use", func(s *result.SocketStates) int { return s.PortsInUse }},
}

// WriteCSV writes timeseries.csv: one row per interval of every run, with
// the run's variant first. Counts (attempted, ok, failed, failed_<class>,
// dropped) are of the interval ending at t (seconds from the run's start);
// open and the socket states (client_*, server_*) are gauges at t. There
// is a failed_<class> column for each class that fails anywhere in the
// file, in a fixed order. A side that was not sampled has empty cells.
// Then a client_kernel_<counter> column for each of the kernel's
// counters that moved anywhere in the file: how much it moved in the
// interval (empty where it was not read). Last, in a file with a NAT in
// the path, the router's: its table's TCP entries, those ESTABLISHED and
// those in TIME_WAIT at t, and its insert_failed and the conntrack
// limit's drops since the run's start.
func WriteCSV(w io.Writer, r *result.ResultFile) error {
	cw := csv.NewWriter(w)
	classes := classesIn(r)
	head := []string{"variant", "t", "attempted", "ok", "failed"}
	for _, c := range classes {
		head = append(head, "failed_"+c)
	}
	head = append(head, "dropped", "open")
	for _, side := range []string{"client_", "server_"} {
		for _, s := range csvStates {
			head = append(head, side+s.name)
		}
	}
	head = append(head, "port_range_size")
	counters := countersIn(r)
	for _, c := range counters {
		head = append(head, "client_kernel_"+c)
	}
	nat := natIn(r)
	if nat {
		head = append(head, "nat_entries", "nat_established", "nat_time_wait", "nat_insert_failed", "nat_limit_drops")
	}
	if err := cw.Write(head); err != nil {
		return err
	}
	row := make([]string, 0, len(head))
	for _, run := range r.Runs {
		if run.TimeSeries == nil {
			continue
		}
		for i := range run.TimeSeries.Points {
			p := &run.TimeSeries.Points[i]
			row = append(row[:0], run.Variant, strconv.FormatFloat(p.T, 'f', 6, 64),
				itoa(p.Attempted), itoa(p.OK), itoa(p.Failed))
			for _, c := range classes {
				row = append(row, itoa(p.Failures[c]))
			}
			row = append(row, itoa(p.Dropped), itoa(p.Open))
			for _, side := range []*result.SocketStates{p.Client, p.Server} {
				for _, s := range csvStates {
					if side == nil || s.value(side) == result.PortsUncounted {
						row = append(row, "")
					} else {
						row = append(row, strconv.Itoa(s.value(side)))
					}
				}
			}
			row = append(row, strconv.Itoa(run.PortRangeSize))
			for _, c := range counters {
				if p.Client == nil {
					row = append(row, "")
				} else {
					row = append(row, itoa(p.Kernel[c]))
				}
			}
			if nat {
				row = appendNAT(row, p)
			}
			if err := cw.Write(row); err != nil {
				return err
			}
		}
	}
	cw.Flush()
	return cw.Error()
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// natIn reports whether a run of the file had a NAT in the path.
func natIn(r *result.ResultFile) bool {
	for _, run := range r.Runs {
		if run.NAT != nil {
			return true
		}
	}
	return false
}

// appendNAT appends a point's NAT columns, empty where the router was
// not read.
func appendNAT(row []string, p *result.Point) []string {
	if t := p.NATTable; t != nil {
		row = append(row, strconv.Itoa(t.Entries), strconv.Itoa(t.States["ESTABLISHED"]), strconv.Itoa(t.States["TIME_WAIT"]))
	} else {
		row = append(row, "", "", "")
	}
	if c := p.NAT; c != nil {
		return append(row, strconv.FormatUint(c.InsertFailed, 10), strconv.FormatUint(c.LimitDrops, 10))
	}
	return append(row, "", "")
}

// countersIn lists, sorted, the kernel counters that moved in some point
// of the file.
func countersIn(r *result.ResultFile) []string {
	seen := map[string]bool{}
	for _, run := range r.Runs {
		if run.TimeSeries == nil {
			continue
		}
		for i := range run.TimeSeries.Points {
			for c := range run.TimeSeries.Points[i].Kernel {
				seen[c] = true
			}
		}
	}
	return slices.Sorted(maps.Keys(seen))
}
