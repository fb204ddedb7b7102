package upgrade

import (
	"context"
	"fmt"
	"sort"

	"k8s.io/apimachinery/pkg/util/version"

	fleetv1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/internal/rollout"
)

// TargetFor is the upgrade one member gets: the run's version resolved to
// the newest full version the member's provider offers, and the node image.
func TargetFor(ctx context.Context, providers Providers, up fleetv1.UpgradeSpec, m *fleetv1.MemberCluster) (Target, error) {
	t := Target{Type: up.Type, KubernetesVersion: NormalizeVersion(up.KubernetesVersion)}
	provider, err := providers.For(m.Spec.Provider)
	if err != nil {
		return t, err
	}
	access := Member{Name: m.Name, Provider: *m.Spec.Provider}
	if t.KubernetesVersion != "" {
		available, err := provider.AvailableVersions(ctx, access)
		if err != nil {
			return t, err
		}
		if available != nil {
			resolved := newestMatching(available, t.KubernetesVersion)
			if resolved == "" {
				return t, fmt.Errorf("the member's %s provider cannot reach %s (it offers %v)", m.Spec.Provider.Type, t.KubernetesVersion, available)
			}
			t.KubernetesVersion = resolved
		}
	}
	if up.Type != fleetv1.UpgradeControlPlaneOnly {
		imageFor := t.KubernetesVersion
		if imageFor == "" {
			imageFor = m.Status.KubernetesVersion
		}
		if t.NodeImage, err = provider.LatestNodeImage(ctx, access, imageFor); err != nil {
			return t, err
		}
	}
	if up.Type == fleetv1.UpgradeNodeImageOnly && t.NodeImage == "" {
		// Without a target image every member would look up to date and be
		// skipped: an upgrade that silently does nothing.
		return t, fmt.Errorf("cannot determine a target node image: the member's %s provider offers none", m.Spec.Provider.Type)
	}
	return t, nil
}

// Assess tells the engine what it needs to know of a member before
// upgrading it, from the hub's last observation: its version, whether it is
// already at the target, and whether it may take the upgrade at all.
func Assess(ctx context.Context, providers Providers, up fleetv1.UpgradeSpec, m *fleetv1.MemberCluster) (Target, rollout.MemberObservation) {
	obs := rollout.MemberObservation{Version: m.Status.KubernetesVersion}
	// Version safety speaks first: a downgrade is refused as a downgrade,
	// not as a version the provider does not offer.
	if want := NormalizeVersion(up.KubernetesVersion); want != "" && m.Status.KubernetesVersion != "" &&
		!rollout.SameVersion(m.Status.KubernetesVersion, want) {
		if err := rollout.CheckUpgrade(up.Type, m.Status.KubernetesVersion, want); err != nil {
			obs.Blocked = err.Error()
			return Target{Type: up.Type, KubernetesVersion: want}, obs
		}
	}
	target, err := TargetFor(ctx, providers, up, m)
	if err != nil {
		obs.Blocked = err.Error()
		return target, obs
	}
	if m.Status.KubernetesVersion == "" {
		// Never observed: neither at the target nor known to be unsafe.
		return target, obs
	}
	obs.AtTarget, _ = AtTarget(VersionsFromStatus(m.Status), target)
	if !obs.AtTarget {
		if err := rollout.CheckUpgrade(target.Type, m.Status.KubernetesVersion, target.KubernetesVersion); err != nil {
			obs.Blocked = err.Error()
		}
	}
	return target, obs
}

// NormalizeVersion writes a Kubernetes version with its leading v.
func NormalizeVersion(v string) string {
	if v == "" || v[0] == 'v' {
		return v
	}
	return "v" + v
}

// newestMatching picks the newest available version that the wanted one
// ("1.37" or "v1.37.2") names, or "" when none does.
func newestMatching(available []string, want string) string {
	var matches []*version.Version
	byVersion := map[string]string{}
	for _, a := range available {
		if !rollout.SameVersion(a, want) {
			continue
		}
		if v, err := version.ParseGeneric(a); err == nil {
			matches = append(matches, v)
			byVersion[v.String()] = a
		}
	}
	if len(matches) == 0 {
		return ""
	}
	sort.Slice(matches, func(i, j int) bool { return matches[i].LessThan(matches[j]) })
	return NormalizeVersion(byVersion[matches[len(matches)-1].String()])
}

// RunTarget is the target a run records for its members: the version every
// member resolves to when they agree (1.37 becomes v1.37.2), else the
// version as asked.
func RunTarget(ctx context.Context, providers Providers, up fleetv1.UpgradeSpec, members []fleetv1.MemberCluster) string {
	if up.Type == fleetv1.UpgradeNodeImageOnly {
		return "latest node image"
	}
	agreed := ""
	for i := range members {
		t, err := TargetFor(ctx, providers, up, &members[i])
		if err != nil {
			continue
		}
		if agreed != "" && agreed != t.KubernetesVersion {
			return NormalizeVersion(up.KubernetesVersion)
		}
		agreed = t.KubernetesVersion
	}
	if agreed == "" {
		return NormalizeVersion(up.KubernetesVersion)
	}
	return agreed
}

// RerunSafe reports whether a member's provider may start an upgrade again
// when the hub replica that started it died without a trace of it: the
// Local provider converges on its target, an Exec command only when its
// author says so.
func RerunSafe(spec *fleetv1.ProviderSpec) bool {
	switch {
	case spec == nil:
		return false
	case spec.Type == fleetv1.ProviderLocal:
		return true
	case spec.Type == fleetv1.ProviderExec:
		return spec.Exec != nil && spec.Exec.Idempotent
	}
	return false
}
