// Package autoupgrade is the AutoUpgradeProfile controller: on a profile's
// change, when a member's version or node images change, when a run the
// profile generated changes state, and every Interval, it gathers what the
// members run and their providers offer, lets internal/autoupgrade decide,
// creates the run that is due and records the outcome in the profile's
// status. All decisions are internal/autoupgrade's; this package does I/O.
package autoupgrade

import (
	"context"
	"fmt"
	"slices"
	"strings"
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
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	fleetv1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	decide "github.com/flotilla-dev/flotilla/internal/autoupgrade"
	"github.com/flotilla-dev/flotilla/internal/conditions"
	"github.com/flotilla-dev/flotilla/internal/statuspatch"
	"github.com/flotilla-dev/flotilla/internal/upgrade"
)

// DefaultInterval is how often a profile is evaluated when nothing changes:
// a provider that starts offering a new version is noticed within it.
const DefaultInterval = 10 * time.Minute

// conflictRetry is how soon a status write that lost a race is redone.
const conflictRetry = 50 * time.Millisecond

// failedRetry is how soon a profile whose evaluation failed is tried again.
const failedRetry = time.Minute

// Reconciler evaluates AutoUpgradeProfiles.
type Reconciler struct {
	Client    client.Client
	Recorder  events.EventRecorder
	Providers upgrade.Providers
	// Interval is how often a profile is evaluated; 0 means DefaultInterval.
	Interval time.Duration
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// SetupWithManager registers the controller.
func (r *Reconciler) SetupWithManager(mgr manager.Manager) error {
	return builder.ControllerManagedBy(mgr).
		Named("autoupgradeprofile").
		// Its own status writes bump neither generation nor annotations.
		For(&fleetv1.AutoUpgradeProfile{}, builder.WithPredicates(predicate.Or(predicate.GenerationChangedPredicate{}, predicate.AnnotationChangedPredicate{}))).
		// A member's probe rewrites its status often; only a new version
		// or node image is news here.
		Watches(&fleetv1.MemberCluster{}, handler.EnqueueRequestsFromMapFunc(r.allProfiles), builder.WithPredicates(versionsChanged())).
		// A generated run that finishes may let the next one be generated
		// (the fleet moves one minor at a time).
		Watches(&fleetv1.UpdateRun{}, handler.EnqueueRequestsFromMapFunc(profileOf), builder.WithPredicates(runStateChanged())).
		Complete(r)
}

func (r *Reconciler) allProfiles(ctx context.Context, _ client.Object) []reconcile.Request {
	list := &fleetv1.AutoUpgradeProfileList{}
	if err := r.Client.List(ctx, list); err != nil {
		ctrl.LoggerFrom(ctx).Error(err, "listing auto-upgrade profiles")
		return nil
	}
	out := make([]reconcile.Request, 0, len(list.Items))
	for i := range list.Items {
		out = append(out, reconcile.Request{NamespacedName: types.NamespacedName{Name: list.Items[i].Name}})
	}
	return out
}

func profileOf(_ context.Context, o client.Object) []reconcile.Request {
	if p := o.GetLabels()[fleetv1.AutoUpgradeProfileLabel]; p != "" {
		return []reconcile.Request{{NamespacedName: types.NamespacedName{Name: p}}}
	}
	return nil
}

func versionsChanged() predicate.Funcs {
	return predicate.Funcs{UpdateFunc: func(e event.UpdateEvent) bool {
		o, ok1 := e.ObjectOld.(*fleetv1.MemberCluster)
		n, ok2 := e.ObjectNew.(*fleetv1.MemberCluster)
		if !ok1 || !ok2 {
			return true
		}
		ov, nv := upgrade.VersionsFromStatus(o.Status), upgrade.VersionsFromStatus(n.Status)
		return ov.ControlPlane != nv.ControlPlane || !slices.Equal(ov.NodeImages, nv.NodeImages) ||
			o.Spec.UpdateGroup != n.Spec.UpdateGroup || o.Generation != n.Generation
	}}
}

func runStateChanged() predicate.Funcs {
	return predicate.Funcs{UpdateFunc: func(e event.UpdateEvent) bool {
		o, ok1 := e.ObjectOld.(*fleetv1.UpdateRun)
		n, ok2 := e.ObjectNew.(*fleetv1.UpdateRun)
		return !ok1 || !ok2 || o.Status.State != n.Status.State
	}}
}

func (r *Reconciler) now() time.Time {
	if r.Now != nil {
		return r.Now()
	}
	return time.Now()
}

func (r *Reconciler) interval() time.Duration {
	if r.Interval > 0 {
		return r.Interval
	}
	return DefaultInterval
}

// Reconcile evaluates one profile.
func (r *Reconciler) Reconcile(ctx context.Context, req reconcile.Request) (reconcile.Result, error) {
	p := &fleetv1.AutoUpgradeProfile{}
	if err := r.Client.Get(ctx, req.NamespacedName, p); err != nil {
		return reconcile.Result{}, client.IgnoreNotFound(err)
	}
	if !p.DeletionTimestamp.IsZero() {
		return reconcile.Result{}, nil
	}
	request := p.Annotations[fleetv1.GenerateRequestAnnotation]
	forced := request != "" && request != p.Status.LastGenerateRequest
	d := r.decide(ctx, p, forced)

	patch := statuspatch.New(r.Client, p)
	now := metav1.NewTime(r.now())
	if d.Generate {
		run := decide.Run(p, d)
		err := r.Client.Create(ctx, run)
		switch {
		case err == nil:
			r.Recorder.Eventf(p, run, corev1.EventTypeNormal, "Generated", "Generate", "generated update run %s: %s%s", run.Name, d.Reason, notes(d))
		case apierrors.IsAlreadyExists(err):
			// Created a moment ago by `generate-update-run` or another
			// replica: record it below as the profile's.
			d.Generate, d.Status = false, fleetv1.TriggerSkipped
		default:
			d.Generate, d.Status, d.Reason = false, fleetv1.TriggerFailed, fmt.Sprintf("creating update run %s: %v", run.Name, err)
		}
	}
	if !d.Generate && d.RunName != "" && p.Status.GeneratedUpdateRun != d.RunName && r.isProfilesRun(ctx, p, d.RunName) {
		// The run for the target exists and is this profile's, but the
		// status does not say so yet (the CLI created it): it counts as
		// generated.
		d.Generate, d.Status = true, fleetv1.TriggerSucceeded
	}
	r.record(p, d, now)
	if forced {
		p.Status.LastGenerateRequest = request
	}
	if err := patch.Patch(ctx, p); err != nil {
		if apierrors.IsConflict(err) {
			return reconcile.Result{RequeueAfter: conflictRetry}, nil
		}
		return reconcile.Result{}, client.IgnoreNotFound(fmt.Errorf("writing the status of auto-upgrade profile %s: %w", p.Name, err))
	}
	if d.Status == fleetv1.TriggerFailed {
		return reconcile.Result{RequeueAfter: min(failedRetry, r.interval())}, nil
	}
	return reconcile.Result{RequeueAfter: r.interval()}, nil
}

func (r *Reconciler) decide(ctx context.Context, p *fleetv1.AutoUpgradeProfile, forced bool) decide.Decision {
	in, err := decide.Gather(ctx, r.Client, r.Providers, p, forced)
	if err != nil {
		return decide.Decision{Status: fleetv1.TriggerFailed, Reason: err.Error()}
	}
	return decide.Decide(in)
}

func (r *Reconciler) isProfilesRun(ctx context.Context, p *fleetv1.AutoUpgradeProfile, name string) bool {
	run := &fleetv1.UpdateRun{}
	if err := r.Client.Get(ctx, client.ObjectKey{Name: name}, run); err != nil {
		return false
	}
	return run.Labels[fleetv1.AutoUpgradeProfileLabel] == p.Name
}

// record writes a decision into the profile's status. The lastTrigger*
// fields and generatedUpdateRun say what the last generation (or failed
// attempt) did; an evaluation that finds the profile's run for the target
// already there, or one waiting to finish, keeps them as they are; any
// other evaluation with nothing to do sets lastTriggerStatus Skipped.
func (r *Reconciler) record(p *fleetv1.AutoUpgradeProfile, d decide.Decision, now metav1.Time) {
	st := &p.Status
	st.ObservedGeneration = p.Generation
	before := st.LastTriggerStatus
	beforeErr := st.LastTriggerError
	switch {
	case d.Generate:
		st.LastTriggeredAt = &now
		st.LastTriggerStatus = fleetv1.TriggerSucceeded
		st.LastTriggerError = ""
		st.LastTriggerUpgradeVersions = d.Versions
		st.GeneratedUpdateRun = d.RunName
		conditions.Set(&st.Conditions, conditions.True(fleetv1.ProfileReady, "Generated", "generated update run "+d.RunName+": "+d.Reason+notes(d)), p.Generation, now)
	case d.Status == fleetv1.TriggerFailed:
		st.LastTriggeredAt = &now
		st.LastTriggerStatus = fleetv1.TriggerFailed
		st.LastTriggerError = d.Reason
		conditions.Set(&st.Conditions, conditions.False(fleetv1.ProfileReady, "Failed", d.Reason+notes(d)), p.Generation, now)
		if before != fleetv1.TriggerFailed || beforeErr != d.Reason {
			r.Recorder.Eventf(p, nil, corev1.EventTypeWarning, "GenerateFailed", "Generate", "%s", d.Reason)
		}
	default:
		sameRun := d.RunName != "" && d.RunName == st.GeneratedUpdateRun
		waiting := d.Waiting != "" && d.Waiting == st.GeneratedUpdateRun
		if !sameRun && !waiting {
			st.LastTriggerStatus = fleetv1.TriggerSkipped
			st.LastTriggerError = ""
		}
		reason := "UpToDate"
		if p.Spec.Disabled {
			reason = "Disabled"
		} else if sameRun || waiting {
			reason = "Generated"
		}
		conditions.Set(&st.Conditions, conditions.True(fleetv1.ProfileReady, reason, d.Reason+notes(d)), p.Generation, now)
	}
	if p.Spec.LongTermSupport {
		conditions.Set(&st.Conditions, conditions.False(fleetv1.ProfileLongTermSupport, "NoCatalogue",
			"no upgrade provider of this hub lists long-term-support versions separately: the channel picks from the versions the providers offer"), p.Generation, now)
	} else {
		meta.RemoveStatusCondition(&st.Conditions, fleetv1.ProfileLongTermSupport)
	}
}

func notes(d decide.Decision) string {
	if len(d.Notes) == 0 {
		return ""
	}
	return "; " + strings.Join(d.Notes, "; ")
}
