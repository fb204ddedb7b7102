package cli

import (
	"encoding/json"
	"os"
	"os/exec"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	fleetv1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/internal/enrollment"
	"github.com/flotilla-dev/flotilla/internal/fleetscheme"
	"github.com/flotilla-dev/flotilla/internal/testenv"
)

// `flotilla preflight` and `updaterun plan` find a 1.36 member's use of a
// beta API that 1.37 removes (an object kubectl applied through it) and
// refuse that member in the plan; the member beside it is clean.
func TestPreflightAndThePlanFindAMembersUseOfARemovedAPI(t *testing.T) {
	env := testenv.Start(t, testenv.Options{CRDs: testenv.AllCRDs, Members: []string{"dirty", "clean"},
		MemberVersion: "1.36", MemberRuntimeConfig: "networking.k8s.io/v1beta1=true"})
	ctx := t.Context()
	kubectl := testenv.CachedTool(t, "kubectl", "KUBECTL_VERSION")
	apply := exec.Command(kubectl, "--kubeconfig", env.Member("dirty").KubeconfigPath(), "apply", "-f", "-")
	apply.Stdin = strings.NewReader("apiVersion: networking.k8s.io/v1beta1\nkind: ServiceCIDR\nmetadata:\n  name: legacy-cidr\nspec:\n  cidrs: [\"10.250.4.0/24\"]\n")
	apply.Env = append(os.Environ(), "HOME="+t.TempDir())
	if out, err := apply.CombinedOutput(); err != nil {
		t.Fatalf("kubectl apply: %v\n%s", err, out)
	}
	hub, err := client.NewWithWatch(env.Hub.Config, client.Options{Scheme: fleetscheme.New()})
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"dirty", "clean"} {
		kubeconfig, err := env.Member(name).Kubeconfig()
		if err != nil {
			t.Fatal(err)
		}
		m, err := enrollment.Enroll(ctx, hub, enrollment.Request{Name: name, Kubeconfig: kubeconfig, UpdateGroup: "prod",
			Provider: &fleetv1.ProviderSpec{Type: fleetv1.ProviderExec, Exec: &fleetv1.ExecProvider{Command: []string{"true"}}}})
		if err != nil {
			t.Fatal(err)
		}
		// No hub runs here: play its probe.
		m.Status.KubernetesVersion = "v1.36.3"
		if err := hub.Status().Update(ctx, m); err != nil {
			t.Fatal(err)
		}
	}

	out, _, err := runCLI(hub, "preflight", "--kubernetes-version", "1.37")
	if err == nil || !strings.Contains(err.Error(), "1 of 2 members use APIs v1.37 removes") {
		t.Errorf("flotilla preflight: error %v, want one naming the member with findings", err)
	}
	for _, want := range []string{
		"dirty", "LastApplied", "ServiceCIDR", "legacy-cidr", "networking.k8s.io/v1beta1", "1.37", "networking.k8s.io/v1",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("flotilla preflight prints no %q:\n%s", want, out)
		}
	}
	if !strings.Contains(out, "clean") || !strings.Contains(out, "none") {
		t.Errorf("flotilla preflight does not say the clean member is clean:\n%s", out)
	}
	out, _, err = runCLI(hub, "preflight", "--kubernetes-version", "1.37", "-l", "missing=label", "-o", "json")
	if err != nil || strings.TrimSpace(out) != "[]" {
		t.Errorf("a selector that matches nothing: %q, %v", out, err)
	}
	out, _, _ = runCLI(hub, "preflight", "--kubernetes-version", "1.37", "-o", "json")
	var results []memberPreflight
	if err := json.Unmarshal([]byte(out), &results); err != nil || len(results) != 2 || results[0].Member != "clean" || len(results[0].Findings) != 0 || len(results[1].Findings) == 0 {
		t.Errorf("-o json: %v\n%s", err, out)
	}

	run := &fleetv1.UpdateRun{
		ObjectMeta: metav1.ObjectMeta{Name: "to-137"},
		Spec: fleetv1.UpdateRunSpec{
			Strategy:             &fleetv1.UpdateStrategySpec{Stages: []fleetv1.UpdateStage{{Name: "prod", Groups: []fleetv1.UpdateGroup{{Name: "prod"}}}}},
			ManagedClusterUpdate: fleetv1.ManagedClusterUpdate{Upgrade: fleetv1.UpgradeSpec{Type: fleetv1.UpgradeControlPlaneOnly, KubernetesVersion: "v1.37.2"}},
		},
	}
	if err := hub.Create(ctx, run); err != nil {
		t.Fatal(err)
	}
	out, _, err = runCLI(hub, "updaterun", "plan", "to-137")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"dirty", "Refuse: refused by the pre-flight scan: 2 use(s) of APIs the target removes: ServiceCIDR legacy-cidr networking.k8s.io/v1beta1 (removed in 1.37, use networking.k8s.io/v1; LastApplied); servicecidrs networking.k8s.io/v1beta1 (removed in 1.37, use networking.k8s.io/v1; Requests counted since the API server started)",
		"pre-flight: no use of an API v1.37.2 removes",
		"1 to upgrade", "1 refused",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("the plan has no %q:\n%s", want, out)
		}
	}
	out, _, err = runCLI(hub, "updaterun", "plan", "to-137", "-o", "json")
	if err != nil {
		t.Fatal(err)
	}
	var plan struct {
		Stages             []json.RawMessage
		NodeImageSelection fleetv1.NodeImageSelection `json:"nodeImageSelection"`
		Preflight          map[string]string          `json:"preflight"`
	}
	if err := json.Unmarshal([]byte(out), &plan); err != nil || len(plan.Stages) != 1 || plan.NodeImageSelection.Type != fleetv1.NodeImageLatest ||
		plan.Preflight["clean"] != "pre-flight: no use of an API v1.37.2 removes" {
		t.Errorf("plan -o json: %v\n%s", err, out)
	}
}
