// Command image builds the flotilla container image without a container
// engine and without pulling a base image: a static binary per
// architecture, a non-root user and the build machine's CA certificates,
// assembled with go-containerregistry into an OCI image layout (a
// multi-architecture index) and one docker-style tarball per architecture.
//
//	go run ./hack/image -root ../.. -out ../../bin     (what `make image` runs)
//
// Push the layout with `crane push bin/image REGISTRY/flotilla:TAG`.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

func main() {
	var (
		opts       Options
		platforms  string
		out        string
		repository string
	)
	flag.StringVar(&opts.Root, "root", ".", "the flotilla repository")
	flag.StringVar(&platforms, "platforms", "amd64,arm64", "linux architectures, comma-separated")
	flag.StringVar(&opts.CACerts, "ca-certs", DefaultCACerts, "CA certificate bundle to copy into the image")
	flag.StringVar(&opts.Source, "source", "https://github.com/flotilla-dev/flotilla", "org.opencontainers.image.source")
	flag.StringVar(&opts.Licenses, "licenses", "Apache-2.0", "org.opencontainers.image.licenses (SPDX)")
	flag.StringVar(&out, "out", "bin", "directory for image/ (the OCI layout) and image-linux-ARCH.tar")
	flag.StringVar(&repository, "repository", "ghcr.io/flotilla-dev/flotilla", "repository named in the tarballs (docker load tags them REPOSITORY:TAG)")
	flag.Parse()
	opts.Platforms = strings.Split(platforms, ",")

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, opts, out, repository); err != nil {
		fmt.Fprintln(os.Stderr, "image:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, opts Options, out, repository string) error {
	work, err := os.MkdirTemp("", "flotilla-image-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)
	opts.WorkDir = work
	built, err := Build(ctx, opts)
	if err != nil {
		return err
	}
	layoutDir := filepath.Join(out, "image")
	if err := WriteLayout(layoutDir, built); err != nil {
		return err
	}
	ref, err := name.NewTag(repository + ":" + built.Tag)
	if err != nil {
		return err
	}
	digest, err := built.Index.Digest()
	if err != nil {
		return err
	}
	fmt.Printf("flotilla %s (commit %s; the binary says %s)\n", built.Version, built.Revision, built.BinaryVersion)
	fmt.Printf("OCI layout  %s  index %s\n", layoutDir, digest)
	for i, img := range built.Images {
		arch := built.Platforms[i].Architecture
		path := filepath.Join(out, "image-linux-"+arch+".tar")
		if err := tarball.WriteToFile(path, ref, img); err != nil {
			return fmt.Errorf("writing %s: %w", path, err)
		}
		compressed, uncompressed, err := Sizes(img)
		if err != nil {
			return err
		}
		fmt.Printf("linux/%-6s %s  %s compressed, %s uncompressed\n", arch, path, mib(compressed), mib(uncompressed))
	}
	fmt.Printf("push with:  crane push %s REGISTRY/flotilla:%s\n", layoutDir, built.Tag)
	return nil
}

// WriteLayout replaces dir with an OCI image layout holding the index,
// named by its tag (org.opencontainers.image.ref.name).
func WriteLayout(dir string, built *Built) error {
	if err := os.RemoveAll(dir); err != nil {
		return err
	}
	p, err := layout.Write(dir, empty.Index)
	if err != nil {
		return err
	}
	return p.AppendIndex(built.Index, layout.WithAnnotations(map[string]string{
		"org.opencontainers.image.ref.name": built.Tag,
	}))
}

// Sizes are what an image costs to pull (compressed layers, config and
// manifest) and on disk once unpacked (uncompressed layers).
func Sizes(img v1.Image) (compressed, uncompressed int64, err error) {
	manifest, err := img.RawManifest()
	if err != nil {
		return 0, 0, err
	}
	config, err := img.RawConfigFile()
	if err != nil {
		return 0, 0, err
	}
	compressed = int64(len(manifest) + len(config))
	layers, err := img.Layers()
	if err != nil {
		return 0, 0, err
	}
	for _, l := range layers {
		size, err := l.Size()
		if err != nil {
			return 0, 0, err
		}
		compressed += size
		rc, err := l.Uncompressed()
		if err != nil {
			return 0, 0, err
		}
		n, err := countBytes(rc)
		if err != nil {
			return 0, 0, err
		}
		uncompressed += n
	}
	return compressed, uncompressed, nil
}

func mib(n int64) string { return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20)) }

func countBytes(rc io.ReadCloser) (int64, error) {
	defer rc.Close()
	return io.Copy(io.Discard, rc)
}
