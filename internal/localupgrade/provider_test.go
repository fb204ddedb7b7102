package localupgrade

import (
	"context"
	"reflect"
	"slices"
	"strings"
	"testing"

	fleetv1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/internal/localcluster"
	"github.com/flotilla-dev/flotilla/internal/upgrade"
)

func localProviders(t *testing.T) upgrade.Providers {
	t.Helper()
	return upgrade.NewProviders(t.TempDir(), map[fleetv1.ProviderType]upgrade.Factory{
		fleetv1.ProviderLocal: ProviderFactory("/opt/flotilla", []string{"v1.36.3", "v1.37.2"}),
	})
}

func localMember(name string) *fleetv1.MemberCluster {
	m := &fleetv1.MemberCluster{Spec: fleetv1.MemberClusterSpec{Provider: &fleetv1.ProviderSpec{
		Type: fleetv1.ProviderLocal, Local: &fleetv1.LocalProvider{ClusterDir: "/fleet/" + name},
	}}}
	m.Name = name
	m.Status.KubernetesVersion = "v1.36.3"
	m.Status.Nodes = fleetv1.NodeSummary{
		Total: 2, Ready: 2,
		NodeImages: []fleetv1.VersionCount{{Version: localcluster.InitialNodeImage("v1.36.3"), Count: 2}},
		Pools: []fleetv1.NodePoolSummary{{Name: "default", OS: "linux", Total: 2,
			NodeImages: []fleetv1.VersionCount{{Version: localcluster.InitialNodeImage("v1.36.3"), Count: 2}}}},
	}
	return m
}

func TestLocalProviderResolvesAMinorToTheVersionLocalFleetsRun(t *testing.T) {
	target, err := upgrade.TargetFor(context.Background(), localProviders(t),
		upgrade.Request{Upgrade: fleetv1.UpgradeSpec{Type: fleetv1.UpgradeFull, KubernetesVersion: "1.37"}}, localMember("dev-1"))
	if err != nil {
		t.Fatal(err)
	}
	want := upgrade.Target{Type: fleetv1.UpgradeFull, KubernetesVersion: "v1.37.2", NodeImage: "flotilla-node-v1.37.2-202612.1",
		NodeImages: []upgrade.NodeImage{{OS: "linux", Version: "flotilla-node-v1.37.2-202612.1"}}}
	if !reflect.DeepEqual(target, want) {
		t.Fatalf("target = %+v, want %+v", target, want)
	}
}

func TestLocalProviderCannotReachAVersionLocalFleetsDoNotRun(t *testing.T) {
	_, err := upgrade.TargetFor(context.Background(), localProviders(t),
		upgrade.Request{Upgrade: fleetv1.UpgradeSpec{Type: fleetv1.UpgradeFull, KubernetesVersion: "1.38"}}, localMember("dev-1"))
	if err == nil || !strings.Contains(err.Error(), "cannot reach v1.38") {
		t.Fatalf("err = %v, want the unreachable version named", err)
	}
}

func TestLocalProviderRunsUpgradeMemberOnTheMembersClusterDir(t *testing.T) {
	m := localMember("dev-1")
	p, err := localProviders(t).For(m.Spec.Provider)
	if err != nil {
		t.Fatal(err)
	}
	command, timeout, err := p.(*upgrade.CommandProvider).Command(
		upgrade.Member{Name: m.Name, Provider: *m.Spec.Provider},
		upgrade.Target{Type: fleetv1.UpgradeFull, KubernetesVersion: "v1.37.2", NodeImage: "flotilla-node-v1.37.2-202612.1"})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"/opt/flotilla", "local", "upgrade-member", "--cluster-dir", "/fleet/dev-1",
		"--upgrade-type", "Full", "--kubernetes-version", "v1.37.2", "--node-image", "flotilla-node-v1.37.2-202612.1"}
	if !slices.Equal(command, want) || timeout <= 0 {
		t.Fatalf("command = %q (timeout %s), want %q with a timeout", command, timeout, want)
	}
}

func TestLocalProviderNeedsItsSettings(t *testing.T) {
	_, err := localProviders(t).For(&fleetv1.ProviderSpec{Type: fleetv1.ProviderLocal})
	if err == nil || !strings.Contains(err.Error(), "spec.provider.local") {
		t.Fatalf("err = %v, want one naming spec.provider.local", err)
	}
}

// A fresh local member runs the catalogue's older image, so a NodeImageOnly
// run has a newer one to roll its nodes to.
func TestANodeImageOnlyRunOnAFreshLocalMemberRollsToTheNewerImage(t *testing.T) {
	req := upgrade.Request{Upgrade: fleetv1.UpgradeSpec{Type: fleetv1.UpgradeNodeImageOnly}}
	target, obs := upgrade.Assess(context.Background(), localProviders(t), req, localMember("dev-1"))
	if obs.Blocked != "" || obs.AtTarget || target.NodeImage != "flotilla-node-v1.36.3-202612.1" {
		t.Fatalf("target %+v, observation %+v: want an upgrade to flotilla-node-v1.36.3-202612.1", target, obs)
	}
}

func TestACustomImageTheLocalCatalogueLacksRefusesTheMember(t *testing.T) {
	req := upgrade.Request{
		Upgrade: fleetv1.UpgradeSpec{Type: fleetv1.UpgradeNodeImageOnly},
		Selection: fleetv1.NodeImageSelection{Type: fleetv1.NodeImageCustom,
			CustomNodeImageVersions: []fleetv1.NodeImageVersion{{Version: "flotilla-node-v1.37.2-202612.1"}}},
	}
	_, obs := upgrade.Assess(context.Background(), localProviders(t), req, localMember("dev-1"))
	if !strings.Contains(obs.Blocked, "none of the custom node images flotilla-node-v1.37.2-202612.1 is offered for linux nodes on v1.36.3") {
		t.Fatalf("Blocked = %q, want the custom image refused for v1.36.3 nodes", obs.Blocked)
	}
}

func TestLocalProviderPassesTheToolCacheToItsCommand(t *testing.T) {
	t.Setenv("FLOTILLA_CACHE", "/srv/flotilla-cache")
	p, err := localProviders(t).For(localMember("dev-1").Spec.Provider)
	if err != nil {
		t.Fatal(err)
	}
	// Its HOME is its own directory: without this the binaries are not found.
	if env := p.(*upgrade.CommandProvider).Env; !slices.Equal(env, []string{"FLOTILLA_CACHE=/srv/flotilla-cache"}) {
		t.Fatalf("Env = %q", env)
	}
}
