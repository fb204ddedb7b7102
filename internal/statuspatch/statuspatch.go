// Package statuspatch writes an object's status the one way every Flotilla
// controller and the agent do: snapshot the object before changing it, then
// send one merge patch of what changed, or nothing when nothing did.
package statuspatch

import (
	"context"

	"k8s.io/apimachinery/pkg/api/equality"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// Helper holds the snapshot of one object taken before its status is
// changed.
type Helper struct {
	c              client.Client
	before         client.Object
	optimisticLock bool
}

// Option changes how the patch is sent.
type Option func(*Helper)

// WithOptimisticLock makes the patch carry the snapshot's resourceVersion,
// so a write that lost a race with another writer of the same status fails
// with a conflict instead of undoing the other's change.
func WithOptimisticLock() Option { return func(h *Helper) { h.optimisticLock = true } }

// New snapshots obj; change obj's status afterwards, then call Patch.
func New(c client.Client, obj client.Object, opts ...Option) *Helper {
	before, ok := obj.DeepCopyObject().(client.Object)
	if !ok {
		panic("statuspatch: DeepCopyObject did not return a client.Object")
	}
	h := &Helper{c: c, before: before}
	for _, o := range opts {
		o(h)
	}
	return h
}

// Changed reports whether obj differs from the snapshot. Callers change
// only the status between New and Patch, so that is what differs.
func (h *Helper) Changed(obj client.Object) bool {
	return !equality.Semantic.DeepEqual(h.before, obj)
}

// Patch sends the status changes made to obj since New, if any. On success
// obj holds what the API server returned; the helper then snapshots that, so
// a later Patch sends only what changed after it.
func (h *Helper) Patch(ctx context.Context, obj client.Object) error {
	if !h.Changed(obj) {
		return nil
	}
	var patch client.Patch
	if h.optimisticLock {
		patch = client.MergeFromWithOptions(h.before, client.MergeFromWithOptimisticLock{})
	} else {
		patch = client.MergeFrom(h.before)
	}
	if err := h.c.Status().Patch(ctx, obj, patch); err != nil {
		return err
	}
	if snap, ok := obj.DeepCopyObject().(client.Object); ok {
		h.before = snap
	}
	return nil
}
