package eks_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	fleetv1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/internal/provider/eks"
	"github.com/flotilla-dev/flotilla/internal/provider/eks/ekstest"
	"github.com/flotilla-dev/flotilla/internal/upgrade"
)

// These tests drive the real SDK client against the ekstest server, as the
// hub's update-run controller does: Start, then Progress, on every poll.

// factory is the provider factory pointed at the test server: a new one
// is a new hub process, which remembers nothing.
func factory(f *ekstest.Server) upgrade.Factory {
	return eks.NewFactory(eks.Options{Endpoint: f.URL(), Credentials: f.Credentials()})
}

func provider(t *testing.T, f *ekstest.Server, factory upgrade.Factory, cluster string) (upgrade.Provider, upgrade.Member) {
	t.Helper()
	spec := f.Spec(cluster)
	p, err := factory(&spec, upgrade.FactoryEnv{})
	if err != nil {
		t.Fatal(err)
	}
	return p, upgrade.Member{Name: cluster, Provider: spec}
}

func opID(member string) string {
	return fmt.Sprintf("run_%s-%d", member, time.Now().Unix())
}

// drive polls an upgrade as the controller does until it ends.
func drive(t *testing.T, p upgrade.Provider, m upgrade.Member, id string, target upgrade.Target) upgrade.Progress {
	t.Helper()
	ctx := context.Background()
	for range 100 {
		if err := p.Start(ctx, id, m, target); err != nil {
			t.Fatalf("Start: %v", err)
		}
		pr, err := p.Progress(ctx, id, m, target)
		if err != nil {
			t.Fatalf("Progress: %v", err)
		}
		if pr.Phase == upgrade.PhaseSucceeded || pr.Phase == upgrade.PhaseFailed {
			return pr
		}
	}
	t.Fatal("the upgrade did not end in 100 polls")
	return upgrade.Progress{}
}

func full(version string) upgrade.Target {
	return upgrade.Target{Type: fleetv1.UpgradeFull, KubernetesVersion: version}
}

func TestAFullUpgradeUpdatesTheControlPlaneThenEachNodeGroup(t *testing.T) {
	f := ekstest.New(t)
	f.AddCluster("us-west-2", "alpha", "1.36", "apps", "system")
	p, m := provider(t, f, factory(f), "alpha")

	pr := drive(t, p, m, opID("alpha"), full("v1.37.2"))
	if pr.Phase != upgrade.PhaseSucceeded || !strings.Contains(pr.Message, "control plane and 2 node groups at 1.37") {
		t.Fatalf("progress = %+v", pr)
	}
	if pr.StartedAt.IsZero() {
		t.Error("progress has no start time")
	}
	if got := f.UpgradeRequests("alpha"); got != 3 {
		t.Errorf("upgrade requests = %d, want 3 (control plane, apps, system)", got)
	}
	if f.Calls("UpdateClusterVersion") != 1 || f.Calls("UpdateNodegroupVersion") != 2 {
		t.Errorf("UpdateClusterVersion %d, UpdateNodegroupVersion %d calls, want 1 and 2", f.Calls("UpdateClusterVersion"), f.Calls("UpdateNodegroupVersion"))
	}
	v := f.Versions("alpha")
	if v.ControlPlane != "v1.37.2-eks-2" || len(v.Kubelets) != 1 || v.Kubelets[0] != "v1.37.2-eks" || len(v.NodeImages) != 1 || v.NodeImages[0] != "1.37.2-20261115" {
		t.Errorf("versions after the upgrade = %+v", v)
	}
	if at, why := upgrade.AtTarget(v, full("v1.37.2")); !at {
		t.Errorf("the member is not at the target: %s", why)
	}
}

func TestAControlPlaneOnlyUpgradeLeavesTheNodeGroups(t *testing.T) {
	f := ekstest.New(t)
	f.AddCluster("us-west-2", "alpha", "1.36", "apps")
	p, m := provider(t, f, factory(f), "alpha")

	pr := drive(t, p, m, opID("alpha"), upgrade.Target{Type: fleetv1.UpgradeControlPlaneOnly, KubernetesVersion: "v1.37.2"})
	if pr.Phase != upgrade.PhaseSucceeded || !strings.Contains(pr.Message, "control plane at 1.37 (platform eks.2)") {
		t.Fatalf("progress = %+v", pr)
	}
	if got := f.UpgradeRequests("alpha"); got != 1 {
		t.Errorf("upgrade requests = %d, want 1", got)
	}
	if g := f.Nodegroup("alpha", "apps"); g.Version != "1.36" {
		t.Errorf("node group apps moved to %s", g.Version)
	}
}

func TestANodeImageOnlyUpgradeMovesTheReleaseNotTheVersion(t *testing.T) {
	f := ekstest.New(t)
	f.AddCluster("us-west-2", "alpha", "1.37", "apps", "system")
	f.SetRelease("alpha", "apps", "1.37.2-20261101")
	p, m := provider(t, f, factory(f), "alpha")
	ctx := context.Background()

	images, err := p.NodeImages(ctx, m, "v1.37.2")
	if err != nil {
		t.Fatal(err)
	}
	want := []upgrade.NodeImage{{OS: "linux", Version: "1.37.2-20261101"}, {OS: "linux", Version: "1.37.2-20261115"}}
	if fmt.Sprint(images) != fmt.Sprint(want) {
		t.Fatalf("node images = %v, want %v (oldest first)", images, want)
	}
	target := upgrade.Target{Type: fleetv1.UpgradeNodeImageOnly, NodeImages: images[1:], NodeImage: images[1].Version}
	pr := drive(t, p, m, opID("alpha"), target)
	if pr.Phase != upgrade.PhaseSucceeded {
		t.Fatalf("progress = %+v", pr)
	}
	if got := f.UpgradeRequests("alpha"); got != 1 {
		t.Errorf("upgrade requests = %d, want 1 (apps only: system runs the release)", got)
	}
	u := f.Updates("alpha")[0]
	if u.Nodegroup != "apps" || u.Version != "" || u.Release != "1.37.2-20261115" {
		t.Errorf("the update sent = %+v, want apps to release 1.37.2-20261115 with no version", u)
	}
	if g := f.Nodegroup("alpha", "apps"); g.Version != "1.37" || g.Release != "1.37.2-20261115" {
		t.Errorf("apps = %+v", g)
	}
}

func TestAFailedUpdateFailsTheUpgradeWithEKSsErrorAndIsNotSentAgain(t *testing.T) {
	f := ekstest.New(t)
	f.AddCluster("us-west-2", "alpha", "1.36", "apps")
	f.FailUpgrade("alpha", "Kubernetes version upgrade failed: the control plane did not become healthy")
	p, m := provider(t, f, factory(f), "alpha")
	id := opID("alpha")

	pr := drive(t, p, m, id, full("v1.37.2"))
	if pr.Phase != upgrade.PhaseFailed || !strings.Contains(pr.Message, "the control plane did not become healthy") || !strings.Contains(pr.Message, "failed") {
		t.Fatalf("progress = %+v, want failed with EKS's message", pr)
	}
	for range 3 {
		if err := p.Start(context.Background(), id, m, full("v1.37.2")); err != nil {
			t.Fatal(err)
		}
	}
	if got := f.UpgradeRequests("alpha"); got != 1 {
		t.Errorf("upgrade requests = %d, want 1: a failed update is not retried by the same operation", got)
	}
	// A new attempt (a resumed run) is a new operation, started after the
	// failure: it tries again.
	later := fmt.Sprintf("run_alpha-%d-a2", time.Now().Add(2*time.Minute).Unix())
	if err := p.Start(context.Background(), later, m, full("v1.37.2")); err != nil {
		t.Fatal(err)
	}
	if got := f.UpgradeRequests("alpha"); got != 2 {
		t.Errorf("upgrade requests after a new attempt = %d, want 2", got)
	}
}

func TestARestartedHubSendsNoSecondUpdate(t *testing.T) {
	f := ekstest.New(t)
	f.AddCluster("us-west-2", "alpha", "1.36", "apps")
	f.Hold("alpha")
	ctx := context.Background()
	id := opID("alpha")
	target := full("v1.37.2")
	p, m := provider(t, f, factory(f), "alpha")
	if err := p.Start(ctx, id, m, target); err != nil {
		t.Fatal(err)
	}

	// A new hub process: a new factory, nothing remembered.
	p, m = provider(t, f, factory(f), "alpha")
	for range 5 {
		if err := p.Start(ctx, id, m, target); err != nil {
			t.Fatal(err)
		}
		pr, err := p.Progress(ctx, id, m, target)
		if err != nil {
			t.Fatal(err)
		}
		if pr.Phase != upgrade.PhaseRunning || !strings.Contains(pr.Message, "the control plane to 1.37) is in progress") {
			t.Fatalf("progress = %+v", pr)
		}
	}
	if got := f.UpgradeRequests("alpha"); got != 1 {
		t.Fatalf("upgrade requests = %d, want 1", got)
	}
	f.Release("alpha")
	if pr := drive(t, p, m, id, target); pr.Phase != upgrade.PhaseSucceeded {
		t.Fatalf("progress = %+v", pr)
	}
	if got := f.UpgradeRequests("alpha"); got != 2 {
		t.Errorf("upgrade requests = %d, want 2 (control plane, apps)", got)
	}
}

func TestTheClusterAtTheTargetGetsNoRequest(t *testing.T) {
	f := ekstest.New(t)
	f.AddCluster("us-west-2", "alpha", "1.37", "apps")
	p, m := provider(t, f, factory(f), "alpha")
	if pr := drive(t, p, m, opID("alpha"), full("v1.37.2")); pr.Phase != upgrade.PhaseSucceeded {
		t.Fatalf("progress = %+v", pr)
	}
	if got := f.UpgradeRequests("alpha"); got != 0 {
		t.Errorf("upgrade requests = %d, want 0", got)
	}
}

func TestAVersionTheRegionDoesNotOfferIsRefusedInThePlan(t *testing.T) {
	f := ekstest.New(t)
	f.AddCluster("eu-south-2", "madrid", "1.36", "apps")
	f.AddCluster("us-west-2", "oregon", "1.36", "apps")
	providers := upgrade.NewProviders(t.TempDir(), map[fleetv1.ProviderType]upgrade.Factory{fleetv1.ProviderEKS: factory(f)})
	ctx := context.Background()
	req := upgrade.Request{Upgrade: fleetv1.UpgradeSpec{Type: fleetv1.UpgradeFull, KubernetesVersion: "1.37"}}

	madrid := memberCluster(f, "madrid")
	if _, err := upgrade.TargetFor(ctx, providers, req, madrid); err == nil || !strings.Contains(err.Error(), "cannot reach v1.37 (it offers [v1.36.3])") {
		t.Errorf("target for madrid: %v, want refused", err)
	}
	oregon := memberCluster(f, "oregon")
	target, err := upgrade.TargetFor(ctx, providers, req, oregon)
	if err != nil || target.KubernetesVersion != "v1.37.2" {
		t.Errorf("target for oregon = %+v, %v, want v1.37.2 (1.37 resolves to EKS's patch)", target, err)
	}
	// An exact patch EKS does not run is not a patch Flotilla can give.
	req.Upgrade.KubernetesVersion = "v1.37.1"
	if _, err := upgrade.TargetFor(ctx, providers, req, oregon); err == nil {
		t.Error("v1.37.1 was accepted; EKS offers only 1.37.2")
	}
	if f.Calls("UpdateClusterVersion") != 0 {
		t.Error("planning sent an update")
	}
}

func memberCluster(f *ekstest.Server, name string) *fleetv1.MemberCluster {
	spec := f.Spec(name)
	m := &fleetv1.MemberCluster{Spec: fleetv1.MemberClusterSpec{Provider: &spec}}
	m.Name = name
	m.Status.KubernetesVersion = f.Versions(name).ControlPlane
	return m
}

func TestAnUpdateEKSRefusesIsStartsError(t *testing.T) {
	f := ekstest.New(t)
	f.AddCluster("us-west-2", "alpha", "1.35", "apps")
	p, m := provider(t, f, factory(f), "alpha")
	// Version safety refuses this in the plan; EKS refuses it too.
	err := p.Start(context.Background(), opID("alpha"), m, full("v1.37.2"))
	if err == nil || !strings.Contains(err.Error(), "Unsupported Kubernetes minor version update from 1.35 to 1.37") {
		t.Fatalf("Start = %v, want EKS's refusal", err)
	}
}

func TestDescribeShowsTheClusterAsEKSReportsIt(t *testing.T) {
	f := ekstest.New(t)
	f.AddCluster("us-west-2", "alpha", "1.36", "system", "apps")
	f.Hold("alpha")
	p, m := provider(t, f, factory(f), "alpha")
	if err := p.Start(context.Background(), opID("alpha"), m, full("v1.37.2")); err != nil {
		t.Fatal(err)
	}
	v, err := p.(upgrade.Describer).Describe(context.Background(), m)
	if err != nil {
		t.Fatal(err)
	}
	if v.ControlPlaneVersion != "1.36" || v.State != "UPDATING, platform eks.7" {
		t.Errorf("control plane = %q (%q)", v.ControlPlaneVersion, v.State)
	}
	if !strings.Contains(v.Operation, "the control plane to 1.37, in progress") {
		t.Errorf("operation = %q", v.Operation)
	}
	if fmt.Sprint(v.UpgradableVersions) != "[v1.37.2]" {
		t.Errorf("upgradable = %v", v.UpgradableVersions)
	}
	if len(v.Pools) != 2 || v.Pools[0].Name != "apps" {
		t.Fatalf("pools = %+v", v.Pools)
	}
	want := upgrade.PoolView{Name: "apps", OS: "linux (AL2023_x86_64_STANDARD)", KubernetesVersion: "1.36", NodeImageVersion: "1.36.3-20261101", Count: 3, MaxSurge: "maxUnavailable 1", State: "ACTIVE"}
	if v.Pools[0] != want {
		t.Errorf("pool = %+v, want %+v", v.Pools[0], want)
	}
	if len(v.Windows) != 0 {
		t.Errorf("windows = %v; EKS has none", v.Windows)
	}
}

func TestCancelSaysEKSCannot(t *testing.T) {
	f := ekstest.New(t)
	f.AddCluster("us-west-2", "alpha", "1.36")
	p, m := provider(t, f, factory(f), "alpha")
	if err := p.Cancel(context.Background(), opID("alpha"), m); err == nil || !strings.Contains(err.Error(), "cannot cancel") {
		t.Errorf("Cancel = %v", err)
	}
}

func TestAnUnknownClusterIsEKSsNotFound(t *testing.T) {
	f := ekstest.New(t)
	f.AddCluster("us-west-2", "alpha", "1.36")
	spec := fleetv1.ProviderSpec{Type: fleetv1.ProviderEKS, EKS: &fleetv1.EKSProvider{Region: "eu-west-1", Cluster: "alpha"}}
	p, err := factory(f)(&spec, upgrade.FactoryEnv{})
	if err != nil {
		t.Fatal(err)
	}
	_, err = p.AvailableVersions(context.Background(), upgrade.Member{Name: "alpha", Provider: spec})
	if err == nil || !strings.Contains(err.Error(), "ResourceNotFoundException") {
		t.Errorf("AvailableVersions = %v, want EKS's ResourceNotFoundException (alpha is in us-west-2)", err)
	}
}

func TestTheFactoryWantsRegionAndCluster(t *testing.T) {
	for _, spec := range []fleetv1.ProviderSpec{
		{Type: fleetv1.ProviderEKS},
		{Type: fleetv1.ProviderEKS, EKS: &fleetv1.EKSProvider{Cluster: "alpha"}},
	} {
		if _, err := eks.Factory(&spec, upgrade.FactoryEnv{}); err == nil {
			t.Errorf("factory accepted %+v", spec.EKS)
		}
	}
}

func TestAHubTakingOverBetweenUpdatesIsToldTheNextIsNotSent(t *testing.T) {
	f := ekstest.New(t)
	f.AddCluster("us-west-2", "alpha", "1.36", "apps")
	p, m := provider(t, f, factory(f), "alpha")
	ctx := context.Background()
	id := opID("alpha")
	target := full("v1.37.2")
	if err := p.Start(ctx, id, m, target); err != nil {
		t.Fatal(err)
	}
	// A replica that took over calls only Progress: once the control
	// plane is done, the node group's update is not sent, and it says so,
	// so that the controller re-runs the attempt (upgrade.RerunSafe).
	var pr upgrade.Progress
	for range 10 {
		var err error
		if pr, err = p.Progress(ctx, id, m, target); err != nil {
			t.Fatal(err)
		}
		if pr.Phase != upgrade.PhaseRunning {
			break
		}
	}
	if pr.Phase != upgrade.PhaseNotStarted || !strings.Contains(pr.Message, "next: updating node group apps to 1.37") || pr.StartedAt.IsZero() {
		t.Fatalf("progress = %+v, want NotStarted naming the next update, with the attempt's start", pr)
	}
	if got := f.UpgradeRequests("alpha"); got != 1 {
		t.Errorf("upgrade requests = %d, want 1: Progress sends nothing", got)
	}
}
