package placement_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	placementv1 "github.com/flotilla-dev/flotilla/api/placement/v1"
	fleetv1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/internal/controller/placement"
	"github.com/flotilla-dev/flotilla/internal/testenv"
)

// seedCRP is the seed's ClusterResourcePlacement, verbatim.
const seedCRP = `
apiVersion: placement.kubernetes-fleet.io/v1
kind: ClusterResourcePlacement
metadata:
  name: payment-service-placement
spec:
  resourceSelectors:
    - group: ""
      kind: Namespace
      name: fintech
      version: v1
  policy:
    placementType: PickAll
    affinity:
      clusterAffinity:
        requiredDuringSchedulingIgnoredDuringExecution:
          clusterSelectorTerms:
            - labelSelector:
                matchLabels:
                  region: prod
                  compliance: pci
`

const waitFor = 20 * time.Second

// startHub starts a hub with the fleet CRDs and the placement controller,
// and stops both when the test ends.
func startHub(t *testing.T) client.Client {
	t.Helper()
	hub := testenv.Start(t, testenv.Options{CRDs: testenv.AllCRDs}).Hub
	hub.RunManager(t, func(mgr ctrl.Manager) error {
		return (&placement.Reconciler{
			Client: mgr.GetClient(), Recorder: mgr.GetEventRecorder("placement-test"), Resync: 5 * time.Second,
		}).SetupWithManager(mgr)
	})
	return hub.Client
}

func createMember(t *testing.T, c client.Client, name string, labels map[string]string) {
	t.Helper()
	ctx := context.Background()
	m := &fleetv1.MemberCluster{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels},
		Spec:       fleetv1.MemberClusterSpec{Access: fleetv1.MemberAccess{Mode: fleetv1.AccessAgent}},
	}
	if err := c.Create(ctx, m); err != nil {
		t.Fatal(err)
	}
	now := metav1.Now()
	m.Status.Conditions = []metav1.Condition{
		{Type: fleetv1.MemberJoined, Status: metav1.ConditionTrue, Reason: "Joined", LastTransitionTime: now},
		{Type: fleetv1.MemberReachable, Status: metav1.ConditionTrue, Reason: "Heartbeat", LastTransitionTime: now},
		{Type: fleetv1.MemberAgentConnected, Status: metav1.ConditionTrue, Reason: "Heartbeat", LastTransitionTime: now},
	}
	if err := c.Status().Update(ctx, m); err != nil {
		t.Fatal(err)
	}
}

func work(c client.Client, crp, member string) (*fleetv1.Work, error) {
	w := &fleetv1.Work{}
	err := c.Get(context.Background(), client.ObjectKey{Namespace: fleetv1.MemberNamespace(member), Name: crp}, w)
	return w, err
}

func manifests(w *fleetv1.Work) []*unstructured.Unstructured {
	var out []*unstructured.Unstructured
	for _, m := range w.Spec.Manifests {
		o := &unstructured.Unstructured{}
		_ = o.UnmarshalJSON(m.Raw)
		out = append(out, o)
	}
	return out
}

func kinds(objs []*unstructured.Unstructured) string {
	var s []string
	for _, o := range objs {
		s = append(s, o.GetKind()+"/"+o.GetName())
	}
	return strings.Join(s, ",")
}

func noWork(c client.Client, crp, member string) error {
	_, err := work(c, crp, member)
	return testenv.Gone("Work "+crp+" for "+member, err)
}

// reportApplied plays the agent: the Work is applied and available.
func reportApplied(t *testing.T, c client.Client, crp, member string) {
	t.Helper()
	testenv.Eventually(t, waitFor, "reporting Work status", func() error {
		w, err := work(c, crp, member)
		if err != nil {
			return err
		}
		now := metav1.Now()
		for _, typ := range []string{fleetv1.WorkApplied, fleetv1.WorkAvailable} {
			meta.SetStatusCondition(&w.Status.Conditions, metav1.Condition{
				Type: typ, Status: metav1.ConditionTrue, Reason: "Done", ObservedGeneration: w.Generation, LastTransitionTime: now,
			})
		}
		return c.Status().Update(context.Background(), w)
	})
}

func TestPlacementOnARealHub(t *testing.T) {
	c := startHub(t)
	ctx := context.Background()
	const crpName = "payment-service-placement"

	createMember(t, c, "eu-1", map[string]string{"region": "prod", "compliance": "pci", "geo": "eu"})
	createMember(t, c, "us-1", map[string]string{"region": "prod", "compliance": "pci", "geo": "us"})
	createMember(t, c, "dev-1", map[string]string{"region": "dev", "compliance": "none", "geo": "eu"})

	// The seed's governance manifests; the quota lives in fintech so that
	// the namespace brings it along.
	must(t, c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "fintech"}}))
	quota := &corev1.ResourceQuota{
		ObjectMeta: metav1.ObjectMeta{Name: "platform-quota", Namespace: "fintech"},
		Spec: corev1.ResourceQuotaSpec{Hard: corev1.ResourceList{
			"requests.cpu": resource.MustParse("100"), "requests.memory": resource.MustParse("200Gi"), "pods": resource.MustParse("500"),
		}},
	}
	must(t, c.Create(ctx, quota))
	must(t, c.Create(ctx, &rbacv1.ClusterRole{
		ObjectMeta: metav1.ObjectMeta{Name: "fintech-readonly"},
		Rules:      []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"pods", "services"}, Verbs: []string{"get", "list"}}},
	}))

	crp := &placementv1.ClusterResourcePlacement{}
	must(t, yaml.UnmarshalStrict([]byte(seedCRP), crp))
	must(t, c.Create(ctx, crp))
	created := time.Now()

	t.Run("works only on matching members, namespace first", func(t *testing.T) {
		for _, m := range []string{"eu-1", "us-1"} {
			testenv.Eventually(t, waitFor, "Work on "+m, func() error {
				w, err := work(c, crpName, m)
				if err != nil {
					return err
				}
				if got := kinds(manifests(w)); got != "Namespace/fintech,ResourceQuota/platform-quota" {
					return fmt.Errorf("manifests %s", got)
				}
				if w.Labels[fleetv1.PlacementLabel] != crpName || w.Labels[fleetv1.MemberClusterLabel] != m {
					return fmt.Errorf("labels %v", w.Labels)
				}
				return nil
			})
		}
		t.Logf("placement created → Works written in %s", time.Since(created).Round(time.Millisecond))
		must(t, noWork(c, crpName, "dev-1"))
	})

	t.Run("editing the quota makes a new snapshot and updates the Works", func(t *testing.T) {
		testenv.Eventually(t, waitFor, "editing the quota", func() error {
			q := &corev1.ResourceQuota{}
			if err := c.Get(ctx, client.ObjectKeyFromObject(quota), q); err != nil {
				return err
			}
			q.Spec.Hard["pods"] = resource.MustParse("600")
			return c.Update(ctx, q)
		})
		for _, m := range []string{"eu-1", "us-1"} {
			testenv.Eventually(t, waitFor, "updated Work on "+m, func() error {
				w, err := work(c, crpName, m)
				if err != nil {
					return err
				}
				if w.Spec.ResourceSnapshotName != crpName+"-1" {
					return fmt.Errorf("snapshot %s", w.Spec.ResourceSnapshotName)
				}
				pods, _, _ := unstructured.NestedString(manifests(w)[1].Object, "spec", "hard", "pods")
				if pods != "600" {
					return fmt.Errorf("pods %q", pods)
				}
				return nil
			})
		}
		latest := &fleetv1.ResourceSnapshotList{}
		must(t, c.List(ctx, latest, client.MatchingLabels{fleetv1.PlacementLabel: crpName, fleetv1.LatestSnapshotLabel: "true"}))
		if len(latest.Items) != 1 || latest.Items[0].Name != crpName+"-1" {
			t.Fatalf("latest snapshots: %d", len(latest.Items))
		}
	})

	t.Run("status becomes Applied and Available once the agents report", func(t *testing.T) {
		reportApplied(t, c, crpName, "eu-1")
		reportApplied(t, c, crpName, "us-1")
		testenv.Eventually(t, waitFor, "CRP conditions", func() error {
			got := &placementv1.ClusterResourcePlacement{}
			if err := c.Get(ctx, client.ObjectKey{Name: crpName}, got); err != nil {
				return err
			}
			for _, typ := range []string{
				placementv1.ClusterResourcePlacementScheduledConditionType, placementv1.ClusterResourcePlacementWorkSynchronizedConditionType,
				placementv1.ClusterResourcePlacementAppliedConditionType, placementv1.ClusterResourcePlacementAvailableConditionType,
			} {
				if !meta.IsStatusConditionTrue(got.Status.Conditions, typ) {
					return fmt.Errorf("%s not True: %+v", typ, got.Status.Conditions)
				}
			}
			applied := meta.FindStatusCondition(got.Status.Conditions, placementv1.ClusterResourcePlacementAppliedConditionType)
			if applied.Message != "applied on 2 of 2 clusters" {
				return fmt.Errorf("message %q", applied.Message)
			}
			if len(got.Status.PlacementStatuses) != 2 || got.Status.ObservedResourceIndex != "1" || len(got.Status.SelectedResources) != 2 {
				return fmt.Errorf("status %+v", got.Status)
			}
			return nil
		})
	})

	t.Run("a member relabelled out of the selection loses its Work", func(t *testing.T) {
		testenv.Eventually(t, waitFor, "relabelling us-1", func() error {
			m := &fleetv1.MemberCluster{}
			if err := c.Get(ctx, client.ObjectKey{Name: "us-1"}, m); err != nil {
				return err
			}
			m.Labels["compliance"] = "none"
			return c.Update(ctx, m)
		})
		testenv.Eventually(t, waitFor, "us-1's Work removed", func() error { return noWork(c, crpName, "us-1") })
		testenv.Eventually(t, waitFor, "us-1's binding removed", func() error {
			list := &fleetv1.ResourceBindingList{}
			if err := c.List(ctx, list, client.MatchingLabels{fleetv1.PlacementLabel: crpName, fleetv1.MemberClusterLabel: "us-1"}); err != nil {
				return err
			}
			if len(list.Items) > 0 {
				return fmt.Errorf("binding %s still there", list.Items[0].Name)
			}
			return nil
		})
		if _, err := work(c, crpName, "eu-1"); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("PickN spreads over regions and overrides put the member's name in", func(t *testing.T) {
		cro := &placementv1.ClusterResourceOverride{
			ObjectMeta: metav1.ObjectMeta{Name: "readonly-per-member"},
			Spec: placementv1.ClusterResourceOverrideSpec{
				ClusterResourceSelectors: []placementv1.ClusterResourceSelector{{Group: "rbac.authorization.k8s.io", Version: "v1", Kind: "ClusterRole", Name: "fintech-readonly"}},
				Policy: &placementv1.OverridePolicy{OverrideRules: []placementv1.OverrideRule{{
					OverrideType: placementv1.JSONPatchOverrideType,
					JSONPatchOverrides: []placementv1.JSONPatchOverride{{
						Op: placementv1.JSONPatchOverrideOpAdd, Path: "/metadata/labels/member",
						Value: apiextensionsv1.JSON{Raw: []byte(`"${MEMBER-CLUSTER-NAME}"`)},
					}},
				}}},
			},
		}
		must(t, c.Create(ctx, cro))
		spread := &placementv1.ClusterResourcePlacement{
			ObjectMeta: metav1.ObjectMeta{Name: "readonly-role"},
			Spec: placementv1.ClusterResourcePlacementSpec{
				ResourceSelectors: []placementv1.ClusterResourceSelector{{Group: "rbac.authorization.k8s.io", Version: "v1", Kind: "ClusterRole", Name: "fintech-readonly"}},
				Policy: &placementv1.PlacementPolicy{
					PlacementType: placementv1.PickNPlacementType, NumberOfClusters: ptr.To[int32](2),
					TopologySpreadConstraints: []placementv1.TopologySpreadConstraint{{TopologyKey: "region", MaxSkew: ptr.To[int32](1), WhenUnsatisfiable: placementv1.DoNotSchedule}},
				},
			},
		}
		must(t, c.Create(ctx, spread))
		spreadCreated := time.Now()
		testenv.Eventually(t, waitFor, "two bindings in two regions", func() error {
			list := &fleetv1.ResourceBindingList{}
			if err := c.List(ctx, list, client.MatchingLabels{fleetv1.PlacementLabel: "readonly-role"}); err != nil {
				return err
			}
			regions := map[string]bool{}
			for _, b := range list.Items {
				m := &fleetv1.MemberCluster{}
				if err := c.Get(ctx, client.ObjectKey{Name: b.Spec.TargetCluster}, m); err != nil {
					return err
				}
				regions[m.Labels["region"]] = true
			}
			if len(list.Items) != 2 || len(regions) != 2 {
				return fmt.Errorf("%d bindings over regions %v", len(list.Items), regions)
			}
			for _, b := range list.Items {
				w, err := work(c, "readonly-role", b.Spec.TargetCluster)
				if err != nil {
					return err
				}
				objs := manifests(w)
				if len(objs) != 1 || objs[0].GetLabels()["member"] != b.Spec.TargetCluster {
					return fmt.Errorf("Work for %s: %s labels %v", b.Spec.TargetCluster, kinds(objs), objs[0].GetLabels())
				}
			}
			return nil
		})
		t.Logf("second placement created → Works written in %s", time.Since(spreadCreated).Round(time.Millisecond))
		got := &placementv1.ClusterResourcePlacement{}
		must(t, c.Get(ctx, client.ObjectKey{Name: "readonly-role"}, got))
		for _, ps := range got.Status.PlacementStatuses {
			if len(ps.ApplicableClusterResourceOverrides) != 1 {
				t.Errorf("%s: applicable overrides %v", ps.ClusterName, ps.ApplicableClusterResourceOverrides)
			}
		}
	})

	t.Run("a change rolls out within maxUnavailable", func(t *testing.T) {
		role := &rbacv1.ClusterRole{
			ObjectMeta: metav1.ObjectMeta{Name: "rolling-role"},
			Rules:      []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"configmaps"}, Verbs: []string{"get"}}},
		}
		must(t, c.Create(ctx, role))
		rolling := &placementv1.ClusterResourcePlacement{
			ObjectMeta: metav1.ObjectMeta{Name: "rolling"},
			Spec: placementv1.ClusterResourcePlacementSpec{
				ResourceSelectors: []placementv1.ClusterResourceSelector{{Group: "rbac.authorization.k8s.io", Version: "v1", Kind: "ClusterRole", Name: "rolling-role"}},
				Strategy: placementv1.RolloutStrategy{RollingUpdate: &placementv1.RollingUpdateConfig{
					MaxUnavailable: ptr.To(intstr.FromInt32(1)), UnavailablePeriodSeconds: ptr.To(3600),
				}},
			},
		}
		must(t, c.Create(ctx, rolling))
		all := []string{"dev-1", "eu-1", "us-1"}
		atSnapshot := func(snapshot string) ([]string, error) {
			var at []string
			for _, m := range all {
				w, err := work(c, "rolling", m)
				if err != nil {
					return nil, err
				}
				if w.Spec.ResourceSnapshotName == snapshot {
					at = append(at, m)
				}
			}
			return at, nil
		}
		testenv.Eventually(t, waitFor, "three Works", func() error {
			at, err := atSnapshot("rolling-0")
			if err == nil && len(at) != 3 {
				err = fmt.Errorf("at rolling-0: %v", at)
			}
			return err
		})
		for _, m := range all {
			reportApplied(t, c, "rolling", m)
		}
		testenv.Eventually(t, waitFor, "editing the role", func() error {
			r := &rbacv1.ClusterRole{}
			if err := c.Get(ctx, client.ObjectKeyFromObject(role), r); err != nil {
				return err
			}
			r.Rules[0].Verbs = []string{"get", "list"}
			return c.Update(ctx, r)
		})
		for want := 1; want <= 3; want++ {
			var moved []string
			testenv.Eventually(t, waitFor, fmt.Sprintf("%d members moved", want), func() error {
				at, err := atSnapshot("rolling-1")
				if err == nil && len(at) != want {
					err = fmt.Errorf("at rolling-1: %v", at)
				}
				moved = at
				return err
			})
			// Nothing more moves until the moved member is available again.
			time.Sleep(time.Second)
			if at, _ := atSnapshot("rolling-1"); len(at) != want {
				t.Fatalf("with maxUnavailable 1, %v moved at once", at)
			}
			for _, m := range moved {
				reportApplied(t, c, "rolling", m)
			}
		}
	})

	t.Run("a namespaced kind cannot be selected directly", func(t *testing.T) {
		bad := &placementv1.ClusterResourcePlacement{
			ObjectMeta: metav1.ObjectMeta{Name: "bad-selector"},
			Spec: placementv1.ClusterResourcePlacementSpec{
				ResourceSelectors: []placementv1.ClusterResourceSelector{{Group: "", Version: "v1", Kind: "ResourceQuota", Name: "platform-quota"}},
			},
		}
		must(t, c.Create(ctx, bad))
		testenv.Eventually(t, waitFor, "Scheduled False", func() error {
			got := &placementv1.ClusterResourcePlacement{}
			if err := c.Get(ctx, client.ObjectKeyFromObject(bad), got); err != nil {
				return err
			}
			cond := meta.FindStatusCondition(got.Status.Conditions, placementv1.ClusterResourcePlacementScheduledConditionType)
			if cond == nil || cond.Status != metav1.ConditionFalse || cond.Reason != "InvalidResourceSelectors" ||
				!strings.Contains(cond.Message, "only cluster-scoped kinds") {
				return fmt.Errorf("condition %+v", cond)
			}
			return nil
		})
		must(t, c.Delete(ctx, bad))
	})

	t.Run("the deletion-policy annotation reaches the Works", func(t *testing.T) {
		if w, err := work(c, crpName, "eu-1"); err != nil || w.Spec.DeletionPolicy != fleetv1.DeletionPolicyDelete {
			t.Fatalf("Work deletionPolicy before: %v", err)
		}
		testenv.Eventually(t, waitFor, "annotating the placement", func() error {
			got := &placementv1.ClusterResourcePlacement{}
			if err := c.Get(ctx, client.ObjectKey{Name: crpName}, got); err != nil {
				return err
			}
			got.Annotations = map[string]string{fleetv1.DeletionPolicyAnnotation: string(fleetv1.DeletionPolicyAbandon)}
			return c.Update(ctx, got)
		})
		testenv.Eventually(t, waitFor, "Work deletionPolicy Abandon", func() error {
			w, err := work(c, crpName, "eu-1")
			if err == nil && w.Spec.DeletionPolicy != fleetv1.DeletionPolicyAbandon {
				err = fmt.Errorf("deletionPolicy %q", w.Spec.DeletionPolicy)
			}
			return err
		})
	})

	t.Run("deleting the placement removes Works, bindings and snapshots after the agent lets go", func(t *testing.T) {
		// Play an agent that holds its Work until it cleaned up.
		w, err := work(c, crpName, "eu-1")
		must(t, err)
		w.Finalizers = append(w.Finalizers, fleetv1.AgentFinalizer)
		must(t, c.Update(ctx, w))
		must(t, c.Delete(ctx, &placementv1.ClusterResourcePlacement{ObjectMeta: metav1.ObjectMeta{Name: crpName}}))
		testenv.Eventually(t, waitFor, "Work marked for deletion", func() error {
			w, err := work(c, crpName, "eu-1")
			if err != nil {
				return err
			}
			if w.DeletionTimestamp.IsZero() {
				return fmt.Errorf("not deleted yet")
			}
			return nil
		})
		if err := c.Get(ctx, client.ObjectKey{Name: crpName}, &placementv1.ClusterResourcePlacement{}); err != nil {
			t.Fatalf("the placement went before its Work: %v", err)
		}
		testenv.Eventually(t, waitFor, "agent finalizer removed", func() error {
			w, err := work(c, crpName, "eu-1")
			if err != nil {
				return err
			}
			w.Finalizers = nil
			return c.Update(ctx, w)
		})
		testenv.Eventually(t, waitFor, "placement gone", func() error {
			err := c.Get(ctx, client.ObjectKey{Name: crpName}, &placementv1.ClusterResourcePlacement{})
			return testenv.Gone("placement", err)
		})
		for _, list := range []client.ObjectList{&fleetv1.WorkList{}, &fleetv1.ResourceBindingList{}, &fleetv1.ResourceSnapshotList{}} {
			must(t, c.List(ctx, list, client.MatchingLabels{fleetv1.PlacementLabel: crpName}))
			if n := meta.LenList(list); n != 0 {
				b, _ := json.Marshal(list)
				t.Errorf("%d left: %s", n, b)
			}
		}
	})
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
