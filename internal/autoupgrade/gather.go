package autoupgrade

import (
	"context"
	"fmt"
	"slices"

	"sigs.k8s.io/controller-runtime/pkg/client"

	fleetv1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/internal/rollout"
	"github.com/flotilla-dev/flotilla/internal/runinput"
	"github.com/flotilla-dev/flotilla/internal/upgrade"
)

// Gather reads what Decide needs from the hub and the members' providers:
// the members the profile's runs would cover (its strategy's, else all),
// their versions as the hub last observed them, what their providers offer,
// and the profile's runs. The controller and `flotilla autoupgradeprofile
// generate-update-run` both call it, so they decide alike.
func Gather(ctx context.Context, hub client.Reader, providers upgrade.Providers, p *fleetv1.AutoUpgradeProfile, forced bool) (Input, error) {
	in := Input{Profile: p.Name, Spec: p.Spec, Forced: forced}
	members := &fleetv1.MemberClusterList{}
	if err := hub.List(ctx, members); err != nil {
		return in, fmt.Errorf("listing members: %w", err)
	}
	covered, err := coveredMembers(ctx, hub, p, members.Items)
	if err != nil {
		return in, err
	}
	for i := range members.Items {
		m := &members.Items[i]
		if !covered[m.Name] {
			continue
		}
		in.Members = append(in.Members, offerOf(ctx, providers, p.Spec.Channel, m))
	}
	runs := &fleetv1.UpdateRunList{}
	if err := hub.List(ctx, runs); err != nil {
		return in, fmt.Errorf("listing update runs: %w", err)
	}
	names := map[string]bool{}
	for i := range runs.Items {
		run := &runs.Items[i]
		names[run.Name] = true
		if run.Labels[fleetv1.AutoUpgradeProfileLabel] == p.Name && Unfinished(run) {
			in.Unfinished = run.Name
		}
	}
	in.RunExists = func(name string) bool { return names[name] }
	return in, nil
}

// Unfinished reports whether a run has yet to start or is still moving: a
// profile generates no second run beside it.
func Unfinished(run *fleetv1.UpdateRun) bool {
	switch run.Status.State {
	case fleetv1.StateCompleted, fleetv1.StateFailed, fleetv1.StateStopped:
		return false
	}
	return true
}

// coveredMembers are the members the profile's runs would cover: those its
// strategy places in a group, or every member without a strategy.
func coveredMembers(ctx context.Context, hub client.Reader, p *fleetv1.AutoUpgradeProfile, items []fleetv1.MemberCluster) (map[string]bool, error) {
	strategy, err := runinput.Strategy(ctx, hub, &fleetv1.UpdateRun{Spec: fleetv1.UpdateRunSpec{UpdateStrategyName: p.Spec.UpdateStrategyName}})
	if err != nil {
		return nil, err
	}
	res, err := rollout.Resolve(*strategy, runinput.Members(items))
	if err != nil {
		return nil, fmt.Errorf("placing the members in the strategy's groups: %w", err)
	}
	out := map[string]bool{}
	for _, st := range res.Stages {
		for _, g := range st.Groups {
			for _, m := range g.Members {
				out[m] = true
			}
		}
	}
	return out, nil
}

// offerOf asks a member's provider what it offers the member.
func offerOf(ctx context.Context, providers upgrade.Providers, channel fleetv1.UpgradeChannel, m *fleetv1.MemberCluster) Member {
	v := upgrade.VersionsFromStatus(m.Status)
	out := Member{Name: m.Name, Version: v.ControlPlane, NodeImages: v.NodeImages}
	if m.Spec.Provider == nil {
		out.Excluded = "it has no upgrade provider (spec.provider)"
		return out
	}
	provider, err := providers.For(m.Spec.Provider)
	if err != nil {
		out.OfferError = err.Error()
		return out
	}
	access := upgrade.Member{Name: m.Name, Provider: *m.Spec.Provider}
	if channel != fleetv1.ChannelNodeImage {
		if out.Offered, err = provider.AvailableVersions(ctx, access); err != nil {
			out.OfferError = err.Error()
		}
		return out
	}
	if v.ControlPlane == "" {
		return out
	}
	offered, err := provider.NodeImages(ctx, access, v.ControlPlane)
	if err != nil {
		out.OfferError = err.Error()
		return out
	}
	out.NewestImages = newestPerOS(offered, upgrade.PoolOSes(m.Status))
	return out
}

// newestPerOS is the newest offered image (offered is oldest first) of each
// OS of the member's nodes, or of every OS when the nodes' OS is unknown.
func newestPerOS(offered []upgrade.NodeImage, oses []string) []string {
	newest := map[string]string{}
	var order []string
	for _, img := range offered {
		if _, seen := newest[img.OS]; !seen {
			order = append(order, img.OS)
		}
		newest[img.OS] = img.Version
	}
	var out []string
	for _, os := range order {
		if len(oses) == 0 || slices.Contains(oses, os) {
			out = append(out, newest[os])
		}
	}
	return out
}
