package sandbox

import (
	"context"

	"github.com/portex/portex/loadgen"
	"github.com/portex/portex/result"
)

// Runtime is where plans run: the netns runtime (Netns), the host runtime
// (Host) and the docker runtime (package docker) satisfy it, so that the
// command picks one by name and uses it without knowing which it is.
type Runtime interface {
	// CheckPlan refuses, with no I/O, what the runtime cannot run in p:
	// its errors wrap ErrUnrunnable, and an *Unsupported names the key.
	CheckPlan(p *loadgen.Plan) error
	// Check is CheckPlan, then makes sure a run of p can start here (an
	// engine to talk to, an image, a target that accepts connections):
	// what the command calls before it makes a report folder.
	Check(ctx context.Context, p *loadgen.Plan) error
	// Run runs one plan and returns its result; obs, if set, is shown
	// the run's events and points as they come. When ctx ends the run
	// stops and the partial result comes back with Stopped
	// "interrupted". A failure of the runtime itself wraps ErrRuntime; a
	// result may come with it.
	Run(ctx context.Context, p *loadgen.Plan, obs *Observer) (*result.Result, error)
	// Close releases what the runtime holds between runs.
	Close() error
}

// Observer is what a caller of Run is shown of a run while it goes, as
// the parent process reads it from the agent: a nil Observer, or a nil
// field, sees nothing. Calls of one field never overlap; where the
// parent reads an agent's stream (netns, docker) all come from one
// goroutine in the stream's order, while the host runtime's engine
// shows events and points from goroutines of its own. They must not
// block for long: the run waits on them.
type Observer struct {
	// Event receives the run's events.
	Event func(result.Event)
	// Point receives each point of the time series as it is made, before
	// the server's socket states are aligned with it (see ServerStates).
	Point func(result.Point)
	// ServerStates receives each sample of the server namespace's socket
	// states, where the runtime streams them (the netns runtime).
	ServerStates func(result.SocketStates)
}

func (o *Observer) event(ev result.Event) {
	if o != nil && o.Event != nil {
		o.Event(ev)
	}
}

func (o *Observer) point(pt result.Point) {
	if o != nil && o.Point != nil {
		o.Point(pt)
	}
}

func (o *Observer) serverStates(st result.SocketStates) {
	if o != nil && o.ServerStates != nil {
		o.ServerStates(st)
	}
}

var (
	_ Runtime = (*Netns)(nil)
	_ Runtime = (*Host)(nil)
)
