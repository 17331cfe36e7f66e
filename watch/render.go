package watch

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"
)

// header is a report's first line: what is watched and its budget.
func header(r *Report) string {
	return fmt.Sprintf("%s: range %s (%d ports), %d reserved, %d bound: budget %d per destination; %d destinations; rates over %.1fs (%d samples)",
		r.Namespace, strings.ReplaceAll(r.PortRange, " ", "-"), r.RangeSize, r.Reserved, r.Bound, r.Budget,
		r.Destinations, r.WindowSeconds, r.Samples)
}

// WriteTable writes the report as a table: a header line, then one row
// per destination, least headroom first.
func WriteTable(w io.Writer, r *Report) error {
	if _, err := fmt.Fprintf(w, "%s  %s\n", r.At.UTC().Format(time.TimeOnly), header(r)); err != nil {
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "DESTINATION\tIN USE\tBUDGET\tUSED\tNEW/S\tESTAB\tTIME_WAIT\tCLOSE_WAIT\tPROJECTION\n")
	for _, row := range r.Rows {
		fmt.Fprintf(tw, "%s\t%d\t%d\t%.0f%%\t%.1f\t%d\t%d\t%d\t%s\n", row.Destination, row.PortsInUse, row.Budget,
			row.Projection.UsedPercent, row.NewPerSecond, row.Established, row.TimeWait, row.CloseWait, row.Says)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	var err error
	if len(r.Rows) == 0 {
		_, err = fmt.Fprintf(w, "(no client sockets)\n")
	} else if len(r.Rows) < r.Destinations {
		_, err = fmt.Fprintf(w, "(%d more destinations, with more headroom)\n", r.Destinations-len(r.Rows))
	}
	return err
}

// WritePlain writes the report as lines of key=value, one per
// destination, each with the time: for logs and pipes.
func WritePlain(w io.Writer, r *Report) error {
	at := r.At.UTC().Format(time.RFC3339)
	if len(r.Rows) == 0 {
		_, err := fmt.Fprintf(w, "%s namespace=%q budget=%d destinations=0\n", at, r.Namespace, r.Budget)
		return err
	}
	for _, row := range r.Rows {
		if _, err := fmt.Fprintf(w, "%s namespace=%q dst=%s in_use=%d budget=%d used=%.0f%% new_per_s=%.1f established=%d time_wait=%d close_wait=%d projection=%s %q\n",
			at, r.Namespace, row.Destination, row.PortsInUse, row.Budget, row.Projection.UsedPercent, row.NewPerSecond,
			row.Established, row.TimeWait, row.CloseWait, row.Projection.Kind, row.Says); err != nil {
			return err
		}
	}
	return nil
}

// WriteJSON writes the report as one line of JSON.
func WriteJSON(w io.Writer, r *Report) error {
	if r.Rows == nil {
		r.Rows = []Row{}
	}
	return json.NewEncoder(w).Encode(r)
}
