package placement

import (
	"context"
	"reflect"

	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/metadata"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/source"

	placementv1 "github.com/flotilla-dev/flotilla/api/placement/v1"
	fleetv1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/internal/placement/selection"
)

// SetupWithManager registers the controller and its watches.
func (r *Reconciler) SetupWithManager(mgr manager.Manager) error {
	if r.Reader == nil {
		reader, err := selection.NewReader(mgr.GetConfig())
		if err != nil {
			return err
		}
		r.Reader = reader
	}
	if r.APIReader == nil {
		r.APIReader = mgr.GetAPIReader()
	}
	md, err := metadata.NewForConfig(mgr.GetConfig())
	if err != nil {
		return err
	}
	r.watches = newResourceWatches(md)
	if err := mgr.Add(manager.RunnableFunc(r.watches.start)); err != nil {
		return err
	}

	allPlacements := handler.EnqueueRequestsFromMapFunc(func(ctx context.Context, _ client.Object) []reconcile.Request {
		list := &placementv1.ClusterResourcePlacementList{}
		if err := r.Client.List(ctx, list); err != nil {
			// The resync brings every placement back in any case.
			ctrl.LoggerFrom(ctx).Error(err, "listing placements to wake")
			return nil
		}
		out := make([]reconcile.Request, 0, len(list.Items))
		for _, c := range list.Items {
			out = append(out, reconcile.Request{NamespacedName: types.NamespacedName{Name: c.Name}})
		}
		return out
	})
	byPlacementLabel := handler.EnqueueRequestsFromMapFunc(func(_ context.Context, o client.Object) []reconcile.Request {
		if p := o.GetLabels()[fleetv1.PlacementLabel]; p != "" {
			return []reconcile.Request{{NamespacedName: types.NamespacedName{Name: p}}}
		}
		return nil
	})
	return builder.ControllerManagedBy(mgr).
		Named("placement").
		For(&placementv1.ClusterResourcePlacement{}, builder.WithPredicates(specChanged)).
		Watches(&fleetv1.MemberCluster{}, allPlacements, builder.WithPredicates(schedulingInputChanged)).
		Watches(&fleetv1.Work{}, byPlacementLabel).
		// Watching bindings and snapshots also starts their informers with
		// the manager, not lazily in the first reconcile.
		Watches(&fleetv1.ResourceBinding{}, byPlacementLabel).
		Watches(&fleetv1.ResourceSnapshot{}, byPlacementLabel).
		Watches(&placementv1.ClusterResourceOverride{}, allPlacements).
		Watches(&placementv1.ResourceOverride{}, allPlacements).
		WatchesRawSource(source.Channel(r.watches.wake, &handler.EnqueueRequestForObject{})).
		WithOptions(controller.Options{MaxConcurrentReconciles: 4}).
		Complete(r)
}

// specChanged ignores the placement's own status writes.
var specChanged = predicate.Funcs{
	UpdateFunc: func(e event.UpdateEvent) bool {
		o, n := e.ObjectOld, e.ObjectNew
		return o.GetGeneration() != n.GetGeneration() ||
			!reflect.DeepEqual(o.GetAnnotations(), n.GetAnnotations()) ||
			!reflect.DeepEqual(o.GetFinalizers(), n.GetFinalizers()) ||
			!o.GetDeletionTimestamp().Equal(n.GetDeletionTimestamp())
	},
}

// schedulingInputChanged ignores heartbeats: only what the scheduler and
// overrides look at wakes every placement.
var schedulingInputChanged = predicate.Funcs{
	UpdateFunc: func(e event.UpdateEvent) bool {
		o, ok1 := e.ObjectOld.(*fleetv1.MemberCluster)
		n, ok2 := e.ObjectNew.(*fleetv1.MemberCluster)
		if !ok1 || !ok2 {
			return true
		}
		return !equality.Semantic.DeepEqual(o.Labels, n.Labels) ||
			!equality.Semantic.DeepEqual(o.Spec.Taints, n.Spec.Taints) ||
			o.Annotations[fleetv1.LeavingAnnotation] != n.Annotations[fleetv1.LeavingAnnotation] ||
			!o.DeletionTimestamp.Equal(n.DeletionTimestamp) ||
			!equality.Semantic.DeepEqual(o.Status.Properties, n.Status.Properties) ||
			conditionStatuses(o) != conditionStatuses(n)
	},
}

func conditionStatuses(m *fleetv1.MemberCluster) string {
	s := ""
	for _, t := range []string{fleetv1.MemberAgentConnected, fleetv1.MemberReachable} {
		for _, c := range m.Status.Conditions {
			if c.Type == t {
				s += t + "=" + string(c.Status) + ";"
			}
		}
	}
	return s
}
