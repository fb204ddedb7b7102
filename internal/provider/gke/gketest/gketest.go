// Package gketest is an in-process GKE for tests: a gRPC server that
// implements the container API's ClusterManager service (the
// containerpb.ClusterManagerServer the real client speaks to), backed by a
// small model of clusters and node pools whose upgrade operations run
// RUNNING to DONE over a few polls, or fail with an error status as GKE's
// do. The real cloud.google.com/go/container client reaches it through
// ClientOptions. It implements the provider scenario harness's Cloud.
//
// It models what the GKE provider relies on, no more: GetCluster,
// ListNodePools, GetNodePool, UpdateMaster, UpdateNodePool (node version and
// image type), GetServerConfig, ListOperations, GetOperation and
// CancelOperation, with GKE's refusals of a version it does not offer, a
// minor-version jump, nodes newer than the control plane and a second
// operation while one runs.
//
// It is test support: only _test.go files import it.
package gketest

import (
	"context"
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"cloud.google.com/go/container/apiv1/containerpb"
	"google.golang.org/api/option"
	"google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	grpcstatus "google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/emptypb"

	fleetv1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/internal/rollout"
	"github.com/flotilla-dev/flotilla/internal/upgrade"
)

// DefaultDonePolls is how many reads of an operation (GetOperation, or a
// ListOperations that lists it) it takes to finish.
const DefaultDonePolls = 4

// Cluster is a GKE cluster to model, for the Flotilla member Member.
type Cluster struct {
	Member                  string
	Project, Location, Name string
	// Version is the control plane's version, and each pool's without one.
	Version string
	Pools   []Pool
	Channel containerpb.ReleaseChannel_Channel
	// MaintenancePolicy is returned as set.
	MaintenancePolicy *containerpb.MaintenancePolicy
}

// Pool is a node pool.
type Pool struct {
	Name string
	// ImageType defaults to COS_CONTAINERD.
	ImageType string
	Version   string
	// Nodes is the pool's initialNodeCount (default 3).
	Nodes                    int32
	MaxSurge, MaxUnavailable int32
}

// Spec is the provider spec of the member that c is.
func (c Cluster) Spec() fleetv1.ProviderSpec {
	return fleetv1.ProviderSpec{Type: fleetv1.ProviderGKE, GKE: &fleetv1.GKEProvider{Project: c.Project, Location: c.Location, Cluster: c.Name}}
}

// Server is the fake GKE.
type Server struct {
	containerpb.UnimplementedClusterManagerServer

	addr string

	mu        sync.Mutex
	donePolls int
	clusters  map[string]*cluster // by resource name
	members   map[string]*cluster
	configs   map[string]*containerpb.ServerConfig // by location name
	ops       []*operation
	seq       int
}

type cluster struct {
	member   string
	location string
	pb       *containerpb.Cluster
	fail     string
	held     bool
	requests []string
}

type operation struct {
	pb      *containerpb.Operation
	c       *cluster
	pool    string
	version string
	polls   int
	fail    string
}

// Start serves a fake GKE on 127.0.0.1 until the test ends.
func Start(t testing.TB) *Server {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listening for the fake GKE: %v", err)
	}
	s := &Server{
		addr:      lis.Addr().String(),
		donePolls: DefaultDonePolls,
		clusters:  map[string]*cluster{},
		members:   map[string]*cluster{},
		configs:   map[string]*containerpb.ServerConfig{},
	}
	g := grpc.NewServer()
	containerpb.RegisterClusterManagerServer(g, s)
	go func() { _ = g.Serve(lis) }()
	t.Cleanup(g.Stop)
	return s
}

// ClientOptions point the real client at the fake, without credentials.
func (s *Server) ClientOptions() []option.ClientOption {
	return []option.ClientOption{
		option.WithEndpoint(s.addr),
		option.WithoutAuthentication(),
		option.WithGRPCDialOption(grpc.WithTransportCredentials(insecure.NewCredentials())),
	}
}

// SetDonePolls sets how many reads an operation takes to finish.
func (s *Server) SetDonePolls(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.donePolls = n
}

// SetServerConfig sets what GetServerConfig returns for a location.
func (s *Server) SetServerConfig(project, location string, cfg *containerpb.ServerConfig) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.configs[locationName(project, location)] = proto.Clone(cfg).(*containerpb.ServerConfig)
}

func locationName(project, location string) string {
	return fmt.Sprintf("projects/%s/locations/%s", project, location)
}

// AddCluster models a cluster.
func (s *Server) AddCluster(c Cluster) {
	s.mu.Lock()
	defer s.mu.Unlock()
	loc := locationName(c.Project, c.Location)
	pb := &containerpb.Cluster{
		Name: c.Name, Location: c.Location, Status: containerpb.Cluster_RUNNING,
		CurrentMasterVersion: c.Version, InitialClusterVersion: c.Version,
		SelfLink:          "https://container.googleapis.com/v1/" + loc + "/clusters/" + c.Name,
		MaintenancePolicy: c.MaintenancePolicy,
	}
	if c.Channel.Number() != 0 {
		pb.ReleaseChannel = &containerpb.ReleaseChannel{Channel: c.Channel}
	}
	for _, p := range c.Pools {
		imageType, version, nodes := p.ImageType, p.Version, p.Nodes
		if imageType == "" {
			imageType = "COS_CONTAINERD"
		}
		if version == "" {
			version = c.Version
		}
		if nodes == 0 {
			nodes = 3
		}
		pb.NodePools = append(pb.NodePools, &containerpb.NodePool{
			Name: p.Name, Version: version, InitialNodeCount: nodes, Status: containerpb.NodePool_RUNNING,
			Config:          &containerpb.NodeConfig{ImageType: imageType, MachineType: "e2-standard-4"},
			UpgradeSettings: &containerpb.NodePool_UpgradeSettings{MaxSurge: p.MaxSurge, MaxUnavailable: p.MaxUnavailable},
			SelfLink:        pb.SelfLink + "/nodePools/" + p.Name,
		})
	}
	m := &cluster{member: c.Member, location: loc, pb: pb}
	s.clusters[loc+"/clusters/"+c.Name] = m
	s.members[c.Member] = m
}

func (s *Server) member(name string) *cluster {
	m, ok := s.members[name]
	if !ok {
		panic("gketest: no cluster for member " + name)
	}
	return m
}

// Cluster is the modelled cluster of a member, as GetCluster returns it.
func (s *Server) Cluster(member string) *containerpb.Cluster {
	s.mu.Lock()
	defer s.mu.Unlock()
	return proto.Clone(s.member(member).pb).(*containerpb.Cluster)
}

// Requests are the upgrade requests the member's cluster got, in order
// ("UpdateMaster 1.37.2-gke.1200", "UpdateNodePool pool-a 1.37.2-gke.1200
// COS_CONTAINERD"), refused ones too.
func (s *Server) Requests(member string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.member(member).requests)
}

// Versions are what the member's API server reports: the control plane's
// gitVersion, its nodes' kubelet versions (GKE's node versions) and OS
// images, which on GKE name the OS but not its build.
func (s *Server) Versions(member string) upgrade.Versions {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.member(member).pb
	v := upgrade.Versions{ControlPlane: "v" + c.GetCurrentMasterVersion()}
	for _, p := range c.GetNodePools() {
		if k := "v" + p.GetVersion(); !slices.Contains(v.Kubelets, k) {
			v.Kubelets = append(v.Kubelets, k)
		}
		if img := osImage(p.GetConfig().GetImageType()); !slices.Contains(v.NodeImages, img) {
			v.NodeImages = append(v.NodeImages, img)
		}
	}
	return v
}

func osImage(imageType string) string {
	switch {
	case strings.HasPrefix(imageType, "UBUNTU"):
		return "Ubuntu 24.04.1 LTS"
	case strings.HasPrefix(imageType, "WINDOWS"):
		return "Windows Server 2022 Datacenter"
	}
	return "Container-Optimized OS from Google"
}

// FailUpgrade makes the member's next upgrade operation fail with message.
func (s *Server) FailUpgrade(member, message string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.member(member).fail = message
}

// Hold keeps the member's upgrade operations RUNNING until Release.
func (s *Server) Hold(member string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.member(member).held = true
}

// Release lets the member's operations finish.
func (s *Server) Release(member string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.member(member).held = false
}

// UpgradeRequests counts the UpdateMaster and UpdateNodePool requests for
// the member's cluster.
func (s *Server) UpgradeRequests(member string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.member(member).requests)
}

// AddOperation records an operation on the member's cluster as another
// client (or GKE's auto-upgrade) started it; pool "" targets the cluster.
// A RUNNING one stays so until cancelled.
func (s *Server) AddOperation(member string, typ containerpb.Operation_Type, pool string, st containerpb.Operation_Status, errMessage string, start time.Time) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	op := s.newOperation(s.member(member), typ, pool, "")
	op.pb.Status = st
	op.pb.StartTime = start.UTC().Format(time.RFC3339Nano)
	if st == containerpb.Operation_DONE {
		op.pb.EndTime = op.pb.StartTime
		if errMessage != "" {
			op.pb.Error = &status.Status{Code: int32(codes.Internal), Message: errMessage}
		}
	}
	return op.pb.Name
}

func (s *Server) newOperation(c *cluster, typ containerpb.Operation_Type, pool, version string) *operation {
	s.seq++
	target := c.pb.GetSelfLink()
	if pool != "" {
		target += "/nodePools/" + pool
	}
	op := &operation{c: c, pool: pool, version: version, pb: &containerpb.Operation{
		Name:          fmt.Sprintf("operation-%d-%d", time.Now().UnixMilli(), s.seq),
		OperationType: typ,
		Status:        containerpb.Operation_RUNNING,
		Location:      c.pb.GetLocation(),
		TargetLink:    target,
		SelfLink:      "https://container.googleapis.com/v1/" + c.location + "/operations/" + strconv.Itoa(s.seq),
		StartTime:     time.Now().UTC().Format(time.RFC3339Nano),
	}}
	s.ops = append(s.ops, op)
	return op
}

// tick is one read of a running operation: after donePolls it finishes,
// unless its cluster is held.
func (s *Server) tick(op *operation) {
	if op.pb.GetStatus() == containerpb.Operation_DONE || op.c.held || op.version == "" {
		return
	}
	op.polls++
	pool := s.pool(op.c, op.pool)
	if pool != nil {
		total := int64(pool.GetInitialNodeCount())
		done := min(total, int64(op.polls)*total/int64(max(s.donePolls, 1)))
		op.pb.Progress = &containerpb.OperationProgress{Metrics: []*containerpb.OperationProgress_Metric{
			{Name: "NODES_TOTAL", Value: &containerpb.OperationProgress_Metric_IntValue{IntValue: total}},
			{Name: "NODES_DONE", Value: &containerpb.OperationProgress_Metric_IntValue{IntValue: done}},
		}}
	}
	if op.polls < s.donePolls {
		return
	}
	s.finish(op, op.fail, codes.Internal)
}

func (s *Server) finish(op *operation, failure string, code codes.Code) {
	op.pb.Status = containerpb.Operation_DONE
	op.pb.EndTime = time.Now().UTC().Format(time.RFC3339Nano)
	op.c.pb.Status = containerpb.Cluster_RUNNING
	pool := s.pool(op.c, op.pool)
	if pool != nil {
		pool.Status = containerpb.NodePool_RUNNING
	}
	if failure != "" {
		op.pb.Error = &status.Status{Code: int32(code), Message: failure}
		return
	}
	if pool != nil {
		pool.Version = op.version
		return
	}
	op.c.pb.CurrentMasterVersion = op.version
}

func (s *Server) pool(c *cluster, name string) *containerpb.NodePool {
	if name == "" {
		return nil
	}
	for _, p := range c.pb.GetNodePools() {
		if p.GetName() == name {
			return p
		}
	}
	return nil
}

func (s *Server) running(c *cluster) *operation {
	for _, op := range s.ops {
		if op.c == c && op.pb.GetStatus() != containerpb.Operation_DONE {
			return op
		}
	}
	return nil
}

// lookup finds the cluster of a resource name
// (projects/P/locations/L/clusters/C[/nodePools/N]) and the pool it names.
func (s *Server) lookup(name string) (*cluster, *containerpb.NodePool, error) {
	clusterName, poolName, _ := strings.Cut(name, "/nodePools/")
	c, ok := s.clusters[clusterName]
	if !ok {
		return nil, nil, grpcstatus.Errorf(codes.NotFound, "Not found: %s.", clusterName)
	}
	if poolName == "" {
		return c, nil, nil
	}
	p := s.pool(c, poolName)
	if p == nil {
		return nil, nil, grpcstatus.Errorf(codes.NotFound, "Not found: %s.", name)
	}
	return c, p, nil
}

func (s *Server) GetCluster(_ context.Context, req *containerpb.GetClusterRequest) (*containerpb.Cluster, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, _, err := s.lookup(req.GetName())
	if err != nil {
		return nil, err
	}
	return proto.Clone(c.pb).(*containerpb.Cluster), nil
}

func (s *Server) ListNodePools(_ context.Context, req *containerpb.ListNodePoolsRequest) (*containerpb.ListNodePoolsResponse, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, _, err := s.lookup(req.GetParent())
	if err != nil {
		return nil, err
	}
	resp := &containerpb.ListNodePoolsResponse{}
	for _, p := range c.pb.GetNodePools() {
		resp.NodePools = append(resp.NodePools, proto.Clone(p).(*containerpb.NodePool))
	}
	return resp, nil
}

func (s *Server) GetNodePool(_ context.Context, req *containerpb.GetNodePoolRequest) (*containerpb.NodePool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, p, err := s.lookup(req.GetName())
	if err != nil {
		return nil, err
	}
	if p == nil {
		return nil, grpcstatus.Errorf(codes.InvalidArgument, "%s names no node pool", req.GetName())
	}
	return proto.Clone(p).(*containerpb.NodePool), nil
}

func (s *Server) GetServerConfig(_ context.Context, req *containerpb.GetServerConfigRequest) (*containerpb.ServerConfig, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	cfg, ok := s.configs[req.GetName()]
	if !ok {
		return nil, grpcstatus.Errorf(codes.InvalidArgument, "Location %q is not supported.", req.GetName())
	}
	return proto.Clone(cfg).(*containerpb.ServerConfig), nil
}

func (s *Server) offeredMasters(c *cluster) []string {
	cfg := s.configs[c.location]
	if ch := c.pb.GetReleaseChannel().GetChannel(); ch.Number() != 0 {
		for _, cc := range cfg.GetChannels() {
			if cc.GetChannel() == ch {
				return cc.GetValidVersions()
			}
		}
	}
	return cfg.GetValidMasterVersions()
}

func (s *Server) UpdateMaster(_ context.Context, req *containerpb.UpdateMasterRequest) (*containerpb.Operation, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, _, err := s.lookup(req.GetName())
	if err != nil {
		return nil, err
	}
	want := req.GetMasterVersion()
	c.requests = append(c.requests, "UpdateMaster "+want)
	if op := s.running(c); op != nil {
		return nil, grpcstatus.Errorf(codes.FailedPrecondition, "Cluster is running incompatible operation %s.", op.pb.GetName())
	}
	if !slices.Contains(s.offeredMasters(c), want) {
		return nil, grpcstatus.Errorf(codes.InvalidArgument, "Master version %q is unsupported.", want)
	}
	if err := rollout.CheckVersionChange(c.pb.GetCurrentMasterVersion(), want); err != nil {
		return nil, grpcstatus.Errorf(codes.InvalidArgument, "Master cannot be upgraded from %q to %q: %v.", c.pb.GetCurrentMasterVersion(), want, err)
	}
	op := s.newOperation(c, containerpb.Operation_UPGRADE_MASTER, "", want)
	op.fail, c.fail = c.fail, ""
	c.pb.Status = containerpb.Cluster_RECONCILING
	return proto.Clone(op.pb).(*containerpb.Operation), nil
}

func (s *Server) UpdateNodePool(_ context.Context, req *containerpb.UpdateNodePoolRequest) (*containerpb.Operation, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, p, err := s.lookup(req.GetName())
	if err != nil {
		return nil, err
	}
	if p == nil {
		return nil, grpcstatus.Errorf(codes.InvalidArgument, "%s names no node pool", req.GetName())
	}
	want := req.GetNodeVersion()
	c.requests = append(c.requests, strings.TrimSpace(fmt.Sprintf("UpdateNodePool %s %s %s", p.GetName(), want, req.GetImageType())))
	if op := s.running(c); op != nil {
		return nil, grpcstatus.Errorf(codes.FailedPrecondition, "Cluster is running incompatible operation %s.", op.pb.GetName())
	}
	if want == "" || req.GetImageType() == "" {
		return nil, grpcstatus.Errorf(codes.InvalidArgument, "node_version and image_type are required")
	}
	if !slices.Contains(s.configs[c.location].GetValidNodeVersions(), want) {
		return nil, grpcstatus.Errorf(codes.InvalidArgument, "Node version %q is unsupported.", want)
	}
	if newer(want, c.pb.GetCurrentMasterVersion()) {
		return nil, grpcstatus.Errorf(codes.InvalidArgument, "Node version %q must not be newer than master version %q.", want, c.pb.GetCurrentMasterVersion())
	}
	op := s.newOperation(c, containerpb.Operation_UPGRADE_NODES, p.GetName(), want)
	op.fail, c.fail = c.fail, ""
	p.Config.ImageType = req.GetImageType()
	p.Status = containerpb.NodePool_RECONCILING
	return proto.Clone(op.pb).(*containerpb.Operation), nil
}

// newer reports whether GKE version a is newer than b (upstream version,
// then -gke.N build).
func newer(a, b string) bool {
	va, errA := rollout.ParseVersion(a)
	vb, errB := rollout.ParseVersion(b)
	if errA != nil || errB != nil {
		return false
	}
	if c := va.Compare(vb); c != 0 {
		return c > 0
	}
	return build(a) > build(b)
}

func build(v string) int {
	_, b, _ := strings.Cut(v, "-gke.")
	n, _ := strconv.Atoi(b)
	return n
}

func (s *Server) ListOperations(_ context.Context, req *containerpb.ListOperationsRequest) (*containerpb.ListOperationsResponse, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	resp := &containerpb.ListOperationsResponse{}
	for _, op := range s.ops {
		if op.c.location != req.GetParent() {
			continue
		}
		s.tick(op)
		resp.Operations = append(resp.Operations, proto.Clone(op.pb).(*containerpb.Operation))
	}
	return resp, nil
}

func (s *Server) operation(name string) (*operation, error) {
	loc, id, ok := strings.Cut(name, "/operations/")
	for _, op := range s.ops {
		if ok && op.c.location == loc && op.pb.GetName() == id {
			return op, nil
		}
	}
	return nil, grpcstatus.Errorf(codes.NotFound, "Not found: %s.", name)
}

func (s *Server) GetOperation(_ context.Context, req *containerpb.GetOperationRequest) (*containerpb.Operation, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	op, err := s.operation(req.GetName())
	if err != nil {
		return nil, err
	}
	s.tick(op)
	return proto.Clone(op.pb).(*containerpb.Operation), nil
}

// CancelOperation ends a running operation as cancelled (DONE with a
// CANCELLED error status); what it changed so far stays.
func (s *Server) CancelOperation(_ context.Context, req *containerpb.CancelOperationRequest) (*emptypb.Empty, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	op, err := s.operation(req.GetName())
	if err != nil {
		return nil, err
	}
	if op.pb.GetStatus() == containerpb.Operation_DONE {
		return nil, grpcstatus.Errorf(codes.FailedPrecondition, "Operation %s is already done.", op.pb.GetName())
	}
	s.finish(op, "Operation was cancelled.", codes.Canceled)
	return &emptypb.Empty{}, nil
}
