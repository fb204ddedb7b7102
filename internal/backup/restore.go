package backup

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// RestoreOptions change how an archive is restored.
type RestoreOptions struct {
	// Overwrite replaces objects that exist on the hub; without it the
	// restore refuses to start when any does.
	Overwrite bool
	// Progress, if set, is told of each object restored.
	Progress func(kind, namespace, name string)
}

// RestoreResult says what a restore did.
type RestoreResult struct {
	Created, Replaced int
	// DroppedOwners lists owner references whose owner is not in the
	// archive; they are removed so that a garbage collector does not delete
	// the restored object.
	DroppedOwners []string
}

// ErrExists says objects in the archive exist on the hub already.
var ErrExists = errors.New("objects exist on the hub")

// Restore recreates an archive's objects on a hub, status included. It
// checks first, so a refused restore creates nothing.
func Restore(ctx context.Context, hub client.Client, a *Archive, opts RestoreOptions) (RestoreResult, error) {
	var res RestoreResult
	objs := slices.Clone(a.Objects)
	sortForRestore(objs)
	if !opts.Overwrite {
		var existing []string
		for i := range objs {
			if found, err := exists(ctx, hub, &objs[i]); err != nil {
				return res, err
			} else if found {
				existing = append(existing, describe(&objs[i]))
			}
		}
		if len(existing) > 0 {
			return res, fmt.Errorf("%w (%d, e.g. %s); restore onto a fresh hub, or pass --overwrite", ErrExists, len(existing), strings.Join(existing[:min(5, len(existing))], ", "))
		}
	}
	// newUIDs maps each restored object's old UID to its new one, so that
	// dependents point at their owners on this hub.
	newUIDs := map[types.UID]types.UID{}
	for i := range objs {
		obj := objs[i].DeepCopy()
		oldUID := obj.GetUID()
		res.DroppedOwners = append(res.DroppedOwners, remapOwners(obj, newUIDs)...)
		status, hasStatus := obj.Object["status"]
		delete(obj.Object, "status")
		obj.SetUID("")
		if ns := obj.GetNamespace(); ns != "" {
			if err := ensureNamespace(ctx, hub, ns); err != nil {
				return res, err
			}
		}
		replaced, err := put(ctx, hub, obj)
		if err != nil {
			return res, fmt.Errorf("restoring %s: %w", describe(obj), err)
		}
		if replaced {
			res.Replaced++
		} else {
			res.Created++
		}
		newUIDs[oldUID] = obj.GetUID()
		if hasStatus && isFleetGroup(obj.GroupVersionKind().Group) {
			obj.Object["status"] = status
			if err := hub.Status().Update(ctx, obj); err != nil {
				return res, fmt.Errorf("restoring the status of %s: %w", describe(obj), err)
			}
		}
		if opts.Progress != nil {
			opts.Progress(obj.GetKind(), obj.GetNamespace(), obj.GetName())
		}
	}
	return res, nil
}

func isFleetGroup(group string) bool { return slices.Contains(fleetGroups, group) }

func describe(u *unstructured.Unstructured) string {
	if u.GetNamespace() != "" {
		return u.GetKind() + " " + u.GetNamespace() + "/" + u.GetName()
	}
	return u.GetKind() + " " + u.GetName()
}

func exists(ctx context.Context, hub client.Client, u *unstructured.Unstructured) (bool, error) {
	probe := &unstructured.Unstructured{}
	probe.SetGroupVersionKind(u.GroupVersionKind())
	err := hub.Get(ctx, client.ObjectKeyFromObject(u), probe)
	switch {
	case err == nil:
		return true, nil
	case apierrors.IsNotFound(err), meta.IsNoMatchError(err):
		// A kind not served yet (a placed CRD the archive restores
		// first) has no objects.
		return false, nil
	}
	return false, fmt.Errorf("checking %s: %w", describe(u), err)
}

// put creates obj, or replaces the object of the same name; obj then holds
// what the API server stored.
func put(ctx context.Context, hub client.Client, obj *unstructured.Unstructured) (replaced bool, err error) {
	err = create(ctx, hub, obj)
	if !apierrors.IsAlreadyExists(err) {
		return false, err
	}
	current := &unstructured.Unstructured{}
	current.SetGroupVersionKind(obj.GroupVersionKind())
	if err := hub.Get(ctx, client.ObjectKeyFromObject(obj), current); err != nil {
		return false, err
	}
	obj.SetResourceVersion(current.GetResourceVersion())
	return true, hub.Update(ctx, obj)
}

// kindServedTimeout bounds the wait for a CRD restored just before to be
// served.
const kindServedTimeout = 30 * time.Second

// create creates obj, waiting while its kind is not served yet: its CRD,
// restored just before, takes a moment to be established.
func create(ctx context.Context, hub client.Client, obj *unstructured.Unstructured) error {
	err := hub.Create(ctx, obj)
	if !meta.IsNoMatchError(err) {
		return err
	}
	pollErr := wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, kindServedTimeout, false, func(ctx context.Context) (bool, error) {
		err = hub.Create(ctx, obj)
		return !meta.IsNoMatchError(err), nil
	})
	if pollErr != nil && meta.IsNoMatchError(err) {
		return fmt.Errorf("the hub does not serve %s (restore its CRD first): %w", obj.GroupVersionKind(), err)
	}
	return err
}

// remapOwners points owner references at the owners' new UIDs and drops
// those whose owner was not restored before obj; it returns what it dropped.
func remapOwners(obj *unstructured.Unstructured, newUIDs map[types.UID]types.UID) []string {
	var kept []metav1.OwnerReference
	var dropped []string
	for _, o := range obj.GetOwnerReferences() {
		uid, ok := newUIDs[o.UID]
		if !ok {
			dropped = append(dropped, fmt.Sprintf("%s → %s %s", describe(obj), o.Kind, o.Name))
			continue
		}
		o.UID = uid
		kept = append(kept, o)
	}
	obj.SetOwnerReferences(kept)
	return dropped
}

func ensureNamespace(ctx context.Context, hub client.Client, name string) error {
	ns := &unstructured.Unstructured{}
	ns.SetAPIVersion("v1")
	ns.SetKind("Namespace")
	ns.SetName(name)
	if err := hub.Create(ctx, ns); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("creating namespace %s: %w", name, err)
	}
	return nil
}
