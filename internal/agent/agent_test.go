package agent_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/go-logr/logr/testr"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	placementv1 "github.com/flotilla-dev/flotilla/api/placement/v1"
	fleetv1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/internal/agent"
	"github.com/flotilla-dev/flotilla/internal/enrollment"
	"github.com/flotilla-dev/flotilla/internal/fleetmetrics"
	"github.com/flotilla-dev/flotilla/internal/fleetscheme"
	"github.com/flotilla-dev/flotilla/internal/localcluster"
	"github.com/flotilla-dev/flotilla/internal/testenv"
)

const memberName = "m1"

var workNamespace = fleetv1.MemberNamespace(memberName)

// env is a hub with the CRDs the agent uses and a member, both real API
// servers, and the member joined to the hub.
type env struct {
	hub, member *testenv.Cluster
	// agentHub is the agent's restricted hub identity.
	agentHub *rest.Config
	// metricsURL is the /metrics of the agent started last.
	metricsURL string
}

func startEnv(t *testing.T) *env {
	t.Helper()
	ctx := t.Context()
	start := time.Now()
	fleet := testenv.Start(t, testenv.Options{
		// Only what the agent uses: fewer CRDs, faster start.
		CRDs:    testenv.CRDsNamed("works.fleet.flotilla.dev", "memberclusters.fleet.flotilla.dev"),
		Members: []string{memberName},
	})
	e := &env{hub: fleet.Hub, member: fleet.Member(memberName)}
	t.Logf("hub and member up in %s", time.Since(start).Round(time.Millisecond))

	// The hub side of `flotilla member join`, by the code the CLI runs: the
	// member's namespace, its MemberCluster (in Agent mode) and the agent's
	// identity, a service account token bound by the RBAC join grants.
	memberKubeconfig, err := e.member.Kubeconfig()
	if err != nil {
		t.Fatal(err)
	}
	joined, err := enrollment.Join(ctx, e.hub.Client, enrollment.JoinRequest{Name: memberName, MemberKubeconfig: memberKubeconfig, HubConfig: e.hub.Config})
	if err != nil {
		t.Fatal(err)
	}
	if e.agentHub, err = clientcmd.RESTConfigFromKubeConfig(joined.HubKubeconfig); err != nil {
		t.Fatal(err)
	}
	// RBAC takes a moment to see new roles; the agent would only retry, but
	// its first apply is timed.
	agentClient, err := client.New(e.agentHub, client.Options{Scheme: fleetscheme.New()})
	if err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, 10*time.Second, "agent RBAC in effect", func() error {
		return agentClient.List(ctx, &fleetv1.WorkList{}, client.InNamespace(workNamespace))
	})
	return e
}

// startAgent runs an agent in-process until the returned stop is called
// (or the test ends).
func (e *env) startAgent(t *testing.T, name, stateDir string) (stop func()) {
	t.Helper()
	ports, err := localcluster.FreePorts(1)
	if err != nil {
		t.Fatal(err)
	}
	healthAddress := fmt.Sprintf("127.0.0.1:%d", ports[0])
	e.metricsURL = "http://" + healthAddress + "/metrics"
	ctx, cancel := context.WithCancel(context.Background())
	ctx = logr.NewContext(ctx, testr.NewWithOptions(t, testr.Options{LogTimestamp: true}).WithName(name))
	done := make(chan error, 1)
	go func() {
		done <- agent.Run(ctx, agent.Options{
			MemberName: memberName, Hub: e.agentHub, Member: e.member.Config, StateDir: stateDir,
			HeartbeatPeriod: time.Second, HealthAddress: healthAddress,
		})
	}()
	stopped := false
	stop = func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("agent %s: %v", name, err)
			}
		case <-time.After(30 * time.Second):
			t.Errorf("agent %s did not stop within 30s", name)
		}
	}
	t.Cleanup(stop)
	return stop
}

func manifest(t *testing.T, obj runtime.Object) runtime.RawExtension {
	t.Helper()
	data, err := json.Marshal(obj)
	if err != nil {
		t.Fatal(err)
	}
	return runtime.RawExtension{Raw: data}
}

// The seed's resources.
func seedNamespace() *corev1.Namespace {
	return &corev1.Namespace{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Namespace"}, ObjectMeta: metav1.ObjectMeta{Name: "fintech"}}
}

func seedClusterRole() *rbacv1.ClusterRole {
	return &rbacv1.ClusterRole{
		TypeMeta:   metav1.TypeMeta{APIVersion: "rbac.authorization.k8s.io/v1", Kind: "ClusterRole"},
		ObjectMeta: metav1.ObjectMeta{Name: "fintech-readonly"},
		Rules:      []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"pods", "services"}, Verbs: []string{"get", "list"}}},
	}
}

func seedQuota(pods string) *corev1.ResourceQuota {
	return &corev1.ResourceQuota{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "ResourceQuota"},
		ObjectMeta: metav1.ObjectMeta{Name: "platform-quota", Namespace: "fintech"},
		Spec: corev1.ResourceQuotaSpec{Hard: corev1.ResourceList{
			"requests.cpu":    resource.MustParse("100"),
			"requests.memory": resource.MustParse("200Gi"),
			"pods":            resource.MustParse(pods),
		}},
	}
}

func configMap(name string, data map[string]string) *corev1.ConfigMap {
	return &corev1.ConfigMap{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "ConfigMap"},
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "fintech"},
		Data:       data,
	}
}

func (e *env) work(t *testing.T, name string) *fleetv1.Work {
	t.Helper()
	w := &fleetv1.Work{}
	if err := e.hub.Client.Get(t.Context(), client.ObjectKey{Namespace: workNamespace, Name: name}, w); err != nil {
		t.Fatal(err)
	}
	return w
}

func (e *env) createWork(t *testing.T, name string, strategy *placementv1.ApplyStrategy, policy fleetv1.DeletionPolicy, objs ...runtime.Object) {
	t.Helper()
	w := &fleetv1.Work{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: workNamespace},
		Spec:       fleetv1.WorkSpec{Placement: name + "-crp", ApplyStrategy: strategy, DeletionPolicy: policy},
	}
	for _, o := range objs {
		w.Spec.Manifests = append(w.Spec.Manifests, manifest(t, o))
	}
	if err := e.hub.Client.Create(t.Context(), w); err != nil {
		t.Fatal(err)
	}
}

// waitCondition waits until the Work's condition has the status and reason
// for its current generation.
func (e *env) waitCondition(t *testing.T, name, condType string, status metav1.ConditionStatus, reason string) *fleetv1.Work {
	t.Helper()
	var w *fleetv1.Work
	testenv.Eventually(t, 20*time.Second, fmt.Sprintf("Work %s %s=%s", name, condType, status), func() error {
		w = e.work(t, name)
		c := meta.FindStatusCondition(w.Status.Conditions, condType)
		switch {
		case c == nil:
			return fmt.Errorf("no %s condition: %+v", condType, w.Status.Conditions)
		case c.ObservedGeneration != w.Generation || c.Status != status || (reason != "" && c.Reason != reason):
			return fmt.Errorf("%s is %s/%s (%s) at generation %d of %d", condType, c.Status, c.Reason, c.Message, c.ObservedGeneration, w.Generation)
		}
		return nil
	})
	return w
}

func (e *env) quotaPods(t *testing.T) string {
	t.Helper()
	q, err := e.member.Kube.CoreV1().ResourceQuotas("fintech").Get(t.Context(), "platform-quota", metav1.GetOptions{})
	if err != nil {
		return "error: " + err.Error()
	}
	p := q.Spec.Hard["pods"]
	return p.String()
}

// driftQuota changes the quota's pods on the member and returns how long
// the agent took to put it back.
func (e *env) driftQuota(t *testing.T, want string) time.Duration {
	t.Helper()
	ctx := t.Context()
	q, err := e.member.Kube.CoreV1().ResourceQuotas("fintech").Get(ctx, "platform-quota", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	q.Spec.Hard["pods"] = resource.MustParse("9")
	// A field the manifest does not set stays as the member has it.
	q.Spec.Hard["services"] = resource.MustParse("7")
	if _, err := e.member.Kube.CoreV1().ResourceQuotas("fintech").Update(ctx, q, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	testenv.Eventually(t, 10*time.Second, "quota drift reverted", func() error {
		if got := e.quotaPods(t); got != want {
			return fmt.Errorf("pods is %s", got)
		}
		return nil
	})
	took := time.Since(start)
	q, err = e.member.Kube.CoreV1().ResourceQuotas("fintech").Get(ctx, "platform-quota", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if s := q.Spec.Hard["services"]; s.String() != "7" {
		t.Errorf("services, which the manifest does not set, is %s after the revert, want 7", s.String())
	}
	return took
}

func TestAgent(t *testing.T) {
	e := startEnv(t)
	ctx := t.Context()
	stateDir := t.TempDir()
	stopAgent := e.startAgent(t, "agent", stateDir)
	root := t

	t.Run("applies the seed's Work", func(t *testing.T) {
		start := time.Now()
		e.createWork(t, "seed", nil, "", seedNamespace(), seedClusterRole(), seedQuota("500"))
		w := e.waitCondition(t, "seed", fleetv1.WorkApplied, metav1.ConditionTrue, "")
		e.waitCondition(t, "seed", fleetv1.WorkAvailable, metav1.ConditionTrue, "")
		t.Logf("Work applied and reported in %s", time.Since(start).Round(time.Millisecond))
		if !slices.Contains(w.Finalizers, fleetv1.AgentFinalizer) {
			t.Errorf("finalizers %v lack %s", w.Finalizers, fleetv1.AgentFinalizer)
		}
		if len(w.Status.Manifests) != 3 {
			t.Fatalf("%d manifest statuses, want 3", len(w.Status.Manifests))
		}
		for i, m := range w.Status.Manifests {
			if m.Ordinal != int32(i) || m.ObservedGeneration != w.Generation || !meta.IsStatusConditionTrue(m.Conditions, fleetv1.WorkApplied) {
				t.Errorf("manifest %d status: %+v", i, m)
			}
		}
		if id := w.Status.Manifests[2].Identifier; id.Kind != "ResourceQuota" || id.Namespace != "fintech" || id.Version != "v1" {
			t.Errorf("quota identifier %+v", id)
		}
		cr, err := e.member.Kube.RbacV1().ClusterRoles().Get(ctx, "fintech-readonly", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if cr.Labels[fleetv1.ManagedByLabel] != fleetv1.ManagedByAgent || cr.Labels[fleetv1.PlacementLabel] != "seed-crp" || cr.Annotations[fleetv1.WorkAnnotation] != "seed" {
			t.Errorf("ClusterRole labels %v annotations %v", cr.Labels, cr.Annotations)
		}
		if got := e.quotaPods(t); got != "500" {
			t.Errorf("quota pods %s", got)
		}
	})

	t.Run("reverts a manual change", func(t *testing.T) {
		took := e.driftQuota(t, "500")
		t.Logf("drift on the quota reverted in %s (target < 2s)", took.Round(time.Millisecond))
	})

	t.Run("re-creates a deleted object", func(t *testing.T) {
		if err := e.member.Kube.RbacV1().ClusterRoles().Delete(ctx, "fintech-readonly", metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		testenv.Eventually(t, 10*time.Second, "ClusterRole re-created", func() error {
			_, err := e.member.Kube.RbacV1().ClusterRoles().Get(ctx, "fintech-readonly", metav1.GetOptions{})
			return err
		})
		t.Logf("deleted ClusterRole re-created in %s", time.Since(start).Round(time.Millisecond))
	})

	t.Run("heartbeats", func(t *testing.T) {
		testenv.Eventually(t, 10*time.Second, "MemberCluster heartbeat", func() error {
			mc := &fleetv1.MemberCluster{}
			if err := e.hub.Client.Get(ctx, client.ObjectKey{Name: memberName}, mc); err != nil {
				return err
			}
			s := mc.Status
			switch {
			case s.LastHeartbeatTime == nil || s.AgentLastHeartbeatTime == nil:
				return fmt.Errorf("no heartbeat yet")
			case !meta.IsStatusConditionTrue(s.Conditions, fleetv1.MemberAgentConnected):
				return fmt.Errorf("AgentConnected not True: %+v", s.Conditions)
			case !meta.IsStatusConditionTrue(s.Conditions, fleetv1.MemberJoined) || !meta.IsStatusConditionTrue(s.Conditions, fleetv1.MemberReachable):
				return fmt.Errorf("conditions %+v", s.Conditions)
			case meta.FindStatusCondition(s.Conditions, fleetv1.MemberHealthy) == nil:
				return fmt.Errorf("no Healthy condition")
			case s.KubernetesVersion == "" || s.Properties["kubernetes-fleet.io/node-count"] == "":
				return fmt.Errorf("probe fields missing: %+v", s)
			}
			return nil
		})
	})

	t.Run("serves metrics and records Events on the member", func(t *testing.T) {
		// A manifest of a kind the member does not serve fails to apply.
		unknown := &unstructured.Unstructured{}
		unknown.SetGroupVersionKind(schema.GroupVersionKind{Group: "example.com", Version: "v1", Kind: "Nope"})
		unknown.SetName("nope")
		unknown.SetNamespace("fintech")
		e.createWork(t, "unservable", nil, "", unknown)
		e.waitCondition(t, "unservable", fleetv1.WorkApplied, metav1.ConditionFalse, fleetv1.WorkReasonApplyFailed)
		testenv.Eventually(t, 10*time.Second, "the agent's metrics", func() error {
			families, err := testenv.Scrape(e.metricsURL)
			if err != nil {
				return err
			}
			want := []struct {
				name   string
				labels map[string]string
				ok     func(float64) bool
			}{
				{fleetmetrics.AgentWorks, nil, func(v float64) bool { return v == 2 }},
				// The quota drift reverted above.
				{fleetmetrics.AgentDriftCorrections, map[string]string{"kind": "ResourceQuota"}, func(v float64) bool { return v >= 1 }},
				{fleetmetrics.AgentHubReachable, nil, func(v float64) bool { return v == 1 }},
				{fleetmetrics.AgentHubSyncAge, nil, func(v float64) bool { return v < 5 }},
				{fleetmetrics.AgentApplyDuration, map[string]string{"result": "Succeeded"}, func(v float64) bool { return v >= 1 }},
				{fleetmetrics.AgentApplyDuration, map[string]string{"result": "Failed"}, func(v float64) bool { return v >= 1 }},
			}
			for _, w := range want {
				if v, ok := testenv.MetricValue(t, families, w.name, w.labels); !ok || !w.ok(v) {
					return fmt.Errorf("%s%v = %v (present %v)", w.name, w.labels, v, ok)
				}
			}
			return nil
		})
		testenv.Eventually(t, 10*time.Second, "Events on the member", func() error {
			list, err := e.member.Kube.EventsV1().Events("fintech").List(ctx, metav1.ListOptions{})
			if err != nil {
				return err
			}
			seen := map[string]string{}
			for _, ev := range list.Items {
				seen[ev.Reason] = ev.Regarding.Kind + "/" + ev.Regarding.Name
			}
			if seen["DriftCorrected"] != "ResourceQuota/platform-quota" || seen["ApplyFailed"] != "Nope/nope" {
				return fmt.Errorf("events by reason: %v", seen)
			}
			return nil
		})
		if err := e.hub.Client.Delete(ctx, &fleetv1.Work{ObjectMeta: metav1.ObjectMeta{Name: "unservable", Namespace: workNamespace}}); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("IfNotDrifted reports drift instead of reverting", func(t *testing.T) {
		e.createWork(t, "drifty", &placementv1.ApplyStrategy{WhenToApply: placementv1.WhenToApplyTypeIfNotDrifted}, "",
			configMap("drift-cm", map[string]string{"a": "1"}))
		e.waitCondition(t, "drifty", fleetv1.WorkApplied, metav1.ConditionTrue, "")
		cm, err := e.member.Kube.CoreV1().ConfigMaps("fintech").Get(ctx, "drift-cm", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		cm.Data["a"] = "2"
		if _, err := e.member.Kube.CoreV1().ConfigMaps("fintech").Update(ctx, cm, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
		w := e.waitCondition(t, "drifty", fleetv1.WorkApplied, metav1.ConditionFalse, fleetv1.WorkReasonDrifted)
		m := w.Status.Manifests[0]
		if len(m.Drifts) != 1 || m.Drifts[0] != (placementv1.PatchDetail{Path: "/data/a", ValueInMember: "2", ValueInHub: "1"}) || m.FirstDriftedObservedTime == nil {
			t.Errorf("drifts %+v at %v", m.Drifts, m.FirstDriftedObservedTime)
		}
		cm, err = e.member.Kube.CoreV1().ConfigMaps("fintech").Get(ctx, "drift-cm", metav1.GetOptions{})
		if err != nil || cm.Data["a"] != "2" {
			t.Errorf("drifted ConfigMap was overwritten: %v %v", cm.Data, err)
		}
	})

	t.Run("a second Work does not take another Work's object", func(t *testing.T) {
		e.createWork(t, "rival", nil, "", configMap("drift-cm", map[string]string{"a": "9"}))
		e.waitCondition(t, "rival", fleetv1.WorkApplied, metav1.ConditionFalse, fleetv1.WorkReasonConflict)
		if err := e.hub.Client.Delete(ctx, e.work(t, "rival")); err != nil {
			t.Fatal(err)
		}
		e.waitGone(t, "rival")
		cm, err := e.member.Kube.CoreV1().ConfigMaps("fintech").Get(ctx, "drift-cm", metav1.GetOptions{})
		if err != nil || cm.Data["a"] != "2" || cm.Annotations[fleetv1.WorkAnnotation] != "drifty" {
			t.Errorf("drift-cm after the rival Work: %v %v %v", cm.GetAnnotations(), cm.Data, err)
		}
	})

	t.Run("ReportDiff reports and writes nothing", func(t *testing.T) {
		if _, err := e.member.Kube.CoreV1().ConfigMaps("fintech").Create(ctx, configMap("diff-cm", map[string]string{"a": "x"}), metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		e.createWork(t, "differ", &placementv1.ApplyStrategy{Type: placementv1.ApplyStrategyTypeReportDiff}, "",
			configMap("diff-cm", map[string]string{"a": "y"}), configMap("absent-cm", map[string]string{"a": "y"}))
		w := e.waitCondition(t, "differ", fleetv1.WorkDiffReported, metav1.ConditionTrue, fleetv1.WorkReasonDiffFound)
		if meta.FindStatusCondition(w.Status.Conditions, fleetv1.WorkApplied) != nil {
			t.Errorf("ReportDiff Work has an Applied condition: %+v", w.Status.Conditions)
		}
		if got := w.Status.Manifests[0].Diffs; len(got) != 1 || got[0] != (placementv1.PatchDetail{Path: "/data/a", ValueInMember: "x", ValueInHub: "y"}) {
			t.Errorf("diffs of diff-cm: %+v", got)
		}
		if got := w.Status.Manifests[1].Diffs; len(got) != 1 || got[0].Path != "" {
			t.Errorf("diffs of absent-cm: %+v", got)
		}
		cm, err := e.member.Kube.CoreV1().ConfigMaps("fintech").Get(ctx, "diff-cm", metav1.GetOptions{})
		if err != nil || cm.Data["a"] != "x" || cm.Labels[fleetv1.ManagedByLabel] != "" {
			t.Errorf("diff-cm was written: %v %v %v", cm.Data, cm.Labels, err)
		}
		if _, err := e.member.Kube.CoreV1().ConfigMaps("fintech").Get(ctx, "absent-cm", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
			t.Errorf("absent-cm: %v, want NotFound", err)
		}
	})

	t.Run("IfNoDiff takes over only identical objects", func(t *testing.T) {
		for name, v := range map[string]string{"other-cm": "x", "same-cm": "z"} {
			if _, err := e.member.Kube.CoreV1().ConfigMaps("fintech").Create(ctx, configMap(name, map[string]string{"a": v}), metav1.CreateOptions{}); err != nil {
				t.Fatal(err)
			}
		}
		e.createWork(t, "takeover", &placementv1.ApplyStrategy{WhenToTakeOver: placementv1.WhenToTakeOverTypeIfNoDiff}, "",
			configMap("other-cm", map[string]string{"a": "y"}), configMap("same-cm", map[string]string{"a": "z"}))
		w := e.waitCondition(t, "takeover", fleetv1.WorkApplied, metav1.ConditionFalse, fleetv1.WorkReasonNotTakenOver)
		testenv.Eventually(t, 10*time.Second, "same-cm taken over", func() error {
			cm, err := e.member.Kube.CoreV1().ConfigMaps("fintech").Get(ctx, "same-cm", metav1.GetOptions{})
			if err != nil {
				return err
			}
			if cm.Labels[fleetv1.ManagedByLabel] != fleetv1.ManagedByAgent {
				return fmt.Errorf("same-cm labels %v", cm.Labels)
			}
			return nil
		})
		if got := w.Status.Manifests[0].Diffs; len(got) != 1 || got[0].Path != "/data/a" {
			t.Errorf("other-cm diffs %+v", got)
		}
		cm, err := e.member.Kube.CoreV1().ConfigMaps("fintech").Get(ctx, "other-cm", metav1.GetOptions{})
		if err != nil || cm.Data["a"] != "x" || cm.Labels[fleetv1.ManagedByLabel] != "" {
			t.Errorf("other-cm was taken over: %v %v %v", cm.Data, cm.Labels, err)
		}
	})

	t.Run("a CRD and its custom resource in one Work", func(t *testing.T) {
		widgets := &apiextensionsv1.CustomResourceDefinition{
			TypeMeta:   metav1.TypeMeta{APIVersion: "apiextensions.k8s.io/v1", Kind: "CustomResourceDefinition"},
			ObjectMeta: metav1.ObjectMeta{Name: "widgets.example.com"},
			Spec: apiextensionsv1.CustomResourceDefinitionSpec{
				Group: "example.com", Scope: apiextensionsv1.NamespaceScoped,
				Names: apiextensionsv1.CustomResourceDefinitionNames{Plural: "widgets", Singular: "widget", Kind: "Widget", ListKind: "WidgetList"},
				Versions: []apiextensionsv1.CustomResourceDefinitionVersion{{
					Name: "v1", Served: true, Storage: true,
					Schema: &apiextensionsv1.CustomResourceValidation{OpenAPIV3Schema: &apiextensionsv1.JSONSchemaProps{
						Type: "object", XPreserveUnknownFields: ptr.To(true),
					}},
				}},
			},
		}
		widget := &unstructured.Unstructured{Object: map[string]any{
			"apiVersion": "example.com/v1", "kind": "Widget",
			"metadata": map[string]any{"name": "w1", "namespace": "fintech"},
			"spec":     map[string]any{"size": int64(3)},
		}}
		start := time.Now()
		e.createWork(t, "crd", nil, "", widgets, widget)
		e.waitCondition(t, "crd", fleetv1.WorkApplied, metav1.ConditionTrue, "")
		t.Logf("CRD and custom resource applied in %s", time.Since(start).Round(time.Millisecond))
		gvr := schema.GroupVersionResource{Group: "example.com", Version: "v1", Resource: "widgets"}
		dyn := dynamic.NewForConfigOrDie(e.member.Config).Resource(gvr).Namespace("fintech")
		live, err := dyn.Get(ctx, "w1", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		// Drift on a kind the agent learnt about at run time is corrected too.
		if err := unstructured.SetNestedField(live.Object, int64(4), "spec", "size"); err != nil {
			t.Fatal(err)
		}
		if _, err := dyn.Update(ctx, live, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
		testenv.Eventually(t, 10*time.Second, "widget drift reverted", func() error {
			live, err := dyn.Get(ctx, "w1", metav1.GetOptions{})
			if err != nil {
				return err
			}
			if size, _, _ := unstructured.NestedInt64(live.Object, "spec", "size"); size != 3 {
				return fmt.Errorf("size %d", size)
			}
			return nil
		})
	})

	t.Run("removes a manifest dropped from the Work", func(t *testing.T) {
		w := e.work(t, "seed")
		w.Spec.Manifests = []runtime.RawExtension{manifest(t, seedNamespace()), manifest(t, seedQuota("500"))}
		if err := e.hub.Client.Update(ctx, w); err != nil {
			t.Fatal(err)
		}
		testenv.Eventually(t, 10*time.Second, "ClusterRole removed", func() error {
			_, err := e.member.Kube.RbacV1().ClusterRoles().Get(ctx, "fintech-readonly", metav1.GetOptions{})
			return testenv.Gone("ClusterRole", err)
		})
		w = e.waitCondition(t, "seed", fleetv1.WorkApplied, metav1.ConditionTrue, "")
		if len(w.Status.Manifests) != 2 {
			t.Errorf("%d manifest statuses, want 2", len(w.Status.Manifests))
		}
	})

	t.Run("Abandon leaves the objects of a deleted Work", func(t *testing.T) {
		e.createWork(t, "abandon", nil, fleetv1.DeletionPolicyAbandon, configMap("keep-cm", map[string]string{"a": "1"}))
		e.waitCondition(t, "abandon", fleetv1.WorkApplied, metav1.ConditionTrue, "")
		if err := e.hub.Client.Delete(ctx, e.work(t, "abandon")); err != nil {
			t.Fatal(err)
		}
		e.waitGone(t, "abandon")
		cm, err := e.member.Kube.CoreV1().ConfigMaps("fintech").Get(ctx, "keep-cm", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if cm.Labels[fleetv1.ManagedByLabel] != "" || cm.Annotations[fleetv1.WorkAnnotation] != "" || cm.Data["a"] != "1" {
			t.Errorf("abandoned ConfigMap: labels %v annotations %v data %v", cm.Labels, cm.Annotations, cm.Data)
		}
	})

	t.Run("keeps enforcing while the hub is down", func(t *testing.T) {
		if err := e.hub.StopAPIServer(); err != nil {
			t.Fatal(err)
		}
		took := e.driftQuota(t, "500")
		t.Logf("hub down: drift reverted in %s", took.Round(time.Millisecond))
		testenv.Eventually(t, 10*time.Second, "the agent's metrics say the hub is unreachable", func() error {
			families, err := testenv.Scrape(e.metricsURL)
			if err != nil {
				return err
			}
			if v, _ := testenv.MetricValue(t, families, fleetmetrics.AgentHubReachable, nil); v != 0 {
				return fmt.Errorf("%s = %v", fleetmetrics.AgentHubReachable, v)
			}
			return nil
		})

		stopAgent()
		// A Work saved by the agent but deleted from the hub (finalizer
		// removed by hand) while it was away: enforced until the hub
		// answers, then forgotten, its object left in place.
		ghost := &fleetv1.Work{
			TypeMeta:   metav1.TypeMeta{APIVersion: fleetv1.GroupVersion.String(), Kind: "Work"},
			ObjectMeta: metav1.ObjectMeta{Name: "ghost", Namespace: workNamespace, Generation: 1, Finalizers: []string{fleetv1.AgentFinalizer}},
			Spec:       fleetv1.WorkSpec{Placement: "ghost-crp", Manifests: []runtime.RawExtension{manifest(t, configMap("ghost-cm", map[string]string{"a": "1"}))}},
		}
		ghostFile := filepath.Join(stateDir, "works", "ghost.json")
		data, err := json.Marshal(map[string]any{"work": ghost})
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(ghostFile, data, 0o600); err != nil {
			t.Fatal(err)
		}
		// On the parent test: the agent outlives this subtest.
		e.startAgent(root, "agent-restarted", stateDir)
		took = e.driftQuota(t, "500")
		t.Logf("hub down, agent restarted from its state dir: drift reverted in %s", took.Round(time.Millisecond))
		testenv.Eventually(t, 10*time.Second, "saved Work enforced while the hub is down", func() error {
			_, err := e.member.Kube.CoreV1().ConfigMaps("fintech").Get(ctx, "ghost-cm", metav1.GetOptions{})
			return err
		})

		restart := time.Now()
		if err := e.hub.RestartAPIServer(ctx, ""); err != nil {
			t.Fatal(err)
		}
		t.Logf("hub API server restarted in %s", time.Since(restart).Round(time.Millisecond))
		// The restarted agent picks the hub up again on its own.
		testenv.Eventually(t, 20*time.Second, "Work updated after the hub returned", func() error {
			w := &fleetv1.Work{}
			if err := e.hub.Client.Get(ctx, client.ObjectKey{Namespace: workNamespace, Name: "seed"}, w); err != nil {
				return err
			}
			w.Spec.Manifests = []runtime.RawExtension{manifest(t, seedNamespace()), manifest(t, seedQuota("600"))}
			return e.hub.Client.Update(ctx, w)
		})
		e.waitCondition(t, "seed", fleetv1.WorkApplied, metav1.ConditionTrue, "")
		testenv.Eventually(t, 10*time.Second, "new quota from the hub applied", func() error {
			if got := e.quotaPods(t); got != "600" {
				return fmt.Errorf("pods is %s", got)
			}
			return nil
		})
		testenv.Eventually(t, 10*time.Second, "Work missing from the hub forgotten", func() error {
			_, err := os.Stat(ghostFile)
			switch {
			case errors.Is(err, fs.ErrNotExist):
				return nil
			case err == nil:
				return errors.New("state file still there")
			}
			return err
		})
		if _, err := e.member.Kube.CoreV1().ConfigMaps("fintech").Get(ctx, "ghost-cm", metav1.GetOptions{}); err != nil {
			t.Errorf("the forgotten Work's object: %v", err)
		}
	})

	t.Run("deleting the Work removes what it placed", func(t *testing.T) {
		if err := e.hub.Client.Delete(ctx, e.work(t, "seed")); err != nil {
			t.Fatal(err)
		}
		e.waitGone(t, "seed")
		if _, err := e.member.Kube.CoreV1().ResourceQuotas("fintech").Get(ctx, "platform-quota", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
			t.Errorf("quota after the Work's deletion: %v, want NotFound", err)
		}
		// Without a controller manager on the member the namespace stays
		// Terminating; what counts is that it was deleted.
		ns, err := e.member.Kube.CoreV1().Namespaces().Get(ctx, "fintech", metav1.GetOptions{})
		if err == nil && ns.DeletionTimestamp == nil {
			t.Errorf("namespace fintech not deleted")
		} else if err != nil && !apierrors.IsNotFound(err) {
			t.Error(err)
		}
	})
}

func (e *env) waitGone(t *testing.T, name string) {
	t.Helper()
	testenv.Eventually(t, 20*time.Second, "Work "+name+" gone", func() error {
		err := e.hub.Client.Get(t.Context(), client.ObjectKey{Namespace: workNamespace, Name: name}, &fleetv1.Work{})
		return testenv.Gone("Work "+name, err)
	})
}
