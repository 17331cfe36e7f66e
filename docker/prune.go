package docker

import (
	"context"
	"errors"
	"fmt"

	"github.com/containerd/errdefs"
	"github.com/moby/moby/client"
)

// Pruned counts what Prune removed.
type Pruned struct {
	Containers int
	Networks   int
	Images     int
}

// Prune removes every container and network that carries LabelRun, running
// or not: the leftovers of runs that crashed, and also those of runs still
// going. With images, it also removes the images the runtime built (those
// with LabelBinary); they are otherwise kept for reuse. Nothing without
// portex's labels is touched.
func (e *Engine) Prune(ctx context.Context, images bool) (Pruned, error) {
	return e.remove(ctx, LabelRun, images)
}

// remove removes the containers and networks matching a label filter
// ("key" or "key=value"), containers first since a network in use cannot
// go, and with images the images the runtime built.
func (e *Engine) remove(ctx context.Context, label string, images bool) (Pruned, error) {
	var n Pruned
	var errs []error
	cli := e.client()
	filter := make(client.Filters).Add("label", label)

	cs, err := cli.ContainerList(ctx, client.ContainerListOptions{All: true, Filters: filter})
	if err != nil {
		return n, fmt.Errorf("list containers: %w", err)
	}
	for _, c := range cs.Items {
		_, err := cli.ContainerRemove(ctx, c.ID, client.ContainerRemoveOptions{Force: true, RemoveVolumes: true})
		switch {
		case err == nil:
			n.Containers++
		case !errdefs.IsNotFound(err):
			errs = append(errs, fmt.Errorf("container %.12s: %w", c.ID, err))
		}
	}

	nws, err := cli.NetworkList(ctx, client.NetworkListOptions{Filters: filter})
	if err != nil {
		return n, errors.Join(append(errs, fmt.Errorf("list networks: %w", err))...)
	}
	for _, nw := range nws.Items {
		_, err := cli.NetworkRemove(ctx, nw.ID, client.NetworkRemoveOptions{})
		switch {
		case err == nil:
			n.Networks++
		case !errdefs.IsNotFound(err):
			errs = append(errs, fmt.Errorf("network %s: %w", nw.Name, err))
		}
	}

	if images {
		imgs, err := cli.ImageList(ctx, client.ImageListOptions{Filters: make(client.Filters).Add("label", LabelBinary)})
		if err != nil {
			return n, errors.Join(append(errs, fmt.Errorf("list images: %w", err))...)
		}
		for _, img := range imgs.Items {
			refs := img.RepoTags
			if len(refs) == 0 {
				refs = []string{img.ID}
			}
			removed := true
			for _, ref := range refs {
				_, err := cli.ImageRemove(ctx, ref, client.ImageRemoveOptions{PruneChildren: true})
				if err != nil && !errdefs.IsNotFound(err) {
					errs = append(errs, fmt.Errorf("image %s: %w", ref, err))
					removed = false
				}
			}
			if removed {
				n.Images++
			}
		}
	}
	return n, errors.Join(errs...)
}
