package placement

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strconv"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	placementv1 "github.com/flotilla-dev/flotilla/api/placement/v1"
	fleetv1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/internal/placement/secretdata"
	"github.com/flotilla-dev/flotilla/internal/placement/selection"
)

// errNotCachedYet: a snapshot this controller just made is not in its
// cache yet; the snapshot's watch event brings the placement back.
var errNotCachedYet = errors.New("the newest snapshot is not cached yet")

// snapshots lists a placement's snapshots (their part 0), oldest first.
func (r *Reconciler) snapshots(ctx context.Context, crp string) ([]fleetv1.ResourceSnapshot, error) {
	all, err := r.snapshotParts(ctx, client.MatchingLabels{fleetv1.PlacementLabel: crp})
	if err != nil {
		return nil, err
	}
	var heads []fleetv1.ResourceSnapshot
	for _, s := range all {
		if s.Spec.Part == 0 {
			heads = append(heads, s)
		}
	}
	return heads, nil
}

// snapshotParts lists snapshot objects by label, by index and subindex.
func (r *Reconciler) snapshotParts(ctx context.Context, labels client.MatchingLabels) ([]fleetv1.ResourceSnapshot, error) {
	list := &fleetv1.ResourceSnapshotList{}
	if err := r.Client.List(ctx, list, labels); err != nil {
		return nil, fmt.Errorf("listing snapshots: %w", err)
	}
	sort.Slice(list.Items, func(i, j int) bool {
		a, b := list.Items[i].Spec, list.Items[j].Spec
		if a.Index != b.Index {
			return a.Index < b.Index
		}
		return a.Part < b.Part
	})
	return list.Items, nil
}

// partsOf lists the parts of the snapshot whose part 0 is head.
func (r *Reconciler) partsOf(ctx context.Context, head *fleetv1.ResourceSnapshot) ([]fleetv1.ResourceSnapshot, error) {
	return r.snapshotParts(ctx, client.MatchingLabels{
		fleetv1.PlacementLabel: head.Spec.Placement, fleetv1.SnapshotIndexLabel: strconv.Itoa(int(head.Spec.Index)),
	})
}

// ensureSnapshot returns the newest snapshot and those kept, first making
// a new one when the selection changed, then marks only the newest as
// latest and prunes beyond revisionHistoryLimit.
func (r *Reconciler) ensureSnapshot(ctx context.Context, crp *placementv1.ClusterResourcePlacement, sel *selection.Selection) (*fleetv1.ResourceSnapshot, []fleetv1.ResourceSnapshot, error) {
	snaps, err := r.snapshots(ctx, crp.Name)
	if err != nil {
		return nil, nil, err
	}
	same := false
	index := int32(0)
	if len(snaps) > 0 {
		latest := &snaps[len(snaps)-1]
		if same, err = r.sameSelection(ctx, latest, sel); err != nil {
			return nil, nil, err
		}
		index = latest.Spec.Index + 1
	}
	if !same {
		snap, err := r.createSnapshot(ctx, crp.Name, index, sel)
		if err != nil {
			return nil, nil, err
		}
		if r.Recorder != nil {
			r.Recorder.Eventf(crp, nil, corev1.EventTypeNormal, "ResourceSnapshotCreated", "Snapshot",
				"snapshot %s of %d resources in %d parts", snap.Name, len(sel.Objects), max(snap.Spec.Parts, 1))
		}
		snaps = append(snaps, *snap)
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
	// Older snapshots that hold Secret data in the open go at once: a
	// member still on one moves to the newest, as from a pruned one.
	kept := make([]fleetv1.ResourceSnapshot, 0, len(snaps)-pruned)
	for i := pruned; i < len(snaps); i++ {
		if i < len(snaps)-1 && holdsSecretData(&snaps[i]) {
			if err := r.deleteSnapshot(ctx, &snaps[i]); err != nil {
				return nil, nil, fmt.Errorf("deleting snapshot %s, which holds Secret data: %w", snaps[i].Name, err)
			}
			pruned++
			continue
		}
		kept = append(kept, snaps[i])
	}
	for i := range pruned {
		if err := r.deleteSnapshot(ctx, &snaps[i]); err != nil {
			return nil, nil, fmt.Errorf("pruning snapshot %s: %w", snaps[i].Name, err)
		}
	}
	if pruned > 0 || !same {
		if err := r.sweepSnapshotSecretData(ctx, crp.Name, kept); err != nil {
			return nil, nil, err
		}
	}
	return &kept[len(kept)-1], kept, nil
}

// sameSelection reports whether the snapshot holds what sel selected. A
// snapshot with Secrets does not keep sel's plain hash, which anyone who
// reads snapshots could check guessed Secret data against, but a keyed one
// whose key is in its Secret data.
func (r *Reconciler) sameSelection(ctx context.Context, snap *fleetv1.ResourceSnapshot, sel *selection.Selection) (bool, error) {
	if snap.Spec.SecretData == nil {
		// A snapshot written before Secret data was kept apart holds it:
		// it is replaced even when nothing changed.
		return snap.Spec.Hash == sel.Hash && !holdsSecretData(snap), nil
	}
	data, err := r.snapshotSecretData(ctx, snap)
	if apierrors.IsNotFound(err) {
		// Its Secret data is gone: the snapshot cannot be placed; a new
		// one replaces it.
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return secretdata.Keyed(data.salt, []byte(sel.Hash)) == snap.Spec.Hash, nil
}

// holdsSecretData reports whether a snapshot part 0 stores the data of a
// Secret among its resources, as snapshots written before Secret data was
// kept apart did.
func holdsSecretData(snap *fleetv1.ResourceSnapshot) bool {
	if snap.Spec.SecretData != nil {
		return false
	}
	for _, raw := range snap.Spec.Resources {
		if !bytes.Contains(raw.Raw, []byte(`"Secret"`)) {
			continue
		}
		obj := &unstructured.Unstructured{}
		if err := obj.UnmarshalJSON(raw.Raw); err != nil || !secretdata.IsSecret(obj) {
			continue
		}
		if entry, err := secretdata.Split(obj); err != nil || entry != nil {
			return true
		}
	}
	return false
}

// snapshotPiece is one selected object as a snapshot stores it.
type snapshotPiece struct {
	raw     []byte
	key     string
	payload json.RawMessage
}

func (p snapshotPiece) size() int { return len(p.raw) + len(p.payload) }

// createSnapshot writes snapshot index of a placement: its parts, each
// within the part budget, their Secret data first, part 0 last, so that a
// snapshot whose part 0 exists is complete.
func (r *Reconciler) createSnapshot(ctx context.Context, crp string, index int32, sel *selection.Selection) (*fleetv1.ResourceSnapshot, error) {
	name := snapshotName(crp, index)
	if err := r.apiReader().Get(ctx, client.ObjectKey{Name: name}, &fleetv1.ResourceSnapshot{}); err == nil {
		return nil, r.snapshotExists(ctx, crp, &fleetv1.ResourceSnapshot{
			ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: fleetv1.ResourceSnapshotSpec{Index: index},
		})
	} else if !apierrors.IsNotFound(err) {
		return nil, fmt.Errorf("reading snapshot %s: %w", name, err)
	}
	pieces := make([]snapshotPiece, 0, len(sel.Objects))
	hasSecrets := false
	for _, o := range sel.Objects {
		obj := o.DeepCopy()
		payload, err := secretdata.Split(obj)
		if err != nil {
			return nil, err
		}
		raw, err := json.Marshal(obj.Object)
		if err != nil {
			return nil, err
		}
		hasSecrets = hasSecrets || secretdata.IsSecret(obj)
		pieces = append(pieces, snapshotPiece{raw: raw, key: secretdata.Key(obj.GetNamespace(), obj.GetName()), payload: payload})
	}
	hash := sel.Hash
	var salt []byte
	if hasSecrets {
		var err error
		if salt, err = secretdata.NewSalt(); err != nil {
			return nil, err
		}
		hash = secretdata.Keyed(salt, []byte(sel.Hash))
	}
	sizes := make([]int, len(pieces))
	for i, p := range pieces {
		sizes[i] = p.size()
	}
	starts := splitBySize(sizes, r.partBudget())
	if err := r.namespaces.ensure(ctx, r.Client, r.fleetNamespace()); err != nil {
		return nil, err
	}
	var head *fleetv1.ResourceSnapshot
	for k := len(starts) - 1; k >= 0; k-- {
		end := len(pieces)
		if k+1 < len(starts) {
			end = starts[k+1]
		}
		part := &fleetv1.ResourceSnapshot{
			ObjectMeta: metav1.ObjectMeta{
				Name: snapshotPartName(crp, index, k),
				Labels: map[string]string{
					fleetv1.PlacementLabel:     crp,
					fleetv1.SnapshotIndexLabel: strconv.Itoa(int(index)),
				},
			},
			Spec: fleetv1.ResourceSnapshotSpec{Placement: crp, Index: index, Hash: hash, Part: int32(k)},
		}
		if k == 0 {
			part.Labels[fleetv1.LatestSnapshotLabel] = "true"
			part.Annotations = map[string]string{fleetv1.NumberOfSnapshotPartsAnnotation: strconv.Itoa(len(starts))}
			if len(starts) > 1 {
				part.Spec.Parts = int32(len(starts))
			}
		} else {
			part.Annotations = map[string]string{fleetv1.SnapshotPartAnnotation: strconv.Itoa(k)}
		}
		payload := secretdata.Payload{}
		for _, p := range pieces[starts[k]:end] {
			part.Spec.Resources = append(part.Spec.Resources, runtime.RawExtension{Raw: p.raw})
			if p.payload != nil {
				payload[p.key] = p.payload
			}
		}
		// Part 0 of a snapshot with Secrets always has Secret data: its
		// salt keys the snapshot's hash and the members' digests.
		if len(payload) > 0 || (k == 0 && hasSecrets) {
			ref := &fleetv1.SecretDataReference{Namespace: r.fleetNamespace(), Name: part.Name}
			labels := map[string]string{fleetv1.PlacementLabel: crp, fleetv1.SecretDataLabel: "snapshot", fleetv1.SnapshotIndexLabel: strconv.Itoa(int(index))}
			if err := r.writeSecretData(ctx, crp, ref.Namespace, ref.Name, labels, payload.SecretData(salt)); err != nil {
				return nil, err
			}
			part.Spec.SecretData = ref
		}
		if err := r.createSnapshotPart(ctx, crp, part); err != nil {
			return nil, err
		}
		if part.Spec.SecretData != nil && part.UID != "" {
			r.secretData.Store(part.UID, &snapshotData{payload: payload, salt: salt})
		}
		head = part
	}
	return head, nil
}

// createSnapshotPart creates one part. A part other than 0 found under its
// name is a leftover of a snapshot whose part 0 was never written (part 0
// was checked first): it is overwritten.
func (r *Reconciler) createSnapshotPart(ctx context.Context, crp string, part *fleetv1.ResourceSnapshot) error {
	err := r.Client.Create(ctx, part)
	if err == nil {
		return nil
	}
	if !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("creating snapshot %s: %w", part.Name, err)
	}
	if part.Spec.Part == 0 {
		return r.snapshotExists(ctx, crp, part)
	}
	found := &fleetv1.ResourceSnapshot{}
	if err := r.apiReader().Get(ctx, client.ObjectKeyFromObject(part), found); err != nil {
		return fmt.Errorf("reading snapshot %s: %w", part.Name, err)
	}
	if found.Labels[fleetv1.PlacementLabel] != crp || found.Spec.Index != part.Spec.Index || found.Spec.Part != part.Spec.Part {
		return &errNameTaken{kind: "snapshot", name: part.Name, by: ownerOf(found)}
	}
	found.Labels, found.Annotations, found.Spec = part.Labels, part.Annotations, part.Spec
	if err := r.Client.Update(ctx, found); err != nil {
		return fmt.Errorf("replacing the unfinished snapshot %s: %w", part.Name, err)
	}
	*part = *found
	return nil
}

// deleteSnapshot deletes all parts of a snapshot, part 0 last so that a
// failure leaves it to be pruned again, and their Secret data first.
func (r *Reconciler) deleteSnapshot(ctx context.Context, head *fleetv1.ResourceSnapshot) error {
	parts, err := r.partsOf(ctx, head)
	if err != nil {
		return err
	}
	sort.SliceStable(parts, func(i, j int) bool { return parts[i].Spec.Part > parts[j].Spec.Part })
	for i := range parts {
		p := &parts[i]
		if ref := p.Spec.SecretData; ref != nil {
			s := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ref.Namespace, Name: ref.Name}}
			if err := r.Client.Delete(ctx, s); client.IgnoreNotFound(err) != nil {
				return fmt.Errorf("deleting the Secret data of snapshot %s: %w", p.Name, err)
			}
		}
		r.secretData.Delete(p.UID)
		if err := r.Client.Delete(ctx, p); client.IgnoreNotFound(err) != nil {
			return fmt.Errorf("deleting snapshot %s: %w", p.Name, err)
		}
	}
	return nil
}

// snapshotContent is every resource of a snapshot, all parts, in apply
// order, Secrets with their data, and the snapshot's digest key (nil when
// it has no Secrets).
func (r *Reconciler) snapshotContent(ctx context.Context, head *fleetv1.ResourceSnapshot) ([]*unstructured.Unstructured, []byte, error) {
	parts, err := r.partsOf(ctx, head)
	if err != nil {
		return nil, nil, err
	}
	want := int(max(head.Spec.Parts, 1))
	if len(parts) != want {
		// Parts are written before part 0, so a missing one is not cached yet.
		return nil, nil, fmt.Errorf("%w: snapshot %s has %d of its %d parts", errStale, head.Name, len(parts), want)
	}
	var salt []byte
	var out []*unstructured.Unstructured
	for i := range parts {
		p := &parts[i]
		if int(p.Spec.Part) != i {
			return nil, nil, fmt.Errorf("%w: snapshot %s lacks part %d", errStale, head.Name, i)
		}
		var data *snapshotData
		if p.Spec.SecretData != nil {
			if data, err = r.snapshotSecretData(ctx, p); err != nil {
				return nil, nil, fmt.Errorf("reading the Secret data of snapshot %s: %w", p.Name, err)
			}
			if i == 0 {
				salt = data.salt
			}
		}
		for j, raw := range p.Spec.Resources {
			obj := &unstructured.Unstructured{}
			if err := obj.UnmarshalJSON(raw.Raw); err != nil {
				return nil, nil, fmt.Errorf("snapshot %s resource %d: %w", p.Name, j, err)
			}
			if data != nil && secretdata.IsSecret(obj) {
				if entry, ok := data.payload[secretdata.Key(obj.GetNamespace(), obj.GetName())]; ok {
					if err := secretdata.Join(obj, entry); err != nil {
						return nil, nil, err
					}
				}
			}
			out = append(out, obj)
		}
	}
	return out, salt, nil
}

// snapshotData is the Secret data of one snapshot part.
type snapshotData struct {
	payload secretdata.Payload
	salt    []byte
}

// snapshotSecretData reads a snapshot part's Secret data, once: snapshots
// do not change.
func (r *Reconciler) snapshotSecretData(ctx context.Context, part *fleetv1.ResourceSnapshot) (*snapshotData, error) {
	if d, ok := r.secretData.Load(part.UID); ok {
		return d.(*snapshotData), nil
	}
	ref := part.Spec.SecretData
	s := &corev1.Secret{}
	if err := r.apiReader().Get(ctx, client.ObjectKey{Namespace: ref.Namespace, Name: ref.Name}, s); err != nil {
		return nil, err
	}
	payload, salt, err := secretdata.FromSecretData(s.Data)
	if err != nil {
		return nil, fmt.Errorf("the Secret data %s/%s: %w", ref.Namespace, ref.Name, err)
	}
	d := &snapshotData{payload: payload, salt: salt}
	if part.UID != "" {
		r.secretData.Store(part.UID, d)
	}
	return d, nil
}

// sweepSnapshotSecretData deletes the placement's snapshot Secret data that
// no kept snapshot names: left by a snapshot deleted by hand, or by a
// snapshot whose writing failed halfway.
func (r *Reconciler) sweepSnapshotSecretData(ctx context.Context, crp string, kept []fleetv1.ResourceSnapshot) error {
	keep := map[string]bool{}
	for i := range kept {
		parts, err := r.partsOf(ctx, &kept[i])
		if err != nil {
			return err
		}
		// A part not cached yet must not lose its data: keep every name
		// the kept snapshots' parts may have.
		for k := range max(kept[i].Spec.Parts, 1) {
			keep[snapshotPartName(crp, kept[i].Spec.Index, int(k))] = true
		}
		for _, p := range parts {
			keep[p.Name] = true
		}
	}
	return r.sweepSecretData(ctx, r.fleetNamespace(), client.MatchingLabels{fleetv1.PlacementLabel: crp, fleetv1.SecretDataLabel: "snapshot"}, keep)
}

// sweepSecretData deletes the Secret data of a namespace matching labels
// whose name is not kept.
func (r *Reconciler) sweepSecretData(ctx context.Context, ns string, labels client.MatchingLabels, keep map[string]bool) error {
	list := &metav1.PartialObjectMetadataList{}
	list.SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind("SecretList"))
	if err := r.apiReader().List(ctx, list, client.InNamespace(ns), labels); err != nil {
		return fmt.Errorf("listing Secret data in %s: %w", ns, err)
	}
	for i := range list.Items {
		s := &list.Items[i]
		if keep[s.Name] {
			continue
		}
		if err := r.Client.Delete(ctx, s); client.IgnoreNotFound(err) != nil {
			return fmt.Errorf("deleting Secret data %s/%s: %w", ns, s.Name, err)
		}
	}
	return nil
}

// writeSecretData creates or updates a Secret holding placed Secrets' data.
// A Secret of that name that is not the placement's is never overwritten.
func (r *Reconciler) writeSecretData(ctx context.Context, crp, ns, name string, labels map[string]string, data map[string][]byte) error {
	s := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Labels: labels},
		Type:       SecretDataType,
		Data:       data,
	}
	err := r.Client.Create(ctx, s)
	if err == nil || !apierrors.IsAlreadyExists(err) {
		if err != nil {
			return fmt.Errorf("creating Secret data %s/%s: %w", ns, name, err)
		}
		return nil
	}
	found := &corev1.Secret{}
	if err := r.apiReader().Get(ctx, client.ObjectKeyFromObject(s), found); err != nil {
		return fmt.Errorf("reading Secret %s/%s: %w", ns, name, err)
	}
	if found.Labels[fleetv1.PlacementLabel] != crp || found.Labels[fleetv1.SecretDataLabel] == "" {
		return &errNameTaken{kind: "Secret", name: ns + "/" + name, by: ownerOf(found)}
	}
	found.Labels, found.Data = labels, data
	if err := r.Client.Update(ctx, found); err != nil {
		return fmt.Errorf("updating Secret data %s/%s: %w", ns, name, stale(err, false))
	}
	return nil
}

// SecretDataType is the type of the hub Secrets holding placed Secrets' data.
const SecretDataType corev1.SecretType = "fleet.flotilla.dev/secret-data"

// snapshotExists explains a snapshot create that met an existing one: ours,
// made by an earlier reconcile and not cached yet, or someone else's.
func (r *Reconciler) snapshotExists(ctx context.Context, crp string, snap *fleetv1.ResourceSnapshot) error {
	found := &fleetv1.ResourceSnapshot{}
	err := r.apiReader().Get(ctx, client.ObjectKeyFromObject(snap), found)
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

// splitBySize cuts a list of items of the given sizes, in order, into runs
// of at most budget bytes each (an item larger than the budget makes a run
// of its own) and returns where each run starts. An empty list is one
// empty run.
func splitBySize(sizes []int, budget int) []int {
	starts := []int{0}
	used := 0
	for i, s := range sizes {
		if used > 0 && used+s > budget {
			starts = append(starts, i)
			used = 0
		}
		used += s
	}
	return starts
}
