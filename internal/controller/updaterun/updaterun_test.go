package updaterun

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	fleetv1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/internal/fleetmetrics"
	"github.com/flotilla-dev/flotilla/internal/memberaccess"
	"github.com/flotilla-dev/flotilla/internal/rollout"
	"github.com/flotilla-dev/flotilla/internal/testenv"
	"github.com/flotilla-dev/flotilla/internal/toolchain"
	"github.com/flotilla-dev/flotilla/internal/upgrade"
)

const waitFor = 30 * time.Second

// testHub is a real hub API server with the fleet CRDs and the update-run
// controller running against it.
type testHub struct {
	c          client.Client
	kubeconfig string
	cluster    *testenv.Cluster
}

func startHub(t *testing.T) *testHub {
	t.Helper()
	h := startBareHub(t)
	h.startController(t, "", t.TempDir())
	return h
}

// startBareHub starts the hub without a controller.
func startBareHub(t *testing.T) *testHub {
	t.Helper()
	env := testenv.Start(t, testenv.Options{CRDs: testenv.AllCRDs})
	return &testHub{c: env.Hub.Client, kubeconfig: env.Hub.KubeconfigPath(), cluster: env.Hub}
}

// startController runs an update-run controller as the hub instance named
// instance, with its own state directory, until stop is called or the test
// ends.
func (h *testHub) startController(t *testing.T, instance, stateDir string) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	h.cluster.RunManagerUntil(t, ctx, func(mgr ctrl.Manager) error {
		return (&Reconciler{
			Client:    mgr.GetClient(),
			Recorder:  mgr.GetEventRecorder("updaterun-test"),
			Members:   &memberaccess.Clients{Hub: mgr.GetClient()},
			Providers: upgrade.NewProviders(stateDir, map[fleetv1.ProviderType]upgrade.Factory{fleetv1.ProviderExec: upgrade.Exec}),
			WorkDir:   filepath.Join(stateDir, "checks"),
			Instance:  instance,
		}).SetupWithManager(mgr)
	})
	return cancel
}

// memberAt creates a member whose status says it already runs version, so
// a run to that version skips it without upgrading anything.
func (h *testHub) memberAt(t *testing.T, name, group, version string) {
	t.Helper()
	m := &fleetv1.MemberCluster{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: fleetv1.MemberClusterSpec{
			UpdateGroup: group,
			Access:      fleetv1.MemberAccess{Mode: fleetv1.AccessAgent},
			Provider:    &fleetv1.ProviderSpec{Type: fleetv1.ProviderExec, Exec: &fleetv1.ExecProvider{Command: []string{"false"}}},
		},
	}
	if err := h.c.Create(t.Context(), m); err != nil {
		t.Fatal(err)
	}
	m.Status.KubernetesVersion = version
	if err := h.c.Status().Update(t.Context(), m); err != nil {
		t.Fatal(err)
	}
}

// gatedRun is a started run to version whose one stage waits for an approval.
func gatedRun(name, version string) *fleetv1.UpdateRun {
	return &fleetv1.UpdateRun{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: fleetv1.UpdateRunSpec{
			Strategy: &fleetv1.UpdateStrategySpec{Stages: []fleetv1.UpdateStage{{
				Name: "prod", Groups: []fleetv1.UpdateGroup{{Name: "prod"}},
				BeforeGates: []fleetv1.GateConfig{{Type: fleetv1.GateApproval, DisplayName: "change board"}},
			}}},
			ManagedClusterUpdate: fleetv1.ManagedClusterUpdate{Upgrade: fleetv1.UpgradeSpec{Type: fleetv1.UpgradeControlPlaneOnly, KubernetesVersion: version}},
			State:                fleetv1.RunStarted,
		},
	}
}

func (h *testHub) run(t *testing.T, name string) *fleetv1.UpdateRun {
	t.Helper()
	r := &fleetv1.UpdateRun{}
	if err := h.c.Get(t.Context(), client.ObjectKey{Name: name}, r); err != nil {
		t.Fatal(err)
	}
	return r
}

func (h *testHub) pendingGate(t *testing.T, run string) *fleetv1.Gate {
	t.Helper()
	var gate *fleetv1.Gate
	testenv.Eventually(t, waitFor, "a pending gate of run "+run, func() error {
		gates := &fleetv1.GateList{}
		if err := h.c.List(t.Context(), gates, client.MatchingLabels{fleetv1.UpdateRunLabel: run}); err != nil {
			return err
		}
		for i := range gates.Items {
			if gates.Items[i].Spec.State == fleetv1.GatePending {
				gate = &gates.Items[i]
				return nil
			}
		}
		return fmt.Errorf("%d gates, none pending", len(gates.Items))
	})
	return gate
}

func succeeded(r *fleetv1.UpdateRun) *metav1.Condition {
	return meta.FindStatusCondition(r.Status.Conditions, fleetv1.RunSucceeded)
}

func TestARecreatedRunDoesNotInheritAnApprovalAndADeletedRunLosesItsGates(t *testing.T) {
	h := startHub(t)
	ctx := t.Context()
	h.memberAt(t, "prod-1", "prod", "v1.37.2")
	// The member is at the target already: no upgrade to time.
	histograms := []string{fleetmetrics.GateWait, fleetmetrics.StageDuration}
	before := observations(t, histograms)

	if err := h.c.Create(ctx, gatedRun("monthly", "1.37")); err != nil {
		t.Fatal(err)
	}
	gate := h.pendingGate(t, "monthly")
	patch := client.MergeFrom(gate.DeepCopy())
	gate.Spec.State = fleetv1.GateCompleted
	if err := h.c.Patch(ctx, gate, patch); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, waitFor, "the approved run completes", func() error {
		if s := h.run(t, "monthly").Status.State; s != fleetv1.StateCompleted {
			return fmt.Errorf("state %s", s)
		}
		return nil
	})
	// The gate's wait and the stage's duration are observed once.
	after := observations(t, histograms)
	for _, name := range histograms {
		if after[name] != before[name]+1 {
			t.Errorf("%s: %d observations after the run, %d before; want one more", name, after[name], before[name])
		}
	}

	if err := h.c.Delete(ctx, h.run(t, "monthly")); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, waitFor, "the deleted run's gates are deleted", func() error {
		g := &fleetv1.Gate{}
		err := h.c.Get(ctx, client.ObjectKey{Name: gate.Name}, g)
		if apierrors.IsNotFound(err) {
			return nil
		}
		if err != nil {
			return err
		}
		return fmt.Errorf("gate %s is still there (%s)", g.Name, g.Spec.State)
	})

	// The same name again: the approval was given to the other run.
	if err := h.c.Create(ctx, gatedRun("monthly", "1.37")); err != nil {
		t.Fatal(err)
	}
	again := h.pendingGate(t, "monthly")
	if again.Name != gate.Name {
		t.Fatalf("the new run's gate is %s, the old one was %s", again.Name, gate.Name)
	}
	time.Sleep(2 * time.Second)
	if r := h.run(t, "monthly"); r.Status.State == fleetv1.StateCompleted || r.Status.Stages[0].State == fleetv1.StateCompleted {
		t.Fatalf("the recreated run passed its gate without approval: %s, stage %s", r.Status.State, r.Status.Stages[0].State)
	}
}

func TestAStaleApprovedGateOfAnEarlierRunIsReplaced(t *testing.T) {
	h := startHub(t)
	ctx := t.Context()
	h.memberAt(t, "prod-1", "prod", "v1.37.2")
	// A gate left behind, approved, for an earlier run of the same name
	// (a hub that was down while the run was deleted).
	name := rollout.GateName("monthly", "prod", "", fleetv1.GateBefore, 0)
	stale := &fleetv1.Gate{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{fleetv1.UpdateRunLabel: "monthly"},
			OwnerReferences: []metav1.OwnerReference{{APIVersion: fleetv1.GroupVersion.String(), Kind: "UpdateRun", Name: "monthly", UID: "0d9a6f0e-0000-0000-0000-000000000000"}}},
		Spec: fleetv1.GateSpec{Type: fleetv1.GateApproval, State: fleetv1.GateCompleted,
			Target: fleetv1.GateTarget{UpdateRun: "monthly", Stage: "prod", Timing: fleetv1.GateBefore}},
	}
	if err := h.c.Create(ctx, stale); err != nil {
		t.Fatal(err)
	}
	if err := h.c.Create(ctx, gatedRun("monthly", "1.37")); err != nil {
		t.Fatal(err)
	}
	gate := h.pendingGate(t, "monthly")
	if gate.UID == stale.UID {
		t.Fatal("the stale gate was reused")
	}
	if r := h.run(t, "monthly"); r.Status.State == fleetv1.StateCompleted {
		t.Fatal("the run passed its gate on an earlier run's approval")
	}
}

func TestKubectlWaitForSucceededReturnsWhenARunCompletes(t *testing.T) {
	h := startHub(t)
	ctx := t.Context()
	h.memberAt(t, "dev-1", "dev", "v1.37.2")
	if err := h.c.Create(ctx, startedRun("patch", fleetv1.UpgradeControlPlaneOnly, "1.37")); err != nil {
		t.Fatal(err)
	}
	// hack/tools.sh links the kubectl it builds here.
	kubectl := filepath.Join(toolchain.Default().CacheDir, "path", "kubectl")
	cmd := exec.CommandContext(ctx, kubectl, "--kubeconfig", h.kubeconfig, "wait", "--for=condition=Succeeded", "updaterun/patch", "--timeout=30s")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("kubectl wait: %v\n%s", err, out)
	}
	got := h.run(t, "patch")
	c := succeeded(got)
	if got.Status.State != fleetv1.StateCompleted || c == nil || c.Status != metav1.ConditionTrue || c.Reason != string(fleetv1.StateCompleted) {
		t.Fatalf("state %s, Succeeded %+v", got.Status.State, c)
	}
	if p := meta.FindStatusCondition(got.Status.Conditions, fleetv1.RunProgressing); p == nil || p.Status != metav1.ConditionFalse {
		t.Fatalf("Progressing %+v after completion", p)
	}
}

func TestAFailedRunIsNotSucceeded(t *testing.T) {
	h := startHub(t)
	ctx := t.Context()
	h.memberAt(t, "dev-1", "dev", "v1.37.2")
	// A downgrade is refused, which fails the member and the run.
	if err := h.c.Create(ctx, startedRun("down", fleetv1.UpgradeFull, "1.36")); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, waitFor, "the run fails with Succeeded False", func() error {
		r := h.run(t, "down")
		c := succeeded(r)
		if r.Status.State != fleetv1.StateFailed || c == nil || c.Status != metav1.ConditionFalse {
			return fmt.Errorf("state %s, Succeeded %+v", r.Status.State, c)
		}
		return nil
	})
	if r := h.run(t, "down"); !strings.Contains(r.Status.Stages[0].Groups[0].Members[0].Message, "downgrade") {
		t.Fatalf("member message %q does not name the downgrade", r.Status.Stages[0].Groups[0].Members[0].Message)
	}
}

// memberOnTheHub creates a member that the hub reaches with the hub's own
// kubeconfig (an API server is an API server) and that is upgraded by a
// command taking the given seconds. Its status says it runs v1.36.3, so a
// ControlPlaneOnly run to 1.37 upgrades it, and the upgrade succeeds once
// the command exits: the hub's API server reports v1.37.
func (h *testHub) memberOnTheHub(t *testing.T, name string, seconds int) {
	t.Helper()
	h.memberOnTheHubWith(t, name, &fleetv1.ExecProvider{Command: []string{"sleep", fmt.Sprint(seconds)}})
}

func (h *testHub) memberOnTheHubWith(t *testing.T, name string, provider *fleetv1.ExecProvider) {
	t.Helper()
	ctx := t.Context()
	kubeconfig, err := os.ReadFile(h.kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "flotilla-system"}}
	if err := h.c.Create(ctx, ns); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
	secret := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: name + "-kubeconfig", Namespace: ns.Name},
		Data:       map[string][]byte{"kubeconfig": kubeconfig},
	}
	if err := h.c.Create(ctx, secret); err != nil {
		t.Fatal(err)
	}
	m := &fleetv1.MemberCluster{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: fleetv1.MemberClusterSpec{
			Access: fleetv1.MemberAccess{Mode: fleetv1.AccessKubeconfig, KubeconfigSecretRef: &fleetv1.SecretKeyReference{
				Namespace: ns.Name, Name: secret.Name, Key: "kubeconfig"}},
			Provider: &fleetv1.ProviderSpec{Type: fleetv1.ProviderExec, Exec: provider},
		},
	}
	if err := h.c.Create(ctx, m); err != nil {
		t.Fatal(err)
	}
	m.Status.KubernetesVersion = "v1.36.3"
	if err := h.c.Status().Update(ctx, m); err != nil {
		t.Fatal(err)
	}
}

// startedRun is a started run of the default strategy (every member, one
// stage).
func startedRun(name string, upgradeType fleetv1.UpgradeType, version string) *fleetv1.UpdateRun {
	return &fleetv1.UpdateRun{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: fleetv1.UpdateRunSpec{
			ManagedClusterUpdate: fleetv1.ManagedClusterUpdate{Upgrade: fleetv1.UpgradeSpec{Type: upgradeType, KubernetesVersion: version}},
			State:                fleetv1.RunStarted,
		},
	}
}

func controlPlaneRun(name string) *fleetv1.UpdateRun {
	return startedRun(name, fleetv1.UpgradeControlPlaneOnly, "1.37")
}

func (h *testHub) memberState(t *testing.T, run, member string) fleetv1.MemberProgress {
	t.Helper()
	return memberStates(h.run(t, run))[member]
}

func TestARunWaitingForAnotherRunsMemberMovesWhenItIsReleased(t *testing.T) {
	h := startHub(t)
	ctx := t.Context()
	h.memberOnTheHub(t, "shared", 3)

	if err := h.c.Create(ctx, controlPlaneRun("first")); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, waitFor, "the first run upgrades the member", func() error {
		if p := h.memberState(t, "first", "shared"); p.State != fleetv1.StateRunning {
			return fmt.Errorf("member %s in the first run", p.State)
		}
		return nil
	})
	if err := h.c.Create(ctx, controlPlaneRun("second")); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, waitFor, "the second run waits for the member", func() error {
		if p := h.memberState(t, "second", "shared"); p.State != fleetv1.StatePending {
			return fmt.Errorf("member %s in the second run: %s", p.State, p.Message)
		}
		return nil
	})
	testenv.Eventually(t, waitFor, "the first run completes", func() error {
		if s := h.run(t, "first").Status.State; s != fleetv1.StateCompleted {
			return fmt.Errorf("first run %s", s)
		}
		return nil
	})
	released := time.Now()
	testenv.Eventually(t, waitFor, "the second run takes the released member", func() error {
		if p := h.memberState(t, "second", "shared"); p.State == fleetv1.StatePending {
			return fmt.Errorf("member still Pending in the second run: %s", p.Message)
		}
		return nil
	})
	if waited := time.Since(released); waited > 5*time.Second {
		t.Fatalf("the second run moved %s after the member was released", waited)
	}
}

// killOperations kills the upgrade commands a hub instance started, as the
// death of its pod would.
func killOperations(t *testing.T, stateDir string) {
	t.Helper()
	pids, err := filepath.Glob(filepath.Join(stateDir, "operations", "*", "pid"))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range pids {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var pid int
		if _, err := fmt.Sscan(string(raw), &pid); err != nil {
			t.Fatal(err)
		}
		_ = syscall.Kill(-pid, syscall.SIGKILL)
	}
}

// failOver starts a run whose member upgrade runs in hub instance a, kills
// a with the upgrade in flight, and starts instance b with an empty state
// directory. It returns the member's progress once b has decided.
func failOver(t *testing.T, idempotent bool) fleetv1.MemberProgress {
	h := startBareHub(t)
	ctx := t.Context()
	h.memberOnTheHubWith(t, "m1", &fleetv1.ExecProvider{Command: []string{"sleep", "2"}, Idempotent: idempotent})
	dirA := t.TempDir()
	stopA := h.startController(t, "hub-a", dirA)
	if err := h.c.Create(ctx, controlPlaneRun("failover")); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, waitFor, "hub-a upgrades the member", func() error {
		if p := h.memberState(t, "failover", "m1"); p.State != fleetv1.StateRunning || p.Operation == nil {
			return fmt.Errorf("member %s, operation %+v", p.State, p.Operation)
		}
		return nil
	})
	stopA()
	killOperations(t, dirA)
	h.startController(t, "hub-b", t.TempDir())
	var p fleetv1.MemberProgress
	testenv.Eventually(t, waitFor, "hub-b decides about the interrupted attempt", func() error {
		p = h.memberState(t, "failover", "m1")
		if p.State == fleetv1.StateRunning && p.Operation.HubInstance == "hub-a" {
			return fmt.Errorf("still hub-a's attempt: %s", p.Message)
		}
		return nil
	})
	return p
}

func TestAnIdempotentUpgradeInterruptedByAFailoverIsRunAgainByTheNewLeader(t *testing.T) {
	p := failOver(t, true)
	if p.Operation == nil || p.Operation.Attempt != 2 || p.Operation.HubInstance != "hub-b" {
		t.Fatalf("after the failover: %s %+v: %s", p.State, p.Operation, p.Message)
	}
}

func TestAnUpgradeThatIsNotIdempotentFailsAfterAFailoverAndSaysWhy(t *testing.T) {
	p := failOver(t, false)
	if p.State != fleetv1.StateFailed || !strings.Contains(p.Message, "interrupted by a hub failover") || !strings.Contains(p.Message, "hub-a") {
		t.Fatalf("after the failover: %s: %s", p.State, p.Message)
	}
	if p.Operation.Attempt != 1 {
		t.Fatalf("a second attempt was started: %+v", p.Operation)
	}
}

// TestACommandCheckTheHubMayNotRunFailsTheMemberAndSaysWhy runs the
// controller as a hub without --allow-exec (no Programs): the member's
// upgrade succeeds, its Command check is refused at once, and the member
// fails with the refusal in its message and in an Event of the run.
func TestACommandCheckTheHubMayNotRunFailsTheMemberAndSaysWhy(t *testing.T) {
	h := startHub(t)
	ctx := t.Context()
	h.memberOnTheHub(t, "dev-1", 0)
	run := controlPlaneRun("checked")
	run.Spec.Strategy = &fleetv1.UpdateStrategySpec{
		Stages:       []fleetv1.UpdateStage{{Name: "all", MemberSelector: &metav1.LabelSelector{}}},
		HealthChecks: []fleetv1.HealthCheck{{Name: "script", Type: fleetv1.CheckCommand, Command: []string{"true"}, TimeoutSeconds: 300}},
	}
	if err := h.c.Create(ctx, run); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, waitFor, "the member fails on its check", func() error {
		p := h.memberState(t, "checked", "dev-1")
		if p.State != fleetv1.StateFailed {
			return fmt.Errorf("member %s: %s", p.State, p.Message)
		}
		return nil
	})
	p := h.memberState(t, "checked", "dev-1")
	for _, want := range []string{"Command check script", "--allow-exec"} {
		if !strings.Contains(p.Message, want) {
			t.Errorf("member message %q does not name %q", p.Message, want)
		}
	}
	testenv.Eventually(t, waitFor, "an Event names the flag", func() error {
		events, err := h.cluster.Kube.EventsV1().Events("").List(ctx, metav1.ListOptions{})
		if err != nil {
			return err
		}
		for _, e := range events.Items {
			if e.Regarding.Name == "checked" && strings.Contains(e.Note, "--allow-exec") {
				return nil
			}
		}
		return fmt.Errorf("none among %d Events", len(events.Items))
	})
}

// A started run follows the strategy as it was when it started: the
// UpdateStrategy it names may be edited or deleted under it.
func TestAStartedRunKeepsTheStrategyItStartedWith(t *testing.T) {
	h := startHub(t)
	ctx := t.Context()
	h.memberAt(t, "prod-1", "prod", "v1.37.2")
	gated := gatedRun("unused", "1.37").Spec.Strategy
	strategy := &fleetv1.UpdateStrategy{ObjectMeta: metav1.ObjectMeta{Name: "gated"}, Spec: *gated}
	if err := h.c.Create(ctx, strategy); err != nil {
		t.Fatal(err)
	}
	run := gatedRun("monthly", "1.37")
	run.Spec.Strategy, run.Spec.UpdateStrategyName = nil, "gated"
	if err := h.c.Create(ctx, run); err != nil {
		t.Fatal(err)
	}
	gate := h.pendingGate(t, "monthly")
	if got := h.run(t, "monthly").Status.StrategySnapshot; got == nil || len(got.Stages) != 1 || len(got.Stages[0].BeforeGates) != 1 {
		t.Fatalf("strategySnapshot = %+v, want the gated strategy", got)
	}

	if err := h.c.Delete(ctx, strategy); err != nil {
		t.Fatal(err)
	}
	patch := client.MergeFrom(gate.DeepCopy())
	gate.Spec.State = fleetv1.GateCompleted
	if err := h.c.Patch(ctx, gate, patch); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, waitFor, "the run completes without its strategy", func() error {
		if r := h.run(t, "monthly"); r.Status.State != fleetv1.StateCompleted {
			return fmt.Errorf("state %s: %s", r.Status.State, r.Status.Message)
		}
		return nil
	})
}

// A member whose upgrade failed in the hub's eyes but that runs the target
// (its API server went away before the hub saw the upgrade through) is not
// upgraded again when the run is resumed, although the hub's last probe
// still says the old version: the member itself is asked.
func TestAResumedRunAsksAFailedMemberForItsOwnVersions(t *testing.T) {
	h := startHub(t)
	ctx := t.Context()
	// Status says v1.36.3; the member (the hub's own API server) runs 1.37.
	// The provider's command fails, so each attempt to upgrade it fails.
	h.memberOnTheHubWith(t, "m1", &fleetv1.ExecProvider{Command: []string{"false"}})
	if err := h.c.Create(ctx, startedRun("retry", fleetv1.UpgradeControlPlaneOnly, "1.37")); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, waitFor, "the first attempt fails", func() error {
		if r := h.run(t, "retry"); r.Status.State != fleetv1.StateFailed {
			return fmt.Errorf("state %s: %s", r.Status.State, r.Status.Message)
		}
		return nil
	})

	run := h.run(t, "retry")
	patch := client.MergeFrom(run.DeepCopy())
	if run.Annotations == nil {
		run.Annotations = map[string]string{}
	}
	run.Annotations[fleetv1.StartRequestAnnotation] = "resume-1"
	if err := h.c.Patch(ctx, run, patch); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, waitFor, "the resumed run completes without upgrading m1 again", func() error {
		r := h.run(t, "retry")
		if r.Status.State != fleetv1.StateCompleted {
			return fmt.Errorf("state %s: %s", r.Status.State, r.Status.Message)
		}
		if p := r.Status.MemberProgress("m1"); p.Operation != nil && p.Operation.Attempt > 1 {
			return fmt.Errorf("m1 was upgraded again: attempt %d", p.Operation.Attempt)
		}
		return nil
	})
}

// observations counts the values the hub's histograms named hold.
func observations(t *testing.T, names []string) map[string]uint64 {
	t.Helper()
	reg := prometheus.NewRegistry()
	if err := fleetmetrics.Register(reg, nil); err != nil {
		t.Fatal(err)
	}
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]uint64{}
	for _, mf := range families {
		if slices.Contains(names, mf.GetName()) {
			for _, m := range mf.GetMetric() {
				out[mf.GetName()] += m.GetHistogram().GetSampleCount()
			}
		}
	}
	return out
}
