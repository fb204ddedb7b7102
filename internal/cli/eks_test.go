package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	fleetv1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/internal/provider/eks"
	"github.com/flotilla-dev/flotilla/internal/provider/eks/ekstest"
	"github.com/flotilla-dev/flotilla/internal/testenv"
	"github.com/flotilla-dev/flotilla/internal/upgrade"
)

// useFakeEKS points the EKS provider of this binary (the CLI's and the
// in-process hub's) at a test server speaking the EKS API, until the test
// ends.
func useFakeEKS(t *testing.T) *ekstest.Server {
	t.Helper()
	f := ekstest.New(t)
	saved := cloudFactories[fleetv1.ProviderEKS]
	cloudFactories[fleetv1.ProviderEKS] = eks.NewFactory(eks.Options{Endpoint: f.URL(), Credentials: f.Credentials()})
	t.Cleanup(func() { cloudFactories[fleetv1.ProviderEKS] = saved })
	return f
}

// flotilla runs one CLI command in-process against the hub and returns
// what it printed.
func flotilla(t *testing.T, hubKubeconfig string, args ...string) (string, error) {
	t.Helper()
	root := NewRootCommand()
	var out bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&out)
	root.SetArgs(append(args, "--hub-kubeconfig", hubKubeconfig))
	err := root.Execute()
	return out.String(), err
}

func mustFlotilla(t *testing.T, hubKubeconfig string, args ...string) string {
	t.Helper()
	out, err := flotilla(t, hubKubeconfig, args...)
	if err != nil {
		t.Fatalf("flotilla %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

// runHub runs `flotilla hub` in-process until the test ends.
func runHub(t *testing.T, hubKubeconfig string) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		root := NewRootCommand()
		root.SetArgs([]string{"hub", "--kubeconfig", hubKubeconfig, "--state-dir", t.TempDir(),
			"--metrics-bind-address", "0", "--health-probe-bind-address", "0", "--leader-elect=false", "--enable-placement=false"})
		done <- root.ExecuteContext(ctx)
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil && !errors.Is(err, context.Canceled) {
			t.Errorf("flotilla hub: %v", err)
		}
	})
}

// TestEKSWorkflowFromTheDocs runs the commands of docs/eks.md against a real
// hub and member API servers, the members' EKS side played by the ekstest
// server through the real SDK client: register two EKS clusters, show one
// as EKS reports it, create the strategy, plan, create and start the run,
// approve its gate, watch it end.
func TestEKSWorkflowFromTheDocs(t *testing.T) {
	env := testenv.Start(t, testenv.Options{CRDs: testenv.AllCRDs, Members: []string{"eks-dev", "eks-prod"}})
	fake := useFakeEKS(t)
	fake.AddCluster("us-west-2", "dev-1", "1.36", "apps")
	fake.AddCluster("us-east-1", "prod-1", "1.36", "apps", "system")
	hub := env.Hub.KubeconfigPath()

	// Without --kubeconfig: EKS cannot give the hub a lasting credential.
	if out, err := flotilla(t, hub, "member", "create", "-n", "eks-dev", "--provider", "eks", "--cluster", "dev-1", "--region", "us-west-2"); err == nil ||
		!strings.Contains(err.Error(), "--kubeconfig is required: provider EKS cannot fetch a member's credentials") {
		t.Fatalf("member create without --kubeconfig: %v\n%s", err, out)
	}
	mustFlotilla(t, hub, "member", "create", "-n", "eks-dev", "--provider", "eks", "--cluster", "dev-1", "--region", "us-west-2",
		"--kubeconfig", env.Member("eks-dev").KubeconfigPath(), "--update-group", "group-dev")
	mustFlotilla(t, hub, "member", "create", "-n", "eks-prod", "--provider", "eks", "--cluster", "prod-1", "--region", "us-east-1",
		"--kubeconfig", env.Member("eks-prod").KubeconfigPath(), "--update-group", "group-prod")

	show := mustFlotilla(t, hub, "member", "show", "eks-prod")
	t.Log(show)
	for _, want := range []string{
		"Provider:        EKS", "Provider view (EKS):", "Control plane: 1.36 (ACTIVE, platform eks.7)", "Upgrades to:   v1.37.2",
		"apps", "system", "linux (AL2023_x86_64_STANDARD)", "1.36.3-20261101", "maxUnavailable 1",
	} {
		if !strings.Contains(show, want) {
			t.Errorf("member show does not say %q:\n%s", want, show)
		}
	}
	var shown struct {
		Spec         fleetv1.MemberClusterSpec `json:"spec"`
		ProviderView *upgrade.MemberView       `json:"providerView"`
	}
	if err := json.Unmarshal([]byte(mustFlotilla(t, hub, "member", "show", "eks-prod", "-o", "json")), &shown); err != nil {
		t.Fatal(err)
	}
	if shown.Spec.Provider == nil || *shown.Spec.Provider.EKS != (fleetv1.EKSProvider{Region: "us-east-1", Cluster: "prod-1"}) {
		t.Errorf("spec.provider = %+v", shown.Spec.Provider)
	}
	if v := shown.ProviderView; v == nil || v.ControlPlaneVersion != "1.36" || len(v.Pools) != 2 || v.Pools[1].Name != "system" || v.Pools[1].Count != 3 {
		t.Errorf("providerView = %+v", shown.ProviderView)
	}

	runHub(t, hub)
	testenv.Eventually(t, time.Minute, "the hub probes both members", func() error {
		out := mustFlotilla(t, hub, "member", "list")
		if strings.Count(out, "v1.36") < 2 {
			return errors.New(out)
		}
		return nil
	})
	mustFlotilla(t, hub, "updatestrategy", "create", "-n", "staged-eks", "--stages", `[
  {"name": "stage-dev", "groups": [{"name": "group-dev"}], "afterGates": [{"type": "Approval", "displayName": "dev is healthy on 1.37"}]},
  {"name": "stage-prod", "groups": [{"name": "group-prod"}]}
]`)
	mustFlotilla(t, hub, "updaterun", "create", "-n", "eks-1-37", "--upgrade-type", "Full", "--kubernetes-version", "1.37", "--update-strategy-name", "staged-eks")
	plan := mustFlotilla(t, hub, "updaterun", "plan", "-n", "eks-1-37")
	t.Log(plan)
	if !strings.Contains(plan, "v1.37.2") {
		t.Errorf("the plan does not resolve 1.37 to EKS's v1.37.2:\n%s", plan)
	}
	mustFlotilla(t, hub, "updaterun", "start", "-n", "eks-1-37")

	var gate string
	testenv.Eventually(t, time.Minute, "the run waits at its approval gate", func() error {
		out := mustFlotilla(t, hub, "gate", "list", "--state", "Pending", "--update-run", "eks-1-37", "-o", "json")
		var gates []fleetv1.Gate
		if err := json.Unmarshal([]byte(out), &gates); err != nil || len(gates) == 0 {
			return errors.New("no pending gate yet: " + out)
		}
		gate = gates[0].Name
		return nil
	})
	if pending := mustFlotilla(t, hub, "gate", "list", "--state", "Pending", "--update-run", "eks-1-37"); !strings.Contains(pending, gate) || !strings.Contains(pending, "dev is healthy on 1.37") {
		t.Errorf("gate list:\n%s", pending)
	}
	if got := fake.UpgradeRequests("prod-1"); got != 0 {
		t.Fatalf("prod-1 got %d upgrade requests before the gate was approved", got)
	}
	if v := fake.Versions("dev-1"); !strings.HasPrefix(v.ControlPlane, "v1.37.2") {
		t.Errorf("dev-1 at the gate runs %+v", v)
	}
	mustFlotilla(t, hub, "gate", "approve", gate)
	watch := mustFlotilla(t, hub, "updaterun", "watch", "-n", "eks-1-37", "--timeout", "2m")
	t.Log(watch)
	if !strings.Contains(watch, "Completed") {
		t.Errorf("watch did not see the run complete:\n%s", watch)
	}
	show = mustFlotilla(t, hub, "updaterun", "show", "-n", "eks-1-37")
	t.Log(show)
	if !strings.Contains(show, "Succeeded") && !strings.Contains(show, "Completed") {
		t.Errorf("updaterun show:\n%s", show)
	}
	for cluster, want := range map[string]int{"dev-1": 2, "prod-1": 3} {
		if got := fake.UpgradeRequests(cluster); got != want {
			t.Errorf("%s got %d upgrade requests, want %d (the control plane, then each node group)", cluster, got, want)
		}
	}
	after := mustFlotilla(t, hub, "member", "show", "eks-prod")
	t.Log(after)
	if !strings.Contains(after, "Control plane: 1.37 (ACTIVE, platform eks.2)") || !strings.Contains(after, "1.37.2-20261115") {
		t.Errorf("member show after the run:\n%s", after)
	}
}
