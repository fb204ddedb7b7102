package cli

import (
	"slices"
	"testing"

	fleetv1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/internal/upgrade"
)

func TestTheHubOffersTheExecLocalAndCloudProviders(t *testing.T) {
	got := upgrade.NewProviders("", upgradeProviders("/opt/flotilla")).Types()
	if want := []fleetv1.ProviderType{fleetv1.ProviderAKS, fleetv1.ProviderClusterAPI, fleetv1.ProviderEKS, fleetv1.ProviderExec, fleetv1.ProviderGKE, fleetv1.ProviderLocal}; !slices.Equal(got, want) {
		t.Fatalf("provider types = %v, want %v", got, want)
	}
}
