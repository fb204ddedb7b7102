package agent

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"

	placementv1 "github.com/flotilla-dev/flotilla/api/placement/v1"
	fleetv1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
)

// FieldManager is the agent's server-side apply field manager on members.
const FieldManager = "flotilla-agent"

// Condition reasons of a manifest.
const (
	ReasonApplied          = "Applied"
	ReasonApplyFailed      = "ApplyFailed"
	ReasonManifestInvalid  = "ManifestInvalid"
	ReasonNotTakenOver     = "NotTakenOver"
	ReasonConflict         = "ConflictWithOtherWork"
	ReasonDrifted          = "Drifted"
	ReasonAvailable        = "Available"
	ReasonNotTrackable     = "NotTrackable"
	ReasonNotYetAvailable  = "NotYetAvailable"
	ReasonNotApplied       = "NotApplied"
	ReasonDiffFound        = "DiffFound"
	ReasonNoDiffFound      = "NoDiffFound"
	ReasonDiffReportFailed = "DiffReportFailed"
)

// notFoundOnMember is the ValueInMember of a diff that covers the whole
// object: it does not exist on the member.
const notFoundOnMember = "<not found>"

// strategyOf fills in the defaults of an apply strategy.
func strategyOf(s *placementv1.ApplyStrategy) placementv1.ApplyStrategy {
	out := placementv1.ApplyStrategy{}
	if s != nil {
		out = *s
	}
	if out.Type == "" {
		out.Type = placementv1.ApplyStrategyTypeClientSideApply
	}
	if out.ComparisonOption == "" {
		out.ComparisonOption = placementv1.ComparisonOptionTypePartialComparison
	}
	if out.WhenToApply == "" {
		out.WhenToApply = placementv1.WhenToApplyTypeAlways
	}
	if out.WhenToTakeOver == "" {
		out.WhenToTakeOver = placementv1.WhenToTakeOverTypeAlways
	}
	return out
}

// manifestResult is the outcome of syncing one manifest.
type manifestResult struct {
	status fleetv1.ManifestStatus
	// placed: the object on the member is the agent's (it applied it now or
	// before), so it is to be removed with the manifest.
	placed bool
	// resource is set once the manifest's kind is mapped.
	resource *schema.GroupVersionResource
	// err makes the Work be retried with backoff.
	err error
}

// decodeManifest parses a manifest into an object.
func decodeManifest(raw runtime.RawExtension) (*unstructured.Unstructured, error) {
	data := raw.Raw
	if len(data) == 0 && raw.Object != nil {
		var err error
		if data, err = json.Marshal(raw.Object); err != nil {
			return nil, err
		}
	}
	obj := &unstructured.Unstructured{}
	if err := obj.UnmarshalJSON(data); err != nil {
		return nil, err
	}
	if obj.GetName() == "" {
		return nil, fmt.Errorf("%s has no metadata.name", obj.GroupVersionKind().Kind)
	}
	return obj, nil
}

func identifierOf(obj *unstructured.Unstructured) placementv1.ResourceIdentifier {
	gvk := obj.GroupVersionKind()
	return placementv1.ResourceIdentifier{
		Group: gvk.Group, Version: gvk.Version, Kind: gvk.Kind,
		Name: obj.GetName(), Namespace: obj.GetNamespace(),
	}
}

func gvkOf(id placementv1.ResourceIdentifier) schema.GroupVersionKind {
	return schema.GroupVersionKind{Group: id.Group, Version: id.Version, Kind: id.Kind}
}

// desiredObject is the manifest as the agent applies it: marked as placed
// by this Work, without anything the server owns.
func desiredObject(manifest *unstructured.Unstructured, work *fleetv1.Work) *unstructured.Unstructured {
	obj := manifest.DeepCopy()
	for _, f := range []string{"resourceVersion", "uid", "creationTimestamp", "generation", "managedFields", "selfLink", "deletionTimestamp", "deletionGracePeriodSeconds"} {
		unstructured.RemoveNestedField(obj.Object, "metadata", f)
	}
	unstructured.RemoveNestedField(obj.Object, "status")
	labels := obj.GetLabels()
	if labels == nil {
		labels = map[string]string{}
	}
	labels[fleetv1.ManagedByLabel] = fleetv1.ManagedByAgent
	labels[fleetv1.PlacementLabel] = work.Spec.Placement
	obj.SetLabels(labels)
	annotations := obj.GetAnnotations()
	if annotations == nil {
		annotations = map[string]string{}
	}
	annotations[fleetv1.WorkAnnotation] = work.Name
	obj.SetAnnotations(annotations)
	return obj
}

// isOurs says whether a member object was placed by the agent.
func isOurs(obj *unstructured.Unstructured) bool {
	return obj.GetLabels()[fleetv1.ManagedByLabel] == fleetv1.ManagedByAgent
}

// appliedAtGeneration says whether the previous status shows the manifest
// in place for this Work generation: then a difference is a drift made on
// the member, not a change from the hub.
func appliedAtGeneration(prev *fleetv1.ManifestStatus, generation int64) bool {
	if prev == nil || prev.ObservedGeneration != generation {
		return false
	}
	c := meta.FindStatusCondition(prev.Conditions, fleetv1.WorkApplied)
	return c != nil && (c.Status == metav1.ConditionTrue || c.Reason == ReasonDrifted)
}

// syncManifest brings one manifest to the member according to the strategy
// and reports on it. prev is the manifest's previous status, if any.
//
// ClientSideApply and ServerSideApply are both done with server-side apply
// (forced, field manager flotilla-agent): it is idempotent, needs no
// last-applied annotation and leaves fields the manifest does not set to
// their other owners, which is what ClientSideApply's three-way merge aims
// at too.
func (a *Agent) syncManifest(ctx context.Context, work *fleetv1.Work, ordinal int, raw runtime.RawExtension, strategy placementv1.ApplyStrategy, prevs []fleetv1.ManifestStatus) manifestResult {
	now := metav1.NewTime(a.now()).Rfc3339Copy()
	res := manifestResult{status: fleetv1.ManifestStatus{Ordinal: int32(ordinal), ObservedGeneration: work.Generation}}
	var prev *fleetv1.ManifestStatus
	reportDiff := strategy.Type == placementv1.ApplyStrategyTypeReportDiff
	fail := func(reason string, err error) manifestResult {
		condType := fleetv1.WorkApplied
		if reportDiff {
			condType = fleetv1.WorkDiffReported
		}
		setCondition(&res.status.Conditions, condType, false, reason, err.Error(), work.Generation, now)
		if !reportDiff {
			setCondition(&res.status.Conditions, fleetv1.WorkAvailable, false, ReasonNotApplied, "the manifest is not applied", work.Generation, now)
		}
		res.err = err
		return res
	}

	manifest, err := decodeManifest(raw)
	if err != nil {
		// Retrying does not help: the hub must send a fixed manifest.
		r := fail(ReasonManifestInvalid, fmt.Errorf("manifest %d: %w", ordinal, err))
		r.err = nil
		return r
	}
	id := identifierOf(manifest)
	mapping, err := a.member.mapping(manifest.GroupVersionKind())
	if err != nil {
		res.status.Identifier = id
		return fail(ReasonApplyFailed, err)
	}
	if mapping.Scope.Name() == meta.RESTScopeNameNamespace {
		if id.Namespace == "" {
			id.Namespace = metav1.NamespaceDefault
			manifest.SetNamespace(id.Namespace)
		}
	} else {
		id.Namespace = ""
		manifest.SetNamespace("")
	}
	res.status.Identifier = id
	res.resource = &mapping.Resource
	if prev = previousStatus(prevs, id); prev != nil {
		res.status.Conditions = slices.Clone(prev.Conditions)
	}
	client := a.member.resource(mapping, id.Namespace)

	live, err := client.Get(ctx, id.Name, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		live = nil
	case err != nil:
		return fail(ReasonApplyFailed, fmt.Errorf("reading %s: %w", describe(id), err))
	}
	ours := live != nil && isOurs(live)
	res.placed = ours
	desired := desiredObject(manifest, work)

	if reportDiff {
		// Never writes: compare what the hub has with what the member has.
		var diffs []placementv1.PatchDetail
		if live == nil {
			diffs = []placementv1.PatchDetail{{Path: "", ValueInMember: notFoundOnMember, ValueInHub: describe(id)}}
		} else {
			diffs = compareManifest(manifest.Object, live.Object)
		}
		setDiffs(&res.status, prev, diffs, now)
		meta.RemoveStatusCondition(&res.status.Conditions, fleetv1.WorkApplied)
		meta.RemoveStatusCondition(&res.status.Conditions, fleetv1.WorkAvailable)
		if len(diffs) > 0 {
			setCondition(&res.status.Conditions, fleetv1.WorkDiffReported, true, ReasonDiffFound,
				fmt.Sprintf("%d fields differ from the hub's manifest", len(diffs)), work.Generation, now)
		} else {
			setCondition(&res.status.Conditions, fleetv1.WorkDiffReported, true, ReasonNoDiffFound,
				"the member's object matches the hub's manifest", work.Generation, now)
		}
		return res
	}
	meta.RemoveStatusCondition(&res.status.Conditions, fleetv1.WorkDiffReported)

	takeOver := live != nil && !ours
	if takeOver {
		switch strategy.WhenToTakeOver {
		case placementv1.WhenToTakeOverTypeNever:
			setDiffs(&res.status, prev, nil, now)
			setCondition(&res.status.Conditions, fleetv1.WorkApplied, false, ReasonNotTakenOver,
				describe(id)+" exists on the member and was not placed by the fleet; whenToTakeOver is Never", work.Generation, now)
			setCondition(&res.status.Conditions, fleetv1.WorkAvailable, false, ReasonNotApplied, "the manifest is not applied", work.Generation, now)
			return res
		case placementv1.WhenToTakeOverTypeIfNoDiff:
			if diffs := compareManifest(manifest.Object, live.Object); len(diffs) > 0 {
				setDiffs(&res.status, prev, diffs, now)
				setCondition(&res.status.Conditions, fleetv1.WorkApplied, false, ReasonNotTakenOver,
					fmt.Sprintf("%s exists on the member with %d fields that differ from the manifest; whenToTakeOver is IfNoDiff", describe(id), len(diffs)), work.Generation, now)
				setCondition(&res.status.Conditions, fleetv1.WorkAvailable, false, ReasonNotApplied, "the manifest is not applied", work.Generation, now)
				return res
			}
		}
	}
	setDiffs(&res.status, prev, nil, now)

	if owner := ownerWork(live); ours && owner != work.Name && a.placing(owner) {
		// Two Works must not fight over one object; the one that placed it
		// first keeps it until it lets go.
		setCondition(&res.status.Conditions, fleetv1.WorkApplied, false, ReasonConflict,
			fmt.Sprintf("%s is placed by Work %s", describe(id), owner), work.Generation, now)
		setCondition(&res.status.Conditions, fleetv1.WorkAvailable, false, ReasonNotApplied, "the manifest is not applied", work.Generation, now)
		res.placed = false
		return res
	}
	if ours {
		diffs := compareManifest(desired.Object, live.Object)
		if len(diffs) == 0 {
			res.status.Drifts, res.status.FirstDriftedObservedTime = nil, nil
			setCondition(&res.status.Conditions, fleetv1.WorkApplied, true, ReasonApplied, "applied", work.Generation, now)
			setAvailable(&res.status, live, work.Generation, now)
			return res
		}
		if strategy.WhenToApply == placementv1.WhenToApplyTypeIfNotDrifted && appliedAtGeneration(prev, work.Generation) {
			res.status.Drifts = diffs
			res.status.FirstDriftedObservedTime = &now
			if prev != nil && prev.FirstDriftedObservedTime != nil {
				res.status.FirstDriftedObservedTime = prev.FirstDriftedObservedTime
			}
			setCondition(&res.status.Conditions, fleetv1.WorkApplied, false, ReasonDrifted,
				fmt.Sprintf("%d fields were changed on the member; whenToApply is IfNotDrifted, so they are not overwritten", len(diffs)), work.Generation, now)
			setAvailable(&res.status, live, work.Generation, now)
			return res
		}
	}

	applied, err := a.apply(ctx, client, desired)
	if err != nil {
		return fail(ReasonApplyFailed, fmt.Errorf("applying %s: %w", describe(id), err))
	}
	res.placed = true
	res.status.Drifts, res.status.FirstDriftedObservedTime = nil, nil
	if takeOver {
		a.log.Info("took over an object that existed on the member", "work", work.Name, "object", describe(id))
	}
	setCondition(&res.status.Conditions, fleetv1.WorkApplied, true, ReasonApplied, "applied", work.Generation, now)
	setAvailable(&res.status, applied, work.Generation, now)
	return res
}

// previousStatus finds a manifest's last status by what it names, so that
// reordered manifests keep their history.
func previousStatus(prevs []fleetv1.ManifestStatus, id placementv1.ResourceIdentifier) *fleetv1.ManifestStatus {
	for i := range prevs {
		if objectKeyOf(prevs[i].Identifier) == objectKeyOf(id) {
			return &prevs[i]
		}
	}
	return nil
}

// objectKey names a member object regardless of the API version it is
// served at: a manifest moving from v1beta1 to v1 is still the same object.
type objectKey struct{ group, kind, namespace, name string }

func objectKeyOf(id placementv1.ResourceIdentifier) objectKey {
	return objectKey{id.Group, id.Kind, id.Namespace, id.Name}
}

// ownerWork is the Work a member object says placed it.
func ownerWork(live *unstructured.Unstructured) string {
	if live == nil {
		return ""
	}
	return live.GetAnnotations()[fleetv1.WorkAnnotation]
}

// placing says whether the agent holds a Work that is not being deleted.
func (a *Agent) placing(name string) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	e := a.works[name]
	return e != nil && e.work.DeletionTimestamp.IsZero()
}

// apply server-side applies obj with force: the hub's manifest wins over
// other field managers for the fields it sets.
func (a *Agent) apply(ctx context.Context, client interface {
	Patch(context.Context, string, types.PatchType, []byte, metav1.PatchOptions, ...string) (*unstructured.Unstructured, error)
}, obj *unstructured.Unstructured) (*unstructured.Unstructured, error) {
	data, err := json.Marshal(obj.Object)
	if err != nil {
		return nil, err
	}
	force := true
	return client.Patch(ctx, obj.GetName(), types.ApplyPatchType, data, metav1.PatchOptions{FieldManager: FieldManager, Force: &force})
}

func setDiffs(status *fleetv1.ManifestStatus, prev *fleetv1.ManifestStatus, diffs []placementv1.PatchDetail, now metav1.Time) {
	if len(diffs) == 0 {
		status.Diffs, status.FirstDiffedObservedTime = nil, nil
		return
	}
	status.Diffs = diffs
	status.FirstDiffedObservedTime = &now
	if prev != nil && prev.FirstDiffedObservedTime != nil {
		status.FirstDiffedObservedTime = prev.FirstDiffedObservedTime
	}
}

func setAvailable(status *fleetv1.ManifestStatus, obj *unstructured.Unstructured, generation int64, now metav1.Time) {
	ok, reason, msg := availability(obj)
	setCondition(&status.Conditions, fleetv1.WorkAvailable, ok, reason, msg, generation, now)
}

// availability judges workloads by their rollout status. Other kinds count
// as available once applied: the agent has no readiness signal for them.
func availability(obj *unstructured.Unstructured) (ok bool, reason, message string) {
	if obj == nil {
		return false, ReasonNotApplied, "the object is not on the member"
	}
	gvk := obj.GroupVersionKind()
	if gvk.Group != "apps" {
		return true, ReasonNotTrackable, "available once applied: the agent does not track this kind's readiness"
	}
	num := func(fields ...string) int64 {
		v, _, _ := unstructured.NestedInt64(obj.Object, fields...)
		return v
	}
	observed := num("status", "observedGeneration")
	if observed < obj.GetGeneration() {
		return false, ReasonNotYetAvailable, "the workload controller has not yet seen the latest spec"
	}
	switch gvk.Kind {
	case "Deployment", "StatefulSet":
		replicas, found, _ := unstructured.NestedInt64(obj.Object, "spec", "replicas")
		if !found {
			replicas = 1
		}
		ready := num("status", "availableReplicas")
		if gvk.Kind == "StatefulSet" {
			ready = num("status", "readyReplicas")
		}
		updated := num("status", "updatedReplicas")
		if ready < replicas || updated < replicas {
			return false, ReasonNotYetAvailable, fmt.Sprintf("%d of %d replicas available, %d updated", ready, replicas, updated)
		}
		return true, ReasonAvailable, fmt.Sprintf("%d replicas available", ready)
	case "DaemonSet":
		desired := num("status", "desiredNumberScheduled")
		available := num("status", "numberAvailable")
		updated := num("status", "updatedNumberScheduled")
		if available < desired || updated < desired {
			return false, ReasonNotYetAvailable, fmt.Sprintf("%d of %d pods available, %d updated", available, desired, updated)
		}
		return true, ReasonAvailable, fmt.Sprintf("%d pods available", available)
	}
	return true, ReasonNotTrackable, "available once applied: the agent does not track this kind's readiness"
}

// removeObject deletes (or, abandoning, releases) one placed object, but
// only when it still carries the agent's label and this Work's annotation:
// anything else is not the agent's to touch.
func (a *Agent) removeObject(ctx context.Context, workName string, id placementv1.ResourceIdentifier, abandon bool) error {
	mapping, err := a.member.mapping(gvkOf(id))
	if err != nil {
		if meta.IsNoMatchError(err) {
			return nil // the kind is gone, and with it the object
		}
		return err
	}
	client := a.member.resource(mapping, id.Namespace)
	live, err := client.Get(ctx, id.Name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	if !isOurs(live) || live.GetAnnotations()[fleetv1.WorkAnnotation] != workName {
		return nil
	}
	if abandon {
		patch := map[string]any{"metadata": map[string]any{
			"labels":      map[string]any{fleetv1.ManagedByLabel: nil, fleetv1.PlacementLabel: nil},
			"annotations": map[string]any{fleetv1.WorkAnnotation: nil},
		}}
		data, _ := json.Marshal(patch)
		_, err = client.Patch(ctx, id.Name, types.MergePatchType, data, metav1.PatchOptions{FieldManager: FieldManager})
	} else {
		policy := metav1.DeletePropagationBackground
		err = client.Delete(ctx, id.Name, metav1.DeleteOptions{PropagationPolicy: &policy})
	}
	if apierrors.IsNotFound(err) {
		return nil
	}
	return err
}

func describe(id placementv1.ResourceIdentifier) string {
	kind := id.Kind
	if id.Group != "" {
		kind += "." + id.Group
	}
	if id.Namespace != "" {
		return kind + " " + id.Namespace + "/" + id.Name
	}
	return kind + " " + id.Name
}

// setCondition sets a condition, keeping its transition time when only the
// reason or message changes.
func setCondition(conds *[]metav1.Condition, condType string, ok bool, reason, msg string, generation int64, now metav1.Time) {
	s := metav1.ConditionFalse
	if ok {
		s = metav1.ConditionTrue
	}
	meta.SetStatusCondition(conds, metav1.Condition{
		Type: condType, Status: s, Reason: reason, Message: msg,
		ObservedGeneration: generation, LastTransitionTime: now,
	})
}
