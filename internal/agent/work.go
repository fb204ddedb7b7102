package agent

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sort"
	"time"

	"github.com/go-logr/logr"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	placementv1 "github.com/flotilla-dev/flotilla/api/placement/v1"
	fleetv1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/internal/agent/applydecision"
	"github.com/flotilla-dev/flotilla/internal/conditions"
	"github.com/flotilla-dev/flotilla/internal/placement/secretdata"
	"github.com/flotilla-dev/flotilla/internal/statuspatch"
)

// reconcile brings one set of Works to the member and reports their
// status: a Work, or the parts of one placement's Works for this member,
// named after part 0. Objects are placed under the set's name, so one
// moving between parts stays placed, and what no part holds any more is
// removed only once every part of the set is the one part 0 counts.
func (a *Agent) reconcile(ctx context.Context, set string) (err error) {
	head, applied, parts := a.snapshot(set)
	if head == nil {
		return nil
	}
	if !head.DeletionTimestamp.IsZero() {
		return a.finalize(ctx, head, applied, parts)
	}
	defer func(start time.Time) {
		a.metrics.applyDuration.WithLabelValues(result(err)).Observe(time.Since(start).Seconds())
	}(time.Now())
	headRV := head.ResourceVersion
	if !hasFinalizer(head) {
		// Before anything is placed, so that a deleted Work always gets
		// its objects removed.
		if err := a.addFinalizer(ctx, head); err != nil {
			return fmt.Errorf("adding the finalizer: %w", err)
		}
	}
	complete := head.Spec.Part == nil || int(head.Spec.Part.Total) == len(parts)+1
	var (
		errs    []error
		inWork  = map[objectKey]bool{}
		placed  = map[objectKey]bool{}
		nowOurs []placementv1.ResourceIdentifier
	)
	for _, work := range append([]*fleetv1.Work{head}, parts...) {
		baseRV := work.ResourceVersion
		if work == head {
			baseRV = headRV
		}
		payload, err := a.secretPayload(ctx, work)
		if err != nil {
			// Without its Secrets' data the part cannot be applied; what
			// it placed stays until it can.
			errs = append(errs, err)
			complete = false
			for _, s := range work.Status.Manifests {
				inWork[objectKeyOf(s.Identifier)] = true
			}
			continue
		}
		strategy := applydecision.WithDefaults(work.Spec.ApplyStrategy)
		statuses := make([]fleetv1.ManifestStatus, 0, len(work.Spec.Manifests))
		prevs := a.previousManifests(work)
		for i, raw := range work.Spec.Manifests {
			r := a.syncManifest(ctx, work, set, i, raw, payload, strategy, prevs)
			statuses = append(statuses, r.status)
			if r.err != nil {
				errs = append(errs, r.err)
			}
			if r.resource != nil {
				a.watches.ensure(ctx, *r.resource)
			}
			key := objectKeyOf(r.status.Identifier)
			inWork[key] = true
			if r.placed && !placed[key] {
				placed[key] = true
				nowOurs = append(nowOurs, r.status.Identifier)
			}
		}
		status := workStatus(work, statuses, strategy, metav1.NewTime(a.now()).Rfc3339Copy())
		// What the set placed is recorded once it is known, below.
		if a.record(work, baseRV, nil, status) {
			// Written by its own worker: a slow or absent hub must not hold up
			// enforcement on the member.
			a.statusQueue.Add(work.Name)
		}
	}
	// Objects placed before whose manifest is gone are removed; those
	// still in the set stay tracked even if this round failed on them.
	// While parts are missing or stale, nothing is removed: an object may
	// have moved to a part not seen yet.
	for _, id := range applied {
		key := objectKeyOf(id)
		switch {
		case placed[key]:
		case inWork[key] || !complete:
			nowOurs = append(nowOurs, id)
		default:
			if err := a.removeObject(ctx, set, id, false); err != nil {
				errs = append(errs, fmt.Errorf("removing %s: %w", describe(id), err))
				nowOurs = append(nowOurs, id)
				continue
			}
			logr.FromContextOrDiscard(ctx).Info("removed an object no longer in its Work", "work", set, "object", describe(id))
		}
	}
	a.setApplied(set, nowOurs)
	return errors.Join(errs...)
}

// setOf names the set a Work belongs to: part 0's name.
func setOf(w *fleetv1.Work) string {
	if w.Spec.Part != nil && w.Spec.Part.Set != "" {
		return w.Spec.Part.Set
	}
	return w.Name
}

// secretPayload is the data of a Work's Secret manifests: kept from the
// last read while the Work's digest is the same (also across restarts and
// while the hub is down), else read from the hub and checked against it.
func (a *Agent) secretPayload(ctx context.Context, work *fleetv1.Work) (secretdata.Payload, error) {
	ref := work.Spec.SecretData
	if ref == nil {
		return nil, nil
	}
	a.mu.Lock()
	if e := a.works[work.Name]; e != nil && e.secretDigest == ref.Digest && e.secretData != nil {
		p := e.secretData
		a.mu.Unlock()
		return p, nil
	}
	a.mu.Unlock()
	s, err := a.hubKube.CoreV1().Secrets(a.namespace).Get(ctx, ref.Name, metav1.GetOptions{})
	if err != nil {
		return nil, fmt.Errorf("reading the Secret data %s of Work %s: %w", ref.Name, work.Name, err)
	}
	payload, salt, err := secretdata.FromSecretData(s.Data)
	if err != nil {
		return nil, fmt.Errorf("the Secret data %s of Work %s: %w", ref.Name, work.Name, err)
	}
	digest, err := secretdata.Digest(salt, payload)
	if err != nil {
		return nil, err
	}
	if digest != ref.Digest {
		// The hub writes the data before the Work: this is a newer
		// generation's (or an older one's); the Work's own comes.
		return nil, fmt.Errorf("the Secret data %s is not that of Work %s's generation %d yet", ref.Name, work.Name, work.Generation)
	}
	a.mu.Lock()
	if e := a.works[work.Name]; e != nil {
		e.secretData, e.secretDigest = payload, digest
	}
	a.mu.Unlock()
	return payload, nil
}

// setApplied records what a set has placed, on its part 0.
func (a *Agent) setApplied(set string, applied []placementv1.ResourceIdentifier) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if e := a.works[set]; e != nil {
		e.applied = applied
		a.persist(e)
	}
}

func (a *Agent) processStatus(ctx context.Context) bool {
	name, shutdown := a.statusQueue.Get()
	if shutdown {
		return false
	}
	defer a.statusQueue.Done(name)
	a.mu.Lock()
	e := a.works[name]
	var work *fleetv1.Work
	hubStatus := &fleetv1.WorkStatus{}
	if e != nil && !e.statusOnHub {
		work = e.work.DeepCopy()
		if e.hubStatus != nil {
			hubStatus = e.hubStatus.DeepCopy()
		}
	}
	a.mu.Unlock()
	if work == nil {
		a.statusQueue.Forget(name)
		return true
	}
	written := work.Status.DeepCopy()
	if err := a.writeStatus(ctx, work, hubStatus); err != nil {
		if ctx.Err() == nil {
			logRetry(ctx, a.statusQueue.NumRequeues(name), "status not written to the hub; retrying", name, err)
		}
		a.statusQueue.AddRateLimited(name)
		return true
	}
	a.statusQueue.Forget(name)
	a.metrics.synced(a.now())
	a.statusWritten(name, written)
	return true
}

// record stores the outcome of a reconcile of work, begun on the hub copy
// with resourceVersion baseRV, and persists it. It reports whether the
// status must be written to the hub.
func (a *Agent) record(work *fleetv1.Work, baseRV string, applied []placementv1.ResourceIdentifier, status *fleetv1.WorkStatus) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	e := a.works[work.Name]
	if e == nil {
		return false
	}
	if applied != nil {
		e.applied = applied
	}
	e.computed, e.computedGen = status.DeepCopy(), work.Generation
	current := e.work.ResourceVersion == baseRV || e.work.ResourceVersion == work.ResourceVersion
	if current {
		// Nothing newer came from the hub meanwhile than this Work (and
		// the agent's own finalizer patch): its status is now ours.
		hubStatus := e.work.Status
		e.work = work.DeepCopy()
		e.work.Status = hubStatus
		if !equality.Semantic.DeepEqual(&e.work.Status, status) {
			e.work.Status = *status
			e.statusOnHub = false
		}
	}
	a.persist(e)
	return current && !e.statusOnHub
}

// persist writes an entry to the state directory when it changed.
func (a *Agent) persist(e *entry) {
	rec := &record{Work: e.work, Applied: e.applied, SecretData: e.secretData, SecretDigest: e.secretDigest}
	data, err := json.Marshal(rec)
	if err != nil {
		a.log.Error(err, "encoding state", "work", e.work.Name)
		return
	}
	if bytes.Equal(data, e.saved) {
		return
	}
	if err := a.store.save(rec); err != nil {
		a.log.Error(err, "saving state", "work", e.work.Name)
		return
	}
	e.saved = data
}

func (a *Agent) statusWritten(name string, status *fleetv1.WorkStatus) {
	a.mu.Lock()
	defer a.mu.Unlock()
	e := a.works[name]
	if e == nil {
		return
	}
	e.hubStatus = status.DeepCopy()
	if equality.Semantic.DeepEqual(&e.work.Status, status) {
		e.statusOnHub = true
	}
}

// forget drops a Work whose cleanup is done.
func (a *Agent) forget(name string) error {
	a.mu.Lock()
	delete(a.works, name)
	a.mu.Unlock()
	return a.store.remove(name)
}

// addFinalizer patches the agent's finalizer onto the Work, with optimistic
// locking so that a concurrent spec change is not lost. On success work is
// the hub's new copy.
func (a *Agent) addFinalizer(ctx context.Context, work *fleetv1.Work) error {
	orig := work.DeepCopy()
	controllerutil.AddFinalizer(work, fleetv1.AgentFinalizer)
	if err := a.hub.Patch(ctx, work, client.MergeFromWithOptions(orig, client.MergeFromWithOptimisticLock{})); err != nil {
		*work = *orig
		return err
	}
	work.ManagedFields = nil
	return nil
}

// writeStatus writes work.Status to the hub as one merge patch from the
// status the hub holds: lists are replaced whole, and what is gone is
// cleared. No optimistic lock: the agent is the only writer of a Work's
// status, and a spec change meanwhile must not hold up its report.
func (a *Agent) writeStatus(ctx context.Context, work *fleetv1.Work, hubStatus *fleetv1.WorkStatus) error {
	status := work.Status
	work.Status = *hubStatus
	patch := statuspatch.New(a.hub, work)
	work.Status = status
	return patch.Patch(ctx, work)
}

// finalize removes (or, with deletionPolicy Abandon, releases) what a
// deleted Work (with its other parts) placed, then lets the Work go.
func (a *Agent) finalize(ctx context.Context, work *fleetv1.Work, applied []placementv1.ResourceIdentifier, parts []*fleetv1.Work) error {
	if !hasFinalizer(work) {
		return a.forget(work.Name)
	}
	abandon := work.Spec.DeletionPolicy == fleetv1.DeletionPolicyAbandon
	seen := map[objectKey]bool{}
	var ids []placementv1.ResourceIdentifier
	known := append(slices.Clone(applied), identifiers(work.Status.Manifests)...)
	for _, p := range parts {
		known = append(known, identifiers(p.Status.Manifests)...)
	}
	for _, id := range known {
		if key := objectKeyOf(id); id.Kind != "" && !seen[key] {
			seen[key] = true
			ids = append(ids, id)
		}
	}
	// Namespaces go last, CRDs just before them: deleting either first
	// would take the other objects with it before they are handled.
	sort.SliceStable(ids, func(i, j int) bool { return removalRank(ids[i]) < removalRank(ids[j]) })
	var errs []error
	for _, id := range ids {
		if err := a.removeObject(ctx, work.Name, id, abandon); err != nil {
			errs = append(errs, fmt.Errorf("removing %s: %w", describe(id), err))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	a.mu.Lock()
	if e := a.works[work.Name]; e != nil {
		e.finalized = true
	}
	a.mu.Unlock()
	orig := work.DeepCopy()
	controllerutil.RemoveFinalizer(work, fleetv1.AgentFinalizer)
	if err := a.hub.Patch(ctx, work, client.MergeFromWithOptions(orig, client.MergeFromWithOptimisticLock{})); err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("removing the finalizer: %w", err)
	}
	action := "deleted"
	if abandon {
		action = "abandoned"
	}
	logr.FromContextOrDiscard(ctx).Info("Work deleted; its objects are "+action, "work", work.Name, "objects", len(ids))
	return a.forget(work.Name)
}

func identifiers(statuses []fleetv1.ManifestStatus) []placementv1.ResourceIdentifier {
	out := make([]placementv1.ResourceIdentifier, 0, len(statuses))
	for _, s := range statuses {
		out = append(out, s.Identifier)
	}
	return out
}

func removalRank(id placementv1.ResourceIdentifier) int {
	switch {
	case id.Group == "" && id.Kind == "Namespace":
		return 2
	case id.Group == "apiextensions.k8s.io" && id.Kind == "CustomResourceDefinition":
		return 1
	}
	return 0
}

// workStatus sums the manifests' conditions up into the Work's.
func workStatus(work *fleetv1.Work, manifests []fleetv1.ManifestStatus, strategy placementv1.ApplyStrategy, now metav1.Time) *fleetv1.WorkStatus {
	status := &fleetv1.WorkStatus{Manifests: manifests}
	status.Conditions = append(status.Conditions, work.Status.Conditions...)
	set := func(c conditions.Condition) { conditions.Set(&status.Conditions, c, work.Generation, now) }
	total := len(manifests)
	if len(manifests) == 0 {
		status.Manifests = nil
	}
	// firstNot finds the first manifest whose condition is not True.
	firstNot := func(condType string) (int, *metav1.Condition, placementv1.ResourceIdentifier) {
		n := 0
		var first *metav1.Condition
		var id placementv1.ResourceIdentifier
		for i := range manifests {
			c := meta.FindStatusCondition(manifests[i].Conditions, condType)
			if c == nil || c.Status != metav1.ConditionTrue {
				if n == 0 {
					first, id = c, manifests[i].Identifier
				}
				n++
			}
		}
		return n, first, id
	}
	summary := func(n int, first *metav1.Condition, id placementv1.ResourceIdentifier, what string) (reason, msg string) {
		reason, detail := fleetv1.WorkReasonUnknown, "no report"
		if first != nil {
			reason, detail = first.Reason, first.Message
		}
		return reason, fmt.Sprintf("%d of %d manifests are not %s; first %s: %s", n, total, what, describe(id), detail)
	}

	if strategy.Type == placementv1.ApplyStrategyTypeReportDiff {
		meta.RemoveStatusCondition(&status.Conditions, fleetv1.WorkApplied)
		meta.RemoveStatusCondition(&status.Conditions, fleetv1.WorkAvailable)
		if n, first, id := firstNot(fleetv1.WorkDiffReported); n > 0 {
			reason, msg := summary(n, first, id, "compared")
			set(conditions.False(fleetv1.WorkDiffReported, reason, msg))
			return status
		}
		diffs := 0
		for _, m := range manifests {
			if len(m.Diffs) > 0 {
				diffs++
			}
		}
		if diffs > 0 {
			set(conditions.True(fleetv1.WorkDiffReported, fleetv1.WorkReasonDiffFound,
				fmt.Sprintf("%d of %d manifests differ from the member's objects", diffs, total)))
		} else {
			set(conditions.True(fleetv1.WorkDiffReported, fleetv1.WorkReasonNoDiffFound,
				fmt.Sprintf("all %d manifests match the member's objects", total)))
		}
		return status
	}

	meta.RemoveStatusCondition(&status.Conditions, fleetv1.WorkDiffReported)
	if n, first, id := firstNot(fleetv1.WorkApplied); n > 0 {
		reason, msg := summary(n, first, id, "applied")
		set(conditions.False(fleetv1.WorkApplied, reason, msg))
		set(conditions.False(fleetv1.WorkAvailable, fleetv1.WorkReasonNotApplied, "not every manifest is applied"))
		return status
	}
	set(conditions.True(fleetv1.WorkApplied, fleetv1.WorkReasonAllApplied, fmt.Sprintf("all %d manifests applied", total)))
	if n, first, id := firstNot(fleetv1.WorkAvailable); n > 0 {
		_, msg := summary(n, first, id, "available")
		set(conditions.False(fleetv1.WorkAvailable, fleetv1.WorkReasonNotYetAvailable, msg))
		return status
	}
	set(conditions.True(fleetv1.WorkAvailable, fleetv1.WorkReasonAllAvailable, fmt.Sprintf("all %d manifests available", total)))
	return status
}
