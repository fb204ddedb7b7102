package agent

import (
	"context"
	"fmt"
	"strings"
	"sync"

	"github.com/go-logr/logr"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/dynamic/dynamicinformer"
	"k8s.io/client-go/restmapper"
	"k8s.io/client-go/tools/cache"

	fleetv1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
)

// member is the agent's access to its member cluster.
type member struct {
	dynamic   dynamic.Interface
	discovery discovery.DiscoveryInterface
	mapper    *restmapper.DeferredDiscoveryRESTMapper
}

func newMember(dc discovery.DiscoveryInterface, dyn dynamic.Interface) *member {
	return &member{
		dynamic:   dyn,
		discovery: dc,
		mapper:    restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(dc)),
	}
}

// mapping finds the resource of a kind. An unknown kind refreshes discovery
// once: a CRD applied earlier in the same Work is served only now.
func (m *member) mapping(gvk schema.GroupVersionKind) (*meta.RESTMapping, error) {
	mapping, err := m.mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
	if err != nil && meta.IsNoMatchError(err) {
		m.mapper.Reset()
		mapping, err = m.mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
	}
	if err != nil && meta.IsNoMatchError(err) {
		// Ask the API server for this one group version, past any cache:
		// it serves a new CRD's kind before a full discovery shows it.
		mapping, err = m.directMapping(gvk, err)
	}
	if err != nil {
		return nil, fmt.Errorf("mapping %s on the member: %w", gvk, err)
	}
	return mapping, nil
}

// directMapping finds gvk in the server's resource list for its group
// version, or returns notFound.
func (m *member) directMapping(gvk schema.GroupVersionKind, notFound error) (*meta.RESTMapping, error) {
	list, err := m.discovery.ServerResourcesForGroupVersion(gvk.GroupVersion().String())
	if err != nil {
		return nil, notFound
	}
	for _, r := range list.APIResources {
		if r.Kind != gvk.Kind || strings.Contains(r.Name, "/") {
			continue
		}
		scope := meta.RESTScopeRoot
		if r.Namespaced {
			scope = meta.RESTScopeNamespace
		}
		return &meta.RESTMapping{Resource: gvk.GroupVersion().WithResource(r.Name), GroupVersionKind: gvk, Scope: scope}, nil
	}
	return nil, notFound
}

// resource returns the client for one object's resource; the namespace is
// ignored for cluster-scoped kinds.
func (m *member) resource(mapping *meta.RESTMapping, namespace string) dynamic.ResourceInterface {
	if mapping.Scope.Name() == meta.RESTScopeNameNamespace {
		return m.dynamic.Resource(mapping.Resource).Namespace(namespace)
	}
	return m.dynamic.Resource(mapping.Resource)
}

// watches keeps one informer per resource the agent has placed, on placed
// objects only (by label), and turns every change into a reconcile of the
// Work that placed the object: this is what makes drift correction
// watch-driven instead of periodic.
type watches struct {
	dynamic dynamic.Interface
	enqueue func(work string)

	mu      sync.Mutex
	running map[schema.GroupVersionResource]cache.SharedIndexInformer
}

func newWatches(dyn dynamic.Interface, enqueue func(string)) *watches {
	return &watches{dynamic: dyn, enqueue: enqueue, running: map[schema.GroupVersionResource]cache.SharedIndexInformer{}}
}

// ensure starts watching gvr unless it is watched already. The watch runs
// until ctx, the agent's own, ends.
func (w *watches) ensure(ctx context.Context, gvr schema.GroupVersionResource) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if _, ok := w.running[gvr]; ok {
		return
	}
	log := logr.FromContextOrDiscard(ctx).WithName("watch")
	selector := metav1.FormatLabelSelector(&metav1.LabelSelector{
		MatchLabels: map[string]string{fleetv1.ManagedByLabel: fleetv1.ManagedByAgent},
	})
	inf := dynamicinformer.NewFilteredDynamicInformer(w.dynamic, gvr, metav1.NamespaceAll, 0, cache.Indexers{},
		func(o *metav1.ListOptions) { o.LabelSelector = selector }).Informer()
	// Every event counts: the initial list catches drift that happened
	// between the first apply and the start of the watch.
	if _, err := inf.AddEventHandlerWithOptions(cache.ResourceEventHandlerFuncs{
		AddFunc:    w.changed,
		UpdateFunc: func(_, obj any) { w.changed(obj) },
		DeleteFunc: w.changed,
	}, cache.HandlerOptions{Logger: &log}); err != nil {
		log.Error(err, "adding an event handler", "resource", gvr)
		return
	}
	w.running[gvr] = inf
	go inf.RunWithContext(ctx)
	log.V(1).Info("watching placed objects", "resource", gvr)
}

func (w *watches) changed(obj any) {
	if tomb, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = tomb.Obj
	}
	u, ok := obj.(*unstructured.Unstructured)
	if !ok {
		return
	}
	if work := u.GetAnnotations()[fleetv1.WorkAnnotation]; work != "" {
		w.enqueue(work)
	}
}
