package sandbox

import (
	"context"
	"errors"
	"io"
	"net/netip"
	"os"
	"runtime/debug"

	"github.com/portex/portex/loadgen"
	"github.com/portex/portex/result"
)

// The agent's jobs, a file each: request.go decodes the request, guard.go
// decides whether the agent may write, client.go is the client role (the
// sandbox's set-up, then the load), shard.go the client's processes past
// one process's descriptors, server.go the server role, serverproc.go the
// supervision of server processes, sampler.go the socket-state sampler,
// assemble.go the one place a Result's time series is put together.

// errServerDied ends a run whose echo server is gone.
var errServerDied = errors.New("echo server died")

// errReported is a failure the agent has already reported, in a result.
var errReported = errors.New("reported")

// Exit codes of the agent.
const (
	agentOK     = 0
	agentFailed = 3
)

// agentGCPercent is the agent's GOGC: the heap grows by at most a quarter
// of what is live before a collection.
const agentGCPercent = 25

// testRoles, set only by this package's tests in the agent their binary
// becomes, replace the load or the echo server with another program in
// the same namespace: how benchmarks measure other tools in portex's
// sandbox. Production agents never set them.
var testRoles struct {
	// client runs instead of the load, once the sandbox is up.
	client func(ctx context.Context, target netip.Addr, port int) error
	// server runs instead of the echo server, calls ready once it
	// serves, and returns when ctx ends.
	server func(ctx context.Context, p *loadgen.Plan, ready func()) error
}

// Agent runs the hidden `portex agent` command. ctx ends on SIGINT or
// SIGTERM (or, with Request.StopPipe, when the parent closes the pipe);
// the agent then stops the run and still reports what it measured. It
// exits non-zero when it could not run the plan, after reporting why (as
// MsgError, or as a result whose Error says it).
func Agent(ctx context.Context, stdin io.Reader, stdout, stderr io.Writer) int {
	// The agent's memory should hold still, so that its RSS shows what the
	// load holds rather than garbage between two collections. The hot
	// paths allocate next to nothing, so a tight target costs little CPU.
	// A GOGC in the environment still decides.
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(agentGCPercent)
	}
	out := newEncoder(stdout)
	req, err := readRequest(stdin)
	if err != nil {
		out.send(Message{Type: MsgError, Error: err.Error()})
		return agentFailed
	}
	if req.StopPipe {
		var cancel context.CancelFunc
		ctx, cancel = context.WithCancel(ctx)
		defer cancel()
		go func() {
			stop := os.NewFile(stopFD, "stop")
			var b [1]byte
			stop.Read(b[:]) // returns when the parent closes it, or dies
			cancel()
		}()
	}
	switch req.Role {
	case RoleServer:
		err = serveEcho(ctx, req, out)
	case RoleRouter:
		err = runRouter(ctx, req, out)
	default:
		err = runClient(ctx, req, out)
	}
	switch {
	case errors.Is(err, errReported):
		return agentFailed
	case err != nil:
		out.send(Message{Type: MsgError, Error: err.Error()})
		return agentFailed
	}
	return agentOK
}

// reportFailure reports a run that could not go on as a result (with what
// it measured, if anything) whose Error says why. A run told to stop while
// its sandbox was being built was not failed but interrupted: what failed
// is what the stop cut short, and the agent ends as a stopped one does.
func reportFailure(ctx context.Context, out *encoder, res *result.Result, err error) error {
	if ctx.Err() != nil {
		res.Stopped = result.StoppedInterrupted
		res.Notes = append(res.Notes, "stopped while the sandbox was set up ("+err.Error()+")")
		return out.send(Message{Type: MsgResult, Result: res})
	}
	res.Stopped, res.Error = result.StoppedError, err.Error()
	out.send(Message{Type: MsgResult, Result: res})
	return errReported
}
