package updaterun

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	fleetv1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/internal/memberaccess"
	"github.com/flotilla-dev/flotilla/internal/testenv"
	"github.com/flotilla-dev/flotilla/internal/upgrade"
)

// flakyCloud fails the upgrades of the members in failing, and completes
// the others at once.
type flakyCloud struct {
	mu      sync.Mutex
	failing map[string]bool
	ops     map[string]string // operation id -> "" (done) or the failure
	starts  map[string]int
}

func (c *flakyCloud) AvailableVersions(context.Context, upgrade.Member) ([]string, error) {
	return nil, nil
}

func (*flakyCloud) NodeImages(context.Context, upgrade.Member, string) ([]upgrade.NodeImage, error) {
	return nil, nil
}

func (c *flakyCloud) Start(_ context.Context, id string, m upgrade.Member, _ upgrade.Target) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.ops[id]; ok {
		return nil
	}
	c.starts[m.Name]++
	c.ops[id] = ""
	if c.failing[m.Name] {
		c.ops[id] = "the cloud says no"
	}
	return nil
}

func (c *flakyCloud) Progress(_ context.Context, id string, _ upgrade.Member, _ upgrade.Target) (upgrade.Progress, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	failure, ok := c.ops[id]
	switch {
	case !ok:
		return upgrade.Progress{Phase: upgrade.PhaseNotStarted}, nil
	case failure != "":
		return upgrade.Progress{Phase: upgrade.PhaseFailed, Message: failure}, nil
	}
	return upgrade.Progress{Phase: upgrade.PhaseSucceeded}, nil
}

func (*flakyCloud) Cancel(context.Context, string, upgrade.Member) error { return nil }

func (c *flakyCloud) heal(member string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.failing, member)
}

// A retry of named members tries only them again: the run stays Failed
// while another member is left failed, and keeps each member's earlier
// attempt; a retry of all finishes it without touching completed members.
func TestRetryTriesTheNamedFailedMembersAgainAndKeepsTheirAttempts(t *testing.T) {
	env := testenv.Start(t, testenv.Options{CRDs: testenv.AllCRDs})
	hub := env.Hub.Client
	ctx := t.Context()
	cloud := &flakyCloud{failing: map[string]bool{"b": true, "c": true}, ops: map[string]string{}, starts: map[string]int{}}
	for _, name := range []string{"a", "b", "c"} {
		createCloudMember(t, hub, name, "prod", nil)
	}
	runWithProvider(t, env.Hub, cloud, nil)
	three := intstr.FromInt32(3)
	run := &fleetv1.UpdateRun{
		ObjectMeta: metav1.ObjectMeta{Name: "flaky"},
		Spec: fleetv1.UpdateRunSpec{
			Strategy: &fleetv1.UpdateStrategySpec{Stages: []fleetv1.UpdateStage{{
				Name: "prod", Groups: []fleetv1.UpdateGroup{{Name: "prod", MaxConcurrency: &three}}}}},
			ManagedClusterUpdate: fleetv1.ManagedClusterUpdate{Upgrade: fleetv1.UpgradeSpec{Type: fleetv1.UpgradeControlPlaneOnly, KubernetesVersion: "v1.37.2"}},
			State:                fleetv1.RunStarted,
		},
	}
	if err := hub.Create(ctx, run); err != nil {
		t.Fatal(err)
	}
	h := &testHub{c: hub, cluster: env.Hub}
	waitState := func(what string, want fleetv1.State) {
		t.Helper()
		testenv.Eventually(t, waitFor, what, func() error {
			if r := h.run(t, "flaky"); r.Status.State != want {
				return fmt.Errorf("run %s: %s", r.Status.State, r.Status.Message)
			}
			return nil
		})
	}
	waitState("the run fails", fleetv1.StateFailed)

	// What `flotilla updaterun retry flaky --members b` writes.
	cloud.heal("b")
	retry := func(members string) {
		t.Helper()
		r := h.run(t, "flaky")
		r.Annotations = map[string]string{fleetv1.StartRequestAnnotation: "retry-" + members, fleetv1.RetryMembersAnnotation: members}
		if err := hub.Update(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	retry("b")
	testenv.Eventually(t, waitFor, "b upgraded on its retry", func() error {
		if p := h.memberState(t, "flaky", "b"); p.State != fleetv1.StateCompleted {
			return fmt.Errorf("b: %s %q", p.State, p.Message)
		}
		return nil
	})
	waitState("the run fails again: c is still failed", fleetv1.StateFailed)
	b := h.memberState(t, "flaky", "b")
	if len(b.PreviousAttempts) != 1 || !strings.Contains(b.PreviousAttempts[0].Message, "the cloud says no") || b.PreviousAttempts[0].Attempt != 1 {
		t.Errorf("b's previous attempts: %+v", b.PreviousAttempts)
	}
	if c := h.memberState(t, "flaky", "c"); c.State != fleetv1.StateFailed || len(c.PreviousAttempts) != 0 {
		t.Errorf("c was retried: %s %+v", c.State, c.PreviousAttempts)
	}

	cloud.heal("c")
	retry("")
	waitState("the run completes", fleetv1.StateCompleted)
	cloud.mu.Lock()
	defer cloud.mu.Unlock()
	if cloud.starts["a"] != 1 || cloud.starts["b"] != 2 || cloud.starts["c"] != 2 {
		t.Errorf("upgrades started: %v, want a once, b and c twice", cloud.starts)
	}
}

// A member deleted from the fleet after the run started is not waited for:
// at its turn it is skipped under onUnreachableMember: Skip.
func TestAMemberDeletedAfterTheRunStartedIsSkippedAtItsTurn(t *testing.T) {
	env := testenv.Start(t, testenv.Options{CRDs: testenv.AllCRDs})
	hub := env.Hub.Client
	ctx := t.Context()
	for _, name := range []string{"first", "gone"} {
		createCloudMember(t, hub, name, "", map[string]string{"wave": name})
	}
	gate := fleetv1.GateConfig{Type: fleetv1.GateApproval}
	run := &fleetv1.UpdateRun{
		ObjectMeta: metav1.ObjectMeta{Name: "shrinking"},
		Spec: fleetv1.UpdateRunSpec{
			Strategy: &fleetv1.UpdateStrategySpec{OnUnreachableMember: fleetv1.UnreachableSkip, Stages: []fleetv1.UpdateStage{
				{Name: "one", MemberSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"wave": "first"}}},
				{Name: "two", MemberSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"wave": "gone"}}, BeforeGates: []fleetv1.GateConfig{gate}},
			}},
			ManagedClusterUpdate: fleetv1.ManagedClusterUpdate{Upgrade: fleetv1.UpgradeSpec{Type: fleetv1.UpgradeControlPlaneOnly, KubernetesVersion: "v1.37.2"}},
			State:                fleetv1.RunStarted,
		},
	}
	cloud := &flakyCloud{failing: map[string]bool{}, ops: map[string]string{}, starts: map[string]int{}}
	runWithProvider(t, env.Hub, cloud, nil)
	if err := hub.Create(ctx, run); err != nil {
		t.Fatal(err)
	}
	h := &testHub{c: hub, cluster: env.Hub}
	g := h.pendingGate(t, "shrinking")
	if err := hub.Delete(ctx, &fleetv1.MemberCluster{ObjectMeta: metav1.ObjectMeta{Name: "gone"}}); err != nil {
		t.Fatal(err)
	}
	g.Spec.State = fleetv1.GateCompleted
	if err := hub.Update(ctx, g); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, waitFor, "the run completes without the deleted member", func() error {
		if r := h.run(t, "shrinking"); r.Status.State != fleetv1.StateCompleted {
			return fmt.Errorf("run %s: %s", r.Status.State, r.Status.Message)
		}
		return nil
	})
	if p := h.memberState(t, "shrinking", "gone"); p.State != fleetv1.StateSkipped || !strings.Contains(p.Message, "removed from the fleet") {
		t.Errorf("gone: %s %q", p.State, p.Message)
	}
	if n := cloud.starts["gone"]; n != 0 {
		t.Errorf("the deleted member's upgrade was started %d times", n)
	}
}

// runWithProvider runs the update-run controller against hub with p as
// every member's provider, set up further by more (nil: nothing more),
// until the test ends.
func runWithProvider(t *testing.T, hub *testenv.Cluster, p upgrade.Provider, more func(*Reconciler, ctrl.Manager)) {
	t.Helper()
	stateDir := t.TempDir()
	hub.RunManager(t, func(mgr ctrl.Manager) error {
		r := &Reconciler{
			Client:   mgr.GetClient(),
			Recorder: mgr.GetEventRecorder("updaterun-test"),
			Members:  &memberaccess.Clients{Hub: mgr.GetClient()},
			// The API accepts only provider types it knows: the test's
			// provider stands in for AKS.
			Providers: upgrade.NewProviders(stateDir, map[fleetv1.ProviderType]upgrade.Factory{
				fleetv1.ProviderAKS: func(*fleetv1.ProviderSpec, upgrade.FactoryEnv) (upgrade.Provider, error) { return p, nil },
			}),
			WorkDir: filepath.Join(stateDir, "checks"),
		}
		if more != nil {
			more(r, mgr)
		}
		return r.SetupWithManager(mgr)
	})
}

// createCloudMember creates a member the hub reaches only through its
// agent, upgraded by the (stand-in) AKS provider.
func createCloudMember(t *testing.T, hub client.Client, name, group string, labels map[string]string) {
	t.Helper()
	m := &fleetv1.MemberCluster{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels},
		Spec: fleetv1.MemberClusterSpec{UpdateGroup: group, Access: fleetv1.MemberAccess{Mode: fleetv1.AccessAgent},
			Provider: &fleetv1.ProviderSpec{Type: fleetv1.ProviderAKS, AKS: &fleetv1.AKSProvider{
				ResourceID: "/subscriptions/s/resourceGroups/g/providers/Microsoft.ContainerService/managedClusters/" + name}}},
	}
	if err := hub.Create(t.Context(), m); err != nil {
		t.Fatal(err)
	}
}
