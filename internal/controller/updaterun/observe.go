package updaterun

import (
	"context"
	"fmt"
	"sort"
	"strconv"

	"k8s.io/apimachinery/pkg/util/version"
	"sigs.k8s.io/controller-runtime/pkg/client"

	fleetv1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/internal/rollout"
	"github.com/flotilla-dev/flotilla/internal/upgrade"
)

// observe gathers what the engine needs to know: gates, health-check
// results, and for each member its versions, whether it may be upgraded, and
// the progress of its upgrade.
func (r *Reconciler) observe(ctx context.Context, run *fleetv1.UpdateRun, strategy *fleetv1.UpdateStrategySpec, members []fleetv1.MemberCluster) (rollout.Observations, error) {
	obs := rollout.Observations{
		Members: map[string]rollout.MemberObservation{},
		Gates:   map[string]fleetv1.GateState{},
		Checks:  r.checks.observed(run.Name),
	}
	gates := &fleetv1.GateList{}
	if err := r.Client.List(ctx, gates, client.MatchingLabels{RunLabel: run.Name}); err != nil {
		return obs, err
	}
	for _, g := range gates.Items {
		obs.Gates[g.Name] = g.Spec.State
	}
	held, err := r.heldByOtherRuns(ctx, run.Name)
	if err != nil {
		return obs, err
	}
	inRun := memberStates(run)
	for i := range members {
		m := &members[i]
		target, err := r.memberTarget(ctx, run, m)
		mo := rollout.MemberObservation{Version: m.Status.KubernetesVersion, HeldBy: held[m.Name]}
		if err != nil {
			mo.Blocked = err.Error()
			obs.Members[m.Name] = mo
			continue
		}
		mo.AtTarget, _ = upgrade.AtTarget(upgrade.VersionsFromStatus(m.Status), target)
		if m.Status.KubernetesVersion == "" {
			mo.AtTarget = false
		}
		if !mo.AtTarget {
			mo.Blocked = versionSafety(m, target)
		}
		if p, ok := inRun[m.Name]; ok && p.State == fleetv1.StateRunning && p.HealthChecks == nil && p.StartTime != nil {
			mo.Upgrade = r.pollUpgrade(ctx, run, m, p, target)
		}
		obs.Members[m.Name] = mo
	}
	return obs, nil
}

// memberStates indexes the run's recorded member progress by member name.
func memberStates(run *fleetv1.UpdateRun) map[string]fleetv1.MemberProgress {
	out := map[string]fleetv1.MemberProgress{}
	for _, st := range run.Status.Stages {
		for _, g := range st.Groups {
			for _, m := range g.Members {
				out[m.Name] = m
			}
		}
	}
	return out
}

// heldByOtherRuns maps each member that another run is upgrading right now
// to that run's name.
func (r *Reconciler) heldByOtherRuns(ctx context.Context, self string) (map[string]string, error) {
	runs := &fleetv1.UpdateRunList{}
	if err := r.Client.List(ctx, runs); err != nil {
		return nil, err
	}
	held := map[string]string{}
	for i := range runs.Items {
		other := &runs.Items[i]
		if other.Name == self {
			continue
		}
		for name, p := range memberStates(other) {
			if p.State == fleetv1.StateRunning {
				held[name] = other.Name
			}
		}
	}
	return held, nil
}

// memberTarget is the upgrade one member gets: the run's version, resolved
// to a full version the member's provider offers, and the node image.
func (r *Reconciler) memberTarget(ctx context.Context, run *fleetv1.UpdateRun, m *fleetv1.MemberCluster) (upgrade.Target, error) {
	up := run.Spec.ManagedClusterUpdate.Upgrade
	t := upgrade.Target{Type: up.Type, KubernetesVersion: normalizeVersion(up.KubernetesVersion)}
	provider, err := r.Providers.For(m.Spec.Provider)
	if err != nil {
		return t, err
	}
	access := upgrade.Member{Name: m.Name, Provider: *m.Spec.Provider}
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
	return t, nil
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
	return normalizeVersion(byVersion[matches[len(matches)-1].String()])
}

// versionSafety says why a member must not take this upgrade, or "".
func versionSafety(m *fleetv1.MemberCluster, t upgrade.Target) string {
	if m.Status.KubernetesVersion == "" {
		return ""
	}
	if err := rollout.CheckUpgrade(t.Type, m.Status.KubernetesVersion, t.KubernetesVersion); err != nil {
		return err.Error()
	}
	return ""
}

// operationID names one attempt at upgrading a member; the attempt's start
// time, recorded in the status before the upgrade starts, keeps it stable
// across hub restarts.
func operationID(run string, p fleetv1.MemberProgress) string {
	return upgrade.OperationID(run, p.Name) + "-" + strconv.FormatInt(p.StartTime.Unix(), 10)
}

// pollUpgrade makes sure the member's upgrade was started (a no-op when it
// was: a restart between recording and starting loses nothing) and reports
// its progress.
func (r *Reconciler) pollUpgrade(ctx context.Context, run *fleetv1.UpdateRun, m *fleetv1.MemberCluster, p fleetv1.MemberProgress, t upgrade.Target) rollout.UpgradeObservation {
	provider, err := r.Providers.For(m.Spec.Provider)
	if err != nil {
		return rollout.UpgradeObservation{State: rollout.UpgradeFailed, Message: err.Error()}
	}
	access, err := r.Members.For(ctx, m)
	if err != nil {
		return rollout.UpgradeObservation{State: rollout.UpgradeInProgress, Message: "waiting for the member's credentials: " + err.Error()}
	}
	member := upgrade.Member{Name: m.Name, Kubeconfig: access.Kubeconfig, Client: access.Client, Provider: *m.Spec.Provider}
	id := operationID(run.Name, p)
	if err := provider.Start(ctx, id, member, t); err != nil {
		return rollout.UpgradeObservation{State: rollout.UpgradeFailed, Message: "starting the upgrade: " + err.Error()}
	}
	progress, err := provider.Progress(ctx, id, member, t)
	if err != nil {
		return rollout.UpgradeObservation{State: rollout.UpgradeInProgress, Message: err.Error()}
	}
	state := rollout.UpgradeInProgress
	switch progress.Phase {
	case upgrade.PhaseSucceeded:
		state = rollout.UpgradeSucceeded
	case upgrade.PhaseFailed:
		state = rollout.UpgradeFailed
	}
	return rollout.UpgradeObservation{State: state, Message: progress.Message}
}
