// Package preflight finds what on a member still uses an API that a target
// Kubernetes release removes: before a control plane moves to a new minor,
// the member's own record of requests to deprecated APIs, stored objects
// last applied through a removed apiVersion, and Helm release manifests
// that use one. Which APIs go in which release comes from the Kubernetes
// API packages' own lifecycle data (their generated APILifecycleRemoved
// methods), not a hand-typed list.
package preflight

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/version"
	"k8s.io/client-go/kubernetes/scheme"
)

// Release is a Kubernetes minor release.
type Release struct{ Major, Minor int }

func (r Release) String() string { return fmt.Sprintf("%d.%d", r.Major, r.Minor) }

// before reports whether r comes before o.
func (r Release) before(o Release) bool {
	return r.Major < o.Major || (r.Major == o.Major && r.Minor < o.Minor)
}

// ParseRelease reads "1.37", "v1.37.2" or "1.37.0-rc.1" as its minor release.
func ParseRelease(v string) (Release, error) {
	parts := strings.SplitN(strings.TrimPrefix(v, "v"), ".", 3)
	if len(parts) < 2 {
		return Release{}, fmt.Errorf("%q is not a Kubernetes version", v)
	}
	major, err := strconv.Atoi(parts[0])
	if err != nil {
		return Release{}, fmt.Errorf("%q is not a Kubernetes version", v)
	}
	minor, err := strconv.Atoi(strings.SplitN(parts[1], "-", 2)[0])
	if err != nil {
		return Release{}, fmt.Errorf("%q is not a Kubernetes version", v)
	}
	return Release{Major: major, Minor: minor}, nil
}

// MovesMinor reports whether an upgrade from version from to version to
// changes the minor release: the only upgrades that can remove APIs.
// Versions that cannot be read move nothing.
func MovesMinor(from, to string) bool {
	f, err := ParseRelease(from)
	if err != nil {
		return false
	}
	t, err := ParseRelease(to)
	return err == nil && f != t
}

// RemovedAPI is a kind in a group/version that a release stops serving.
type RemovedAPI struct {
	schema.GroupVersionKind
	Removed Release
	// Replacement is the kind's successor, where the API names one.
	Replacement schema.GroupVersionKind
}

// lifecycle is what the generated prerelease-lifecycle code adds to the
// Kubernetes API types.
type lifecycle interface {
	APILifecycleRemoved() (major, minor int)
}

type replaced interface {
	APILifecycleReplacement() schema.GroupVersionKind
}

// BuiltinRemovedAPIs are the built-in APIs with a removal release, from the
// API types' own lifecycle data, sorted by group, version and kind.
func BuiltinRemovedAPIs() []RemovedAPI {
	var out []RemovedAPI
	for gvk := range scheme.Scheme.AllKnownTypes() {
		if strings.HasSuffix(gvk.Kind, "List") || gvk.Version == "__internal" {
			continue
		}
		obj, err := scheme.Scheme.New(gvk)
		if err != nil {
			continue
		}
		l, ok := obj.(lifecycle)
		if !ok {
			continue
		}
		major, minor := l.APILifecycleRemoved()
		if major == 0 {
			continue
		}
		api := RemovedAPI{GroupVersionKind: gvk, Removed: Release{Major: major, Minor: minor}}
		if r, ok := obj.(replaced); ok {
			api.Replacement = r.APILifecycleReplacement()
		}
		out = append(out, api)
	}
	for i := range out {
		if out[i].Replacement.Empty() {
			out[i].Replacement = successor(out[i])
		}
	}
	slices.SortFunc(out, func(a, b RemovedAPI) int {
		return strings.Compare(a.GroupVersionKind.String(), b.GroupVersionKind.String())
	})
	return out
}

// successor is, for an API whose lifecycle data names no replacement (a
// beta that graduated), the highest version of the same group that serves
// the kind and is not removed by the same release.
func successor(a RemovedAPI) schema.GroupVersionKind {
	var best schema.GroupVersionKind
	for _, v := range scheme.Scheme.VersionsForGroupKind(a.GroupKind()) {
		if v.Version == a.Version || v.Version == "__internal" {
			continue
		}
		gvk := v.WithKind(a.Kind)
		obj, err := scheme.Scheme.New(gvk)
		if err != nil {
			continue
		}
		if l, ok := obj.(lifecycle); ok {
			if major, minor := l.APILifecycleRemoved(); major != 0 && !a.Removed.before(Release{major, minor}) {
				continue
			}
		}
		if best.Empty() || version.CompareKubeAwareVersionStrings(gvk.Version, best.Version) > 0 {
			best = gvk
		}
	}
	return best
}

// RemovedBetween are the APIs of apis that a move from release from to
// release to removes: still served on from, gone on to.
func RemovedBetween(apis []RemovedAPI, from, to Release) []RemovedAPI {
	var out []RemovedAPI
	for _, a := range apis {
		if from.before(a.Removed) && !to.before(a.Removed) {
			out = append(out, a)
		}
	}
	return out
}
