package updaterun

import (
	"context"
	"fmt"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	fleetv1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/internal/rollout"
	"github.com/flotilla-dev/flotilla/internal/upgrade"
)

// act carries out the engine's actions. Upgrades are started by the next
// observation (pollUpgrade), which is idempotent; here they are started at
// once so that no poll interval is lost. What fails here is logged and
// reported by the next observation, which retries it.
func (r *Reconciler) act(ctx context.Context, run *fleetv1.UpdateRun, members []fleetv1.MemberCluster, a rollout.Actions) error {
	log := ctrl.LoggerFrom(ctx)
	byName := map[string]*fleetv1.MemberCluster{}
	for i := range members {
		byName[members[i].Name] = &members[i]
	}
	recorded := memberStates(run)
	for _, s := range a.StartUpgrades {
		m, ok := byName[s.Member]
		p, started := recorded[s.Member]
		if !ok || !started || p.StartTime == nil {
			log.Info("not starting an upgrade the status does not record", "member", s.Member)
			continue
		}
		target, err := upgrade.TargetFor(ctx, r.Providers, upgrade.RequestOf(run), m)
		if err != nil {
			log.Error(err, "resolving the upgrade target; the next observation reports it", "member", s.Member)
			continue
		}
		if o := r.pollUpgrade(ctx, run, m, p, target); o.State == rollout.UpgradeFailed {
			log.Info("starting the upgrade failed; the next observation reports it", "member", s.Member, "message", o.Message)
		}
	}
	for _, c := range a.CancelUpgrades {
		if err := r.cancelUpgrade(ctx, run, byName[c.Member], recorded, c.Member); err != nil {
			log.Error(err, "cancelling an upgrade", "member", c.Member)
			r.Recorder.Eventf(run, nil, "Warning", "CancelFailed", "Cancel", "cancelling the upgrade of %s: %v", c.Member, err)
		}
	}
	for _, g := range a.Gates {
		if err := r.ensureGate(ctx, run, g); err != nil {
			return err
		}
	}
	for _, c := range a.RunChecks {
		r.checks.start(run, c, r.checkTargetFor(byName))
	}
	return nil
}

// cancelUpgrade stops the upgrade of a member the run gave up on.
func (r *Reconciler) cancelUpgrade(ctx context.Context, run *fleetv1.UpdateRun, m *fleetv1.MemberCluster, recorded map[string]fleetv1.MemberProgress, name string) error {
	p, ok := recorded[name]
	if m == nil || !ok || p.StartTime == nil {
		return nil // never started: nothing to cancel
	}
	if m.Spec.Provider == nil {
		return fmt.Errorf("member %s has no provider", name)
	}
	provider, err := r.Providers.For(m.Spec.Provider)
	if err != nil {
		return err
	}
	return provider.Cancel(ctx, operationID(run.Name, p), upgrade.Member{Name: m.Name, Provider: *m.Spec.Provider})
}

// ownedBy reports whether a gate belongs to this very run object, not to an
// earlier run of the same name.
func ownedBy(gate *fleetv1.Gate, run types.UID) bool {
	for _, o := range gate.OwnerReferences {
		if o.Kind == "UpdateRun" && o.UID == run {
			return true
		}
	}
	return false
}

// ensureGate creates the Gate object, or moves it to the engine's state. A
// gate of the same name left by an earlier run is replaced, never reused:
// its approval was given to that run.
func (r *Reconciler) ensureGate(ctx context.Context, run *fleetv1.UpdateRun, g rollout.EnsureGate) error {
	gate := &fleetv1.Gate{}
	err := r.Client.Get(ctx, client.ObjectKey{Name: g.Name}, gate)
	if err == nil && !ownedBy(gate, run.UID) {
		if err := r.Client.Delete(ctx, gate, client.Preconditions{UID: &gate.UID}); err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("deleting gate %s of an earlier run: %w", g.Name, err)
		}
		err = apierrors.NewNotFound(fleetv1.GroupVersion.WithResource("gates").GroupResource(), g.Name)
	}
	if apierrors.IsNotFound(err) {
		gate = &fleetv1.Gate{
			ObjectMeta: metav1.ObjectMeta{
				Name:   g.Name,
				Labels: map[string]string{fleetv1.UpdateRunLabel: run.Name},
				OwnerReferences: []metav1.OwnerReference{{
					APIVersion: fleetv1.GroupVersion.String(), Kind: "UpdateRun", Name: run.Name, UID: run.UID,
				}},
			},
			Spec: fleetv1.GateSpec{
				Type: g.Type, DisplayName: g.DisplayName, Schedule: g.Schedule, State: g.State,
				Target: fleetv1.GateTarget{UpdateRun: run.Name, Stage: g.Stage, Group: g.Group, Timing: g.Timing},
			},
		}
		if err := r.Client.Create(ctx, gate); err != nil {
			// AlreadyExists means the cache had not seen a gate created
			// meanwhile; the next step looks at it again.
			return fmt.Errorf("creating gate %s: %w", g.Name, err)
		}
		return nil
	}
	if err != nil {
		return fmt.Errorf("reading gate %s: %w", g.Name, err)
	}
	if gate.Spec.State == g.State || gate.Spec.State != fleetv1.GatePending {
		return nil
	}
	patch := client.MergeFrom(gate.DeepCopy())
	gate.Spec.State = g.State
	if err := r.Client.Patch(ctx, gate, patch); err != nil {
		return fmt.Errorf("updating gate %s: %w", g.Name, err)
	}
	statusPatch := client.MergeFrom(gate.DeepCopy())
	now := metav1.NewTime(r.now())
	gate.Status.CompletedTime = &now
	if err := r.Client.Status().Patch(ctx, gate, statusPatch); err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("recording when gate %s completed: %w", g.Name, err)
	}
	return nil
}

// deleteGatesOf deletes the gates labelled with a run's name that do not
// belong to the run object with UID keep ("" deletes them all).
func (r *Reconciler) deleteGatesOf(ctx context.Context, run string, keep types.UID) error {
	gates := &fleetv1.GateList{}
	if err := r.Client.List(ctx, gates, client.MatchingLabels{fleetv1.UpdateRunLabel: run}); err != nil {
		return fmt.Errorf("listing the gates of update run %s: %w", run, err)
	}
	for i := range gates.Items {
		g := &gates.Items[i]
		if keep != "" && ownedBy(g, keep) {
			continue
		}
		if err := r.Client.Delete(ctx, g, client.Preconditions{UID: &g.UID}); err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("deleting gate %s of update run %s: %w", g.Name, run, err)
		}
	}
	return nil
}
