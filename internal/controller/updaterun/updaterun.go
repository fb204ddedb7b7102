// Package updaterun is the UpdateRun controller: it snapshots the strategy,
// gathers observations (member versions, upgrade progress, gates, health
// checks), lets the staged-rollout engine decide, writes the status and then
// carries out the engine's actions. All decisions are the engine's; this
// package only does I/O.
package updaterun

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/source"

	fleetv1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/internal/healthcheck"
	"github.com/flotilla-dev/flotilla/internal/memberaccess"
	"github.com/flotilla-dev/flotilla/internal/rollout"
	"github.com/flotilla-dev/flotilla/internal/upgrade"
)

// RunLabel marks a Gate with the update run it belongs to.
const RunLabel = "fleet.flotilla.dev/update-run"

// pollInterval is how often in-flight upgrades are polled; it bounds the
// delay between one member finishing and the next one starting.
const pollInterval = 200 * time.Millisecond

// Reconciler drives update runs.
type Reconciler struct {
	Client    client.Client
	Recorder  events.EventRecorder
	Members   *memberaccess.Clients
	Providers upgrade.Providers
	// WorkDir holds files for health-check commands.
	WorkDir string
	// Now is the clock; nil means time.Now.
	Now func() time.Time

	checks *checkRunner
	// ctx lives as long as the manager; health checks run under it.
	ctx context.Context
}

// SetupWithManager registers the controller.
func (r *Reconciler) SetupWithManager(mgr manager.Manager) error {
	wake := make(chan event.GenericEvent, 64)
	r.checks = newCheckRunner(wake)
	if err := mgr.Add(manager.RunnableFunc(func(ctx context.Context) error {
		r.ctx = ctx
		<-ctx.Done()
		return nil
	})); err != nil {
		return err
	}
	gateToRun := handler.EnqueueRequestsFromMapFunc(func(_ context.Context, o client.Object) []reconcile.Request {
		if run := o.GetLabels()[RunLabel]; run != "" {
			return []reconcile.Request{{NamespacedName: types.NamespacedName{Name: run}}}
		}
		return nil
	})
	return builder.ControllerManagedBy(mgr).
		Named("updaterun").
		For(&fleetv1.UpdateRun{}).
		Watches(&fleetv1.Gate{}, gateToRun).
		WatchesRawSource(source.Channel(wake, &handler.EnqueueRequestForObject{})).
		// One worker: runs see each other's members consistently, so two runs
		// never upgrade the same member at once.
		WithOptions(controller.Options{MaxConcurrentReconciles: 1}).
		Complete(r)
}

func (r *Reconciler) now() time.Time {
	if r.Now != nil {
		return r.Now()
	}
	return time.Now()
}

func (r *Reconciler) backgroundContext() context.Context {
	if r.ctx != nil {
		return r.ctx
	}
	return context.Background()
}

// Reconcile takes one step of a run.
func (r *Reconciler) Reconcile(ctx context.Context, req reconcile.Request) (reconcile.Result, error) {
	run := &fleetv1.UpdateRun{}
	if err := r.Client.Get(ctx, req.NamespacedName, run); err != nil {
		if apierrors.IsNotFound(err) {
			r.checks.forget(req.Name)
		}
		return reconcile.Result{}, client.IgnoreNotFound(err)
	}
	if !run.DeletionTimestamp.IsZero() {
		r.checks.forget(run.Name)
		return reconcile.Result{}, nil
	}

	strategy, err := r.strategy(ctx, run)
	if err != nil {
		return r.refuse(ctx, run, err)
	}
	memberList := &fleetv1.MemberClusterList{}
	if err := r.Client.List(ctx, memberList); err != nil {
		return reconcile.Result{}, err
	}
	startRequest := run.Annotations[fleetv1.StartRequestAnnotation]
	if startRequest != "" && startRequest != run.Status.LastStartRequest {
		// A resumed run retries its failed members: earlier check results no longer hold.
		r.checks.forget(run.Name)
	}
	obs, err := r.observe(ctx, run, strategy, memberList.Items)
	if err != nil {
		return reconcile.Result{}, err
	}

	in := rollout.Input{
		RunName:      run.Name,
		Strategy:     *strategy,
		Target:       r.runTarget(ctx, run, memberList.Items),
		Members:      engineMembers(memberList.Items),
		Desired:      run.Spec.State,
		StartRequest: startRequest,
		Skip:         run.Spec.Skip,
		Status:       *run.Status.DeepCopy(),
		Observed:     obs,
		Now:          r.now(),
	}
	res := rollout.Step(in)
	res.Status.ObservedGeneration = run.Generation
	if !equality.Semantic.DeepEqual(run.Status, res.Status) {
		updated := run.DeepCopy()
		updated.Status = res.Status
		// Written before acting: a restart after this point finds the
		// members it started recorded as Running and does not start them again.
		if err := r.Client.Status().Update(ctx, updated); err != nil {
			if apierrors.IsConflict(err) {
				return reconcile.Result{Requeue: true}, nil
			}
			return reconcile.Result{}, err
		}
		run = updated
	}
	for _, t := range res.Transitions {
		r.event(run, t)
	}
	if err := r.act(ctx, run, memberList.Items, res.Actions); err != nil {
		return reconcile.Result{}, err
	}
	return reconcile.Result{RequeueAfter: r.nextStep(run, res)}, nil
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
	d := res.NextStepAt.Sub(r.now())
	if d < 10*time.Millisecond {
		d = 10 * time.Millisecond
	}
	return d
}

// refuse records why a run cannot proceed and retries later.
func (r *Reconciler) refuse(ctx context.Context, run *fleetv1.UpdateRun, cause error) (reconcile.Result, error) {
	if run.Spec.State == fleetv1.RunNotStarted && run.Status.State == "" {
		// Not started yet: say so without failing it.
		return reconcile.Result{RequeueAfter: 10 * time.Second}, r.setMessage(ctx, run, fleetv1.StateNotStarted, cause.Error())
	}
	if run.Status.State == fleetv1.StateRunning || run.Status.State == fleetv1.StateStopping {
		// Mid-run: keep the state, tell the operator, try again.
		return reconcile.Result{RequeueAfter: 10 * time.Second}, r.setMessage(ctx, run, run.Status.State, cause.Error())
	}
	if run.Spec.State == fleetv1.RunStarted {
		return reconcile.Result{RequeueAfter: 10 * time.Second}, r.setMessage(ctx, run, fleetv1.StateFailed, cause.Error())
	}
	return reconcile.Result{RequeueAfter: 10 * time.Second}, r.setMessage(ctx, run, orState(run.Status.State), cause.Error())
}

func orState(s fleetv1.State) fleetv1.State {
	if s == "" {
		return fleetv1.StateNotStarted
	}
	return s
}

func (r *Reconciler) setMessage(ctx context.Context, run *fleetv1.UpdateRun, state fleetv1.State, msg string) error {
	if run.Status.State == state && run.Status.Message == msg {
		return nil
	}
	if run.Status.State != state {
		r.Recorder.Eventf(run, nil, corev1.EventTypeWarning, string(state), "Reconcile", "%s", msg)
	}
	patch := client.MergeFrom(run.DeepCopy())
	run.Status.State, run.Status.Message = state, msg
	return client.IgnoreNotFound(r.Client.Status().Patch(ctx, run, patch))
}

// strategy is the run's snapshot once started, else the strategy it names.
func (r *Reconciler) strategy(ctx context.Context, run *fleetv1.UpdateRun) (*fleetv1.UpdateStrategySpec, error) {
	switch {
	case run.Status.StrategySnapshot != nil:
		return run.Status.StrategySnapshot, nil
	case run.Spec.Strategy != nil:
		return run.Spec.Strategy, nil
	case run.Spec.UpdateStrategyName != "":
		s := &fleetv1.UpdateStrategy{}
		if err := r.Client.Get(ctx, client.ObjectKey{Name: run.Spec.UpdateStrategyName}, s); err != nil {
			if apierrors.IsNotFound(err) {
				return nil, fmt.Errorf("update strategy %q not found", run.Spec.UpdateStrategyName)
			}
			return nil, err
		}
		return &s.Spec, nil
	}
	// No strategy: every member, one at a time, in one stage.
	return &fleetv1.UpdateStrategySpec{Stages: []fleetv1.UpdateStage{{
		Name: "all", MemberSelector: &metav1.LabelSelector{},
	}}}, nil
}

func engineMembers(items []fleetv1.MemberCluster) []rollout.Member {
	out := make([]rollout.Member, 0, len(items))
	for _, m := range items {
		out = append(out, rollout.Member{Name: m.Name, Labels: m.Labels, UpdateGroup: m.Spec.UpdateGroup})
	}
	return out
}

// runTarget is what the status records as the members' target; once the
// run has started it stays what it was.
func (r *Reconciler) runTarget(ctx context.Context, run *fleetv1.UpdateRun, members []fleetv1.MemberCluster) string {
	for _, p := range memberStates(run) {
		if p.TargetVersion != "" {
			return p.TargetVersion
		}
	}
	return upgrade.RunTarget(ctx, r.Providers, run.Spec.ManagedClusterUpdate.Upgrade, members)
}

// membersInFlight reports whether any member of the run is being upgraded.
func membersInFlight(run *fleetv1.UpdateRun) bool {
	for _, st := range run.Status.Stages {
		for _, g := range st.Groups {
			for _, m := range g.Members {
				if m.State == fleetv1.StateRunning {
					return true
				}
			}
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
	r.Recorder.Eventf(run, nil, eventType, string(t.Kind)+string(t.To), "Rollout", "%s", msg)
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
		return healthcheck.Target{Member: name, Client: access.Client, Kubeconfig: access.Kubeconfig, WorkDir: r.WorkDir}, nil
	}
}
