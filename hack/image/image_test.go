package main

import (
	"archive/tar"
	"bytes"
	"context"
	"debug/elf"
	"encoding/json"
	"errors"
	"io"
	"log"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	cranecmd "github.com/google/go-containerregistry/cmd/crane/cmd"
	"github.com/google/go-containerregistry/pkg/crane"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// TestImage builds the image the way `make image` does (both
// architectures), writes the OCI layout, reads it back and checks what a
// cluster relies on: a non-root user, the entrypoint, the labels, both
// architectures, static binaries, the CA bundle, and that the binary runs.
// Then it pushes the layout with crane's own push command to a registry
// served in the test and pulls it back.
func TestImage(t *testing.T) {
	if testing.Short() {
		t.Skip("builds flotilla for two architectures (not in -short mode)")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	built, err := Build(ctx, Options{
		Root: root, Platforms: []string{"amd64", "arm64"}, CACerts: DefaultCACerts,
		Source: "https://github.com/flotilla-dev/flotilla", Licenses: "Apache-2.0",
		WorkDir: t.TempDir(),
	})
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "image")
	if err := WriteLayout(dir, built); err != nil {
		t.Fatal(err)
	}
	index := readLayout(t, dir, built.Tag)
	wantRevision := gitOutput(t, root, "rev-parse", "HEAD")

	manifest, err := index.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	if manifest.MediaType != types.OCIImageIndex {
		t.Errorf("index media type %s, want %s", manifest.MediaType, types.OCIImageIndex)
	}
	archs := map[string]v1.Hash{}
	for _, d := range manifest.Manifests {
		if d.Platform == nil || d.Platform.OS != "linux" {
			t.Fatalf("index entry %s has platform %v, want linux/*", d.Digest, d.Platform)
		}
		archs[d.Platform.Architecture] = d.Digest
	}
	if len(archs) != 2 || archs["amd64"] == (v1.Hash{}) || archs["arm64"] == (v1.Hash{}) {
		t.Fatalf("index platforms %v, want linux/amd64 and linux/arm64", archs)
	}

	for arch, digest := range archs {
		t.Run(arch, func(t *testing.T) {
			img, err := index.Image(digest)
			if err != nil {
				t.Fatal(err)
			}
			cf, err := img.ConfigFile()
			if err != nil {
				t.Fatal(err)
			}
			if cf.OS != "linux" || cf.Architecture != arch {
				t.Errorf("config platform %s/%s, want linux/%s", cf.OS, cf.Architecture, arch)
			}
			c := cf.Config
			if c.User != "65532:65532" {
				t.Errorf("user %q, want 65532:65532 (non-root)", c.User)
			}
			if strings.Join(c.Entrypoint, " ") != "/flotilla" || len(c.Cmd) != 0 {
				t.Errorf("entrypoint %q cmd %q, want [/flotilla] and no cmd", c.Entrypoint, c.Cmd)
			}
			if c.WorkingDir != "/home/nonroot" {
				t.Errorf("working dir %q, want /home/nonroot", c.WorkingDir)
			}
			for key, want := range map[string]string{
				"org.opencontainers.image.title":    "flotilla",
				"org.opencontainers.image.version":  built.Version,
				"org.opencontainers.image.revision": wantRevision,
				"org.opencontainers.image.source":   "https://github.com/flotilla-dev/flotilla",
				"org.opencontainers.image.licenses": "Apache-2.0",
			} {
				if got := c.Labels[key]; got != want || got == "" {
					t.Errorf("label %s = %q, want %q", key, got, want)
				}
			}

			files := filesOf(t, img)
			if !strings.Contains(string(files["etc/passwd"]), "nonroot:x:65532:65532:") {
				t.Errorf("/etc/passwd has no nonroot user 65532:\n%s", files["etc/passwd"])
			}
			if !bytes.Contains(files["etc/ssl/certs/ca-certificates.crt"], []byte("BEGIN CERTIFICATE")) {
				t.Error("/etc/ssl/certs/ca-certificates.crt holds no certificates")
			}
			binary, ok := files["flotilla"]
			if !ok {
				t.Fatalf("no /flotilla in the image; files: %v", keys(files))
			}
			checkStaticELF(t, binary, arch)
			if extra := unexpected(files); len(extra) > 0 {
				t.Errorf("the image holds more than the binary, the user and the CA bundle: %v", extra)
			}

			if arch != runtime.GOARCH {
				return
			}
			// The host's binary runs, and says the version Go stamped in it.
			path := filepath.Join(t.TempDir(), "flotilla")
			if err := os.WriteFile(path, binary, 0o755); err != nil {
				t.Fatal(err)
			}
			out, err := exec.CommandContext(ctx, path, "version", "-o", "json").Output()
			if err != nil {
				t.Fatalf("flotilla version: %v", err)
			}
			var v struct{ Version string }
			if err := json.Unmarshal(out, &v); err != nil {
				t.Fatalf("flotilla version -o json printed %q: %v", out, err)
			}
			if v.Version != built.BinaryVersion {
				t.Errorf("flotilla version says %q, the build info %q", v.Version, built.BinaryVersion)
			}
			t.Logf("flotilla version in the image: %s (image version %s)", v.Version, built.Version)
		})
	}

	t.Run("same base layer for every architecture", func(t *testing.T) {
		var first v1.Hash
		for _, img := range built.Images {
			layers, err := img.Layers()
			if err != nil {
				t.Fatal(err)
			}
			d, err := layers[0].Digest()
			if err != nil {
				t.Fatal(err)
			}
			if first == (v1.Hash{}) {
				first = d
			} else if d != first {
				t.Errorf("base layers differ: %s and %s", first, d)
			}
		}
	})

	for i, img := range built.Images {
		compressed, uncompressed, err := Sizes(img)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("linux/%s: %s compressed, %s uncompressed", built.Platforms[i].Architecture, mib(compressed), mib(uncompressed))
	}

	t.Run("crane push of the layout", func(t *testing.T) {
		srv := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
		defer srv.Close()
		u, err := url.Parse(srv.URL)
		if err != nil {
			t.Fatal(err)
		}
		ref := u.Host + "/flotilla:" + built.Tag
		push := cranecmd.NewCmdPush(&[]crane.Option{crane.Insecure})
		push.SetArgs([]string{dir, ref})
		var stdout bytes.Buffer
		push.SetOut(&stdout)
		if err := push.ExecuteContext(ctx); err != nil {
			t.Fatalf("crane push %s %s: %v", dir, ref, err)
		}
		want, err := index.Digest()
		if err != nil {
			t.Fatal(err)
		}
		parsed, err := name.ParseReference(ref, name.Insecure)
		if err != nil {
			t.Fatal(err)
		}
		pulled, err := remote.Index(parsed, remote.WithContext(ctx))
		if err != nil {
			t.Fatal(err)
		}
		got, err := pulled.Digest()
		if err != nil {
			t.Fatal(err)
		}
		if got != want {
			t.Errorf("the registry serves index %s, the layout holds %s", got, want)
		}
		if !strings.Contains(stdout.String(), want.String()) {
			t.Errorf("crane push printed %q, want the digest %s", stdout.String(), want)
		}
		arm, err := remote.Image(parsed, remote.WithContext(ctx), remote.WithPlatform(v1.Platform{OS: "linux", Architecture: "arm64"}))
		if err != nil {
			t.Fatal(err)
		}
		if cf, err := arm.ConfigFile(); err != nil || cf.Architecture != "arm64" {
			t.Errorf("pulling linux/arm64 gave %v (%v)", cf.Architecture, err)
		}
	})
}

func TestBuildRefusesAMissingCABundle(t *testing.T) {
	_, err := Build(context.Background(), Options{
		Root: "../..", Platforms: []string{"amd64"}, CACerts: filepath.Join(t.TempDir(), "absent.crt"), WorkDir: t.TempDir(),
	})
	if err == nil || !strings.Contains(err.Error(), "ca-certificates") {
		t.Fatalf("err = %v, want one naming the ca-certificates package", err)
	}
}

func TestTagFor(t *testing.T) {
	for in, want := range map[string]string{
		"v1.2.3":                            "v1.2.3",
		"v0.0.0-20260101120000-abc+dirty":   "v0.0.0-20260101120000-abc-dirty",
		"60e16dd0c4b2-dirty":                "60e16dd0c4b2-dirty",
		"(devel)":                           "devel",
		"":                                  "devel",
		strings.Repeat("a", 200):            strings.Repeat("a", 128),
		"v1.0.0+build.5/with/slashes":       "v1.0.0-build.5-with-slashes",
		".hidden":                           "hidden",
		"v2.0.0-rc.1+incompatible":          "v2.0.0-rc.1-incompatible",
		"1.0 beta":                          "1.0-beta",
		"feature/branch-name":               "feature-branch-name",
		"--leading-dashes":                  "leading-dashes",
		"trailing-dot.":                     "trailing-dot",
		"UPPER_and_lower.0":                 "UPPER_and_lower.0",
		"v1.2.3-0.20260101120000-abcdef123": "v1.2.3-0.20260101120000-abcdef123",
	} {
		if got := tagFor(in); got != want {
			t.Errorf("tagFor(%q) = %q, want %q", in, got, want)
		}
	}
}

// readLayout opens the layout the way crane push does: one entry, an index,
// named by the tag.
func readLayout(t *testing.T, dir, tag string) v1.ImageIndex {
	t.Helper()
	l, err := layout.ImageIndexFromPath(dir)
	if err != nil {
		t.Fatal(err)
	}
	m, err := l.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Manifests) != 1 || !m.Manifests[0].MediaType.IsIndex() {
		t.Fatalf("layout index.json has %d entries (%v), want one image index", len(m.Manifests), m.Manifests)
	}
	if got := m.Manifests[0].Annotations["org.opencontainers.image.ref.name"]; got != tag {
		t.Errorf("layout names the image %q, want %q", got, tag)
	}
	index, err := l.ImageIndex(m.Manifests[0].Digest)
	if err != nil {
		t.Fatal(err)
	}
	return index
}

// filesOf flattens an image's layers into path → content (directories map
// to nil).
func filesOf(t *testing.T, img v1.Image) map[string][]byte {
	t.Helper()
	layers, err := img.Layers()
	if err != nil {
		t.Fatal(err)
	}
	files := map[string][]byte{}
	for _, l := range layers {
		rc, err := l.Uncompressed()
		if err != nil {
			t.Fatal(err)
		}
		tr := tar.NewReader(rc)
		for {
			h, err := tr.Next()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			if h.Typeflag == tar.TypeDir {
				files[h.Name] = nil
				continue
			}
			if h.Name == "flotilla" && h.Mode&0o111 == 0 {
				t.Errorf("/flotilla has mode %o, want it executable", h.Mode)
			}
			data, err := io.ReadAll(tr)
			if err != nil {
				t.Fatal(err)
			}
			files[h.Name] = data
		}
		rc.Close()
	}
	return files
}

// unexpected lists files beyond the binary, the user and the CA bundle.
func unexpected(files map[string][]byte) []string {
	allowed := map[string]bool{
		"flotilla": true, "etc/passwd": true, "etc/group": true, "etc/ssl/certs/ca-certificates.crt": true,
		"etc/": true, "etc/ssl/": true, "etc/ssl/certs/": true, "home/": true, "home/nonroot/": true, "tmp/": true,
	}
	var extra []string
	for name := range files {
		if !allowed[name] {
			extra = append(extra, name)
		}
	}
	return extra
}

// checkStaticELF checks that a binary is for arch and needs no dynamic loader.
func checkStaticELF(t *testing.T, data []byte, arch string) {
	t.Helper()
	f, err := elf.NewFile(bytes.NewReader(data))
	if err != nil {
		t.Fatalf("/flotilla is not an ELF binary: %v", err)
	}
	want := map[string]elf.Machine{"amd64": elf.EM_X86_64, "arm64": elf.EM_AARCH64}[arch]
	if f.Machine != want {
		t.Errorf("/flotilla is for %s, want %s", f.Machine, want)
	}
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			t.Error("/flotilla is dynamically linked (has an ELF interpreter); want CGO_ENABLED=0")
		}
	}
}

func gitOutput(t *testing.T, dir string, args ...string) string {
	t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("git %v: %v", args, err)
	}
	return strings.TrimSpace(string(out))
}

func keys(m map[string][]byte) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}
