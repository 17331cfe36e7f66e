package sandbox

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"runtime"
	"strings"
	"time"

	"github.com/portex/portex/loadgen"
)

// Agent roles.
const (
	RoleClient = "client" // applies the client's settings and runs the load
	RoleServer = "server" // runs the echo server
	RoleRouter = "router" // forwards and translates between client and server (Plan.NAT)
)

// Setups: who builds the sandbox around the agent.
const (
	// SetupNetns: the agent runs in fresh user and network namespaces and
	// builds the rest itself: the server's namespace, the veth pair, the
	// sysctls. It checks that it does (see sandboxGuard) before it writes
	// anything.
	SetupNetns = "netns"
	// SetupNone: the runtime built the sandbox (a container); the agent
	// only reads the settings back and runs.
	SetupNone = "none"
)

// Request is what an agent reads on stdin (in a container, from
// $PORTEX_REQUEST).
type Request struct {
	Plan  *loadgen.Plan `json:"plan"`
	Role  string        `json:"role"`
	Setup string        `json:"setup"`
	// Target is the echo server's address or host name (SetupNone).
	Target string `json:"target,omitempty"`
	// HostNetns is the caller's network namespace: an agent that finds
	// itself there refuses to write. It only adds a refusal: the agent
	// decides by itself whether it runs in a sandbox (sandboxGuard).
	HostNetns string `json:"host_netns,omitempty"`
	// Peer marks an echo server process started by another to share its
	// ports: it serves, and leaves sampling the namespace to the first.
	Peer bool `json:"peer,omitempty"`
	// Processes is how many processes share the run (see
	// loadgen.Sandbox.Processes), decided by the agent that builds the
	// sandbox; 0 or 1: this one alone.
	Processes int `json:"processes,omitempty"`
	// Sources are the client's addresses (SetupNone shards).
	Sources []netip.Addr `json:"sources,omitempty"`
	// Target6 and Sources6 are the server's and the client's IPv6
	// addresses, for pools that dial IPv6 (SetupNone shards).
	Target6  netip.Addr   `json:"target6,omitzero"`
	Sources6 []netip.Addr `json:"sources6,omitempty"`
	// StopPipe: descriptor 3 is a pipe from the parent, and the run stops
	// when the parent closes it (or dies). A stop sent that way cannot
	// arrive before the agent is ready for it, as a signal can.
	StopPipe bool `json:"stop_pipe,omitempty"`
	// Shard marks one of several client processes: when its run stops it
	// reports MsgQuiesced and waits, before closing its connections, until
	// descriptor 4 (a pipe from the coordinator) is closed.
	Shard bool `json:"shard,omitempty"`
	// Lifetime, if set, is how long an echo server serves at most: it
	// then stops and reports as if told to. A server whose runtime cannot
	// stop it (a container whose portex died) ends by itself.
	Lifetime time.Duration `json:"lifetime,omitempty"`
}

// Descriptors a parent passes to the agents it starts (see Request).
const (
	stopFD    = 3
	goAheadFD = 4
)

// RequestEnv names the environment variable that carries the request to
// an agent that is a container's first process; any other agent ignores
// it, and no agent passes it on.
const RequestEnv = "PORTEX_REQUEST"

// maxRequest bounds a request.
const maxRequest = 4 << 20

// maxProcesses bounds Request.Processes.
const maxProcesses = 1024

// readRequest reads and checks the agent's request: from $PORTEX_REQUEST
// if the agent is a container's first process (pid 1), else from stdin.
// The variable is removed from the environment either way, so that no
// process the agent starts finds it.
func readRequest(stdin io.Reader) (*Request, error) {
	env, fromEnv := os.LookupEnv(RequestEnv)
	os.Unsetenv(RequestEnv)
	var data []byte
	if fromEnv && os.Getpid() == 1 {
		data = []byte(env)
	} else {
		var err error
		data, err = io.ReadAll(io.LimitReader(stdin, maxRequest+1))
		if err != nil {
			return nil, fmt.Errorf("agent: read request: %w", err)
		}
	}
	if len(data) > maxRequest {
		return nil, fmt.Errorf("agent: request larger than %d bytes", maxRequest)
	}
	var req Request
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		return nil, fmt.Errorf("agent: decode request: %w", err)
	}
	if req.Plan == nil {
		return nil, errors.New("agent: request has no plan")
	}
	if err := req.Plan.Check(); err != nil {
		return nil, fmt.Errorf("agent: %w", err)
	}
	switch req.Role {
	case RoleClient, RoleServer, RoleRouter:
	default:
		return nil, fmt.Errorf("agent: unknown role %q", req.Role)
	}
	switch req.Setup {
	case SetupNetns, SetupNone:
	default:
		return nil, fmt.Errorf("agent: unknown setup %q", req.Setup)
	}
	if req.Processes < 0 || req.Processes > maxProcesses {
		return nil, fmt.Errorf("agent: processes %d outside 0..%d", req.Processes, maxProcesses)
	}
	return &req, nil
}

// sharedCPUs is the environment of a process that is one of n sharing the
// machine's CPUs for one role (the client's shards, the echo server's
// processes): GOMAXPROCS set to its share, at least one, unless the user
// set it. Past as many processes as CPUs, each runs one P: its event loops
// are one, and no thread of its runtime spins, wakes and sleeps looking
// for work that only the other processes have.
func sharedCPUs(env []string, n int) []string {
	if n <= 1 {
		return env
	}
	for _, kv := range env {
		if strings.HasPrefix(kv, "GOMAXPROCS=") {
			return env
		}
	}
	return append(env, fmt.Sprintf("GOMAXPROCS=%d", max(1, runtime.NumCPU()/n)))
}

// childEnv is the environment of the processes an agent or a runtime
// starts: its own, without the request variable.
func childEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if len(kv) > len(RequestEnv) && kv[:len(RequestEnv)+1] == RequestEnv+"=" {
			continue
		}
		env = append(env, kv)
	}
	return env
}
