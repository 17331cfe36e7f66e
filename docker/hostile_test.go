package docker

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"strings"
	"testing"
	"time"

	imagetypes "github.com/moby/moby/api/types/image"
	"github.com/moby/moby/client"

	"github.com/portex/portex/loadgen"
	"github.com/portex/portex/result"
	"github.com/portex/portex/sandbox"
)

// The echo server's container killed mid-run: the run stops at once with
// a runtime error saying so, as in the netns runtime, and keeps what it
// measured.
func TestKilledServerIsRuntimeError(t *testing.T) {
	e := needEngine(t)
	p := holdPlan(50, loadgen.PortRange{Lo: 50000, Hi: 50199})
	p.Duration, p.Stop.On = time.Minute, loadgen.StopNever
	s := NewUnstartedSandbox(e, image, p)
	s.Stderr = testWriter{t}
	if err := s.Start(context.Background()); err != nil {
		s.Close()
		t.Fatal(err)
	}
	progress := 0
	var killed time.Time
	res, err := s.Run(context.Background(), &sandbox.Observer{Event: func(ev result.Event) {
		if ev.Type != result.EventProgress {
			return
		}
		if progress++; progress == 2 {
			killed = time.Now()
			if out, err := exec.Command("docker", "kill", "portex-"+s.ID()+"-server").CombinedOutput(); err != nil {
				t.Errorf("docker kill: %v %s", err, out)
			}
		}
	}})
	took := time.Since(killed)
	if cerr := s.Close(); cerr != nil {
		t.Error(cerr)
	}
	assertRemoved(t, LabelRun+"="+s.ID())
	if !errors.Is(err, sandbox.ErrRuntime) || !strings.Contains(err.Error(), "echo server died mid-run") {
		t.Fatalf("err = %v, want a runtime error saying the echo server died", err)
	}
	if res == nil || res.Stopped != result.StoppedError || res.Variant != "default" || res.Dials.OK != 50 {
		t.Fatalf("result %+v: want stopped error, variant default, the 50 connections made before", res)
	}
	if took > 20*time.Second {
		t.Errorf("the run went on %s after the kill", took.Round(time.Second))
	}
}

// The containers are bounded (memory, tasks, logs) and the run's network
// has no way out.
func TestContainerLimits(t *testing.T) {
	e := needEngine(t)
	ctx := context.Background()
	p := holdPlan(1, loadgen.PortRange{})
	s, err := NewSandbox(ctx, e, image, p)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	c, err := e.client().ContainerInspect(ctx, "portex-"+s.ID()+"-server", client.ContainerInspectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	hc := c.Container.HostConfig
	wantMem, wantPids := containerLimits(p)
	if hc.Memory != wantMem || hc.MemorySwap != wantMem {
		t.Errorf("memory %d swap %d, want %d", hc.Memory, hc.MemorySwap, wantMem)
	}
	if hc.PidsLimit == nil || *hc.PidsLimit != wantPids {
		t.Errorf("pids limit %v, want %d", hc.PidsLimit, wantPids)
	}
	if hc.LogConfig.Type != "json-file" || hc.LogConfig.Config["max-size"] != logMaxSize {
		t.Errorf("log config %+v, want json-file capped at %s", hc.LogConfig, logMaxSize)
	}
	nw, err := e.client().NetworkInspect(ctx, s.Network(), client.NetworkInspectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !nw.Network.Internal {
		t.Errorf("network %s is not internal", s.Network())
	}
}

// An echo server whose portex died (nothing stops it, nothing removes it)
// stops by itself at the end of its lifetime.
func TestServerEndsByItself(t *testing.T) {
	e := needEngine(t)
	ctx := context.Background()
	s := NewUnstartedSandbox(e, image, holdPlan(1, loadgen.PortRange{}))
	s.lifetime = 2 * time.Second
	defer s.Close()
	if err := s.Start(ctx); err != nil {
		t.Fatal(err)
	}
	// Run is never called and Close not yet: a crashed parent.
	deadline := time.Now().Add(20 * time.Second)
	for {
		c, err := e.client().ContainerInspect(ctx, "portex-"+s.ID()+"-server", client.ContainerInspectOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if !c.Container.State.Running {
			if code := c.Container.State.ExitCode; code != 0 {
				t.Errorf("the server exited with status %d, want 0 (a clean stop)", code)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the echo server still runs 20 s after its 2 s lifetime")
		}
		time.Sleep(200 * time.Millisecond)
	}
	if lt := serverLifetime(holdPlan(1, loadgen.PortRange{}), s.grace()); lt < 10*time.Second+s.grace()+overstaySlack {
		t.Errorf("default lifetime %s is shorter than the client watchdog's bound", lt)
	}
}

// Images of portex's that have no tag (a second build under the same tag,
// two first runs of a new binary at once) are pruned by ID; every image a
// build makes, the intermediate ones too, carries LabelImage, so what an
// interrupted build leaves is found.
func TestPruneUntaggedImages(t *testing.T) {
	needEngine(t)
	ctx := context.Background()
	e, err := Connect(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	mark := fmt.Sprintf("prune-%d", time.Now().UnixNano())
	e.imageLabels = map[string]string{testImage: mark}
	bin, err := StaticBinary(agentBin)
	if err != nil {
		t.Fatal(err)
	}
	tag := ImageRepo + "-test:" + mark
	filter := make(client.Filters).Add("label", testImage+"="+mark)
	t.Cleanup(func() { e.removeImages(context.Background(), filter) })
	for range 2 {
		if err := e.build(ctx, bin, tag, true); err != nil {
			t.Fatal(err)
		}
	}
	imgs, err := e.client().ImageList(ctx, client.ImageListOptions{All: true, Filters: filter})
	if err != nil {
		t.Fatal(err)
	}
	untagged := 0
	for _, img := range imgs.Items {
		if len(img.RepoTags) == 0 || img.RepoTags[0] == "<none>:<none>" {
			untagged++
		}
	}
	if untagged == 0 {
		t.Fatalf("no untagged image among %d: the test makes none", len(imgs.Items))
	}
	// The tagged image's ancestry, made by the build, is labelled.
	all, err := e.client().ImageList(ctx, client.ImageListOptions{All: true})
	if err != nil {
		t.Fatal(err)
	}
	byID := map[string]imagetypes.Summary{}
	for _, img := range all.Items {
		byID[img.ID] = img
	}
	in, err := e.client().ImageInspect(ctx, tag)
	if err != nil {
		t.Fatal(err)
	}
	for id, depth := in.ID, 0; id != ""; depth++ {
		img, ok := byID[id]
		if !ok {
			t.Fatalf("image %.19s not listed", id)
		}
		if img.Labels[LabelImage] != "agent" {
			t.Errorf("image %.19s (%d up from the tagged one) has no %s label", id, depth, LabelImage)
		}
		id = img.ParentID
	}
	n, err := e.removeImages(ctx, filter)
	if err != nil {
		t.Fatalf("remove: %v", err)
	}
	if n < 2 {
		t.Errorf("removed %d images, want the tagged one and the untagged one", n)
	}
	left, err := e.client().ImageList(ctx, client.ImageListOptions{All: true, Filters: filter})
	if err != nil {
		t.Fatal(err)
	}
	if len(left.Items) > 0 {
		t.Errorf("%d images left", len(left.Items))
	}
}
