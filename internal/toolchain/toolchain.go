// Package toolchain finds the binaries local fleets run (kube-apiserver, etcd,
// kwok): which versions this build of flotilla supports, where `make tools`
// puts them, and whether they are there.
package toolchain

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"k8s.io/apimachinery/pkg/util/version"

	"github.com/flotilla-dev/flotilla"
)

// CacheEnv names the environment variable that overrides the cache directory.
const CacheEnv = "FLOTILLA_CACHE"

// Versions are the tool versions of hack/versions.env.
type Versions struct {
	// Kubernetes lists the supported kube-apiserver versions, oldest first.
	Kubernetes    []string
	Etcd          string
	Kwok          string
	ControllerGen string
}

// ParseVersions reads a versions.env file: shell-style KEY=VALUE lines,
// values optionally quoted, # comments.
func ParseVersions(env string) (Versions, error) {
	var v Versions
	scanner := bufio.NewScanner(strings.NewReader(env))
	for n := 1; scanner.Scan(); n++ {
		line := strings.TrimSpace(scanner.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		key, value, ok := strings.Cut(line, "=")
		if !ok {
			return Versions{}, fmt.Errorf("versions.env line %d: want KEY=VALUE, got %q", n, line)
		}
		value = strings.Trim(strings.TrimSpace(value), `"'`)
		switch strings.TrimSpace(key) {
		case "KUBE_VERSIONS":
			v.Kubernetes = strings.Fields(value)
		case "ETCD_VERSION":
			v.Etcd = value
		case "KWOK_VERSION":
			v.Kwok = value
		case "CONTROLLER_GEN_VERSION":
			v.ControllerGen = value
		}
	}
	if err := scanner.Err(); err != nil {
		return Versions{}, err
	}
	if len(v.Kubernetes) == 0 || v.Etcd == "" || v.Kwok == "" {
		return Versions{}, errors.New("versions.env must set KUBE_VERSIONS, ETCD_VERSION and KWOK_VERSION")
	}
	parsed := make(map[string]*version.Version, len(v.Kubernetes))
	for _, k := range v.Kubernetes {
		pv, err := version.ParseSemantic(k)
		if err != nil || !strings.HasPrefix(k, "v") {
			return Versions{}, fmt.Errorf("versions.env: KUBE_VERSIONS entry %q is not a version like v1.36.3", k)
		}
		parsed[k] = pv
	}
	slices.SortFunc(v.Kubernetes, func(a, b string) int {
		switch {
		case parsed[a].LessThan(parsed[b]):
			return -1
		case parsed[b].LessThan(parsed[a]):
			return 1
		}
		return 0
	})
	return v, nil
}

// Toolchain locates the tool binaries of one set of versions in one cache.
type Toolchain struct {
	// CacheDir holds bin/<tool>-<version>.
	CacheDir string
	Versions Versions
}

// Default is the toolchain of this build: the embedded hack/versions.env and
// the cache directory of the environment.
func Default() Toolchain {
	v, err := ParseVersions(flotilla.ToolVersions)
	if err != nil {
		// The file is embedded at build time; a test keeps it parseable.
		panic("embedded hack/versions.env: " + err.Error())
	}
	return Toolchain{CacheDir: DefaultCacheDir(), Versions: v}
}

// DefaultCacheDir is $FLOTILLA_CACHE, else $HOME/.cache/flotilla.
func DefaultCacheDir() string {
	if dir := os.Getenv(CacheEnv); dir != "" {
		return dir
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return filepath.Join(os.TempDir(), "flotilla-cache")
	}
	return filepath.Join(home, ".cache", "flotilla")
}

// BinDir is where the tool binaries live.
func (t Toolchain) BinDir() string { return filepath.Join(t.CacheDir, "bin") }

// KubernetesVersions lists the supported Kubernetes versions, oldest first.
func (t Toolchain) KubernetesVersions() []string { return slices.Clone(t.Versions.Kubernetes) }

// OldestKubernetes is the oldest supported version: local members start there.
func (t Toolchain) OldestKubernetes() string { return t.Versions.Kubernetes[0] }

// NewestKubernetes is the newest supported version: local hubs run it.
func (t Toolchain) NewestKubernetes() string {
	return t.Versions.Kubernetes[len(t.Versions.Kubernetes)-1]
}

// ResolveKubernetes turns a version as a user writes it ("1.36", "v1.36",
// "1.36.3", "v1.36.3") into a supported full version ("v1.36.3"). A minor
// resolves to the newest supported patch of it.
func (t Toolchain) ResolveKubernetes(v string) (string, error) {
	want := strings.TrimPrefix(strings.TrimSpace(v), "v")
	if want == "" {
		return "", errors.New("empty Kubernetes version")
	}
	resolved := ""
	for _, supported := range t.Versions.Kubernetes {
		full := strings.TrimPrefix(supported, "v")
		if full == want || strings.HasPrefix(full, want+".") {
			resolved = supported // oldest first: the last match is the newest patch
		}
	}
	if resolved == "" || strings.Count(want, ".") == 0 {
		return "", fmt.Errorf("unsupported Kubernetes version %q: local fleets run %s",
			v, strings.Join(t.Versions.Kubernetes, ", "))
	}
	return resolved, nil
}

// KubeAPIServer resolves v and returns the full version and the path of its
// kube-apiserver binary, or an error saying how to build it.
func (t Toolchain) KubeAPIServer(v string) (fullVersion, path string, err error) {
	fullVersion, err = t.ResolveKubernetes(v)
	if err != nil {
		return "", "", err
	}
	path, err = t.binary("kube-apiserver", fullVersion)
	return fullVersion, path, err
}

// Etcd returns the path of the etcd binary.
func (t Toolchain) Etcd() (string, error) { return t.binary("etcd", t.Versions.Etcd) }

// KubeControllerManager returns the path of the kube-controller-manager
// binary: the oldest supported version, which may serve every cluster since
// a controller manager may be older than its API server, never newer.
func (t Toolchain) KubeControllerManager() (string, error) {
	return t.binary("kube-controller-manager", t.OldestKubernetes())
}

// Kwok returns the path of the kwok binary.
func (t Toolchain) Kwok() (string, error) { return t.binary("kwok", t.Versions.Kwok) }

// Missing lists the local-fleet binaries that are not built yet, as paths.
func (t Toolchain) Missing() []string {
	var missing []string
	check := func(tool, v string) {
		if _, err := t.binary(tool, v); err != nil {
			missing = append(missing, t.path(tool, v))
		}
	}
	for _, v := range t.Versions.Kubernetes {
		check("kube-apiserver", v)
	}
	check("kube-controller-manager", t.OldestKubernetes())
	check("etcd", t.Versions.Etcd)
	check("kwok", t.Versions.Kwok)
	return missing
}

// MissingError is returned when a tool binary has not been built.
type MissingError struct {
	Tool, Version, Path string
}

func (e *MissingError) Error() string {
	return fmt.Sprintf("%s %s is not built (no executable at %s): run `make tools` (or hack/tools.sh) first",
		e.Tool, e.Version, e.Path)
}

func (t Toolchain) path(tool, v string) string {
	return filepath.Join(t.BinDir(), tool+"-"+v)
}

func (t Toolchain) binary(tool, v string) (string, error) {
	p := t.path(tool, v)
	info, err := os.Stat(p)
	if err != nil || info.IsDir() || info.Mode().Perm()&0o111 == 0 {
		return "", &MissingError{Tool: tool, Version: v, Path: p}
	}
	return p, nil
}
