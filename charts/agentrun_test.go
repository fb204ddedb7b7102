package charts_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	placementv1 "github.com/flotilla-dev/flotilla/api/placement/v1"
	"github.com/flotilla-dev/flotilla/internal/testenv"
)

// TestAgentRunsUnderTheChartServiceAccount runs `flotilla agent` on a member
// API server of its own with the agent chart's in-cluster member kubeconfig
// and a token of the chart's ServiceAccount, so with exactly the chart's
// default RBAC, and the hub's identity `flotilla member join` gave it. A
// placement of a namespace, a ConfigMap in it and a ClusterRole (granting a
// verb the agent does not hold, so placing it needs escalate) is applied,
// a change made by hand on the member is reverted, and deleting the
// placement removes everything from the member. Any "forbidden" in the
// agent's log fails the test. The hub runs as a `flotilla hub` process with
// admin rights: its own chart identity is TestHubRunsUnderTheChartServiceAccount's.
func TestAgentRunsUnderTheChartServiceAccount(t *testing.T) {
	if testing.Short() {
		t.Skip("needs real API servers (not in -short mode)")
	}
	kubectl := kubectlBin(t)
	env := testenv.Start(t, testenv.Options{CRDs: testenv.AllCRDs, Members: []string{"m1"}})
	hub, member := env.Hub, env.Member("m1")
	dir := t.TempDir()
	bin := buildFlotilla(t, dir)
	onHub := func(stdin []byte, args ...string) string {
		t.Helper()
		out, err := runKubectl(kubectl, hub.KubeconfigPath(), stdin, args...)
		if err != nil {
			t.Fatalf("kubectl %v on the hub: %v\n%s", args, err, out)
		}
		return out
	}
	onMember := func(stdin []byte, args ...string) string {
		t.Helper()
		out, err := runKubectl(kubectl, member.KubeconfigPath(), stdin, args...)
		if err != nil {
			t.Fatalf("kubectl %v on the member: %v\n%s", args, err, out)
		}
		return out
	}

	healthAddr := freeAddress(t)
	startProcess(t, "hub", dir, bin, "hub", "--kubeconfig", hub.KubeconfigPath(), "--state-dir", filepath.Join(dir, "hub-state"),
		"--metrics-bind-address", "0", "--health-probe-bind-address", healthAddr, "--leader-elect=false")
	waitReady(t, healthAddr)

	// The join, as an operator runs it: the member's admin kubeconfig is
	// checked and stays here; the agent gets a hub kubeconfig and the
	// chart's values.
	hubKubeconfig, values := filepath.Join(dir, "m1.agent-hub.kubeconfig"), filepath.Join(dir, "m1.agent-values.yaml")
	if out, err := run(t, nil, bin, "--hub-kubeconfig", hub.KubeconfigPath(), "member", "join", "-n", "m1",
		"--member-kubeconfig", member.KubeconfigPath(), "--labels", "env=smoke",
		"--agent-kubeconfig-out", hubKubeconfig, "--agent-values-out", values); err != nil {
		t.Fatalf("flotilla member join: %v\n%s", err, out)
	}

	// The agent chart's RBAC on the member, rendered from join's values,
	// and the kubeconfig its pod would get, with a token of its
	// ServiceAccount.
	chartArgs := []string{"--values", values}
	rendered := mustRender(t, agentChart, chartArgs...)
	var rbac []any
	serviceAccount := ""
	for _, o := range rendered {
		switch o.GetKind() {
		case "ServiceAccount":
			serviceAccount = o.GetName()
			rbac = append(rbac, o.Object)
		case "ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding":
			rbac = append(rbac, o.Object)
		}
	}
	if serviceAccount == "" {
		t.Fatalf("the agent chart renders no ServiceAccount: %v", names(rendered))
	}
	list, err := json.Marshal(map[string]any{"apiVersion": "v1", "kind": "List", "items": rbac})
	if err != nil {
		t.Fatal(err)
	}
	onMember(nil, "create", "namespace", fleetNS)
	onMember(list, "apply", "--server-side", "-f", "-")
	podDir := filepath.Join(dir, "pod")
	if err := os.Mkdir(podDir, 0o700); err != nil {
		t.Fatal(err)
	}
	memberKubeconfig := podKubeconfig(t, podDir, agentChart, member.State().Server, member.Config.CAData,
		serviceAccountToken(t, member.Kube, fleetNS, serviceAccount), chartArgs...)

	agentLog := startProcess(t, "agent", dir, bin, "agent", "--member-name", "m1", "--hub-kubeconfig", hubKubeconfig,
		"--member-kubeconfig", memberKubeconfig, "--state-dir", filepath.Join(dir, "agent-state"),
		"--heartbeat-period", "2s", "--health-address", "0")
	onHub(nil, "wait", "--for=condition=AgentConnected", "membercluster/m1", "--timeout=60s")

	// What is placed: a namespace with a ConfigMap, and a ClusterRole that
	// grants update, which the agent itself may not do.
	onHub([]byte(`apiVersion: v1
kind: Namespace
metadata: {name: smoke-app}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: settings, namespace: smoke-app}
data: {mode: smoke}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: smoke-settings-editor}
rules:
- apiGroups: [""]
  resources: [configmaps]
  verbs: [get, update]
---
apiVersion: placement.kubernetes-fleet.io/v1
kind: ClusterResourcePlacement
metadata: {name: smoke}
spec:
  resourceSelectors:
  - {group: "", version: v1, kind: Namespace, name: smoke-app}
  - {group: rbac.authorization.k8s.io, version: v1, kind: ClusterRole, name: smoke-settings-editor}
  policy: {placementType: PickAll}
`), "apply", "-f", "-")
	testenv.Eventually(t, 90*time.Second, "the placement is applied and available on m1", func() error {
		var p placementv1.ClusterResourcePlacement
		if err := hub.Client.Get(context.Background(), client.ObjectKey{Name: "smoke"}, &p); err != nil {
			return err
		}
		for _, c := range []string{placementv1.ClusterResourcePlacementAppliedConditionType, placementv1.ClusterResourcePlacementAvailableConditionType} {
			cond := meta.FindStatusCondition(p.Status.Conditions, c)
			if cond == nil || cond.Status != metav1.ConditionTrue || cond.ObservedGeneration != p.Generation {
				data, _ := json.Marshal(p.Status)
				return fmt.Errorf("%s not true: %s", c, data)
			}
		}
		i := slices.IndexFunc(p.Status.PlacementStatuses, func(s placementv1.ResourcePlacementStatus) bool { return s.ClusterName == "m1" })
		if i < 0 {
			return fmt.Errorf("no status for m1")
		}
		s := p.Status.PlacementStatuses[i]
		if !meta.IsStatusConditionTrue(s.Conditions, placementv1.ResourcesAppliedConditionType) ||
			!meta.IsStatusConditionTrue(s.Conditions, placementv1.ResourcesAvailableConditionType) {
			data, _ := json.Marshal(s)
			return fmt.Errorf("m1 not applied and available: %s", data)
		}
		return nil
	})
	if got := onMember(nil, "-n", "smoke-app", "get", "configmap", "settings", "-o", "jsonpath={.data.mode}"); got != "smoke" {
		t.Fatalf("the placed ConfigMap on the member has mode %q, want smoke", got)
	}
	roleYAML := onMember(nil, "get", "clusterrole", "smoke-settings-editor", "-o", "yaml")
	var role struct {
		Rules []struct{ Verbs []string } `json:"rules"`
	}
	if err := yaml.Unmarshal([]byte(roleYAML), &role); err != nil {
		t.Fatal(err)
	}
	if len(role.Rules) != 1 || !slices.Contains(role.Rules[0].Verbs, "update") {
		t.Fatalf("the placed ClusterRole on the member is not as written:\n%s", roleYAML)
	}

	// Drift: a change by hand on the member is put back.
	onMember(nil, "-n", "smoke-app", "patch", "configmap", "settings", "--type=merge", "-p", `{"data":{"mode":"drifted"}}`)
	testenv.Eventually(t, 60*time.Second, "the agent reverts the changed ConfigMap", func() error {
		cm, err := member.Kube.CoreV1().ConfigMaps("smoke-app").Get(context.Background(), "settings", metav1.GetOptions{})
		if err != nil {
			return err
		}
		if cm.Data["mode"] != "smoke" {
			return fmt.Errorf("mode is %q", cm.Data["mode"])
		}
		return nil
	})

	// Deleting the placement removes what it placed.
	onHub(nil, "delete", "clusterresourceplacement", "smoke", "--wait=false")
	testenv.Eventually(t, 90*time.Second, "the agent removes the placed objects from the member", func() error {
		ctx := context.Background()
		var left []string
		if _, err := member.Kube.CoreV1().ConfigMaps("smoke-app").Get(ctx, "settings", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
			left = append(left, fmt.Sprintf("configmap smoke-app/settings (%v)", err))
		}
		if _, err := member.Kube.RbacV1().ClusterRoles().Get(ctx, "smoke-settings-editor", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
			left = append(left, fmt.Sprintf("clusterrole smoke-settings-editor (%v)", err))
		}
		if _, err := member.Kube.CoreV1().Namespaces().Get(ctx, "smoke-app", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
			left = append(left, fmt.Sprintf("namespace smoke-app (%v)", err))
		}
		if len(left) > 0 {
			return fmt.Errorf("still on the member: %s", strings.Join(left, ", "))
		}
		return nil
	})

	if strings.Contains(strings.ToLower(agentLog.String()), "forbidden") {
		t.Errorf("the agent was refused something under the chart's ServiceAccount:\n%s", grepFold(agentLog.String(), "forbidden"))
	}
}

// grepFold keeps the lines that hold substr in any case.
func grepFold(text, substr string) string {
	var out []string
	for _, line := range strings.Split(text, "\n") {
		if strings.Contains(strings.ToLower(line), strings.ToLower(substr)) {
			out = append(out, line)
		}
	}
	return strings.Join(out, "\n")
}
