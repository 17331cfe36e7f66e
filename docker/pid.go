package docker

import (
	"context"
	"errors"
	"fmt"

	"github.com/containerd/errdefs"
	"github.com/moby/moby/client"
)

// ErrNoContainer is the error of ContainerPid for a container the engine
// does not know.
var ErrNoContainer = errors.New("no such container")

// ContainerPid returns the host pid of a running container's first
// process (its network namespace is /proc/PID/ns/net), found by name or
// id.
func (e *Engine) ContainerPid(ctx context.Context, name string) (int, error) {
	c, err := e.client().ContainerInspect(ctx, name, client.ContainerInspectOptions{})
	if err != nil {
		if errdefs.IsNotFound(err) {
			return 0, fmt.Errorf("%w: %s", ErrNoContainer, name)
		}
		return 0, fmt.Errorf("docker: inspect %s: %w", name, err)
	}
	if c.Container.State == nil || !c.Container.State.Running || c.Container.State.Pid == 0 {
		return 0, fmt.Errorf("docker: container %s is not running", name)
	}
	return c.Container.State.Pid, nil
}
