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
	// Run runs one plan and returns its result; onEvent, if set, receives
	// the run's events as they come. When ctx ends the run stops and the
	// partial result comes back with Stopped "interrupted". A failure of
	// the runtime itself wraps ErrRuntime; a result may come with it.
	Run(ctx context.Context, p *loadgen.Plan, onEvent func(result.Event)) (*result.Result, error)
	// Close releases what the runtime holds between runs.
	Close() error
}

var (
	_ Runtime = (*Netns)(nil)
	_ Runtime = (*Host)(nil)
)
