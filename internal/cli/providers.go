package cli

import (
	"maps"

	fleetv1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/internal/localupgrade"
	"github.com/flotilla-dev/flotilla/internal/provider/aks"
	"github.com/flotilla-dev/flotilla/internal/provider/clusterapi"
	"github.com/flotilla-dev/flotilla/internal/provider/eks"
	"github.com/flotilla-dev/flotilla/internal/provider/gke"
	"github.com/flotilla-dev/flotilla/internal/toolchain"
	"github.com/flotilla-dev/flotilla/internal/upgrade"
)

// upgradeProviders are the upgrade providers this binary offers members:
// Exec, and Local for local fleets (it runs `executable local upgrade-member`,
// executable being this flotilla binary). The hub and the CLI's plans use
// the same set, so a plan resolves targets the way the hub will.
func upgradeProviders(executable string) map[fleetv1.ProviderType]upgrade.Factory {
	factories := map[fleetv1.ProviderType]upgrade.Factory{
		fleetv1.ProviderExec:  upgrade.Exec,
		fleetv1.ProviderLocal: localupgrade.ProviderFactory(executable, toolchain.Default().KubernetesVersions()),
	}
	maps.Copy(factories, cloudFactories)
	return factories
}

// cloudFactories are the providers that drive a cloud's (or a Cluster API
// management cluster's) own upgrade API, each with the credentials of the
// process that runs it: the hub's for upgrades, the CLI user's for plans
// and `member create|show`. Tests of the CLI point them at fake clouds.
var cloudFactories = map[fleetv1.ProviderType]upgrade.Factory{
	fleetv1.ProviderAKS:        aks.Factory,
	fleetv1.ProviderClusterAPI: clusterapi.Factory,
	fleetv1.ProviderEKS:        eks.Factory,
	fleetv1.ProviderGKE:        gke.NewFactory(),
}
