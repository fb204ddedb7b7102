package placement

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	placementv1 "github.com/flotilla-dev/flotilla/api/placement/v1"
	fleetv1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/internal/placement/override"
	"github.com/flotilla-dev/flotilla/internal/placement/scheduling"
)

// SpecHashAnnotation on a Work is the hash of the spec the hub last wrote,
// so an unchanged Work is not rewritten on every reconcile.
const SpecHashAnnotation = "fleet.flotilla.dev/spec-hash"

// bindingName is <placement>-<member>.
func bindingName(crp, member string) string { return crp + "-" + member }

// memberState is what the rollout did for one picked member, for status.
type memberState struct {
	decision scheduling.Decision
	binding  *fleetv1.ResourceBinding
	snapshot *fleetv1.ResourceSnapshot
	work     *fleetv1.Work
	// synced: the Work holds what the binding's snapshot and the current
	// overrides make of it.
	synced      bool
	overrides   override.Applied
	overrideErr error
}

// rolloutResult is the rollout's outcome.
type rolloutResult struct {
	members map[string]*memberState
	// recheckIn is when an applied member becomes available by time alone.
	recheckIn time.Duration
}

func (r *Reconciler) bindings(ctx context.Context, crp string) (map[string]*fleetv1.ResourceBinding, error) {
	list := &fleetv1.ResourceBindingList{}
	if err := r.Client.List(ctx, list, client.MatchingLabels{fleetv1.PlacementLabel: crp}); err != nil {
		return nil, err
	}
	out := map[string]*fleetv1.ResourceBinding{}
	for i := range list.Items {
		out[list.Items[i].Spec.TargetCluster] = &list.Items[i]
	}
	return out, nil
}

func (r *Reconciler) works(ctx context.Context, crp string) (map[string]*fleetv1.Work, error) {
	list := &fleetv1.WorkList{}
	if err := r.Client.List(ctx, list, client.MatchingLabels{fleetv1.PlacementLabel: crp}); err != nil {
		return nil, err
	}
	out := map[string]*fleetv1.Work{}
	for i := range list.Items {
		out[list.Items[i].Labels[fleetv1.MemberClusterLabel]] = &list.Items[i]
	}
	return out, nil
}

// rollout keeps bindings and Works in line with the scheduling decision.
//
// The rule: a member picked for the first time gets the newest snapshot at
// once. A member holding an older snapshot moves to the newest only while
// fewer than maxUnavailable picked members are unavailable. A member is
// unavailable from the moment its binding changes until its Work reports,
// for the binding's snapshot, Available=True, or Applied=True for at least
// unavailablePeriodSeconds. With strategy External, existing members are
// not moved. Override changes reach every member at once: they change no
// snapshot.
func (r *Reconciler) rollout(ctx context.Context, crp *placementv1.ClusterResourcePlacement, latest *fleetv1.ResourceSnapshot,
	decision scheduling.Result, bindings map[string]*fleetv1.ResourceBinding, works map[string]*fleetv1.Work,
	memberList []fleetv1.MemberCluster, now time.Time,
) (*rolloutResult, error) {
	res := &rolloutResult{members: map[string]*memberState{}}
	members := map[string]*fleetv1.MemberCluster{}
	for i := range memberList {
		members[memberList[i].Name] = &memberList[i]
	}
	snaps, err := r.snapshots(ctx, crp.Name)
	if err != nil {
		return nil, err
	}
	snapByName := map[string]*fleetv1.ResourceSnapshot{latest.Name: latest}
	for i := range snaps {
		snapByName[snaps[i].Name] = &snaps[i]
	}
	period := unavailablePeriod(crp)

	// Bindings first: create the new ones, then move old ones within budget.
	var behind []string
	unavailable := 0
	for _, d := range decision.Picked {
		st := &memberState{decision: d}
		res.members[d.Member] = st
		b := bindings[d.Member]
		switch {
		case b == nil:
			b = &fleetv1.ResourceBinding{
				ObjectMeta: metav1.ObjectMeta{
					Name:   bindingName(crp.Name, d.Member),
					Labels: map[string]string{fleetv1.PlacementLabel: crp.Name, fleetv1.MemberClusterLabel: d.Member},
				},
				Spec: fleetv1.ResourceBindingSpec{
					Placement: crp.Name, TargetCluster: d.Member, State: fleetv1.BindingBound,
					ResourceSnapshotName: latest.Name, Reason: d.Reason, Score: d.Score,
				},
			}
			if err := r.Client.Create(ctx, b); err != nil && !apierrors.IsAlreadyExists(err) {
				return nil, fmt.Errorf("creating binding %s: %w", b.Name, err)
			}
		case b.Spec.State != fleetv1.BindingBound || snapByName[b.Spec.ResourceSnapshotName] == nil ||
			b.Spec.Reason != d.Reason || b.Spec.Score != d.Score:
			// Re-picked while being removed, or its snapshot was pruned:
			// like a new member, it gets the newest at once.
			if b.Spec.State != fleetv1.BindingBound || snapByName[b.Spec.ResourceSnapshotName] == nil {
				b.Spec.ResourceSnapshotName = latest.Name
			}
			b.Spec.State, b.Spec.Reason, b.Spec.Score = fleetv1.BindingBound, d.Reason, d.Score
			if err := r.Client.Update(ctx, b); err != nil {
				return nil, fmt.Errorf("updating binding %s: %w", b.Name, err)
			}
		}
		st.binding = b
		if b.Spec.ResourceSnapshotName != latest.Name {
			behind = append(behind, d.Member)
		}
		avail, wait := available(b, works[d.Member], period, now)
		if !avail {
			unavailable++
			if wait > 0 && (res.recheckIn == 0 || wait < res.recheckIn) {
				res.recheckIn = wait
			}
		}
	}
	if crp.Spec.Strategy.Type != placementv1.ExternalRolloutStrategyType {
		budget := maxUnavailable(crp, len(decision.Picked))
		for _, name := range behind {
			st := res.members[name]
			avail, _ := available(st.binding, works[name], period, now)
			// Moving an unavailable member costs nothing more.
			if avail && unavailable >= budget {
				continue
			}
			st.binding.Spec.ResourceSnapshotName = latest.Name
			if err := r.Client.Update(ctx, st.binding); err != nil {
				return nil, fmt.Errorf("updating binding %s: %w", st.binding.Name, err)
			}
			if avail {
				unavailable++
			}
		}
	}

	// Then the Works of the bound members.
	overrides, err := r.overrides(ctx)
	if err != nil {
		return nil, err
	}
	for _, d := range decision.Picked {
		st := res.members[d.Member]
		st.snapshot = snapByName[st.binding.Spec.ResourceSnapshotName]
		st.work = works[d.Member]
		if err := r.syncWork(ctx, crp, st, members[d.Member], overrides); err != nil {
			return nil, err
		}
	}

	// Last, members no longer picked: Work first, binding when it is gone.
	for _, name := range sortedKeys(bindings) {
		if _, picked := res.members[name]; picked {
			continue
		}
		if err := r.unschedule(ctx, bindings[name], works[name], members); err != nil {
			return nil, err
		}
	}
	return res, nil
}

// available applies the rollout's availability rule; wait is how long
// until time alone makes an applied member available.
func available(b *fleetv1.ResourceBinding, w *fleetv1.Work, period time.Duration, now time.Time) (bool, time.Duration) {
	if b == nil || w == nil || w.Spec.ResourceSnapshotName != b.Spec.ResourceSnapshotName {
		return false, 0
	}
	if c := currentCondition(w, fleetv1.WorkAvailable); c != nil && c.Status == metav1.ConditionTrue {
		return true, 0
	}
	if c := currentCondition(w, fleetv1.WorkApplied); c != nil && c.Status == metav1.ConditionTrue {
		since := now.Sub(c.LastTransitionTime.Time)
		if since >= period {
			return true, 0
		}
		return false, period - since
	}
	return false, 0
}

// currentCondition is a Work condition the agent reported for the Work's
// current generation; an agent that leaves observedGeneration unset is
// trusted.
func currentCondition(w *fleetv1.Work, t string) *metav1.Condition {
	c := meta.FindStatusCondition(w.Status.Conditions, t)
	if c == nil || (c.ObservedGeneration != 0 && c.ObservedGeneration != w.Generation) {
		return nil
	}
	return c
}

func unavailablePeriod(crp *placementv1.ClusterResourcePlacement) time.Duration {
	if ru := crp.Spec.Strategy.RollingUpdate; ru != nil && ru.UnavailablePeriodSeconds != nil {
		return time.Duration(*ru.UnavailablePeriodSeconds) * time.Second
	}
	return 60 * time.Second
}

// maxUnavailable resolves the count or percentage of picked members, at
// least 1 so that a rollout always moves.
func maxUnavailable(crp *placementv1.ClusterResourcePlacement, picked int) int {
	v := intstr.FromString("25%")
	if ru := crp.Spec.Strategy.RollingUpdate; ru != nil && ru.MaxUnavailable != nil {
		v = *ru.MaxUnavailable
	}
	n, err := intstr.GetScaledValueFromIntOrPercent(&v, picked, false)
	if err != nil || n < 1 {
		return 1
	}
	return n
}

func (r *Reconciler) overrides(ctx context.Context) (override.Set, error) {
	var set override.Set
	cros := &placementv1.ClusterResourceOverrideList{}
	if err := r.Client.List(ctx, cros); err != nil {
		return set, err
	}
	ros := &placementv1.ResourceOverrideList{}
	if err := r.Client.List(ctx, ros); err != nil {
		return set, err
	}
	set.ClusterResourceOverrides, set.ResourceOverrides = cros.Items, ros.Items
	return set, nil
}

// syncWork writes the member's Work for its binding's snapshot.
func (r *Reconciler) syncWork(ctx context.Context, crp *placementv1.ClusterResourcePlacement, st *memberState,
	member *fleetv1.MemberCluster, overrides override.Set,
) error {
	if st.snapshot == nil {
		return nil
	}
	om := override.Member{Name: st.decision.Member}
	if member != nil {
		om.Labels, om.Properties = member.Labels, member.Status.Properties
	}
	spec := fleetv1.WorkSpec{
		Placement:            crp.Name,
		ResourceSnapshotName: st.snapshot.Name,
		ApplyStrategy:        crp.Spec.Strategy.ApplyStrategy,
		DeletionPolicy:       fleetv1.DeletionPolicyDelete,
	}
	if crp.Annotations[fleetv1.DeletionPolicyAnnotation] == string(fleetv1.DeletionPolicyAbandon) {
		spec.DeletionPolicy = fleetv1.DeletionPolicyAbandon
	}
	for i, raw := range st.snapshot.Spec.Resources {
		obj := &unstructured.Unstructured{}
		if err := obj.UnmarshalJSON(raw.Raw); err != nil {
			return fmt.Errorf("snapshot %s resource %d: %w", st.snapshot.Name, i, err)
		}
		out, applied, err := override.Apply(crp.Name, obj, om, overrides)
		st.overrides.Merge(applied)
		if err != nil {
			// A broken override stops this member's Work from changing:
			// better the last good copy than a half-overridden one.
			st.overrideErr = fmt.Errorf("%s %s: %w", obj.GetKind(), objectName(obj), err)
			return nil
		}
		if out == nil {
			continue
		}
		b, err := json.Marshal(out.Object)
		if err != nil {
			return err
		}
		spec.Manifests = append(spec.Manifests, runtime.RawExtension{Raw: b})
	}
	hash, err := specHash(&spec)
	if err != nil {
		return err
	}
	if st.work != nil && st.work.Annotations[SpecHashAnnotation] == hash {
		st.synced = true
		return nil
	}
	ns := fleetv1.MemberNamespace(st.decision.Member)
	if err := r.namespaces.ensure(ctx, r.Client, ns); err != nil {
		return err
	}
	if st.work == nil {
		w := &fleetv1.Work{
			ObjectMeta: metav1.ObjectMeta{
				Name: crp.Name, Namespace: ns,
				Labels:      map[string]string{fleetv1.PlacementLabel: crp.Name, fleetv1.MemberClusterLabel: st.decision.Member},
				Annotations: map[string]string{SpecHashAnnotation: hash},
			},
			Spec: spec,
		}
		if err := r.Client.Create(ctx, w); err != nil {
			if apierrors.IsAlreadyExists(err) {
				return nil
			}
			return fmt.Errorf("creating Work %s/%s: %w", ns, w.Name, err)
		}
		st.work, st.synced = w, true
		return nil
	}
	if !st.work.DeletionTimestamp.IsZero() {
		// Still being removed from an earlier unscheduling; recreate after.
		return nil
	}
	w := st.work.DeepCopy()
	w.Spec = spec
	if w.Annotations == nil {
		w.Annotations = map[string]string{}
	}
	w.Annotations[SpecHashAnnotation] = hash
	if err := r.Client.Update(ctx, w); err != nil {
		if apierrors.IsConflict(err) {
			return nil
		}
		return fmt.Errorf("updating Work %s/%s: %w", ns, w.Name, err)
	}
	st.work, st.synced = w, true
	return nil
}

func objectName(o *unstructured.Unstructured) string {
	if o.GetNamespace() != "" {
		return o.GetNamespace() + "/" + o.GetName()
	}
	return o.GetName()
}

func specHash(spec *fleetv1.WorkSpec) (string, error) {
	b, err := json.Marshal(spec)
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:]), nil
}

// unschedule removes a member's Work, then its binding once the agent has
// let the Work go (or at once when the member left the fleet).
func (r *Reconciler) unschedule(ctx context.Context, b *fleetv1.ResourceBinding, w *fleetv1.Work, members map[string]*fleetv1.MemberCluster) error {
	if b.Spec.State != fleetv1.BindingUnscheduled {
		b.Spec.State = fleetv1.BindingUnscheduled
		if err := r.Client.Update(ctx, b); err != nil {
			return client.IgnoreNotFound(err)
		}
	}
	gone, err := r.removeWork(ctx, w, memberLeft(members, b.Spec.TargetCluster))
	if err != nil || !gone {
		return err
	}
	return client.IgnoreNotFound(r.Client.Delete(ctx, b))
}

// removeWork deletes a Work; gone says it no longer exists. When the member
// left, nobody will clear the agent's finalizer, so the hub does.
func (r *Reconciler) removeWork(ctx context.Context, w *fleetv1.Work, memberLeft bool) (gone bool, _ error) {
	if w == nil {
		return true, nil
	}
	if w.DeletionTimestamp.IsZero() {
		if err := r.Client.Delete(ctx, w); err != nil {
			return apierrors.IsNotFound(err), client.IgnoreNotFound(err)
		}
	}
	if memberLeft && len(w.Finalizers) > 0 {
		patch := client.MergeFrom(w.DeepCopy())
		w.Finalizers = nil
		if err := r.Client.Patch(ctx, w, patch); err != nil {
			return apierrors.IsNotFound(err), client.IgnoreNotFound(err)
		}
		return true, nil
	}
	return len(w.Finalizers) == 0, nil
}

// namespaceSet remembers the member namespaces known to exist, so that a
// reconcile does not try to create them every time.
type namespaceSet struct{ known sync.Map }

func (s *namespaceSet) ensure(ctx context.Context, c client.Client, name string) error {
	if _, ok := s.known.Load(name); ok {
		return nil
	}
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}
	if err := c.Create(ctx, ns); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("creating namespace %s: %w", name, err)
	}
	s.known.Store(name, true)
	return nil
}
