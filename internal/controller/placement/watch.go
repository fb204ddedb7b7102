package placement

import (
	"context"
	"sync"

	"github.com/go-logr/logr"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/metadata"
	"k8s.io/client-go/metadata/metadatainformer"
	"k8s.io/client-go/tools/cache"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"

	placementv1 "github.com/flotilla-dev/flotilla/api/placement/v1"
)

// resourceWatches watches the resource types placements select, started on
// demand, and wakes the placements an object change may concern: for a
// cluster-scoped object every placement reading its type, for a namespaced
// one the placements that select its namespace. Metadata-only informers
// keep the memory small.
type resourceWatches struct {
	factory metadatainformer.SharedInformerFactory
	wake    chan event.GenericEvent

	mu sync.Mutex
	// stop is the manager's stop signal once start ran; nil before.
	stop    <-chan struct{}
	log     logr.Logger
	started map[schema.GroupVersionResource]bool
	types   map[string]map[schema.GroupVersionResource]bool
	inNSOf  map[string]map[string]bool // placement -> namespaces it reads
	// concerns says whether a cluster-scoped object may concern a
	// placement, so that a new Namespace does not wake every placement
	// that selects some other namespace.
	concerns map[string]func(name string, labels map[string]string) bool
	pending  []schema.GroupVersionResource
	// changes counts, per placement, the events that may change what it
	// selects, so a reconcile woken by something else can reuse the last
	// selection instead of listing everything again.
	changes map[string]uint64
}

func newResourceWatches(objects metadata.Interface) *resourceWatches {
	return &resourceWatches{
		factory:  metadatainformer.NewSharedInformerFactory(objects, 0),
		wake:     make(chan event.GenericEvent, 1024),
		started:  map[schema.GroupVersionResource]bool{},
		types:    map[string]map[schema.GroupVersionResource]bool{},
		inNSOf:   map[string]map[string]bool{},
		concerns: map[string]func(string, map[string]string) bool{},
		changes:  map[string]uint64{},
	}
}

// start runs the informers under ctx; tracks before it are started now.
func (w *resourceWatches) start(ctx context.Context) error {
	w.mu.Lock()
	w.stop, w.log = ctx.Done(), ctrl.LoggerFrom(ctx)
	pending := w.pending
	w.pending = nil
	w.mu.Unlock()
	for _, gvr := range pending {
		w.startInformer(gvr)
	}
	<-ctx.Done()
	return nil
}

// track records what a placement read and starts watching new types.
func (w *resourceWatches) track(placement string, types []schema.GroupVersionResource, namespaces []string, concerns func(name string, labels map[string]string) bool) {
	if w == nil {
		return
	}
	w.mu.Lock()
	set := map[schema.GroupVersionResource]bool{}
	var fresh []schema.GroupVersionResource
	for _, gvr := range types {
		set[gvr] = true
		if !w.started[gvr] {
			w.started[gvr] = true
			fresh = append(fresh, gvr)
		}
	}
	w.types[placement] = set
	ns := map[string]bool{}
	for _, n := range namespaces {
		ns[n] = true
	}
	w.inNSOf[placement] = ns
	w.concerns[placement] = concerns
	running := w.stop != nil
	if !running {
		w.pending = append(w.pending, fresh...)
	}
	w.mu.Unlock()
	if running {
		for _, gvr := range fresh {
			w.startInformer(gvr)
		}
	}
}

// forget drops a placement; its informers keep running for others.
func (w *resourceWatches) forget(placement string) {
	if w == nil {
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	delete(w.types, placement)
	delete(w.inNSOf, placement)
	delete(w.concerns, placement)
	delete(w.changes, placement)
}

// changeCount is the number of selection-relevant events seen for a
// placement; a selection read after it is current until it moves.
func (w *resourceWatches) changeCount(placement string) uint64 {
	if w == nil {
		return 0
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.changes[placement]
}

func (w *resourceWatches) startInformer(gvr schema.GroupVersionResource) {
	inf := w.factory.ForResource(gvr).Informer()
	notify := func(obj any) { w.changed(gvr, obj) }
	if _, err := inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    notify,
		UpdateFunc: func(_, obj any) { notify(obj) },
		DeleteFunc: notify,
	}); err != nil {
		// Only a stopped informer refuses a handler: the manager is
		// shutting down, and the resync covers anything else.
		w.log.Error(err, "watching selected resources", "resource", gvr.String())
	}
	w.factory.Start(w.stop)
}

func (w *resourceWatches) changed(gvr schema.GroupVersionResource, obj any) {
	if tomb, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = tomb.Obj
	}
	o, ok := obj.(client.Object)
	if !ok {
		return
	}
	w.mu.Lock()
	var wake []string
	for placement, types := range w.types {
		if !types[gvr] {
			continue
		}
		ns := o.GetNamespace()
		if ns != "" && !w.inNSOf[placement][ns] {
			continue
		}
		if concerns := w.concerns[placement]; ns == "" && concerns != nil && !concerns(o.GetName(), o.GetLabels()) {
			continue
		}
		wake = append(wake, placement)
		w.changes[placement]++
	}
	w.mu.Unlock()
	for _, p := range wake {
		crp := &placementv1.ClusterResourcePlacement{}
		crp.Name = p
		w.wake <- event.GenericEvent{Object: crp}
	}
}
