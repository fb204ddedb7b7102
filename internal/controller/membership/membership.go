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
	"k8s.io/apimachinery/pkg/api/equality"
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
	"github.com/flotilla-dev/flotilla/internal/enrollment"
	"github.com/flotilla-dev/flotilla/internal/memberaccess"
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
	access, err := r.Members.For(ctx, member)
	if err != nil {
		r.setUnreachable(member, status, "CredentialsInvalid", err.Error())
		return r.finish(ctx, member, status, period)
	}
	probeCtx, cancel := context.WithTimeout(ctx, min(period, maxProbeTimeout))
	defer cancel()
	obs, err := clusterprobe.Probe(probeCtx, access.Client)
	if err != nil {
		r.setUnreachable(member, status, "ProbeFailed", err.Error())
		return r.finish(ctx, member, status, period)
	}

	now := metav1.NewTime(r.now())
	status.KubernetesVersion = obs.KubernetesVersion
	status.Nodes = obs.Nodes
	status.FailedPods = obs.FailedPods
	status.ResourceUsage = obs.ResourceUsage
	status.Properties = obs.Properties
	status.LastHeartbeatTime = &now
	r.setCondition(member, status, fleetv1.MemberJoined, true, "Probed", "the hub reaches the member with its stored credentials")
	r.setCondition(member, status, fleetv1.MemberReachable, true, "ProbeSucceeded", "the member's API server is ready at "+access.Host)
	ok, reason, msg := obs.Healthy()
	r.setCondition(member, status, fleetv1.MemberHealthy, ok, reason, msg)
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
	r.setUnreachable(member, status, "HeartbeatMissed",
		fmt.Sprintf("no heartbeat from the member agent %s (%d heartbeat periods of %s)", since, missedHeartbeats, period))
	return r.finish(ctx, member, status, period)
}

func (r *Reconciler) setUnreachable(member *fleetv1.MemberCluster, status *fleetv1.MemberClusterStatus, reason, msg string) {
	if meta.FindStatusCondition(status.Conditions, fleetv1.MemberJoined) == nil {
		r.setCondition(member, status, fleetv1.MemberJoined, false, reason, msg)
	}
	r.setCondition(member, status, fleetv1.MemberReachable, false, reason, msg)
	r.setCondition(member, status, fleetv1.MemberHealthy, false, "Unreachable", "the member cannot be probed: "+msg)
}

// setCondition sets a condition and records an Event when its status flips.
func (r *Reconciler) setCondition(member *fleetv1.MemberCluster, status *fleetv1.MemberClusterStatus, condType string, ok bool, reason, msg string) {
	s := metav1.ConditionFalse
	if ok {
		s = metav1.ConditionTrue
	}
	old := meta.FindStatusCondition(status.Conditions, condType)
	if old != nil && old.Status == s && old.Reason == reason && old.Message == msg {
		return
	}
	if r.Recorder != nil && (old == nil || old.Status != s) {
		eventType := corev1.EventTypeNormal
		if !ok {
			eventType = corev1.EventTypeWarning
		}
		r.Recorder.Eventf(member, nil, eventType, reason, "Probe", "%s=%s: %s", condType, s, msg)
	}
	meta.SetStatusCondition(&status.Conditions, metav1.Condition{
		Type: condType, Status: s, Reason: reason, Message: msg,
		ObservedGeneration: member.Generation,
		LastTransitionTime: metav1.NewTime(r.now()),
	})
}

// finish checks the agent's heartbeat, writes the status if it changed and
// asks to be called again in one period. The write is optimistic: a status
// the member's agent wrote meanwhile (AgentConnected) is not overwritten
// from a stale copy; the probe is simply redone soon after.
func (r *Reconciler) finish(ctx context.Context, member *fleetv1.MemberCluster, status *fleetv1.MemberClusterStatus, period time.Duration) (ctrl.Result, error) {
	r.checkAgent(member, status, period)
	if equality.Semantic.DeepEqual(&member.Status, status) {
		return ctrl.Result{RequeueAfter: period}, nil
	}
	patch := client.MergeFromWithOptions(member.DeepCopy(), client.MergeFromWithOptimisticLock{})
	member.Status = *status
	if err := r.Client.Status().Patch(ctx, member, patch); err != nil {
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
	r.setCondition(member, status, fleetv1.MemberAgentConnected, false, "HeartbeatMissed",
		fmt.Sprintf("no heartbeat from the member agent since %s (%d heartbeat periods of %s)", last.UTC().Format(time.RFC3339), missedHeartbeats, period))
}
