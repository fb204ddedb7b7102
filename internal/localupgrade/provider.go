package localupgrade

import (
	"errors"
	"slices"
	"time"

	fleetv1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/internal/localcluster"
	"github.com/flotilla-dev/flotilla/internal/toolchain"
	"github.com/flotilla-dev/flotilla/internal/upgrade"
)

// commandTimeout bounds one `flotilla local upgrade-member`: a control-plane
// restart and a node roll take seconds, so ten minutes means it is stuck.
const commandTimeout = 10 * time.Minute

// ProviderFactory is the factory of the Local upgrade provider, which the
// composition root registers for fleetv1.ProviderLocal. The provider runs
// `executable local upgrade-member` for each member (executable is the
// flotilla binary); members can reach the Kubernetes versions local fleets
// run (versions), with the node images of the local catalogue
// (localcluster.NodeImages).
func ProviderFactory(executable string, versions []string) upgrade.Factory {
	versions = slices.Clone(versions)
	return func(spec *fleetv1.ProviderSpec, env upgrade.FactoryEnv) (upgrade.Provider, error) {
		if spec.Local == nil {
			return nil, errors.New("provider Local needs spec.provider.local")
		}
		return &upgrade.CommandProvider{
			Operations: env.Operations,
			// The command finds the Kubernetes binaries where this process
			// does: its HOME is its own directory.
			Env: []string{toolchain.CacheEnv + "=" + toolchain.DefaultCacheDir()},
			Command: func(m upgrade.Member, t upgrade.Target) ([]string, time.Duration, error) {
				return []string{executable, "local", "upgrade-member",
					"--cluster-dir", m.Provider.Local.ClusterDir,
					"--upgrade-type", string(t.Type), "--kubernetes-version", t.KubernetesVersion,
					"--node-image", t.NodeImage,
				}, commandTimeout, nil
			},
			Available: func(upgrade.Member) []string { return versions },
			Images:    localNodeImages,
		}, nil
	}
}

// localNodeImages is the local catalogue as a provider offers it: local
// nodes are all linux.
func localNodeImages(_ upgrade.Member, kubernetesVersion string) []upgrade.NodeImage {
	var out []upgrade.NodeImage
	for _, img := range localcluster.NodeImages(kubernetesVersion) {
		out = append(out, upgrade.NodeImage{OS: "linux", Version: img})
	}
	return out
}
