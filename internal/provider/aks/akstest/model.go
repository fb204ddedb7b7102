// Package akstest is a small model of AKS managed clusters behind the Azure
// SDK's own fake servers (armcontainerservice/v6/fake), for tests of the
// AKS provider and of the CLI with it. The model keeps each cluster's
// versions, pools and provisioningState, and moves an upgrade through
// Upgrading to Succeeded or Failed over a couple of reads, as ARM reports
// them. It is a test double, not Azure: see docs/aks.md for what it cannot
// show.
package akstest

import (
	"context"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/arm"
	azfake "github.com/Azure/azure-sdk-for-go/sdk/azcore/fake"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/containerservice/armcontainerservice/v6"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/containerservice/armcontainerservice/v6/fake"

	"github.com/flotilla-dev/flotilla/internal/provider/aks"
	"github.com/flotilla-dev/flotilla/internal/upgrade"
)

// Cluster is one modelled managed cluster. Versions are as ARM spells them
// (1.29.2, no v).
type Cluster struct {
	Name, ResourceGroup string
	// Version is kubernetesVersion (what was asked), Current the version
	// the control plane runs.
	Version, Current string
	// Offered are the versions of the cluster's upgrade profile.
	Offered []string
	// State is provisioningState.
	State string
	Pools []*Pool
	// Maintenance are the cluster's planned maintenance configurations.
	Maintenance []*armcontainerservice.MaintenanceConfiguration
	// UserKubeconfig and AdminKubeconfig are what ListClusterUserCredentials
	// and ListClusterAdminCredentials return.
	UserKubeconfig, AdminKubeconfig []byte

	// ETag changes with every accepted write; a PUT whose If-Match names
	// another is refused with 412, as ARM does.
	ETag     int
	op       *operation
	failNext string
	held     bool
	requests int
	aborts   int
	// LastIfMatch is the If-Match header of the last PUT.
	LastIfMatch string
	// LastPut is the body of the last PUT of the cluster.
	LastPut *armcontainerservice.ManagedCluster
}

// Pool is one modelled agent pool.
type Pool struct {
	Name, OSSKU, OSType string
	Count               int32
	Version, Current    string
	Image, Latest       string
	MaxSurge            string
	State               string
}

// operation is an upgrade in progress.
type operation struct {
	reads     int
	started   time.Time
	nodeImage bool
	fail      string
}

// Cloud is the model: its clusters by name, and the fake ARM in front of it.
type Cloud struct {
	// Polls is how many reads of a cluster an upgrade takes (default 2: the
	// first moves the control plane, the second the pools).
	Polls int
	// UpgradeTime is the least time an upgrade takes (default 0).
	UpgradeTime time.Duration

	mu       sync.Mutex
	clusters map[string]*Cluster
}

// New is a model of clusters.
func New(clusters ...*Cluster) *Cloud {
	c := &Cloud{Polls: 2, clusters: map[string]*Cluster{}}
	for _, cl := range clusters {
		c.Add(cl)
	}
	return c
}

// Add adds a cluster, with defaults: Succeeded, Current = Version.
func (c *Cloud) Add(cl *Cluster) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if cl.State == "" {
		cl.State = "Succeeded"
	}
	if cl.Current == "" {
		cl.Current = cl.Version
	}
	if cl.ResourceGroup == "" {
		cl.ResourceGroup = "rg"
	}
	for _, p := range cl.Pools {
		if p.State == "" {
			p.State = "Succeeded"
		}
		if p.Current == "" {
			p.Current = p.Version
		}
		if p.OSType == "" {
			p.OSType = "Linux"
		}
	}
	c.clusters[strings.ToLower(cl.Name)] = cl
}

// ResourceID is the resource ID of a modelled cluster in subscription "sub".
func ResourceID(rg, name string) string {
	return fmt.Sprintf("/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/%s/providers/Microsoft.ContainerService/managedClusters/%s", rg, name)
}

// Cluster returns a modelled cluster; callers hold no lock, so read it
// only between calls (use With for a consistent view).
func (c *Cloud) Cluster(name string) *Cluster {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.clusters[strings.ToLower(name)]
}

// With runs f on a cluster under the model's lock.
func (c *Cloud) With(name string, f func(*Cluster)) {
	c.mu.Lock()
	defer c.mu.Unlock()
	f(c.clusters[strings.ToLower(name)])
}

// Factory is the AKS provider factory talking to this model through the
// SDK's fake server transport, with the SDK's fake token credential.
func (c *Cloud) Factory() upgrade.Factory {
	return aks.NewFactory(aks.Options{Credential: &azfake.TokenCredential{}, ClientOptions: c.ClientOptions()})
}

// ClientOptions are ARM client options whose transport is the fake.
func (c *Cloud) ClientOptions() *arm.ClientOptions {
	return &arm.ClientOptions{ClientOptions: azcore.ClientOptions{Transport: &transport{cloud: c, fakes: map[string]policy.Transporter{}}}}
}

var (
	clusterPath = regexp.MustCompile(`(?i)/managedClusters/([^/]+)`)
	putCluster  = regexp.MustCompile(`(?i)/managedClusters/[^/]+$`)
	postNodeImg = regexp.MustCompile(`(?i)/managedClusters/[^/]+/agentPools/[^/]+/upgradeNodeImageVersion$`)
)

// transport is the fake server transport of each cluster, in front of
// which it counts the upgrade requests as they reach "ARM". The fake
// server's poller tracker answers a repeated request for a path whose
// operation has not been polled to its end, and keeps a failed one's path
// for good, without asking the model; so only the wire sees every request,
// and a cluster gets a fresh fake server when a new operation starts on it
// while the model says none runs.
type transport struct {
	cloud *Cloud
	mu    sync.Mutex
	fakes map[string]policy.Transporter
}

func (t *transport) Do(req *http.Request) (*http.Response, error) {
	name := ""
	if m := clusterPath.FindStringSubmatch(req.URL.Path); m != nil {
		name = strings.ToLower(m[1])
	}
	upgradeRequest := (req.Method == http.MethodPut && putCluster.MatchString(req.URL.Path)) ||
		(req.Method == http.MethodPost && postNodeImg.MatchString(req.URL.Path))
	fresh := false
	if upgradeRequest {
		t.cloud.mu.Lock()
		if cl := t.cloud.clusters[name]; cl != nil {
			cl.requests++
			fresh = cl.op == nil
		}
		t.cloud.mu.Unlock()
	}
	t.mu.Lock()
	next := t.fakes[name]
	if next == nil || fresh {
		next = fake.NewServerFactoryTransport(t.cloud.servers())
		t.fakes[name] = next
	}
	t.mu.Unlock()
	return detached(next, req)
}

// detached sends req through next without its cancellation, and gives up
// waiting when req's context ends. The fake servers of armcontainerservice
// v6.6.0 answer from a goroutine that sends on a channel the caller closes
// when its context ends: a request cancelled in flight (a hub stopping
// mid-reconcile) panics the whole test binary with "send on closed
// channel". Given a context that is never cancelled, they always finish.
func detached(next policy.Transporter, req *http.Request) (*http.Response, error) {
	type result struct {
		resp *http.Response
		err  error
	}
	ctx := req.Context()
	done := make(chan result, 1)
	go func() {
		resp, err := next.Do(req.WithContext(context.WithoutCancel(ctx))) //nolint:bodyclose // the caller gets it, or it is closed below once the caller gave up
		done <- result{resp, err}
	}()
	select {
	case <-ctx.Done():
		go func() {
			if r := <-done; r.resp != nil {
				_ = r.resp.Body.Close() // nobody reads it any more
			}
		}()
		return nil, ctx.Err()
	case r := <-done:
		return r.resp, r.err
	}
}

func (c *Cloud) lookup(name string) (*Cluster, azfake.ErrorResponder) {
	var errResp azfake.ErrorResponder
	cl := c.clusters[strings.ToLower(name)]
	if cl == nil {
		errResp.SetResponseError(http.StatusNotFound, "ResourceNotFound")
	}
	return cl, errResp
}

// advance moves an upgrade on by one read: the control plane first, then
// the pools, then Succeeded (or Failed, as FailUpgrade asked).
func (c *Cloud) advance(cl *Cluster) {
	op := cl.op
	if op == nil || cl.held {
		return
	}
	op.reads++
	if !op.nodeImage && op.reads >= 1 && op.fail == "" {
		cl.Current = cl.Version
	}
	polls := c.Polls
	if polls < 1 {
		polls = 1
	}
	if op.reads < polls || time.Since(op.started) < c.UpgradeTime {
		return
	}
	cl.op = nil
	if op.fail != "" {
		if op.nodeImage {
			for _, p := range cl.Pools {
				if p.State == "UpgradingNodeImageVersion" {
					p.State = "Failed"
				}
			}
			return
		}
		cl.State = "Failed"
		for _, p := range cl.Pools {
			if p.State == "Upgrading" {
				p.State = "Failed"
			}
		}
		return
	}
	cl.State = "Succeeded"
	cl.Current = cl.Version
	for _, p := range cl.Pools {
		switch p.State {
		case "Upgrading":
			if p.Current != p.Version {
				p.Image = p.Latest // a new orchestrator version brings the latest image
			}
			p.Current = p.Version
		case "UpgradingNodeImageVersion":
			p.Image = p.Latest
		}
		p.State = "Succeeded"
	}
}

func (c *Cloud) armCluster(cl *Cluster) armcontainerservice.ManagedCluster {
	mc := armcontainerservice.ManagedCluster{
		ID:       to.Ptr(ResourceID(cl.ResourceGroup, cl.Name)),
		ETag:     to.Ptr(etag(cl)),
		Name:     to.Ptr(cl.Name),
		Location: to.Ptr("westeurope"),
		Properties: &armcontainerservice.ManagedClusterProperties{
			KubernetesVersion:        to.Ptr(cl.Version),
			CurrentKubernetesVersion: to.Ptr(cl.Current),
			ProvisioningState:        to.Ptr(cl.State),
			DNSPrefix:                to.Ptr(cl.Name),
		},
	}
	for _, p := range cl.Pools {
		ap := &armcontainerservice.ManagedClusterAgentPoolProfile{
			Name: to.Ptr(p.Name), Count: to.Ptr(p.Count), OrchestratorVersion: to.Ptr(p.Version), CurrentOrchestratorVersion: to.Ptr(p.Current),
			NodeImageVersion: to.Ptr(p.Image), ProvisioningState: to.Ptr(p.State), OSType: to.Ptr(armcontainerservice.OSType(p.OSType)),
			Mode: to.Ptr(armcontainerservice.AgentPoolModeSystem),
		}
		if p.OSSKU != "" {
			ap.OSSKU = to.Ptr(armcontainerservice.OSSKU(p.OSSKU))
		}
		if p.MaxSurge != "" {
			ap.UpgradeSettings = &armcontainerservice.AgentPoolUpgradeSettings{MaxSurge: to.Ptr(p.MaxSurge)}
		}
		mc.Properties.AgentPoolProfiles = append(mc.Properties.AgentPoolProfiles, ap)
	}
	return mc
}

func etag(cl *Cluster) string { return fmt.Sprintf(`"%d"`, cl.ETag) }

func busy(state string) bool { return state != "Succeeded" && state != "Failed" && state != "Canceled" }

func (c *Cloud) clusterBusy(cl *Cluster) bool {
	if busy(cl.State) {
		return true
	}
	for _, p := range cl.Pools {
		if busy(p.State) {
			return true
		}
	}
	return false
}

// put applies a PUT of the cluster: a new kubernetesVersion upgrades the
// control plane, a pool's new orchestratorVersion that pool.
func (c *Cloud) put(cl *Cluster, body armcontainerservice.ManagedCluster) (string, int, bool) {
	b := body
	cl.LastPut = &b
	if c.clusterBusy(cl) {
		return "OperationNotAllowed", http.StatusConflict, false
	}
	if body.Properties == nil || body.Properties.KubernetesVersion == nil {
		return "InvalidParameter", http.StatusBadRequest, false
	}
	want := *body.Properties.KubernetesVersion
	if want != cl.Current && !slices.Contains(cl.Offered, want) {
		return "VersionNotOffered", http.StatusBadRequest, false
	}
	changed := want != cl.Version || want != cl.Current
	cl.Version = want
	for _, ap := range body.Properties.AgentPoolProfiles {
		for _, p := range cl.Pools {
			if ap != nil && ap.Name != nil && *ap.Name == p.Name && ap.OrchestratorVersion != nil && *ap.OrchestratorVersion != p.Current {
				p.Version = *ap.OrchestratorVersion
				p.State = "Upgrading"
				changed = true
			}
		}
	}
	if !changed {
		return "", 0, true // nothing to do: ARM answers at once
	}
	cl.State = "Upgrading"
	cl.op = &operation{started: time.Now(), fail: cl.failNext}
	cl.failNext = ""
	return "", 0, false
}

func (c *Cloud) servers() *fake.ServerFactory {
	return &fake.ServerFactory{
		ManagedClustersServer: fake.ManagedClustersServer{
			Get: func(_ context.Context, _, name string, _ *armcontainerservice.ManagedClustersClientGetOptions) (resp azfake.Responder[armcontainerservice.ManagedClustersClientGetResponse], errResp azfake.ErrorResponder) {
				c.mu.Lock()
				defer c.mu.Unlock()
				cl, errResp := c.lookup(name)
				if cl == nil {
					return resp, errResp
				}
				c.advance(cl)
				resp.SetResponse(http.StatusOK, armcontainerservice.ManagedClustersClientGetResponse{ManagedCluster: c.armCluster(cl)}, nil)
				return resp, errResp
			},
			GetUpgradeProfile: func(_ context.Context, _, name string, _ *armcontainerservice.ManagedClustersClientGetUpgradeProfileOptions) (resp azfake.Responder[armcontainerservice.ManagedClustersClientGetUpgradeProfileResponse], errResp azfake.ErrorResponder) {
				c.mu.Lock()
				defer c.mu.Unlock()
				cl, errResp := c.lookup(name)
				if cl == nil {
					return resp, errResp
				}
				cp := &armcontainerservice.ManagedClusterPoolUpgradeProfile{KubernetesVersion: to.Ptr(cl.Current), OSType: to.Ptr(armcontainerservice.OSTypeLinux)}
				for _, v := range cl.Offered {
					cp.Upgrades = append(cp.Upgrades, &armcontainerservice.ManagedClusterPoolUpgradeProfileUpgradesItem{KubernetesVersion: to.Ptr(v)})
				}
				out := armcontainerservice.ManagedClustersClientGetUpgradeProfileResponse{}
				out.Name = to.Ptr("default")
				out.Properties = &armcontainerservice.ManagedClusterUpgradeProfileProperties{ControlPlaneProfile: cp}
				resp.SetResponse(http.StatusOK, out, nil)
				return resp, errResp
			},
			BeginCreateOrUpdate: func(_ context.Context, _, name string, body armcontainerservice.ManagedCluster, opts *armcontainerservice.ManagedClustersClientBeginCreateOrUpdateOptions) (resp azfake.PollerResponder[armcontainerservice.ManagedClustersClientCreateOrUpdateResponse], errResp azfake.ErrorResponder) {
				c.mu.Lock()
				defer c.mu.Unlock()
				cl, errResp := c.lookup(name)
				if cl == nil {
					return resp, errResp
				}
				if opts != nil && opts.IfMatch != nil && *opts.IfMatch != etag(cl) {
					errResp.SetResponseError(http.StatusPreconditionFailed, "PreconditionFailed")
					return resp, errResp
				}
				if opts != nil && opts.IfMatch != nil {
					cl.LastIfMatch = *opts.IfMatch
				}
				code, status, done := c.put(cl, body)
				if code != "" {
					errResp.SetResponseError(status, code)
					return resp, errResp
				}
				cl.ETag++
				if !done {
					resp.AddNonTerminalResponse(http.StatusCreated, nil)
				}
				if cl.op != nil && cl.op.fail != "" {
					// The fake poller carries an error code only, no
					// body: the model passes ARM's message as the code.
					resp.SetTerminalError(http.StatusInternalServerError, cl.op.fail)
					return resp, errResp
				}
				resp.SetTerminalResponse(http.StatusOK, armcontainerservice.ManagedClustersClientCreateOrUpdateResponse{ManagedCluster: c.armCluster(cl)}, nil)
				return resp, errResp
			},
			BeginAbortLatestOperation: func(_ context.Context, _, name string, _ *armcontainerservice.ManagedClustersClientBeginAbortLatestOperationOptions) (resp azfake.PollerResponder[armcontainerservice.ManagedClustersClientAbortLatestOperationResponse], errResp azfake.ErrorResponder) {
				c.mu.Lock()
				defer c.mu.Unlock()
				cl, errResp := c.lookup(name)
				if cl == nil {
					return resp, errResp
				}
				cl.aborts++
				if cl.op != nil {
					cl.op = nil
					cl.State = "Canceled"
				}
				resp.SetTerminalResponse(http.StatusNoContent, armcontainerservice.ManagedClustersClientAbortLatestOperationResponse{}, nil)
				return resp, errResp
			},
			ListClusterUserCredentials: func(_ context.Context, _, name string, _ *armcontainerservice.ManagedClustersClientListClusterUserCredentialsOptions) (resp azfake.Responder[armcontainerservice.ManagedClustersClientListClusterUserCredentialsResponse], errResp azfake.ErrorResponder) {
				c.mu.Lock()
				defer c.mu.Unlock()
				cl, errResp := c.lookup(name)
				if cl == nil {
					return resp, errResp
				}
				out := armcontainerservice.ManagedClustersClientListClusterUserCredentialsResponse{}
				out.Kubeconfigs = []*armcontainerservice.CredentialResult{{Name: to.Ptr("clusterUser"), Value: cl.UserKubeconfig}}
				resp.SetResponse(http.StatusOK, out, nil)
				return resp, errResp
			},
			ListClusterAdminCredentials: func(_ context.Context, _, name string, _ *armcontainerservice.ManagedClustersClientListClusterAdminCredentialsOptions) (resp azfake.Responder[armcontainerservice.ManagedClustersClientListClusterAdminCredentialsResponse], errResp azfake.ErrorResponder) {
				c.mu.Lock()
				defer c.mu.Unlock()
				cl, errResp := c.lookup(name)
				if cl == nil {
					return resp, errResp
				}
				out := armcontainerservice.ManagedClustersClientListClusterAdminCredentialsResponse{}
				out.Kubeconfigs = []*armcontainerservice.CredentialResult{{Name: to.Ptr("clusterAdmin"), Value: cl.AdminKubeconfig}}
				resp.SetResponse(http.StatusOK, out, nil)
				return resp, errResp
			},
		},
		AgentPoolsServer: fake.AgentPoolsServer{
			GetUpgradeProfile: func(_ context.Context, _, name, poolName string, _ *armcontainerservice.AgentPoolsClientGetUpgradeProfileOptions) (resp azfake.Responder[armcontainerservice.AgentPoolsClientGetUpgradeProfileResponse], errResp azfake.ErrorResponder) {
				c.mu.Lock()
				defer c.mu.Unlock()
				cl, errResp := c.lookup(name)
				if cl == nil {
					return resp, errResp
				}
				for _, p := range cl.Pools {
					if p.Name == poolName {
						out := armcontainerservice.AgentPoolsClientGetUpgradeProfileResponse{}
						out.Properties = &armcontainerservice.AgentPoolUpgradeProfileProperties{KubernetesVersion: to.Ptr(p.Current), OSType: to.Ptr(armcontainerservice.OSType(p.OSType)), LatestNodeImageVersion: to.Ptr(p.Latest)}
						resp.SetResponse(http.StatusOK, out, nil)
						return resp, errResp
					}
				}
				errResp.SetResponseError(http.StatusNotFound, "ResourceNotFound")
				return resp, errResp
			},
			BeginUpgradeNodeImageVersion: func(_ context.Context, _, name, poolName string, _ *armcontainerservice.AgentPoolsClientBeginUpgradeNodeImageVersionOptions) (resp azfake.PollerResponder[armcontainerservice.AgentPoolsClientUpgradeNodeImageVersionResponse], errResp azfake.ErrorResponder) {
				c.mu.Lock()
				defer c.mu.Unlock()
				cl, errResp := c.lookup(name)
				if cl == nil {
					return resp, errResp
				}
				var p *Pool
				for _, candidate := range cl.Pools {
					if candidate.Name == poolName {
						p = candidate
					}
				}
				switch {
				case p == nil:
					errResp.SetResponseError(http.StatusNotFound, "ResourceNotFound")
					return resp, errResp
				case busy(cl.State) || busy(p.State):
					errResp.SetResponseError(http.StatusConflict, "OperationNotAllowed")
					return resp, errResp
				}
				p.State = "UpgradingNodeImageVersion"
				if cl.op == nil {
					cl.op = &operation{started: time.Now(), nodeImage: true, fail: cl.failNext}
					cl.failNext = ""
				}
				resp.AddNonTerminalResponse(http.StatusAccepted, nil)
				if cl.op.fail != "" {
					resp.SetTerminalError(http.StatusInternalServerError, cl.op.fail)
					return resp, errResp
				}
				resp.SetTerminalResponse(http.StatusOK, armcontainerservice.AgentPoolsClientUpgradeNodeImageVersionResponse{}, nil)
				return resp, errResp
			},
			BeginAbortLatestOperation: func(_ context.Context, _, name, _ string, _ *armcontainerservice.AgentPoolsClientBeginAbortLatestOperationOptions) (resp azfake.PollerResponder[armcontainerservice.AgentPoolsClientAbortLatestOperationResponse], errResp azfake.ErrorResponder) {
				c.mu.Lock()
				defer c.mu.Unlock()
				cl, errResp := c.lookup(name)
				if cl == nil {
					return resp, errResp
				}
				cl.aborts++
				resp.SetTerminalResponse(http.StatusNoContent, armcontainerservice.AgentPoolsClientAbortLatestOperationResponse{}, nil)
				return resp, errResp
			},
		},
		MaintenanceConfigurationsServer: fake.MaintenanceConfigurationsServer{
			NewListByManagedClusterPager: func(_, name string, _ *armcontainerservice.MaintenanceConfigurationsClientListByManagedClusterOptions) (resp azfake.PagerResponder[armcontainerservice.MaintenanceConfigurationsClientListByManagedClusterResponse]) {
				c.mu.Lock()
				defer c.mu.Unlock()
				page := armcontainerservice.MaintenanceConfigurationsClientListByManagedClusterResponse{}
				if cl := c.clusters[strings.ToLower(name)]; cl != nil {
					page.Value = cl.Maintenance
				}
				resp.AddPage(http.StatusOK, page, nil)
				return resp
			},
		},
	}
}

// The harness's Cloud interface (internal/upgrade/providertest): members
// are named like their clusters.

// Versions is what the member's API server would report: the control
// plane's version, the pools' kubelet versions and node images.
func (c *Cloud) Versions(member string) upgrade.Versions {
	c.mu.Lock()
	defer c.mu.Unlock()
	cl := c.clusters[strings.ToLower(member)]
	if cl == nil {
		return upgrade.Versions{}
	}
	v := upgrade.Versions{ControlPlane: upgrade.NormalizeVersion(cl.Current)}
	for _, p := range cl.Pools {
		if k := upgrade.NormalizeVersion(p.Current); !slices.Contains(v.Kubelets, k) {
			v.Kubelets = append(v.Kubelets, k)
		}
		if p.Image != "" && !slices.Contains(v.NodeImages, p.Image) {
			v.NodeImages = append(v.NodeImages, p.Image)
		}
	}
	return v
}

// FailUpgrade makes the member's next upgrade fail with message.
func (c *Cloud) FailUpgrade(member, message string) {
	c.With(member, func(cl *Cluster) { cl.failNext = message })
}

// Hold keeps the member's upgrade Upgrading until Release.
func (c *Cloud) Hold(member string) { c.With(member, func(cl *Cluster) { cl.held = true }) }

// Release lets a held upgrade go on.
func (c *Cloud) Release(member string) { c.With(member, func(cl *Cluster) { cl.held = false }) }

// UpgradeRequests counts the PUTs of the cluster and the pools' node image
// upgrade requests that reached ARM, accepted or refused.
func (c *Cloud) UpgradeRequests(member string) int {
	n := 0
	c.With(member, func(cl *Cluster) { n = cl.requests })
	return n
}

// Aborts counts abort requests.
func (c *Cloud) Aborts(member string) int {
	n := 0
	c.With(member, func(cl *Cluster) { n = cl.aborts })
	return n
}
