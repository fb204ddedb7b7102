package placement

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strconv"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	placementv1 "github.com/flotilla-dev/flotilla/api/placement/v1"
	fleetv1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/internal/placement/selection"
)

// errNotCachedYet: a snapshot this controller just made is not in its
// cache yet; the snapshot's watch event brings the placement back.
var errNotCachedYet = errors.New("the newest snapshot is not cached yet")

// snapshots lists a placement's snapshots, oldest first.
func (r *Reconciler) snapshots(ctx context.Context, crp string) ([]fleetv1.ResourceSnapshot, error) {
	list := &fleetv1.ResourceSnapshotList{}
	if err := r.Client.List(ctx, list, client.MatchingLabels{fleetv1.PlacementLabel: crp}); err != nil {
		return nil, fmt.Errorf("listing snapshots: %w", err)
	}
	sort.Slice(list.Items, func(i, j int) bool { return list.Items[i].Spec.Index < list.Items[j].Spec.Index })
	return list.Items, nil
}

// ensureSnapshot returns the newest snapshot and those kept, first making
// a new one when the selection changed, then marks only the newest as
// latest and prunes beyond revisionHistoryLimit.
func (r *Reconciler) ensureSnapshot(ctx context.Context, crp *placementv1.ClusterResourcePlacement, sel *selection.Selection) (*fleetv1.ResourceSnapshot, []fleetv1.ResourceSnapshot, error) {
	snaps, err := r.snapshots(ctx, crp.Name)
	if err != nil {
		return nil, nil, err
	}
	var latest *fleetv1.ResourceSnapshot
	if len(snaps) > 0 {
		latest = &snaps[len(snaps)-1]
	}
	if latest == nil || latest.Spec.Hash != sel.Hash {
		index := int32(0)
		if latest != nil {
			index = latest.Spec.Index + 1
		}
		snap := &fleetv1.ResourceSnapshot{
			ObjectMeta: metav1.ObjectMeta{
				Name: snapshotName(crp.Name, index),
				Labels: map[string]string{
					fleetv1.PlacementLabel:      crp.Name,
					fleetv1.SnapshotIndexLabel:  strconv.Itoa(int(index)),
					fleetv1.LatestSnapshotLabel: "true",
				},
			},
			Spec: fleetv1.ResourceSnapshotSpec{Placement: crp.Name, Index: index, Hash: sel.Hash},
		}
		for _, o := range sel.Objects {
			raw, err := json.Marshal(o.Object)
			if err != nil {
				return nil, nil, err
			}
			snap.Spec.Resources = append(snap.Spec.Resources, runtime.RawExtension{Raw: raw})
		}
		if err := r.Client.Create(ctx, snap); err != nil {
			if apierrors.IsAlreadyExists(err) {
				return nil, nil, r.snapshotExists(ctx, crp.Name, snap)
			}
			return nil, nil, fmt.Errorf("creating snapshot %s: %w", snap.Name, err)
		}
		if r.Recorder != nil {
			r.Recorder.Eventf(crp, nil, corev1.EventTypeNormal, "ResourceSnapshotCreated", "Snapshot",
				"snapshot %s of %d resources", snap.Name, len(sel.Objects))
		}
		snaps = append(snaps, *snap)
		latest = &snaps[len(snaps)-1]
	}
	for i := range snaps[:len(snaps)-1] {
		s := &snaps[i]
		if s.Labels[fleetv1.LatestSnapshotLabel] == "true" {
			patch := client.MergeFrom(s.DeepCopy())
			s.Labels[fleetv1.LatestSnapshotLabel] = "false"
			if err := r.Client.Patch(ctx, s, patch); client.IgnoreNotFound(err) != nil {
				return nil, nil, fmt.Errorf("unmarking snapshot %s as latest: %w", s.Name, err)
			}
		}
	}
	limit := 10
	if crp.Spec.RevisionHistoryLimit != nil {
		limit = int(*crp.Spec.RevisionHistoryLimit)
	}
	pruned := max(len(snaps)-limit, 0)
	for i := range pruned {
		if err := r.Client.Delete(ctx, &snaps[i]); client.IgnoreNotFound(err) != nil {
			return nil, nil, fmt.Errorf("pruning snapshot %s: %w", snaps[i].Name, err)
		}
	}
	return latest, snaps[pruned:], nil
}

// snapshotExists explains a snapshot create that met an existing one: ours,
// made by an earlier reconcile and not cached yet, or someone else's.
func (r *Reconciler) snapshotExists(ctx context.Context, crp string, snap *fleetv1.ResourceSnapshot) error {
	found := &fleetv1.ResourceSnapshot{}
	err := r.Client.Get(ctx, client.ObjectKeyFromObject(snap), found)
	switch {
	case apierrors.IsNotFound(err):
		return errNotCachedYet
	case err != nil:
		return fmt.Errorf("reading snapshot %s: %w", snap.Name, err)
	case found.Labels[fleetv1.PlacementLabel] == crp && found.Spec.Index == snap.Spec.Index:
		return errNotCachedYet
	default:
		return &errNameTaken{kind: "snapshot", name: snap.Name, by: ownerOf(found)}
	}
}
