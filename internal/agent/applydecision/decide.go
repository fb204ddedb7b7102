// Package applydecision decides what the member agent does with one manifest
// of a Work: given the manifest, the member's object (or its absence), what
// the agent last recorded and the apply strategy, it says whether to create,
// apply, take over, revert a drift, leave the object alone or only report,
// and with which condition. It does no I/O; the agent carries the decision
// out.
package applydecision

import (
	"fmt"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	placementv1 "github.com/flotilla-dev/flotilla/api/placement/v1"
	fleetv1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/internal/conditions"
)

// Action is what the agent does with a manifest.
type Action string

const (
	// Create applies a manifest whose object the member does not have.
	Create Action = "Create"
	// Apply applies a manifest whose object the agent placed but which the
	// agent has not yet applied at the Work's generation: the hub changed
	// it, or the last apply failed.
	Apply Action = "Apply"
	// RevertDrift applies a manifest again over changes made on the member
	// since the agent applied it at this generation.
	RevertDrift Action = "RevertDrift"
	// TakeOver applies a manifest over an object that exists on the member
	// and was not placed by the fleet, as whenToTakeOver allows.
	TakeOver Action = "TakeOver"
	// LeaveAlone writes nothing: the agent's object matches the manifest.
	LeaveAlone Action = "LeaveAlone"
	// ReportDrift writes nothing and reports the changes made on the member:
	// whenToApply is IfNotDrifted.
	ReportDrift Action = "ReportDrift"
	// RefuseTakeOver writes nothing: the object exists on the member, was
	// not placed by the fleet, and whenToTakeOver forbids taking it over.
	RefuseTakeOver Action = "RefuseTakeOver"
	// ReportConflict writes nothing: another Work the agent holds placed the
	// object, and keeps it until it lets go.
	ReportConflict Action = "ReportConflict"
	// ReportDiff writes nothing and reports how the member's object differs
	// from the manifest: the strategy's type is ReportDiff.
	ReportDiff Action = "ReportDiff"
)

// Writes says whether the action server-side applies Decision.Object.
func (a Action) Writes() bool {
	switch a {
	case Create, Apply, RevertDrift, TakeOver:
		return true
	}
	return false
}

// NotFoundOnMember is the ValueInMember of a diff that covers the whole
// object: it does not exist on the member.
const NotFoundOnMember = "<not found>"

// Input is everything a decision depends on.
type Input struct {
	// Work and Placement name the Work the manifest belongs to and its
	// placement; Generation is the Work's generation.
	Work, Placement string
	Generation      int64
	Strategy        placementv1.ApplyStrategy
	// Manifest is the hub's manifest, its namespace resolved for the member.
	Manifest *unstructured.Unstructured
	// Subject names the object in messages ("ConfigMap fintech/web").
	Subject string
	// Live is the member's object, nil when the member has none.
	Live *unstructured.Unstructured
	// OwnerHeld says whether the Work named by Live's annotation is one the
	// agent holds and that is not being deleted.
	OwnerHeld bool
	// Last is what the agent last recorded for this object in this Work,
	// nil when nothing.
	Last *fleetv1.ManifestStatus
}

// Decision is what to do with one manifest, and how to report it.
type Decision struct {
	Action Action
	// Object is what to server-side apply, for the actions that write.
	Object *unstructured.Unstructured
	// Condition reports the outcome: Applied for the apply strategies,
	// DiffReported for ReportDiff. For an action that writes it holds once
	// the write succeeded.
	Condition conditions.Condition
	// Diffs are where the member's object differs from the manifest
	// (ReportDiff, and a takeover refused under IfNoDiff).
	Diffs []placementv1.PatchDetail
	// Drifts are the fields changed on the member since the agent applied
	// them (ReportDrift).
	Drifts []placementv1.PatchDetail
	// Placed says that the member's object is already the agent's for this
	// manifest, to be removed with it; an action that writes makes it so
	// when the write succeeds.
	Placed bool
	// ForceConflicts says whether the write takes fields over from other
	// field managers: always under ClientSideApply (which the agent does as
	// a forced server-side apply, as a three-way merge would overwrite),
	// under ServerSideApply only with serverSideApplyConfig.force.
	ForceConflicts bool
}

// WithDefaults is the strategy with its unset fields defaulted.
func WithDefaults(s *placementv1.ApplyStrategy) placementv1.ApplyStrategy {
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

// Decide decides what to do with one manifest.
//
// ClientSideApply and ServerSideApply decide alike: the agent does both
// with a forced server-side apply, which, like ClientSideApply's three-way
// merge, leaves the fields the manifest does not set to their other owners.
// Under comparisonOption PartialComparison only the fields the manifest sets
// count; under FullComparison every field of the member's object does,
// those the member's API server defaults included. Fields the manifest does
// not set are reported, and (whenToApply IfNotDrifted) stop the apply, but
// are never "reverted": no apply would change them.
func Decide(in Input) Decision {
	d := decide(in)
	strategy := WithDefaults(&in.Strategy)
	if d.Action.Writes() {
		d.ForceConflicts = strategy.Type != placementv1.ApplyStrategyTypeServerSideApply ||
			strategy.ServerSideApplyConfig != nil && strategy.ServerSideApplyConfig.ForceConflicts
	}
	return d
}

func decide(in Input) Decision {
	strategy := WithDefaults(&in.Strategy)
	owner, ours := Owner(in.Live)
	if strategy.Type == placementv1.ApplyStrategyTypeReportDiff {
		return reportDiff(in, ours)
	}
	applied := conditions.True(fleetv1.WorkApplied, fleetv1.WorkReasonApplied, "applied")
	desired := Desired(in.Manifest, in.Work, in.Placement)

	if in.Live != nil && !strategy.AllowCoOwnership {
		if owners := in.Live.GetOwnerReferences(); len(owners) > 0 {
			return Decision{Action: RefuseTakeOver, Placed: ours, Condition: conditions.False(fleetv1.WorkApplied, fleetv1.WorkReasonNotTakenOver,
				fmt.Sprintf("%s on the member is also owned by %s %s (ownerReferences); allowCoOwnership is false, so the fleet does not apply it", in.Subject, owners[0].Kind, owners[0].Name))}
		}
	}
	if in.Live != nil && !ours {
		switch strategy.WhenToTakeOver {
		case placementv1.WhenToTakeOverTypeNever:
			return Decision{Action: RefuseTakeOver, Condition: conditions.False(fleetv1.WorkApplied, fleetv1.WorkReasonNotTakenOver,
				in.Subject+" exists on the member and was not placed by the fleet; whenToTakeOver is Never")}
		case placementv1.WhenToTakeOverTypeIfNoDiff:
			if diffs := compare(strategy.ComparisonOption, in.Manifest.Object, in.Live.Object); len(diffs) > 0 {
				return Decision{Action: RefuseTakeOver, Diffs: diffs, Condition: conditions.False(fleetv1.WorkApplied, fleetv1.WorkReasonNotTakenOver,
					fmt.Sprintf("%s exists on the member with %d fields that differ from the manifest; whenToTakeOver is IfNoDiff", in.Subject, len(diffs)))}
			}
		}
		return Decision{Action: TakeOver, Object: desired, Condition: applied}
	}
	if in.Live == nil {
		return Decision{Action: Create, Object: desired, Condition: applied}
	}
	if owner != "" && owner != in.Work && in.OwnerHeld {
		// Two Works must not fight over one object; the one that placed it
		// first keeps it until it lets go.
		return Decision{Action: ReportConflict, Condition: conditions.False(fleetv1.WorkApplied, fleetv1.WorkReasonConflict,
			fmt.Sprintf("%s is placed by Work %s", in.Subject, owner))}
	}
	// What an apply can put back: the fields the manifest sets.
	revertable := compareManifest(desired.Object, in.Live.Object)
	drifts := compare(strategy.ComparisonOption, desired.Object, in.Live.Object)
	switch {
	case len(drifts) == 0:
		return Decision{Action: LeaveAlone, Condition: applied, Placed: true}
	case !appliedAtGeneration(in.Last, in.Generation):
		// Not a drift: the hub's manifest is newer than what was applied.
		return Decision{Action: Apply, Object: desired, Condition: applied, Placed: true}
	case strategy.WhenToApply == placementv1.WhenToApplyTypeIfNotDrifted:
		return Decision{Action: ReportDrift, Drifts: drifts, Placed: true, Condition: conditions.False(fleetv1.WorkApplied, fleetv1.WorkReasonDrifted,
			fmt.Sprintf("%d fields were changed on the member; whenToApply is IfNotDrifted, so they are not overwritten", len(drifts)))}
	case len(revertable) == 0:
		// Under a full comparison: only fields the manifest does not set
		// differ, which no apply changes. Reported, not fought over.
		return Decision{Action: LeaveAlone, Drifts: drifts, Condition: applied, Placed: true}
	}
	return Decision{Action: RevertDrift, Object: desired, Condition: applied, Placed: true}
}

// reportDiff compares what the hub has with what the member has, and never
// writes.
func reportDiff(in Input, ours bool) Decision {
	var diffs []placementv1.PatchDetail
	if in.Live == nil {
		diffs = []placementv1.PatchDetail{{Path: "", ValueInMember: NotFoundOnMember, ValueInHub: in.Subject}}
	} else {
		diffs = compare(WithDefaults(&in.Strategy).ComparisonOption, in.Manifest.Object, in.Live.Object)
	}
	c := conditions.True(fleetv1.WorkDiffReported, fleetv1.WorkReasonNoDiffFound, "the member's object matches the hub's manifest")
	if len(diffs) > 0 {
		c = conditions.True(fleetv1.WorkDiffReported, fleetv1.WorkReasonDiffFound, fmt.Sprintf("%d fields differ from the hub's manifest", len(diffs)))
	}
	return Decision{Action: ReportDiff, Diffs: diffs, Condition: c, Placed: ours}
}

// appliedAtGeneration says whether the last status shows the manifest in
// place for this Work generation: then a difference is a drift made on the
// member, not a change from the hub.
func appliedAtGeneration(last *fleetv1.ManifestStatus, generation int64) bool {
	if last == nil || last.ObservedGeneration != generation {
		return false
	}
	c := meta.FindStatusCondition(last.Conditions, fleetv1.WorkApplied)
	return c != nil && (c.Status == metav1.ConditionTrue || c.Reason == fleetv1.WorkReasonDrifted)
}

// Desired is the manifest as the agent applies it: marked as placed by the
// Work, without anything the server owns.
func Desired(manifest *unstructured.Unstructured, work, placement string) *unstructured.Unstructured {
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
	labels[fleetv1.PlacementLabel] = placement
	obj.SetLabels(labels)
	annotations := obj.GetAnnotations()
	if annotations == nil {
		annotations = map[string]string{}
	}
	annotations[fleetv1.WorkAnnotation] = work
	obj.SetAnnotations(annotations)
	return obj
}

// Owner says whether a member object was placed by the agent, and the Work
// it names as its placer. Nil is no object.
func Owner(obj *unstructured.Unstructured) (work string, placed bool) {
	if obj == nil {
		return "", false
	}
	return obj.GetAnnotations()[fleetv1.WorkAnnotation], obj.GetLabels()[fleetv1.ManagedByLabel] == fleetv1.ManagedByAgent
}
