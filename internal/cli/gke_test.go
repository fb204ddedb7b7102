package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"cloud.google.com/go/container/apiv1/containerpb"
	"sigs.k8s.io/controller-runtime/pkg/client"

	fleetv1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/internal/fleetscheme"
	"github.com/flotilla-dev/flotilla/internal/provider/gke"
	"github.com/flotilla-dev/flotilla/internal/provider/gke/gketest"
	"github.com/flotilla-dev/flotilla/internal/testenv"
	"github.com/flotilla-dev/flotilla/internal/upgrade"
)

// useCloud points the CLI's provider of typ at a fake cloud until the test
// ends.
func useCloud(t *testing.T, typ fleetv1.ProviderType, f upgrade.Factory) {
	t.Helper()
	prev, had := cloudFactories[typ]
	cloudFactories[typ] = f
	t.Cleanup(func() {
		if had {
			cloudFactories[typ] = prev
		} else {
			delete(cloudFactories, typ)
		}
	})
}

// TestMemberCreateAndShowWithTheGKEProvider runs docs/gke.md's `member
// create --provider gke` against a real hub and member API server, and
// `member show`, whose provider view comes from GKE's API (the in-process
// gRPC server, through the real client).
func TestMemberCreateAndShowWithTheGKEProvider(t *testing.T) {
	env := testenv.Start(t, testenv.Options{CRDs: testenv.AllCRDs, Members: []string{"gke-prod-eu-1"}})
	fake := gketest.Start(t)
	fake.SetServerConfig("my-project", "europe-west1", &containerpb.ServerConfig{
		ValidMasterVersions: []string{"1.37.2-gke.1200", "1.36.3-gke.1000"},
		ValidNodeVersions:   []string{"1.37.2-gke.1200", "1.36.3-gke.1000"},
	})
	fake.AddCluster(gketest.Cluster{
		Member: "gke-prod-eu-1", Project: "my-project", Location: "europe-west1", Name: "prod-eu-1", Version: "1.36.3-gke.1000",
		Pools: []gketest.Pool{{Name: "default-pool", MaxSurge: 1}},
		MaintenancePolicy: &containerpb.MaintenancePolicy{Window: &containerpb.MaintenanceWindow{Policy: &containerpb.MaintenanceWindow_DailyMaintenanceWindow{
			DailyMaintenanceWindow: &containerpb.DailyMaintenanceWindow{StartTime: "03:00", Duration: "PT4H0M0S"},
		}}},
	})
	useCloud(t, fleetv1.ProviderGKE, gke.NewFactory(fake.ClientOptions()...))
	hub, err := client.NewWithWatch(env.Hub.Config, client.Options{Scheme: fleetscheme.New()})
	if err != nil {
		t.Fatal(err)
	}
	kubeconfig := env.Member("gke-prod-eu-1").KubeconfigPath()

	// Without --kubeconfig: GKE fetches no credentials (docs/gke.md says why).
	_, _, err = runCLI(hub, "member", "create", "gke-prod-eu-1", "--provider", "gke", "--project", "my-project", "--location", "europe-west1", "--cluster", "prod-eu-1")
	if err == nil || !strings.Contains(err.Error(), "--kubeconfig is required: provider GKE cannot fetch") {
		t.Fatalf("member create without --kubeconfig = %v", err)
	}

	out, _, err := runCLI(hub, "member", "create", "gke-prod-eu-1", "--provider", "gke", "--project", "my-project", "--location", "europe-west1", "--cluster", "prod-eu-1",
		"--kubeconfig", kubeconfig, "--update-group", "group-prod-eu")
	if err != nil {
		t.Fatalf("member create: %v\n%s", err, out)
	}
	mc := &fleetv1.MemberCluster{}
	if err := env.Hub.Client.Get(t.Context(), client.ObjectKey{Name: "gke-prod-eu-1"}, mc); err != nil {
		t.Fatal(err)
	}
	if p := mc.Spec.Provider; p == nil || p.Type != fleetv1.ProviderGKE || *p.GKE != (fleetv1.GKEProvider{Project: "my-project", Location: "europe-west1", Cluster: "prod-eu-1"}) {
		t.Fatalf("provider = %+v", mc.Spec.Provider)
	}

	out, _, err = runCLI(hub, "member", "show", "gke-prod-eu-1")
	if err != nil {
		t.Fatalf("member show: %v", err)
	}
	for _, want := range []string{
		"Provider view (GKE):",
		"Control plane: 1.36.3-gke.1000 (RUNNING)",
		"Upgrades to:   1.37.2-gke.1200",
		"default-pool",
		"cos (COS_CONTAINERD)",
		"1 (maxUnavailable 0)",
		"Maintenance window dailyMaintenanceWindow: daily from 03:00 UTC for PT4H0M0S",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("member show lacks %q:\n%s", want, out)
		}
	}

	out, _, err = runCLI(hub, "member", "show", "gke-prod-eu-1", "-o", "json")
	if err != nil {
		t.Fatalf("member show -o json: %v", err)
	}
	var shown struct {
		ProviderView upgrade.MemberView `json:"providerView"`
	}
	if err := json.Unmarshal([]byte(out), &shown); err != nil {
		t.Fatalf("member show -o json: %v\n%s", err, out)
	}
	if v := shown.ProviderView; v.ControlPlaneVersion != "1.36.3-gke.1000" || len(v.Pools) != 1 || v.Pools[0].KubernetesVersion != "1.36.3-gke.1000" {
		t.Errorf("providerView = %+v", v)
	}
	if n := fake.UpgradeRequests("gke-prod-eu-1"); n != 0 {
		t.Errorf("create and show sent %d upgrade requests", n)
	}

	// Agent mode: the hub keeps no kubeconfig of the member; the GKE
	// provider needs none.
	fake.AddCluster(gketest.Cluster{Member: "gke-prod-eu-2", Project: "my-project", Location: "europe-west1", Name: "prod-eu-2", Version: "1.36.3-gke.1000",
		Pools: []gketest.Pool{{Name: "default-pool"}}})
	dir := t.TempDir()
	out, _, err = runCLI(hub, "--hub-kubeconfig", env.Hub.KubeconfigPath(), "member", "join", "gke-prod-eu-2", "--member-kubeconfig", kubeconfig, "--update-group", "group-prod-eu",
		"--agent-kubeconfig-out", filepath.Join(dir, "gke-prod-eu-2.agent-hub.kubeconfig"), "--agent-values-out", filepath.Join(dir, "gke-prod-eu-2.agent-values.yaml"))
	if err != nil {
		t.Fatalf("member join: %v\n%s", err, out)
	}
	if _, _, err = runCLI(hub, "member", "update", "gke-prod-eu-2", "--provider", "gke", "--project", "my-project", "--location", "europe-west1", "--cluster", "prod-eu-2"); err != nil {
		t.Fatalf("member update --provider gke: %v", err)
	}
	out, _, err = runCLI(hub, "member", "show", "gke-prod-eu-2")
	if err != nil || !strings.Contains(out, "Access:          Agent") || !strings.Contains(out, "Provider view (GKE):") {
		t.Errorf("member show of the joined member: %v\n%s", err, out)
	}
}

// seedStages is the seed's `az fleet updatestrategy create --stages`, as
// docs/gke.md gives it.
const seedStages = `[
    {"name": "stage-internal", "groups": [{"name": "group-dev-clusters"}], "afterStageWaitInSeconds": 14400},
    {"name": "stage-canary-prod", "groups": [{"name": "group-prod-canary-eu"}, {"name": "group-prod-canary-us"}], "afterStageWaitInSeconds": 86400},
    {"name": "stage-primary-final", "groups": [{"name": "group-prod-primary-eu"}, {"name": "group-prod-primary-us"}]}
  ]`

// gatedStages is docs/gke.md's manual progression: an approval after each
// of the first two stages.
const gatedStages = `[
    {"name": "stage-internal", "groups": [{"name": "group-dev-clusters"}], "afterGates": [{"type": "Approval"}]},
    {"name": "stage-canary-prod", "groups": [{"name": "group-prod-canary-eu"}, {"name": "group-prod-canary-us"}], "afterGates": [{"type": "Approval"}]},
    {"name": "stage-primary-final", "groups": [{"name": "group-prod-primary-eu"}, {"name": "group-prod-primary-us"}]}
  ]`

// gkeMembers are docs/gke.md's six clusters: member, GKE cluster, location,
// update group.
var gkeMembers = [][4]string{
	{"gke-dev-1", "dev-1", "europe-west1", "group-dev-clusters"},
	{"gke-dev-2", "dev-2", "us-central1", "group-dev-clusters"},
	{"gke-canary-eu", "canary-eu", "europe-west1", "group-prod-canary-eu"},
	{"gke-canary-us", "canary-us", "us-central1", "group-prod-canary-us"},
	{"gke-primary-eu", "primary-eu", "europe-west1", "group-prod-primary-eu"},
	{"gke-primary-us", "primary-us", "us-central1", "group-prod-primary-us"},
}

// runCLIOutput runs flotilla with args against hub until ctx ends, and
// returns what it printed on stdout and stderr.
func runCLIOutput(ctx context.Context, hub client.WithWatch, args ...string) (string, error) {
	out, errOut, err := runCLIContext(ctx, hub, args...)
	return out + errOut, err
}

// TestTheGKEPageWorkflow runs every command of docs/gke.md, in its order:
// six GKE members, the seed's strategy, a Full run to 1.37 watched to its
// end with the seed's waits skipped, then a gated NodeImageOnly run whose
// gates are approved, all on a real hub running `flotilla hub`, with GKE
// played by the in-process gRPC server through the real client.
func TestTheGKEPageWorkflow(t *testing.T) {
	env := testenv.Start(t, testenv.Options{CRDs: testenv.AllCRDs, Members: []string{"gke-api"}})
	fake := gketest.Start(t)
	for _, loc := range []string{"europe-west1", "us-central1"} {
		fake.SetServerConfig("my-project", loc, &containerpb.ServerConfig{
			ValidMasterVersions: []string{"1.37.2-gke.1200", "1.37.2-gke.1100", "1.36.3-gke.1000"},
			ValidNodeVersions:   []string{"1.37.2-gke.1200", "1.37.2-gke.1100", "1.36.3-gke.1000"},
		})
	}
	for _, m := range gkeMembers {
		fake.AddCluster(gketest.Cluster{Member: m[0], Project: "my-project", Location: m[2], Name: m[1], Version: "1.36.3-gke.1000",
			Pools: []gketest.Pool{{Name: "default-pool", MaxSurge: 1}}})
	}
	fake.SetDonePolls(2)
	useCloud(t, fleetv1.ProviderGKE, gke.NewFactory(fake.ClientOptions()...))
	hub, err := client.NewWithWatch(env.Hub.Config, client.Options{Scheme: fleetscheme.New()})
	if err != nil {
		t.Fatal(err)
	}
	run := func(args ...string) string {
		t.Helper()
		out, _, err := runCLI(hub, args...)
		if err != nil {
			t.Fatalf("flotilla %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return out
	}

	// Each cluster's kubeconfig (the members share one API server here).
	kubeconfig := env.Member("gke-api").KubeconfigPath()
	for _, m := range gkeMembers {
		run("member", "create", m[0], "--provider", "gke", "--project", "my-project", "--location", m[2], "--cluster", m[1],
			"--kubeconfig", kubeconfig, "--update-group", m[3])
	}

	ctx, stop := context.WithCancel(context.Background())
	hubDone := make(chan struct{})
	go func() {
		out, err := runCLIOutput(ctx, hub, "hub", "--kubeconfig", env.Hub.KubeconfigPath(), "--state-dir", t.TempDir(),
			"--leader-elect=false", "--metrics-bind-address", "0", "--health-probe-bind-address", "0", "--enable-placement=false")
		if err != nil {
			t.Logf("flotilla hub: %v\n%s", err, out)
		}
		close(hubDone)
	}()
	t.Cleanup(func() { stop(); <-hubDone })

	run("updatestrategy", "create", "-n", "staged-k8s-1-29", "--stages", seedStages)
	run("updaterun", "create", "-n", "k8s-1-37-rollout", "--upgrade-type", "Full", "--kubernetes-version", "1.37", "--update-strategy-name", "staged-k8s-1-29")
	testenv.Eventually(t, time.Minute, "the plan resolves 1.37 through GKE", func() error {
		out, _, err := runCLI(hub, "updaterun", "plan", "-n", "k8s-1-37-rollout")
		if err != nil {
			return err
		}
		if !strings.Contains(out, "1.37.2-gke.1200") {
			return fmt.Errorf("the plan names no 1.37.2-gke.1200:\n%s", out)
		}
		return nil
	})
	t.Logf("updaterun plan:\n%s", run("updaterun", "plan", "-n", "k8s-1-37-rollout"))
	run("updaterun", "start", "-n", "k8s-1-37-rollout")
	run("updaterun", "skip", "-n", "k8s-1-37-rollout", "--targets", "AfterStageWait:stage-internal", "AfterStageWait:stage-canary-prod")
	watchCtx, cancelWatch := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancelWatch()
	out, err := runCLIOutput(watchCtx, hub, "updaterun", "watch", "-n", "k8s-1-37-rollout")
	if err != nil {
		t.Fatalf("updaterun watch: %v\n%s", err, out)
	}
	run("updaterun", "wait", "-n", "k8s-1-37-rollout", "--timeout", "1m")
	for _, m := range gkeMembers {
		if got, want := fake.Requests(m[0]), []string{"UpdateMaster 1.37.2-gke.1200", "UpdateNodePool default-pool 1.37.2-gke.1200 COS_CONTAINERD"}; !slices.Equal(got, want) {
			t.Errorf("%s got requests %q, want %q", m[0], got, want)
		}
	}
	t.Logf("member show:\n%s", run("member", "show", "gke-primary-us"))

	// Manual progression: approval gates after the first two stages.
	run("updaterun", "create", "-n", "k8s-1-37-node-images", "--upgrade-type", "NodeImageOnly", "--stages", gatedStages)
	run("updaterun", "start", "-n", "k8s-1-37-node-images")
	for range 2 {
		var gate string
		testenv.Eventually(t, 2*time.Minute, "a Pending gate", func() error {
			out, _, err := runCLI(hub, "gate", "list", "--state", "Pending", "-o", "json")
			if err != nil {
				return err
			}
			var gates []fleetv1.Gate
			if err := json.Unmarshal([]byte(out), &gates); err != nil {
				return fmt.Errorf("%w: %s", err, out)
			}
			if len(gates) == 0 {
				return fmt.Errorf("no Pending gate")
			}
			gate = gates[0].Name
			return nil
		})
		run("gate", "list", "--state", "Pending")
		run("gate", "approve", gate)
	}
	run("updaterun", "wait", "-n", "k8s-1-37-node-images", "--timeout", "2m")
	out = run("updaterun", "show", "-n", "k8s-1-37-node-images")
	t.Logf("updaterun show:\n%s", out)
}
