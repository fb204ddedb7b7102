// Package eks is the upgrade provider of Amazon EKS clusters: it upgrades
// the control plane with UpdateClusterVersion and each managed node group
// with UpdateNodegroupVersion, reads progress from DescribeUpdate, and the
// versions it offers from DescribeClusterVersions, through the AWS SDK for
// Go v2 with the default credential chain (IRSA or EKS Pod Identity in a
// pod, the AWS CLI's configuration on a laptop).
package eks

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	awseks "github.com/aws/aws-sdk-go-v2/service/eks"
	"github.com/aws/aws-sdk-go-v2/service/eks/types"

	fleetv1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/internal/upgrade"
)

// Options point a factory's SDK clients somewhere other than AWS as the
// default credential chain finds it: tests set all three to reach a test
// server.
type Options struct {
	// Endpoint replaces the EKS endpoint of every region.
	Endpoint string
	// HTTPClient is the SDK clients' HTTP client.
	HTTPClient aws.HTTPClient
	// Credentials replace the default credential chain.
	Credentials aws.CredentialsProvider
}

// Factory is the EKS provider factory the CLI registers: real AWS, the
// default credential chain.
var Factory = NewFactory(Options{})

// NewFactory is a factory of EKS providers that share one SDK client per
// region, made on first use.
func NewFactory(opts Options) upgrade.Factory {
	c := &clients{opts: opts, byRegion: map[string]*awseks.Client{}, done: map[string]update{}}
	return func(spec *fleetv1.ProviderSpec, _ upgrade.FactoryEnv) (upgrade.Provider, error) {
		if spec.EKS == nil || spec.EKS.Region == "" || spec.EKS.Cluster == "" {
			return nil, errors.New("provider EKS needs spec.provider.eks with region and cluster")
		}
		return &Provider{cluster: spec.EKS.Cluster, region: spec.EKS.Region, clients: c}, nil
	}
}

// clients are a factory's SDK clients by region and the finished updates it
// has read: a finished update never changes, so it is read once.
type clients struct {
	opts     Options
	mu       sync.Mutex
	byRegion map[string]*awseks.Client
	done     map[string]update
}

func (c *clients) forRegion(ctx context.Context, region string) (*awseks.Client, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if cl, ok := c.byRegion[region]; ok {
		return cl, nil
	}
	load := []func(*config.LoadOptions) error{config.WithRegion(region)}
	if c.opts.HTTPClient != nil {
		load = append(load, config.WithHTTPClient(c.opts.HTTPClient))
	}
	if c.opts.Credentials != nil {
		load = append(load, config.WithCredentialsProvider(c.opts.Credentials))
	}
	if c.opts.Endpoint != "" {
		load = append(load, config.WithBaseEndpoint(c.opts.Endpoint))
	}
	cfg, err := config.LoadDefaultConfig(ctx, load...)
	if err != nil {
		return nil, fmt.Errorf("loading AWS configuration for %s: %w", region, err)
	}
	cl := awseks.NewFromConfig(cfg)
	c.byRegion[region] = cl
	return cl, nil
}

func (c *clients) finished(id string) (update, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	u, ok := c.done[id]
	return u, ok
}

func (c *clients) remember(u update) {
	if u.Status == statusInProgress {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.done[u.ID] = u
}

// Provider upgrades one EKS cluster.
type Provider struct {
	cluster, region string
	clients         *clients
}

var (
	_ upgrade.Provider  = (*Provider)(nil)
	_ upgrade.Describer = (*Provider)(nil)
)

func (p *Provider) client(ctx context.Context) (*awseks.Client, error) {
	return p.clients.forRegion(ctx, p.region)
}

// AvailableVersions are the versions DescribeClusterVersions offers the
// cluster: its own minor and the next (see offeredVersions).
func (p *Provider) AvailableVersions(ctx context.Context, _ upgrade.Member) ([]string, error) {
	c, err := p.client(ctx)
	if err != nil {
		return nil, err
	}
	cl, err := p.describeCluster(ctx, c)
	if err != nil {
		return nil, err
	}
	catalogue, err := p.catalogue(ctx, c, cl.Version)
	if err != nil {
		return nil, err
	}
	out := offeredVersions(cl.Version, catalogue)
	if out == nil {
		out = []string{} // none offered, which is not "any"
	}
	return out, nil
}

// catalogue is DescribeClusterVersions for a cluster's minor and the next.
func (p *Provider) catalogue(ctx context.Context, c *awseks.Client, current string) ([]clusterVersion, error) {
	versions := []string{current}
	if next, ok := nextMinor(current); ok {
		versions = append(versions, next)
	}
	var out []clusterVersion
	// includeAll: versions in extended support too; offeredVersions drops
	// the unsupported ones.
	pages := awseks.NewDescribeClusterVersionsPaginator(c, &awseks.DescribeClusterVersionsInput{ClusterVersions: versions, IncludeAll: aws.Bool(true)})
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("EKS DescribeClusterVersions in %s: %w", p.region, err)
		}
		for _, v := range page.ClusterVersions {
			out = append(out, clusterVersion{
				Version: aws.ToString(v.ClusterVersion), Patch: aws.ToString(v.KubernetesPatchVersion),
				VersionStatus: string(v.VersionStatus), Default: v.DefaultVersion,
			})
		}
	}
	return out, nil
}

// NodeImages are the AMI releases the cluster's managed node groups on
// kubernetesVersion run (see offeredImages).
func (p *Provider) NodeImages(ctx context.Context, _ upgrade.Member, kubernetesVersion string) ([]upgrade.NodeImage, error) {
	c, err := p.client(ctx)
	if err != nil {
		return nil, err
	}
	groups, err := p.nodegroups(ctx, c)
	if err != nil {
		return nil, err
	}
	return offeredImages(groups, kubernetesVersion), nil
}

// Start sends the next update the upgrade needs, if any: nothing while an
// update is in progress, after one of this operation failed, or once the
// cluster is at the target. Each request carries a client request token
// derived from the operation, so EKS itself turns a repeated request into
// the update it already made.
func (p *Provider) Start(ctx context.Context, operationID string, _ upgrade.Member, t upgrade.Target) error {
	c, err := p.client(ctx)
	if err != nil {
		return err
	}
	s, err := p.snapshot(ctx, c)
	if err != nil {
		return err
	}
	d := decide(s, t, operationSince(operationID))
	if d.Next == nil {
		return nil
	}
	return p.send(ctx, c, operationID, *d.Next)
}

func (p *Provider) send(ctx context.Context, c *awseks.Client, operationID string, r request) error {
	token := requestToken(operationID, r)
	if r.Nodegroup == "" {
		out, err := c.UpdateClusterVersion(ctx, &awseks.UpdateClusterVersionInput{
			Name: &p.cluster, Version: &r.Version, ClientRequestToken: &token,
		})
		if err != nil {
			return fmt.Errorf("EKS UpdateClusterVersion of %s to %s: %w", p.cluster, r.Version, err)
		}
		p.clients.remember(fromSDKUpdate(out.Update, ""))
		return nil
	}
	in := &awseks.UpdateNodegroupVersionInput{ClusterName: &p.cluster, NodegroupName: &r.Nodegroup, ClientRequestToken: &token}
	if r.Version != "" {
		in.Version = &r.Version
	}
	if r.Release != "" {
		in.ReleaseVersion = &r.Release
	}
	out, err := c.UpdateNodegroupVersion(ctx, in)
	if err != nil {
		return fmt.Errorf("EKS UpdateNodegroupVersion of %s: %w", r, err)
	}
	p.clients.remember(fromSDKUpdate(out.Update, r.Nodegroup))
	return nil
}

// requestToken is the idempotency token of one request of one operation.
func requestToken(operationID string, r request) string {
	sum := sha256.Sum256([]byte(operationID + "\x00" + r.Nodegroup + "\x00" + r.Version + "\x00" + r.Release))
	return "flotilla-" + hex.EncodeToString(sum[:12])
}

// Progress reads where the upgrade stands from EKS: its updates, the
// cluster's status and versions.
func (p *Provider) Progress(ctx context.Context, operationID string, _ upgrade.Member, t upgrade.Target) (upgrade.Progress, error) {
	c, err := p.client(ctx)
	if err != nil {
		return upgrade.Progress{}, err
	}
	s, err := p.snapshot(ctx, c)
	if err != nil {
		return upgrade.Progress{}, err
	}
	d := decide(s, t, operationSince(operationID))
	if d.Next != nil {
		// The next update has not been sent: Start sends it. A hub that
		// took over from a dead one calls only Progress, and re-runs the
		// operation on NotStarted (upgrade.RerunSafe), which picks up at
		// this update.
		return upgrade.Progress{Phase: upgrade.PhaseNotStarted, Message: "next: " + d.Message, StartedAt: d.StartedAt}, nil
	}
	return upgrade.Progress{Phase: d.Phase, Message: d.Message, StartedAt: d.StartedAt}, nil
}

// Cancel cannot stop an EKS version update: EKS's CancelUpdate cancels
// only VersionRollback updates of EKS Auto Mode clusters, so an update in
// progress runs to its end, and the run stops after it.
func (p *Provider) Cancel(context.Context, string, upgrade.Member) error {
	return errors.New("EKS cannot cancel a version update in progress (CancelUpdate covers only Auto Mode version rollbacks): it runs to its end")
}

// Describe is the cluster as EKS reports it.
func (p *Provider) Describe(ctx context.Context, _ upgrade.Member) (upgrade.MemberView, error) {
	c, err := p.client(ctx)
	if err != nil {
		return upgrade.MemberView{}, err
	}
	s, err := p.snapshot(ctx, c)
	if err != nil {
		return upgrade.MemberView{}, err
	}
	catalogue, err := p.catalogue(ctx, c, s.Cluster.Version)
	if err != nil {
		return upgrade.MemberView{}, err
	}
	return view(s, catalogue), nil
}

// snapshot reads the cluster, its managed node groups and their updates.
func (p *Provider) snapshot(ctx context.Context, c *awseks.Client) (snapshot, error) {
	var s snapshot
	var err error
	if s.Cluster, err = p.describeCluster(ctx, c); err != nil {
		return s, err
	}
	if s.Nodegroups, err = p.nodegroups(ctx, c); err != nil {
		return s, err
	}
	if s.Updates, err = p.updates(ctx, c, ""); err != nil {
		return s, err
	}
	for _, g := range s.Nodegroups {
		ups, err := p.updates(ctx, c, g.Name)
		if err != nil {
			return s, err
		}
		s.Updates = append(s.Updates, ups...)
	}
	return s, nil
}

func (p *Provider) describeCluster(ctx context.Context, c *awseks.Client) (cluster, error) {
	out, err := c.DescribeCluster(ctx, &awseks.DescribeClusterInput{Name: &p.cluster})
	if err != nil {
		return cluster{}, fmt.Errorf("EKS DescribeCluster %s in %s: %w", p.cluster, p.region, err)
	}
	cl := out.Cluster
	if cl == nil {
		return cluster{}, fmt.Errorf("EKS DescribeCluster %s in %s returned no cluster", p.cluster, p.region)
	}
	return cluster{
		Name: aws.ToString(cl.Name), Version: aws.ToString(cl.Version),
		PlatformVersion: aws.ToString(cl.PlatformVersion), Status: string(cl.Status),
	}, nil
}

func (p *Provider) nodegroups(ctx context.Context, c *awseks.Client) ([]nodegroup, error) {
	var names []string
	pages := awseks.NewListNodegroupsPaginator(c, &awseks.ListNodegroupsInput{ClusterName: &p.cluster})
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("EKS ListNodegroups of %s: %w", p.cluster, err)
		}
		names = append(names, page.Nodegroups...)
	}
	out := make([]nodegroup, 0, len(names))
	for _, name := range names {
		d, err := c.DescribeNodegroup(ctx, &awseks.DescribeNodegroupInput{ClusterName: &p.cluster, NodegroupName: &name})
		if err != nil {
			return nil, fmt.Errorf("EKS DescribeNodegroup %s of %s: %w", name, p.cluster, err)
		}
		out = append(out, fromSDKNodegroup(d.Nodegroup, name))
	}
	return out, nil
}

// updates are the cluster's updates (nodegroup empty) or a node group's,
// each read with DescribeUpdate unless the factory already has it finished.
func (p *Provider) updates(ctx context.Context, c *awseks.Client, nodegroupName string) ([]update, error) {
	in := &awseks.ListUpdatesInput{Name: &p.cluster}
	if nodegroupName != "" {
		in.NodegroupName = &nodegroupName
	}
	var ids []string
	pages := awseks.NewListUpdatesPaginator(c, in)
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("EKS ListUpdates of %s: %w", p.cluster, err)
		}
		ids = append(ids, page.UpdateIds...)
	}
	out := make([]update, 0, len(ids))
	for _, id := range ids {
		if u, ok := p.clients.finished(id); ok {
			out = append(out, u)
			continue
		}
		d, err := c.DescribeUpdate(ctx, &awseks.DescribeUpdateInput{Name: &p.cluster, UpdateId: &id, NodegroupName: in.NodegroupName})
		if err != nil {
			return nil, fmt.Errorf("EKS DescribeUpdate %s of %s: %w", id, p.cluster, err)
		}
		u := fromSDKUpdate(d.Update, nodegroupName)
		p.clients.remember(u)
		out = append(out, u)
	}
	return out, nil
}

func fromSDKNodegroup(g *types.Nodegroup, name string) nodegroup {
	if g == nil {
		return nodegroup{Name: name}
	}
	out := nodegroup{
		Name: aws.ToString(g.NodegroupName), Version: aws.ToString(g.Version), Release: aws.ToString(g.ReleaseVersion),
		AMIType: string(g.AmiType), Status: string(g.Status),
	}
	if g.ScalingConfig != nil {
		out.Desired = aws.ToInt32(g.ScalingConfig.DesiredSize)
	}
	if u := g.UpdateConfig; u != nil {
		out.MaxUnavailable = aws.ToInt32(u.MaxUnavailable)
		out.MaxUnavailablePercentage = aws.ToInt32(u.MaxUnavailablePercentage)
		out.UpdateStrategy = string(u.UpdateStrategy)
	}
	return out
}

func fromSDKUpdate(u *types.Update, nodegroupName string) update {
	if u == nil {
		return update{Nodegroup: nodegroupName, Status: statusInProgress}
	}
	out := update{
		ID: aws.ToString(u.Id), Nodegroup: nodegroupName, Type: string(u.Type), Status: string(u.Status),
		CreatedAt: aws.ToTime(u.CreatedAt), Params: map[string]string{},
	}
	for _, p := range u.Params {
		out.Params[string(p.Type)] = aws.ToString(p.Value)
	}
	for _, e := range u.Errors {
		msg := aws.ToString(e.ErrorMessage)
		if code := string(e.ErrorCode); code != "" {
			msg = code + ": " + msg
		}
		if len(e.ResourceIds) > 0 {
			msg += fmt.Sprintf(" %v", e.ResourceIds)
		}
		out.Errors = append(out.Errors, msg)
	}
	return out
}
