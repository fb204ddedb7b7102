// Package providertest runs the scenario every cloud upgrade provider must
// pass, on a real hub API server, against the provider's fake cloud: a
// three-stage run in which the hub restarts mid-upgrade, a member fails in
// the cloud and a member's target is not on offer. Provider packages call
// Run from their tests.
package providertest

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	fleetv1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/internal/controller/updaterun"
	"github.com/flotilla-dev/flotilla/internal/enrollment"
	"github.com/flotilla-dev/flotilla/internal/memberaccess"
	"github.com/flotilla-dev/flotilla/internal/rollout"
	"github.com/flotilla-dev/flotilla/internal/testenv"
	"github.com/flotilla-dev/flotilla/internal/upgrade"
)

// Cloud is a test's model of a cloud (or management cluster), which the
// scenario drives and inspects.
type Cloud interface {
	// Versions is what the member runs now, as its API server would report
	// it; the scenario copies it into the member's status, playing the
	// hub's probe.
	Versions(member string) upgrade.Versions
	// FailUpgrade makes the member's next upgrade fail in the cloud with
	// message.
	FailUpgrade(member, message string)
	// Hold keeps the member's upgrade in progress, as the cloud reports it,
	// until Release.
	Hold(member string)
	Release(member string)
	// UpgradeRequests counts the requests that started an upgrade of the
	// member (of its control plane, pools or node images); reads do not
	// count.
	UpgradeRequests(member string) int
}

// Scenario is one provider's run of the scenario.
type Scenario struct {
	Provider fleetv1.ProviderType
	// Factory builds the provider against the fake cloud.
	Factory upgrade.Factory
	Cloud   Cloud
	// Members are one member per stage, at From on the cloud. The scenario
	// names them stage-1, stage-2 and stage-3: the Cloud's member names.
	Members [3]fleetv1.ProviderSpec
	// Unoffered is a member (named unoffered) at From whose cloud does not
	// offer Target.
	Unoffered fleetv1.ProviderSpec
	// From and Target are full versions, e.g. v1.36.3 and v1.37.2.
	From, Target string
	// Secrets are extra Secrets the providers' settings name, created on
	// the hub before the members (a Cluster API management kubeconfig).
	Secrets []corev1.Secret
	// RequestsPerUpgrade is how many upgrade requests a Full upgrade of
	// member stage-1 takes on this cloud (one for the control plane and
	// one per pool where the cloud upgrades pools separately); zero means
	// one. Exactly that many may reach the cloud across the hub restart.
	RequestsPerUpgrade int
}

// MemberNames are the names the scenario gives its members, in order; the
// last is Unoffered.
var MemberNames = [4]string{"stage-1", "stage-2", "stage-3", "unoffered"}

// failMessage is what the cloud says when member stage-2 fails.
const failMessage = "the cloud refused the upgrade: quota exceeded in region (scenario)"

// wait bounds each step of the scenario.
const wait = 90 * time.Second

// Run runs the scenario: it starts a hub API server, registers the members
// with kubeconfigs that reach it (their versions come from the Cloud), and
// checks that
//   - the plan refuses the Unoffered member, saying why;
//   - stage-1's upgrade, held in the cloud across a hub restart, is
//     requested once and completes;
//   - stage-2's upgrade fails in the cloud, and the run fails with the
//     cloud's message before stage-3, which gets no upgrade request.
func Run(t *testing.T, s Scenario) {
	t.Helper()
	env := testenv.Start(t, testenv.Options{CRDs: testenv.AllCRDs})
	h := &hub{t: t, env: env, s: s, c: env.Hub.Client}
	h.createSecrets()
	specs := append(s.Members[:], s.Unoffered)
	for _, name := range MemberNames {
		if got := s.Cloud.Versions(name).ControlPlane; !rollout.SameVersion(got, s.From) {
			t.Fatalf("the cloud has member %s at %q, want it at From %s", name, got, s.From)
		}
	}
	for i, spec := range specs {
		h.register(MemberNames[i], i+1, spec)
	}
	stopProbe := h.probe()
	defer stopProbe()

	providers := upgrade.NewProviders("", map[fleetv1.ProviderType]upgrade.Factory{s.Provider: s.Factory}).
		WithSecrets(upgrade.SecretsFrom(h.c))
	h.checkPlanRefusesUnoffered(providers)

	s.Cloud.Hold(MemberNames[0])
	s.Cloud.FailUpgrade(MemberNames[1], failMessage)
	stop := h.startHub()
	h.createRun()

	h.eventually("stage-1 upgrading in the cloud", func() error {
		if n := s.Cloud.UpgradeRequests(MemberNames[0]); n == 0 {
			return fmt.Errorf("no upgrade request yet; member state %s", h.memberState(MemberNames[0]))
		}
		if st := h.memberState(MemberNames[0]); st != fleetv1.StateRunning {
			return fmt.Errorf("member state %s", st)
		}
		return nil
	})
	stop()
	t.Log("hub stopped mid-upgrade of stage-1; starting it again")
	stop = h.startHub()
	defer stop()
	// The restarted hub polls the held upgrade a few times before the
	// cloud lets it finish: each poll calls Start again.
	time.Sleep(3 * time.Second)
	s.Cloud.Release(MemberNames[0])

	h.eventually("the run to end", func() error {
		r := h.run()
		if r.Status.State == fleetv1.StateFailed || r.Status.State == fleetv1.StateCompleted {
			return nil
		}
		return fmt.Errorf("run %s: %s", r.Status.State, r.Status.Message)
	})
	r := h.run()
	want := max(s.RequestsPerUpgrade, 1)
	if got := s.Cloud.UpgradeRequests(MemberNames[0]); got != want {
		t.Errorf("stage-1 got %d upgrade requests across the hub restart, want %d", got, want)
	}
	if st := h.memberState(MemberNames[0]); st != fleetv1.StateCompleted {
		t.Errorf("stage-1: %s, want Completed", st)
	}
	if r.Status.State != fleetv1.StateFailed {
		t.Errorf("run %s, want Failed: stage-2 failed in the cloud", r.Status.State)
	}
	if p := h.member(MemberNames[1]); p.State != fleetv1.StateFailed || !strings.Contains(p.Message, failMessage) {
		t.Errorf("stage-2: %s %q, want Failed with the cloud's message %q", p.State, p.Message, failMessage)
	}
	if got := s.Cloud.UpgradeRequests(MemberNames[2]); got != 0 {
		t.Errorf("stage-3 got %d upgrade requests, want none: the run stops before its stage", got)
	}
	if len(r.Status.Stages) == 3 && r.Status.Stages[2].State != fleetv1.StateNotStarted && r.Status.Stages[2].State != "" {
		t.Errorf("stage-3 is %s, want NotStarted", r.Status.Stages[2].State)
	}
}

type hub struct {
	t   *testing.T
	env *testenv.Env
	s   Scenario
	c   client.Client
}

func (h *hub) eventually(what string, check func() error) {
	h.t.Helper()
	testenv.Eventually(h.t, wait, what, check)
}

func (h *hub) createSecrets() {
	h.t.Helper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: enrollment.Namespace}}
	if err := h.c.Create(h.t.Context(), ns); err != nil {
		h.t.Fatal(err)
	}
	for i := range h.s.Secrets {
		if err := h.c.Create(h.t.Context(), h.s.Secrets[i].DeepCopy()); err != nil {
			h.t.Fatal(err)
		}
	}
}

// register creates a member whose kubeconfig reaches the hub's own API
// server: reachable, as the upgrade needs nothing else of it.
func (h *hub) register(name string, stage int, spec fleetv1.ProviderSpec) {
	h.t.Helper()
	kubeconfig, err := h.env.Hub.Kubeconfig()
	if err != nil {
		h.t.Fatal(err)
	}
	secret := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: enrollment.SecretName(name), Namespace: enrollment.Namespace,
			Labels: map[string]string{enrollment.MemberLabel: name}},
		Data: map[string][]byte{enrollment.KubeconfigKey: kubeconfig},
	}
	if err := h.c.Create(h.t.Context(), secret); err != nil {
		h.t.Fatal(err)
	}
	m := &fleetv1.MemberCluster{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"stage": fmt.Sprint(stage)}},
		Spec: fleetv1.MemberClusterSpec{
			Access: fleetv1.MemberAccess{Mode: fleetv1.AccessKubeconfig, KubeconfigSecretRef: &fleetv1.SecretKeyReference{
				Namespace: enrollment.Namespace, Name: secret.Name, Key: enrollment.KubeconfigKey}},
			Provider: spec.DeepCopy(),
		},
	}
	if err := h.c.Create(h.t.Context(), m); err != nil {
		h.t.Fatalf("creating member %s: %v", name, err)
	}
	if err := h.observe(name); err != nil {
		h.t.Fatal(err)
	}
}

// observe writes what the cloud says the member runs into its status, as
// the hub's probe of its API server would.
func (h *hub) observe(name string) error {
	ctx := h.t.Context()
	m := &fleetv1.MemberCluster{}
	if err := h.c.Get(ctx, client.ObjectKey{Name: name}, m); err != nil {
		return err
	}
	v := h.s.Cloud.Versions(name)
	m.Status.KubernetesVersion = v.ControlPlane
	nodes := fleetv1.NodeSummary{}
	for _, k := range v.Kubelets {
		nodes.KubeletVersions = append(nodes.KubeletVersions, fleetv1.VersionCount{Version: k, Count: 1})
		nodes.Total++
	}
	nodes.Ready = nodes.Total
	for _, img := range v.NodeImages {
		nodes.NodeImages = append(nodes.NodeImages, fleetv1.VersionCount{Version: img, Count: 1})
	}
	m.Status.Nodes = nodes
	meta.SetStatusCondition(&m.Status.Conditions, metav1.Condition{Type: fleetv1.MemberReachable, Status: metav1.ConditionTrue,
		Reason: "Probed", Message: "the scenario plays the probe", ObservedGeneration: m.Generation})
	return h.c.Status().Update(ctx, m)
}

// probe keeps the members' status in step with the cloud until stopped.
func (h *hub) probe() (stop func()) {
	ctx, cancel := context.WithCancel(h.t.Context())
	var wg sync.WaitGroup
	wg.Go(func() {
		tick := time.NewTicker(300 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
				for _, name := range MemberNames {
					// A conflict with the controller's own writes is retried
					// on the next tick.
					_ = h.observe(name)
				}
			}
		}
	})
	return func() { cancel(); wg.Wait() }
}

func (h *hub) checkPlanRefusesUnoffered(providers upgrade.Providers) {
	h.t.Helper()
	m := &fleetv1.MemberCluster{}
	if err := h.c.Get(h.t.Context(), client.ObjectKey{Name: MemberNames[3]}, m); err != nil {
		h.t.Fatal(err)
	}
	req := upgrade.Request{Upgrade: fleetv1.UpgradeSpec{Type: fleetv1.UpgradeFull, KubernetesVersion: h.s.Target}}
	_, obs := upgrade.Assess(h.t.Context(), providers, req, m)
	if obs.Blocked == "" {
		h.t.Fatalf("the plan would upgrade member %s to %s, which its cloud does not offer", m.Name, h.s.Target)
	}
	h.t.Logf("the plan refuses %s: %s", m.Name, obs.Blocked)
	plan, err := rollout.MakePlan(rollout.Input{
		RunName:  "plan",
		Strategy: fleetv1.UpdateStrategySpec{Stages: []fleetv1.UpdateStage{{Name: "all", Groups: []fleetv1.UpdateGroup{{Name: "all"}}}}},
		Target:   h.s.Target,
		Members:  []rollout.Member{{Name: m.Name, UpdateGroup: "all"}},
		Desired:  fleetv1.RunStarted,
		Observed: rollout.Observations{Members: map[string]rollout.MemberObservation{m.Name: obs}},
		Now:      time.Now(),
	})
	if err != nil {
		h.t.Fatal(err)
	}
	for _, st := range plan.Stages {
		for _, g := range st.Groups {
			for _, mp := range g.Members {
				if mp.Name == m.Name && mp.Action != rollout.PlanRefuse {
					h.t.Errorf("plan for %s: %s, want %s", m.Name, mp.Action, rollout.PlanRefuse)
				}
			}
		}
	}
}

// startHub runs the update-run controller with the scenario's provider, as
// hub instance "scenario" (a restart, not a failover: the same instance
// calls Start again for the upgrade in flight).
func (h *hub) startHub() (stop func()) {
	h.t.Helper()
	ctx, cancel := context.WithCancel(h.t.Context())
	stateDir := h.t.TempDir()
	h.env.Hub.RunManagerUntil(h.t, ctx, func(mgr ctrl.Manager) error {
		return (&updaterun.Reconciler{
			Client:   mgr.GetClient(),
			Recorder: mgr.GetEventRecorder("providertest"),
			Members:  &memberaccess.Clients{Hub: mgr.GetClient()},
			Providers: upgrade.NewProviders(stateDir, map[fleetv1.ProviderType]upgrade.Factory{h.s.Provider: h.s.Factory}).
				WithSecrets(upgrade.SecretsFrom(mgr.GetAPIReader())),
			WorkDir:  filepath.Join(stateDir, "checks"),
			Instance: "scenario",
		}).SetupWithManager(mgr)
	})
	return cancel
}

const runName = "scenario"

func (h *hub) createRun() {
	h.t.Helper()
	var stages []fleetv1.UpdateStage
	for i := 1; i <= 3; i++ {
		stages = append(stages, fleetv1.UpdateStage{
			Name:           fmt.Sprintf("stage-%d", i),
			MemberSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"stage": fmt.Sprint(i)}},
		})
	}
	run := &fleetv1.UpdateRun{
		ObjectMeta: metav1.ObjectMeta{Name: runName},
		Spec: fleetv1.UpdateRunSpec{
			Strategy:             &fleetv1.UpdateStrategySpec{Stages: stages},
			ManagedClusterUpdate: fleetv1.ManagedClusterUpdate{Upgrade: fleetv1.UpgradeSpec{Type: fleetv1.UpgradeFull, KubernetesVersion: h.s.Target}},
			State:                fleetv1.RunStarted,
		},
	}
	if err := h.c.Create(h.t.Context(), run); err != nil {
		h.t.Fatal(err)
	}
}

func (h *hub) run() *fleetv1.UpdateRun {
	h.t.Helper()
	r := &fleetv1.UpdateRun{}
	if err := h.c.Get(h.t.Context(), client.ObjectKey{Name: runName}, r); err != nil {
		h.t.Fatal(err)
	}
	return r
}

func (h *hub) member(name string) fleetv1.MemberProgress {
	for _, st := range h.run().Status.Stages {
		for _, g := range st.Groups {
			for _, m := range g.Members {
				if m.Name == name {
					return m
				}
			}
		}
	}
	return fleetv1.MemberProgress{Name: name}
}

func (h *hub) memberState(name string) fleetv1.State { return h.member(name).State }
