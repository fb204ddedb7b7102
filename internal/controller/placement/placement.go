// Package placement is the ClusterResourcePlacement controller on the hub.
// Per placement it snapshots the selected resources, schedules members,
// keeps one binding per picked member, rolls the newest snapshot out to
// them within maxUnavailable, writes each member's Work (with overrides
// applied) and reports the agents' results in the placement's status,
// written once at the end of each reconcile. The decisions live in the
// pure packages under internal/placement (scheduling, rolloutplan,
// override); this package does the I/O.
package placement

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/events"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	placementv1 "github.com/flotilla-dev/flotilla/api/placement/v1"
	fleetv1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/internal/conditions"
	"github.com/flotilla-dev/flotilla/internal/enrollment"
	"github.com/flotilla-dev/flotilla/internal/fleetmetrics"
	"github.com/flotilla-dev/flotilla/internal/placement/scheduling"
	"github.com/flotilla-dev/flotilla/internal/placement/selection"
	"github.com/flotilla-dev/flotilla/internal/statuspatch"
)

// Defaults of the Reconciler's tunables.
const (
	DefaultUnreachableGrace = 5 * time.Minute
	// DefaultResync re-reads the selection even without a watch event, in
	// case a watch missed something.
	DefaultResync = 30 * time.Second
)

// Reconciler drives ClusterResourcePlacements.
type Reconciler struct {
	Client client.Client
	Reader *selection.Reader
	// Recorder records Events on placements; nil records none.
	Recorder events.EventRecorder
	// UnreachableGrace is how long a PickN placement keeps a member that
	// stopped answering before replacing it.
	UnreachableGrace time.Duration
	Resync           time.Duration
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Latency records the time from snapshot to Applied / Available per
	// member; nil records none.
	Latency *fleetmetrics.PlacementObserver
	// APIReader reads what the manager's cache does not hold: Secret data
	// and objects just written. Nil means the manager's API reader.
	APIReader client.Reader
	// FleetNamespace holds the snapshots' Secret data; "" means
	// flotilla-system.
	FleetNamespace string
	// PartBudget is the most bytes of serialized resources one snapshot or
	// Work holds before they are split into parts; 0 means
	// DefaultPartBudget.
	PartBudget int

	watches    *resourceWatches
	namespaces namespaceSet
	selections selectionCache
	// secretData caches snapshots' Secret data by snapshot part UID.
	secretData sync.Map
}

// DefaultPartBudget keeps every snapshot and Work well under the API
// server's request limit (about 1.5 MiB, etcd's) with room for metadata
// and status.
const DefaultPartBudget = 800 << 10

func (r *Reconciler) partBudget() int {
	if r.PartBudget > 0 {
		return r.PartBudget
	}
	return DefaultPartBudget
}

func (r *Reconciler) fleetNamespace() string {
	if r.FleetNamespace != "" {
		return r.FleetNamespace
	}
	return enrollment.Namespace
}

func (r *Reconciler) apiReader() client.Reader {
	if r.APIReader != nil {
		return r.APIReader
	}
	return r.Client
}

func (r *Reconciler) now() time.Time {
	if r.Now != nil {
		return r.Now()
	}
	return time.Now()
}

func (r *Reconciler) resync() time.Duration {
	if r.Resync > 0 {
		return r.Resync
	}
	return DefaultResync
}

// Reconcile brings one placement one step closer to its spec. Whatever
// happens, its status is written once, at the end: a failure shows as a
// False condition that says what failed.
func (r *Reconciler) Reconcile(ctx context.Context, req reconcile.Request) (result reconcile.Result, err error) {
	crp := &placementv1.ClusterResourcePlacement{}
	if err := r.Client.Get(ctx, req.NamespacedName, crp); err != nil {
		if apierrors.IsNotFound(err) {
			r.watches.forget(req.Name)
			r.selections.forget(req.Name)
		}
		return reconcile.Result{}, client.IgnoreNotFound(err)
	}
	if !crp.DeletionTimestamp.IsZero() {
		return r.finalize(ctx, crp)
	}
	if controllerutil.AddFinalizer(crp, placementv1.ClusterResourcePlacementCleanupFinalizer) {
		if err := r.Client.Update(ctx, crp); err != nil {
			return reconcile.Result{}, client.IgnoreNotFound(err)
		}
	}
	status := statuspatch.New(r.Client, crp, statuspatch.WithOptimisticLock())
	defer func() {
		perr := status.Patch(ctx, crp)
		switch {
		case perr == nil, apierrors.IsNotFound(perr):
		case apierrors.IsConflict(perr):
			// Our cached copy is behind (often our own last status write,
			// which wakes no one): compute again once the cache caught up.
			if err == nil {
				result = reconcile.Result{RequeueAfter: statusConflictRetry}
			}
		default:
			err = errors.Join(err, fmt.Errorf("writing the status of %s: %w", crp.Name, perr))
		}
		if err != nil {
			result = reconcile.Result{}
		}
	}()
	return r.place(ctx, crp)
}

// invalidPolicyReason is the Scheduled condition's reason for a policy
// whose selectors do not parse.
const invalidPolicyReason = "InvalidPolicy"

// place does one reconcile's work and records its outcome in crp.Status.
func (r *Reconciler) place(ctx context.Context, crp *placementv1.ClusterResourcePlacement) (reconcile.Result, error) {
	log := ctrl.LoggerFrom(ctx)
	now := r.now()
	stamp := metav1.NewTime(now)
	notScheduled := func(reason string, err error) {
		r.setCondition(crp, conditions.False(placementv1.ClusterResourcePlacementScheduledConditionType, reason, err.Error()), stamp)
	}

	if err := scheduling.ValidatePolicy(crp.Spec.Policy).ToAggregate(); err != nil {
		// Nothing is selected or placed for a policy that cannot be read;
		// what was placed before stays until the policy is fixed.
		notScheduled(invalidPolicyReason, err)
		return reconcile.Result{}, nil
	}
	sel, err := r.selection(ctx, crp)
	if err != nil {
		// A bad selector is the user's to fix: say so and look again later
		// (a CRD may yet be installed). Anything else is retried with
		// backoff.
		if errors.Is(err, selection.ErrNamespacedKind) || meta.IsNoMatchError(err) {
			notScheduled(placementv1.InvalidResourceSelectorsReason, err)
			return reconcile.Result{RequeueAfter: r.resync()}, nil
		}
		notScheduled(placementv1.ResourceSelectionFailedReason, err)
		return reconcile.Result{}, err
	}
	latest, snapshots, err := r.ensureSnapshot(ctx, crp, sel)
	if errors.Is(err, errNotCachedYet) {
		return reconcile.Result{RequeueAfter: time.Second}, nil
	}
	if err != nil {
		err = fmt.Errorf("snapshotting the selected resources: %w", err)
		notScheduled(placementv1.ResourceSelectionFailedReason, err)
		return reconcile.Result{}, err
	}
	obs, err := r.observe(ctx, crp.Name)
	if err != nil {
		notScheduled(placementv1.SchedulingFailedReason, err)
		return reconcile.Result{}, err
	}

	in := scheduling.Input{
		Policy:           crp.Spec.Policy,
		Members:          schedulingMembers(obs.members, now),
		Bound:            map[string]fleetv1.BindingState{},
		UnreachableGrace: r.unreachableGrace(),
	}
	for _, b := range obs.bindings {
		// Of duplicate bindings (rolloutplan deletes them) a live one counts.
		if state, ok := in.Bound[b.Spec.TargetCluster]; !ok || state == fleetv1.BindingUnscheduled {
			in.Bound[b.Spec.TargetCluster] = b.Spec.State
		}
	}
	decision := scheduling.Schedule(in)
	r.recordScheduling(crp, in.Bound, decision)

	ro := r.rollout(ctx, crp, latest, snapshots, decision, obs, log, now)
	r.buildStatus(crp, sel, latest, decision, ro, stamp)
	if err := ro.err(); err != nil {
		return reconcile.Result{}, err
	}
	next := r.resync()
	if ro.recheckIn > 0 && ro.recheckIn < next {
		next = ro.recheckIn
	}
	if ro.retrySoon && statusConflictRetry < next {
		next = statusConflictRetry
	}
	return reconcile.Result{RequeueAfter: next}, nil
}

func (r *Reconciler) unreachableGrace() time.Duration {
	if r.UnreachableGrace > 0 {
		return r.UnreachableGrace
	}
	return DefaultUnreachableGrace
}

// statusConflictRetry is how soon a reconcile whose write lost a race with
// a change not yet in the cache runs again.
const statusConflictRetry = 100 * time.Millisecond

// schedulingMembers turns MemberClusters into what the scheduler needs.
func schedulingMembers(items []fleetv1.MemberCluster, now time.Time) []scheduling.Member {
	out := make([]scheduling.Member, 0, len(items))
	for _, m := range items {
		sm := scheduling.Member{
			Name: m.Name, Labels: m.Labels, Properties: m.Status.Properties, Taints: m.Spec.Taints,
		}
		// Placement needs an agent: a member is a candidate once its agent
		// has reported (hubful), whatever the hub's own access to it, and
		// until it is deleted or leaves. It is eligible while its agent
		// heartbeats and its API server answers.
		agent := meta.FindStatusCondition(m.Status.Conditions, fleetv1.MemberAgentConnected)
		reachable := meta.FindStatusCondition(m.Status.Conditions, fleetv1.MemberReachable)
		candidate := agent != nil && m.DeletionTimestamp.IsZero() && m.Annotations[fleetv1.LeavingAnnotation] == ""
		switch {
		case !candidate:
		case agent.Status == metav1.ConditionTrue && (reachable == nil || reachable.Status == metav1.ConditionTrue):
			sm.Eligible = true
		default:
			sm.Unreachable = true
			since := now
			for _, c := range []*metav1.Condition{agent, reachable} {
				if c != nil && c.Status != metav1.ConditionTrue && c.LastTransitionTime.Time.Before(since) {
					since = c.LastTransitionTime.Time
				}
			}
			sm.UnreachableFor = now.Sub(since)
		}
		out = append(out, sm)
	}
	return out
}

// memberLeft reports whether a member is gone for good as far as its Works
// are concerned: deleted, being deleted, or without an agent. Its agent
// will never remove its finalizer, so the hub does.
func memberLeft(members map[string]*fleetv1.MemberCluster, name string) bool {
	m, ok := members[name]
	return !ok || !m.DeletionTimestamp.IsZero() || meta.FindStatusCondition(m.Status.Conditions, fleetv1.MemberAgentConnected) == nil
}

// recordScheduling emits an Event for each member picked or dropped.
func (r *Reconciler) recordScheduling(crp *placementv1.ClusterResourcePlacement, bound map[string]fleetv1.BindingState, d scheduling.Result) {
	if r.Recorder == nil {
		return
	}
	var added []string
	for _, p := range d.Picked {
		if state, ok := bound[p.Member]; !ok || state == fleetv1.BindingUnscheduled {
			added = append(added, p.Member)
		}
	}
	if len(added) > 0 {
		r.Recorder.Eventf(crp, nil, corev1.EventTypeNormal, "Scheduled", "Schedule", "picked %s: %s", strings.Join(added, ", "), d.Message)
	}
	if len(d.Unschedule) > 0 {
		r.Recorder.Eventf(crp, nil, corev1.EventTypeNormal, "Unscheduled", "Schedule", "no longer picked: %s", strings.Join(d.Unschedule, ", "))
	}
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
