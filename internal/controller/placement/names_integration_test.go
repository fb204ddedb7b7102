package placement_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	placementv1 "github.com/flotilla-dev/flotilla/api/placement/v1"
	fleetv1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/internal/testenv"
)

// fixedPlacement places the ClusterRole role on the named members.
func fixedPlacement(name, role string, members ...string) *placementv1.ClusterResourcePlacement {
	return &placementv1.ClusterResourcePlacement{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: placementv1.ClusterResourcePlacementSpec{
			ResourceSelectors: []placementv1.ClusterResourceSelector{{Group: "rbac.authorization.k8s.io", Version: "v1", Kind: "ClusterRole", Name: role}},
			Policy:            &placementv1.PlacementPolicy{PlacementType: placementv1.PickFixedPlacementType, ClusterNames: members},
		},
	}
}

// bindingsOf lists a placement's bindings for one member.
func bindingsOf(c client.Client, crp, member string) ([]fleetv1.ResourceBinding, error) {
	list := &fleetv1.ResourceBindingList{}
	err := c.List(context.Background(), list, client.MatchingLabels{fleetv1.PlacementLabel: crp})
	var out []fleetv1.ResourceBinding
	for _, b := range list.Items {
		if b.Spec.TargetCluster == member {
			out = append(out, b)
		}
	}
	return out, err
}

// oneBinding checks that crp has exactly one binding for member, Bound,
// and labelled for the pair.
func oneBinding(c client.Client, crp, member string) (*fleetv1.ResourceBinding, error) {
	bs, err := bindingsOf(c, crp, member)
	if err != nil {
		return nil, err
	}
	if len(bs) != 1 {
		return nil, fmt.Errorf("%s has %d bindings for %s", crp, len(bs), member)
	}
	b := &bs[0]
	if b.Spec.State != fleetv1.BindingBound || b.Labels[fleetv1.MemberClusterLabel] != member || b.Spec.Placement != crp {
		return nil, fmt.Errorf("binding %s: labels %v spec %+v", b.Name, b.Labels, b.Spec)
	}
	return b, nil
}

func condition(c client.Client, crp, typ string) (*metav1.Condition, *placementv1.ClusterResourcePlacement, error) {
	got := &placementv1.ClusterResourcePlacement{}
	if err := c.Get(context.Background(), client.ObjectKey{Name: crp}, got); err != nil {
		return nil, nil, err
	}
	cond := meta.FindStatusCondition(got.Status.Conditions, typ)
	if cond == nil {
		return nil, got, fmt.Errorf("%s has no %s condition: %+v", crp, typ, got.Status.Conditions)
	}
	return cond, got, nil
}

func TestPlacementNamesAndFailuresOnARealHub(t *testing.T) {
	c := startHub(t)
	ctx := context.Background()
	for _, m := range []string{"eu-1", "1", "legacy-1", "broken-1"} {
		createMember(t, c, m, nil)
	}
	must(t, c.Create(ctx, &rbacv1.ClusterRole{
		ObjectMeta: metav1.ObjectMeta{Name: "names-role"},
		Rules:      []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"configmaps"}, Verbs: []string{"get"}}},
	}))

	t.Run("placement app on eu-1 and app-eu on 1 each get their own binding and Work", func(t *testing.T) {
		must(t, c.Create(ctx, fixedPlacement("app", "names-role", "eu-1")))
		must(t, c.Create(ctx, fixedPlacement("app-eu", "names-role", "1")))
		pairs := [][2]string{{"app", "eu-1"}, {"app-eu", "1"}}
		names := map[string]bool{}
		for _, p := range pairs {
			testenv.Eventually(t, waitFor, fmt.Sprintf("binding and Work of %s on %s", p[0], p[1]), func() error {
				b, err := oneBinding(c, p[0], p[1])
				if err != nil {
					return err
				}
				names[b.Name] = true
				w, err := work(c, p[0], p[1])
				if err != nil {
					return err
				}
				if w.Labels[fleetv1.PlacementLabel] != p[0] || w.Labels[fleetv1.MemberClusterLabel] != p[1] {
					return fmt.Errorf("Work labels %v", w.Labels)
				}
				cond, _, err := condition(c, p[0], placementv1.ClusterResourcePlacementWorkSynchronizedConditionType)
				if err == nil && cond.Status != metav1.ConditionTrue {
					err = fmt.Errorf("WorkSynchronized %+v", cond)
				}
				return err
			})
		}
		if len(names) != 2 {
			t.Fatalf("binding names %v", names)
		}
	})

	t.Run("a binding named the old way is adopted and removed when no longer picked", func(t *testing.T) {
		// What the hub wrote before binding names carried a hash.
		old := &fleetv1.ResourceBinding{
			ObjectMeta: metav1.ObjectMeta{
				Name:   "legacy-legacy-1",
				Labels: map[string]string{fleetv1.PlacementLabel: "legacy", fleetv1.MemberClusterLabel: "legacy-1"},
			},
			Spec: fleetv1.ResourceBindingSpec{
				Placement: "legacy", TargetCluster: "legacy-1", State: fleetv1.BindingBound, ResourceSnapshotName: "legacy-0",
			},
		}
		must(t, c.Create(ctx, old))
		must(t, c.Create(ctx, fixedPlacement("legacy", "names-role", "legacy-1")))
		testenv.Eventually(t, waitFor, "the old binding in use", func() error {
			b, err := oneBinding(c, "legacy", "legacy-1")
			if err != nil {
				return err
			}
			if b.Name != old.Name || b.Spec.ResourceSnapshotName != "legacy-0" {
				return fmt.Errorf("binding %s at %s", b.Name, b.Spec.ResourceSnapshotName)
			}
			w, err := work(c, "legacy", "legacy-1")
			if err == nil && w.Spec.ResourceSnapshotName != "legacy-0" {
				err = fmt.Errorf("Work at %s", w.Spec.ResourceSnapshotName)
			}
			return err
		})
		testenv.Eventually(t, waitFor, "moving the placement to eu-1", func() error {
			got := &placementv1.ClusterResourcePlacement{}
			if err := c.Get(ctx, client.ObjectKey{Name: "legacy"}, got); err != nil {
				return err
			}
			got.Spec.Policy.ClusterNames = []string{"eu-1"}
			return c.Update(ctx, got)
		})
		testenv.Eventually(t, waitFor, "legacy-1's old binding and Work gone, eu-1 bound", func() error {
			if err := noWork(c, "legacy", "legacy-1"); err != nil {
				return err
			}
			bs, err := bindingsOf(c, "legacy", "legacy-1")
			if err != nil {
				return err
			}
			if len(bs) > 0 {
				return fmt.Errorf("binding %s for legacy-1 left", bs[0].Name)
			}
			_, err = oneBinding(c, "legacy", "eu-1")
			return err
		})
	})

	t.Run("a Work that cannot be written shows as a False condition with the error", func(t *testing.T) {
		// A member namespace stuck terminating refuses new Works.
		ns := fleetv1.MemberNamespace("broken-1")
		must(t, c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}))
		hold := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "hold", Namespace: ns, Finalizers: []string{"test.flotilla.dev/hold"}}}
		must(t, c.Create(ctx, hold))
		must(t, c.Delete(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}))
		must(t, c.Create(ctx, fixedPlacement("broken", "names-role", "broken-1")))

		testenv.Eventually(t, waitFor, "WorkSynchronized False with the error", func() error {
			cond, got, err := condition(c, "broken", placementv1.ClusterResourcePlacementWorkSynchronizedConditionType)
			if err != nil {
				return err
			}
			if cond.Status != metav1.ConditionFalse || cond.Reason != placementv1.WorkSynchronizedFailedReason ||
				!strings.Contains(cond.Message, "broken-1: creating Work") || !strings.Contains(cond.Message, "terminat") ||
				cond.ObservedGeneration != got.Generation {
				return fmt.Errorf("condition %+v", cond)
			}
			if len(got.Status.PlacementStatuses) != 1 {
				return fmt.Errorf("placement statuses %+v", got.Status.PlacementStatuses)
			}
			member := meta.FindStatusCondition(got.Status.PlacementStatuses[0].Conditions, placementv1.ResourceWorkSynchronizedConditionType)
			if member == nil || member.Status != metav1.ConditionFalse || member.Reason != placementv1.SyncWorkFailedReason {
				return fmt.Errorf("member condition %+v", member)
			}
			if !meta.IsStatusConditionTrue(got.Status.Conditions, placementv1.ClusterResourcePlacementScheduledConditionType) {
				return fmt.Errorf("not Scheduled: %+v", got.Status.Conditions)
			}
			return nil
		})

		// Once the namespace is gone the controller makes it anew.
		testenv.Eventually(t, waitFor, "releasing the namespace", func() error {
			cm := &corev1.ConfigMap{}
			if err := c.Get(ctx, client.ObjectKeyFromObject(hold), cm); err != nil {
				return err
			}
			cm.Finalizers = nil
			return c.Update(ctx, cm)
		})
		testenv.Eventually(t, waitFor, "the old namespace gone", func() error {
			n := &corev1.Namespace{}
			if err := c.Get(ctx, client.ObjectKey{Name: ns}, n); err != nil {
				return client.IgnoreNotFound(err)
			}
			if n.DeletionTimestamp.IsZero() {
				return nil // already made anew
			}
			return fmt.Errorf("namespace %s still terminating", ns)
		})
		// Wake the placement, which is backing off after its failures.
		testenv.Eventually(t, waitFor, "annotating the placement", func() error {
			got := &placementv1.ClusterResourcePlacement{}
			if err := c.Get(ctx, client.ObjectKey{Name: "broken"}, got); err != nil {
				return err
			}
			got.Annotations = map[string]string{"test.flotilla.dev/wake": "1"}
			return c.Update(ctx, got)
		})
		testenv.Eventually(t, waitFor, "WorkSynchronized True", func() error {
			cond, _, err := condition(c, "broken", placementv1.ClusterResourcePlacementWorkSynchronizedConditionType)
			if err == nil && cond.Status != metav1.ConditionTrue {
				err = fmt.Errorf("condition %+v", cond)
			}
			return err
		})
	})
}
