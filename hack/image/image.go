package main

import (
	"archive/tar"
	"bytes"
	"context"
	"debug/buildinfo"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// The image's user: the uid distroless images use for "nonroot", so that
// policies written for those match this image too.
const (
	uid  = 65532
	home = "/home/nonroot"
	// caPath is where the CA bundle sits in the image: Go's crypto/x509
	// looks there first on Linux.
	caPath = "/etc/ssl/certs/ca-certificates.crt"
	// entrypoint is the binary's path in the image.
	entrypoint = "/flotilla"
)

// DefaultCACerts is the build machine's CA bundle on Debian and Ubuntu,
// written by the ca-certificates package.
const DefaultCACerts = "/etc/ssl/certs/ca-certificates.crt"

// Options say what to build.
type Options struct {
	// Root is the flotilla repository (holding go.mod and cmd/flotilla).
	Root string
	// Platforms are the linux architectures to build, e.g. amd64, arm64.
	Platforms []string
	// CACerts is the CA bundle copied into the image.
	CACerts string
	// Source and Licenses fill the OCI labels of those names.
	Source   string
	Licenses string
	// WorkDir holds the compiled binaries; the caller removes it.
	WorkDir string
}

// Built is a multi-architecture image and what it was built from.
type Built struct {
	Index v1.ImageIndex
	// Images are the per-architecture images, in the order of Options.Platforms.
	Images []v1.Image
	// Platforms match Images.
	Platforms []v1.Platform
	// Version is the image's version: what `flotilla version` prints when
	// Go stamped the binary, else what git describes ("60e16dd0c4b2-dirty").
	// Revision is the commit it was built from.
	Version, Revision string
	// BinaryVersion is what the binary itself reports. Go stamps it from
	// git only in a plain checkout: in a linked worktree, or with
	// -buildvcs=false, it is "(devel)".
	BinaryVersion string
	// Tag is Version made a valid image tag.
	Tag string

	binaries []string
}

// Build compiles flotilla for each platform and assembles the image index.
func Build(ctx context.Context, opts Options) (*Built, error) {
	if len(opts.Platforms) == 0 {
		return nil, errors.New("no platforms to build")
	}
	ca, err := os.ReadFile(opts.CACerts)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("no CA certificate bundle at %s: install Debian's ca-certificates package (apt-get install ca-certificates) or pass -ca-certs FILE", opts.CACerts)
	}
	if err != nil {
		return nil, fmt.Errorf("reading the CA certificate bundle: %w", err)
	}
	if !bytes.Contains(ca, []byte("BEGIN CERTIFICATE")) {
		return nil, fmt.Errorf("%s holds no PEM certificates", opts.CACerts)
	}

	out := &Built{}
	for i, arch := range opts.Platforms {
		bin := filepath.Join(opts.WorkDir, "flotilla-linux-"+arch)
		if err := compile(ctx, opts.Root, arch, bin); err != nil {
			return nil, err
		}
		info, err := buildinfo.ReadFile(bin)
		if err != nil {
			return nil, fmt.Errorf("reading the build info of %s: %w", bin, err)
		}
		if i > 0 && info.Main.Version != out.BinaryVersion {
			return nil, fmt.Errorf("the %s binary says version %s, the %s one %s: the tree changed during the build",
				arch, info.Main.Version, opts.Platforms[0], out.BinaryVersion)
		}
		out.BinaryVersion = info.Main.Version
		out.binaries = append(out.binaries, bin)
	}
	src := describe(ctx, opts.Root)
	out.Version, out.Revision = src.version, src.revision
	// A release build's binary knows its version; the label says the same.
	if out.BinaryVersion != "" && out.BinaryVersion != "(devel)" {
		out.Version = out.BinaryVersion
	}
	created := src.time
	out.Tag = tagFor(out.Version)

	// One base layer for every architecture: registries store it once.
	base, err := layerOf(created, baseFiles(ca))
	if err != nil {
		return nil, err
	}
	labels := map[string]string{
		"org.opencontainers.image.title":    "flotilla",
		"org.opencontainers.image.version":  out.Version,
		"org.opencontainers.image.revision": out.Revision,
		"org.opencontainers.image.source":   opts.Source,
		"org.opencontainers.image.licenses": opts.Licenses,
		"org.opencontainers.image.created":  created.Format(time.RFC3339),
	}
	index := mutate.IndexMediaType(empty.Index, types.OCIImageIndex)
	for i, arch := range opts.Platforms {
		data, err := os.ReadFile(out.binaries[i])
		if err != nil {
			return nil, err
		}
		app, err := layerOf(created, []file{{name: strings.TrimPrefix(entrypoint, "/"), mode: 0o755, data: data}})
		if err != nil {
			return nil, err
		}
		platform := v1.Platform{OS: "linux", Architecture: arch}
		img, err := image(platform, created, labels, base, app)
		if err != nil {
			return nil, fmt.Errorf("assembling the %s image: %w", arch, err)
		}
		out.Images = append(out.Images, img)
		out.Platforms = append(out.Platforms, platform)
		index = mutate.AppendManifests(index, mutate.IndexAddendum{
			Add:        img,
			Descriptor: v1.Descriptor{Platform: &platform},
		})
	}
	out.Index = mutate.Annotations(index, labels).(v1.ImageIndex)
	return out, nil
}

// compile builds a static flotilla for linux/arch. The version comes from
// the module's VCS stamp (debug.ReadBuildInfo), which `flotilla version`
// prints; there is no version variable to set with -X.
func compile(ctx context.Context, root, arch, out string) error {
	cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-ldflags=-s -w", "-o", out, "./cmd/flotilla")
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+arch)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("building flotilla for linux/%s: %w", arch, err)
	}
	return nil
}

// source is what git says about the tree being built.
type source struct {
	version, revision string
	time              time.Time
}

// describe asks git for the tree's version (its tag, or its commit, with
// -dirty for uncommitted changes), commit and commit time. Without git it is
// "(devel)" dated at the Unix epoch; the commit time, not the build time,
// dates the image so that the same commit gives the same digest.
func describe(ctx context.Context, root string) source {
	s := source{version: "(devel)", time: time.Unix(0, 0).UTC()}
	git := func(args ...string) string {
		cmd := exec.CommandContext(ctx, "git", args...)
		cmd.Dir = root
		out, err := cmd.Output()
		if err != nil {
			return ""
		}
		return strings.TrimSpace(string(out))
	}
	if v := git("describe", "--tags", "--always", "--dirty", "--abbrev=12"); v != "" {
		s.version = v
	}
	s.revision = git("rev-parse", "HEAD")
	if t, err := time.Parse(time.RFC3339, git("log", "-1", "--format=%cI")); err == nil {
		s.time = t.UTC()
	}
	return s
}

// tagFor makes a version a valid image tag ([A-Za-z0-9_.-], at most 128
// characters): "v0.0.0-20260101-abc+dirty" becomes "v0.0.0-20260101-abc-dirty".
func tagFor(version string) string {
	tag := strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '_', r == '.', r == '-':
			return r
		}
		return '-'
	}, version)
	tag = strings.Trim(tag, ".-")
	if tag == "" {
		tag = "devel"
	}
	if len(tag) > 128 {
		tag = tag[:128]
	}
	return tag
}

// file is one entry of a layer; a name ending in "/" is a directory.
type file struct {
	name     string
	mode     int64
	uid, gid int
	data     []byte
}

// baseFiles are what every flotilla image holds besides the binary: the
// non-root user, its home, a world-writable /tmp and the CA bundle.
func baseFiles(ca []byte) []file {
	passwd := fmt.Sprintf("root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:%d:%d:nonroot:%s:/sbin/nologin\n", uid, uid, home)
	group := fmt.Sprintf("root:x:0:\nnonroot:x:%d:\n", uid)
	return []file{
		{name: "etc/", mode: 0o755},
		{name: "etc/passwd", mode: 0o644, data: []byte(passwd)},
		{name: "etc/group", mode: 0o644, data: []byte(group)},
		{name: "etc/ssl/", mode: 0o755},
		{name: "etc/ssl/certs/", mode: 0o755},
		{name: strings.TrimPrefix(caPath, "/"), mode: 0o644, data: ca},
		{name: "home/", mode: 0o755},
		// 0755: a runtime that picks another uid (OpenShift) can still enter it.
		{name: strings.TrimPrefix(home, "/") + "/", mode: 0o755, uid: uid, gid: uid},
		{name: "tmp/", mode: 0o1777},
	}
}

// layerOf writes files into a gzipped OCI layer, every entry dated at
// modTime so that the same inputs give the same digest.
func layerOf(modTime time.Time, files []file) (v1.Layer, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, f := range files {
		h := &tar.Header{
			Name: f.name, Mode: f.mode, Uid: f.uid, Gid: f.gid,
			ModTime: modTime, Format: tar.FormatPAX,
		}
		if strings.HasSuffix(f.name, "/") {
			h.Typeflag = tar.TypeDir
		} else {
			h.Typeflag, h.Size = tar.TypeReg, int64(len(f.data))
		}
		if err := tw.WriteHeader(h); err != nil {
			return nil, err
		}
		if _, err := tw.Write(f.data); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	data := buf.Bytes()
	return tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(data)), nil
	}, tarball.WithMediaType(types.OCILayer), tarball.WithCompressedCaching)
}

// image assembles one architecture's image from scratch: no base image is
// pulled from anywhere.
func image(platform v1.Platform, created time.Time, labels map[string]string, layers ...v1.Layer) (v1.Image, error) {
	img := mutate.MediaType(empty.Image, types.OCIManifestSchema1)
	img = mutate.ConfigMediaType(img, types.OCIConfigJSON)
	history := []string{"non-root user, /tmp and CA certificates", "flotilla"}
	for i, l := range layers {
		var err error
		img, err = mutate.Append(img, mutate.Addendum{
			Layer:     l,
			MediaType: types.OCILayer,
			History:   v1.History{Created: v1.Time{Time: created}, CreatedBy: "hack/image: " + history[i]},
		})
		if err != nil {
			return nil, err
		}
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture = platform.OS, platform.Architecture
	cf.Created = v1.Time{Time: created}
	cf.Config = v1.Config{
		User:       fmt.Sprintf("%d:%d", uid, uid),
		Entrypoint: []string{entrypoint},
		WorkingDir: home,
		Env: []string{
			"PATH=/usr/local/bin:/usr/bin:/bin",
			"HOME=" + home,
			"SSL_CERT_FILE=" + caPath,
		},
		Labels: labels,
	}
	img, err = mutate.ConfigFile(img, cf)
	if err != nil {
		return nil, err
	}
	return mutate.Annotations(img, labels).(v1.Image), nil
}
