package gke_test

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	fleetv1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/internal/provider/gke"
	"github.com/flotilla-dev/flotilla/internal/upgrade"
)

// TestLiveGKE reads a real cluster through GKE's API with application
// default credentials, and changes nothing: Describe, AvailableVersions and
// NodeImages of the version it runs. Opt in with
// FLOTILLA_LIVE_GKE=PROJECT/LOCATION/CLUSTER (docs/gke.md); the caller needs
// container.clusters.get and container.operations.list on the project
// (roles/container.clusterViewer).
func TestLiveGKE(t *testing.T) {
	target := os.Getenv("FLOTILLA_LIVE_GKE")
	if target == "" {
		t.Skip("FLOTILLA_LIVE_GKE=PROJECT/LOCATION/CLUSTER is not set: the live GKE test needs a real cluster and application default credentials")
	}
	parts := strings.Split(target, "/")
	if len(parts) != 3 || parts[0] == "" || parts[1] == "" || parts[2] == "" {
		t.Fatalf("FLOTILLA_LIVE_GKE=%q: want PROJECT/LOCATION/CLUSTER", target)
	}
	spec := fleetv1.ProviderSpec{Type: fleetv1.ProviderGKE, GKE: &fleetv1.GKEProvider{Project: parts[0], Location: parts[1], Cluster: parts[2]}}
	p, err := gke.NewFactory()(&spec, upgrade.FactoryEnv{})
	if err != nil {
		t.Fatal(err)
	}
	m := upgrade.Member{Name: parts[2], Provider: spec}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	view, err := p.(upgrade.Describer).Describe(ctx, m)
	if err != nil {
		t.Fatalf("Describe: %v", err)
	}
	t.Logf("GKE's view: %+v", view)
	if view.ControlPlaneVersion == "" || len(view.Pools) == 0 {
		t.Errorf("the view has no control-plane version or no pools: %+v", view)
	}
	versions, err := p.AvailableVersions(ctx, m)
	if err != nil {
		t.Fatalf("AvailableVersions: %v", err)
	}
	t.Logf("available versions: %v", versions)
	if len(versions) == 0 || versions[0] != view.ControlPlaneVersion {
		t.Errorf("AvailableVersions = %v, want the version the control plane runs (%s) first", versions, view.ControlPlaneVersion)
	}
	images, err := p.NodeImages(ctx, m, view.ControlPlaneVersion)
	if err != nil {
		t.Fatalf("NodeImages: %v", err)
	}
	t.Logf("node images for %s: %v", view.ControlPlaneVersion, images)
}
