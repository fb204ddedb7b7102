package upgrade

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/version"
	fakediscovery "k8s.io/client-go/discovery/fake"
	"k8s.io/client-go/kubernetes/fake"

	fleetv1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/internal/hubexec"
)

func fakeMember(t *testing.T, controlPlane, kubelet string, command ...string) Member {
	t.Helper()
	cs := fake.NewClientset(&corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: "n1"},
		Status:     corev1.NodeStatus{NodeInfo: corev1.NodeSystemInfo{KubeletVersion: kubelet}},
	})
	cs.Discovery().(*fakediscovery.FakeDiscovery).FakedServerVersion = &version.Info{GitVersion: controlPlane}
	return Member{
		Name: "dev-1", Kubeconfig: []byte("apiVersion: v1\nkind: Config\n"), Client: cs,
		Provider: fleetv1.ProviderSpec{Type: fleetv1.ProviderExec, Exec: &fleetv1.ExecProvider{Command: command, TimeoutSeconds: 60}},
	}
}

func runToEnd(t *testing.T, p Provider, id string, m Member, target Target) Progress {
	t.Helper()
	ctx := context.Background()
	if err := p.Start(ctx, id, m, target); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		pr, err := p.Progress(ctx, id, m, target)
		if err != nil {
			t.Fatal(err)
		}
		if pr.Phase != PhaseRunning {
			return pr
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatal("upgrade still running after 10s")
	return Progress{}
}

func TestExecProvider(t *testing.T) {
	target := Target{Type: fleetv1.UpgradeFull, KubernetesVersion: "v1.37.2"}
	cases := []struct {
		name                  string
		controlPlane, kubelet string
		command               []string
		wantPhase             Phase
		wantMessage           string
	}{
		{"exit 0 and at target", "v1.37.2", "v1.37.2", []string{"sh", "-c", "test \"$FLOTILLA_KUBERNETES_VERSION\" = v1.37.2 && test -s \"$KUBECONFIG\""}, PhaseSucceeded, "target"},
		{"exit 0 but still on the old version", "v1.36.3", "v1.36.3", []string{"true"}, PhaseFailed, "control plane is v1.36.3"},
		{"exit 0 but a node is behind", "v1.37.2", "v1.36.3", []string{"true"}, PhaseFailed, "nodes run kubelet v1.36.3"},
		{"command fails", "v1.37.2", "v1.37.2", []string{"sh", "-c", "echo quota exceeded >&2; exit 4"}, PhaseFailed, "exited 4: quota exceeded"},
		{"template expanded", "v1.37.2", "v1.37.2", []string{"sh", "-c", "test \"$1\" = dev-1", "-", "${FLOTILLA_MEMBER}"}, PhaseSucceeded, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			providers := NewProviders(t.TempDir(), execOnly)
			m := fakeMember(t, tc.controlPlane, tc.kubelet, tc.command...)
			p, err := providers.For(&m.Provider)
			if err != nil {
				t.Fatal(err)
			}
			pr := runToEnd(t, p, OperationID("run", m.Name), m, target)
			if pr.Phase != tc.wantPhase || !strings.Contains(pr.Message, tc.wantMessage) {
				t.Fatalf("progress = %+v, want %s with %q", pr, tc.wantPhase, tc.wantMessage)
			}
		})
	}
}

func TestExecProviderTimeout(t *testing.T) {
	m := fakeMember(t, "v1.36.3", "v1.36.3", "sleep", "30")
	m.Provider.Exec.TimeoutSeconds = 1
	p, _ := NewProviders(t.TempDir(), execOnly).For(&m.Provider)
	pr := runToEnd(t, p, "op", m, Target{Type: fleetv1.UpgradeControlPlaneOnly, KubernetesVersion: "v1.37.2"})
	if pr.Phase != PhaseFailed || !strings.Contains(pr.Message, "timed out") {
		t.Fatalf("progress = %+v, want a timeout failure", pr)
	}
}

func TestAtTarget(t *testing.T) {
	v := Versions{ControlPlane: "v1.37.2", Kubelets: []string{"v1.36.3"}, NodeImages: []string{"img-1"}}
	cases := []struct {
		target Target
		want   bool
	}{
		{Target{Type: fleetv1.UpgradeControlPlaneOnly, KubernetesVersion: "1.37.2"}, true},
		{Target{Type: fleetv1.UpgradeControlPlaneOnly, KubernetesVersion: "1.37"}, true},
		{Target{Type: fleetv1.UpgradeFull, KubernetesVersion: "1.37.2"}, false},
		{Target{Type: fleetv1.UpgradeNodeImageOnly, NodeImage: "img-1"}, true},
		{Target{Type: fleetv1.UpgradeNodeImageOnly, NodeImage: "img-2"}, false},
		// Nodes of several OSes: each node runs the image of its own OS.
		{Target{Type: fleetv1.UpgradeNodeImageOnly, NodeImages: []NodeImage{{"linux", "img-1"}, {"windows", "win-1"}}}, true},
		{Target{Type: fleetv1.UpgradeNodeImageOnly, NodeImages: []NodeImage{{"linux", "img-2"}, {"windows", "win-1"}}}, false},
	}
	for _, tc := range cases {
		if got, why := AtTarget(v, tc.target); got != tc.want {
			t.Errorf("AtTarget(%+v) = %v (%s), want %v", tc.target, got, why, tc.want)
		}
	}
}

func TestExecCommandRunsInItsOwnDirectoryWithOnlyItsEnvironment(t *testing.T) {
	t.Setenv("HUB_ONLY_SECRET", "hub-secret")
	script := `test -z "$HUB_ONLY_SECRET" || { echo "hub variable leaked"; exit 1; }
test "$HOME" = "$PWD" && test "$TMPDIR" = "$PWD" && test "$KUBECONFIG" = "$PWD/kubeconfig" || { echo "HOME=$HOME PWD=$PWD KUBECONFIG=$KUBECONFIG"; exit 1; }
test "$CLUSTER" = dev-1 && test "$FLOTILLA_MEMBER" = dev-1 && test -s "$KUBECONFIG" || exit 1`
	m := fakeMember(t, "v1.37.2", "v1.37.2", "sh", "-c", script)
	stateDir := t.TempDir()
	p, _ := NewProviders(stateDir, execOnly).For(&m.Provider)
	pr := runToEnd(t, p, "op", m, Target{Type: fleetv1.UpgradeFull, KubernetesVersion: "v1.37.2"})
	if pr.Phase != PhaseSucceeded {
		t.Fatalf("progress = %+v", pr)
	}
	if left, _ := filepath.Glob(filepath.Join(stateDir, "operations", "op.env", "*")); len(left) != 0 {
		t.Errorf("the member's kubeconfig stays on disk after the command: %v", left)
	}
}

func TestExecCommandOutputIsRedacted(t *testing.T) {
	m := fakeMember(t, "v1.37.2", "v1.37.2", "sh", "-c", `cat "$KUBECONFIG"; exit 2`)
	m.Kubeconfig = []byte("apiVersion: v1\nkind: Config\nusers: [{name: u, user: {token: member-token-1234}}]\n")
	p, _ := NewProviders(t.TempDir(), execOnly).For(&m.Provider)
	pr := runToEnd(t, p, "op", m, Target{Type: fleetv1.UpgradeFull, KubernetesVersion: "v1.37.2"})
	if pr.Phase != PhaseFailed || strings.Contains(pr.Message, "member-token-1234") || !strings.Contains(pr.Message, "[redacted]") {
		t.Fatalf("progress = %+v, want a failure with the token redacted", pr)
	}
}

type refuseAll struct{}

func (refuseAll) Permit(_ context.Context, what string) error {
	return &hubexec.RefusedError{What: what, Reason: hubexec.ReasonExecNotAllowed}
}

func TestGuardedExecProviderRunsNothingWhenRefused(t *testing.T) {
	dir := t.TempDir()
	m := fakeMember(t, "v1.36.3", "v1.36.3", "touch", filepath.Join(dir, "ran"))
	p, _ := NewProviders(t.TempDir(), map[fleetv1.ProviderType]Factory{fleetv1.ProviderExec: RequirePermit(Exec, refuseAll{})}).For(&m.Provider)
	err := p.Start(context.Background(), "op", m, Target{Type: fleetv1.UpgradeFull, KubernetesVersion: "v1.37.2"})
	if err == nil || !strings.Contains(err.Error(), "spec.provider.exec of member dev-1") || !strings.Contains(err.Error(), "--allow-exec") {
		t.Fatalf("Start = %v, want a refusal naming the member and --allow-exec", err)
	}
	time.Sleep(100 * time.Millisecond)
	if _, err := os.Stat(filepath.Join(dir, "ran")); err == nil {
		t.Fatal("the refused command ran")
	}
}
