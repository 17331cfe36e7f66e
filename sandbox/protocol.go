// Package sandbox runs plans in isolated network stacks and holds the agent
// protocol every runtime shares.
//
// The agent is the portex binary itself, started as the hidden command
// `portex agent`. It reads a loadgen.Plan as JSON on stdin and writes
// Messages as JSON lines on stdout: events while the run goes, the Result
// last. The netns runtime starts it in new user and network namespaces; the
// docker runtime as a container's entrypoint.
package sandbox

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/portex/portex/result"
)

// Message types on the agent's stdout.
const (
	MsgEvent  = "event"  // Event: something happened in the run
	MsgResult = "result" // Result: the run is over; the last message
	MsgReady  = "ready"  // the echo server listens
	MsgServer = "server" // Server: the echo server's counters, at its end
	MsgError  = "error"  // Error: the agent could not run the plan
	MsgPoint  = "point"  // Point: one interval of the time series, as it is made
	MsgSample = "sample" // Sample: one socket-state sample of the server's namespace
	// MsgQuiesced: a shard stopped dialing and waits for the others
	// before it closes its connections.
	MsgQuiesced = "quiesced"
)

// Message is one line of the agent protocol.
type Message struct {
	Type   string               `json:"type"`
	Event  *result.Event        `json:"event,omitempty"`
	Result *result.Result       `json:"result,omitempty"`
	Server *result.ServerCounts `json:"server,omitempty"`
	// Resources are the echo server process's costs (MsgServer).
	Resources *result.ProcessResources `json:"resources,omitempty"`
	// Series is the server namespace's socket states over time (MsgServer;
	// with MsgResult, for the reader to align with the points).
	Series []TimedStates `json:"series,omitempty"`
	// ClientSeries is the client namespace's socket states, sampled beside
	// the engine by a sharded run's coordinator (MsgResult).
	ClientSeries []TimedStates `json:"client_series,omitempty"`
	Error        string        `json:"error,omitempty"`
	// Sample is one sample of the server namespace's socket states
	// (MsgSample): the echo server streams them, and the agent forwards
	// them, instead of keeping them for the end.
	Sample *TimedStates `json:"sample,omitempty"`
	// Point is one interval of the time series (MsgPoint): the agent
	// streams them instead of keeping them, and the reader puts them back
	// into the Result.
	Point *result.Point `json:"point,omitempty"`
	// Sysctls are a router's conntrack sysctls, read back in its
	// namespace (MsgReady from the router).
	Sysctls map[string]string `json:"sysctls,omitempty"`
}

// maxLine bounds one protocol line; a result with histograms stays far below.
const maxLine = 64 << 20

// encoder writes messages, one JSON object per line, from any goroutine.
type encoder struct {
	mu  sync.Mutex // guards w and enc
	w   io.Writer
	enc *json.Encoder
}

func newEncoder(w io.Writer) *encoder { return &encoder{w: w, enc: json.NewEncoder(w)} }

func (e *encoder) send(m Message) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.enc.Encode(m)
}

// decoder reads messages line by line.
type decoder struct{ r *bufio.Reader }

func newDecoder(r io.Reader) *decoder { return &decoder{r: bufio.NewReaderSize(r, 64<<10)} }

// next returns the next message, or io.EOF at the end of the stream.
func (d *decoder) next() (Message, error) {
	var line []byte
	for {
		chunk, err := d.r.ReadSlice('\n')
		line = append(line, chunk...)
		if len(line) > maxLine {
			return Message{}, fmt.Errorf("agent protocol: line longer than %d bytes", maxLine)
		}
		if errors.Is(err, bufio.ErrBufferFull) {
			continue
		}
		if err != nil && (len(line) == 0 || !errors.Is(err, io.EOF)) {
			return Message{}, err
		}
		break
	}
	var m Message
	if err := json.Unmarshal(line, &m); err != nil {
		return Message{}, fmt.Errorf("agent protocol: %w in %.80q", err, line)
	}
	return m, nil
}

// Collect reads an agent's messages until the end of the stream, shows
// its events, points and server samples to obs (if set) and returns what the stream held; its
// Assemble is the run's Result. The error is the agent's own report of why
// it could not run, or a broken stream. When the stream ends without a
// result (the agent died), the Result is a partial one made of what the
// events told: the last progress totals, the peak of open connections,
// the notable events; its Stopped is "error".
func Collect(r io.Reader, obs *Observer) (*Collected, error) {
	return collect(r, obs, nil)
}

// collect is Collect that also shows every message to tap, if set.
func collect(r io.Reader, obs *Observer, tap func(Message)) (*Collected, error) {
	c := &Collected{}
	var agentErr error
	var partial partialResult
	dec := newDecoder(r)
	for {
		m, err := dec.next()
		if err != nil {
			if !errors.Is(err, io.EOF) {
				agentErr = err
			}
			if c.Result == nil && partial.seen {
				c.Result = partial.result()
			}
			return c, agentErr
		}
		if tap != nil {
			tap(m)
		}
		switch m.Type {
		case MsgEvent:
			if m.Event == nil {
				continue
			}
			partial.add(*m.Event)
			obs.event(*m.Event)
		case MsgPoint:
			if m.Point != nil {
				c.Points = append(c.Points, *m.Point)
				obs.point(*m.Point)
			}
		case MsgSample:
			if m.Sample != nil {
				c.Server = append(c.Server, *m.Sample)
				obs.serverStates(m.Sample.States)
			}
		case MsgResult:
			c.Result = m.Result
			c.Server = append(c.Server, m.Series...)
			c.Client = append(c.Client, m.ClientSeries...)
		case MsgError:
			agentErr = errors.New(m.Error)
		}
	}
}

// partialResult rebuilds what it can of a result from the event stream.
type partialResult struct {
	seen   bool
	last   result.Progress
	at     float64
	peak   int64
	events []result.Event
	ex     *result.Exhaustion
}

func (p *partialResult) add(ev result.Event) {
	p.seen = true
	p.at = max(p.at, ev.AtSeconds)
	switch ev.Type {
	case result.EventProgress:
		if ev.Progress != nil {
			p.last = *ev.Progress
			p.peak = max(p.peak, ev.Progress.Open)
		}
		return
	case result.EventExhaustion:
		p.ex = &result.Exhaustion{Class: ev.Class, AtSeconds: ev.AtSeconds}
		if ev.Progress != nil {
			p.ex.OpenConnections, p.ex.Sockets = ev.Progress.Open, ev.Progress.Client
		}
	}
	p.events = append(p.events, ev)
}

func (p *partialResult) result() *result.Result {
	return &result.Result{
		Stopped:        result.StoppedError,
		ElapsedSeconds: p.at,
		Dials:          result.Dials{Attempted: p.last.Attempted, OK: p.last.OK, Failed: p.last.Failed},
		Failures:       map[string]int64{},
		Exhaustion:     p.ex,
		PeakOpen:       p.peak,
		Events:         p.events,
	}
}

// TimedStates is one socket-state sample, stamped with the wall clock so
// that samples of different processes line up.
type TimedStates struct {
	UnixNano int64               `json:"unix_nano"`
	States   result.SocketStates `json:"states"`
	// Cost is how long the sample took.
	Cost time.Duration `json:"cost_ns,omitempty"`
	// RSS is the sampling process's resident memory then.
	RSS int64 `json:"rss_bytes,omitempty"`
}
