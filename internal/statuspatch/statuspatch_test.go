package statuspatch_test

import (
	"context"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	fleetv1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/internal/fleetscheme"
	"github.com/flotilla-dev/flotilla/internal/statuspatch"
)

func newClient(t *testing.T, patches *int, objs ...client.Object) client.Client {
	t.Helper()
	return fake.NewClientBuilder().WithScheme(fleetscheme.New()).
		WithObjects(objs...).WithStatusSubresource(objs...).
		WithInterceptorFuncs(interceptor.Funcs{
			SubResourcePatch: func(ctx context.Context, c client.Client, sub string, obj client.Object, p client.Patch, opts ...client.SubResourcePatchOption) error {
				*patches++
				return c.SubResource(sub).Patch(ctx, obj, p, opts...)
			},
		}).Build()
}

func TestAnUnchangedStatusIsNotWritten(t *testing.T) {
	var patches int
	m := &fleetv1.MemberCluster{ObjectMeta: metav1.ObjectMeta{Name: "a"}}
	c := newClient(t, &patches, m)
	if err := c.Get(context.Background(), client.ObjectKey{Name: "a"}, m); err != nil {
		t.Fatal(err)
	}
	h := statuspatch.New(c, m)
	if err := h.Patch(context.Background(), m); err != nil {
		t.Fatal(err)
	}
	if patches != 0 {
		t.Fatalf("patches = %d, want 0", patches)
	}
}

func TestAChangedStatusIsWrittenOnceAndThenNotAgain(t *testing.T) {
	var patches int
	m := &fleetv1.MemberCluster{ObjectMeta: metav1.ObjectMeta{Name: "a"}}
	c := newClient(t, &patches, m)
	ctx := context.Background()
	if err := c.Get(ctx, client.ObjectKey{Name: "a"}, m); err != nil {
		t.Fatal(err)
	}
	h := statuspatch.New(c, m)
	m.Status.KubernetesVersion = "v1.37.2"
	if err := h.Patch(ctx, m); err != nil {
		t.Fatal(err)
	}
	if err := h.Patch(ctx, m); err != nil {
		t.Fatal(err)
	}
	if patches != 1 {
		t.Fatalf("patches = %d, want 1", patches)
	}
	got := &fleetv1.MemberCluster{}
	if err := c.Get(ctx, client.ObjectKey{Name: "a"}, got); err != nil {
		t.Fatal(err)
	}
	if got.Status.KubernetesVersion != "v1.37.2" {
		t.Fatalf("stored version = %q", got.Status.KubernetesVersion)
	}
}

func TestWithOptimisticLockAStaleSnapshotConflicts(t *testing.T) {
	var patches int
	m := &fleetv1.MemberCluster{ObjectMeta: metav1.ObjectMeta{Name: "a"}}
	c := newClient(t, &patches, m)
	ctx := context.Background()
	if err := c.Get(ctx, client.ObjectKey{Name: "a"}, m); err != nil {
		t.Fatal(err)
	}
	stale := m.DeepCopy()
	m.Status.KubernetesVersion = "v1.36.3"
	if err := c.Status().Update(ctx, m); err != nil {
		t.Fatal(err)
	}
	h := statuspatch.New(c, stale, statuspatch.WithOptimisticLock())
	stale.Status.FailedPods = 3
	if err := h.Patch(ctx, stale); err == nil {
		t.Fatal("a patch from a stale snapshot succeeded; want a conflict")
	}
}
