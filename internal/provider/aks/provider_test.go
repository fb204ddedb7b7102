package aks_test

import (
	"context"
	"strings"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/containerservice/armcontainerservice/v6"

	fleetv1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/internal/provider/aks/akstest"
	"github.com/flotilla-dev/flotilla/internal/upgrade"
)

// twoPools is a cluster on 1.36.3 with an Ubuntu system pool (maxSurge
// 33%) and an Azure Linux user pool (maxSurge 1), offered 1.37.2.
func twoPools(name string) *akstest.Cluster {
	return &akstest.Cluster{
		Name: name, Version: "1.36.3", Offered: []string{"1.37.0", "1.37.2"},
		Pools: []*akstest.Pool{
			{Name: "system", OSSKU: "Ubuntu", Count: 3, Version: "1.36.3", Image: "AKSUbuntu-2204gen2containerd-202611.01.0", Latest: "AKSUbuntu-2204gen2containerd-202611.20.0", MaxSurge: "33%"},
			{Name: "user", OSSKU: "AzureLinux", Count: 5, Version: "1.36.3", Image: "AKSAzureLinux-V3gen2-202611.01.0", Latest: "AKSAzureLinux-V3gen2-202611.20.0", MaxSurge: "1"},
		},
		UserKubeconfig:  []byte("user-kubeconfig"),
		AdminKubeconfig: []byte("admin-kubeconfig"),
	}
}

func member(name string) upgrade.Member {
	return upgrade.Member{Name: name, Provider: fleetv1.ProviderSpec{Type: fleetv1.ProviderAKS, AKS: &fleetv1.AKSProvider{ResourceID: akstest.ResourceID("rg", name)}}}
}

func provider(t *testing.T, cloud *akstest.Cloud) upgrade.Provider {
	t.Helper()
	m := member("x")
	p, err := cloud.Factory()(&m.Provider, upgrade.FactoryEnv{})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// drive calls Start then Progress as the update-run controller does on
// each reconcile, until the upgrade ends, and returns its last progress.
func drive(t *testing.T, p upgrade.Provider, id string, m upgrade.Member, tg upgrade.Target) []upgrade.Progress {
	t.Helper()
	ctx := context.Background()
	var seen []upgrade.Progress
	for range 20 {
		if err := p.Start(ctx, id, m, tg); err != nil {
			t.Fatalf("Start (after %d progress reports %v): %v", len(seen), seen, err)
		}
		pr, err := p.Progress(ctx, id, m, tg)
		if err != nil {
			t.Fatalf("Progress: %v", err)
		}
		seen = append(seen, pr)
		if pr.Phase == upgrade.PhaseSucceeded || pr.Phase == upgrade.PhaseFailed {
			return seen
		}
	}
	t.Fatalf("upgrade did not end: %v", seen)
	return nil
}

func last(seen []upgrade.Progress) upgrade.Progress { return seen[len(seen)-1] }

func TestFullUpgradesControlPlaneThenPoolsKeepingMaxSurge(t *testing.T) {
	cloud := akstest.New(twoPools("eu-1"))
	p := provider(t, cloud)
	m := member("eu-1")
	tg := upgrade.Target{Type: fleetv1.UpgradeFull, KubernetesVersion: "v1.37.2"}
	seen := drive(t, p, "run_eu-1-1", m, tg)
	if pr := last(seen); pr.Phase != upgrade.PhaseSucceeded {
		t.Fatalf("progress %+v", pr)
	}
	if len(seen) < 2 || seen[0].Phase != upgrade.PhaseRunning || !strings.Contains(seen[0].Message, "Upgrading") {
		t.Errorf("the upgrade was not seen Upgrading first: %+v", seen)
	}
	if n := cloud.UpgradeRequests("eu-1"); n != 1 {
		t.Errorf("%d upgrade requests, want 1", n)
	}
	cl := cloud.Cluster("eu-1")
	if cl.Current != "1.37.2" {
		t.Errorf("control plane %s", cl.Current)
	}
	for _, pl := range cl.Pools {
		if pl.Current != "1.37.2" || pl.Image != pl.Latest {
			t.Errorf("pool %s on %s image %s", pl.Name, pl.Current, pl.Image)
		}
	}
	// The PUT was conditional on the cluster read, set the versions and
	// sent each pool's maxSurge back as it was.
	if cl.LastIfMatch != `"0"` {
		t.Errorf("PUT If-Match %q, want the ETag of the cluster as read", cl.LastIfMatch)
	}
	put := cl.LastPut.Properties
	if *put.KubernetesVersion != "1.37.2" {
		t.Errorf("PUT kubernetesVersion %s", *put.KubernetesVersion)
	}
	surges := map[string]string{}
	for _, ap := range put.AgentPoolProfiles {
		if *ap.OrchestratorVersion != "1.37.2" {
			t.Errorf("PUT pool %s orchestratorVersion %s", *ap.Name, *ap.OrchestratorVersion)
		}
		surges[*ap.Name] = *ap.UpgradeSettings.MaxSurge
	}
	if surges["system"] != "33%" || surges["user"] != "1" {
		t.Errorf("PUT maxSurge %v, want the pools' own", surges)
	}
	// At the target, Start sends nothing more.
	drive(t, p, "run_eu-1-1", m, tg)
	if n := cloud.UpgradeRequests("eu-1"); n != 1 {
		t.Errorf("%d upgrade requests after a Start at the target, want 1", n)
	}
}

func TestControlPlaneOnlyLeavesPools(t *testing.T) {
	cloud := akstest.New(twoPools("eu-1"))
	p := provider(t, cloud)
	seen := drive(t, p, "op", member("eu-1"), upgrade.Target{Type: fleetv1.UpgradeControlPlaneOnly, KubernetesVersion: "v1.37.2"})
	if pr := last(seen); pr.Phase != upgrade.PhaseSucceeded {
		t.Fatalf("progress %+v", pr)
	}
	cl := cloud.Cluster("eu-1")
	if cl.Current != "1.37.2" {
		t.Errorf("control plane %s", cl.Current)
	}
	for _, pl := range cl.Pools {
		if pl.Current != "1.36.3" || pl.Version != "1.36.3" || pl.Image == pl.Latest {
			t.Errorf("pool %s was touched: %+v", pl.Name, pl)
		}
	}
	for _, ap := range cl.LastPut.Properties.AgentPoolProfiles {
		if *ap.OrchestratorVersion != "1.36.3" {
			t.Errorf("PUT asked pool %s for %s", *ap.Name, *ap.OrchestratorVersion)
		}
	}
}

func TestNodeImageOnlyUpgradesEachPoolToItsLatest(t *testing.T) {
	cloud := akstest.New(twoPools("eu-1"))
	p := provider(t, cloud)
	m := member("eu-1")
	ctx := context.Background()
	offered, err := p.NodeImages(ctx, m, "v1.36.3")
	if err != nil {
		t.Fatal(err)
	}
	want := []upgrade.NodeImage{{OS: "AzureLinux", Version: "AKSAzureLinux-V3gen2-202611.20.0"}, {OS: "Ubuntu", Version: "AKSUbuntu-2204gen2containerd-202611.20.0"}}
	if len(offered) != 2 || offered[0] != want[0] || offered[1] != want[1] {
		t.Fatalf("NodeImages %v, want %v", offered, want)
	}
	tg := upgrade.Target{Type: fleetv1.UpgradeNodeImageOnly, NodeImages: offered}
	seen := drive(t, p, "op", m, tg)
	if pr := last(seen); pr.Phase != upgrade.PhaseSucceeded {
		t.Fatalf("progress %+v", seen)
	}
	if n := cloud.UpgradeRequests("eu-1"); n != 2 {
		t.Errorf("%d requests, want one per pool (2)", n)
	}
	cl := cloud.Cluster("eu-1")
	if cl.Current != "1.36.3" || cl.LastPut != nil {
		t.Errorf("the cluster was PUT or its version moved: %s", cl.Current)
	}
	for _, pl := range cl.Pools {
		if pl.Image != pl.Latest || pl.Current != "1.36.3" {
			t.Errorf("pool %+v", pl)
		}
	}
}

func TestNodeImageNotTheLatestIsRefused(t *testing.T) {
	cloud := akstest.New(twoPools("eu-1"))
	p := provider(t, cloud)
	tg := upgrade.Target{Type: fleetv1.UpgradeNodeImageOnly, NodeImages: []upgrade.NodeImage{{OS: "Ubuntu", Version: "AKSUbuntu-2204gen2containerd-202611.10.0"}}}
	err := p.Start(context.Background(), "op", member("eu-1"), tg)
	if err == nil || !strings.Contains(err.Error(), "only to its latest node image, which is AKSUbuntu-2204gen2containerd-202611.20.0") {
		t.Fatalf("Start: %v", err)
	}
	if n := cloud.UpgradeRequests("eu-1"); n != 0 {
		t.Errorf("%d requests", n)
	}
}

func TestFailedUpgradeReportsARMsMessage(t *testing.T) {
	cloud := akstest.New(twoPools("us-1"))
	cloud.FailUpgrade("us-1", "QuotaExceeded: Operation could not be completed as it results in exceeding approved standardDSv3Family Cores quota")
	p := provider(t, cloud)
	pr := last(drive(t, p, "op", member("us-1"), upgrade.Target{Type: fleetv1.UpgradeFull, KubernetesVersion: "v1.37.2"}))
	if pr.Phase != upgrade.PhaseFailed || !strings.Contains(pr.Message, "AKS cluster is Failed") || !strings.Contains(pr.Message, "exceeding approved standardDSv3Family Cores quota") {
		t.Fatalf("progress %+v", pr)
	}
	if n := cloud.UpgradeRequests("us-1"); n != 1 {
		t.Errorf("%d requests, want 1", n)
	}
	// A hub that did not start the operation finds it Failed all the same,
	// and says where ARM's message is.
	pr, err := provider(t, cloud).Progress(context.Background(), "op", member("us-1"), upgrade.Target{Type: fleetv1.UpgradeFull, KubernetesVersion: "v1.37.2"})
	if err != nil || pr.Phase != upgrade.PhaseFailed || !strings.Contains(pr.Message, "activity log") {
		t.Fatalf("progress after restart %+v, %v", pr, err)
	}
}

func TestRestartMidUpgradeSendsNoSecondRequest(t *testing.T) {
	cloud := akstest.New(twoPools("eu-1"))
	cloud.Hold("eu-1")
	m := member("eu-1")
	tg := upgrade.Target{Type: fleetv1.UpgradeFull, KubernetesVersion: "v1.37.2"}
	ctx := context.Background()
	first := provider(t, cloud)
	if err := first.Start(ctx, "op", m, tg); err != nil {
		t.Fatal(err)
	}
	// A new factory is a new hub process: no pollers, no memory.
	second := provider(t, cloud)
	for range 3 {
		if err := second.Start(ctx, "op", m, tg); err != nil {
			t.Fatal(err)
		}
		pr, err := second.Progress(ctx, "op", m, tg)
		if err != nil || pr.Phase != upgrade.PhaseRunning {
			t.Fatalf("progress while held %+v, %v", pr, err)
		}
	}
	view, err := second.(upgrade.Describer).Describe(ctx, m)
	if err != nil || view.State != "Upgrading" || !strings.Contains(view.Operation, "control plane 1.36.3 → 1.37.2") {
		t.Errorf("view while upgrading: %+v, %v", view, err)
	}
	cloud.Release("eu-1")
	if pr := last(drive(t, second, "op", m, tg)); pr.Phase != upgrade.PhaseSucceeded {
		t.Fatalf("progress %+v", pr)
	}
	if n := cloud.UpgradeRequests("eu-1"); n != 1 {
		t.Errorf("%d upgrade requests, want 1", n)
	}
}

func TestVersionNotInUpgradeProfileIsRefused(t *testing.T) {
	cloud := akstest.New(twoPools("eu-1"))
	p := provider(t, cloud)
	got, err := p.AvailableVersions(context.Background(), member("eu-1"))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(got, ",") != "v1.36.3,v1.37.0,v1.37.2" {
		t.Errorf("AvailableVersions %v", got)
	}
	providers := upgrade.NewProviders(t.TempDir(), map[fleetv1.ProviderType]upgrade.Factory{fleetv1.ProviderAKS: cloud.Factory()})
	m := member("eu-1")
	mc := &fleetv1.MemberCluster{Spec: fleetv1.MemberClusterSpec{Provider: &m.Provider}}
	mc.Name = "eu-1"
	mc.Status.KubernetesVersion = "v1.36.3"
	req := upgrade.Request{Upgrade: fleetv1.UpgradeSpec{Type: fleetv1.UpgradeControlPlaneOnly, KubernetesVersion: "1.37.5"}}
	_, obs := upgrade.Assess(context.Background(), providers, req, mc)
	if !strings.Contains(obs.Blocked, "cannot reach v1.37.5") {
		t.Errorf("Assess: blocked %q, want the upgrade profile's refusal", obs.Blocked)
	}
	// A PUT of a version outside the profile is refused by the (model of)
	// ARM too, with its error in the Start error.
	err = p.Start(context.Background(), "op", m, upgrade.Target{Type: fleetv1.UpgradeControlPlaneOnly, KubernetesVersion: "v1.37.5"})
	if err == nil || !strings.Contains(err.Error(), "VersionNotOffered") {
		t.Errorf("Start: %v", err)
	}
}

func TestCancelAbortsTheLatestOperation(t *testing.T) {
	cloud := akstest.New(twoPools("eu-1"))
	cloud.Hold("eu-1")
	p := provider(t, cloud)
	m := member("eu-1")
	ctx := context.Background()
	tg := upgrade.Target{Type: fleetv1.UpgradeControlPlaneOnly, KubernetesVersion: "v1.37.2"}
	if err := p.Start(ctx, "op", m, tg); err != nil {
		t.Fatal(err)
	}
	if err := p.Cancel(ctx, "op", m); err != nil {
		t.Fatal(err)
	}
	if n := cloud.Aborts("eu-1"); n != 1 {
		t.Errorf("%d aborts", n)
	}
	pr, err := p.Progress(ctx, "op", m, tg)
	if err != nil || pr.Phase != upgrade.PhaseFailed || !strings.Contains(pr.Message, "Canceled") {
		t.Errorf("progress after abort %+v, %v", pr, err)
	}
}

func TestDescribeAndKubeconfig(t *testing.T) {
	cl := twoPools("eu-1")
	cl.Maintenance = []*armcontainerservice.MaintenanceConfiguration{{
		Name: to.Ptr("aksManagedAutoUpgradeSchedule"),
		Properties: &armcontainerservice.MaintenanceConfigurationProperties{MaintenanceWindow: &armcontainerservice.MaintenanceWindow{
			Schedule:  &armcontainerservice.Schedule{Weekly: &armcontainerservice.WeeklySchedule{DayOfWeek: to.Ptr(armcontainerservice.WeekDaySunday), IntervalWeeks: to.Ptr[int32](1)}},
			StartTime: to.Ptr("00:00"), UTCOffset: to.Ptr("+01:00"), DurationHours: to.Ptr[int32](4),
		}},
	}}
	cloud := akstest.New(cl)
	p := provider(t, cloud)
	ctx := context.Background()
	v, err := p.(upgrade.Describer).Describe(ctx, member("eu-1"))
	if err != nil {
		t.Fatal(err)
	}
	if v.ControlPlaneVersion != "v1.36.3" || v.State != "Succeeded" || strings.Join(v.UpgradableVersions, ",") != "v1.37.0,v1.37.2" || len(v.Pools) != 2 {
		t.Errorf("view %+v", v)
	}
	if pl := v.Pools[0]; pl.Name != "system" || pl.OS != "Ubuntu" || pl.Count != 3 || pl.MaxSurge != "33%" || pl.LatestNodeImageVersion != "AKSUbuntu-2204gen2containerd-202611.20.0" {
		t.Errorf("pool %+v", pl)
	}
	if len(v.Windows) != 1 || v.Windows[0].Schedule != "every week on Sunday, 00:00 +01:00 for 4h" {
		t.Errorf("windows %+v", v.Windows)
	}
	f := p.(upgrade.KubeconfigFetcher)
	if got, err := f.FetchKubeconfig(ctx, member("eu-1"), false); err != nil || string(got) != "user-kubeconfig" {
		t.Errorf("user kubeconfig %q, %v", got, err)
	}
	if got, err := f.FetchKubeconfig(ctx, member("eu-1"), true); err != nil || string(got) != "admin-kubeconfig" {
		t.Errorf("admin kubeconfig %q, %v", got, err)
	}
}

func TestNodeImageSelectionsAgainstWhatAKSOffers(t *testing.T) {
	cloud := akstest.New(twoPools("eu-1"), twoPools("eu-2"))
	providers := upgrade.NewProviders(t.TempDir(), map[fleetv1.ProviderType]upgrade.Factory{fleetv1.ProviderAKS: cloud.Factory()})
	members := make([]fleetv1.MemberCluster, 2)
	for i, name := range []string{"eu-1", "eu-2"} {
		m := member(name)
		members[i].Name, members[i].Spec.Provider = name, &m.Provider
		members[i].Status.KubernetesVersion = "v1.36.3"
	}
	ctx := context.Background()
	imageOnly := fleetv1.UpgradeSpec{Type: fleetv1.UpgradeNodeImageOnly}

	// Consistent: the members share their pools' latest images, which the run records.
	req := upgrade.Request{Upgrade: imageOnly, Selection: fleetv1.NodeImageSelection{Type: fleetv1.NodeImageConsistent}}
	req.Chosen = upgrade.ConsistentImages(ctx, providers, req, members)
	if len(req.Chosen) != 2 || req.Chosen[1].OS != "Ubuntu" || req.Chosen[1].Version != "AKSUbuntu-2204gen2containerd-202611.20.0" {
		t.Fatalf("chosen %+v", req.Chosen)
	}
	if _, obs := upgrade.Assess(ctx, providers, req, &members[0]); obs.Blocked != "" {
		t.Errorf("Consistent: %s", obs.Blocked)
	}
	// AKS publishes a newer image for eu-2 before its turn: the recorded
	// one is not offered any more, and the member fails before anything.
	cloud.With("eu-2", func(c *akstest.Cluster) { c.Pools[0].Latest = "AKSUbuntu-2204gen2containerd-202612.01.0" })
	if _, obs := upgrade.Assess(ctx, providers, req, &members[1]); !strings.Contains(obs.Blocked, "is not offered to this member") {
		t.Errorf("Consistent after a new image: blocked %q", obs.Blocked)
	}

	// Custom: only a pool's latest image counts.
	custom := upgrade.Request{Upgrade: imageOnly, Selection: fleetv1.NodeImageSelection{Type: fleetv1.NodeImageCustom,
		CustomNodeImageVersions: []fleetv1.NodeImageVersion{{Version: "AKSUbuntu-2204gen2containerd-202611.10.0"}}}}
	if _, obs := upgrade.Assess(ctx, providers, custom, &members[0]); !strings.Contains(obs.Blocked, "none of the custom node images") {
		t.Errorf("Custom with an old image: blocked %q", obs.Blocked)
	}
	if n := cloud.UpgradeRequests("eu-1") + cloud.UpgradeRequests("eu-2"); n != 0 {
		t.Errorf("%d upgrade requests from plans", n)
	}
}
