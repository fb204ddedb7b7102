package updaterun

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
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
	req := upgrade.RequestOf(run)
	startRequest := run.Annotations[fleetv1.StartRequestAnnotation]
	resuming := startRequest != "" && startRequest != run.Status.LastStartRequest
	for i := range members {
		m := &members[i]
		target, mo := upgrade.Assess(ctx, r.Providers, req, m)
		mo.HeldBy = held[m.Name]
		if c := meta.FindStatusCondition(m.Status.Conditions, fleetv1.MemberReachable); c != nil && c.Status == metav1.ConditionFalse {
			mo.Unreachable = c.Reason + ": " + c.Message
			// An operator who resumes a run has usually just brought the
			// member back; the last probe can predate that.
			if _, ok := inRun[m.Name]; ok && resuming && r.liveReachable(ctx, m) {
				mo.Unreachable = ""
			}
		}
		if p, ok := inRun[m.Name]; ok && resuming && p.State == fleetv1.StateFailed && !mo.AtTarget && mo.Blocked == "" {
			mo.AtTarget = r.liveAtTarget(ctx, m, target)
		}
		if p, ok := inRun[m.Name]; ok && p.State == fleetv1.StateRunning && p.HealthChecks == nil && p.StartTime != nil {
			mo.Upgrade = r.pollUpgrade(ctx, run, m, p, target)
		}
		obs.Members[m.Name] = mo
	}
	for name, p := range inRun {
		if _, ok := obs.Members[name]; ok {
			continue
		}
		// Removed from the fleet after the run started: not reachable at
		// its turn (onUnreachableMember decides), and an upgrade in flight
		// can no longer be followed.
		mo := rollout.MemberObservation{Unreachable: "MemberClusterDeleted: the member was removed from the fleet after the run started"}
		if p.State == fleetv1.StateRunning {
			mo.Upgrade = rollout.UpgradeObservation{State: rollout.UpgradeFailed, Message: "the member was removed from the fleet during its upgrade"}
		}
		obs.Members[name] = mo
	}
	return obs, nil
}

// liveAtTarget asks a failed member itself whether it runs the target. Its
// upgrade may have gone through after all, its API server going away before
// the hub saw the result, and the hub's last probe can predate the upgrade:
// on that stale status a resumed run would upgrade it a second time.
func (r *Reconciler) liveAtTarget(ctx context.Context, m *fleetv1.MemberCluster, t upgrade.Target) bool {
	ctx, cancel := context.WithTimeout(ctx, liveVersionsTimeout)
	defer cancel()
	access, err := r.Members.For(ctx, m)
	if err != nil {
		return false
	}
	v, err := upgrade.ReadVersions(ctx, access.Client)
	if err != nil {
		return false
	}
	at, _ := upgrade.AtTarget(v, t)
	return at
}

// liveReachable asks a member's API server itself whether it answers.
func (r *Reconciler) liveReachable(ctx context.Context, m *fleetv1.MemberCluster) bool {
	ctx, cancel := context.WithTimeout(ctx, liveVersionsTimeout)
	defer cancel()
	access, err := r.Members.For(ctx, m)
	if err != nil {
		return false
	}
	_, err = access.Client.Discovery().RESTClient().Get().AbsPath("/readyz").DoRaw(ctx)
	return err == nil
}

// liveVersionsTimeout bounds asking a member for its versions on resume: an
// unreachable member is retried as before, not waited for.
const liveVersionsTimeout = 5 * time.Second

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
// time and number, recorded in the status before the upgrade starts, keep it
// stable across hub restarts.
func operationID(run string, p fleetv1.MemberProgress) string {
	id := upgrade.OperationID(run, p.Name) + "-" + strconv.FormatInt(p.StartTime.Unix(), 10)
	if p.Operation != nil && p.Operation.Attempt > 1 {
		id += "-a" + strconv.Itoa(int(p.Operation.Attempt))
	}
	return id
}

// startedElsewhere reports whether another hub instance started the
// member's current attempt.
func (r *Reconciler) startedElsewhere(p fleetv1.MemberProgress) bool {
	return p.Operation != nil && p.Operation.HubInstance != "" && p.Operation.HubInstance != r.Instance
}

// pollUpgrade makes sure the member's upgrade was started (a no-op when it
// was: a restart between recording and starting loses nothing) and reports
// its progress.
func (r *Reconciler) pollUpgrade(ctx context.Context, run *fleetv1.UpdateRun, m *fleetv1.MemberCluster, p fleetv1.MemberProgress, t upgrade.Target) rollout.UpgradeObservation {
	provider, err := r.Providers.For(m.Spec.Provider)
	if err != nil {
		return rollout.UpgradeObservation{State: rollout.UpgradeFailed, Message: err.Error()}
	}
	member := upgrade.Member{Name: m.Name, Provider: *m.Spec.Provider}
	access, err := r.Members.For(ctx, m)
	switch {
	case err == nil:
		member.Kubeconfig, member.Client = access.Kubeconfig, access.Client
	case upgrade.NeedsMemberCredentials(m.Spec.Provider):
		return rollout.UpgradeObservation{State: rollout.UpgradeInProgress, Message: "waiting for the member's credentials: " + err.Error()}
	}
	id := operationID(run.Name, p)
	if r.startedElsewhere(p) {
		// A failover: the attempt was started by a hub that is gone. Where
		// the provider still knows it (the cloud's own record, a shared
		// state dir), follow it; else never start it a second time blind.
		progress, err := provider.Progress(ctx, id, member, t)
		if err != nil {
			return rollout.UpgradeObservation{State: rollout.UpgradeInProgress, Message: err.Error()}
		}
		if progress.Phase == upgrade.PhaseNotStarted {
			return r.interrupted(m, p)
		}
		return observation(progress)
	}
	inProgress := func() bool {
		progress, err := provider.Progress(ctx, id, member, t)
		return err == nil && progress.Phase != upgrade.PhaseNotStarted
	}
	if refusal := r.preflightRefusal(ctx, run, m, p, access, t, id, inProgress); refusal != "" {
		return rollout.UpgradeObservation{State: rollout.UpgradeFailed, Message: refusal}
	}
	if err := provider.Start(ctx, id, member, t); err != nil {
		return rollout.UpgradeObservation{State: rollout.UpgradeFailed, Message: "starting the upgrade: " + err.Error()}
	}
	progress, err := provider.Progress(ctx, id, member, t)
	if err != nil {
		return rollout.UpgradeObservation{State: rollout.UpgradeInProgress, Message: err.Error()}
	}
	return observation(progress)
}

// interrupted is what becomes of an attempt a dead hub instance started
// and no provider record shows: re-run where that is safe, else a failure
// that tells the operator what to check.
func (r *Reconciler) interrupted(m *fleetv1.MemberCluster, p fleetv1.MemberProgress) rollout.UpgradeObservation {
	if upgrade.RerunSafe(m.Spec.Provider) {
		return rollout.UpgradeObservation{State: rollout.UpgradeInterrupted}
	}
	return rollout.UpgradeObservation{State: rollout.UpgradeFailed, Message: fmt.Sprintf(
		"the upgrade (attempt %d) was interrupted by a hub failover: hub instance %s started it at %s and is gone, and the member's provider is not marked idempotent, so it is not re-run; check the member's version and nodes, then resume with `flotilla updaterun start`",
		p.Operation.Attempt, p.Operation.HubInstance, p.Operation.StartedAt.UTC().Format(time.RFC3339))}
}

// observation turns a provider's report into the engine's.
func observation(progress upgrade.Progress) rollout.UpgradeObservation {
	state := rollout.UpgradeInProgress
	switch progress.Phase {
	case upgrade.PhaseSucceeded:
		state = rollout.UpgradeSucceeded
	case upgrade.PhaseFailed:
		state = rollout.UpgradeFailed
	}
	return rollout.UpgradeObservation{State: state, Message: progress.Message}
}
