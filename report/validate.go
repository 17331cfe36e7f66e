package report

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"reflect"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/portex/portex/result"
)

// MaxResultBytes bounds the size of a result file ReadJSON reads. A
// ten-minute soak writes a few MiB.
const MaxResultBytes = 256 << 20

// readLimit is MaxResultBytes; tests lower it.
var readLimit int64 = MaxResultBytes

// maxMagnitude bounds every number of a result: no count, duration or
// latency portex measures comes near it, and sums and spans of numbers
// below it stay finite.
const maxMagnitude = 1e15

// ErrBadResult is wrapped by the errors ReadJSON returns for a file that
// decodes but is not a result portex could have written.
var ErrBadResult = errors.New("not a valid result")

// ReadJSON reads a result written by WriteJSON: one JSON document of at
// most MaxResultBytes, nothing after it, and a result that passes
// Validate.
func ReadJSON(r io.Reader) (*result.ResultFile, error) {
	lr := &io.LimitedReader{R: r, N: readLimit + 1}
	dec := json.NewDecoder(lr)
	var f result.ResultFile
	err := dec.Decode(&f)
	if lr.N <= 0 {
		return nil, fmt.Errorf("read result: larger than %d bytes", readLimit)
	}
	if err != nil {
		return nil, fmt.Errorf("read result: %w", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, fmt.Errorf("read result: data after the result (at byte %d)", dec.InputOffset())
	}
	if f.Schema != result.Schema {
		return nil, fmt.Errorf("read result: schema %q, want %q", f.Schema, result.Schema)
	}
	if err := Validate(&f); err != nil {
		return nil, fmt.Errorf("read result: %w", err)
	}
	return &f, nil
}

// Validate checks what the renderers take for granted: runs is a list
// without nulls, every number is of a sane magnitude, dials are counted
// from zero, the time series' points are in order from zero on, events are
// not before the start. Its error names the first offending field by its JSON path and
// wraps ErrBadResult.
func Validate(f *result.ResultFile) error {
	if f.Runs == nil {
		return fmt.Errorf("%w: runs: null, want a list", ErrBadResult)
	}
	for i, run := range f.Runs {
		at := fmt.Sprintf("runs[%d]", i)
		if run == nil {
			return fmt.Errorf("%w: %s: null, want a run", ErrBadResult, at)
		}
		if err := checkNumbers(reflect.ValueOf(run).Elem(), at); err != nil {
			return fmt.Errorf("%w: %v", ErrBadResult, err)
		}
		if d := run.Dials; d.Attempted < 0 || d.OK < 0 || d.Failed < 0 {
			return fmt.Errorf("%w: %s.dials: %+v, counts below zero", ErrBadResult, at, d)
		}
		if run.PortRangeSize > 65536 {
			return fmt.Errorf("%w: %s.port_range_size: %d, more ports than exist", ErrBadResult, at, run.PortRangeSize)
		}
		if ts := run.TimeSeries; ts != nil {
			last := 0.0
			for j, p := range ts.Points {
				if p.T < last {
					return fmt.Errorf("%w: %s.timeseries.points[%d].t: %g after %g: points out of order", ErrBadResult, at, j, p.T, last)
				}
				last = p.T
			}
		}
		for j, e := range run.Events {
			if e.AtSeconds < 0 {
				return fmt.Errorf("%w: %s.events[%d].at_seconds: %g, want >= 0", ErrBadResult, at, j, e.AtSeconds)
			}
		}
	}
	return nil
}

// checkNumbers walks v and refuses numbers that are not finite or too
// large.
func checkNumbers(v reflect.Value, at string) error {
	switch v.Kind() {
	case reflect.Pointer, reflect.Interface:
		if v.IsNil() {
			return nil
		}
		return checkNumbers(v.Elem(), at)
	case reflect.Struct:
		t := v.Type()
		for i := range t.NumField() {
			f := t.Field(i)
			if !f.IsExported() {
				continue
			}
			name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
			if name == "-" {
				continue
			}
			if name == "" {
				name = f.Name
			}
			if err := checkNumbers(v.Field(i), at+"."+name); err != nil {
				return err
			}
		}
	case reflect.Slice, reflect.Array:
		for i := range v.Len() {
			if err := checkNumbers(v.Index(i), fmt.Sprintf("%s[%d]", at, i)); err != nil {
				return err
			}
		}
	case reflect.Map:
		it := v.MapRange()
		for it.Next() {
			if err := checkNumbers(it.Value(), fmt.Sprintf("%s[%q]", at, it.Key())); err != nil {
				return err
			}
		}
	case reflect.Float32, reflect.Float64:
		if x := v.Float(); math.IsNaN(x) || math.Abs(x) > maxMagnitude {
			return fmt.Errorf("%s: %g is out of range", at, x)
		}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		if x := v.Int(); x < -maxMagnitude || x > maxMagnitude {
			return fmt.Errorf("%s: %d is out of range", at, x)
		}
	}
	return nil
}

// Printable makes text from a result or an agent safe to print on a
// terminal: control characters (escape sequences, carriage returns,
// backspaces, line breaks, tabs, the C1 set) and invalid UTF-8 become
// spaces. Names and messages can come from any file or process.
func Printable(s string) string {
	clean := true
	for _, r := range s {
		if r == utf8.RuneError || unicode.IsControl(r) {
			clean = false
			break
		}
	}
	if clean {
		return s
	}
	var b strings.Builder
	for _, r := range s {
		if r == utf8.RuneError || unicode.IsControl(r) {
			r = ' '
		}
		b.WriteRune(r)
	}
	return b.String()
}

// printableWriter passes text on with every control character other than
// line feeds replaced by a space (see Printable): for renderings meant for
// a terminal.
type printableWriter struct{ w io.Writer }

func (p printableWriter) Write(b []byte) (int, error) {
	clean := true
	for _, c := range b {
		if (c < 0x20 && c != '\n') || c >= 0x7f {
			clean = false
			break
		}
	}
	if clean {
		return p.w.Write(b)
	}
	n := len(b)
	out := make([]byte, 0, n)
	for len(b) > 0 {
		r, size := utf8.DecodeRune(b)
		if r == utf8.RuneError || (unicode.IsControl(r) && r != '\n') {
			out = append(out, ' ')
		} else {
			out = append(out, b[:size]...)
		}
		b = b[size:]
	}
	if _, err := p.w.Write(out); err != nil {
		return 0, err
	}
	return n, nil
}
