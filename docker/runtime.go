package docker

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"github.com/portex/portex/loadgen"
	"github.com/portex/portex/result"
	"github.com/portex/portex/sandbox"
)

// Runtime runs plans in containers: portex's "docker" runtime. Each Run gets
// a Sandbox of its own; the engine connection and the image are found once
// and shared by the runs.
type Runtime struct {
	// Binary is the portex binary the image is built around; empty means
	// the running executable. Static or dynamically linked (AgentBinary):
	// Check and Run fail with ErrNotStatic only if it is no Linux
	// executable or a library it needs is not found.
	Binary string
	// Stderr receives the containers' diagnostics; nil discards them.
	Stderr io.Writer
	// StopGrace is how long an interrupted agent has to report before its
	// container is killed; 0 means 10 s.
	StopGrace time.Duration
	// Image, if set, is the user's image the client container runs, with
	// the agent added: an image of the engine's (nothing is pulled) that
	// holds what the plan's programs run. Empty: the agent's own image,
	// with the programs' commands added (see programImage).
	Image string

	mu     sync.Mutex // guards engine, bin and image
	engine *Engine
	bin    *Binary
	image  string

	started func(*Sandbox) // a test hook: each run's sandbox, before it starts
}

// Check is CheckPlan, then connects to the engine, finds the binary and
// makes sure the image is there (building it if needed), so that a run can
// start. Its errors wrap sandbox.ErrUnrunnable, ErrNoEngine, ErrNotStatic
// or sandbox.ErrRuntime.
func (r *Runtime) Check(ctx context.Context, p *loadgen.Plan) error {
	if err := r.CheckPlan(p); err != nil {
		return err
	}
	_, _, err := r.prepare(ctx)
	return err
}

var _ sandbox.Runtime = (*Runtime)(nil)

func (r *Runtime) prepare(ctx context.Context) (*Engine, string, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.image != "" {
		return r.engine, r.image, nil
	}
	if r.engine == nil {
		e, err := Connect(ctx)
		if err != nil {
			return nil, "", err
		}
		r.engine = e
	}
	path := r.Binary
	if path == "" {
		exe, err := os.Executable()
		if err != nil {
			return nil, "", fmt.Errorf("%w: docker: cannot find the portex binary: %v", sandbox.ErrRuntime, err)
		}
		path = exe
	}
	bin, err := AgentBinary(path)
	if err != nil {
		return nil, "", err
	}
	image, err := r.engine.Image(ctx, bin)
	if err != nil {
		return nil, "", fmt.Errorf("%w: %v", sandbox.ErrRuntime, err)
	}
	r.image, r.bin = image, bin
	return r.engine, r.image, nil
}

// Run runs one plan in a fresh sandbox and removes it before returning.
// obs, if set, is shown the agent's events and points as they arrive. When ctx ends
// the agent is asked to stop and its partial result is returned with
// Stopped "interrupted". Failures of the runtime wrap sandbox.ErrRuntime
// (and ErrNoEngine or ErrNotStatic where they apply); a result may come
// with them.
func (r *Runtime) Run(ctx context.Context, p *loadgen.Plan, obs *sandbox.Observer) (res *result.Result, err error) {
	e, image, err := r.prepare(ctx)
	if err != nil {
		if !errors.Is(err, sandbox.ErrRuntime) {
			err = fmt.Errorf("%w: %w", sandbox.ErrRuntime, err)
		}
		return nil, err
	}
	r.mu.Lock()
	bin := r.bin
	r.mu.Unlock()
	clientImage, p, err := r.programImage(ctx, e, bin, image, p)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", sandbox.ErrRuntime, err)
	}
	s := NewUnstartedSandbox(e, image, p)
	s.ClientImage = clientImage
	s.Stderr, s.StopGrace = r.Stderr, r.StopGrace
	if r.started != nil {
		r.started(s)
	}
	defer func() {
		if cerr := s.Close(); cerr != nil && err == nil {
			err = fmt.Errorf("%w: %v", sandbox.ErrRuntime, cerr)
		}
	}()
	if err := s.Start(ctx); err != nil {
		return nil, fmt.Errorf("%w: %v", sandbox.ErrRuntime, err)
	}
	return s.Run(ctx, obs)
}

// CheckPlan refuses, before anything starts, a plan the docker runtime
// cannot run (see the package's CheckPlan).
func (r *Runtime) CheckPlan(p *loadgen.Plan) error { return CheckPlan(p) }

// Close releases the engine connection. The runtime can be used again.
func (r *Runtime) Close() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.engine == nil {
		return nil
	}
	err := r.engine.Close()
	r.engine, r.image, r.bin = nil, "", nil
	return err
}
