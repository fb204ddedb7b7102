package updaterun

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	fleetv1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/internal/enrollment"
	"github.com/flotilla-dev/flotilla/internal/testenv"
	"github.com/flotilla-dev/flotilla/internal/upgrade"
)

// startRecorder is a provider that records the upgrades it is asked to
// start (the controller calls Start again while one runs: it is
// idempotent per operation) and reports them done at once.
type startRecorder struct {
	mu      sync.Mutex
	started map[string]map[string]bool
}

func (s *startRecorder) count(member string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.started[member])
}

func (*startRecorder) AvailableVersions(context.Context, upgrade.Member) ([]string, error) {
	return nil, nil
}

func (*startRecorder) NodeImages(context.Context, upgrade.Member, string) ([]upgrade.NodeImage, error) {
	return nil, nil
}

func (s *startRecorder) Start(_ context.Context, id string, m upgrade.Member, _ upgrade.Target) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.started[m.Name] == nil {
		s.started[m.Name] = map[string]bool{}
	}
	s.started[m.Name][id] = true
	return nil
}

func (s *startRecorder) Progress(_ context.Context, _ string, m upgrade.Member, _ upgrade.Target) (upgrade.Progress, error) {
	if s.count(m.Name) == 0 {
		return upgrade.Progress{Phase: upgrade.PhaseNotStarted}, nil
	}
	return upgrade.Progress{Phase: upgrade.PhaseSucceeded}, nil
}

func (*startRecorder) Cancel(context.Context, string, upgrade.Member) error { return nil }

// A member on 1.36 that still uses an API 1.37 removes is refused before
// anything is done to it, with the list; the member beside it is upgraded.
// Under preflight: Warn it is upgraded, with a Warning Event.
func TestThePreflightScanBlocksAMemberThatUsesAnAPITheTargetRemoves(t *testing.T) {
	env := testenv.Start(t, testenv.Options{CRDs: testenv.AllCRDs, Members: []string{"dirty", "clean"},
		MemberVersion: "1.36", MemberRuntimeConfig: "networking.k8s.io/v1beta1=true"})
	hub := env.Hub.Client
	ctx := t.Context()
	kubectl := testenv.CachedTool(t, "kubectl", "KUBECTL_VERSION")
	apply := exec.Command(kubectl, "--kubeconfig", env.Member("dirty").KubeconfigPath(), "apply", "-f", "-")
	apply.Stdin = strings.NewReader("apiVersion: networking.k8s.io/v1beta1\nkind: ServiceCIDR\nmetadata:\n  name: legacy-cidr\nspec:\n  cidrs: [\"10.250.3.0/24\"]\n")
	apply.Env = append(os.Environ(), "HOME="+t.TempDir())
	if out, err := apply.CombinedOutput(); err != nil {
		t.Fatalf("kubectl apply: %v\n%s", err, out)
	}

	if err := hub.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: enrollment.Namespace}}); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"dirty", "clean"} {
		kubeconfig, err := env.Member(name).Kubeconfig()
		if err != nil {
			t.Fatal(err)
		}
		secret := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: enrollment.SecretName(name), Namespace: enrollment.Namespace},
			Data: map[string][]byte{enrollment.KubeconfigKey: kubeconfig}}
		if err := hub.Create(ctx, secret); err != nil {
			t.Fatal(err)
		}
		m := &fleetv1.MemberCluster{
			ObjectMeta: metav1.ObjectMeta{Name: name},
			Spec: fleetv1.MemberClusterSpec{
				UpdateGroup: "prod",
				Access: fleetv1.MemberAccess{Mode: fleetv1.AccessKubeconfig, KubeconfigSecretRef: &fleetv1.SecretKeyReference{
					Namespace: enrollment.Namespace, Name: secret.Name, Key: enrollment.KubeconfigKey}},
				// The recorder stands in for a cloud; the API accepts only
				// provider types it knows.
				Provider: &fleetv1.ProviderSpec{Type: fleetv1.ProviderAKS, AKS: &fleetv1.AKSProvider{
					ResourceID: "/subscriptions/s/resourceGroups/g/providers/Microsoft.ContainerService/managedClusters/" + name}},
			},
		}
		if err := hub.Create(ctx, m); err != nil {
			t.Fatal(err)
		}
		m.Status.KubernetesVersion = "v1.36.3"
		if err := hub.Status().Update(ctx, m); err != nil {
			t.Fatal(err)
		}
	}
	recorder := &startRecorder{started: map[string]map[string]bool{}}
	runWithProvider(t, env.Hub, recorder, nil)

	runTo137 := func(name string, policy fleetv1.PreflightPolicy) {
		t.Helper()
		two := intstr.FromInt32(2)
		run := &fleetv1.UpdateRun{
			ObjectMeta: metav1.ObjectMeta{Name: name},
			Spec: fleetv1.UpdateRunSpec{
				Strategy: &fleetv1.UpdateStrategySpec{Preflight: policy, Stages: []fleetv1.UpdateStage{{
					Name: "prod", Groups: []fleetv1.UpdateGroup{{Name: "prod", MaxConcurrency: &two, MaxAllowedFailures: &two}},
				}}},
				ManagedClusterUpdate: fleetv1.ManagedClusterUpdate{Upgrade: fleetv1.UpgradeSpec{Type: fleetv1.UpgradeControlPlaneOnly, KubernetesVersion: "v1.37.2"}},
				State:                fleetv1.RunStarted,
			},
		}
		if err := hub.Create(ctx, run); err != nil {
			t.Fatal(err)
		}
	}
	h := &testHub{c: hub, cluster: env.Hub}
	runTo137("blocked", "")
	testenv.Eventually(t, waitFor, "the run settles both members", func() error {
		for _, m := range []string{"dirty", "clean"} {
			if p := h.memberState(t, "blocked", m); p.State != fleetv1.StateFailed && p.State != fleetv1.StateCompleted {
				return fmt.Errorf("%s: %s %q", m, p.State, p.Message)
			}
		}
		return nil
	})
	if p := h.memberState(t, "blocked", "dirty"); p.State != fleetv1.StateFailed ||
		!strings.Contains(p.Message, "refused by the pre-flight scan") || !strings.Contains(p.Message, "ServiceCIDR legacy-cidr networking.k8s.io/v1beta1 (removed in 1.37, use networking.k8s.io/v1; LastApplied)") {
		t.Errorf("dirty: %s %q, want Failed with the pre-flight findings", p.State, p.Message)
	}
	if p := h.memberState(t, "blocked", "clean"); p.State != fleetv1.StateCompleted {
		t.Errorf("clean: %s %q, want Completed", p.State, p.Message)
	}
	if n := recorder.count("dirty"); n != 0 {
		t.Errorf("the blocked member's upgrade was started %d times", n)
	}
	if n := recorder.count("clean"); n != 1 {
		t.Errorf("the clean member's upgrade was started %d times, want 1", n)
	}

	runTo137("warned", fleetv1.PreflightWarn)
	testenv.Eventually(t, waitFor, "the warned run upgrades the member that uses the API", func() error {
		if p := h.memberState(t, "warned", "dirty"); p.State != fleetv1.StateCompleted {
			return fmt.Errorf("dirty: %s %q", p.State, p.Message)
		}
		return nil
	})
	testenv.Eventually(t, waitFor, "a Warning Event with the findings", func() error {
		events := &corev1.EventList{}
		if err := hub.List(ctx, events); err != nil {
			return err
		}
		for _, e := range events.Items {
			if e.Reason == "PreflightFindings" && e.Type == corev1.EventTypeWarning && strings.Contains(e.Message, "legacy-cidr") {
				return nil
			}
		}
		return fmt.Errorf("no PreflightFindings Event among %d", len(events.Items))
	})
}
