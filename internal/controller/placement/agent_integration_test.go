package placement_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/go-logr/logr/testr"
	"github.com/prometheus/client_golang/prometheus"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	placementv1 "github.com/flotilla-dev/flotilla/api/placement/v1"
	fleetv1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/internal/agent"
	"github.com/flotilla-dev/flotilla/internal/controller/placement"
	"github.com/flotilla-dev/flotilla/internal/enrollment"
	"github.com/flotilla-dev/flotilla/internal/fleetmetrics"
	"github.com/flotilla-dev/flotilla/internal/testenv"
)

// agentFleet is a hub running the placement controller and one member
// ("m1") with a real agent under the identity `member join` gives it, plus
// a member without an agent ("m2") whose Works are written all the same.
type agentFleet struct {
	hub, member *testenv.Cluster
}

func startAgentFleet(t *testing.T) *agentFleet {
	t.Helper()
	ctx := t.Context()
	env := testenv.Start(t, testenv.Options{CRDs: testenv.AllCRDs, Members: []string{"m1"}})
	f := &agentFleet{hub: env.Hub, member: env.Member("m1")}
	f.hub.RunManager(t, func(mgr ctrl.Manager) error {
		return (&placement.Reconciler{Client: mgr.GetClient(), Resync: 5 * time.Second, Latency: fleetmetrics.NewPlacementObserver(time.Now())}).SetupWithManager(mgr)
	})
	memberKubeconfig, err := f.member.Kubeconfig()
	if err != nil {
		t.Fatal(err)
	}
	joined, err := enrollment.Join(ctx, f.hub.Client, enrollment.JoinRequest{Name: "m1", MemberKubeconfig: memberKubeconfig, HubConfig: f.hub.Config})
	if err != nil {
		t.Fatal(err)
	}
	agentHub, err := clientcmd.RESTConfigFromKubeConfig(joined.HubKubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	runCtx, cancel := context.WithCancel(context.Background())
	runCtx = logr.NewContext(runCtx, testr.NewWithOptions(t, testr.Options{LogTimestamp: true}).WithName("agent"))
	done := make(chan error, 1)
	go func() {
		done <- agent.Run(runCtx, agent.Options{
			MemberName: "m1", Hub: agentHub, Member: f.member.Config, StateDir: t.TempDir(),
			HeartbeatPeriod: time.Second, HealthAddress: "0",
		})
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("agent: %v", err)
			}
		case <-time.After(30 * time.Second):
			t.Error("the agent did not stop within 30s")
		}
	})
	createMember(t, f.hub.Client, "m2", nil)
	return f
}

// placementReady waits until the placement's snapshot index (its newest)
// is applied and available on m1.
func (f *agentFleet) placementReady(t *testing.T, name, index string, timeout time.Duration) {
	t.Helper()
	crp := &placementv1.ClusterResourcePlacement{}
	took := testenv.Eventually(t, timeout, "placement "+name+" applied and available on m1", func() error {
		if err := f.hub.Client.Get(t.Context(), client.ObjectKey{Name: name}, crp); err != nil {
			return err
		}
		if crp.Status.ObservedResourceIndex != index {
			return fmt.Errorf("the newest snapshot is %q", crp.Status.ObservedResourceIndex)
		}
		for _, ps := range crp.Status.PlacementStatuses {
			if ps.ClusterName != "m1" {
				continue
			}
			if ps.ObservedResourceIndex != crp.Status.ObservedResourceIndex {
				return fmt.Errorf("m1 holds snapshot %s of %s", ps.ObservedResourceIndex, crp.Status.ObservedResourceIndex)
			}
			for _, typ := range []string{placementv1.ResourcesAppliedConditionType, placementv1.ResourcesAvailableConditionType} {
				if c := meta.FindStatusCondition(ps.Conditions, typ); c == nil || c.Status != metav1.ConditionTrue {
					return fmt.Errorf("m1 %s: %+v", typ, c)
				}
			}
			return nil
		}
		return fmt.Errorf("no status for m1 yet")
	})
	t.Logf("placement %s applied and available on m1 after %s", name, took.Round(time.Millisecond))
}

// hubLeftovers lists what a placement left on the hub: snapshots, Works
// and Secret data.
func (f *agentFleet) hubLeftovers(ctx context.Context, name string) error {
	byPlacement := client.MatchingLabels{fleetv1.PlacementLabel: name}
	snaps := &fleetv1.ResourceSnapshotList{}
	works := &fleetv1.WorkList{}
	data := &corev1.SecretList{}
	for _, l := range []client.ObjectList{snaps, works, data} {
		if err := f.hub.Client.List(ctx, l, byPlacement); err != nil {
			return err
		}
	}
	if n := len(snaps.Items) + len(works.Items) + len(data.Items); n > 0 {
		return fmt.Errorf("%d snapshots, %d Works, %d Secrets left", len(snaps.Items), len(works.Items), len(data.Items))
	}
	return nil
}

func TestPlacementWithARealAgent(t *testing.T) {
	f := startAgentFleet(t)
	t.Run("placed Secrets arrive with their data, which no reader of snapshots and Works sees", func(t *testing.T) {
		testPlacedSecrets(t, f)
	})
	t.Run("a placement larger than one object is split into parts", func(t *testing.T) {
		testLargePlacement(t, f)
	})
	t.Run("a snapshot holding Secret data, as older hubs wrote them, is replaced and deleted", func(t *testing.T) {
		testLegacySnapshot(t, f)
	})
	t.Run("the time from snapshot to Applied and Available on m1 is observed", func(t *testing.T) {
		reg := prometheus.NewRegistry()
		must(t, fleetmetrics.Register(reg, nil))
		families, err := reg.Gather()
		must(t, err)
		observed := map[string]uint64{}
		for _, mf := range families {
			if mf.GetName() != fleetmetrics.PlacementLatency {
				continue
			}
			for _, m := range mf.GetMetric() {
				labels := map[string]string{}
				for _, l := range m.GetLabel() {
					labels[l.GetName()] = l.GetValue()
				}
				if labels["member"] == "m1" {
					observed[labels["condition"]] += m.GetHistogram().GetSampleCount()
				}
			}
		}
		// The placements above each reached Available on m1.
		t.Logf("placement latencies observed on m1: %v", observed)
		if observed[fleetv1.WorkApplied] < 3 || observed[fleetv1.WorkAvailable] < 3 {
			t.Errorf("placement latencies observed on m1: %v, want at least 3 of each", observed)
		}
	})
}

func testLegacySnapshot(t *testing.T, f *agentFleet) {
	ctx := t.Context()
	hub := f.hub.Client
	must(t, hub.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "legacy"}}))
	secret := &corev1.Secret{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Secret"},
		ObjectMeta: metav1.ObjectMeta{Name: "old", Namespace: "legacy"},
		Data:       map[string][]byte{"token": []byte("in-the-open")},
	}
	raw, err := json.Marshal(secret)
	must(t, err)
	must(t, hub.Create(ctx, secret.DeepCopy()))
	must(t, hub.Create(ctx, &fleetv1.ResourceSnapshot{
		ObjectMeta: metav1.ObjectMeta{Name: "legacy-0", Labels: map[string]string{
			fleetv1.PlacementLabel: "legacy", fleetv1.SnapshotIndexLabel: "0", fleetv1.LatestSnapshotLabel: "true",
		}},
		Spec: fleetv1.ResourceSnapshotSpec{Placement: "legacy", Index: 0, Hash: "an-old-hash", Resources: []runtime.RawExtension{{Raw: raw}}},
	}))
	must(t, hub.Create(ctx, &placementv1.ClusterResourcePlacement{
		ObjectMeta: metav1.ObjectMeta{Name: "legacy"},
		Spec: placementv1.ClusterResourcePlacementSpec{
			ResourceSelectors: []placementv1.ClusterResourceSelector{{Version: "v1", Kind: "Namespace", Name: "legacy"}},
			Policy:            &placementv1.PlacementPolicy{PlacementType: placementv1.PickFixedPlacementType, ClusterNames: []string{"m1"}},
		},
	}))
	f.placementReady(t, "legacy", "1", waitFor)
	testenv.Eventually(t, waitFor, "the old snapshot gone", func() error {
		return testenv.Gone("snapshot legacy-0", hub.Get(ctx, client.ObjectKey{Name: "legacy-0"}, &fleetv1.ResourceSnapshot{}))
	})
	s, err := f.member.Kube.CoreV1().Secrets("legacy").Get(ctx, "old", metav1.GetOptions{})
	must(t, err)
	if string(s.Data["token"]) != "in-the-open" {
		t.Errorf("the Secret on m1 holds %q", s.Data["token"])
	}
	must(t, hub.Delete(ctx, &placementv1.ClusterResourcePlacement{ObjectMeta: metav1.ObjectMeta{Name: "legacy"}}))
	testenv.Eventually(t, waitFor, "nothing of the placement left on the hub", func() error { return f.hubLeftovers(ctx, "legacy") })
}

func testPlacedSecrets(t *testing.T, f *agentFleet) {
	ctx := t.Context()
	hub := f.hub.Client
	// Values no one could guess, so finding one anywhere is a leak.
	password := fmt.Sprintf("pw-%d-never-anywhere-but-secrets", time.Now().UnixNano())
	overridden := fmt.Sprintf("override-%d-only-on-members", time.Now().UnixNano())
	must(t, hub.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "vault"}}))
	must(t, hub.Create(ctx, &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: "db", Namespace: "vault"},
		Data:       map[string][]byte{"password": []byte(password)},
	}))
	must(t, hub.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "settings", Namespace: "vault"}, Data: map[string]string{"mode": "strict"}}))
	overrideValue, err := json.Marshal(base64.StdEncoding.EncodeToString([]byte(overridden)))
	must(t, err)
	must(t, hub.Create(ctx, &placementv1.ResourceOverride{
		ObjectMeta: metav1.ObjectMeta{Name: "db-extra", Namespace: "vault"},
		Spec: placementv1.ResourceOverrideSpec{
			ResourceSelectors: []placementv1.ResourceSelector{{Version: "v1", Kind: "Secret", Name: "db"}},
			Policy: &placementv1.OverridePolicy{OverrideRules: []placementv1.OverrideRule{{
				OverrideType: placementv1.JSONPatchOverrideType,
				JSONPatchOverrides: []placementv1.JSONPatchOverride{{
					Op: placementv1.JSONPatchOverrideOpAdd, Path: "/data/extra", Value: apiextensionsv1.JSON{Raw: overrideValue},
				}},
			}}},
		},
	}))
	must(t, hub.Create(ctx, &placementv1.ClusterResourcePlacement{
		ObjectMeta: metav1.ObjectMeta{Name: "vault"},
		Spec: placementv1.ClusterResourcePlacementSpec{
			ResourceSelectors: []placementv1.ClusterResourceSelector{{Version: "v1", Kind: "Namespace", Name: "vault"}},
			Policy:            &placementv1.PlacementPolicy{PlacementType: placementv1.PickAllPlacementType},
			// m2 has no agent, so it never becomes available: it must not
			// hold m1 back.
			Strategy: placementv1.RolloutStrategy{RollingUpdate: &placementv1.RollingUpdateConfig{MaxUnavailable: ptr.To(intstr.FromString("100%"))}},
		},
	}))
	f.placementReady(t, "vault", "0", waitFor)

	memberSecret := func() (*corev1.Secret, error) {
		return f.member.Kube.CoreV1().Secrets("vault").Get(ctx, "db", metav1.GetOptions{})
	}
	hasData := func(want map[string]string) func() error {
		return func() error {
			s, err := memberSecret()
			if err != nil {
				return err
			}
			for k, v := range want {
				if string(s.Data[k]) != v {
					return fmt.Errorf("data %s is %q, want %q", k, s.Data[k], v)
				}
			}
			return nil
		}
	}
	testenv.Eventually(t, waitFor, "the Secret on m1 with its data and the override", hasData(map[string]string{"password": password, "extra": overridden}))
	// Both members' Works exist, and m2's holds the Secret too: a reader of
	// other members' Works is the case to prove.
	for _, m := range []string{"m1", "m2"} {
		w, err := work(hub, "vault", m)
		must(t, err)
		if w.Spec.SecretData == nil {
			t.Fatalf("the Work for %s names no Secret data: %+v", m, w.Spec)
		}
	}

	t.Run("drift of the data on the member is reverted", func(t *testing.T) {
		s, err := memberSecret()
		must(t, err)
		s.Data["password"] = []byte("changed-on-the-member")
		_, err = f.member.Kube.CoreV1().Secrets("vault").Update(ctx, s, metav1.UpdateOptions{})
		must(t, err)
		took := testenv.Eventually(t, waitFor, "the data put back", hasData(map[string]string{"password": password}))
		t.Logf("drift of a Secret's data reverted in %s", took.Round(time.Millisecond))
	})

	t.Run("a reader of every snapshot and Work cannot read the data", func(t *testing.T) {
		snoop := readerOfEverythingButSecrets(t, f.hub)
		// The override's value is in the ResourceOverride its author wrote
		// (readable by design); it must not be anywhere else.
		leaks := map[string]string{
			password: "", base64.StdEncoding.EncodeToString([]byte(password)): "",
			overridden: "resourceoverrides", base64.StdEncoding.EncodeToString([]byte(overridden)): "resourceoverrides",
		}
		scanned := scanReadable(t, snoop, leaks)
		for _, res := range []string{"resourcesnapshots", "works", "clusterresourceplacements", "resourcebindings", "resourceoverrides"} {
			if scanned[res] == 0 {
				t.Errorf("the reader could read no %s: the test proves nothing (read %v)", res, scanned)
			}
		}
		t.Logf("objects the reader read, by resource: %v", scanned)
		kube, err := kubernetes.NewForConfig(snoop)
		must(t, err)
		for _, ns := range []string{"vault", enrollment.Namespace, fleetv1.MemberNamespace("m1"), fleetv1.MemberNamespace("m2")} {
			if _, err := kube.CoreV1().Secrets(ns).List(ctx, metav1.ListOptions{}); !apierrors.IsForbidden(err) {
				t.Errorf("listing Secrets in %s: %v, want Forbidden", ns, err)
			}
		}
		w, err := work(hub, "vault", "m2")
		must(t, err)
		if _, err := kube.CoreV1().Secrets(w.Namespace).Get(ctx, w.Spec.SecretData.Name, metav1.GetOptions{}); !apierrors.IsForbidden(err) {
			t.Errorf("reading the Secret data m2's Work names: %v, want Forbidden", err)
		}
	})

	t.Run("a change of the data rolls out", func(t *testing.T) {
		s := &corev1.Secret{}
		must(t, hub.Get(ctx, client.ObjectKey{Namespace: "vault", Name: "db"}, s))
		s.Data["password"] = []byte(password + "-rotated")
		must(t, hub.Update(ctx, s))
		testenv.Eventually(t, waitFor, "the rotated password on m1", hasData(map[string]string{"password": password + "-rotated", "extra": overridden}))
		f.placementReady(t, "vault", "1", waitFor)
	})

	t.Run("deleting the placement removes the Secret and all its data", func(t *testing.T) {
		crp := &placementv1.ClusterResourcePlacement{ObjectMeta: metav1.ObjectMeta{Name: "vault"}}
		must(t, hub.Delete(ctx, crp))
		testenv.Eventually(t, waitFor, "the Secret gone from m1", func() error {
			_, err := memberSecret()
			return testenv.Gone("Secret vault/db on m1", err)
		})
		testenv.Eventually(t, waitFor, "nothing of the placement left on the hub", func() error { return f.hubLeftovers(ctx, "vault") })
	})
}

// readerOfEverythingButSecrets is a user who may read every fleet object
// (snapshots, bindings, placements, overrides, the Works of every member)
// and the ordinary objects of every namespace, but no Secret.
func readerOfEverythingButSecrets(t *testing.T, hub *testenv.Cluster) *rest.Config {
	t.Helper()
	ctx := t.Context()
	read := []string{"get", "list", "watch"}
	must(t, hub.Client.Create(ctx, &rbacv1.ClusterRole{
		ObjectMeta: metav1.ObjectMeta{Name: "snoop"},
		Rules: []rbacv1.PolicyRule{
			{APIGroups: []string{fleetv1.GroupVersion.Group, placementv1.GroupVersion.Group}, Resources: []string{"*"}, Verbs: read},
			{APIGroups: []string{""}, Resources: []string{"configmaps", "events", "namespaces", "serviceaccounts"}, Verbs: read},
			{APIGroups: []string{"events.k8s.io"}, Resources: []string{"events"}, Verbs: read},
		},
	}))
	must(t, hub.Client.Create(ctx, &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "snoop"},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "snoop"},
		Subjects:   []rbacv1.Subject{{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: "snoop"}},
	}))
	cfg := hub.UserConfig(t, "snoop")
	kube, err := kubernetes.NewForConfig(cfg)
	must(t, err)
	testenv.Eventually(t, 10*time.Second, "the reader's RBAC in effect", func() error {
		_, err := kube.CoreV1().ConfigMaps("").List(ctx, metav1.ListOptions{Limit: 1})
		return err
	})
	return cfg
}

// scanReadable lists, as cfg's user, every resource of the API server it
// may list, in every namespace, and fails the test when any object holds
// one of leaks (but the resource a leak is exempt in). It returns how many
// objects of each resource it read.
func scanReadable(t *testing.T, cfg *rest.Config, leaks map[string]string) map[string]int {
	t.Helper()
	ctx := t.Context()
	dc, err := discovery.NewDiscoveryClientForConfig(cfg)
	must(t, err)
	dyn, err := dynamic.NewForConfig(cfg)
	must(t, err)
	lists, err := dc.ServerPreferredResources()
	if err != nil && !discovery.IsGroupDiscoveryFailedError(err) {
		t.Fatal(err)
	}
	scanned := map[string]int{}
	for _, l := range lists {
		gv, err := schema.ParseGroupVersion(l.GroupVersion)
		must(t, err)
		for _, r := range l.APIResources {
			if strings.Contains(r.Name, "/") || !hasVerb(r.Verbs, "list") {
				continue
			}
			items, err := dyn.Resource(gv.WithResource(r.Name)).List(ctx, metav1.ListOptions{})
			if apierrors.IsForbidden(err) || apierrors.IsMethodNotSupported(err) {
				continue
			}
			must(t, err)
			for _, item := range items.Items {
				data, err := json.Marshal(item.Object)
				must(t, err)
				for leak, exempt := range leaks {
					if r.Name != exempt && bytes.Contains(data, []byte(leak)) {
						t.Errorf("%s %s/%s, readable without access to Secrets, holds %q", r.Name, item.GetNamespace(), item.GetName(), leak)
					}
				}
			}
			scanned[r.Name] += len(items.Items)
		}
	}
	return scanned
}

func hasVerb(verbs []string, v string) bool {
	for _, have := range verbs {
		if have == v {
			return true
		}
	}
	return false
}

// bigConfigMap is a ConfigMap of about size bytes.
func bigConfigMap(name string, size int, fill byte) *corev1.ConfigMap {
	return &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "bulk"},
		Data:       map[string]string{"blob": strings.Repeat(string(fill), size)},
	}
}

func testLargePlacement(t *testing.T, f *agentFleet) {
	ctx := t.Context()
	hub := f.hub.Client
	const count, size = 12, 256 << 10
	must(t, hub.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "bulk"}}))
	names := make([]string, count)
	for i := range count {
		names[i] = fmt.Sprintf("blob-%02d", i)
		must(t, hub.Create(ctx, bigConfigMap(names[i], size, 'a')))
	}
	start := time.Now()
	must(t, hub.Create(ctx, &placementv1.ClusterResourcePlacement{
		ObjectMeta: metav1.ObjectMeta{Name: "bulk"},
		Spec: placementv1.ClusterResourcePlacementSpec{
			ResourceSelectors: []placementv1.ClusterResourceSelector{{Version: "v1", Kind: "Namespace", Name: "bulk"}},
			Policy:            &placementv1.PlacementPolicy{PlacementType: placementv1.PickFixedPlacementType, ClusterNames: []string{"m1"}},
		},
	}))
	f.placementReady(t, "bulk", "0", time.Minute)
	t.Logf("%d ConfigMaps of %d KiB (%.1f MiB) placed in %s", count, size>>10, float64(count*size)/(1<<20), time.Since(start).Round(time.Millisecond))

	parts := func() (snapshots, works int) {
		snaps := &fleetv1.ResourceSnapshotList{}
		must(t, hub.List(ctx, snaps, client.MatchingLabels{fleetv1.PlacementLabel: "bulk", fleetv1.SnapshotIndexLabel: "0"}))
		ws := &fleetv1.WorkList{}
		must(t, hub.List(ctx, ws, client.MatchingLabels{fleetv1.PlacementLabel: "bulk"}))
		return len(snaps.Items), len(ws.Items)
	}
	if s, w := parts(); s < 4 || w < 4 {
		t.Errorf("%d snapshot parts and %d Work parts for 3 MiB, want at least 4 of each", s, w)
	} else {
		t.Logf("split into %d snapshot parts and %d Work parts", s, w)
	}
	uids := map[string]types.UID{}
	list, err := f.member.Kube.CoreV1().ConfigMaps("bulk").List(ctx, metav1.ListOptions{})
	must(t, err)
	for _, cm := range list.Items {
		if len(cm.Data["blob"]) == size {
			uids[cm.Name] = cm.UID
		}
	}
	if len(uids) != count {
		t.Fatalf("%d of %d ConfigMaps on m1", len(uids), count)
	}

	t.Run("a change that moves objects between parts deletes nothing on the member", func(t *testing.T) {
		w, err := f.member.Kube.CoreV1().ConfigMaps("bulk").Watch(ctx, metav1.ListOptions{ResourceVersion: list.ResourceVersion})
		must(t, err)
		defer w.Stop()
		// Growing the first ConfigMap pushes the others into later parts.
		grown := bigConfigMap(names[0], 600<<10, 'b')
		current := &corev1.ConfigMap{}
		must(t, hub.Get(ctx, client.ObjectKeyFromObject(grown), current))
		current.Data = grown.Data
		must(t, hub.Update(ctx, current))
		testenv.Eventually(t, time.Minute, "the grown ConfigMap on m1", func() error {
			cm, err := f.member.Kube.CoreV1().ConfigMaps("bulk").Get(ctx, names[0], metav1.GetOptions{})
			if err != nil {
				return err
			}
			if cm.Data["blob"] != grown.Data["blob"] {
				return fmt.Errorf("%d bytes", len(cm.Data["blob"]))
			}
			return nil
		})
		f.placementReady(t, "bulk", "1", time.Minute)
	drain:
		for {
			select {
			case ev := <-w.ResultChan():
				if ev.Type == watch.Deleted {
					cm, _ := ev.Object.(*corev1.ConfigMap)
					t.Errorf("ConfigMap %s was deleted on the member during the change", cm.GetName())
				}
			default:
				break drain
			}
		}
		list, err := f.member.Kube.CoreV1().ConfigMaps("bulk").List(ctx, metav1.ListOptions{})
		must(t, err)
		for _, cm := range list.Items {
			if uid, ok := uids[cm.Name]; ok && uid != cm.UID {
				t.Errorf("ConfigMap %s was replaced on the member", cm.Name)
			}
		}
	})

	t.Run("deleting the placement removes every part", func(t *testing.T) {
		must(t, hub.Delete(ctx, &placementv1.ClusterResourcePlacement{ObjectMeta: metav1.ObjectMeta{Name: "bulk"}}))
		testenv.Eventually(t, time.Minute, "the namespace and its ConfigMaps gone from m1", func() error {
			list, err := f.member.Kube.CoreV1().ConfigMaps("bulk").List(ctx, metav1.ListOptions{})
			if err != nil {
				return err
			}
			var placed int
			for _, cm := range list.Items {
				if cm.Labels[fleetv1.ManagedByLabel] != "" {
					placed++
				}
			}
			if placed > 0 {
				return fmt.Errorf("%d placed ConfigMaps left", placed)
			}
			return nil
		})
		testenv.Eventually(t, waitFor, "nothing of the placement left on the hub", func() error { return f.hubLeftovers(ctx, "bulk") })
	})
}
