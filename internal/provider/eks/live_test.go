package eks_test

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	fleetv1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/internal/provider/eks"
	"github.com/flotilla-dev/flotilla/internal/upgrade"
)

// TestLiveEKS reads a real EKS cluster through the provider with the
// default credential chain: FLOTILLA_LIVE_EKS=REGION/CLUSTER, e.g.
// us-west-2/prod-1. It only reads (DescribeCluster, DescribeClusterVersions,
// ListNodegroups, DescribeNodegroup, ListUpdates, DescribeUpdate): it never
// calls Start. The credentials need eks:Describe* and eks:List* on the
// cluster.
func TestLiveEKS(t *testing.T) {
	where := os.Getenv("FLOTILLA_LIVE_EKS")
	if where == "" {
		t.Skip("live EKS test skipped: set FLOTILLA_LIVE_EKS=REGION/CLUSTER (read-only; AWS credentials from the default chain)")
	}
	region, cluster, ok := strings.Cut(where, "/")
	if !ok || region == "" || cluster == "" {
		t.Fatalf("FLOTILLA_LIVE_EKS=%q: want REGION/CLUSTER", where)
	}
	spec := fleetv1.ProviderSpec{Type: fleetv1.ProviderEKS, EKS: &fleetv1.EKSProvider{Region: region, Cluster: cluster}}
	p, err := eks.Factory(&spec, upgrade.FactoryEnv{})
	if err != nil {
		t.Fatal(err)
	}
	m := upgrade.Member{Name: cluster, Provider: spec}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	view, err := p.(upgrade.Describer).Describe(ctx, m)
	if err != nil {
		t.Fatalf("Describe: %v", err)
	}
	t.Logf("control plane %s (%s); operation %q; upgrades to %v", view.ControlPlaneVersion, view.State, view.Operation, view.UpgradableVersions)
	for _, pool := range view.Pools {
		t.Logf("node group %s: %s, %d nodes, %s, release %s, %s, %s", pool.Name, pool.OS, pool.Count, pool.KubernetesVersion, pool.NodeImageVersion, pool.MaxSurge, pool.State)
	}
	available, err := p.AvailableVersions(ctx, m)
	if err != nil {
		t.Fatalf("AvailableVersions: %v", err)
	}
	t.Logf("available versions: %v", available)
	if len(available) == 0 {
		t.Errorf("EKS offers %s/%s no version, not even its own", region, cluster)
	}
	images, err := p.NodeImages(ctx, m, view.ControlPlaneVersion)
	if err != nil {
		t.Fatalf("NodeImages: %v", err)
	}
	t.Logf("node images on %s: %v", view.ControlPlaneVersion, images)
	// Progress only reads: where a Full upgrade to the cluster's own
	// version stands.
	pr, err := p.Progress(ctx, "live_"+cluster, m, upgrade.Target{Type: fleetv1.UpgradeFull, KubernetesVersion: view.ControlPlaneVersion})
	if err != nil {
		t.Fatalf("Progress: %v", err)
	}
	t.Logf("a Full upgrade to %s: %s: %s", view.ControlPlaneVersion, pr.Phase, pr.Message)
}
