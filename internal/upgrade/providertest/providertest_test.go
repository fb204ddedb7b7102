package providertest

import (
	"context"
	"sync"
	"testing"
	"time"

	fleetv1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/internal/testenv"
	"github.com/flotilla-dev/flotilla/internal/upgrade"
)

// toyCloud is the smallest cloud a provider can drive: one version per
// member, an upgrade that takes a second unless held.
type toyCloud struct {
	mu      sync.Mutex
	members map[string]*toyCluster
	target  string
}

type toyCluster struct {
	version, upgradingTo, failWith, failed string
	held                                   bool
	requests                               int
	since                                  time.Time
}

func (c *toyCloud) cluster(name string) *toyCluster {
	if c.members[name] == nil {
		c.members[name] = &toyCluster{version: "v1.36.3"}
	}
	return c.members[name]
}

func (c *toyCloud) Versions(member string) upgrade.Versions {
	c.mu.Lock()
	defer c.mu.Unlock()
	v := c.cluster(member).version
	return upgrade.Versions{ControlPlane: v, Kubelets: []string{v}}
}

func (c *toyCloud) FailUpgrade(member, message string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.cluster(member).failWith = message
}

func (c *toyCloud) Hold(member string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.cluster(member).held = true
}

func (c *toyCloud) Release(member string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.cluster(member).held = false
}

func (c *toyCloud) UpgradeRequests(member string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.cluster(member).requests
}

// toyProvider drives toyCloud the way a cloud provider must: Start asks
// for an upgrade only when the cloud is neither at the target nor on its
// way there.
type toyProvider struct{ cloud *toyCloud }

func (p toyProvider) AvailableVersions(_ context.Context, m upgrade.Member) ([]string, error) {
	if m.Name == MemberNames[3] {
		return []string{"v1.36.4"}, nil
	}
	return []string{"v1.36.4", p.cloud.target}, nil
}

func (toyProvider) NodeImages(context.Context, upgrade.Member, string) ([]upgrade.NodeImage, error) {
	return nil, nil
}

func (p toyProvider) Start(_ context.Context, _ string, m upgrade.Member, t upgrade.Target) error {
	p.cloud.mu.Lock()
	defer p.cloud.mu.Unlock()
	c := p.cloud.cluster(m.Name)
	if c.version == t.KubernetesVersion || c.upgradingTo == t.KubernetesVersion || c.failed != "" {
		return nil
	}
	c.requests++
	c.upgradingTo, c.since = t.KubernetesVersion, time.Now()
	return nil
}

func (p toyProvider) Progress(_ context.Context, _ string, m upgrade.Member, t upgrade.Target) (upgrade.Progress, error) {
	p.cloud.mu.Lock()
	defer p.cloud.mu.Unlock()
	c := p.cloud.cluster(m.Name)
	switch {
	case c.failed != "":
		return upgrade.Progress{Phase: upgrade.PhaseFailed, Message: c.failed}, nil
	case c.version == t.KubernetesVersion:
		return upgrade.Progress{Phase: upgrade.PhaseSucceeded}, nil
	case c.upgradingTo == "":
		return upgrade.Progress{Phase: upgrade.PhaseNotStarted}, nil
	case c.failWith != "":
		c.failed, c.upgradingTo = c.failWith, ""
		return upgrade.Progress{Phase: upgrade.PhaseFailed, Message: c.failed}, nil
	case !c.held && time.Since(c.since) > time.Second:
		c.version, c.upgradingTo = c.upgradingTo, ""
		return upgrade.Progress{Phase: upgrade.PhaseSucceeded}, nil
	}
	return upgrade.Progress{Phase: upgrade.PhaseRunning, Message: "upgrading", StartedAt: c.since}, nil
}

func (toyProvider) Cancel(context.Context, string, upgrade.Member) error { return nil }

// The scenario passes for a provider that keeps the contract.
func TestScenarioWithAToyCloud(t *testing.T) {
	testenv.RequireTools(t)
	cloud := &toyCloud{members: map[string]*toyCluster{}, target: "v1.37.2"}
	// The API accepts only provider types it knows: the toy borrows AKS's.
	spec := fleetv1.ProviderSpec{Type: fleetv1.ProviderAKS, AKS: &fleetv1.AKSProvider{
		ResourceID: "/subscriptions/toy/resourceGroups/toy/providers/Microsoft.ContainerService/managedClusters/toy"}}
	Run(t, Scenario{
		Provider: fleetv1.ProviderAKS,
		Factory: func(*fleetv1.ProviderSpec, upgrade.FactoryEnv) (upgrade.Provider, error) {
			return toyProvider{cloud: cloud}, nil
		},
		Cloud:     cloud,
		Members:   [3]fleetv1.ProviderSpec{spec, spec, spec},
		Unoffered: spec,
		From:      "v1.36.3",
		Target:    "v1.37.2",
	})
}
