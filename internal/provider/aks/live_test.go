package aks_test

import (
	"context"
	"os"
	"testing"
	"time"

	"k8s.io/client-go/tools/clientcmd"

	fleetv1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/internal/provider/aks"
	"github.com/flotilla-dev/flotilla/internal/upgrade"
)

// TestLiveAKS reads a real managed cluster, read-only: its view (upgrade
// profile, pools, planned maintenance), the versions and node images it is
// offered, and its user credential (its admin credential too with
// FLOTILLA_LIVE_AKS_ADMIN=1). It changes nothing. Run it with
//
//	az login   # or any DefaultAzureCredential source
//	FLOTILLA_LIVE_AKS=/subscriptions/SUB/resourceGroups/RG/providers/Microsoft.ContainerService/managedClusters/NAME \
//	  go test -count=1 -run TestLiveAKS -v ./internal/provider/aks/
func TestLiveAKS(t *testing.T) {
	id := os.Getenv("FLOTILLA_LIVE_AKS")
	if id == "" {
		t.Skip("FLOTILLA_LIVE_AKS is not set: set it to a managed cluster's resource ID to read it through ARM (read-only; docs/aks.md)")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	spec := fleetv1.ProviderSpec{Type: fleetv1.ProviderAKS, AKS: &fleetv1.AKSProvider{ResourceID: id}}
	p, err := aks.Factory(&spec, upgrade.FactoryEnv{})
	if err != nil {
		t.Fatal(err)
	}
	m := upgrade.Member{Name: "live", Provider: spec}
	view, err := p.(upgrade.Describer).Describe(ctx, m)
	if err != nil {
		t.Fatalf("Describe: %v", err)
	}
	t.Logf("view: %+v", view)
	if view.ControlPlaneVersion == "" || len(view.Pools) == 0 {
		t.Errorf("the view lacks a control plane version or pools: %+v", view)
	}
	versions, err := p.AvailableVersions(ctx, m)
	if err != nil {
		t.Fatalf("AvailableVersions: %v", err)
	}
	t.Logf("available versions: %v", versions)
	images, err := p.NodeImages(ctx, m, view.ControlPlaneVersion)
	if err != nil {
		t.Fatalf("NodeImages: %v", err)
	}
	t.Logf("node images: %v", images)
	admins := []bool{false}
	if os.Getenv("FLOTILLA_LIVE_AKS_ADMIN") == "1" {
		admins = append(admins, true)
	}
	for _, admin := range admins {
		data, err := p.(upgrade.KubeconfigFetcher).FetchKubeconfig(ctx, m, admin)
		if err != nil {
			t.Fatalf("FetchKubeconfig(admin=%v): %v", admin, err)
		}
		cfg, err := clientcmd.Load(data)
		if err != nil {
			t.Fatalf("the fetched kubeconfig (admin=%v) does not parse: %v", admin, err)
		}
		for name, u := range cfg.AuthInfos {
			if u.Exec != nil {
				t.Logf("user %s runs exec plugin %s (an AAD cluster's user credential): the hub needs --allow-exec and member create --allow-exec-credential, or use --admin-credential", name, u.Exec.Command)
			}
		}
	}
}
