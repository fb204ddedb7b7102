// Package selection reads what a placement selects from the hub: the
// cluster-scoped objects its resource selectors name, and everything in the
// Namespaces it selects. It strips server-set fields, orders the objects for
// apply and hashes them, so that an unchanged selection makes no snapshot.
package selection

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/restmapper"

	placementv1 "github.com/flotilla-dev/flotilla/api/placement/v1"
	fleetv1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/internal/enrollment"
)

// ErrNamespacedKind is returned for a selector of a namespaced kind: only
// cluster-scoped kinds are selected directly, namespaced ones come with
// their Namespace.
var ErrNamespacedKind = errors.New("only cluster-scoped kinds can be selected; select the Namespace to place what is in it")

// discoveryTTL bounds how long a new CRD's kinds stay unseen in selected
// namespaces.
const discoveryTTL = time.Minute

// Selection is what a placement selected.
type Selection struct {
	// Objects are stripped and in apply order.
	Objects []*unstructured.Unstructured
	// Resources are the resource types read, for watching them.
	Resources []schema.GroupVersionResource
	// Namespaces are the namespaces whose contents were read.
	Namespaces []string
	// Hash is the sha256 of the objects' canonical JSON.
	Hash string
}

// Reader reads selections through a dynamic client and discovery.
type Reader struct {
	dynamic   dynamic.Interface
	discovery discovery.CachedDiscoveryInterface
	mapper    *restmapper.DeferredDiscoveryRESTMapper

	mu        sync.Mutex
	refreshed time.Time
}

// NewReader returns a Reader for the hub at cfg.
func NewReader(cfg *rest.Config) (*Reader, error) {
	dc, err := discovery.NewDiscoveryClientForConfig(cfg)
	if err != nil {
		return nil, err
	}
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return nil, err
	}
	cached := memory.NewMemCacheClient(dc)
	return &Reader{dynamic: dyn, discovery: cached, mapper: restmapper.NewDeferredDiscoveryRESTMapper(cached), refreshed: time.Now()}, nil
}

// mapping finds the resource of a kind, refreshing discovery once when the
// kind is unknown (a CRD installed after the last refresh).
func (r *Reader) mapping(gvk schema.GroupVersionKind) (*meta.RESTMapping, error) {
	r.expire()
	m, err := r.mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
	if meta.IsNoMatchError(err) {
		r.mapper.Reset()
		m, err = r.mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
	}
	return m, err
}

func (r *Reader) expire() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if time.Since(r.refreshed) > discoveryTTL {
		r.mapper.Reset()
		r.refreshed = time.Now()
	}
}

// Select reads the objects the selectors pick.
func (r *Reader) Select(ctx context.Context, selectors []placementv1.ClusterResourceSelector) (*Selection, error) {
	objs := map[string]*unstructured.Unstructured{}
	resources := map[schema.GroupVersionResource]bool{}
	var namespaces []string
	for i, sel := range selectors {
		gvk := schema.GroupVersionKind{Group: sel.Group, Version: sel.Version, Kind: sel.Kind}
		m, err := r.mapping(gvk)
		if err != nil {
			return nil, fmt.Errorf("resourceSelectors[%d]: %s: %w", i, gvk, err)
		}
		if m.Scope.Name() == meta.RESTScopeNameNamespace {
			return nil, fmt.Errorf("resourceSelectors[%d]: %s: %w", i, gvk.Kind, ErrNamespacedKind)
		}
		resources[m.Resource] = true
		picked, err := r.pick(ctx, m.Resource, sel)
		if err != nil {
			return nil, fmt.Errorf("resourceSelectors[%d]: %w", i, err)
		}
		isNamespace := sel.Group == "" && sel.Kind == "Namespace"
		for _, o := range picked {
			if isNamespace && Reserved(o.GetName()) {
				if sel.Name != "" {
					return nil, fmt.Errorf("resourceSelectors[%d]: namespace %s is reserved and cannot be placed", i, sel.Name)
				}
				continue
			}
			objs[key(o)] = o
			if isNamespace && sel.SelectionScope != placementv1.NamespaceOnly {
				namespaces = append(namespaces, o.GetName())
			}
		}
	}
	if len(namespaces) > 0 {
		types, err := r.namespacedTypes()
		if err != nil {
			return nil, err
		}
		for _, gvr := range types {
			resources[gvr] = true
		}
		sort.Strings(namespaces)
		namespaces = compact(namespaces)
		for _, ns := range namespaces {
			for _, gvr := range types {
				list, err := r.dynamic.Resource(gvr).Namespace(ns).List(ctx, metav1.ListOptions{})
				if err != nil {
					return nil, fmt.Errorf("listing %s in namespace %s: %w", gvr.Resource, ns, err)
				}
				for i := range list.Items {
					o := &list.Items[i]
					if skip(gvr, o) {
						continue
					}
					objs[key(o)] = o
				}
			}
		}
	}

	sel := &Selection{Namespaces: namespaces}
	for _, o := range objs {
		sel.Objects = append(sel.Objects, Strip(o))
	}
	Sort(sel.Objects)
	for gvr := range resources {
		sel.Resources = append(sel.Resources, gvr)
	}
	sort.Slice(sel.Resources, func(i, j int) bool { return sel.Resources[i].String() < sel.Resources[j].String() })
	hash, err := Hash(sel.Objects)
	if err != nil {
		return nil, err
	}
	sel.Hash = hash
	return sel, nil
}

func (r *Reader) pick(ctx context.Context, gvr schema.GroupVersionResource, sel placementv1.ClusterResourceSelector) ([]*unstructured.Unstructured, error) {
	client := r.dynamic.Resource(gvr)
	if sel.Name != "" {
		o, err := client.Get(ctx, sel.Name, metav1.GetOptions{})
		if err != nil {
			// A selected object that does not exist yet is simply not
			// placed; the watch on its kind brings it in when it appears.
			if apierrors.IsNotFound(err) {
				return nil, nil
			}
			return nil, fmt.Errorf("reading %s %s: %w", sel.Kind, sel.Name, err)
		}
		return []*unstructured.Unstructured{o}, nil
	}
	opts := metav1.ListOptions{}
	if sel.LabelSelector != nil {
		s, err := metav1.LabelSelectorAsSelector(sel.LabelSelector)
		if err != nil {
			return nil, fmt.Errorf("invalid labelSelector: %w", err)
		}
		opts.LabelSelector = s.String()
	}
	list, err := client.List(ctx, opts)
	if err != nil {
		return nil, fmt.Errorf("listing %s: %w", sel.Kind, err)
	}
	out := make([]*unstructured.Unstructured, 0, len(list.Items))
	for i := range list.Items {
		if list.Items[i].GetDeletionTimestamp() == nil {
			out = append(out, &list.Items[i])
		}
	}
	return out, nil
}

// namespacedTypes lists the namespaced resource types that can be listed,
// in their preferred version, less the ones never placed.
func (r *Reader) namespacedTypes() ([]schema.GroupVersionResource, error) {
	r.expire()
	lists, err := discovery.ServerPreferredNamespacedResources(r.discovery)
	if err != nil && len(lists) == 0 {
		return nil, fmt.Errorf("discovering the hub's resource types: %w", err)
	}
	// A partial discovery failure (an aggregated API down) still places
	// the rest.
	var out []schema.GroupVersionResource
	for _, l := range lists {
		gv, err := schema.ParseGroupVersion(l.GroupVersion)
		if err != nil {
			continue
		}
		for _, res := range l.APIResources {
			if strings.Contains(res.Name, "/") || !hasVerb(res.Verbs, "list") {
				continue
			}
			gvr := gv.WithResource(res.Name)
			if neverPlaced[gvr.GroupResource()] {
				continue
			}
			out = append(out, gvr)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].String() < out[j].String() })
	return out, nil
}

// Reserved reports whether a namespace belongs to the cluster or to the
// fleet itself (kube-system, the member namespaces holding Works, ...) and
// is never placed.
func Reserved(namespace string) bool {
	return strings.HasPrefix(namespace, "kube-") || strings.HasPrefix(namespace, fleetv1.MemberNamespacePrefix) ||
		namespace == enrollment.Namespace
}

// neverPlaced are resource types that belong to the cluster they live in.
var neverPlaced = map[schema.GroupResource]bool{
	{Resource: "events"}:                                                   true,
	{Group: "events.k8s.io", Resource: "events"}:                           true,
	{Resource: "pods"}:                                                     true,
	{Resource: "endpoints"}:                                                true,
	{Group: "discovery.k8s.io", Resource: "endpointslices"}:                true,
	{Group: "coordination.k8s.io", Resource: "leases"}:                     true,
	{Group: "apps", Resource: "controllerrevisions"}:                       true,
	{Group: "apps", Resource: "replicasets"}:                               true,
	{Resource: "bindings"}:                                                 true,
	{Group: "authorization.k8s.io", Resource: "localsubjectaccessreviews"}: true,
	// Our own machinery lives in member namespaces on the hub.
	{Group: "fleet.flotilla.dev", Resource: "works"}: true,
}

// fleetAPIGroups are the API groups of the fleet itself.
var fleetAPIGroups = map[string]bool{
	placementv1.GroupVersion.Group: true,
	fleetv1.GroupVersion.Group:     true,
}

// skip leaves out objects that the member makes for itself, and the fleet's
// own objects.
func skip(gvr schema.GroupVersionResource, o *unstructured.Unstructured) bool {
	if len(o.GetOwnerReferences()) > 0 || o.GetDeletionTimestamp() != nil {
		return true
	}
	// The fleet's own API (a ResourceOverride in the placed namespace, say)
	// instructs the hub; members have no use for it and no CRD to hold it.
	if fleetAPIGroups[gvr.Group] {
		return true
	}
	switch {
	case gvr.Group == "" && gvr.Resource == "serviceaccounts" && o.GetName() == "default":
		return true
	case gvr.Group == "" && gvr.Resource == "configmaps" && o.GetName() == "kube-root-ca.crt":
		return true
	case gvr.Group == "" && gvr.Resource == "secrets":
		t, _, _ := unstructured.NestedString(o.Object, "type")
		return t == "kubernetes.io/service-account-token"
	}
	return false
}

func hasVerb(verbs []string, verb string) bool {
	for _, v := range verbs {
		if v == verb {
			return true
		}
	}
	return false
}

func key(o *unstructured.Unstructured) string {
	gvk := o.GroupVersionKind()
	return gvk.Group + "/" + gvk.Kind + "/" + o.GetNamespace() + "/" + o.GetName()
}

func compact(s []string) []string {
	out := s[:0]
	for i, v := range s {
		if i == 0 || v != s[i-1] {
			out = append(out, v)
		}
	}
	return out
}

// Strip returns a copy of o without the fields the hub's API server set,
// which mean nothing on a member.
func Strip(o *unstructured.Unstructured) *unstructured.Unstructured {
	out := o.DeepCopy()
	for _, f := range []string{"uid", "resourceVersion", "generation", "creationTimestamp", "managedFields",
		"ownerReferences", "deletionTimestamp", "deletionGracePeriodSeconds", "selfLink"} {
		unstructured.RemoveNestedField(out.Object, "metadata", f)
	}
	unstructured.RemoveNestedField(out.Object, "status")
	if ann := out.GetAnnotations(); ann != nil {
		delete(ann, "kubectl.kubernetes.io/last-applied-configuration")
		if len(ann) == 0 {
			ann = nil
		}
		out.SetAnnotations(ann)
	}
	gvk := out.GroupVersionKind()
	if gvk.Group == "" && gvk.Kind == "Service" {
		// The member allocates its own cluster IPs.
		unstructured.RemoveNestedField(out.Object, "spec", "clusterIP")
		unstructured.RemoveNestedField(out.Object, "spec", "clusterIPs")
	}
	if gvk.Group == "" && gvk.Kind == "Namespace" {
		// spec.finalizers is set by the API server.
		unstructured.RemoveNestedField(out.Object, "spec")
	}
	return out
}

// Hash is the sha256 of the objects' canonical JSON (maps marshal with
// sorted keys, and the objects are already in a fixed order).
func Hash(objs []*unstructured.Unstructured) (string, error) {
	h := sha256.New()
	enc := json.NewEncoder(h)
	for _, o := range objs {
		if err := enc.Encode(o.Object); err != nil {
			return "", err
		}
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
