package cli

import (
	"encoding/json"
	"strings"
	"testing"

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
}
