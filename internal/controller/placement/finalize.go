package placement

import (
	"context"
	"fmt"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	placementv1 "github.com/flotilla-dev/flotilla/api/placement/v1"
	fleetv1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
)

// finalizePoll is how often a deleted placement looks for its Works to go
// when no Work event says so.
const finalizePoll = 2 * time.Second

// finalize removes what a deleted placement made: its Works (waiting for
// the agents to clean up unless the member left), bindings and snapshots,
// and then lets the placement go.
func (r *Reconciler) finalize(ctx context.Context, crp *placementv1.ClusterResourcePlacement) (reconcile.Result, error) {
	r.watches.forget(crp.Name)
	if !controllerutil.ContainsFinalizer(crp, placementv1.ClusterResourcePlacementCleanupFinalizer) {
		return reconcile.Result{}, nil
	}
	memberList := &fleetv1.MemberClusterList{}
	if err := r.Client.List(ctx, memberList); err != nil {
		return reconcile.Result{}, fmt.Errorf("listing members: %w", err)
	}
	members := map[string]*fleetv1.MemberCluster{}
	for i := range memberList.Items {
		members[memberList.Items[i].Name] = &memberList.Items[i]
	}
	heads, parts, err := r.works(ctx, crp.Name)
	if err != nil {
		return reconcile.Result{}, err
	}
	obs := &observed{works: heads, workParts: parts}
	byMember := map[string]bool{}
	for member := range heads {
		byMember[member] = true
	}
	for member := range parts {
		byMember[member] = true
	}
	remaining := 0
	for _, member := range sortedKeys(byMember) {
		gone, err := r.removeWorks(ctx, crp.Name, member, obs.memberWorks(member), memberLeft(members, member))
		if err != nil {
			return reconcile.Result{}, err
		}
		if !gone {
			remaining++
		}
	}
	bindings, err := r.bindings(ctx, crp.Name)
	if err != nil {
		return reconcile.Result{}, err
	}
	for i := range bindings {
		if err := r.Client.Delete(ctx, &bindings[i]); client.IgnoreNotFound(err) != nil {
			return reconcile.Result{}, fmt.Errorf("deleting binding %s: %w", bindings[i].Name, err)
		}
	}
	snaps, err := r.snapshots(ctx, crp.Name)
	if err != nil {
		return reconcile.Result{}, err
	}
	for i := range snaps {
		if err := r.deleteSnapshot(ctx, &snaps[i]); err != nil {
			return reconcile.Result{}, err
		}
	}
	// Parts whose part 0 is gone, and Secret data no snapshot names.
	leftovers, err := r.snapshotParts(ctx, client.MatchingLabels{fleetv1.PlacementLabel: crp.Name})
	if err != nil {
		return reconcile.Result{}, err
	}
	for i := range leftovers {
		if err := r.Client.Delete(ctx, &leftovers[i]); client.IgnoreNotFound(err) != nil {
			return reconcile.Result{}, fmt.Errorf("deleting snapshot %s: %w", leftovers[i].Name, err)
		}
	}
	if err := r.sweepSnapshotSecretData(ctx, crp.Name, nil); err != nil {
		return reconcile.Result{}, err
	}
	if remaining > 0 {
		return reconcile.Result{RequeueAfter: finalizePoll}, nil
	}
	controllerutil.RemoveFinalizer(crp, placementv1.ClusterResourcePlacementCleanupFinalizer)
	return reconcile.Result{}, client.IgnoreNotFound(r.Client.Update(ctx, crp))
}
