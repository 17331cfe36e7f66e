// Package docker is portex's container runtime: it runs a plan's echo server
// and client agent in two containers on a network of their own, through
// testcontainers-go.
//
// The containers run one image, built locally FROM scratch around a static
// portex binary and tagged by the binary's content hash, so no registry is
// ever contacted. Testcontainers' Ryuk (a container it would pull) is turned
// off; portex labels everything it creates (LabelRun) and removes it itself,
// and Prune removes what a crashed run left behind.
package docker

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"

	"github.com/moby/moby/client"
	"github.com/testcontainers/testcontainers-go"
	tclog "github.com/testcontainers/testcontainers-go/log"
)

// ErrNoEngine says that no Docker engine answered.
var ErrNoEngine = errors.New("no Docker engine answers")

// Labels portex puts on what it creates; Prune finds its leftovers by them.
const (
	// LabelRun marks containers and networks with the id of the run that
	// created them.
	LabelRun = "io.portex.run"
	// LabelRole says which agent a container runs: client or server.
	LabelRole = "io.portex.role"
	// LabelBinary marks portex images with the sha256 of what is inside:
	// Binary.SHA256, the binary's alone when it is static.
	LabelBinary = "io.portex.binary-sha256"
	// LabelImage marks every image built from docker/Dockerfile, by the
	// runtime or by hand, the intermediate images of a build included.
	LabelImage = "io.portex.image"
)

// Engine is a connection to a Docker engine.
type Engine struct {
	provider *testcontainers.DockerProvider
	host     string
	// imageLabels go on the images it builds, besides LabelBinary (the
	// tests mark theirs).
	imageLabels map[string]string
}

// setupOnce configures testcontainers-go, which reads its settings once per
// process: Ryuk off (it would be pulled from a registry; portex cleans up
// after itself), and its chatter (a banner on stderr, a line per container)
// silenced: portex reports what matters itself.
var setupOnce sync.Once

func setup() {
	setupOnce.Do(func() {
		os.Setenv("TESTCONTAINERS_RYUK_DISABLED", "true")
		tclog.SetDefault(tclog.NewNoopLogger())
	})
}

// Connect finds the Docker engine and checks that it answers. DOCKER_HOST,
// when set, names the engine; otherwise testcontainers-go looks in its usual
// places (its properties file, the Docker context, the default sockets). An
// engine that does not answer is an error wrapping ErrNoEngine.
func Connect(ctx context.Context) (*Engine, error) {
	setup()
	host := os.Getenv("DOCKER_HOST")
	if host != "" {
		// Testcontainers would quietly fall back to the default socket
		// when DOCKER_HOST does not answer; the user meant this one.
		if err := ping(ctx, host); err != nil {
			return nil, fmt.Errorf("%w at %s (DOCKER_HOST): %s", ErrNoEngine, host, oneLine(err))
		}
	}
	p, err := testcontainers.NewDockerProvider(testcontainers.WithLogger(tclog.NewNoopLogger()))
	if err != nil {
		where := ""
		if host != "" {
			where = " at " + host
		}
		return nil, fmt.Errorf("%w%s: %s", ErrNoEngine, where, oneLine(err))
	}
	if !p.Config().RyukDisabled {
		p.Close()
		return nil, errors.New("docker: testcontainers' Ryuk is enabled in this process; portex needs it off (TESTCONTAINERS_RYUK_DISABLED=true)")
	}
	if err := p.Health(ctx); err != nil {
		p.Close()
		return nil, fmt.Errorf("%w: %s", ErrNoEngine, oneLine(err))
	}
	return &Engine{provider: p, host: p.Client().DaemonHost()}, nil
}

func ping(ctx context.Context, host string) error {
	cli, err := client.New(client.FromEnv, client.WithHost(host))
	if err != nil {
		return err
	}
	defer cli.Close()
	_, err = cli.Ping(ctx, client.PingOptions{})
	return err
}

// oneLine folds a multi-line error (testcontainers joins the errors of every
// place it tried) into one line.
func oneLine(err error) string {
	return strings.Join(strings.Fields(err.Error()), " ")
}

// Host is the address of the engine, such as unix:///var/run/docker.sock.
func (e *Engine) Host() string { return e.host }

// Close releases the connection.
func (e *Engine) Close() error { return e.provider.Close() }

func (e *Engine) client() client.APIClient { return e.provider.Client() }

// Platform returns the engine's operating system and architecture, as Go
// spells them (linux, amd64).
func (e *Engine) Platform(ctx context.Context) (goos, goarch string, err error) {
	v, err := e.client().ServerVersion(ctx, client.ServerVersionOptions{})
	if err != nil {
		return "", "", fmt.Errorf("docker: engine version: %w", err)
	}
	return v.Os, v.Arch, nil
}
