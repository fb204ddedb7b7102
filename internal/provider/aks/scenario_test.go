package aks_test

import (
	"testing"

	fleetv1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/internal/provider/aks/akstest"
	"github.com/flotilla-dev/flotilla/internal/testenv"
	"github.com/flotilla-dev/flotilla/internal/upgrade/providertest"
)

// TestScenario runs the scenario every cloud provider passes
// (internal/upgrade/providertest) with the AKS provider against the SDK's
// fake servers in front of the akstest model: a real hub API server and
// update-run controller, a hub restart while stage-1 is Upgrading in AKS,
// stage-2 Failed in AKS, and a member whose upgrade profile does not offer
// the target.
func TestScenario(t *testing.T) {
	testenv.RequireTools(t)
	cloud := akstest.New()
	var members [3]fleetv1.ProviderSpec
	for i, name := range providertest.MemberNames {
		cl := twoPools(name)
		if name == "unoffered" {
			cl.Offered = []string{"1.36.4"}
		}
		cloud.Add(cl)
		spec := member(name).Provider
		if i < 3 {
			members[i] = spec
		}
	}
	providertest.Run(t, providertest.Scenario{
		Provider:  fleetv1.ProviderAKS,
		Factory:   cloud.Factory(),
		Cloud:     cloud,
		Members:   members,
		Unoffered: member("unoffered").Provider,
		From:      "v1.36.3",
		Target:    "v1.37.2",
	})
}
