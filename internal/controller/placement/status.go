package placement

import (
	"fmt"
	"strconv"

	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	placementv1 "github.com/flotilla-dev/flotilla/api/placement/v1"
	fleetv1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/internal/placement/scheduling"
	"github.com/flotilla-dev/flotilla/internal/placement/selection"
)

// maxListed bounds the failed, drifted and diffed lists (the API's MaxItems).
const maxListed = 100

func setCondition(status *placementv1.ClusterResourcePlacementStatus, gen int64, t string, s metav1.ConditionStatus, reason, msg string) {
	meta.SetStatusCondition(&status.Conditions, metav1.Condition{Type: t, Status: s, Reason: reason, Message: msg, ObservedGeneration: gen})
}

func statusEqual(a, b *placementv1.ClusterResourcePlacementStatus) bool {
	return equality.Semantic.DeepEqual(a, b)
}

// perCluster are the per-member condition types in the order Fleet reports
// them, with the placement-level type each one sums into and the words of
// the summary message.
var perCluster = []struct{ member, placement, done string }{
	{placementv1.ResourceRolloutStartedConditionType, placementv1.ClusterResourcePlacementRolloutStartedConditionType, "rollout started"},
	{placementv1.ResourceOverriddenConditionType, placementv1.ClusterResourcePlacementOverriddenConditionType, "overridden"},
	{placementv1.ResourceWorkSynchronizedConditionType, placementv1.ClusterResourcePlacementWorkSynchronizedConditionType, "work synchronized"},
	{placementv1.ResourcesAppliedConditionType, placementv1.ClusterResourcePlacementAppliedConditionType, "applied"},
	{placementv1.ResourcesAvailableConditionType, placementv1.ClusterResourcePlacementAvailableConditionType, "available"},
	{placementv1.ResourcesDiffReportedConditionType, placementv1.ClusterResourcePlacementDiffReportedConditionType, "diff reported"},
}

// buildStatus fills status from what this reconcile saw and did.
func (r *Reconciler) buildStatus(crp *placementv1.ClusterResourcePlacement, status *placementv1.ClusterResourcePlacementStatus,
	sel *selection.Selection, latest *fleetv1.ResourceSnapshot, decision scheduling.Result, ro *rolloutResult,
) {
	gen := crp.Generation
	status.SelectedResources = nil
	for _, o := range sel.Objects {
		gvk := o.GroupVersionKind()
		status.SelectedResources = append(status.SelectedResources, placementv1.ResourceIdentifier{
			Group: gvk.Group, Version: gvk.Version, Kind: gvk.Kind, Name: o.GetName(), Namespace: o.GetNamespace(),
		})
	}
	status.ObservedResourceIndex = strconv.Itoa(int(latest.Spec.Index))
	reason := "SchedulingPolicyFulfilled"
	cond := metav1.ConditionTrue
	if !decision.Satisfied {
		reason, cond = "SchedulingPolicyUnfulfilled", metav1.ConditionFalse
	}
	setCondition(status, gen, placementv1.ClusterResourcePlacementScheduledConditionType, cond, reason, decision.Message)

	reportDiff := crp.Spec.Strategy.ApplyStrategy != nil && crp.Spec.Strategy.ApplyStrategy.Type == placementv1.ApplyStrategyTypeReportDiff
	old := map[string]placementv1.ResourcePlacementStatus{}
	for _, ps := range status.PlacementStatuses {
		old[ps.ClusterName] = ps
	}
	status.PlacementStatuses = nil
	for _, d := range decision.Picked {
		ps := old[d.Member]
		memberStatus(&ps, ro.members[d.Member], latest, reportDiff, gen)
		status.PlacementStatuses = append(status.PlacementStatuses, ps)
	}

	for _, pc := range perCluster {
		skip := pc.member == placementv1.ResourcesDiffReportedConditionType && !reportDiff ||
			(pc.member == placementv1.ResourcesAppliedConditionType || pc.member == placementv1.ResourcesAvailableConditionType) && reportDiff
		if skip {
			meta.RemoveStatusCondition(&status.Conditions, pc.placement)
			continue
		}
		trueCount, falseCount := 0, 0
		for _, ps := range status.PlacementStatuses {
			switch c := meta.FindStatusCondition(ps.Conditions, pc.member); {
			case c == nil:
			case c.Status == metav1.ConditionTrue:
				trueCount++
			case c.Status == metav1.ConditionFalse:
				falseCount++
			}
		}
		total := len(status.PlacementStatuses)
		s, reason := metav1.ConditionUnknown, "Pending"
		switch {
		case falseCount > 0:
			s, reason = metav1.ConditionFalse, "Failed"
		case trueCount == total:
			s, reason = metav1.ConditionTrue, "Succeeded"
		}
		msg := fmt.Sprintf("%s on %d of %d clusters", pc.done, trueCount, total)
		if falseCount > 0 {
			msg += fmt.Sprintf(" (%d failed)", falseCount)
		}
		setCondition(status, gen, pc.placement, s, pc.placement[len("ClusterResourcePlacement"):]+reason, msg)
	}
}

// memberStatus fills one member's entry.
func memberStatus(ps *placementv1.ResourcePlacementStatus, st *memberState, latest *fleetv1.ResourceSnapshot, reportDiff bool, gen int64) {
	ps.ClusterName = st.decision.Member
	set := func(t string, s metav1.ConditionStatus, reason, msg string) {
		meta.SetStatusCondition(&ps.Conditions, metav1.Condition{Type: t, Status: s, Reason: reason, Message: msg, ObservedGeneration: gen})
	}
	set(placementv1.ResourceScheduledConditionType, metav1.ConditionTrue, "Scheduled", st.decision.Reason)
	ps.ObservedResourceIndex = ""
	if st.snapshot != nil {
		ps.ObservedResourceIndex = strconv.Itoa(int(st.snapshot.Spec.Index))
	}
	if st.binding != nil && st.binding.Spec.ResourceSnapshotName == latest.Name {
		set(placementv1.ResourceRolloutStartedConditionType, metav1.ConditionTrue, "RolloutStarted", "the newest resources are being placed")
	} else {
		set(placementv1.ResourceRolloutStartedConditionType, metav1.ConditionFalse, "RolloutNotStartedYet", "waiting for other members to become available (maxUnavailable)")
	}
	ps.ApplicableClusterResourceOverrides = st.overrides.ClusterResourceOverrides
	ps.ApplicableResourceOverrides = st.overrides.ResourceOverrides
	switch {
	case st.overrideErr != nil:
		set(placementv1.ResourceOverriddenConditionType, metav1.ConditionFalse, "OverriddenFailed", st.overrideErr.Error())
	case st.overrides.Empty():
		set(placementv1.ResourceOverriddenConditionType, metav1.ConditionTrue, "NoOverrideSpecified", "no override applies")
	default:
		set(placementv1.ResourceOverriddenConditionType, metav1.ConditionTrue, "OverriddenSucceeded", "overrides applied")
	}
	if st.synced {
		set(placementv1.ResourceWorkSynchronizedConditionType, metav1.ConditionTrue, "WorkSynchronized", "the Work holds the resources")
	} else {
		set(placementv1.ResourceWorkSynchronizedConditionType, metav1.ConditionFalse, "WorkNotSynchronizedYet", "the Work is not written yet")
	}

	agentCondition := func(t, workType string) {
		c := (*metav1.Condition)(nil)
		if st.work != nil && st.synced {
			c = currentCondition(st.work, workType)
		}
		if c == nil {
			set(t, metav1.ConditionUnknown, "WorkNotReported", "the member agent has not reported on the current Work")
			return
		}
		reason := c.Reason
		if reason == "" {
			// A condition needs a reason; an agent may not give one.
			reason = "Reported"
		}
		set(t, c.Status, reason, c.Message)
	}
	if reportDiff {
		meta.RemoveStatusCondition(&ps.Conditions, placementv1.ResourcesAppliedConditionType)
		meta.RemoveStatusCondition(&ps.Conditions, placementv1.ResourcesAvailableConditionType)
		agentCondition(placementv1.ResourcesDiffReportedConditionType, fleetv1.WorkDiffReported)
	} else {
		meta.RemoveStatusCondition(&ps.Conditions, placementv1.ResourcesDiffReportedConditionType)
		agentCondition(placementv1.ResourcesAppliedConditionType, fleetv1.WorkApplied)
		agentCondition(placementv1.ResourcesAvailableConditionType, fleetv1.WorkAvailable)
	}
	manifestReports(ps, st)
}

// observed is when the agent first saw a drift or diff; without its word,
// the Work's creation. Never the clock: status must not change by itself.
func observed(t *metav1.Time, w *fleetv1.Work) metav1.Time {
	if t != nil {
		return *t
	}
	return w.CreationTimestamp
}

// manifestReports copies the agent's per-manifest findings.
func manifestReports(ps *placementv1.ResourcePlacementStatus, st *memberState) {
	ps.FailedPlacements, ps.DriftedPlacements, ps.DiffedPlacements = nil, nil, nil
	if st.work == nil || !st.synced {
		return
	}
	for _, m := range st.work.Status.Manifests {
		for _, t := range []string{fleetv1.WorkApplied, fleetv1.WorkAvailable} {
			if c := meta.FindStatusCondition(m.Conditions, t); c != nil && c.Status == metav1.ConditionFalse && len(ps.FailedPlacements) < maxListed {
				ps.FailedPlacements = append(ps.FailedPlacements, placementv1.FailedResourcePlacement{ResourceIdentifier: m.Identifier, Condition: *c})
				break
			}
		}
		if len(m.Drifts) > 0 && len(ps.DriftedPlacements) < maxListed {
			first := observed(m.FirstDriftedObservedTime, st.work)
			d := placementv1.DriftedResourcePlacement{
				ResourceIdentifier: m.Identifier, ObservationTime: first, FirstDriftedObservedTime: first,
				TargetClusterObservedGeneration: m.ObservedGeneration, ObservedDrifts: m.Drifts,
			}
			ps.DriftedPlacements = append(ps.DriftedPlacements, d)
		}
		if len(m.Diffs) > 0 && len(ps.DiffedPlacements) < maxListed {
			g := m.ObservedGeneration
			first := observed(m.FirstDiffedObservedTime, st.work)
			d := placementv1.DiffedResourcePlacement{
				ResourceIdentifier: m.Identifier, ObservationTime: first, FirstDiffedObservedTime: first,
				TargetClusterObservedGeneration: &g, ObservedDiffs: m.Diffs,
			}
			ps.DiffedPlacements = append(ps.DiffedPlacements, d)
		}
	}
}
