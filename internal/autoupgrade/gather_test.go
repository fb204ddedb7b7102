package autoupgrade

import (
	"context"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	fleetv1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/internal/fleetscheme"
	"github.com/flotilla-dev/flotilla/internal/upgrade"
)

func TestGatherReadsTheMembersTheStrategyCoversAndTheProfilesRuns(t *testing.T) {
	exec := func(name, group, version string) *fleetv1.MemberCluster {
		return &fleetv1.MemberCluster{
			ObjectMeta: metav1.ObjectMeta{Name: name},
			Spec: fleetv1.MemberClusterSpec{UpdateGroup: group, Provider: &fleetv1.ProviderSpec{Type: fleetv1.ProviderExec,
				Exec: &fleetv1.ExecProvider{Command: []string{"true"}, AvailableVersions: []string{"v1.37.2"}}}},
			Status: fleetv1.MemberClusterStatus{KubernetesVersion: version},
		}
	}
	plain := &fleetv1.MemberCluster{ObjectMeta: metav1.ObjectMeta{Name: "plain"}, Spec: fleetv1.MemberClusterSpec{UpdateGroup: "prod"}}
	strategy := &fleetv1.UpdateStrategy{ObjectMeta: metav1.ObjectMeta{Name: "s"},
		Spec: fleetv1.UpdateStrategySpec{Stages: []fleetv1.UpdateStage{{Name: "one", Groups: []fleetv1.UpdateGroup{{Name: "prod"}}}}}}
	mine := &fleetv1.UpdateRun{ObjectMeta: metav1.ObjectMeta{Name: "p-1-37-0", Labels: map[string]string{fleetv1.AutoUpgradeProfileLabel: "p"}}}
	done := &fleetv1.UpdateRun{ObjectMeta: metav1.ObjectMeta{Name: "p-1-36-5", Labels: map[string]string{fleetv1.AutoUpgradeProfileLabel: "p"}},
		Status: fleetv1.UpdateRunStatus{Progress: fleetv1.Progress{State: fleetv1.StateCompleted}}}
	other := &fleetv1.UpdateRun{ObjectMeta: metav1.ObjectMeta{Name: "by-hand"}}
	hub := fake.NewClientBuilder().WithScheme(fleetscheme.New()).
		WithObjects(exec("a", "prod", "v1.36.3"), exec("b", "dev", "v1.36.3"), plain, strategy, mine, done, other).Build()
	providers := upgrade.NewProviders(t.TempDir(), map[fleetv1.ProviderType]upgrade.Factory{fleetv1.ProviderExec: upgrade.Exec})

	p := &fleetv1.AutoUpgradeProfile{ObjectMeta: metav1.ObjectMeta{Name: "p"}, Spec: fleetv1.AutoUpgradeProfileSpec{
		Channel: fleetv1.ChannelRapid, UpdateStrategyName: "s"}}
	in, err := Gather(context.Background(), hub, providers, p, true)
	if err != nil {
		t.Fatal(err)
	}
	if !in.Forced || in.Profile != "p" || in.Unfinished != "p-1-37-0" || !in.RunExists("by-hand") || in.RunExists("nope") {
		t.Errorf("input = %+v", in)
	}
	if len(in.Members) != 2 || in.Members[0].Name != "a" || in.Members[1].Name != "plain" {
		t.Fatalf("members = %+v, want a and plain (the strategy's group prod), not b", in.Members)
	}
	if a := in.Members[0]; a.Version != "v1.36.3" || len(a.Offered) != 1 || a.Offered[0] != "v1.37.2" || a.OfferError != "" {
		t.Errorf("a = %+v", a)
	}
	if in.Members[1].Excluded == "" {
		t.Errorf("a member without a provider must be excluded: %+v", in.Members[1])
	}

	p.Spec.UpdateStrategyName = ""
	in, err = Gather(context.Background(), hub, providers, p, false)
	if err != nil || len(in.Members) != 3 {
		t.Errorf("without a strategy every member counts: %+v, %v", in.Members, err)
	}
	p.Spec.UpdateStrategyName = "missing"
	if _, err := Gather(context.Background(), hub, providers, p, false); err == nil {
		t.Error("a profile naming a missing strategy must fail")
	}
}
