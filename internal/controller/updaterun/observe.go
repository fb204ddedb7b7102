package updaterun

import (
	"context"
	"fmt"
	"strconv"

	"sigs.k8s.io/controller-runtime/pkg/client"

	fleetv1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/internal/rollout"
	"github.com/flotilla-dev/flotilla/internal/upgrade"
)

// observe gathers what the engine needs to know: gates, health-check
// results, and for each member its versions, whether it may be upgraded, and
// the progress of its upgrade.
func (r *Reconciler) observe(ctx context.Context, run *fleetv1.UpdateRun, members []fleetv1.MemberCluster) (rollout.Observations, error) {
	obs := rollout.Observations{
		Members: map[string]rollout.MemberObservation{},
		Gates:   map[string]fleetv1.GateState{},
		Checks:  r.checks.observed(run.Name),
	}
	gates := &fleetv1.GateList{}
	if err := r.Client.List(ctx, gates, client.MatchingLabels{fleetv1.UpdateRunLabel: run.Name}); err != nil {
		return obs, fmt.Errorf("listing the gates of update run %s: %w", run.Name, err)
	}
	for i := range gates.Items {
		// A gate approved for an earlier run of the same name does not count.
		if g := &gates.Items[i]; ownedBy(g, run.UID) {
			obs.Gates[g.Name] = g.Spec.State
		}
	}
	held, err := r.heldByOtherRuns(ctx, run.Name)
	if err != nil {
		return obs, err
	}
	inRun := memberStates(run)
	for i := range members {
		m := &members[i]
		target, mo := upgrade.Assess(ctx, r.Providers, run.Spec.ManagedClusterUpdate.Upgrade, m)
		mo.HeldBy = held[m.Name]
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
		return nil, fmt.Errorf("listing update runs: %w", err)
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
