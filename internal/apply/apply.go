// Package apply puts manifests on the hub, as `flotilla apply -f` does:
// server-side apply, every object first checked by a server-side dry run so
// that nothing is applied when one is refused, in an order where each
// object finds what it needs (see Order).
package apply

import (
	"context"
	"errors"
	"fmt"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/restmapper"
	"k8s.io/utils/ptr"
)

// FieldManager owns what operators apply to the hub through flotilla.
const FieldManager = "flotilla-cli"

// Applier applies manifests to one API server.
type Applier struct {
	// mapper finds each kind's resource; it is reset when a kind is
	// missing, since a CRD of the same batch may have just added it.
	mapper  meta.ResettableRESTMapper
	dynamic dynamic.Interface
}

// New returns an Applier for the API server of cfg.
func New(cfg *rest.Config) (*Applier, error) {
	dc, err := discovery.NewDiscoveryClientForConfig(cfg)
	if err != nil {
		return nil, err
	}
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return nil, err
	}
	return &Applier{mapper: restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(dc)), dynamic: dyn}, nil
}

// Result is what applying one object did.
type Result struct {
	Object *unstructured.Unstructured
	// Verb is created, configured or unchanged.
	Verb string
}

// String is the line `flotilla apply` prints: kind[.group]/[namespace/]name verb.
func (r Result) String() string {
	return fmt.Sprintf("%s/%s %s", kindLabel(r.Object), qualifiedName(r.Object), r.Verb)
}

// Apply puts objs in Order, checks every one with a server-side dry run
// and, when the hub refuses none, applies them one by one. It returns what
// it applied, also when it stops at an error.
func (a *Applier) Apply(ctx context.Context, objs []*unstructured.Unstructured) ([]Result, error) {
	Order(objs)
	// Namespaces this batch creates: what lives in them can only be checked
	// once they exist.
	batchNamespaces := map[string]bool{}
	for _, o := range objs {
		if rank(o) == rankNamespace {
			batchNamespaces[o.GetName()] = true
		}
	}
	var refused []error
	for _, o := range objs {
		if _, err := a.applyOne(ctx, o, true, batchNamespaces); err != nil {
			refused = append(refused, err)
		}
	}
	if len(refused) > 0 {
		return nil, fmt.Errorf("nothing applied: the hub refused:\n%w", errors.Join(refused...))
	}
	var done []Result
	for _, o := range objs {
		verb, err := a.applyOne(ctx, o, false, batchNamespaces)
		if err != nil {
			return done, err
		}
		done = append(done, Result{Object: o, Verb: verb})
	}
	return done, nil
}

// applyOne applies o, or only checks it with dryRun, and says what it did.
// A dry run passes over what cannot be checked yet: an object whose kind
// or namespace this batch is still to create. (Empty verb, no error.)
func (a *Applier) applyOne(ctx context.Context, o *unstructured.Unstructured, dryRun bool, batchNamespaces map[string]bool) (string, error) {
	m, err := a.mapping(o, dryRun)
	if err != nil || m == nil {
		return "", err
	}
	ri := a.dynamic.Resource(m.Resource).(dynamic.ResourceInterface)
	if m.Scope.Name() == meta.RESTScopeNameNamespace {
		if o.GetNamespace() == "" {
			o.SetNamespace("default")
		}
		if dryRun && batchNamespaces[o.GetNamespace()] {
			exists, err := a.namespaceExists(ctx, o.GetNamespace())
			if err != nil || !exists {
				return "", err
			}
		}
		ri = a.dynamic.Resource(m.Resource).Namespace(o.GetNamespace())
	}
	data, err := o.MarshalJSON()
	if err != nil {
		return "", err
	}
	opts := metav1.PatchOptions{FieldManager: FieldManager, Force: ptr.To(true)}
	if dryRun {
		opts.DryRun = []string{metav1.DryRunAll}
	}
	before, _ := ri.Get(ctx, o.GetName(), metav1.GetOptions{})
	after, err := ri.Patch(ctx, o.GetName(), types.ApplyPatchType, data, opts)
	if err != nil {
		return "", fmt.Errorf("%s %s: %w", o.GetKind(), qualifiedName(o), err)
	}
	switch {
	case before == nil:
		return "created", nil
	case before.GetResourceVersion() == after.GetResourceVersion():
		return "unchanged", nil
	}
	return "configured", nil
}

// mapping finds the resource of o's kind. In a dry run, a kind the hub does
// not know yet is passed over (nil mapping) unless it is a Namespace or a
// CRD: its CRD may be in this very batch, and it is checked when applied.
func (a *Applier) mapping(o *unstructured.Unstructured, dryRun bool) (*meta.RESTMapping, error) {
	gvk := o.GroupVersionKind()
	m, err := a.mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
	if err == nil {
		return m, nil
	}
	if dryRun && rank(o) > rankCRD {
		return nil, nil
	}
	a.mapper.Reset()
	if m, err = a.mapper.RESTMapping(gvk.GroupKind(), gvk.Version); err != nil {
		return nil, fmt.Errorf("%s %s: unknown kind: %w", gvk.Kind, o.GetName(), err)
	}
	return m, nil
}

func (a *Applier) namespaceExists(ctx context.Context, name string) (bool, error) {
	m, err := a.mapper.RESTMapping(schema.GroupKind{Kind: "Namespace"}, "v1")
	if err != nil {
		return false, err
	}
	_, err = a.dynamic.Resource(m.Resource).Get(ctx, name, metav1.GetOptions{})
	return !apierrors.IsNotFound(err), nil
}

func kindLabel(o *unstructured.Unstructured) string {
	gk := o.GroupVersionKind().GroupKind()
	if gk.Group == "" {
		return strings.ToLower(gk.Kind)
	}
	return strings.ToLower(gk.Kind) + "." + gk.Group
}

func qualifiedName(o *unstructured.Unstructured) string {
	if o.GetNamespace() != "" {
		return o.GetNamespace() + "/" + o.GetName()
	}
	return o.GetName()
}
