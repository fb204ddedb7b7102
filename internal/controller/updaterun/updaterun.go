// Package updaterun is the UpdateRun controller: it snapshots the strategy,
// gathers observations (member versions, upgrade progress, gates, health
// checks), lets the staged-rollout engine decide, writes the status and then
// carries out the engine's actions. All decisions are the engine's; this
// package only does I/O.
package updaterun

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	"k8s.io/client-go/util/workqueue"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/source"

	fleetv1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/internal/conditions"
	"github.com/flotilla-dev/flotilla/internal/fleetmetrics"
	"github.com/flotilla-dev/flotilla/internal/healthcheck"
	"github.com/flotilla-dev/flotilla/internal/hubexec"
	"github.com/flotilla-dev/flotilla/internal/memberaccess"
	"github.com/flotilla-dev/flotilla/internal/notify"
	"github.com/flotilla-dev/flotilla/internal/rollout"
	"github.com/flotilla-dev/flotilla/internal/runinput"
	"github.com/flotilla-dev/flotilla/internal/statuspatch"
	"github.com/flotilla-dev/flotilla/internal/upgrade"
)

// pollInterval is how often in-flight upgrades are polled; it bounds the
// delay between one member finishing and the next one starting.
const pollInterval = 200 * time.Millisecond

// conflictRetry is how soon a status write that lost a race is redone.
const conflictRetry = 50 * time.Millisecond

// refusedRetry is how soon a run that cannot proceed is looked at again.
const refusedRetry = 10 * time.Second

// Reconciler drives update runs.
type Reconciler struct {
	Client    client.Client
	Recorder  events.EventRecorder
	Members   *memberaccess.Clients
	Providers upgrade.Providers
	// WorkDir holds files for health-check commands.
	WorkDir string
	// Programs decides whether Command health checks may run; nil refuses
	// them.
	Programs hubexec.Permitter
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Instance names this hub process in the upgrade attempts it starts, so
	// that a replica taking over after a failover knows which attempts a
	// dead one started. Empty means the host name and a random suffix.
	Instance string

	// Notifier delivers transitions to the strategy's webhooks; nil sends
	// none.
	Notifier *notify.Notifier
	// Secrets reads the webhooks' signing Secrets (the manager's cache
	// holds only member Secrets); nil means Client.
	Secrets client.Reader

	checks    *checkRunner
	preflight preflightPassed
}

// NewInstanceName names a hub process: unique per process, readable.
func NewInstanceName() string {
	host, err := os.Hostname()
	if err != nil {
		host = "hub"
	}
	suffix := make([]byte, 3)
	_, _ = rand.Read(suffix) // crypto/rand never fails on supported platforms
	return host + "-" + hex.EncodeToString(suffix)
}

// SetupWithManager registers the controller and its health-check runner.
func (r *Reconciler) SetupWithManager(mgr manager.Manager) error {
	if r.Instance == "" {
		r.Instance = NewInstanceName()
	}
	wake := make(chan event.GenericEvent, 64)
	r.checks = newCheckRunner(wake)
	if err := mgr.Add(r.checks); err != nil {
		return err
	}
	gateToRun := handler.EnqueueRequestsFromMapFunc(func(_ context.Context, o client.Object) []reconcile.Request {
		if run := o.GetLabels()[fleetv1.UpdateRunLabel]; run != "" {
			return []reconcile.Request{{NamespacedName: types.NamespacedName{Name: run}}}
		}
		return nil
	})
	return builder.ControllerManagedBy(mgr).
		Named("updaterun").
		For(&fleetv1.UpdateRun{}).
		Watches(&fleetv1.Gate{}, gateToRun).
		// A run waiting for a member another run holds moves when that
		// run's status changes, not at a resync hours later.
		Watches(&fleetv1.UpdateRun{}, handler.EnqueueRequestsFromMapFunc(r.runsWaitingBeside)).
		WatchesRawSource(source.Channel(wake, &handler.EnqueueRequestForObject{})).
		// One worker: runs see each other's members consistently, so two runs
		// never upgrade the same member at once.
		WithOptions(controller.Options{
			MaxConcurrentReconciles: 1,
			RateLimiter:             workqueue.NewTypedItemExponentialFailureRateLimiter[reconcile.Request](5*time.Millisecond, maxRetryDelay),
		}).
		Complete(r)
}

// maxRetryDelay caps the backoff before a failed reconcile is retried. The
// default doubles up to 16 minutes: after the hub's API server was down for
// 20 s, a run sat still for a minute once it was back (the fault suite's
// TestHubAPIServerDown), and longer outages cost longer still.
const maxRetryDelay = 10 * time.Second

// runsWaitingBeside lists the other runs that have a member waiting
// (Pending), which may be waiting for a member o holds.
func (r *Reconciler) runsWaitingBeside(ctx context.Context, o client.Object) []reconcile.Request {
	runs := &fleetv1.UpdateRunList{}
	if err := r.Client.List(ctx, runs); err != nil {
		ctrl.LoggerFrom(ctx).Error(err, "listing update runs to wake those waiting for a member")
		return nil
	}
	var out []reconcile.Request
	for i := range runs.Items {
		other := &runs.Items[i]
		if other.Name != o.GetName() && other.Status.State == fleetv1.StateRunning && hasPendingMember(other) {
			out = append(out, reconcile.Request{NamespacedName: types.NamespacedName{Name: other.Name}})
		}
	}
	return out
}

func hasPendingMember(run *fleetv1.UpdateRun) bool {
	for _, p := range memberStates(run) {
		if p.State == fleetv1.StatePending {
			return true
		}
	}
	return false
}

func (r *Reconciler) now() time.Time {
	if r.Now != nil {
		return r.Now()
	}
	return time.Now()
}

// Reconcile takes one step of a run.
func (r *Reconciler) Reconcile(ctx context.Context, req reconcile.Request) (reconcile.Result, error) {
	run := &fleetv1.UpdateRun{}
	if err := r.Client.Get(ctx, req.NamespacedName, run); err != nil {
		if apierrors.IsNotFound(err) {
			r.checks.forget(req.Name)
			// Local hubs run no garbage collector, and a run created later
			// under the same name must never find an approved gate.
			return reconcile.Result{}, r.deleteGatesOf(ctx, req.Name, "")
		}
		return reconcile.Result{}, err
	}
	if !run.DeletionTimestamp.IsZero() {
		r.checks.forget(run.Name)
		return reconcile.Result{}, nil
	}

	strategy, err := runinput.Strategy(ctx, r.Client, run)
	if err == nil {
		// Refused before the engine sees it: a run whose strategy is
		// invalid touches no member and opens no gate.
		err = runinput.Validate(run, strategy)
	}
	if err != nil {
		return r.refuse(ctx, run, err)
	}
	memberList := &fleetv1.MemberClusterList{}
	if err := r.Client.List(ctx, memberList); err != nil {
		return reconcile.Result{}, fmt.Errorf("listing members: %w", err)
	}
	startRequest := run.Annotations[fleetv1.StartRequestAnnotation]
	if startRequest != "" && startRequest != run.Status.LastStartRequest {
		// A resumed run retries its failed members: earlier check results no longer hold.
		r.checks.forget(run.Name)
	}
	// Snapshot before anything changes the status, the images a Consistent
	// run chooses as it starts included. Written after the step: a restart
	// after that finds the members it started recorded as Running and does
	// not start them again. The lock makes a step computed from a stale copy
	// lose, not win.
	patch := statuspatch.New(r.Client, run, statuspatch.WithOptimisticLock())
	chooseConsistentImages(ctx, r.Providers, run, memberList.Items)
	obs, err := r.observe(ctx, run, memberList.Items)
	if err != nil {
		return reconcile.Result{}, err
	}

	in := rollout.Input{
		RunName:      run.Name,
		Strategy:     *strategy,
		Target:       r.runTarget(ctx, run, memberList.Items),
		Members:      runinput.Members(memberList.Items),
		Desired:      run.Spec.State,
		StartRequest: startRequest,
		RetryMembers: retryMembers(run),
		Skip:         run.Spec.Skip,
		Status:       *run.Status.DeepCopy(),
		Observed:     obs,
		Now:          r.now(),
		Instance:     r.Instance,
	}
	res := rollout.Step(in)
	res.Status.ObservedGeneration = run.Generation
	setRunConditions(&res.Status, run.Generation, metav1.NewTime(in.Now))
	run.Status = res.Status
	if err := patch.Patch(ctx, run); err != nil {
		if apierrors.IsConflict(err) {
			return reconcile.Result{RequeueAfter: conflictRetry}, nil
		}
		return reconcile.Result{}, fmt.Errorf("writing the status of update run %s: %w", run.Name, err)
	}
	fleetmetrics.Observe(fleetmetrics.RunObservations(&in.Status, &run.Status))
	for _, t := range res.Transitions {
		r.event(run, t)
	}
	r.notify(ctx, run, strategy.Notifications, res.Transitions)
	if err := r.act(ctx, run, memberList.Items, res.Actions); err != nil {
		return reconcile.Result{}, err
	}
	return reconcile.Result{RequeueAfter: r.nextStep(run, res)}, nil
}

// setRunConditions derives Progressing and Succeeded from the run's state.
func setRunConditions(st *fleetv1.UpdateRunStatus, generation int64, now metav1.Time) {
	state := orState(st.State)
	reason := string(state)
	progressing := state == fleetv1.StateRunning || state == fleetv1.StateStopping
	conditions.Set(&st.Conditions, conditions.Of(fleetv1.RunProgressing, progressing, reason, st.Message), generation, now)
	succeeded := conditions.Unknown(fleetv1.RunSucceeded, reason, st.Message)
	switch state {
	case fleetv1.StateCompleted:
		succeeded = conditions.True(fleetv1.RunSucceeded, reason, st.Message)
	case fleetv1.StateFailed:
		succeeded = conditions.False(fleetv1.RunSucceeded, reason, st.Message)
	}
	conditions.Set(&st.Conditions, succeeded, generation, now)
}

// nextStep is when to look again: soon while upgrades or checks are in
// flight, else when the engine's clock says something is due.
func (r *Reconciler) nextStep(run *fleetv1.UpdateRun, res rollout.Result) time.Duration {
	if run.Status.State == fleetv1.StateRunning || run.Status.State == fleetv1.StateStopping {
		if membersInFlight(run) || r.checks.running(run.Name) {
			return pollInterval
		}
	}
	if res.NextStepAt.IsZero() {
		return 0
	}
	return max(res.NextStepAt.Sub(r.now()), 10*time.Millisecond)
}

// refuse records why a run cannot proceed and retries later.
func (r *Reconciler) refuse(ctx context.Context, run *fleetv1.UpdateRun, cause error) (reconcile.Result, error) {
	state := orState(run.Status.State)
	switch {
	case run.Spec.State == fleetv1.RunNotStarted && run.Status.State == "":
		// Not started yet: say so without failing it.
		state = fleetv1.StateNotStarted
	case run.Status.State == fleetv1.StateRunning || run.Status.State == fleetv1.StateStopping:
		// Mid-run: keep the state, tell the operator, try again.
	case run.Spec.State == fleetv1.RunStarted:
		state = fleetv1.StateFailed
	}
	return reconcile.Result{RequeueAfter: refusedRetry}, r.setMessage(ctx, run, state, cause.Error())
}

func orState(s fleetv1.State) fleetv1.State {
	if s == "" {
		return fleetv1.StateNotStarted
	}
	return s
}

func (r *Reconciler) setMessage(ctx context.Context, run *fleetv1.UpdateRun, state fleetv1.State, msg string) error {
	patch := statuspatch.New(r.Client, run)
	if run.Status.State != state {
		r.Recorder.Eventf(run, nil, corev1.EventTypeWarning, string(state), "Refuse", "%s", msg)
	}
	run.Status.State, run.Status.Message = state, msg
	setRunConditions(&run.Status, run.Generation, metav1.NewTime(r.now()))
	if err := patch.Patch(ctx, run); err != nil {
		return client.IgnoreNotFound(fmt.Errorf("writing the status of update run %s: %w", run.Name, err))
	}
	return nil
}

// runTarget is what the status records as the members' target; once the
// run has started it stays what it was.
func (r *Reconciler) runTarget(ctx context.Context, run *fleetv1.UpdateRun, members []fleetv1.MemberCluster) string {
	for _, p := range memberStates(run) {
		if p.TargetVersion != "" {
			return p.TargetVersion
		}
	}
	return upgrade.RunTarget(ctx, r.Providers, upgrade.RequestOf(run), members)
}

// chooseConsistentImages records, in the status this step writes, the node
// images a Consistent run gives its members, once, in the step that starts
// it (its status has no start time before): later steps, a resumed run and a
// hub that took over all read them from there, and a member for which
// nothing was chosen then fails with that reason rather than get an image
// chosen later.
func chooseConsistentImages(ctx context.Context, providers upgrade.Providers, run *fleetv1.UpdateRun, members []fleetv1.MemberCluster) {
	sel := run.Spec.ManagedClusterUpdate.NodeImageSelection
	if sel == nil || sel.Type != fleetv1.NodeImageConsistent || run.Spec.State != fleetv1.RunStarted ||
		run.Status.StartTime != nil || len(run.Status.NodeImages) > 0 {
		return
	}
	run.Status.NodeImages = upgrade.ConsistentImages(ctx, providers, upgrade.RequestOf(run), members)
}

// membersInFlight reports whether any member of the run is being upgraded.
func membersInFlight(run *fleetv1.UpdateRun) bool {
	for _, p := range memberStates(run) {
		if p.State == fleetv1.StateRunning {
			return true
		}
	}
	return false
}

func (r *Reconciler) event(run *fleetv1.UpdateRun, t rollout.Transition) {
	eventType := corev1.EventTypeNormal
	if t.To == fleetv1.StateFailed {
		eventType = corev1.EventTypeWarning
	}
	msg := fmt.Sprintf("%s %s: %s → %s", t.Kind, t.Path, orState(t.From), t.To)
	if t.Message != "" {
		msg += ": " + t.Message
	}
	r.Recorder.Eventf(run, nil, eventType, string(t.Kind)+string(t.To), string(t.Kind), "%s", msg)
}

// checkTargetFor resolves members for health checks.
func (r *Reconciler) checkTargetFor(members map[string]*fleetv1.MemberCluster) checkTarget {
	return func(ctx context.Context, name string) (healthcheck.Target, error) {
		m, ok := members[name]
		if !ok {
			return healthcheck.Target{}, fmt.Errorf("member %s no longer exists", name)
		}
		access, err := r.Members.For(ctx, m)
		if err != nil {
			return healthcheck.Target{}, err
		}
		return healthcheck.Target{Member: name, Client: access.Client, Kubeconfig: access.Kubeconfig, WorkDir: r.WorkDir, Programs: r.Programs}, nil
	}
}

// retryMembers are the members `flotilla updaterun retry --members` named
// for the run's latest start request.
func retryMembers(run *fleetv1.UpdateRun) []string {
	var out []string
	for _, name := range strings.Split(run.Annotations[fleetv1.RetryMembersAnnotation], ",") {
		if name = strings.TrimSpace(name); name != "" {
			out = append(out, name)
		}
	}
	return out
}
