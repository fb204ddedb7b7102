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
// the newest full version the member's provider offers, and the node images
// the run's node image selection picks for it.
func TargetFor(ctx context.Context, providers Providers, req Request, m *fleetv1.MemberCluster) (Target, error) {
	up := req.Upgrade
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
	if up.Type == fleetv1.UpgradeControlPlaneOnly {
		return t, nil
	}
	imagesFor := nodeImageVersion(t, m)
	offered, err := provider.NodeImages(ctx, access, imagesFor)
	if err != nil {
		return t, err
	}
	if len(offered) == 0 {
		if up.Type == fleetv1.UpgradeNodeImageOnly || req.Selection.Type == fleetv1.NodeImageCustom {
			// Without a target image every member would look up to date and
			// be skipped: an upgrade that silently does nothing.
			return t, fmt.Errorf("cannot determine a target node image: the member's %s provider offers none", m.Spec.Provider.Type)
		}
		return t, nil // a Full upgrade by a provider that knows no images: its own choice
	}
	t.NodeImages, err = SelectNodeImages(req.Selection, imagesFor, PoolOSes(m.Status), offered, req.Chosen)
	if err != nil {
		return t, err
	}
	if len(t.NodeImages) == 1 {
		t.NodeImage = t.NodeImages[0].Version
	}
	return t, nil
}

// nodeImageVersion is the Kubernetes version a member's new node images are
// for: the target's, or for NodeImageOnly the member's own.
func nodeImageVersion(t Target, m *fleetv1.MemberCluster) string {
	if t.KubernetesVersion != "" {
		return t.KubernetesVersion
	}
	return m.Status.KubernetesVersion
}

// ConsistentImages chooses the images of a Consistent run as it starts: for
// each OS and Kubernetes version among the members, the newest image that
// all of them are offered. Members whose target cannot be resolved are left
// out; they fail on their own reason.
func ConsistentImages(ctx context.Context, providers Providers, req Request, members []fleetv1.MemberCluster) []fleetv1.ChosenNodeImage {
	if req.Upgrade.Type == fleetv1.UpgradeControlPlaneOnly {
		return nil
	}
	latest := req
	latest.Selection = fleetv1.NodeImageSelection{Type: fleetv1.NodeImageLatest}
	var offers []MemberOffer
	for i := range members {
		m := &members[i]
		t, err := TargetFor(ctx, providers, latest, m)
		if err != nil {
			continue
		}
		provider, err := providers.For(m.Spec.Provider)
		if err != nil {
			continue
		}
		v := nodeImageVersion(t, m)
		offered, err := provider.NodeImages(ctx, Member{Name: m.Name, Provider: *m.Spec.Provider}, v)
		if err != nil || len(offered) == 0 {
			continue
		}
		offers = append(offers, MemberOffer{KubernetesVersion: v, OSes: PoolOSes(m.Status), Offered: offered})
	}
	return ConsistentNodeImages(offers)
}

// Assess tells the engine what it needs to know of a member before
// upgrading it, from the hub's last observation: its version, whether it is
// already at the target, and whether it may take the upgrade at all.
func Assess(ctx context.Context, providers Providers, req Request, m *fleetv1.MemberCluster) (Target, rollout.MemberObservation) {
	up := req.Upgrade
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
	target, err := TargetFor(ctx, providers, req, m)
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
// version as asked; for NodeImageOnly, the node images it selects.
func RunTarget(ctx context.Context, providers Providers, req Request, members []fleetv1.MemberCluster) string {
	up := req.Upgrade
	if up.Type == fleetv1.UpgradeNodeImageOnly {
		return nodeImageTarget(req)
	}
	agreed := ""
	for i := range members {
		t, err := TargetFor(ctx, providers, req, &members[i])
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

// nodeImageTarget names the images of a NodeImageOnly run: the image itself
// when the selection names one, else how they are picked.
func nodeImageTarget(req Request) string {
	switch req.Selection.Type {
	case fleetv1.NodeImageConsistent:
		if len(req.Chosen) == 1 {
			return req.Chosen[0].Version
		}
		return "node images chosen at start"
	case fleetv1.NodeImageCustom:
		if len(req.Selection.CustomNodeImageVersions) == 1 {
			return req.Selection.CustomNodeImageVersions[0].Version
		}
		return "custom node images"
	}
	return "latest node image"
}

// RerunSafe reports whether a member's provider may start an upgrade again
// when the hub replica that started it died without a trace of it: the
// Local provider converges on its target, the cloud providers set a
// desired version the cloud converges on, an Exec command is safe only
// when its author says so.
func RerunSafe(spec *fleetv1.ProviderSpec) bool {
	switch {
	case spec == nil:
		return false
	case spec.Type == fleetv1.ProviderExec:
		return spec.Exec != nil && spec.Exec.Idempotent
	}
	return true
}

// NeedsMemberCredentials reports whether a member's provider upgrades it
// with the member's own kubeconfig (a command that gets KUBECONFIG); the
// cloud providers reach the cloud instead, so a member the hub reaches
// only through its agent can still be upgraded by them.
func NeedsMemberCredentials(spec *fleetv1.ProviderSpec) bool {
	return spec != nil && (spec.Type == fleetv1.ProviderExec || spec.Type == fleetv1.ProviderLocal)
}
