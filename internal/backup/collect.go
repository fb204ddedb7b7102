package backup

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"

	placementv1 "github.com/flotilla-dev/flotilla/api/placement/v1"
	fleetv1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/internal/enrollment"
)

// fleetGroups are the API groups whose every object is fleet state.
var fleetGroups = []string{fleetv1.GroupVersion.Group, placementv1.GroupVersion.Group}

// identityKinds are the hub-side objects of members (credentials, agent
// identities) that carry enrollment.MemberLabel.
var identityKinds = []schema.GroupVersionKind{
	{Version: "v1", Kind: "Namespace"},
	{Version: "v1", Kind: "Secret"},
	{Version: "v1", Kind: "ServiceAccount"},
	{Group: "rbac.authorization.k8s.io", Version: "v1", Kind: "ClusterRole"},
	{Group: "rbac.authorization.k8s.io", Version: "v1", Kind: "ClusterRoleBinding"},
	{Group: "rbac.authorization.k8s.io", Version: "v1", Kind: "Role"},
	{Group: "rbac.authorization.k8s.io", Version: "v1", Kind: "RoleBinding"},
}

// restoreOrder puts owners and prerequisites before what needs them (a
// placed CRD before its objects); kinds not named here come after, by name.
var restoreOrder = []string{
	"Namespace", "CustomResourceDefinition", "Secret", "ServiceAccount", "ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding",
	"MemberCluster", "UpdateStrategy", "AutoUpgradeProfile", "UpdateRun", "Gate",
	"ClusterResourceOverride", "ResourceOverride", "ClusterResourcePlacement", "ResourcePlacement",
	"ResourceSnapshot", "ResourceBinding", "Work",
}

func rank(kind string) int {
	if i := slices.Index(restoreOrder, kind); i >= 0 {
		return i
	}
	return len(restoreOrder)
}

// fleetKinds lists the kinds of the fleet groups the scheme knows.
func fleetKinds(scheme *runtime.Scheme) []schema.GroupVersionKind {
	var out []schema.GroupVersionKind
	for gvk := range scheme.AllKnownTypes() {
		if slices.Contains(fleetGroups, gvk.Group) && !strings.HasSuffix(gvk.Kind, "List") {
			out = append(out, gvk)
		}
	}
	return out
}

// Collect reads the fleet's state from a hub.
func Collect(ctx context.Context, hub client.Client, now time.Time) (*Archive, error) {
	a := &Archive{Format: FormatVersion, CreatedAt: now.UTC()}
	seen := map[string]bool{}
	add := func(u *unstructured.Unstructured) {
		key := u.GroupVersionKind().GroupKind().String() + "/" + u.GetNamespace() + "/" + u.GetName()
		if !seen[key] {
			seen[key] = true
			a.Objects = append(a.Objects, *clean(u))
		}
	}
	for _, gvk := range fleetKinds(hub.Scheme()) {
		items, err := list(ctx, hub, gvk)
		if meta.IsNoMatchError(err) {
			continue // a kind this hub does not serve yet
		}
		if err != nil {
			return nil, err
		}
		for i := range items {
			add(&items[i])
		}
	}
	for _, gvk := range identityKinds {
		opts := []client.ListOption{client.HasLabels{enrollment.MemberLabel}}
		if gvk.Kind == "Secret" {
			// Member credentials live in one namespace: a backup never
			// needs to read Secrets anywhere else.
			opts = append(opts, client.InNamespace(enrollment.Namespace))
		}
		items, err := list(ctx, hub, gvk, opts...)
		if err != nil {
			return nil, err
		}
		for i := range items {
			add(&items[i])
		}
	}
	// Credentials a member names wherever they live, labelled or not.
	members := &fleetv1.MemberClusterList{}
	if err := hub.List(ctx, members); err != nil {
		return nil, fmt.Errorf("listing members: %w", err)
	}
	for _, m := range members.Items {
		ref := m.Spec.Access.KubeconfigSecretRef
		if ref == nil {
			continue
		}
		u := &unstructured.Unstructured{}
		u.SetGroupVersionKind(schema.GroupVersionKind{Version: "v1", Kind: "Secret"})
		if err := hub.Get(ctx, client.ObjectKey{Namespace: ref.Namespace, Name: ref.Name}, u); err != nil {
			return nil, fmt.Errorf("reading the credentials of member %s (Secret %s/%s): %w", m.Name, ref.Namespace, ref.Name, client.IgnoreNotFound(err))
		}
		add(u)
	}
	// The data of placed Secrets, which snapshots and Works only name:
	// read by name, so a backup needs no list of Secrets beyond
	// flotilla-system.
	var secretData []client.ObjectKey
	for _, o := range a.Objects {
		switch o.GetKind() {
		case "ResourceSnapshot":
			ns, _, _ := unstructured.NestedString(o.Object, "spec", "secretData", "namespace")
			if name, _, _ := unstructured.NestedString(o.Object, "spec", "secretData", "name"); name != "" {
				secretData = append(secretData, client.ObjectKey{Namespace: ns, Name: name})
			}
		case "Work":
			if name, _, _ := unstructured.NestedString(o.Object, "spec", "secretData", "name"); name != "" {
				secretData = append(secretData, client.ObjectKey{Namespace: o.GetNamespace(), Name: name})
			}
		}
	}
	for _, key := range secretData {
		u, err := get(ctx, hub, placementv1.ResourceIdentifier{Version: "v1", Kind: "Secret", Namespace: key.Namespace, Name: key.Name})
		if err != nil {
			return nil, fmt.Errorf("reading the data of placed Secrets (Secret %s): %w", key, err)
		}
		if u != nil {
			add(u)
		}
	}
	// What placements place: the fresh hub's placement controller selects
	// it again, and without it would take every placed object off the
	// members.
	placements := &placementv1.ClusterResourcePlacementList{}
	if err := hub.List(ctx, placements); err != nil && !meta.IsNoMatchError(err) {
		return nil, fmt.Errorf("listing placements: %w", err)
	}
	for _, p := range placements.Items {
		for _, id := range p.Status.SelectedResources {
			u, err := get(ctx, hub, id)
			if err != nil {
				return nil, fmt.Errorf("reading %s %s, selected by placement %s: %w", id.Kind, objectName(id), p.Name, err)
			}
			if u != nil {
				add(u)
			}
		}
	}
	sortForRestore(a.Objects)
	return a, nil
}

// get reads the object id names; nil when it is gone (deleted since it was
// selected, or of a kind the hub no longer serves).
func get(ctx context.Context, hub client.Client, id placementv1.ResourceIdentifier) (*unstructured.Unstructured, error) {
	u := &unstructured.Unstructured{}
	u.SetGroupVersionKind(schema.GroupVersionKind{Group: id.Group, Version: id.Version, Kind: id.Kind})
	err := hub.Get(ctx, client.ObjectKey{Namespace: id.Namespace, Name: id.Name}, u)
	if apierrors.IsNotFound(err) || meta.IsNoMatchError(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return u, nil
}

func objectName(id placementv1.ResourceIdentifier) string {
	if id.Namespace != "" {
		return id.Namespace + "/" + id.Name
	}
	return id.Name
}

func list(ctx context.Context, hub client.Client, gvk schema.GroupVersionKind, opts ...client.ListOption) ([]unstructured.Unstructured, error) {
	l := &unstructured.UnstructuredList{}
	l.SetGroupVersionKind(gvk.GroupVersion().WithKind(gvk.Kind + "List"))
	if err := hub.List(ctx, l, opts...); err != nil {
		return nil, fmt.Errorf("listing %s: %w", gvk.Kind, err)
	}
	for i := range l.Items {
		l.Items[i].SetGroupVersionKind(gvk)
	}
	return l.Items, nil
}

func sortForRestore(objs []unstructured.Unstructured) {
	slices.SortStableFunc(objs, func(a, b unstructured.Unstructured) int {
		if d := rank(a.GetKind()) - rank(b.GetKind()); d != 0 {
			return d
		}
		if c := strings.Compare(a.GetKind(), b.GetKind()); c != 0 {
			return c
		}
		if c := strings.Compare(a.GetNamespace(), b.GetNamespace()); c != 0 {
			return c
		}
		return strings.Compare(a.GetName(), b.GetName())
	})
}

// clean drops what belongs to the object's life on one API server. The UID
// stays: restore maps owner references from old UIDs to new ones.
func clean(u *unstructured.Unstructured) *unstructured.Unstructured {
	out := u.DeepCopy()
	for _, f := range []string{"resourceVersion", "creationTimestamp", "generation", "managedFields", "deletionTimestamp", "deletionGracePeriodSeconds", "selfLink"} {
		unstructured.RemoveNestedField(out.Object, "metadata", f)
	}
	return out
}
