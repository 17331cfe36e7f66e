package docker

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	_ "embed"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path"
	"slices"
	"strings"

	"debug/elf"

	"github.com/containerd/errdefs"
	"github.com/moby/moby/client"
	"github.com/testcontainers/testcontainers-go"
)

// dockerfile is docker/Dockerfile, the one people build by hand: the
// runtime builds from the same file.
//
//go:embed Dockerfile
var dockerfile []byte

// ImageRepo is the repository of portex images; the tag is the start of the
// binary's sha256.
const ImageRepo = "portex-agent"

// ErrNotStatic says the portex binary cannot run in a FROM scratch image:
// it is no Linux executable, or it is dynamically linked and a library it
// needs is not found.
var ErrNotStatic = errors.New("not a static Linux binary")

// Binary is a portex binary, ready to go into an image: static, or dynamic
// with the files it needs to start.
type Binary struct {
	Path string
	// SHA256 (hex) identifies the image's contents: the binary's hash for
	// a static one; for a dynamic one, the hash of the binary and of each
	// library with its path.
	SHA256 string
	GOARCH string // the architecture it was built for, as Go spells it
	// Libraries are what a dynamically linked binary needs besides itself:
	// its ELF interpreter and the shared libraries it loads, recursively,
	// at the paths the dynamic loader opens here. The image holds them at
	// the same paths. None for a static binary.
	Libraries []string
}

// Tag is the image reference for the binary: ImageRepo and the start of its
// hash.
func (b *Binary) Tag() string { return ImageRepo + ":" + b.SHA256[:16] }

// StaticBinary checks that path is a statically linked Linux executable
// (an ELF file without a program interpreter, as CGO_ENABLED=0 builds give)
// and hashes it. Otherwise the error wraps ErrNotStatic and says how to
// build one.
func StaticBinary(path string) (*Binary, error) {
	return readBinary(path, false)
}

// AgentBinary is the binary the docker runtime puts in its image: a static
// Linux executable as StaticBinary checks, or a dynamically linked one
// (go build and go install with cgo on) together with its ELF interpreter
// and shared libraries, found as this machine's dynamic loader finds them.
// Its errors wrap ErrNotStatic.
func AgentBinary(path string) (*Binary, error) {
	return readBinary(path, true)
}

func readBinary(path string, dynamic bool) (*Binary, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("docker: %w", err)
	}
	defer f.Close()
	how := "build or go run portex with CGO_ENABLED=0 (and GOOS=linux where the engine runs Linux)"
	ef, err := elf.NewFile(f)
	if err != nil {
		return nil, fmt.Errorf("docker: %s is %w (%v); %s", path, ErrNotStatic, err, how)
	}
	if ef.Type != elf.ET_EXEC && ef.Type != elf.ET_DYN {
		return nil, fmt.Errorf("docker: %s is %w (ELF type %s); %s", path, ErrNotStatic, ef.Type, how)
	}
	var libs []string
	if dynamic {
		libs, err = libraries(path, ef)
		if err != nil {
			return nil, fmt.Errorf("docker: %s is dynamically linked, %w, and cannot run in a FROM scratch image: %v; %s", path, ErrNotStatic, err, how)
		}
	} else {
		for _, prog := range ef.Progs {
			if prog.Type == elf.PT_INTERP {
				return nil, fmt.Errorf("docker: %s is dynamically linked, %w, and cannot run in a FROM scratch image; %s", path, ErrNotStatic, how)
			}
		}
	}
	h := sha256.New()
	if _, err := io.Copy(h, io.NewSectionReader(f, 0, 1<<62)); err != nil {
		return nil, fmt.Errorf("docker: hash %s: %w", path, err)
	}
	for _, lib := range libs {
		lh, err := fileHash(lib)
		if err != nil {
			return nil, fmt.Errorf("docker: hash %s: %w", lib, err)
		}
		fmt.Fprintf(h, "\x00%s\x00%x", lib, lh)
	}
	return &Binary{Path: path, SHA256: hex.EncodeToString(h.Sum(nil)), GOARCH: goarch(ef.Machine), Libraries: libs}, nil
}

func fileHash(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return nil, err
	}
	return h.Sum(nil), nil
}

func goarch(m elf.Machine) string {
	switch m {
	case elf.EM_X86_64:
		return "amd64"
	case elf.EM_AARCH64:
		return "arm64"
	case elf.EM_386:
		return "386"
	case elf.EM_ARM:
		return "arm"
	case elf.EM_PPC64:
		return "ppc64le"
	case elf.EM_S390:
		return "s390x"
	case elf.EM_RISCV:
		return "riscv64"
	}
	return m.String()
}

// Image returns the image that runs b, building it unless an image with its
// tag is there already. The image stays for later runs; Prune with images
// removes it.
func (e *Engine) Image(ctx context.Context, b *Binary) (string, error) {
	tag := b.Tag()
	if ok, err := e.HasImage(ctx, tag); err != nil || ok {
		return tag, err
	}
	if err := e.BuildImage(ctx, b); err != nil {
		return "", err
	}
	return tag, nil
}

// HasImage reports whether the engine has an image of that name.
func (e *Engine) HasImage(ctx context.Context, ref string) (bool, error) {
	_, err := e.client().ImageInspect(ctx, ref)
	switch {
	case err == nil:
		return true, nil
	case errdefs.IsNotFound(err):
		return false, nil
	}
	return false, fmt.Errorf("docker: inspect image %s: %w", ref, err)
}

// BuildImage builds b's image from docker/Dockerfile, whatever is there.
func (e *Engine) BuildImage(ctx context.Context, b *Binary) error {
	return e.build(ctx, b, b.Tag(), false)
}

// build builds b's image under tag; noCache skips the engine's build cache.
func (e *Engine) build(ctx context.Context, b *Binary, tag string, noCache bool) error {
	goos, arch, err := e.Platform(ctx)
	if err != nil {
		return err
	}
	if goos != "linux" || arch != b.GOARCH {
		return fmt.Errorf("docker: the engine runs %s/%s but %s is built for linux/%s; build portex for the engine's platform", goos, arch, b.Path, b.GOARCH)
	}
	buildContext, err := contextArchive(b)
	if err != nil {
		return err
	}
	return e.buildContext(ctx, tag, buildContext, b.SHA256, noCache)
}

// buildContext builds the image of a build context under tag, labelled
// with the sha256 of the binary in it and the engine's image labels.
func (e *Engine) buildContext(ctx context.Context, tag string, buildContext io.ReadSeeker, binarySHA string, noCache bool) error {
	repo, version, _ := strings.Cut(tag, ":")
	req := &testcontainers.ContainerRequest{FromDockerfile: testcontainers.FromDockerfile{
		ContextArchive: buildContext,
		Repo:           repo,
		Tag:            version,
		KeepImage:      true,
		BuildLogWriter: io.Discard,
		BuildOptionsModifier: func(o *client.ImageBuildOptions) {
			o.Labels = map[string]string{LabelBinary: binarySHA}
			maps.Copy(o.Labels, e.imageLabels)
			o.NoCache = noCache
		},
	}}
	if _, err := e.provider.BuildImage(ctx, req); err != nil {
		return fmt.Errorf("docker: build image %s: %s", tag, oneLine(err))
	}
	return nil
}

// contextArchive is the build context: the Dockerfile first (testcontainers
// reads it for the base images' credentials), then the binary as "portex",
// then a dynamic binary's libraries under rootfs/ at their paths.
func contextArchive(b *Binary) (io.ReadSeeker, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	df := dockerfileFor(b)
	if err := tw.WriteHeader(&tar.Header{Name: "Dockerfile", Mode: 0o644, Size: int64(len(df))}); err != nil {
		return nil, err
	}
	if _, err := tw.Write(df); err != nil {
		return nil, err
	}
	if err := addFile(tw, "portex", b.Path, 0o755); err != nil {
		return nil, err
	}
	dirs := map[string]bool{}
	for _, lib := range b.Libraries {
		if err := addUnder(tw, dirs, path.Join("rootfs", lib), lib); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return bytes.NewReader(buf.Bytes()), nil
}

// dockerfileFor is docker/Dockerfile, and for a dynamic binary the lines
// that add its libraries. LD_LIBRARY_PATH names the directories they were
// found in here, since the image has no loader cache and the binary's
// $ORIGIN is / there.
func dockerfileFor(b *Binary) []byte {
	if len(b.Libraries) == 0 {
		return dockerfile
	}
	var dirs []string
	for _, lib := range b.Libraries[1:] { // the interpreter is not searched for
		if d := path.Dir(lib); !slices.Contains(dirs, d) {
			dirs = append(dirs, d)
		}
	}
	df := bytes.Clone(dockerfile)
	df = append(df, "\n# A dynamically linked portex: its ELF interpreter and shared libraries,\n# at the paths they have where the image was built.\nCOPY rootfs/ /\n"...)
	df = append(df, "ENV LD_LIBRARY_PATH="+strings.Join(dirs, ":")+"\n"...)
	return df
}

// addUnder adds the file at src as name, after the directories above it
// that dirs (the ones written so far) does not hold yet.
func addUnder(tw *tar.Writer, dirs map[string]bool, name, src string) error {
	var parents []string
	for d := path.Dir(name); d != "." && !dirs[d]; d = path.Dir(d) {
		dirs[d] = true
		parents = append(parents, d)
	}
	for _, d := range slices.Backward(parents) {
		if err := tw.WriteHeader(&tar.Header{Name: d + "/", Typeflag: tar.TypeDir, Mode: 0o755}); err != nil {
			return err
		}
	}
	return addFile(tw, name, src, 0o755)
}

// addFile adds the file at src (symbolic links followed) as name.
func addFile(tw *tar.Writer, name, src string, mode int64) error {
	f, err := os.Open(src)
	if err != nil {
		return fmt.Errorf("docker: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return fmt.Errorf("docker: %w", err)
	}
	if err := tw.WriteHeader(&tar.Header{Name: name, Mode: mode, Size: st.Size()}); err != nil {
		return err
	}
	if _, err := io.Copy(tw, f); err != nil {
		return fmt.Errorf("docker: read %s: %w", src, err)
	}
	return nil
}
