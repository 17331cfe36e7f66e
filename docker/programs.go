package docker

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"maps"
	"os/exec"
	"path"
	"path/filepath"
	"slices"
	"strings"

	"github.com/portex/portex/loadgen"
)

// The user's programs under the docker runtime run in the client
// container, so they must be in its image. Without a user image
// (Runtime.Image) the runtime builds one on the agent's: each program's
// command, found on this machine's PATH as the netns runtime finds it,
// with its ELF interpreter and shared libraries, at the paths they have
// here, and the program's argv[0] made that path. A command that runs
// others (a shell running curl) brings only itself: give such programs a
// user image that holds what they run. With a user image, the runtime
// adds the portex agent to it and leaves the commands as they are: they
// are looked up in that image.

// programImage is the image the client container of p runs, and p with
// its programs' commands as that image holds them. agent is the portex
// binary and agentImage its image.
func (r *Runtime) programImage(ctx context.Context, e *Engine, agent *Binary, agentImage string, p *loadgen.Plan) (string, *loadgen.Plan, error) {
	if len(p.Programs) == 0 && r.Image == "" {
		return agentImage, p, nil
	}
	plan := *p
	plan.Programs = slices.Clone(p.Programs)
	files := map[string]string{} // the context's rootfs/ paths, by the file here
	var libDirs []string
	addLibs := func(b *Binary) {
		for i, lib := range b.Libraries {
			files[lib] = lib
			if d := path.Dir(lib); i > 0 && !slices.Contains(libDirs, d) { // the interpreter is not searched for
				libDirs = append(libDirs, d)
			}
		}
	}
	h := sha256.New()
	fmt.Fprintf(h, "%s\x00%s\x00", agent.SHA256, r.Image)
	base := agentImage
	if r.Image != "" {
		base = r.Image
		files[agent.Path] = "/portex"
		addLibs(agent)
	} else {
		for i, pr := range plan.Programs {
			cmd, err := exec.LookPath(pr.Exec[0])
			if err != nil {
				return "", nil, fmt.Errorf("docker: program %q: %s is not found on this machine's PATH, so it cannot go into the client's image: %v (or give a user image that holds it: --image)", pr.Name, pr.Exec[0], err)
			}
			if cmd, err = filepath.Abs(cmd); err != nil {
				return "", nil, err
			}
			bin, err := AgentBinary(cmd)
			if err != nil {
				return "", nil, fmt.Errorf("docker: program %q: %w (or give a user image that holds it: --image)", pr.Name, err)
			}
			files[cmd] = cmd
			addLibs(bin)
			fmt.Fprintf(h, "%s\x00%s\x00", cmd, bin.SHA256)
			argv := slices.Clone(pr.Exec)
			argv[0] = cmd
			plan.Programs[i].Exec = argv
		}
		addLibs(agent)
	}
	tag := ImageRepo + ":programs-" + hex.EncodeToString(h.Sum(nil))[:16]
	if ok, err := e.HasImage(ctx, tag); err != nil {
		return "", nil, err
	} else if ok {
		return tag, &plan, nil
	}
	var df strings.Builder
	fmt.Fprintf(&df, "# The client's image of a run with programs: portex's agent and the\n# programs' commands.\nFROM %s\nLABEL %s\nCOPY rootfs/ /\n", base, LabelImage+"=agent")
	if r.Image != "" {
		df.WriteString("ENTRYPOINT [\"/portex\"]\nCMD [\"agent\"]\n")
	}
	if len(libDirs) > 0 {
		df.WriteString("ENV LD_LIBRARY_PATH=" + strings.Join(libDirs, ":") + "\n")
	}
	buildContext, err := rootfsArchive([]byte(df.String()), files)
	if err != nil {
		return "", nil, err
	}
	if err := e.buildContext(ctx, tag, buildContext, agent.SHA256, false); err != nil {
		if r.Image != "" {
			return "", nil, fmt.Errorf("%w (on %s, an image of this engine: nothing is pulled)", err, r.Image)
		}
		return "", nil, err
	}
	return tag, &plan, nil
}

// rootfsArchive is a build context: the Dockerfile, then each file (by
// its path here) under rootfs/ at the path it names in the image.
func rootfsArchive(dockerfile []byte, files map[string]string) (io.ReadSeeker, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	if err := tw.WriteHeader(&tar.Header{Name: "Dockerfile", Mode: 0o644, Size: int64(len(dockerfile))}); err != nil {
		return nil, err
	}
	if _, err := tw.Write(dockerfile); err != nil {
		return nil, err
	}
	dirs := map[string]bool{}
	for _, src := range slices.Sorted(maps.Keys(files)) {
		if err := addUnder(tw, dirs, path.Join("rootfs", files[src]), src); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return bytes.NewReader(buf.Bytes()), nil
}
