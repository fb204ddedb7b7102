package eks_test

import (
	"testing"

	fleetv1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/internal/provider/eks/ekstest"
	"github.com/flotilla-dev/flotilla/internal/upgrade/providertest"
)

// TestScenario is the scenario every cloud provider passes, on a real hub
// API server, with the EKS side played by the ekstest server through the
// real SDK client. An EKS Full upgrade makes one request for the control
// plane and one per managed node group: stage-1, held across the hub
// restart, has one node group, so exactly two. stage-2 fails at its control
// plane, before its node groups; unoffered is in a region that does not
// offer 1.37.
func TestScenario(t *testing.T) {
	f := ekstest.New(t)
	f.AddCluster("us-west-2", "stage-1", "1.36", "apps")
	f.AddCluster("us-west-2", "stage-2", "1.36", "apps", "system")
	f.AddCluster("eu-west-1", "stage-3", "1.36", "apps")
	f.AddCluster("eu-south-2", "unoffered", "1.36", "apps")
	providertest.Run(t, providertest.Scenario{
		Provider:  fleetv1.ProviderEKS,
		Factory:   factory(f),
		Cloud:     f,
		Members:   [3]fleetv1.ProviderSpec{f.Spec("stage-1"), f.Spec("stage-2"), f.Spec("stage-3")},
		Unoffered: f.Spec("unoffered"),
		From:      "v1.36.3",
		Target:    "v1.37.2",
		// The control plane and the node group.
		RequestsPerUpgrade: 2,
	})
	for _, g := range []string{"apps", "system"} {
		if n := f.Nodegroup("stage-2", g); n.Version != "1.36" {
			t.Errorf("stage-2's node group %s moved to %s after its control plane failed", g, n.Version)
		}
	}
}
