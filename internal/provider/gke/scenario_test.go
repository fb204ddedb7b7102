package gke_test

import (
	"slices"
	"testing"

	"cloud.google.com/go/container/apiv1/containerpb"

	fleetv1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/internal/provider/gke"
	"github.com/flotilla-dev/flotilla/internal/provider/gke/gketest"
	"github.com/flotilla-dev/flotilla/internal/upgrade/providertest"
)

// TestScenario runs the provider scenario (internal/upgrade/providertest)
// on a real hub against the fake GKE: three clusters in europe-west1, and
// one in asia-south1, where GKE does not offer 1.37 yet.
func TestScenario(t *testing.T) {
	fake := gketest.Start(t)
	fake.SetServerConfig(project, location, serverConfig())
	fake.SetServerConfig(project, "asia-south1", &containerpb.ServerConfig{
		ValidMasterVersions: []string{"1.36.3-gke.1500", "1.36.3-gke.1000"},
		ValidNodeVersions:   []string{"1.36.3-gke.1500", "1.36.3-gke.1000"},
	})
	var s providertest.Scenario
	for i, name := range providertest.MemberNames {
		c := gketest.Cluster{Member: name, Project: project, Location: location, Name: "cluster-" + name, Version: "1.36.3-gke.1000",
			Pools: []gketest.Pool{{Name: "default-pool", MaxSurge: 1}, {Name: "ubuntu-pool", ImageType: "UBUNTU_CONTAINERD"}}}
		if i == 3 {
			c.Location = "asia-south1"
			s.Unoffered = c.Spec()
		} else {
			s.Members[i] = c.Spec()
		}
		fake.AddCluster(c)
	}
	s.Provider = fleetv1.ProviderGKE
	s.Factory = gke.NewFactory(fake.ClientOptions()...)
	s.Cloud = fake
	// A Full GKE upgrade is one request for the control plane and one per
	// node pool: exactly those may reach GKE across the hub restart.
	s.RequestsPerUpgrade = 3
	s.From, s.Target = "v1.36.3", "v1.37.2"
	providertest.Run(t, s)
	// stage-1 went through the restart: the master once, then each pool once.
	want := []string{"UpdateMaster 1.37.2-gke.1200", "UpdateNodePool default-pool 1.37.2-gke.1200 COS_CONTAINERD", "UpdateNodePool ubuntu-pool 1.37.2-gke.1200 UBUNTU_CONTAINERD"}
	if got := fake.Requests("stage-1"); !slices.Equal(got, want) {
		t.Errorf("stage-1's requests = %q, want %q", got, want)
	}
	if got := fake.Requests("stage-2"); len(got) != 1 {
		t.Errorf("stage-2's requests = %q, want the one UpdateMaster that failed", got)
	}
}
