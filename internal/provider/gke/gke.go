// Package gke upgrades Google Kubernetes Engine clusters through GKE's own
// API with the official client, cloud.google.com/go/container (apiv1
// ClusterManagerClient): UpdateMaster for the control plane, UpdateNodePool
// for node pools, GetServerConfig for the versions GKE offers, and
// ListOperations to follow what GKE is doing. It keeps no record of its
// own: every call reads the cluster, its node pools and its operations
// from GKE and decides from them (decide.go), so a restarted hub carries on
// where GKE is.
//
// Credentials are application default credentials (workload identity in a
// pod, `gcloud auth application-default login` on a laptop), looked up when
// a factory's providers first call GKE.
package gke

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"

	container "cloud.google.com/go/container/apiv1"
	"cloud.google.com/go/container/apiv1/containerpb"
	"google.golang.org/api/option"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	fleetv1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/internal/upgrade"
)

// NewFactory is the factory of GKE providers. They share one
// ClusterManagerClient, made with opts on first use (none: GKE's endpoint
// with application default credentials; tests point it at a fake server).
func NewFactory(opts ...option.ClientOption) upgrade.Factory {
	c := &lazyClient{opts: opts}
	return func(spec *fleetv1.ProviderSpec, _ upgrade.FactoryEnv) (upgrade.Provider, error) {
		if spec.GKE == nil {
			return nil, errors.New("provider GKE needs spec.provider.gke (project, location, cluster)")
		}
		return &Provider{client: c}, nil
	}
}

// lazyClient makes the ClusterManagerClient once, when first needed, so
// that a process which never reaches GKE never looks for credentials. A
// failure is not kept: the next call tries again.
type lazyClient struct {
	opts   []option.ClientOption
	mu     sync.Mutex
	client *container.ClusterManagerClient
}

func (l *lazyClient) get(ctx context.Context) (*container.ClusterManagerClient, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.client != nil {
		return l.client, nil
	}
	// The client outlives the call that made it.
	c, err := container.NewClusterManagerClient(context.WithoutCancel(ctx), l.opts...)
	if err != nil {
		return nil, fmt.Errorf("connecting to GKE with application default credentials: %w", err)
	}
	l.client = c
	return c, nil
}

// Provider upgrades GKE clusters; it implements upgrade.Provider and
// upgrade.Describer. It does not fetch kubeconfigs (docs/gke.md says why).
type Provider struct {
	client *lazyClient
}

var (
	_ upgrade.Provider  = (*Provider)(nil)
	_ upgrade.Describer = (*Provider)(nil)
)

// names are a cluster's resource names in GKE's API.
type names struct{ location, cluster, short string }

func namesOf(m upgrade.Member) (names, error) {
	g := m.Provider.GKE
	if g == nil || g.Project == "" || g.Location == "" || g.Cluster == "" {
		return names{}, fmt.Errorf("member %s: provider GKE needs spec.provider.gke project, location and cluster", m.Name)
	}
	loc := fmt.Sprintf("projects/%s/locations/%s", g.Project, g.Location)
	return names{location: loc, cluster: loc + "/clusters/" + g.Cluster, short: g.Cluster}, nil
}

// state is what GKE reports of a cluster: the cluster with its node pools
// and the location's operations on it.
type state struct {
	names   names
	client  *container.ClusterManagerClient
	cluster *containerpb.Cluster
	ops     []*containerpb.Operation
}

func (p *Provider) read(ctx context.Context, m upgrade.Member, withOps bool) (*state, error) {
	n, err := namesOf(m)
	if err != nil {
		return nil, err
	}
	c, err := p.client.get(ctx)
	if err != nil {
		return nil, err
	}
	st := &state{names: n, client: c}
	// Operations first, then the cluster: an operation seen DONE has
	// changed the cluster read after it, while a cluster read first could
	// predate the end of an operation then seen DONE, and look as if the
	// request it carried were still to be sent.
	if withOps {
		ops, err := c.ListOperations(ctx, &containerpb.ListOperationsRequest{Parent: n.location})
		if err != nil {
			return nil, fmt.Errorf("GKE ListOperations %s: %w", n.location, err)
		}
		st.ops = clusterOps(ops.GetOperations(), n.short)
	}
	if st.cluster, err = c.GetCluster(ctx, &containerpb.GetClusterRequest{Name: n.cluster}); err != nil {
		return nil, fmt.Errorf("GKE GetCluster %s: %w", n.cluster, err)
	}
	return st, nil
}

func (s *state) serverConfig(ctx context.Context) (*containerpb.ServerConfig, error) {
	cfg, err := s.client.GetServerConfig(ctx, &containerpb.GetServerConfigRequest{Name: s.names.location})
	if err != nil {
		return nil, fmt.Errorf("GKE GetServerConfig %s: %w", s.names.location, err)
	}
	return cfg, nil
}

// AvailableVersions are the control-plane versions GKE offers the cluster
// (its release channel's, else validMasterVersions) that its control plane
// may take: not older, at most one minor up. The version it runs is among
// them.
func (p *Provider) AvailableVersions(ctx context.Context, m upgrade.Member) ([]string, error) {
	st, err := p.read(ctx, m, false)
	if err != nil {
		return nil, err
	}
	cfg, err := st.serverConfig(ctx)
	if err != nil {
		return nil, err
	}
	return upgradeTargets(st.cluster.GetCurrentMasterVersion(), masterVersions(st.cluster, cfg)), nil
}

// NodeImages are, for the OS of each of the cluster's pools (from its image
// type), the node versions GKE offers (validNodeVersions) of
// kubernetesVersion, no newer than the control plane will run: on GKE the
// node image is fixed by the node version.
func (p *Provider) NodeImages(ctx context.Context, m upgrade.Member, kubernetesVersion string) ([]upgrade.NodeImage, error) {
	st, err := p.read(ctx, m, false)
	if err != nil {
		return nil, err
	}
	cfg, err := st.serverConfig(ctx)
	if err != nil {
		return nil, err
	}
	limit := nodeLimit(kubernetesVersion, st.cluster.GetCurrentMasterVersion(), masterVersions(st.cluster, cfg))
	return nodeImages(st.cluster.GetNodePools(), nodeVersions(kubernetesVersion, limit, cfg.GetValidNodeVersions())), nil
}

// Start sends the next request the upgrade needs, if any: nothing while GKE
// runs an operation on the cluster, nothing once the cluster is at the
// target, nothing after this attempt's request failed or for a target that
// does not fit the cluster (Progress reports either); else UpdateMaster,
// or UpdateNodePool for the next pool not at its target. It is called on
// every poll, so it moves a Full upgrade from the control plane to each
// pool in turn.
func (p *Provider) Start(ctx context.Context, operationID string, m upgrade.Member, t upgrade.Target) error {
	st, err := p.read(ctx, m, true)
	if err != nil {
		return err
	}
	d := decide(st.cluster, st.ops, t, attemptStart(operationID))
	if d.send == nil {
		return nil
	}
	err = st.send(ctx, *d.send)
	if retryLater(err) {
		// The next poll looks again; Progress says what is awaited.
		return nil
	}
	return err
}

func (s *state) send(ctx context.Context, next step) error {
	if next.pool == "" {
		_, err := s.client.UpdateMaster(ctx, &containerpb.UpdateMasterRequest{Name: s.names.cluster, MasterVersion: next.version})
		if err != nil {
			return fmt.Errorf("GKE UpdateMaster %s to %s: %w", s.names.cluster, next.version, err)
		}
		return nil
	}
	name := s.names.cluster + "/nodePools/" + next.pool
	_, err := s.client.UpdateNodePool(ctx, &containerpb.UpdateNodePoolRequest{Name: name, NodeVersion: next.version, ImageType: next.imageType})
	if err != nil {
		return fmt.Errorf("GKE UpdateNodePool %s to %s: %w", name, next.version, err)
	}
	return nil
}

// retryLater reports whether GKE refused a request for now rather than for
// good: unavailable, out of quota, or busy with another operation on the
// cluster (FAILED_PRECONDITION, "...running incompatible operation...").
func retryLater(err error) bool {
	if err == nil {
		return false
	}
	switch status.Code(err) {
	case codes.Unavailable, codes.DeadlineExceeded, codes.ResourceExhausted, codes.Aborted:
		return true
	case codes.FailedPrecondition:
		return strings.Contains(strings.ToLower(err.Error()), "operation")
	}
	return false
}

// Progress reads the upgrade's state from GKE: the operation it runs on the
// cluster, this attempt's failed operation with GKE's error, or the
// cluster and pools at the target.
func (p *Provider) Progress(ctx context.Context, operationID string, m upgrade.Member, t upgrade.Target) (upgrade.Progress, error) {
	st, err := p.read(ctx, m, true)
	if err != nil {
		return upgrade.Progress{}, err
	}
	return decide(st.cluster, st.ops, t, attemptStart(operationID)).progress, nil
}

// Cancel asks GKE to cancel the upgrade operations running on the cluster
// (CancelOperation). GKE cancels node pool upgrades, leaving the nodes
// already upgraded as they are; a control-plane upgrade may run to its end.
func (p *Provider) Cancel(ctx context.Context, _ string, m upgrade.Member) error {
	st, err := p.read(ctx, m, true)
	if err != nil {
		return err
	}
	var errs []error
	for _, op := range st.ops {
		if op.GetStatus() == containerpb.Operation_DONE || !isUpgrade(op) {
			continue
		}
		name := st.names.location + "/operations/" + op.GetName()
		if err := st.client.CancelOperation(ctx, &containerpb.CancelOperationRequest{Name: name}); err != nil {
			errs = append(errs, fmt.Errorf("GKE CancelOperation %s: %w", name, err))
		}
	}
	return errors.Join(errs...)
}

// Describe is how GKE sees the cluster: versions, status, the operation it
// runs, node pools, the upgrades it offers and its maintenance policy.
func (p *Provider) Describe(ctx context.Context, m upgrade.Member) (upgrade.MemberView, error) {
	st, err := p.read(ctx, m, true)
	if err != nil {
		return upgrade.MemberView{}, err
	}
	cfg, err := st.serverConfig(ctx)
	if err != nil {
		return upgrade.MemberView{}, err
	}
	return view(st.cluster, st.ops, masterVersions(st.cluster, cfg), cfg.GetValidNodeVersions()), nil
}
