package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/controller-runtime/pkg/client"

	placementv1 "github.com/flotilla-dev/flotilla/api/placement/v1"
	fleetv1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/internal/clusterprobe"
	"github.com/flotilla-dev/flotilla/internal/enrollment"
	"github.com/flotilla-dev/flotilla/internal/fleetcost"
	"github.com/flotilla-dev/flotilla/internal/fleetquery"
	"github.com/flotilla-dev/flotilla/internal/fleetscheme"
	"github.com/flotilla-dev/flotilla/internal/testenv"
)

// addNode creates a node on a member's API server with its Ready condition
// (a Node's status may be set on create).
func addNode(t *testing.T, kube kubernetes.Interface, name string, ready corev1.ConditionStatus) {
	t.Helper()
	n := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name}}
	n.Status.Conditions = []corev1.NodeCondition{{Type: corev1.NodeReady, Status: ready, Reason: "Test", LastHeartbeatTime: metav1.Now(), LastTransitionTime: metav1.Now()}}
	n.Status.NodeInfo.KubeletVersion = "v1.36.3"
	n.Status.Capacity = corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("4"), corev1.ResourceMemory: resource.MustParse("16Gi")}
	if _, err := kube.CoreV1().Nodes().Create(t.Context(), n, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
}

// addPod creates a pod on a member's API server and sets its phase.
func addPod(t *testing.T, kube kubernetes.Interface, ns, name, node string, phase corev1.PodPhase) {
	t.Helper()
	ctx := t.Context()
	if _, err := kube.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{}); err != nil {
		if _, err := kube.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		// No controller manager runs: the ServiceAccount admission needs the default one.
		if _, err := kube.CoreV1().ServiceAccounts(ns).Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "default"}}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	no := false
	p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}, Spec: corev1.PodSpec{
		NodeName: node, AutomountServiceAccountToken: &no, Containers: []corev1.Container{{Name: "c", Image: "example.com/app:1"}}}}
	created, err := kube.CoreV1().Pods(ns).Create(ctx, p, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	created.Status.Phase = phase
	if phase == corev1.PodFailed {
		created.Status.Reason = "Evicted"
	}
	if _, err := kube.CoreV1().Pods(ns).UpdateStatus(ctx, created, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
}

func exitCode(err error) int {
	var e exitCodeError
	if errors.As(err, &e) {
		return e.code
	}
	if err != nil {
		return 1
	}
	return 0
}

// TestQueryAndCostOnARealFleet: a hub with three member API servers and
// one agent-only member; eu-2 has a NotReady node and Failed and Unknown
// pods, the agent reports 2 of 3 nodes Ready and a failed pod, and us-1's
// API server is stopped. query nodes, pods and --summary give one table
// with every member, us-1 a row saying it did not answer, within the
// bound; cost prices the seed's ten Standard clusters at $730 a month.
func TestQueryAndCostOnARealFleet(t *testing.T) {
	env := testenv.Start(t, testenv.Options{CRDs: testenv.AllCRDs, Members: []string{"eu-1", "eu-2", "us-1"}})
	hub, err := client.NewWithWatch(env.Hub.Config, client.Options{Scheme: fleetscheme.New()})
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	for _, m := range env.Members {
		if _, _, err := runCLI(hub, "member", "create", m.Name(), "--kubeconfig", m.KubeconfigPath(), "--labels", "env=prod"); err != nil {
			t.Fatalf("member create %s: %v", m.Name(), err)
		}
	}
	eu1, eu2, us1 := env.Member("eu-1").Kube, env.Member("eu-2").Kube, env.Member("us-1").Kube
	addNode(t, eu1, "eu-1-a", corev1.ConditionTrue)
	addNode(t, eu1, "eu-1-b", corev1.ConditionTrue)
	addPod(t, eu1, "payments", "api-1", "eu-1-a", corev1.PodRunning)
	addNode(t, eu2, "eu-2-a", corev1.ConditionTrue)
	addNode(t, eu2, "eu-2-b", corev1.ConditionFalse)
	addPod(t, eu2, "payments", "api-1", "eu-2-a", corev1.PodRunning)
	addPod(t, eu2, "payments", "api-2", "eu-2-b", corev1.PodFailed)
	addPod(t, eu2, "batch", "job-1", "eu-2-b", corev1.PodUnknown)
	addNode(t, us1, "us-1-a", corev1.ConditionTrue)

	edge := &fleetv1.MemberCluster{ObjectMeta: metav1.ObjectMeta{Name: "edge-1", Labels: map[string]string{"env": "prod"}},
		Spec: fleetv1.MemberClusterSpec{Access: fleetv1.MemberAccess{Mode: fleetv1.AccessAgent}}}
	if err := hub.Create(ctx, edge); err != nil {
		t.Fatal(err)
	}
	beat := metav1.NewTime(time.Date(2026, 12, 1, 16, 0, 0, 0, time.UTC))
	edge.Status = fleetv1.MemberClusterStatus{Nodes: fleetv1.NodeSummary{Ready: 2, Total: 3}, FailedPods: 1, AgentLastHeartbeatTime: &beat}
	if err := hub.Status().Update(ctx, edge); err != nil {
		t.Fatal(err)
	}
	if err := env.Member("us-1").StopAPIServer(); err != nil {
		t.Fatal(err)
	}

	run := func(args ...string) (string, int) {
		t.Helper()
		start := time.Now()
		out, errOut, err := runCLIContext(ctx, hub, args...)
		if took := time.Since(start); took > 20*time.Second {
			t.Errorf("%v took %s with --member-timeout 5s", args, took)
		}
		t.Logf("flotilla %s\n%s%s", strings.Join(args, " "), out, errOut)
		return out + errOut, exitCode(err)
	}

	t.Run("summary is the seed's join", func(t *testing.T) {
		out, code := run("query", "nodes", "--summary", "--member-timeout", "5s")
		if code != queryExitUnanswered {
			t.Errorf("exit %d, want %d (us-1 did not answer)\n%s", code, queryExitUnanswered, out)
		}
		lines := strings.Split(out, "\n")
		if f := strings.Fields(lines[0]); strings.Join(f, " ") != "ClusterName NodeCount FailedPodCount Note" {
			t.Errorf("header = %q", lines[0])
		}
		want := map[string]string{"edge-1": "2 1", "eu-1": "2 0", "eu-2": "1 2", "us-1": "- -"}
		for _, l := range lines[1:5] {
			f := strings.Fields(l)
			if len(f) < 3 || want[f[0]] != f[1]+" "+f[2] {
				t.Errorf("row %q, want %s", l, want[f[0]])
			}
		}
		if !strings.Contains(out, "us-1   -           -                did not answer within 5s") && !strings.Contains(out, "did not answer within 5s") {
			t.Errorf("us-1 row does not say it did not answer:\n%s", out)
		}
		if !strings.Contains(out, "the agent's summary: 2 of 3 nodes Ready, 1 Failed or Unknown pods") {
			t.Errorf("edge-1 row does not say it is the agent's summary:\n%s", out)
		}
		jsonOut, _ := run("query", "pods", "--summary", "-l", "env=prod", "-o", "json", "--member-timeout", "5s")
		var rows []map[string]any
		if err := json.Unmarshal([]byte(jsonOut[:strings.LastIndex(jsonOut, "]")+1]), &rows); err != nil {
			t.Fatalf("%v\n%s", err, jsonOut)
		}
		if len(rows) != 4 || rows[2]["ClusterName"] != "eu-2" || rows[2]["NodeCount"] != 1.0 || rows[2]["FailedPodCount"] != 2.0 || rows[3]["NodeCount"] != nil {
			t.Errorf("json rows = %v", rows)
		}
	})

	t.Run("nodes", func(t *testing.T) {
		out, code := run("query", "nodes", "--not-ready", "-o", "json", "--member-timeout", "5s")
		if code != queryExitUnanswered {
			t.Errorf("exit %d\n%s", code, out)
		}
		var rows []fleetquery.NodeRow
		if err := json.Unmarshal([]byte(out[:strings.LastIndex(out, "]")+1]), &rows); err != nil {
			t.Fatalf("%v\n%s", err, out)
		}
		var got []string
		for _, r := range rows {
			got = append(got, fmt.Sprintf("%s/%s/%s/%s", r.Member, r.Node, r.Status, r.Source))
		}
		if want := "edge-1///agent eu-2/eu-2-b/NotReady/live us-1///no-answer"; strings.Join(got, " ") != want {
			t.Errorf("rows = %v, want %s", got, want)
		}
		if !strings.Contains(rows[2].Note, "did not answer within 5s") || !strings.Contains(rows[2].Note, "connection refused") {
			t.Errorf("us-1 note = %q", rows[2].Note)
		}
		out, _ = run("query", "nodes", "--member-timeout", "5s")
		for _, want := range []string{"eu-1     eu-1-a   Ready", "eu-2     eu-2-b   NotReady", "2/3 Ready", "the agent's summary"} {
			if !strings.Contains(out, want) {
				t.Errorf("table lacks %q:\n%s", want, out)
			}
		}
	})

	t.Run("pods", func(t *testing.T) {
		out, code := run("query", "pods", "--phase", "Failed,Unknown", "-A", "--member-timeout", "5s")
		if code != queryExitUnanswered {
			t.Errorf("exit %d\n%s", code, out)
		}
		for _, want := range []string{"eu-2     batch", "job-1", "Unknown", "eu-2     payments", "api-2", "Failed", "Evicted", "1 Failed/Unknown", "no-answer"} {
			if !strings.Contains(out, want) {
				t.Errorf("table lacks %q:\n%s", want, out)
			}
		}
		if strings.Contains(out, "api-1") {
			t.Errorf("a Running pod is listed:\n%s", out)
		}
		out, _ = run("query", "pods", "-n", "payments", "-o", "yaml", "--member-timeout", "5s")
		if strings.Count(out, "pod: api-") != 3 || strings.Contains(out, "job-1") {
			t.Errorf("-n payments:\n%s", out)
		}
	})

	if err := env.Member("us-1").RestartAPIServer(ctx, ""); err != nil {
		t.Fatal(err)
	}
	t.Run("healthy members only", func(t *testing.T) {
		if out, code := run("query", "nodes", "--summary", "-l", "env=prod", "--member-timeout", "20s"); code != queryExitUnhealthy || strings.Contains(out, "did not answer") {
			t.Errorf("with us-1 back: exit %d, want %d\n%s", code, queryExitUnhealthy, out)
		}
	})

	t.Run("a member that accepts connections and never answers", func(t *testing.T) {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = l.Close() })
		go func() {
			for {
				c, err := l.Accept()
				if err != nil {
					return
				}
				t.Cleanup(func() { _ = c.Close() })
			}
		}()
		cfg := fmt.Sprintf(`apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: "https://%s", insecure-skip-tls-verify: true}}]
users: [{name: u, user: {token: t}}]
contexts: [{name: c, context: {cluster: c, user: u}}]
current-context: c
`, l.Addr())
		// member create refuses a member it cannot reach: store it as it would.
		eu1m := &fleetv1.MemberCluster{}
		if err := hub.Get(ctx, client.ObjectKey{Name: "eu-1"}, eu1m); err != nil {
			t.Fatal(err)
		}
		ref := *eu1m.Spec.Access.KubeconfigSecretRef
		ref.Name += "-hangs"
		if err := hub.Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ref.Namespace, Name: ref.Name},
			Data: map[string][]byte{enrollment.KubeconfigKey: []byte(cfg)}}); err != nil {
			t.Fatal(err)
		}
		if err := hub.Create(ctx, &fleetv1.MemberCluster{ObjectMeta: metav1.ObjectMeta{Name: "hangs", Labels: map[string]string{"hang": "yes"}},
			Spec: fleetv1.MemberClusterSpec{Access: fleetv1.MemberAccess{Mode: fleetv1.AccessKubeconfig, KubeconfigSecretRef: &ref}}}); err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		out, code := run("query", "pods", "--summary", "-l", "hang=yes", "--member-timeout", "2s")
		if took := time.Since(start); took > 4*time.Second {
			t.Errorf("took %s with --member-timeout 2s", took)
		}
		if code != queryExitUnanswered || !strings.Contains(out, "hangs         -           -                did not answer within 2s") {
			t.Errorf("exit %d\n%s", code, out)
		}
	})

	t.Run("cost", func(t *testing.T) {
		for i := range 10 {
			m := &fleetv1.MemberCluster{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("aks-%02d", i), Labels: map[string]string{"cost": "seed"}},
				Spec: fleetv1.MemberClusterSpec{Access: fleetv1.MemberAccess{Mode: fleetv1.AccessAgent},
					Provider: &fleetv1.ProviderSpec{Type: fleetv1.ProviderAKS, AKS: &fleetv1.AKSProvider{ResourceID: fmt.Sprintf("/subscriptions/s/resourceGroups/rg/providers/Microsoft.ContainerService/managedClusters/aks-%02d", i)}}}}
			if err := hub.Create(ctx, m); err != nil {
				t.Fatal(err)
			}
		}
		out, code := run("cost", "-l", "cost=seed", "-o", "json")
		if code != 0 {
			t.Fatalf("cost: exit %d\n%s", code, out)
		}
		var r fleetcost.Report
		if err := json.Unmarshal([]byte(out), &r); err != nil {
			t.Fatalf("%v\n%s", err, out)
		}
		if r.ControlPlane != 730 || len(r.Members) != 10 || r.Members[0].Tier != "Standard" {
			t.Errorf("control plane %v over %d members, want $730 over 10", r.ControlPlane, len(r.Members))
		}

		// The three real members carry capacity; a placement on two of them.
		for _, name := range []string{"eu-1", "eu-2"} {
			m := &fleetv1.MemberCluster{}
			if err := hub.Get(ctx, client.ObjectKey{Name: name}, m); err != nil {
				t.Fatal(err)
			}
			// What the hub's probe records: two nodes of 4 vCPU and 16Gi each.
			obs, err := clusterprobe.Probe(ctx, env.Member(name).Kube)
			if err != nil {
				t.Fatal(err)
			}
			obs.Record(&m.Status, m.Generation, metav1.Now(), "Probed", "probed by the test")
			m.Status.Properties = map[string]string{"topology.kubernetes.io/region": map[string]string{"eu-1": "westeurope", "eu-2": "northeurope"}[name]}
			if err := hub.Status().Update(ctx, m); err != nil {
				t.Fatal(err)
			}
		}
		placeWeb(t, hub, "eu-1", "eu-2")
		model := filepath.Join(t.TempDir(), "cost.yaml")
		if err := os.WriteFile(model, []byte("hubMonthly: 100\ncrossRegionMonthly: 50\ncompute:\n  regions:\n    northeurope: {vcpuHour: 0.05, gibHour: 0.01}\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		out, code = run("cost", "--model", model, "-l", "env=prod", "--outage-cost-per-hour", "5000", "--expected-outage-hours", "2")
		if code != 0 {
			t.Fatalf("cost: exit %d\n%s", code, out)
		}
		// eu-1: 8 vCPU, 32 GiB at 0.04/0.005 = 0.48 an hour = $350.40; eu-2 at 0.05/0.01 = 0.72 = $525.60.
		// web: 3 × (0.5 CPU, 1 GiB) per copy: $54.75 on eu-1 + $76.65 on eu-2.
		for _, want := range []string{"$350.40", "$525.60", "web", "2×", "$131.40", "Hub:           $100.00", "Cross-region:  $50.00 a month (2 regions)",
			"Fleet total:   $1026.00 a month", "redundancy cost $500.40 vs outage cost $10000.00: the redundancy is an investment"} {
			if !strings.Contains(out, want) {
				t.Errorf("cost output lacks %q:\n%s", want, out)
			}
		}
	})
}

// placeWeb puts a placement of a three-replica Deployment on members, as
// the placement controller would leave it: the placement, its latest
// snapshot and one Bound binding per member.
func placeWeb(t *testing.T, hub client.Client, members ...string) {
	t.Helper()
	ctx := t.Context()
	crp := &placementv1.ClusterResourcePlacement{ObjectMeta: metav1.ObjectMeta{Name: "web"},
		Spec: placementv1.ClusterResourcePlacementSpec{ResourceSelectors: []placementv1.ClusterResourceSelector{{Group: "", Version: "v1", Kind: "Namespace", Name: "web"}}}}
	if err := hub.Create(ctx, crp); err != nil {
		t.Fatal(err)
	}
	three := int32(3)
	dep := &appsv1.Deployment{TypeMeta: metav1.TypeMeta{APIVersion: "apps/v1", Kind: "Deployment"}, ObjectMeta: metav1.ObjectMeta{Namespace: "web", Name: "web"},
		Spec: appsv1.DeploymentSpec{Replicas: &three, Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "web", Image: "example.com/web:1",
			Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("500m"), corev1.ResourceMemory: resource.MustParse("1Gi")}}}}}}}}
	raw, err := json.Marshal(dep)
	if err != nil {
		t.Fatal(err)
	}
	snap := &fleetv1.ResourceSnapshot{ObjectMeta: metav1.ObjectMeta{Name: "web-0", Labels: map[string]string{
		fleetv1.PlacementLabel: "web", fleetv1.SnapshotIndexLabel: "0", fleetv1.LatestSnapshotLabel: "true"}},
		Spec: fleetv1.ResourceSnapshotSpec{Placement: "web", Index: 0, Hash: "h", Resources: []runtime.RawExtension{{Raw: raw}}}}
	if err := hub.Create(ctx, snap); err != nil {
		t.Fatal(err)
	}
	for _, m := range members {
		b := &fleetv1.ResourceBinding{ObjectMeta: metav1.ObjectMeta{Name: "web-" + m},
			Spec: fleetv1.ResourceBindingSpec{Placement: "web", TargetCluster: m, State: fleetv1.BindingBound, ResourceSnapshotName: "web-0"}}
		if err := hub.Create(ctx, b); err != nil {
			t.Fatal(err)
		}
	}
}

// TestQueryAndCostRefuseBadFlags before asking anything.
func TestQueryAndCostRefuseBadFlags(t *testing.T) {
	hub := fakeHub()
	for args, want := range map[string]string{
		"query pods -A -n x":                                       "-A and -n cannot be used together",
		"query pods --phase Crashing":                              `invalid --phase: unknown pod phase "Crashing"`,
		"query nodes -l a=b=c":                                     "invalid --selector",
		"query nodes --member-timeout 0s":                          "--member-timeout must be positive",
		"query pods --concurrency 0":                               "--concurrency must be at least 1",
		"cost --outage-cost-per-hour 5":                            "--outage-cost-per-hour and --expected-outage-hours go together",
		"cost --model /nonexistent/cost.yaml":                      "no such file",
		"cost --expected-outage-hours -1 --outage-cost-per-hour 1": "cannot be negative",
	} {
		_, _, err := runCLI(hub, strings.Fields(args)...)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want %q", args, err, want)
		}
	}
	// An empty fleet answers with no rows and exit 0.
	out, _, err := runCLI(hub, "query", "nodes", "--summary")
	if err != nil || strings.TrimSpace(out) != "ClusterName   NodeCount   FailedPodCount" {
		t.Errorf("empty fleet: %v\n%s", err, out)
	}
}
