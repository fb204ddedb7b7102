package placement

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	placementv1 "github.com/flotilla-dev/flotilla/api/placement/v1"
	fleetv1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/internal/placement/override"
	"github.com/flotilla-dev/flotilla/internal/placement/rolloutplan"
	"github.com/flotilla-dev/flotilla/internal/placement/scheduling"
	"github.com/flotilla-dev/flotilla/internal/placement/secretdata"
)

// SpecHashAnnotation on a Work is the hash of the spec the hub last wrote,
// so an unchanged Work is not rewritten on every reconcile.
const SpecHashAnnotation = "fleet.flotilla.dev/spec-hash"

// memberState is what the rollout did for one picked member, for status.
type memberState struct {
	decision scheduling.Decision
	binding  *fleetv1.ResourceBinding
	snapshot *fleetv1.ResourceSnapshot
	work     *fleetv1.Work
	// parts are the Work's other parts, when it has some.
	parts []*fleetv1.Work
	// synced: the Work holds what the binding's snapshot and the current
	// overrides make of it.
	synced      bool
	overrides   override.Applied
	overrideErr error
	// rolloutErr: the member's binding could not be written.
	rolloutErr error
	// syncErr: the member's Work could not be written.
	syncErr error
}

// rolloutResult is the rollout's outcome.
type rolloutResult struct {
	members map[string]*memberState
	// recheckIn is when an applied member becomes available by time alone.
	recheckIn time.Duration
	// retrySoon: a write met an object newer than our cache's copy; the
	// placement is looked at again shortly.
	retrySoon bool
	// removalErrs are failures to remove what members no longer picked
	// hold, and duplicate bindings.
	removalErrs []error
	log         logr.Logger
}

// errStale marks a write that lost a race with a change the cache has not
// caught up with yet: not a failure, only a reason to look again.
var errStale = errors.New("the cached copy is behind")

// stale wraps conflicts (and, for updates, a vanished object) as errStale.
func stale(err error, notFoundToo bool) error {
	if apierrors.IsConflict(err) || notFoundToo && apierrors.IsNotFound(err) {
		return fmt.Errorf("%w: %w", errStale, err)
	}
	return err
}

// failure keeps err unless it only says the cache is behind.
func (res *rolloutResult) failure(err error) error {
	if errors.Is(err, errStale) {
		res.log.V(1).Info("looking again shortly", "reason", err.Error())
		res.retrySoon = true
		return nil
	}
	return err
}

// err is every failure of the rollout, for the reconcile's result.
func (res *rolloutResult) err() error {
	errs := append([]error(nil), res.removalErrs...)
	for _, name := range sortedKeys(res.members) {
		st := res.members[name]
		errs = append(errs, st.rolloutErr, st.syncErr)
	}
	return errors.Join(errs...)
}

// observed is what a reconcile read before it decided anything.
type observed struct {
	members   []fleetv1.MemberCluster
	bindings  []fleetv1.ResourceBinding
	works     map[string]*fleetv1.Work // part 0, by member
	workParts map[string][]*fleetv1.Work
	overrides override.Set
}

// observe reads the members, the placement's bindings and Works, and the
// overrides.
func (r *Reconciler) observe(ctx context.Context, crp string) (*observed, error) {
	obs := &observed{}
	members := &fleetv1.MemberClusterList{}
	if err := r.Client.List(ctx, members); err != nil {
		return nil, fmt.Errorf("listing members: %w", err)
	}
	obs.members = members.Items
	var err error
	if obs.bindings, err = r.bindings(ctx, crp); err != nil {
		return nil, err
	}
	if obs.works, obs.workParts, err = r.works(ctx, crp); err != nil {
		return nil, err
	}
	if obs.overrides, err = r.overrides(ctx); err != nil {
		return nil, err
	}
	return obs, nil
}

func (r *Reconciler) bindings(ctx context.Context, crp string) ([]fleetv1.ResourceBinding, error) {
	list := &fleetv1.ResourceBindingList{}
	if err := r.Client.List(ctx, list, client.MatchingLabels{fleetv1.PlacementLabel: crp}); err != nil {
		return nil, fmt.Errorf("listing bindings: %w", err)
	}
	return list.Items, nil
}

// works lists a placement's Works: part 0 by member, and the other parts
// by member in subindex order.
func (r *Reconciler) works(ctx context.Context, crp string) (map[string]*fleetv1.Work, map[string][]*fleetv1.Work, error) {
	list := &fleetv1.WorkList{}
	if err := r.Client.List(ctx, list, client.MatchingLabels{fleetv1.PlacementLabel: crp}); err != nil {
		return nil, nil, fmt.Errorf("listing Works: %w", err)
	}
	heads, parts := map[string]*fleetv1.Work{}, map[string][]*fleetv1.Work{}
	for i := range list.Items {
		w := &list.Items[i]
		member := w.Labels[fleetv1.MemberClusterLabel]
		if w.Spec.Part != nil && w.Spec.Part.Index > 0 {
			parts[member] = append(parts[member], w)
			continue
		}
		heads[member] = w
	}
	for _, ps := range parts {
		sort.Slice(ps, func(i, j int) bool { return ps[i].Spec.Part.Index < ps[j].Spec.Part.Index })
	}
	return heads, parts, nil
}

// memberWorks is every Work of a placement for one member.
func (obs *observed) memberWorks(member string) []*fleetv1.Work {
	var out []*fleetv1.Work
	if w := obs.works[member]; w != nil {
		out = append(out, w)
	}
	return append(out, obs.workParts[member]...)
}

func (r *Reconciler) overrides(ctx context.Context) (override.Set, error) {
	var set override.Set
	cros := &placementv1.ClusterResourceOverrideList{}
	if err := r.Client.List(ctx, cros); err != nil {
		return set, fmt.Errorf("listing ClusterResourceOverrides: %w", err)
	}
	ros := &placementv1.ResourceOverrideList{}
	if err := r.Client.List(ctx, ros); err != nil {
		return set, fmt.Errorf("listing ResourceOverrides: %w", err)
	}
	set.ClusterResourceOverrides, set.ResourceOverrides = cros.Items, ros.Items
	return set, nil
}

// rollout asks rolloutplan what to do with the bindings (the rules are
// there) and does it: bindings first, then the Works of the picked
// members, then the removal of members no longer picked. A failure for one
// member is recorded for its status and does not stop the others.
func (r *Reconciler) rollout(ctx context.Context, crp *placementv1.ClusterResourcePlacement, latest *fleetv1.ResourceSnapshot,
	snapshots []fleetv1.ResourceSnapshot, decision scheduling.Result, obs *observed, log logr.Logger, now time.Time,
) *rolloutResult {
	snapByName := map[string]*fleetv1.ResourceSnapshot{}
	snapByIndex := map[int32]*fleetv1.ResourceSnapshot{}
	for i := range snapshots {
		s := &snapshots[i]
		snapByName[s.Name], snapByIndex[s.Spec.Index] = s, s
	}
	snapByName[latest.Name], snapByIndex[latest.Spec.Index] = latest, latest
	indexOf := func(name string) int32 {
		if s, ok := snapByName[name]; ok {
			return s.Spec.Index
		}
		return rolloutplan.NoSnapshot
	}

	in := rolloutplan.Input{Strategy: crp.Spec.Strategy, LatestIndex: latest.Spec.Index, Now: now, Works: map[string]rolloutplan.Work{}}
	decisions := map[string]scheduling.Decision{}
	for _, d := range decision.Picked {
		decisions[d.Member] = d
		in.Picked = append(in.Picked, rolloutplan.Pick{Member: d.Member, Reason: d.Reason, Score: d.Score})
	}
	byName := map[string]*fleetv1.ResourceBinding{}
	for i := range obs.bindings {
		b := &obs.bindings[i]
		byName[b.Name] = b
		in.Bindings = append(in.Bindings, rolloutplan.Binding{
			Name: b.Name, Member: b.Spec.TargetCluster, State: b.Spec.State,
			SnapshotIndex: indexOf(b.Spec.ResourceSnapshotName), Reason: b.Spec.Reason, Score: b.Spec.Score,
		})
	}
	for member, w := range obs.works {
		in.Works[member] = workFacts(w, obs.workParts[member], indexOf)
	}
	plan := rolloutplan.Make(in)

	res := &rolloutResult{members: map[string]*memberState{}, recheckIn: plan.RecheckAfter, log: log}
	members := map[string]*fleetv1.MemberCluster{}
	for i := range obs.members {
		members[obs.members[i].Name] = &obs.members[i]
	}
	for _, name := range plan.Duplicates {
		if err := client.IgnoreNotFound(r.Client.Delete(ctx, byName[name])); err != nil {
			res.removalErrs = append(res.removalErrs, fmt.Errorf("deleting duplicate binding %s: %w", name, err))
		}
	}
	for _, t := range plan.Targets {
		st := &memberState{decision: decisions[t.Member]}
		res.members[t.Member] = st
		st.binding, st.rolloutErr = r.writeBinding(ctx, crp.Name, t, byName[t.Name], snapByIndex[t.SnapshotIndex], res)
	}
	for _, t := range plan.Targets {
		st := res.members[t.Member]
		if st.binding != nil {
			st.snapshot = snapByName[st.binding.Spec.ResourceSnapshotName]
		}
		st.work, st.parts = obs.works[t.Member], currentParts(obs.works[t.Member], obs.workParts[t.Member])
		st.syncErr = res.failure(r.syncWork(ctx, crp, st, members[t.Member], obs.overrides, obs.workParts[t.Member]))
	}
	for _, rm := range plan.Removals {
		err := r.unschedule(ctx, byName[rm.Name], rm.MarkUnscheduled, obs.memberWorks(rm.Member), memberLeft(members, rm.Member))
		if err = res.failure(err); err != nil {
			res.removalErrs = append(res.removalErrs, fmt.Errorf("removing from member %s: %w", rm.Member, err))
		}
	}
	return res
}

// workFacts is what the rollout needs of a member's Works: their snapshot
// and the agent's conditions for their current generation, all parts
// taken together.
func workFacts(w *fleetv1.Work, parts []*fleetv1.Work, indexOf func(string) int32) rolloutplan.Work {
	f := rolloutplan.Work{SnapshotIndex: indexOf(w.Spec.ResourceSnapshotName)}
	set := append([]*fleetv1.Work{w}, currentParts(w, parts)...)
	if c := setCondition(set, fleetv1.WorkApplied); c != nil {
		f.Applied = rolloutplan.Condition{Status: c.Status, Since: c.LastTransitionTime.Time}
	}
	if c := setCondition(set, fleetv1.WorkAvailable); c != nil {
		f.Available = rolloutplan.Condition{Status: c.Status, Since: c.LastTransitionTime.Time}
	}
	return f
}

// currentParts are the parts other than 0 that belong with part 0 w (the
// same token), nil when some are missing.
func currentParts(w *fleetv1.Work, parts []*fleetv1.Work) []*fleetv1.Work {
	if w == nil || w.Spec.Part == nil {
		return nil
	}
	var out []*fleetv1.Work
	for _, p := range parts {
		if p.Spec.Part.Token == w.Spec.Part.Token {
			out = append(out, p)
		}
	}
	return out
}

// setCondition sums a condition up over a set of Work parts: unknown when
// a part is missing or has not reported on its current generation, else
// the first that is not True, else part 0's.
func setCondition(set []*fleetv1.Work, t string) *metav1.Condition {
	if head := set[0]; head.Spec.Part != nil && int(head.Spec.Part.Total) != len(set) {
		return nil
	}
	var first *metav1.Condition
	for i, w := range set {
		c := currentCondition(w, t)
		if c == nil {
			return nil
		}
		if i == 0 {
			first = c
		}
		if c.Status != metav1.ConditionTrue {
			return c
		}
	}
	return first
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

// writeBinding carries out one target and returns the member's binding as
// it now stands (nil: none yet).
func (r *Reconciler) writeBinding(ctx context.Context, crp string, t rolloutplan.Target, existing *fleetv1.ResourceBinding,
	snap *fleetv1.ResourceSnapshot, res *rolloutResult,
) (*fleetv1.ResourceBinding, error) {
	if t.Op == rolloutplan.Keep {
		return existing, nil
	}
	if snap == nil {
		// The plan only names the newest snapshot or the binding's own.
		return existing, fmt.Errorf("snapshot %d of %s is not known", t.SnapshotIndex, crp)
	}
	spec := fleetv1.ResourceBindingSpec{
		Placement: crp, TargetCluster: t.Member, State: t.State,
		ResourceSnapshotName: snap.Name, Reason: t.Reason, Score: t.Score,
	}
	if t.Op == rolloutplan.Create {
		b := &fleetv1.ResourceBinding{
			ObjectMeta: metav1.ObjectMeta{
				Name:   bindingName(crp, t.Member),
				Labels: map[string]string{fleetv1.PlacementLabel: crp, fleetv1.MemberClusterLabel: t.Member},
			},
			Spec: spec,
		}
		err := r.Client.Create(ctx, b)
		switch {
		case err == nil:
			return b, nil
		case apierrors.IsAlreadyExists(err):
			return nil, res.failure(r.alreadyExists(ctx, "binding", b, &fleetv1.ResourceBinding{}, owner{crp, t.Member}))
		default:
			return nil, fmt.Errorf("creating binding %s: %w", b.Name, err)
		}
	}
	b := existing.DeepCopy()
	b.Spec = spec
	if err := r.Client.Update(ctx, b); err != nil {
		if err = res.failure(stale(err, true)); err != nil {
			err = fmt.Errorf("updating binding %s: %w", b.Name, err)
		}
		return existing, err
	}
	return b, nil
}

// alreadyExists explains a create that met an object of the same name:
// ours, not in the cache yet (look again shortly), or someone else's, which
// is an error and is never taken over.
func (r *Reconciler) alreadyExists(ctx context.Context, kind string, created, found client.Object, want owner) error {
	key := client.ObjectKeyFromObject(created)
	err := r.Client.Get(ctx, key, found)
	switch {
	case apierrors.IsNotFound(err):
		return fmt.Errorf("%w: %s %s exists but is not cached yet", errStale, kind, key)
	case err != nil:
		return fmt.Errorf("reading %s %s: %w", kind, key, err)
	case ownerOf(found) == want:
		return fmt.Errorf("%w: %s %s was created but is not cached yet", errStale, kind, key)
	default:
		return &errNameTaken{kind: kind, name: key.String(), by: ownerOf(found)}
	}
}

// workPiece is one manifest as a Work carries it.
type workPiece struct {
	raw     []byte
	key     string
	payload json.RawMessage
}

// syncWork writes the member's Works for its binding's snapshot: one, or
// as many parts as the manifests need to stay within the part budget.
// Parts other than 0 and their Secret data are written first, part 0 last,
// so that the agent finds the set complete once part 0 says so.
func (r *Reconciler) syncWork(ctx context.Context, crp *placementv1.ClusterResourcePlacement, st *memberState,
	member *fleetv1.MemberCluster, overrides override.Set, oldParts []*fleetv1.Work,
) error {
	if st.snapshot == nil {
		return nil
	}
	om := override.Member{Name: st.decision.Member}
	if member != nil {
		om.Labels, om.Properties = member.Labels, member.Status.Properties
	}
	base := fleetv1.WorkSpec{
		Placement:            crp.Name,
		ResourceSnapshotName: st.snapshot.Name,
		ApplyStrategy:        crp.Spec.Strategy.ApplyStrategy,
		DeletionPolicy:       fleetv1.DeletionPolicyDelete,
	}
	if crp.Annotations[fleetv1.DeletionPolicyAnnotation] == string(fleetv1.DeletionPolicyAbandon) {
		base.DeletionPolicy = fleetv1.DeletionPolicyAbandon
	}
	objs, salt, err := r.snapshotContent(ctx, st.snapshot)
	if err != nil {
		return err
	}
	var pieces []workPiece
	for _, obj := range objs {
		out, applied, err := override.Apply(crp.Name, obj, om, overrides)
		st.overrides.Merge(applied)
		if err != nil {
			// A broken override stops this member's Work from changing:
			// better the last good copy than a half-overridden one. The
			// Overridden condition says why.
			st.overrideErr = fmt.Errorf("%s %s: %w", obj.GetKind(), objectName(obj), err)
			return nil
		}
		if out == nil {
			continue
		}
		payload, err := secretdata.Split(out)
		if err != nil {
			return err
		}
		if payload != nil && salt == nil {
			return fmt.Errorf("snapshot %s has Secret %s but no Secret data", st.snapshot.Name, objectName(out))
		}
		b, err := json.Marshal(out.Object)
		if err != nil {
			return err
		}
		pieces = append(pieces, workPiece{raw: b, key: secretdata.Key(out.GetNamespace(), out.GetName()), payload: payload})
	}
	sizes := make([]int, len(pieces))
	for i, p := range pieces {
		sizes[i] = len(p.raw) + len(p.payload)
	}
	starts := splitBySize(sizes, r.partBudget())
	specs := make([]fleetv1.WorkSpec, len(starts))
	payloads := make([]secretdata.Payload, len(starts))
	for k := range starts {
		end := len(pieces)
		if k+1 < len(starts) {
			end = starts[k+1]
		}
		spec := base
		payload := secretdata.Payload{}
		for _, p := range pieces[starts[k]:end] {
			spec.Manifests = append(spec.Manifests, runtime.RawExtension{Raw: p.raw})
			if p.payload != nil {
				payload[p.key] = p.payload
			}
		}
		if len(payload) > 0 {
			digest, err := secretdata.Digest(salt, payload)
			if err != nil {
				return err
			}
			spec.SecretData = &fleetv1.WorkSecretData{Name: workPartName(crp.Name, k), Digest: digest}
		}
		specs[k], payloads[k] = spec, payload
	}
	if len(specs) > 1 {
		token, err := setToken(specs)
		if err != nil {
			return err
		}
		for k := range specs {
			specs[k].Part = &fleetv1.WorkPart{Set: crp.Name, Index: int32(k), Total: int32(len(specs)), Token: token}
		}
	}

	ns := fleetv1.MemberNamespace(st.decision.Member)
	existing := map[string]*fleetv1.Work{}
	for _, w := range oldParts {
		existing[w.Name] = w
	}
	if st.work != nil {
		existing[st.work.Name] = st.work
	}
	wrote := false
	st.parts = nil
	for k := len(specs) - 1; k >= 0; k-- {
		name := workPartName(crp.Name, k)
		w, changed, err := r.writeWorkPart(ctx, crp.Name, st.decision.Member, ns, name, &specs[k], payloads[k], salt, existing[name])
		if err != nil {
			return err
		}
		wrote = wrote || changed
		if w == nil {
			// Being removed still: its deletion brings the placement back.
			return nil
		}
		if k == 0 {
			st.work = w
		} else {
			st.parts = append([]*fleetv1.Work{w}, st.parts...)
		}
	}
	// Parts beyond the new count go, and with them Secret data no part
	// names; the agent ignores parts whose token is not part 0's.
	keep := map[string]bool{}
	for k := range specs {
		keep[workPartName(crp.Name, k)] = true
	}
	for _, w := range oldParts {
		if keep[w.Name] {
			continue
		}
		wrote = true
		if err := r.Client.Delete(ctx, w); client.IgnoreNotFound(err) != nil {
			return fmt.Errorf("deleting Work %s/%s, a part no longer needed: %w", ns, w.Name, err)
		}
	}
	if wrote {
		keepData := map[string]bool{}
		for _, spec := range specs {
			if spec.SecretData != nil {
				keepData[spec.SecretData.Name] = true
			}
		}
		if err := r.sweepSecretData(ctx, ns, client.MatchingLabels{fleetv1.PlacementLabel: crp.Name, fleetv1.SecretDataLabel: "work"}, keepData); err != nil {
			return err
		}
	}
	st.synced = true
	return nil
}

// setToken identifies the content of a set of Work parts.
func setToken(specs []fleetv1.WorkSpec) (string, error) {
	b, err := json.Marshal(specs)
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:16]), nil
}

// writeWorkPart brings one Work (part) to spec, its Secret data first. It
// returns the Work as it now stands (nil while an earlier one is still
// being removed) and whether anything was written.
func (r *Reconciler) writeWorkPart(ctx context.Context, crp, member, ns, name string, spec *fleetv1.WorkSpec,
	payload secretdata.Payload, salt []byte, existing *fleetv1.Work,
) (*fleetv1.Work, bool, error) {
	hash, err := specHash(spec)
	if err != nil {
		return nil, false, err
	}
	if existing != nil && existing.Annotations[SpecHashAnnotation] == hash {
		return existing, false, nil
	}
	if existing != nil && !existing.DeletionTimestamp.IsZero() {
		// Still being removed from an earlier unscheduling; its deletion
		// event brings the placement back to write it anew.
		return nil, false, nil
	}
	if err := r.namespaces.ensure(ctx, r.Client, ns); err != nil {
		return nil, false, err
	}
	if spec.SecretData != nil {
		labels := map[string]string{fleetv1.PlacementLabel: crp, fleetv1.MemberClusterLabel: member, fleetv1.SecretDataLabel: "work"}
		if err := r.writeSecretData(ctx, crp, ns, spec.SecretData.Name, labels, payload.SecretData(salt)); err != nil {
			if apierrors.IsNotFound(err) {
				r.namespaces.forget(ns)
			}
			return nil, false, err
		}
	}
	if existing == nil {
		w := &fleetv1.Work{
			ObjectMeta: metav1.ObjectMeta{
				Name: name, Namespace: ns,
				Labels:      map[string]string{fleetv1.PlacementLabel: crp, fleetv1.MemberClusterLabel: member},
				Annotations: map[string]string{SpecHashAnnotation: hash},
			},
			Spec: *spec,
		}
		err := r.Client.Create(ctx, w)
		if apierrors.IsNotFound(err) {
			// The namespace went since we made it: make it again.
			r.namespaces.forget(ns)
			if err = r.namespaces.ensure(ctx, r.Client, ns); err == nil {
				err = r.Client.Create(ctx, w)
			}
		}
		switch {
		case err == nil:
			return w, true, nil
		case apierrors.IsAlreadyExists(err):
			return nil, false, r.alreadyExists(ctx, "Work", w, &fleetv1.Work{}, owner{crp, member})
		}
		return nil, false, fmt.Errorf("creating Work %s/%s: %w", ns, w.Name, err)
	}
	w := existing.DeepCopy()
	w.Spec = *spec
	if w.Annotations == nil {
		w.Annotations = map[string]string{}
	}
	w.Annotations[SpecHashAnnotation] = hash
	if err := r.Client.Update(ctx, w); err != nil {
		return nil, false, fmt.Errorf("updating Work %s/%s: %w", ns, w.Name, stale(err, false))
	}
	return w, true, nil
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

// unschedule removes a member's Works (all parts) and their Secret data,
// then its binding once the agent has let the Works go (or at once when
// the member left the fleet).
func (r *Reconciler) unschedule(ctx context.Context, b *fleetv1.ResourceBinding, markUnscheduled bool, works []*fleetv1.Work, memberLeft bool) error {
	if markUnscheduled {
		b = b.DeepCopy()
		b.Spec.State = fleetv1.BindingUnscheduled
		if err := r.Client.Update(ctx, b); err != nil {
			if apierrors.IsNotFound(err) {
				return nil
			}
			return fmt.Errorf("marking binding %s Unscheduled: %w", b.Name, stale(err, false))
		}
	}
	gone, err := r.removeWorks(ctx, b.Spec.Placement, b.Spec.TargetCluster, works, memberLeft)
	if err != nil || !gone {
		return err
	}
	if err := client.IgnoreNotFound(r.Client.Delete(ctx, b)); err != nil {
		return fmt.Errorf("deleting binding %s: %w", b.Name, err)
	}
	return nil
}

// removeWorks deletes a member's Works of a placement and their Secret
// data; gone says no Work is left.
func (r *Reconciler) removeWorks(ctx context.Context, crp, member string, works []*fleetv1.Work, memberLeft bool) (bool, error) {
	allGone := true
	for _, w := range works {
		gone, err := r.removeWork(ctx, w, memberLeft)
		if err != nil {
			return false, err
		}
		allGone = allGone && gone
	}
	if len(works) > 0 {
		// The agent needs no data to remove what it placed.
		ns := fleetv1.MemberNamespace(member)
		if err := r.sweepSecretData(ctx, ns, client.MatchingLabels{fleetv1.PlacementLabel: crp, fleetv1.SecretDataLabel: "work"}, nil); err != nil {
			return false, err
		}
	}
	return allGone, nil
}

// removeWork deletes a Work; gone says it no longer exists. When the member
// left, nobody will clear the agent's finalizer, so the hub does.
func (r *Reconciler) removeWork(ctx context.Context, w *fleetv1.Work, memberLeft bool) (gone bool, _ error) {
	if w == nil {
		return true, nil
	}
	if w.DeletionTimestamp.IsZero() {
		if err := r.Client.Delete(ctx, w); err != nil {
			if apierrors.IsNotFound(err) {
				return true, nil
			}
			return false, fmt.Errorf("deleting Work %s/%s: %w", w.Namespace, w.Name, err)
		}
	}
	if memberLeft && len(w.Finalizers) > 0 {
		patch := client.MergeFrom(w.DeepCopy())
		w.Finalizers = nil
		if err := r.Client.Patch(ctx, w, patch); err != nil {
			if apierrors.IsNotFound(err) {
				return true, nil
			}
			return false, fmt.Errorf("releasing Work %s/%s of a member that left: %w", w.Namespace, w.Name, err)
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

func (s *namespaceSet) forget(name string) { s.known.Delete(name) }
