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
// going. With images, it also removes portex's images (those with
// LabelImage or LabelBinary: built by the runtime, or by hand from
// docker/Dockerfile); they are otherwise kept for reuse. Nothing without
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
		k, err := e.removeImages(ctx, make(client.Filters).Add("label", LabelImage), make(client.Filters).Add("label", LabelBinary))
		n.Images = k
		if err != nil {
			errs = append(errs, err)
		}
	}
	return n, errors.Join(errs...)
}

// removeImages removes the images matching any of the filters, by ID: an
// untagged image (what an interrupted build or a re-tagged one leaves) has
// no reference but its ID, and one with several tags goes whole. Each goes
// with its untagged parents, the intermediate images of its build; an
// interrupted build's last intermediate image is listed as dangling, and
// takes the others with it.
func (e *Engine) removeImages(ctx context.Context, filters ...client.Filters) (int, error) {
	cli := e.client()
	n := 0
	var errs []error
	seen := map[string]bool{}
	for _, f := range filters {
		imgs, err := cli.ImageList(ctx, client.ImageListOptions{Filters: f})
		if err != nil {
			return n, errors.Join(append(errs, fmt.Errorf("list images: %w", err))...)
		}
		for _, img := range imgs.Items {
			if seen[img.ID] {
				continue
			}
			seen[img.ID] = true
			_, err := cli.ImageRemove(ctx, img.ID, client.ImageRemoveOptions{Force: true, PruneChildren: true})
			switch {
			case err == nil:
				n++
			case errdefs.IsNotFound(err):
				// A parent of one removed before it, gone with it.
			default:
				errs = append(errs, fmt.Errorf("image %.19s: %w", img.ID, err))
			}
		}
	}
	return n, errors.Join(errs...)
}
