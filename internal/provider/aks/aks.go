// Package aks is the upgrade provider of Azure Kubernetes Service managed
// clusters: it drives AKS's own upgrade API through Azure Resource Manager
// with the Azure SDK for Go (armcontainerservice, azidentity) and reads the
// upgrade's progress back from the managed cluster, so a restarted hub
// continues where the cloud is.
package aks

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/arm"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/containerservice/armcontainerservice/v6"

	fleetv1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/internal/upgrade"
)

// Options configure the provider's access to Azure. The zero value uses
// DefaultAzureCredential (workload identity in a pod, the Azure CLI's login
// on a laptop) and the SDK's default client options.
type Options struct {
	// Credential authenticates to ARM; nil means DefaultAzureCredential,
	// built once, on first use.
	Credential azcore.TokenCredential
	// ClientOptions are the ARM clients' options (tests set Transport to
	// the SDK's fake servers).
	ClientOptions *arm.ClientOptions
}

// NewFactory is the factory of AKS providers. All the providers it builds
// share one credential and the pollers of the operations this process
// started (used only to read ARM's error message of a failed one).
func NewFactory(o Options) upgrade.Factory {
	s := &shared{opts: o, pollers: map[string][]lro{}}
	return func(spec *fleetv1.ProviderSpec, _ upgrade.FactoryEnv) (upgrade.Provider, error) {
		if spec.AKS == nil || spec.AKS.ResourceID == "" {
			return nil, errors.New("provider AKS needs spec.provider.aks.resourceID")
		}
		if _, err := parseID(spec.AKS.ResourceID); err != nil {
			return nil, err
		}
		return &Provider{shared: s}, nil
	}
}

// Factory is the AKS factory with DefaultAzureCredential.
var Factory = NewFactory(Options{})

// shared is what the providers of one factory share.
type shared struct {
	opts    Options
	once    sync.Once
	cred    azcore.TokenCredential
	credErr error

	mu sync.Mutex
	// pollers are the long-running operations this process started, by
	// operation id. They are a convenience for error messages only: the
	// cloud's resource state decides everything, so a restarted hub, which
	// has none, behaves the same.
	pollers map[string][]lro
}

// lro is one long-running operation: a cluster PUT or a pool's node image
// upgrade.
type lro struct {
	what string
	poll func(ctx context.Context) (done bool, err error)
	done bool
	err  error
}

func (s *shared) credential() (azcore.TokenCredential, error) {
	if s.opts.Credential != nil {
		return s.opts.Credential, nil
	}
	s.once.Do(func() {
		s.cred, s.credErr = azidentity.NewDefaultAzureCredential(nil)
	})
	if s.credErr != nil {
		return nil, fmt.Errorf("azure credentials (DefaultAzureCredential: workload identity, environment, or `az login`): %w", s.credErr)
	}
	return s.cred, nil
}

// Provider upgrades one AKS managed cluster.
type Provider struct {
	*shared
}

var (
	_ upgrade.Provider          = (*Provider)(nil)
	_ upgrade.Describer         = (*Provider)(nil)
	_ upgrade.KubeconfigFetcher = (*Provider)(nil)
)

// clusterID is a managed cluster's place in ARM.
type clusterID struct {
	subscription, resourceGroup, name string
}

func (c clusterID) String() string {
	return fmt.Sprintf("/subscriptions/%s/resourceGroups/%s/providers/Microsoft.ContainerService/managedClusters/%s", c.subscription, c.resourceGroup, c.name)
}

func parseID(id string) (clusterID, error) {
	r, err := arm.ParseResourceID(id)
	if err != nil {
		return clusterID{}, fmt.Errorf("invalid AKS resource ID %q: %w", id, err)
	}
	if !strings.EqualFold(r.ResourceType.String(), "Microsoft.ContainerService/managedClusters") {
		return clusterID{}, fmt.Errorf("invalid AKS resource ID %q: it names a %s, not a Microsoft.ContainerService/managedClusters", id, r.ResourceType)
	}
	return clusterID{subscription: r.SubscriptionID, resourceGroup: r.ResourceGroupName, name: r.Name}, nil
}

// clients are the ARM clients of one managed cluster.
type clients struct {
	id           clusterID
	clusters     *armcontainerservice.ManagedClustersClient
	pools        *armcontainerservice.AgentPoolsClient
	maintenances *armcontainerservice.MaintenanceConfigurationsClient
}

func (s *shared) clients(m upgrade.Member) (*clients, error) {
	if m.Provider.AKS == nil {
		return nil, errors.New("member has no spec.provider.aks")
	}
	id, err := parseID(m.Provider.AKS.ResourceID)
	if err != nil {
		return nil, err
	}
	cred, err := s.credential()
	if err != nil {
		return nil, err
	}
	f, err := armcontainerservice.NewClientFactory(id.subscription, cred, s.opts.ClientOptions)
	if err != nil {
		return nil, err
	}
	return &clients{id: id, clusters: f.NewManagedClustersClient(), pools: f.NewAgentPoolsClient(), maintenances: f.NewMaintenanceConfigurationsClient()}, nil
}

// get reads the managed cluster.
func (c *clients) get(ctx context.Context) (*armcontainerservice.ManagedCluster, error) {
	resp, err := c.clusters.Get(ctx, c.id.resourceGroup, c.id.name, nil)
	if err != nil {
		return nil, fmt.Errorf("reading AKS cluster %s: %w", c.id.name, err)
	}
	return &resp.ManagedCluster, nil
}

// latestImages reads each pool's newest node image from its upgrade profile.
func (c *clients) latestImages(ctx context.Context, pools []pool) (map[string]string, error) {
	out := map[string]string{}
	for _, p := range pools {
		resp, err := c.pools.GetUpgradeProfile(ctx, c.id.resourceGroup, c.id.name, p.Name, nil)
		if err != nil {
			return nil, fmt.Errorf("reading the upgrade profile of pool %s: %w", p.Name, err)
		}
		if pr := resp.Properties; pr != nil && pr.LatestNodeImageVersion != nil {
			out[p.Name] = *pr.LatestNodeImageVersion
		}
	}
	return out, nil
}

// read is the cluster as the pure functions see it, with its pools' latest
// images.
func (c *clients) read(ctx context.Context) (*armcontainerservice.ManagedCluster, cluster, error) {
	mc, err := c.get(ctx)
	if err != nil {
		return nil, cluster{}, err
	}
	cl := clusterOf(mc)
	latest, err := c.latestImages(ctx, cl.Pools)
	if err != nil {
		return nil, cluster{}, err
	}
	for i := range cl.Pools {
		cl.Pools[i].LatestImage = latest[cl.Pools[i].Name]
	}
	return mc, cl, nil
}

// AvailableVersions are the versions in the managed cluster's upgrade
// profile (controlPlaneProfile.upgrades), and the version it runs.
func (p *Provider) AvailableVersions(ctx context.Context, m upgrade.Member) ([]string, error) {
	c, err := p.clients(m)
	if err != nil {
		return nil, err
	}
	resp, err := c.clusters.GetUpgradeProfile(ctx, c.id.resourceGroup, c.id.name, nil)
	if err != nil {
		return nil, fmt.Errorf("reading the upgrade profile of AKS cluster %s: %w", c.id.name, err)
	}
	return upgradeVersions(resp.Properties), nil
}

// NodeImages are the pools' latest node images, per OS: AKS upgrades a
// pool's node image only to its latest, whatever the Kubernetes version.
func (p *Provider) NodeImages(ctx context.Context, m upgrade.Member, _ string) ([]upgrade.NodeImage, error) {
	c, err := p.clients(m)
	if err != nil {
		return nil, err
	}
	_, cl, err := c.read(ctx)
	if err != nil {
		return nil, err
	}
	return offeredImages(cl.Pools), nil
}

// Start sends the request the cluster's state calls for (see nextRequest):
// nothing when it is at the target or already on its way there.
func (p *Provider) Start(ctx context.Context, operationID string, m upgrade.Member, t upgrade.Target) error {
	c, err := p.clients(m)
	if err != nil {
		return err
	}
	mc, cl, err := c.read(ctx)
	if err != nil {
		return err
	}
	p.mu.Lock()
	_, sent := p.pollers[operationID]
	p.mu.Unlock()
	req, err := nextRequest(cl, t, sent)
	if err != nil {
		return err
	}
	var started []lro
	switch req.Kind {
	case requestNone:
		return nil
	case requestCluster:
		p.remember(operationID, nil)
		body := clusterUpdate(mc, req)
		// If-Match: a change to the cluster between the read and this
		// write fails the PUT (HTTP 412) instead of being overwritten; the
		// next reconcile reads again.
		var opts *armcontainerservice.ManagedClustersClientBeginCreateOrUpdateOptions
		if mc.ETag != nil {
			opts = &armcontainerservice.ManagedClustersClientBeginCreateOrUpdateOptions{IfMatch: mc.ETag}
		}
		poller, err := c.clusters.BeginCreateOrUpdate(ctx, c.id.resourceGroup, c.id.name, body, opts)
		if err != nil {
			return fmt.Errorf("asking AKS to upgrade %s to %s: %w", c.id.name, req.Version, armError(err))
		}
		started = append(started, lro{what: "cluster " + c.id.name, poll: pollFunc(poller)})
	case requestNodeImage:
		p.remember(operationID, nil)
		for _, name := range req.Pools {
			poller, err := c.pools.BeginUpgradeNodeImageVersion(ctx, c.id.resourceGroup, c.id.name, name, nil)
			if err != nil {
				return fmt.Errorf("asking AKS to upgrade the node image of pool %s: %w", name, armError(err))
			}
			started = append(started, lro{what: "pool " + name, poll: pollFunc(poller)})
		}
	}
	p.remember(operationID, started)
	return nil
}

// remember records that this process sent operationID's requests, before
// they go (a request that ARM refuses is still an answer for this
// operation), with their pollers once they have them.
func (p *Provider) remember(operationID string, started []lro) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.pollers[operationID] = append(p.pollers[operationID], started...)
}

func pollFunc[T any](poller *runtime.Poller[T]) func(context.Context) (bool, error) {
	return func(ctx context.Context) (bool, error) {
		if !poller.Done() {
			resp, err := poller.Poll(ctx)
			if resp != nil {
				_ = resp.Body.Close() // the poller has read it
			}
			if err != nil {
				// ARM answered the status request with an error: the
				// operation's end, as far as this poller can tell.
				var re *azcore.ResponseError
				return poller.Done() || errors.As(err, &re), err
			}
		}
		if !poller.Done() {
			return false, nil
		}
		_, err := poller.Result(ctx)
		return true, err
	}
}

// Progress reads the upgrade's state from the managed cluster: its
// provisioningState, currentKubernetesVersion and its pools'
// currentOrchestratorVersion and nodeImageVersion. It also polls the
// operations this process started, once each, for ARM's error message.
func (p *Provider) Progress(ctx context.Context, operationID string, m upgrade.Member, t upgrade.Target) (upgrade.Progress, error) {
	c, err := p.clients(m)
	if err != nil {
		return upgrade.Progress{}, err
	}
	_, cl, err := c.read(ctx)
	if err != nil {
		return upgrade.Progress{}, err
	}
	pr := progressOf(cl, t)
	tries := 1
	if pr.Phase == upgrade.PhaseFailed {
		tries = 3
	}
	why, known := p.operationError(ctx, operationID, tries)
	if pr.Phase == upgrade.PhaseFailed {
		switch {
		case why != "":
			pr.Message += ": " + why
		case !known:
			pr.Message += ": " + noErrorHere(c.id)
		}
	}
	return pr, nil
}

// operationError polls the operations this process started for
// operationID (up to tries times each while they run) and returns ARM's
// errors of those that failed; known is false when this process started
// none (it was restarted since, or another replica started them).
func (p *Provider) operationError(ctx context.Context, operationID string, tries int) (why string, known bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	ops := p.pollers[operationID]
	var msgs []string
	for i := range ops {
		op := &ops[i]
		for n := 0; !op.done && n < tries; n++ {
			op.done, op.err = op.poll(ctx)
		}
		if op.done && op.err != nil {
			msgs = append(msgs, op.what+": "+armMessage(op.err))
		}
	}
	return strings.Join(msgs, "; "), len(ops) > 0
}

func noErrorHere(id clusterID) string {
	return fmt.Sprintf("this hub did not start the operation, so ARM's error is not at hand; see `az aks show --ids %s` and the cluster's activity log", id)
}

// Cancel aborts the latest operation of the cluster, or of the pools
// upgrading their node images (ARM's abort of the latest operation).
func (p *Provider) Cancel(ctx context.Context, _ string, m upgrade.Member) error {
	c, err := p.clients(m)
	if err != nil {
		return err
	}
	mc, err := c.get(ctx)
	if err != nil {
		return err
	}
	cl := clusterOf(mc)
	if busy(cl.State) {
		if _, err := c.clusters.BeginAbortLatestOperation(ctx, c.id.resourceGroup, c.id.name, nil); err != nil {
			return fmt.Errorf("aborting the latest operation of AKS cluster %s: %w", c.id.name, armError(err))
		}
		return nil
	}
	for _, pl := range cl.Pools {
		if busy(pl.State) {
			if _, err := c.pools.BeginAbortLatestOperation(ctx, c.id.resourceGroup, c.id.name, pl.Name, nil); err != nil {
				return fmt.Errorf("aborting the latest operation of pool %s: %w", pl.Name, armError(err))
			}
		}
	}
	return nil
}

// Describe is the cluster as AKS reports it, with its upgrade profile and
// planned maintenance configurations.
func (p *Provider) Describe(ctx context.Context, m upgrade.Member) (upgrade.MemberView, error) {
	c, err := p.clients(m)
	if err != nil {
		return upgrade.MemberView{}, err
	}
	_, cl, err := c.read(ctx)
	if err != nil {
		return upgrade.MemberView{}, err
	}
	profile, err := c.clusters.GetUpgradeProfile(ctx, c.id.resourceGroup, c.id.name, nil)
	if err != nil {
		return upgrade.MemberView{}, fmt.Errorf("reading the upgrade profile of AKS cluster %s: %w", c.id.name, err)
	}
	var configs []*armcontainerservice.MaintenanceConfiguration
	pager := c.maintenances.NewListByManagedClusterPager(c.id.resourceGroup, c.id.name, nil)
	for pager.More() {
		page, err := pager.NextPage(ctx)
		if err != nil {
			return upgrade.MemberView{}, fmt.Errorf("listing the maintenance configurations of AKS cluster %s: %w", c.id.name, err)
		}
		configs = append(configs, page.Value...)
	}
	return viewOf(cl, profile.Properties, configs), nil
}

// FetchKubeconfig lists the cluster's user credential (or, with admin, its
// admin credential) through ARM.
func (p *Provider) FetchKubeconfig(ctx context.Context, m upgrade.Member, admin bool) ([]byte, error) {
	c, err := p.clients(m)
	if err != nil {
		return nil, err
	}
	var results []*armcontainerservice.CredentialResult
	if admin {
		resp, err := c.clusters.ListClusterAdminCredentials(ctx, c.id.resourceGroup, c.id.name, nil)
		if err != nil {
			return nil, fmt.Errorf("listing the admin credential of AKS cluster %s: %w", c.id.name, armError(err))
		}
		results = resp.Kubeconfigs
	} else {
		resp, err := c.clusters.ListClusterUserCredentials(ctx, c.id.resourceGroup, c.id.name, nil)
		if err != nil {
			return nil, fmt.Errorf("listing the user credential of AKS cluster %s: %w", c.id.name, armError(err))
		}
		results = resp.Kubeconfigs
	}
	for _, r := range results {
		if r != nil && len(r.Value) > 0 {
			return r.Value, nil
		}
	}
	return nil, fmt.Errorf("AKS returned no kubeconfig for cluster %s", c.id.name)
}
