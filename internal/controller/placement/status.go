package placement

import (
	"fmt"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	placementv1 "github.com/flotilla-dev/flotilla/api/placement/v1"
	fleetv1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/internal/conditions"
	"github.com/flotilla-dev/flotilla/internal/placement/scheduling"
	"github.com/flotilla-dev/flotilla/internal/placement/selection"
)

// maxListed bounds the failed, drifted and diffed lists (the API's MaxItems).
const maxListed = 100

// maxErrorsShown bounds how many failures a summary condition quotes.
const maxErrorsShown = 3

// setCondition sets a placement-wide condition and, when it flips to True
// or False, records an Event.
func (r *Reconciler) setCondition(crp *placementv1.ClusterResourcePlacement, c conditions.Condition, now metav1.Time) {
	if !conditions.Set(&crp.Status.Conditions, c, crp.Generation, now) || c.Status == metav1.ConditionUnknown || r.Recorder == nil {
		return
	}
	kind := corev1.EventTypeNormal
	if c.Status == metav1.ConditionFalse {
		kind = corev1.EventTypeWarning
	}
	action := strings.TrimPrefix(c.Type, "ClusterResourcePlacement")
	r.Recorder.Eventf(crp, nil, kind, c.Reason, action, "%s", c.Message)
}

// perCluster are the per-member condition types in the order Fleet reports
// them, with the placement-wide type each one sums into, the words of the
// summary message and the summary's reasons.
var perCluster = []struct {
	member, placement, done    string
	pending, failed, succeeded string
}{
	{placementv1.ResourceRolloutStartedConditionType, placementv1.ClusterResourcePlacementRolloutStartedConditionType, "rollout started",
		placementv1.RolloutStartedPendingReason, placementv1.RolloutStartedFailedReason, placementv1.RolloutStartedSucceededReason},
	{placementv1.ResourceOverriddenConditionType, placementv1.ClusterResourcePlacementOverriddenConditionType, "overridden",
		placementv1.OverriddenPendingReason, placementv1.OverriddenFailedReason, placementv1.OverriddenSucceededReason},
	{placementv1.ResourceWorkSynchronizedConditionType, placementv1.ClusterResourcePlacementWorkSynchronizedConditionType, "work synchronized",
		placementv1.WorkSynchronizedPendingReason, placementv1.WorkSynchronizedFailedReason, placementv1.WorkSynchronizedSucceededReason},
	{placementv1.ResourcesAppliedConditionType, placementv1.ClusterResourcePlacementAppliedConditionType, "applied",
		placementv1.AppliedPendingReason, placementv1.AppliedFailedReason, placementv1.AppliedSucceededReason},
	{placementv1.ResourcesAvailableConditionType, placementv1.ClusterResourcePlacementAvailableConditionType, "available",
		placementv1.AvailablePendingReason, placementv1.AvailableFailedReason, placementv1.AvailableSucceededReason},
	{placementv1.ResourcesDiffReportedConditionType, placementv1.ClusterResourcePlacementDiffReportedConditionType, "diff reported",
		placementv1.DiffReportedPendingReason, placementv1.DiffReportedFailedReason, placementv1.DiffReportedSucceededReason},
}

// buildStatus fills the placement's status from what this reconcile saw
// and did.
func (r *Reconciler) buildStatus(crp *placementv1.ClusterResourcePlacement, sel *selection.Selection, latest *fleetv1.ResourceSnapshot,
	decision scheduling.Result, ro *rolloutResult, now metav1.Time,
) {
	status := &crp.Status
	gen := crp.Generation
	status.SelectedResources = nil
	for _, o := range sel.Objects {
		gvk := o.GroupVersionKind()
		status.SelectedResources = append(status.SelectedResources, placementv1.ResourceIdentifier{
			Group: gvk.Group, Version: gvk.Version, Kind: gvk.Kind, Name: o.GetName(), Namespace: o.GetNamespace(),
		})
	}
	status.ObservedResourceIndex = strconv.Itoa(int(latest.Spec.Index))
	r.setCondition(crp, conditions.Of(placementv1.ClusterResourcePlacementScheduledConditionType, decision.Satisfied,
		scheduledReason(decision.Satisfied), decision.Message), now)

	reportDiff := crp.Spec.Strategy.ApplyStrategy != nil && crp.Spec.Strategy.ApplyStrategy.Type == placementv1.ApplyStrategyTypeReportDiff
	old := map[string]placementv1.ResourcePlacementStatus{}
	for _, ps := range status.PlacementStatuses {
		old[ps.ClusterName] = ps
	}
	status.PlacementStatuses = nil
	for _, d := range decision.Picked {
		ps := old[d.Member]
		st := ro.members[d.Member]
		memberStatus(&ps, st, latest, reportDiff, gen, now)
		r.Latency.Observe(d.Member, st.snapshot, st.work)
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
		failures := ro.failures(pc.member, decision)
		total := len(status.PlacementStatuses)
		msg := fmt.Sprintf("%s on %d of %d clusters", pc.done, trueCount, total)
		if falseCount > 0 {
			msg += fmt.Sprintf(" (%d failed)", falseCount)
		}
		if len(failures) > 0 {
			msg += ": " + quote(failures)
		}
		c := conditions.Unknown(pc.placement, pc.pending, msg)
		switch {
		case falseCount > 0 || len(failures) > 0:
			c = conditions.False(pc.placement, pc.failed, msg)
		case trueCount == total:
			c = conditions.True(pc.placement, pc.succeeded, msg)
		}
		r.setCondition(crp, c, now)
	}
}

func scheduledReason(satisfied bool) string {
	if satisfied {
		return placementv1.SchedulingPolicyFulfilledReason
	}
	return placementv1.SchedulingPolicyUnfulfilledReason
}

// failures are the errors this reconcile met that a summary condition of
// perMemberType must show: the binding writes for RolloutStarted (and the
// removals of members no longer picked), the Work writes for
// WorkSynchronized.
func (ro *rolloutResult) failures(perMemberType string, decision scheduling.Result) []string {
	var out []string
	for _, d := range decision.Picked {
		st := ro.members[d.Member]
		var err error
		switch perMemberType {
		case placementv1.ResourceRolloutStartedConditionType:
			err = st.rolloutErr
		case placementv1.ResourceWorkSynchronizedConditionType:
			err = st.syncErr
		}
		if err != nil {
			out = append(out, d.Member+": "+err.Error())
		}
	}
	if perMemberType == placementv1.ResourceRolloutStartedConditionType {
		for _, err := range ro.removalErrs {
			out = append(out, err.Error())
		}
	}
	return out
}

// quote joins the first few failures.
func quote(failures []string) string {
	if len(failures) <= maxErrorsShown {
		return strings.Join(failures, "; ")
	}
	return strings.Join(failures[:maxErrorsShown], "; ") + fmt.Sprintf("; and %d more", len(failures)-maxErrorsShown)
}

// memberStatus fills one member's entry.
func memberStatus(ps *placementv1.ResourcePlacementStatus, st *memberState, latest *fleetv1.ResourceSnapshot, reportDiff bool, gen int64, now metav1.Time) {
	ps.ClusterName = st.decision.Member
	set := func(c conditions.Condition) { conditions.Set(&ps.Conditions, c, gen, now) }
	set(conditions.True(placementv1.ResourceScheduledConditionType, placementv1.ScheduleSucceededReason, st.decision.Reason))
	ps.ObservedResourceIndex = ""
	if st.snapshot != nil {
		ps.ObservedResourceIndex = strconv.Itoa(int(st.snapshot.Spec.Index))
	}
	const rollout = placementv1.ResourceRolloutStartedConditionType
	switch {
	case st.rolloutErr != nil:
		set(conditions.False(rollout, placementv1.RolloutFailedReason, st.rolloutErr.Error()))
	case st.binding != nil && st.binding.Spec.ResourceSnapshotName == latest.Name:
		set(conditions.True(rollout, placementv1.RolloutStartedReason, "the newest resources are being placed"))
	default:
		set(conditions.False(rollout, placementv1.RolloutNotStartedYetReason, "waiting for other members to become available (maxUnavailable)"))
	}
	ps.ApplicableClusterResourceOverrides = st.overrides.ClusterResourceOverrides
	ps.ApplicableResourceOverrides = st.overrides.ResourceOverrides
	const overridden = placementv1.ResourceOverriddenConditionType
	switch {
	case st.overrideErr != nil:
		set(conditions.False(overridden, placementv1.OverriddenFailedReason, st.overrideErr.Error()))
	case st.overrides.Empty():
		set(conditions.True(overridden, placementv1.OverrideNotSpecifiedReason, "no override applies"))
	default:
		set(conditions.True(overridden, placementv1.OverriddenSucceededReason, "overrides applied"))
	}
	const synchronized = placementv1.ResourceWorkSynchronizedConditionType
	switch {
	case st.syncErr != nil:
		set(conditions.False(synchronized, placementv1.SyncWorkFailedReason, st.syncErr.Error()))
	case st.synced:
		set(conditions.True(synchronized, placementv1.WorkSynchronizedReason, "the Work holds the resources"))
	default:
		set(conditions.False(synchronized, placementv1.WorkNotSynchronizedYetReason, "the Work is not written yet"))
	}

	agentCondition := func(t, workType string) {
		c := (*metav1.Condition)(nil)
		if st.work != nil && st.synced {
			c = setCondition(append([]*fleetv1.Work{st.work}, st.parts...), workType)
		}
		if c == nil {
			set(conditions.Unknown(t, placementv1.WorkNotReportedReason, "the member agent has not reported on the current Work"))
			return
		}
		reason := c.Reason
		if reason == "" {
			// A condition needs a reason; an agent may not give one.
			reason = placementv1.WorkReportedReason
		}
		set(conditions.Condition{Type: t, Status: c.Status, Reason: reason, Message: c.Message})
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

// observedAt is when the agent first saw a drift or diff; without its word,
// the Work's creation. Never the clock: status must not change by itself.
func observedAt(t *metav1.Time, w *fleetv1.Work) metav1.Time {
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
	for _, w := range append([]*fleetv1.Work{st.work}, st.parts...) {
		workManifestReports(ps, w)
	}
}

// workManifestReports copies the findings of one Work (part).
func workManifestReports(ps *placementv1.ResourcePlacementStatus, w *fleetv1.Work) {
	for _, m := range w.Status.Manifests {
		for _, t := range []string{fleetv1.WorkApplied, fleetv1.WorkAvailable} {
			if c := meta.FindStatusCondition(m.Conditions, t); c != nil && c.Status == metav1.ConditionFalse && len(ps.FailedPlacements) < maxListed {
				ps.FailedPlacements = append(ps.FailedPlacements, placementv1.FailedResourcePlacement{ResourceIdentifier: m.Identifier, Condition: *c})
				break
			}
		}
		if len(m.Drifts) > 0 && len(ps.DriftedPlacements) < maxListed {
			first := observedAt(m.FirstDriftedObservedTime, w)
			d := placementv1.DriftedResourcePlacement{
				ResourceIdentifier: m.Identifier, ObservationTime: first, FirstDriftedObservedTime: first,
				TargetClusterObservedGeneration: m.ObservedGeneration, ObservedDrifts: m.Drifts,
			}
			ps.DriftedPlacements = append(ps.DriftedPlacements, d)
		}
		if len(m.Diffs) > 0 && len(ps.DiffedPlacements) < maxListed {
			g := m.ObservedGeneration
			first := observedAt(m.FirstDiffedObservedTime, w)
			d := placementv1.DiffedResourcePlacement{
				ResourceIdentifier: m.Identifier, ObservationTime: first, FirstDiffedObservedTime: first,
				TargetClusterObservedGeneration: &g, ObservedDiffs: m.Diffs,
			}
			ps.DiffedPlacements = append(ps.DiffedPlacements, d)
		}
	}
}
