// Package membership is the hub's membership controller: every heartbeat
// period it probes each member it reaches with stored credentials and records
// what it saw (version, nodes, failed pods, resources) and the conditions
// Joined, Reachable and Healthy. Members in agent mode report their own
// status; for them it only marks the member unreachable when heartbeats stop.
package membership

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	fleetv1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/internal/clusterprobe"
	"github.com/flotilla-dev/flotilla/internal/conditions"
	"github.com/flotilla-dev/flotilla/internal/enrollment"
	"github.com/flotilla-dev/flotilla/internal/hubexec"
	"github.com/flotilla-dev/flotilla/internal/memberaccess"
	"github.com/flotilla-dev/flotilla/internal/statuspatch"
)

// defaultHeartbeat applies when a member's spec leaves the period unset.
const defaultHeartbeat = 15 * time.Second

// maxProbeTimeout bounds a probe so that a hung member is seen as unreachable
// well within three heartbeat periods, and never holds a worker for long.
const maxProbeTimeout = memberaccess.RequestTimeout

// Reconciler probes members and records their status.
type Reconciler struct {
	Client   client.Client
	Recorder events.EventRecorder
	// MaxConcurrency is how many members are probed at once, so one slow or
	// dead member never delays the others. Zero means 32.
	MaxConcurrency int
	// Now is the clock; nil means time.Now.
	Now func() time.Time

	// Members gives clients for the members; shared with other controllers.
	Members *memberaccess.Clients
}

// SetupWithManager registers the controller.
func (r *Reconciler) SetupWithManager(mgr ctrl.Manager) error {
	if r.MaxConcurrency == 0 {
		r.MaxConcurrency = 32
	}
	return ctrl.NewControllerManagedBy(mgr).
		Named("membership").
		// Status writes must not trigger a probe: only spec and label changes do.
		For(&fleetv1.MemberCluster{}, builder.WithPredicates(predicate.Or(predicate.GenerationChangedPredicate{}, predicate.LabelChangedPredicate{}))).
		Watches(&corev1.Secret{}, handler.EnqueueRequestsFromMapFunc(func(_ context.Context, o client.Object) []reconcile.Request {
			if name := o.GetLabels()[enrollment.MemberLabel]; name != "" {
				return []reconcile.Request{{NamespacedName: types.NamespacedName{Name: name}}}
			}
			return nil
		})).
		WithOptions(controller.Options{MaxConcurrentReconciles: r.MaxConcurrency}).
		Complete(r)
}

func (r *Reconciler) now() time.Time {
	if r.Now != nil {
		return r.Now()
	}
	return time.Now()
}

// Reconcile probes one member and writes its status.
func (r *Reconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	member := &fleetv1.MemberCluster{}
	if err := r.Client.Get(ctx, req.NamespacedName, member); err != nil {
		if apierrors.IsNotFound(err) {
			r.Members.Forget(req.Name)
			return ctrl.Result{}, nil
		}
		return ctrl.Result{}, err
	}
	if !member.DeletionTimestamp.IsZero() {
		r.Members.Forget(member.Name)
		return ctrl.Result{}, nil
	}
	period := defaultHeartbeat
	if member.Spec.HeartbeatPeriodSeconds > 0 {
		period = time.Duration(member.Spec.HeartbeatPeriodSeconds) * time.Second
	}
	if member.Spec.Access.Mode == fleetv1.AccessAgent {
		return r.checkHeartbeat(ctx, member, period)
	}

	status := member.Status.DeepCopy()
	status.ObservedGeneration = member.Generation
	now := metav1.NewTime(r.now())
	access, err := r.Members.For(ctx, member)
	if err != nil {
		reason := fleetv1.ReasonCredentialsInvalid
		if refused := hubexec.Refused(err); refused != nil {
			reason = refused.Reason
		}
		r.setUnreachable(member, status, reason, err.Error())
		return r.finish(ctx, member, status, period)
	}
	probeCtx, cancel := context.WithTimeout(ctx, min(period, maxProbeTimeout))
	defer cancel()
	obs, err := clusterprobe.Probe(probeCtx, access.Client)
	if err != nil {
		r.setUnreachable(member, status, fleetv1.ReasonProbeFailed, err.Error())
		return r.finish(ctx, member, status, period)
	}
	before := status.DeepCopy()
	r.setCondition(member, status, conditions.True(fleetv1.MemberJoined, fleetv1.ReasonProbed, "the hub reaches the member with its stored credentials"))
	obs.Record(status, member.Generation, now, fleetv1.ReasonProbeSucceeded, "the member's API server is ready at "+access.Host)
	r.eventOnFlips(member, before, status)
	return r.finish(ctx, member, status, period)
}

// missedHeartbeats is how many heartbeat periods an agent may stay silent
// before its member counts as unreachable.
const missedHeartbeats = 3

// checkHeartbeat handles a member whose agent writes its status: the hub has
// no credentials to probe it, so it only notices when the heartbeats stop.
func (r *Reconciler) checkHeartbeat(ctx context.Context, member *fleetv1.MemberCluster, period time.Duration) (ctrl.Result, error) {
	deadline := missedHeartbeats * period
	last, since := member.CreationTimestamp.Time, "since the member was created"
	if hb := member.Status.LastHeartbeatTime; hb != nil {
		last, since = hb.Time, "since "+hb.UTC().Format(time.RFC3339)
	}
	// Status writes do not trigger a reconcile: look again when the
	// heartbeat would be missed.
	if age := r.now().Sub(last); age < deadline {
		return ctrl.Result{RequeueAfter: deadline - age}, nil
	}
	status := member.Status.DeepCopy()
	status.ObservedGeneration = member.Generation
	r.setUnreachable(member, status, fleetv1.ReasonHeartbeatMissed,
		fmt.Sprintf("no heartbeat from the member agent %s (%d heartbeat periods of %s)", since, missedHeartbeats, period))
	return r.finish(ctx, member, status, period)
}

func (r *Reconciler) setUnreachable(member *fleetv1.MemberCluster, status *fleetv1.MemberClusterStatus, reason, msg string) {
	before := status.DeepCopy()
	if meta.FindStatusCondition(status.Conditions, fleetv1.MemberJoined) == nil {
		r.setCondition(member, status, conditions.False(fleetv1.MemberJoined, reason, msg))
	}
	clusterprobe.RecordUnreachable(status, member.Generation, metav1.NewTime(r.now()), reason, msg)
	r.eventOnFlips(member, before, status)
}

// setCondition sets one condition; Events come from eventOnFlips.
func (r *Reconciler) setCondition(member *fleetv1.MemberCluster, status *fleetv1.MemberClusterStatus, c conditions.Condition) {
	conditions.Set(&status.Conditions, c, member.Generation, metav1.NewTime(r.now()))
}

// eventOnFlips records an Event for every condition whose status changed
// between before and after.
func (r *Reconciler) eventOnFlips(member *fleetv1.MemberCluster, before, after *fleetv1.MemberClusterStatus) {
	if r.Recorder == nil {
		return
	}
	for _, c := range after.Conditions {
		old := meta.FindStatusCondition(before.Conditions, c.Type)
		if old != nil && old.Status == c.Status {
			continue
		}
		eventType := corev1.EventTypeNormal
		if c.Status != metav1.ConditionTrue {
			eventType = corev1.EventTypeWarning
		}
		r.Recorder.Eventf(member, nil, eventType, c.Reason, c.Type, "%s=%s: %s", c.Type, c.Status, c.Message)
	}
}

// finish checks the agent's heartbeat, writes the status if it changed and
// asks to be called again in one period. The write is optimistic: a status
// the member's agent wrote meanwhile (AgentConnected) is not overwritten
// from a stale copy; the probe is simply redone soon after.
func (r *Reconciler) finish(ctx context.Context, member *fleetv1.MemberCluster, status *fleetv1.MemberClusterStatus, period time.Duration) (ctrl.Result, error) {
	r.checkAgent(member, status, period)
	patch := statuspatch.New(r.Client, member, statuspatch.WithOptimisticLock())
	member.Status = *status
	if err := patch.Patch(ctx, member); err != nil {
		if apierrors.IsConflict(err) {
			return ctrl.Result{RequeueAfter: conflictRetry}, nil
		}
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	return ctrl.Result{RequeueAfter: period}, nil
}

// conflictRetry is how soon a status write that lost a race is redone.
const conflictRetry = 200 * time.Millisecond

// checkAgent turns AgentConnected False once a joined member's agent has
// missed its heartbeats; placements then stop picking the member.
func (r *Reconciler) checkAgent(member *fleetv1.MemberCluster, status *fleetv1.MemberClusterStatus, period time.Duration) {
	c := meta.FindStatusCondition(status.Conditions, fleetv1.MemberAgentConnected)
	if c == nil || c.Status != metav1.ConditionTrue {
		return
	}
	last := c.LastTransitionTime.Time
	if hb := status.AgentLastHeartbeatTime; hb != nil {
		last = hb.Time
	}
	if r.now().Sub(last) < missedHeartbeats*period {
		return
	}
	before := status.DeepCopy()
	r.setCondition(member, status, conditions.False(fleetv1.MemberAgentConnected, fleetv1.ReasonHeartbeatMissed,
		fmt.Sprintf("no heartbeat from the member agent since %s (%d heartbeat periods of %s)", last.UTC().Format(time.RFC3339), missedHeartbeats, period)))
	r.eventOnFlips(member, before, status)
}
