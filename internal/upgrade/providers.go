package upgrade

import (
	"fmt"
	"path/filepath"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	fleetv1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/internal/localcluster"
)

var listAll = metav1.ListOptions{}

// Providers picks the provider a member's spec names.
type Providers struct {
	// StateDir keeps upgrade operations across hub restarts.
	StateDir string
	// Executable is the flotilla binary, for the Local provider.
	Executable string
	// LocalVersions are the Kubernetes versions local fleets can run.
	LocalVersions []string
}

// For returns the provider for a member.
func (p Providers) For(spec *fleetv1.ProviderSpec) (Provider, error) {
	if spec == nil {
		return nil, fmt.Errorf("the member has no upgrade provider (spec.provider)")
	}
	ops := Operations{Dir: filepath.Join(p.StateDir, "operations")}
	switch spec.Type {
	case fleetv1.ProviderExec:
		if spec.Exec == nil {
			return nil, fmt.Errorf("provider Exec needs spec.provider.exec")
		}
		return &execProvider{
			ops: ops,
			command: func(m Member, _ Target) ([]string, time.Duration, error) {
				e := m.Provider.Exec
				return e.Command, time.Duration(e.TimeoutSeconds) * time.Second, nil
			},
			available: func(m Member) []string { return m.Provider.Exec.AvailableVersions },
		}, nil
	case fleetv1.ProviderLocal:
		if spec.Local == nil {
			return nil, fmt.Errorf("provider Local needs spec.provider.local")
		}
		versions := p.LocalVersions
		return &execProvider{
			ops: ops,
			command: func(m Member, t Target) ([]string, time.Duration, error) {
				return []string{p.Executable, "local", "upgrade-member",
					"--cluster-dir", m.Provider.Local.ClusterDir,
					"--upgrade-type", string(t.Type), "--kubernetes-version", t.KubernetesVersion,
					"--node-image", t.NodeImage,
				}, 10 * time.Minute, nil
			},
			available:   func(Member) []string { return versions },
			latestImage: func(_ Member, v string) string { return LocalNodeImage(v) },
		}, nil
	}
	return nil, fmt.Errorf("unknown upgrade provider %q", spec.Type)
}

// LocalNodeImage is the newest node image of a local fleet for a Kubernetes
// version: the one new local nodes start on, as a new cloud cluster starts on
// its provider's latest image.
func LocalNodeImage(kubernetesVersion string) string {
	return localcluster.NodeImageFor(kubernetesVersion)
}
