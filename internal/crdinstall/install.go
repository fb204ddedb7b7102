// Package crdinstall installs or upgrades CRDs, and the admission policies
// that go with them, and waits until the API server serves the CRDs.
package crdinstall

import (
	"context"
	"fmt"
	"time"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// FieldOwner is the server-side apply manager name for installed CRDs.
const FieldOwner = "flotilla-hub"

// Apply creates or upgrades each CRD with server-side apply, then waits until
// every one is Established.
func Apply(ctx context.Context, c client.Client, crds []*apiextensionsv1.CustomResourceDefinition, timeout time.Duration) error {
	for _, crd := range crds {
		obj := crd.DeepCopy()
		obj.ResourceVersion = ""
		//nolint:staticcheck // client.Apply with an unstructured-free typed object is the simplest SSA call here.
		if err := c.Patch(ctx, obj, client.Apply, client.FieldOwner(FieldOwner), client.ForceOwnership); err != nil {
			return fmt.Errorf("installing CRD %s: %w", crd.Name, err)
		}
	}
	return WaitEstablished(ctx, c, crds, timeout)
}

// WaitEstablished waits until every CRD has the Established condition.
func WaitEstablished(ctx context.Context, c client.Client, crds []*apiextensionsv1.CustomResourceDefinition, timeout time.Duration) error {
	for _, crd := range crds {
		err := wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, timeout, true, func(ctx context.Context) (bool, error) {
			got := &apiextensionsv1.CustomResourceDefinition{}
			if err := c.Get(ctx, client.ObjectKey{Name: crd.Name}, got); err != nil {
				return false, client.IgnoreNotFound(err)
			}
			for _, cond := range got.Status.Conditions {
				if cond.Type == apiextensionsv1.Established && cond.Status == apiextensionsv1.ConditionTrue {
					return true, nil
				}
			}
			return false, nil
		})
		if err != nil {
			return fmt.Errorf("CRD %s not established: %w", crd.Name, err)
		}
	}
	return nil
}

// ApplyObjects creates or updates objects installed beside the CRDs (the
// admission policies of config/admission) with server-side apply.
func ApplyObjects(ctx context.Context, c client.Client, objs []client.Object) error {
	for _, o := range objs {
		obj := o.DeepCopyObject().(client.Object)
		obj.SetResourceVersion("")
		//nolint:staticcheck // as for the CRDs above.
		if err := c.Patch(ctx, obj, client.Apply, client.FieldOwner(FieldOwner), client.ForceOwnership); err != nil {
			return fmt.Errorf("installing %s %s: %w", o.GetObjectKind().GroupVersionKind().Kind, o.GetName(), err)
		}
	}
	return nil
}
