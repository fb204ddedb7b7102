package agent

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/dynamic"

	placementv1 "github.com/flotilla-dev/flotilla/api/placement/v1"
	fleetv1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/internal/agent/applydecision"
	"github.com/flotilla-dev/flotilla/internal/conditions"
	"github.com/flotilla-dev/flotilla/internal/placement/secretdata"
)

// FieldManager is the agent's server-side apply field manager on members.
const FieldManager = "flotilla-agent"

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

// syncManifest brings one manifest to the member according to the strategy
// and reports on it. prevs are the Work's previous manifest statuses. What
// to do is applydecision's call; this only reads, writes and reports.
func (a *Agent) syncManifest(ctx context.Context, work *fleetv1.Work, setName string, ordinal int, raw runtime.RawExtension,
	payload secretdata.Payload, strategy placementv1.ApplyStrategy, prevs []fleetv1.ManifestStatus,
) manifestResult {
	now := metav1.NewTime(a.now()).Rfc3339Copy()
	res := manifestResult{status: fleetv1.ManifestStatus{Ordinal: int32(ordinal), ObservedGeneration: work.Generation}}
	status := &res.status
	reportDiff := strategy.Type == placementv1.ApplyStrategyTypeReportDiff
	set := func(c conditions.Condition) { conditions.Set(&status.Conditions, c, work.Generation, now) }
	notApplied := conditions.False(fleetv1.WorkAvailable, fleetv1.WorkReasonNotApplied, "the manifest is not applied")
	fail := func(reason string, err error) manifestResult {
		condType := fleetv1.WorkApplied
		if reportDiff {
			condType = fleetv1.WorkDiffReported
		}
		set(conditions.False(condType, reason, err.Error()))
		if !reportDiff {
			set(notApplied)
		}
		res.err = err
		return res
	}

	manifest, err := decodeManifest(raw)
	if err != nil {
		// Retrying does not help: the hub must send a fixed manifest.
		r := fail(fleetv1.WorkReasonManifestInvalid, fmt.Errorf("manifest %d: %w", ordinal, err))
		r.err = nil
		return r
	}
	isSecret := secretdata.IsSecret(manifest)
	if entry, ok := payload[secretdata.Key(manifest.GetNamespace(), manifest.GetName())]; ok && isSecret {
		if err := secretdata.Join(manifest, entry); err != nil {
			r := fail(fleetv1.WorkReasonManifestInvalid, fmt.Errorf("manifest %d: %w", ordinal, err))
			r.err = nil
			return r
		}
	}
	// An apply that fails is also an Event on the member, regarding the
	// object it was for.
	failApply := func(err error) manifestResult {
		a.events.Eventf(manifest, nil, corev1.EventTypeWarning, "ApplyFailed", "Apply", "Work %s: %v", work.Name, err)
		return fail(fleetv1.WorkReasonApplyFailed, err)
	}
	id := identifierOf(manifest)
	mapping, err := a.member.mapping(manifest.GroupVersionKind())
	if err != nil {
		status.Identifier = id
		return failApply(err)
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
	status.Identifier = id
	res.resource = &mapping.Resource
	prev := previousStatus(prevs, id)
	if prev != nil {
		status.Conditions = slices.Clone(prev.Conditions)
	}
	client := a.member.resource(mapping, id.Namespace)

	live, err := client.Get(ctx, id.Name, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		live = nil
	case err != nil:
		return failApply(fmt.Errorf("reading %s: %w", describe(id), err))
	}
	owner, _ := applydecision.Owner(live)
	d := applydecision.Decide(applydecision.Input{
		Work: setName, Placement: work.Spec.Placement, Generation: work.Generation, Strategy: strategy,
		Manifest: manifest, Subject: describe(id), Live: live, OwnerHeld: a.placing(owner), Last: prev,
	})
	res.placed = d.Placed

	if reportDiff {
		meta.RemoveStatusCondition(&status.Conditions, fleetv1.WorkApplied)
		meta.RemoveStatusCondition(&status.Conditions, fleetv1.WorkAvailable)
	} else {
		meta.RemoveStatusCondition(&status.Conditions, fleetv1.WorkDiffReported)
	}
	if isSecret {
		// The Work's status is read by more than those allowed the data.
		redactData(d.Diffs)
		redactData(d.Drifts)
	}
	status.Diffs, status.FirstDiffedObservedTime = d.Diffs, firstObserved(d.Diffs, prevDiffed(prev), now)
	status.Drifts, status.FirstDriftedObservedTime = d.Drifts, firstObserved(d.Drifts, prevDrifted(prev), now)

	onMember := live
	if d.Action.Writes() {
		applied, err := a.apply(ctx, client, d.Object, d.ForceConflicts)
		if err != nil {
			return failApply(fmt.Errorf("applying %s: %w", describe(id), err))
		}
		res.placed, onMember = true, applied
		log := logr.FromContextOrDiscard(ctx)
		switch d.Action {
		case applydecision.TakeOver:
			log.Info("took over an object that existed on the member", "work", work.Name, "object", describe(id))
		case applydecision.RevertDrift:
			log.V(1).Info("reverted a change made on the member", "work", work.Name, "object", describe(id))
			a.metrics.driftCorrections.WithLabelValues(id.Kind).Inc()
			a.events.Eventf(applied, nil, corev1.EventTypeNormal, "DriftCorrected", "Revert",
				"reverted a change made on the member to what Work %s places", work.Name)
		}
	}
	set(d.Condition)
	switch {
	case reportDiff:
	case res.placed:
		set(availability(onMember))
	default:
		set(notApplied)
	}
	return res
}

// redactData blanks the values of a Secret's data in findings, keeping
// where they differ.
func redactData(findings []placementv1.PatchDetail) {
	for i := range findings {
		if secretdata.IsDataPath(findings[i].Path) {
			if findings[i].ValueInMember != "" {
				findings[i].ValueInMember = secretdata.Redacted
			}
			if findings[i].ValueInHub != "" {
				findings[i].ValueInHub = secretdata.Redacted
			}
		}
	}
}

// firstObserved is when a finding was first seen: kept from the previous
// status while it lasts, now when it is new, nil when there is none.
func firstObserved(findings []placementv1.PatchDetail, prev *metav1.Time, now metav1.Time) *metav1.Time {
	switch {
	case len(findings) == 0:
		return nil
	case prev != nil:
		return prev
	}
	return &now
}

func prevDiffed(prev *fleetv1.ManifestStatus) *metav1.Time {
	if prev == nil {
		return nil
	}
	return prev.FirstDiffedObservedTime
}

func prevDrifted(prev *fleetv1.ManifestStatus) *metav1.Time {
	if prev == nil {
		return nil
	}
	return prev.FirstDriftedObservedTime
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

// placing says whether the agent holds a Work that is not being deleted.
func (a *Agent) placing(name string) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	e := a.works[name]
	return e != nil && e.work.DeletionTimestamp.IsZero()
}

// apply server-side applies obj; with force the hub's manifest wins over
// other field managers for the fields it sets, without it a field another
// manager owns is a conflict the API server refuses.
func (a *Agent) apply(ctx context.Context, client interface {
	Patch(context.Context, string, types.PatchType, []byte, metav1.PatchOptions, ...string) (*unstructured.Unstructured, error)
}, obj *unstructured.Unstructured, force bool) (*unstructured.Unstructured, error) {
	data, err := json.Marshal(obj.Object)
	if err != nil {
		return nil, err
	}
	return client.Patch(ctx, obj.GetName(), types.ApplyPatchType, data, metav1.PatchOptions{FieldManager: FieldManager, Force: &force})
}

// availability judges workloads by their rollout status. Other kinds count
// as available once applied: the agent has no readiness signal for them.
func availability(obj *unstructured.Unstructured) conditions.Condition {
	ok, reason, msg := workloadAvailable(obj)
	return conditions.Of(fleetv1.WorkAvailable, ok, reason, msg)
}

func workloadAvailable(obj *unstructured.Unstructured) (ok bool, reason, message string) {
	if obj == nil {
		return false, fleetv1.WorkReasonNotApplied, "the object is not on the member"
	}
	gvk := obj.GroupVersionKind()
	if gvk.Group != "apps" {
		return true, fleetv1.WorkReasonNotTrackable, "available once applied: the agent does not track this kind's readiness"
	}
	// A count that is missing, or not an integer, counts as zero: the
	// workload controller has not reported it.
	num := func(fields ...string) int64 {
		v, _, _ := unstructured.NestedInt64(obj.Object, fields...)
		return v
	}
	observed := num("status", "observedGeneration")
	if observed < obj.GetGeneration() {
		return false, fleetv1.WorkReasonNotYetAvailable, "the workload controller has not yet seen the latest spec"
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
			return false, fleetv1.WorkReasonNotYetAvailable, fmt.Sprintf("%d of %d replicas available, %d updated", ready, replicas, updated)
		}
		return true, fleetv1.WorkReasonAvailable, fmt.Sprintf("%d replicas available", ready)
	case "DaemonSet":
		desired := num("status", "desiredNumberScheduled")
		available := num("status", "numberAvailable")
		updated := num("status", "updatedNumberScheduled")
		if available < desired || updated < desired {
			return false, fleetv1.WorkReasonNotYetAvailable, fmt.Sprintf("%d of %d pods available, %d updated", available, desired, updated)
		}
		return true, fleetv1.WorkReasonAvailable, fmt.Sprintf("%d pods available", available)
	}
	return true, fleetv1.WorkReasonNotTrackable, "available once applied: the agent does not track this kind's readiness"
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
	if owner, placed := applydecision.Owner(live); !placed || owner != workName {
		return nil
	}
	if abandon {
		err = release(ctx, client, id.Name)
	} else {
		policy := metav1.DeletePropagationBackground
		err = client.Delete(ctx, id.Name, metav1.DeleteOptions{PropagationPolicy: &policy})
	}
	if apierrors.IsNotFound(err) {
		return nil
	}
	return err
}

// release removes the agent's label and the Work's annotation from a placed
// object, which stays on the member, no longer the agent's.
func release(ctx context.Context, client dynamic.ResourceInterface, name string) error {
	patch := map[string]any{"metadata": map[string]any{
		"labels":      map[string]any{fleetv1.ManagedByLabel: nil, fleetv1.PlacementLabel: nil},
		"annotations": map[string]any{fleetv1.WorkAnnotation: nil},
	}}
	data, err := json.Marshal(patch)
	if err != nil {
		return err
	}
	_, err = client.Patch(ctx, name, types.MergePatchType, data, metav1.PatchOptions{FieldManager: FieldManager})
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
