package gke_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"cloud.google.com/go/container/apiv1/containerpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	fleetv1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/internal/provider/gke"
	"github.com/flotilla-dev/flotilla/internal/provider/gke/gketest"
	"github.com/flotilla-dev/flotilla/internal/upgrade"
)

const (
	project  = "flotilla-test"
	location = "europe-west1"
)

// serverConfig is what GKE offers in the test location: two builds of
// 1.37.2, older patches, and node versions a little wider.
func serverConfig() *containerpb.ServerConfig {
	return &containerpb.ServerConfig{
		DefaultClusterVersion: "1.36.3-gke.1500",
		ValidMasterVersions:   []string{"1.38.0-gke.100", "1.37.2-gke.1200", "1.37.2-gke.1100", "1.37.1-gke.900", "1.36.3-gke.1500", "1.36.3-gke.1000", "1.35.9-gke.100"},
		ValidNodeVersions:     []string{"1.38.0-gke.100", "1.37.2-gke.1200", "1.37.2-gke.1100", "1.37.1-gke.900", "1.36.3-gke.1500", "1.36.3-gke.1000", "1.36.2-gke.800", "1.35.9-gke.100"},
		DefaultImageType:      "COS_CONTAINERD",
		ValidImageTypes:       []string{"COS_CONTAINERD", "UBUNTU_CONTAINERD", "WINDOWS_LTSC_CONTAINERD"},
	}
}

// prod1 is a cluster on 1.36.3-gke.1000 with a COS pool and an Ubuntu pool.
func prod1() gketest.Cluster {
	return gketest.Cluster{
		Member: "gke-1", Project: project, Location: location, Name: "prod-1", Version: "1.36.3-gke.1000",
		Pools: []gketest.Pool{
			{Name: "pool-a", MaxSurge: 1},
			{Name: "pool-b", ImageType: "UBUNTU_CONTAINERD", Nodes: 2, MaxSurge: 2, MaxUnavailable: 1},
		},
	}
}

type fixture struct {
	gke      *gketest.Server
	factory  upgrade.Factory
	provider upgrade.Provider
	member   upgrade.Member
	cluster  gketest.Cluster
}

func setup(t *testing.T, c gketest.Cluster) *fixture {
	t.Helper()
	s := gketest.Start(t)
	s.SetServerConfig(project, location, serverConfig())
	s.AddCluster(c)
	f := &fixture{gke: s, factory: gke.NewFactory(s.ClientOptions()...), cluster: c}
	f.provider = f.newProvider(t)
	f.member = upgrade.Member{Name: c.Member, Provider: c.Spec()}
	return f
}

// newProvider is the provider a (re)started hub builds: a new factory, so
// a new client, with nothing of the last one's.
func (f *fixture) newProvider(t *testing.T) upgrade.Provider {
	t.Helper()
	spec := f.cluster.Spec()
	p, err := gke.NewFactory(f.gke.ClientOptions()...)(&spec, upgrade.FactoryEnv{})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// target resolves a run's request for the member as the hub does
// (upgrade.TargetFor: AvailableVersions, NodeImages, the selection).
func (f *fixture) target(t *testing.T, typ fleetv1.UpgradeType, version string, sel fleetv1.NodeImageSelection) upgrade.Target {
	t.Helper()
	providers := upgrade.NewProviders(t.TempDir(), map[fleetv1.ProviderType]upgrade.Factory{fleetv1.ProviderGKE: f.factory})
	v := f.gke.Versions(f.cluster.Member)
	spec := f.cluster.Spec()
	mc := &fleetv1.MemberCluster{Spec: fleetv1.MemberClusterSpec{Provider: &spec}, Status: fleetv1.MemberClusterStatus{KubernetesVersion: v.ControlPlane}}
	mc.Name = f.cluster.Member
	tg, err := upgrade.TargetFor(context.Background(), providers, upgrade.Request{
		Upgrade: fleetv1.UpgradeSpec{Type: typ, KubernetesVersion: version}, Selection: sel,
	}, mc)
	if err != nil {
		t.Fatalf("resolving the target: %v", err)
	}
	return tg
}

// operationID is the controller's id of an attempt started at start.
func operationID(member string, start time.Time) string {
	return upgrade.OperationID("run-1", member) + "-" + fmt.Sprint(start.Unix())
}

// drive polls as the hub's controller does (Start, then Progress) until
// the upgrade ends or the timeout passes.
func drive(t *testing.T, p upgrade.Provider, id string, m upgrade.Member, tg upgrade.Target) upgrade.Progress {
	t.Helper()
	ctx := context.Background()
	deadline := time.Now().Add(10 * time.Second)
	for {
		if err := p.Start(ctx, id, m, tg); err != nil {
			t.Fatalf("Start: %v", err)
		}
		pr, err := p.Progress(ctx, id, m, tg)
		if err != nil {
			t.Fatalf("Progress: %v", err)
		}
		if pr.Phase == upgrade.PhaseSucceeded || pr.Phase == upgrade.PhaseFailed {
			return pr
		}
		if time.Now().After(deadline) {
			t.Fatalf("the upgrade did not end: %+v", pr)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

var latest = fleetv1.NodeImageSelection{Type: fleetv1.NodeImageLatest}

func TestAvailableVersionsAreGKEsWithinOneMinor(t *testing.T) {
	f := setup(t, prod1())
	got, err := f.provider.AvailableVersions(context.Background(), f.member)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"1.36.3-gke.1000", "1.36.3-gke.1500", "1.37.1-gke.900", "1.37.2-gke.1100", "1.37.2-gke.1200"}
	if !slices.Equal(got, want) {
		t.Errorf("AvailableVersions = %v, want %v (no downgrade, no 1.38: one minor at a time)", got, want)
	}
	images, err := f.provider.NodeImages(context.Background(), f.member, "v1.37.2-gke.1100")
	if err != nil {
		t.Fatal(err)
	}
	wantImages := []upgrade.NodeImage{{OS: "cos", Version: "1.37.2-gke.1100"}, {OS: "ubuntu", Version: "1.37.2-gke.1100"}}
	if !slices.Equal(images, wantImages) {
		t.Errorf("NodeImages(v1.37.2-gke.1100) = %v, want %v (no node newer than its control plane)", images, wantImages)
	}
}

func TestFullUpgradesTheControlPlaneThenEachPool(t *testing.T) {
	f := setup(t, prod1())
	tg := f.target(t, fleetv1.UpgradeFull, "1.37", latest)
	if tg.KubernetesVersion != "v1.37.2-gke.1200" {
		t.Fatalf("1.37 resolved to %q, want GKE's newest build v1.37.2-gke.1200", tg.KubernetesVersion)
	}
	wantImages := []upgrade.NodeImage{{OS: "cos", Version: "1.37.2-gke.1200"}, {OS: "ubuntu", Version: "1.37.2-gke.1200"}}
	if !slices.Equal(tg.NodeImages, wantImages) {
		t.Fatalf("node images = %v, want %v", tg.NodeImages, wantImages)
	}
	id := operationID(f.member.Name, time.Now())
	if pr, err := f.provider.Progress(context.Background(), id, f.member, tg); err != nil || pr.Phase != upgrade.PhaseNotStarted {
		t.Fatalf("progress before Start = %+v, %v; want NotStarted", pr, err)
	}
	pr := drive(t, f.provider, id, f.member, tg)
	if pr.Phase != upgrade.PhaseSucceeded {
		t.Fatalf("progress = %+v", pr)
	}
	want := []string{
		"UpdateMaster 1.37.2-gke.1200",
		"UpdateNodePool pool-a 1.37.2-gke.1200 COS_CONTAINERD",
		"UpdateNodePool pool-b 1.37.2-gke.1200 UBUNTU_CONTAINERD",
	}
	if got := f.gke.Requests(f.member.Name); !slices.Equal(got, want) {
		t.Errorf("requests = %q, want %q", got, want)
	}
	c := f.gke.Cluster(f.member.Name)
	if c.GetCurrentMasterVersion() != "1.37.2-gke.1200" {
		t.Errorf("control plane at %s", c.GetCurrentMasterVersion())
	}
	for _, p := range c.GetNodePools() {
		if p.GetVersion() != "1.37.2-gke.1200" {
			t.Errorf("pool %s at %s", p.GetName(), p.GetVersion())
		}
	}
	if s := c.GetNodePools()[1].GetUpgradeSettings(); s.GetMaxSurge() != 2 || s.GetMaxUnavailable() != 1 {
		t.Errorf("pool-b's upgrade settings changed: %v", s)
	}
	if !strings.Contains(pr.Message, "control plane at 1.37.2-gke.1200") {
		t.Errorf("message = %q", pr.Message)
	}
	// The hub polls on: at the target, nothing more is sent.
	if err := f.provider.Start(context.Background(), id, f.member, tg); err != nil || f.gke.UpgradeRequests(f.member.Name) != 3 {
		t.Errorf("Start at the target: %v, %d requests", err, f.gke.UpgradeRequests(f.member.Name))
	}
}

func TestControlPlaneOnlyLeavesThePools(t *testing.T) {
	f := setup(t, prod1())
	tg := f.target(t, fleetv1.UpgradeControlPlaneOnly, "1.37.2", latest)
	pr := drive(t, f.provider, operationID(f.member.Name, time.Now()), f.member, tg)
	if pr.Phase != upgrade.PhaseSucceeded {
		t.Fatalf("progress = %+v", pr)
	}
	if got, want := f.gke.Requests(f.member.Name), []string{"UpdateMaster 1.37.2-gke.1200"}; !slices.Equal(got, want) {
		t.Errorf("requests = %q, want %q", got, want)
	}
	for _, p := range f.gke.Cluster(f.member.Name).GetNodePools() {
		if p.GetVersion() != "1.36.3-gke.1000" {
			t.Errorf("pool %s moved to %s", p.GetName(), p.GetVersion())
		}
	}
}

func TestNodeImageOnlyMovesPoolsToTheNewestBuildOfTheirVersion(t *testing.T) {
	c := prod1()
	c.Version = "1.36.3-gke.1500"
	c.Pools[0].Version, c.Pools[1].Version = "1.36.3-gke.1000", "1.36.3-gke.1000"
	f := setup(t, c)
	images, err := f.provider.NodeImages(context.Background(), f.member, "v1.36.3-gke.1500")
	if err != nil {
		t.Fatal(err)
	}
	want := []upgrade.NodeImage{{OS: "cos", Version: "1.36.3-gke.1000"}, {OS: "cos", Version: "1.36.3-gke.1500"}, {OS: "ubuntu", Version: "1.36.3-gke.1000"}, {OS: "ubuntu", Version: "1.36.3-gke.1500"}}
	if !slices.Equal(images, want) {
		t.Fatalf("NodeImages = %v, want %v", images, want)
	}
	tg := f.target(t, fleetv1.UpgradeNodeImageOnly, "", latest)
	pr := drive(t, f.provider, operationID(f.member.Name, time.Now()), f.member, tg)
	if pr.Phase != upgrade.PhaseSucceeded {
		t.Fatalf("progress = %+v", pr)
	}
	wantReqs := []string{"UpdateNodePool pool-a 1.36.3-gke.1500 COS_CONTAINERD", "UpdateNodePool pool-b 1.36.3-gke.1500 UBUNTU_CONTAINERD"}
	if got := f.gke.Requests(f.member.Name); !slices.Equal(got, wantReqs) {
		t.Errorf("requests = %q, want %q (the control plane untouched)", got, wantReqs)
	}

	// A Custom image for one OS only: the other OS's pool has none, and
	// the member fails before anything is sent.
	custom := fleetv1.NodeImageSelection{Type: fleetv1.NodeImageCustom, CustomNodeImageVersions: []fleetv1.NodeImageVersion{{Version: "1.36.3-gke.1000"}}}
	tg = f.target(t, fleetv1.UpgradeNodeImageOnly, "", custom)
	tg.NodeImages = tg.NodeImages[:1]
	id := operationID(f.member.Name, time.Now())
	if err := f.provider.Start(context.Background(), id, f.member, tg); err != nil {
		t.Fatal(err)
	}
	if pr, err := f.provider.Progress(context.Background(), id, f.member, tg); err != nil || pr.Phase != upgrade.PhaseFailed || !strings.Contains(pr.Message, "no node image was selected for node pool pool-b") {
		t.Errorf("progress without an image for pool-b = %+v, %v", pr, err)
	}
	if n := f.gke.UpgradeRequests(f.member.Name); n != 2 {
		t.Errorf("%d requests, want the 2 of before", n)
	}
}

func TestAFailedOperationFailsTheUpgradeWithGKEsErrorAndIsNotSentAgain(t *testing.T) {
	f := setup(t, prod1())
	const reason = "Failed to drain node gke-prod-1-pool-a-7f3c: PodDisruptionBudget default/web allows no disruption"
	tg := f.target(t, fleetv1.UpgradeFull, "1.37.2", latest)
	// The master upgrade succeeds; pool-a's fails.
	id := operationID(f.member.Name, time.Now())
	f.gke.Hold(f.member.Name)
	if err := f.provider.Start(context.Background(), id, f.member, tg); err != nil {
		t.Fatal(err)
	}
	f.gke.FailUpgrade(f.member.Name, reason)
	f.gke.Release(f.member.Name)
	pr := drive(t, f.provider, id, f.member, tg)
	if pr.Phase != upgrade.PhaseFailed || !strings.Contains(pr.Message, reason) || !strings.Contains(pr.Message, "UPGRADE_NODES") || !strings.Contains(pr.Message, "pool-a") {
		t.Fatalf("progress = %+v, want Failed with GKE's error", pr)
	}
	want := []string{"UpdateMaster 1.37.2-gke.1200", "UpdateNodePool pool-a 1.37.2-gke.1200 COS_CONTAINERD"}
	for range 3 {
		if err := f.provider.Start(context.Background(), id, f.member, tg); err != nil {
			t.Fatal(err)
		}
	}
	if got := f.gke.Requests(f.member.Name); !slices.Equal(got, want) {
		t.Fatalf("requests = %q, want %q: a failed request is not sent again", got, want)
	}

	// A retry is a new attempt, started after the failure: it tries again.
	retry := operationID(f.member.Name, time.Now().Add(2*time.Second)) + "-a2"
	if pr := drive(t, f.provider, retry, f.member, tg); pr.Phase != upgrade.PhaseSucceeded {
		t.Fatalf("retry: %+v", pr)
	}
	if n := f.gke.UpgradeRequests(f.member.Name); n != 4 {
		t.Errorf("%d requests after the retry, want 4 (pool-a again, then pool-b)", n)
	}
}

func TestARestartMidOperationSendsNoSecondRequest(t *testing.T) {
	f := setup(t, prod1())
	tg := f.target(t, fleetv1.UpgradeFull, "1.37.2", latest)
	id := operationID(f.member.Name, time.Now())
	f.gke.Hold(f.member.Name)
	if err := f.provider.Start(context.Background(), id, f.member, tg); err != nil {
		t.Fatal(err)
	}
	// The hub restarts: a new provider with a new client calls Start again
	// for the same operation.
	restarted := f.newProvider(t)
	for range 3 {
		if err := restarted.Start(context.Background(), id, f.member, tg); err != nil {
			t.Fatal(err)
		}
	}
	pr, err := restarted.Progress(context.Background(), id, f.member, tg)
	if err != nil || pr.Phase != upgrade.PhaseRunning || !strings.Contains(pr.Message, "UPGRADE_MASTER") {
		t.Fatalf("progress after the restart = %+v, %v", pr, err)
	}
	if n := f.gke.UpgradeRequests(f.member.Name); n != 1 {
		t.Fatalf("%d requests, want 1", n)
	}
	f.gke.Release(f.member.Name)
	if pr := drive(t, restarted, id, f.member, tg); pr.Phase != upgrade.PhaseSucceeded {
		t.Fatalf("progress = %+v", pr)
	}
	if got := f.gke.Requests(f.member.Name); len(got) != 3 || got[0] != "UpdateMaster 1.37.2-gke.1200" {
		t.Errorf("requests = %q, want the master once, then each pool", got)
	}
}

func TestAVersionGKEDoesNotOfferIsRefused(t *testing.T) {
	f := setup(t, prod1())
	providers := upgrade.NewProviders(t.TempDir(), map[fleetv1.ProviderType]upgrade.Factory{fleetv1.ProviderGKE: f.factory})
	spec := f.cluster.Spec()
	mc := &fleetv1.MemberCluster{Spec: fleetv1.MemberClusterSpec{Provider: &spec}, Status: fleetv1.MemberClusterStatus{KubernetesVersion: "v1.36.3-gke.1000"}}
	for _, v := range []string{"1.37.3", "1.38"} {
		_, err := upgrade.TargetFor(context.Background(), providers, upgrade.Request{Upgrade: fleetv1.UpgradeSpec{Type: fleetv1.UpgradeFull, KubernetesVersion: v}, Selection: latest}, mc)
		if err == nil || !strings.Contains(err.Error(), "cannot reach") {
			t.Errorf("TargetFor(%s) = %v, want refused", v, err)
		}
	}
	// Sent anyway, GKE refuses it, and Start says so.
	tg := upgrade.Target{Type: fleetv1.UpgradeControlPlaneOnly, KubernetesVersion: "v1.37.3-gke.1"}
	err := f.provider.Start(context.Background(), operationID(f.member.Name, time.Now()), f.member, tg)
	if err == nil || !strings.Contains(err.Error(), `Master version "1.37.3-gke.1" is unsupported`) {
		t.Errorf("Start = %v, want GKE's refusal", err)
	}
}

func TestCancelCancelsTheRunningOperation(t *testing.T) {
	f := setup(t, prod1())
	tg := f.target(t, fleetv1.UpgradeFull, "1.37.2", latest)
	id := operationID(f.member.Name, time.Now())
	f.gke.Hold(f.member.Name)
	if err := f.provider.Start(context.Background(), id, f.member, tg); err != nil {
		t.Fatal(err)
	}
	if err := f.provider.Cancel(context.Background(), id, f.member); err != nil {
		t.Fatalf("Cancel: %v", err)
	}
	pr, err := f.provider.Progress(context.Background(), id, f.member, tg)
	if err != nil || pr.Phase != upgrade.PhaseFailed || !strings.Contains(pr.Message, "cancelled") {
		t.Fatalf("progress after Cancel = %+v, %v", pr, err)
	}
	if err := f.provider.Cancel(context.Background(), id, f.member); err != nil {
		t.Errorf("Cancel with nothing running: %v", err)
	}
}

func TestAnOperationSomeoneElseRunsIsWaitedFor(t *testing.T) {
	f := setup(t, prod1())
	f.gke.AddOperation(f.member.Name, containerpb.Operation_UPGRADE_MASTER, "", containerpb.Operation_DONE, "an old failure", time.Now().Add(-time.Hour))
	f.gke.AddOperation(f.member.Name, containerpb.Operation_UPGRADE_NODES, "pool-a", containerpb.Operation_RUNNING, "", time.Now())
	tg := f.target(t, fleetv1.UpgradeFull, "1.37.2", latest)
	id := operationID(f.member.Name, time.Now())
	if err := f.provider.Start(context.Background(), id, f.member, tg); err != nil {
		t.Fatal(err)
	}
	pr, err := f.provider.Progress(context.Background(), id, f.member, tg)
	if err != nil || pr.Phase != upgrade.PhaseRunning || !strings.Contains(pr.Message, "UPGRADE_NODES operation-") {
		t.Errorf("progress = %+v, %v", pr, err)
	}
	if n := f.gke.UpgradeRequests(f.member.Name); n != 0 {
		t.Errorf("%d requests while GKE runs an operation, want 0", n)
	}
}

func TestDescribeIsGKEsView(t *testing.T) {
	c := prod1()
	start := time.Date(2026, 12, 20, 0, 0, 0, 0, time.UTC)
	c.MaintenancePolicy = &containerpb.MaintenancePolicy{Window: &containerpb.MaintenanceWindow{
		Policy: &containerpb.MaintenanceWindow_DailyMaintenanceWindow{DailyMaintenanceWindow: &containerpb.DailyMaintenanceWindow{StartTime: "03:00", Duration: "PT4H0M0S"}},
		MaintenanceExclusions: map[string]*containerpb.TimeWindow{"holidays": {
			StartTime: timestamppb.New(start), EndTime: timestamppb.New(start.Add(14 * 24 * time.Hour)),
			Options: &containerpb.TimeWindow_MaintenanceExclusionOptions{MaintenanceExclusionOptions: &containerpb.MaintenanceExclusionOptions{Scope: containerpb.MaintenanceExclusionOptions_NO_MINOR_UPGRADES}},
		}},
	}}
	f := setup(t, c)
	d, ok := f.provider.(upgrade.Describer)
	if !ok {
		t.Fatal("the GKE provider is no Describer")
	}
	v, err := d.Describe(context.Background(), f.member)
	if err != nil {
		t.Fatal(err)
	}
	if v.ControlPlaneVersion != "1.36.3-gke.1000" || v.State != "RUNNING" || v.Operation != "" {
		t.Errorf("view = %+v", v)
	}
	if want := []string{"1.36.3-gke.1500", "1.37.1-gke.900", "1.37.2-gke.1100", "1.37.2-gke.1200"}; !slices.Equal(v.UpgradableVersions, want) {
		t.Errorf("upgradable = %v, want %v", v.UpgradableVersions, want)
	}
	wantPools := []upgrade.PoolView{
		{Name: "pool-a", OS: "cos (COS_CONTAINERD)", KubernetesVersion: "1.36.3-gke.1000", NodeImageVersion: "1.36.3-gke.1000", LatestNodeImageVersion: "1.36.3-gke.1000", Count: 3, MaxSurge: "1 (maxUnavailable 0)", State: "RUNNING"},
		{Name: "pool-b", OS: "ubuntu (UBUNTU_CONTAINERD)", KubernetesVersion: "1.36.3-gke.1000", NodeImageVersion: "1.36.3-gke.1000", LatestNodeImageVersion: "1.36.3-gke.1000", Count: 2, MaxSurge: "2 (maxUnavailable 1)", State: "RUNNING"},
	}
	if !slices.Equal(v.Pools, wantPools) {
		t.Errorf("pools = %+v\nwant %+v", v.Pools, wantPools)
	}
	wantWindows := []upgrade.MaintenanceWindow{
		{Name: "dailyMaintenanceWindow", Schedule: "daily from 03:00 UTC for PT4H0M0S"},
		{Name: "maintenanceExclusion/holidays", Schedule: "2026-12-20T00:00:00Z to 2027-01-03T00:00:00Z (NO_MINOR_UPGRADES)", Exclusion: true},
	}
	if !slices.Equal(v.Windows, wantWindows) {
		t.Errorf("windows = %+v\nwant %+v", v.Windows, wantWindows)
	}

	f.gke.Hold(f.member.Name)
	if err := f.provider.Start(context.Background(), operationID(f.member.Name, time.Now()), f.member, upgrade.Target{Type: fleetv1.UpgradeControlPlaneOnly, KubernetesVersion: "v1.37.2-gke.1200"}); err != nil {
		t.Fatal(err)
	}
	if v, err = d.Describe(context.Background(), f.member); err != nil || !strings.HasPrefix(v.Operation, "UPGRADE_MASTER operation-") || v.State != "RECONCILING" {
		t.Errorf("view while upgrading = %+v, %v", v, err)
	}
}

func TestTheFactoryNeedsGKESettings(t *testing.T) {
	_, err := gke.NewFactory()(&fleetv1.ProviderSpec{Type: fleetv1.ProviderGKE}, upgrade.FactoryEnv{})
	if err == nil || !strings.Contains(err.Error(), "spec.provider.gke") {
		t.Errorf("factory without settings = %v", err)
	}
}
