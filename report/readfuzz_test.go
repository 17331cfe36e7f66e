package report

import (
	"bytes"
	"fmt"
	"io"
	"testing"
	"time"

	"github.com/portex/portex/result"
)

// FuzzReadJSON: whatever a result file holds, ReadJSON refuses it or every
// renderer takes it without a panic.
//
//	go test -run='^$' -fuzz=FuzzReadJSON -fuzztime=1m ./report
func FuzzReadJSON(f *testing.F) {
	var b bytes.Buffer
	if err := WriteJSON(&b, fixture(f)); err != nil {
		f.Fatal(err)
	}
	f.Add(b.Bytes())
	f.Add([]byte(`{"schema":"portex/result/v1","runs":[null]}`))
	f.Add([]byte(`{"schema":"portex/result/v1","scenario":"x","runs":[{"variant":"a","stopped":"duration","timeseries":{"interval_seconds":1,"points":[{"t":0},{"t":1e14}]},"model":{"port_budget":0},"verdict":{"outcome":"exhausted"},"exhaustion":{"class":"EADDRNOTAVAIL"}}]}`))
	f.Add([]byte(`{"schema":"portex/result/v1","scenario":"x","stopped":"interrupted","runs":[]}`))
	renderers := []func(io.Writer, *result.ResultFile) error{WriteCSV, WriteHTML, WriteMarkdown, WriteJUnit, WriteJSON,
		func(w io.Writer, r *result.ResultFile) error { return WriteText(w, r, TextOptions{}) },
		func(w io.Writer, r *result.ResultFile) error {
			return WriteCompare(w, []Source{{Name: "a", File: r}, {Name: "b", File: r}})
		},
		func(w io.Writer, r *result.ResultFile) error {
			return WriteCompareMarkdown(w, []Source{{Name: "a", File: r}})
		},
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		// Reading or rendering that does not finish is a finding too.
		hang := time.AfterFunc(5*time.Second, func() { panic(fmt.Sprintf("still busy after 5 s on %q", data)) })
		defer hang.Stop()
		r, err := ReadJSON(bytes.NewReader(data))
		if err != nil {
			return
		}
		for _, render := range renderers {
			render(io.Discard, r)
		}
	})
}
