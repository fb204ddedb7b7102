package healthcheck

import (
	"context"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"

	fleetv1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
)

func readyNode(name string, ready bool) *corev1.Node {
	s := corev1.ConditionTrue
	if !ready {
		s = corev1.ConditionFalse
	}
	return &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name},
		Status: corev1.NodeStatus{Conditions: []corev1.NodeCondition{{Type: corev1.NodeReady, Status: s}}}}
}

func podIn(ns, name string, phase corev1.PodPhase) *corev1.Pod {
	return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}, Status: corev1.PodStatus{Phase: phase}}
}

// allowPrograms lets Command checks run, as a hub with --allow-exec and
// its admission policy in force does.
type allowPrograms struct{}

func (allowPrograms) Permit(context.Context, string) error { return nil }

func target(objs ...runtime.Object) Target {
	return Target{Member: "dev-1", Stage: "stage-internal", Client: fake.NewClientset(objs...), Kubeconfig: []byte("kubeconfig-bytes"), Programs: allowPrograms{}}
}

func TestChecks(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/healthy" {
			w.WriteHeader(http.StatusOK)
			return
		}
		w.WriteHeader(http.StatusServiceUnavailable)
	}))
	defer srv.Close()

	cases := []struct {
		name   string
		check  fleetv1.HealthCheck
		target Target
		pass   bool
		output string
	}{
		{"nodes ready", fleetv1.HealthCheck{Type: fleetv1.CheckNodesReady}, target(readyNode("a", true), readyNode("b", true)), true, "2 nodes Ready"},
		{"a node not ready", fleetv1.HealthCheck{Type: fleetv1.CheckNodesReady}, target(readyNode("a", true), readyNode("b", false)), false, "NotReady or cordoned nodes: b"},
		{"no failed pods", fleetv1.HealthCheck{Type: fleetv1.CheckNoFailedPods}, target(podIn("x", "ok", corev1.PodRunning)), true, ""},
		{"a failed pod", fleetv1.HealthCheck{Type: fleetv1.CheckNoFailedPods}, target(podIn("x", "bad", corev1.PodFailed)), false, "x/bad (Failed)"},
		{"failed pod outside the namespaces", fleetv1.HealthCheck{Type: fleetv1.CheckNoFailedPods, Namespaces: []string{"prod"}}, target(podIn("x", "bad", corev1.PodFailed)), true, ""},
		{"unbound pvc", fleetv1.HealthCheck{Type: fleetv1.CheckPVCsBound}, target(&corev1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{Namespace: "x", Name: "data"}, Status: corev1.PersistentVolumeClaimStatus{Phase: corev1.ClaimPending}}), false, "x/data (Pending)"},
		{"command sees its environment", fleetv1.HealthCheck{Type: fleetv1.CheckCommand, Command: []string{"sh", "-c", `test "$CLUSTER" = dev-1 && test "$STAGE" = stage-internal && grep -q kubeconfig-bytes "$KUBECONFIG" && echo PASS`}}, target(), true, "PASS"},
		{"command fails with its output", fleetv1.HealthCheck{Type: fleetv1.CheckCommand, Command: []string{"sh", "-c", "echo 'FAIL: NotReady nodes: n1'; exit 1"}}, target(), false, "FAIL: NotReady nodes: n1"},
		{"http ok", fleetv1.HealthCheck{Type: fleetv1.CheckHTTP, HTTP: &fleetv1.HTTPCheck{URL: srv.URL + "/healthy"}}, target(), true, "answered 200"},
		{"http wrong status", fleetv1.HealthCheck{Type: fleetv1.CheckHTTP, HTTP: &fleetv1.HTTPCheck{URL: srv.URL + "/sick"}}, target(), false, "answered 503, want 200"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tc.check.TimeoutSeconds = 1 // one attempt: a failing check gives up at once
			tc.target.WorkDir = filepath.Join(t.TempDir(), "not-yet-made")
			r := Run(context.Background(), tc.check, tc.target)
			if r.Passed != tc.pass || !strings.Contains(r.Output, tc.output) {
				t.Fatalf("Run() = %+v, want passed=%v with output containing %q", r, tc.pass, tc.output)
			}
		})
	}
}

func TestRunAllStopsAtFirstFailure(t *testing.T) {
	checks := []fleetv1.HealthCheck{
		{Name: "nodes", Type: fleetv1.CheckNodesReady, TimeoutSeconds: 1},
		{Name: "never-runs", Type: fleetv1.CheckCommand, Command: []string{"false"}, TimeoutSeconds: 1},
	}
	results := RunAll(context.Background(), checks, target(readyNode("a", false)))
	if len(results) != 1 || results[0].Passed || !strings.HasPrefix(results[0].Summary(), "check nodes failed") {
		t.Fatalf("RunAll() = %+v, want only the failing first check", results)
	}
}

func TestCommandCheckRunsInItsOwnDirectoryWithOnlyItsEnvironment(t *testing.T) {
	t.Setenv("HUB_ONLY_SECRET", "hub-secret")
	tg := target()
	tg.WorkDir = t.TempDir()
	script := `test -z "$HUB_ONLY_SECRET" || { echo "hub variable leaked"; exit 1; }
test "$HOME" = "$PWD" && test "$TMPDIR" = "$PWD" || { echo "HOME=$HOME TMPDIR=$TMPDIR PWD=$PWD"; exit 1; }
test "$KUBECONFIG" = "$PWD/kubeconfig" || { echo "KUBECONFIG=$KUBECONFIG"; exit 1; }
case "$PWD" in "` + tg.WorkDir + `"/check-dev-1-*) echo PASS ;; *) echo "PWD=$PWD"; exit 1 ;; esac`
	r := Run(context.Background(), fleetv1.HealthCheck{Name: "env", Type: fleetv1.CheckCommand, Command: []string{"sh", "-c", script}, TimeoutSeconds: 1}, tg)
	if !r.Passed || r.Output != "PASS" {
		t.Fatalf("Run() = %+v", r)
	}
	if left, _ := filepath.Glob(filepath.Join(tg.WorkDir, "*")); len(left) != 0 {
		t.Errorf("the check left %v behind", left)
	}
}

func TestCommandCheckOutputIsRedactedAndCapped(t *testing.T) {
	tg := target()
	tg.Kubeconfig = []byte("apiVersion: v1\nkind: Config\nusers: [{name: u, user: {token: member-token-1234}}]\n")
	r := Run(context.Background(), fleetv1.HealthCheck{Name: "leak", Type: fleetv1.CheckCommand, TimeoutSeconds: 1,
		Command: []string{"sh", "-c", `head -c 200000 /dev/zero | tr '\\0' x; echo; grep token "$KUBECONFIG"; exit 1`}}, tg)
	if r.Passed || strings.Contains(r.Output, "member-token-1234") || !strings.Contains(r.Output, "[redacted]") {
		t.Fatalf("Run() output %q: want a failure with the token redacted", r.Output)
	}
	if len(r.Output) > 70<<10 {
		t.Errorf("output of %d bytes kept, want at most about %d", len(r.Output), 64<<10)
	}
}

func TestCommandCheckTimesOutWithItsChildren(t *testing.T) {
	start := time.Now()
	r := Run(context.Background(), fleetv1.HealthCheck{Name: "hang", Type: fleetv1.CheckCommand, TimeoutSeconds: 1,
		Command: []string{"sh", "-c", "sleep 30 & sleep 30; wait"}}, target())
	if r.Passed || time.Since(start) > 10*time.Second {
		t.Fatalf("Run() = %+v after %s, want a failure within the timeout", r, time.Since(start))
	}
}

func TestCommandCheckRefusedWithoutPermission(t *testing.T) {
	tg := target()
	tg.Programs = nil
	start := time.Now()
	r := Run(context.Background(), fleetv1.HealthCheck{Name: "script", Type: fleetv1.CheckCommand, Command: []string{"true"}, TimeoutSeconds: 60}, tg)
	if r.Passed || !strings.Contains(r.Output, "--allow-exec") || !strings.Contains(r.Output, "Command check script") {
		t.Fatalf("Run() = %+v, want a refusal naming --allow-exec", r)
	}
	if time.Since(start) > 5*time.Second {
		t.Errorf("a refused check was retried for %s", time.Since(start))
	}
}
