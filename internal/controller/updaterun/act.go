package updaterun

import (
	"context"
	"fmt"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	fleetv1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/internal/rollout"
	"github.com/flotilla-dev/flotilla/internal/upgrade"
)

// act carries out the engine's actions. Upgrades are started by the next
// observation (pollUpgrade), which is idempotent; here they are started at
// once so that no poll interval is lost.
func (r *Reconciler) act(ctx context.Context, run *fleetv1.UpdateRun, members []fleetv1.MemberCluster, a rollout.Actions) error {
	byName := map[string]*fleetv1.MemberCluster{}
	for i := range members {
		byName[members[i].Name] = &members[i]
	}
	recorded := memberStates(run)
	for _, s := range a.StartUpgrades {
		m, ok := byName[s.Member]
		p, started := recorded[s.Member]
		if !ok || !started || p.StartTime == nil {
			continue
		}
		target, err := upgrade.TargetFor(ctx, r.Providers, run.Spec.ManagedClusterUpdate.Upgrade, m)
		if err != nil {
			continue // the next observation reports it
		}
		_ = r.pollUpgrade(ctx, run, m, p, target)
	}
	for _, c := range a.CancelUpgrades {
		m, ok := byName[c.Member]
		p, recordedMember := recorded[c.Member]
		if !ok || !recordedMember || p.StartTime == nil || m.Spec.Provider == nil {
			continue
		}
		provider, err := r.Providers.For(m.Spec.Provider)
		if err != nil {
			continue
		}
		if err := provider.Cancel(ctx, operationID(run.Name, p), upgrade.Member{Name: m.Name, Provider: *m.Spec.Provider}); err != nil {
			r.Recorder.Eventf(run, nil, "Warning", "CancelFailed", "CancelUpgrade", "cancelling the upgrade of %s: %v", c.Member, err)
		}
	}
	for _, g := range a.Gates {
		if err := r.ensureGate(ctx, run, g); err != nil {
			return err
		}
	}
	for _, c := range a.RunChecks {
		r.checks.start(r.backgroundContext(), run, c, r.checkTargetFor(byName))
	}
	return nil
}

// ensureGate creates the Gate object, or moves it to the engine's state.
func (r *Reconciler) ensureGate(ctx context.Context, run *fleetv1.UpdateRun, g rollout.EnsureGate) error {
	gate := &fleetv1.Gate{}
	err := r.Client.Get(ctx, client.ObjectKey{Name: g.Name}, gate)
	if apierrors.IsNotFound(err) {
		gate = &fleetv1.Gate{
			ObjectMeta: metav1.ObjectMeta{
				Name:   g.Name,
				Labels: map[string]string{RunLabel: run.Name},
				OwnerReferences: []metav1.OwnerReference{{
					APIVersion: fleetv1.GroupVersion.String(), Kind: "UpdateRun", Name: run.Name, UID: run.UID,
				}},
			},
			Spec: fleetv1.GateSpec{
				Type: g.Type, DisplayName: g.DisplayName, Schedule: g.Schedule, State: g.State,
				Target: fleetv1.GateTarget{UpdateRun: run.Name, Stage: g.Stage, Group: g.Group, Timing: g.Timing},
			},
		}
		if err := r.Client.Create(ctx, gate); err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("creating gate %s: %w", g.Name, err)
		}
		return nil
	}
	if err != nil {
		return err
	}
	if gate.Spec.State == g.State || gate.Spec.State != fleetv1.GatePending {
		return nil
	}
	patch := client.MergeFrom(gate.DeepCopy())
	gate.Spec.State = g.State
	now := metav1.Now()
	if err := r.Client.Patch(ctx, gate, patch); err != nil {
		return fmt.Errorf("updating gate %s: %w", g.Name, err)
	}
	statusPatch := client.MergeFrom(gate.DeepCopy())
	gate.Status.CompletedTime = &now
	return client.IgnoreNotFound(r.Client.Status().Patch(ctx, gate, statusPatch))
}
