package charts_test

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/flotilla-dev/flotilla/internal/testenv"
)

// TestHubRunsUnderTheChartServiceAccount runs `flotilla hub` with the hub
// chart's in-cluster kubeconfig and a token of the chart's ServiceAccount
// (so with exactly the chart's RBAC), and drives one of everything the hub
// does through it: CRD install, leader election, probing a member with its
// stored credentials, an update run with an approval gate (created and
// approved by the flotilla-operator user), and a placement scheduled,
// snapshotted and written as a Work, then deleted. Any "forbidden" in the
// hub's log fails the test. This is a smoke test of the chart's identity;
// the end-to-end upgrade and placement suites under it are separate.
func TestHubRunsUnderTheChartServiceAccount(t *testing.T) {
	c := apiServer(t)
	installHubChart(t, c)
	dir := t.TempDir()
	kubeconfig := c.inClusterKubeconfig(t, dir, hubChart, c.token(t, fleetNS, "flotilla-hub"))
	bin := buildFlotilla(t, dir)
	// One CRD is missing, so that the hub creates it (server-side apply of an
	// absent object is a create, allowed by name) and patches the others.
	c.kubectl(t, nil, "delete", "crd", "resourceoverrides.placement.kubernetes-fleet.io", "--wait")
	healthAddr := freeAddress(t)
	log := startProcess(t, "hub", dir, bin, "hub", "--kubeconfig", kubeconfig, "--state-dir", filepath.Join(dir, "state"),
		"--metrics-bind-address", "0", "--health-probe-bind-address", healthAddr, "--leader-elect")
	as := func(user string) []string { return []string{"--as", user} }

	waitReady(t, healthAddr)
	testenv.Eventually(t, 60*time.Second, "the hub holds the leader lease", func() error {
		l, err := c.client.CoordinationV1().Leases(fleetNS).Get(context.Background(), "flotilla-hub", metav1.GetOptions{})
		if err != nil {
			return err
		}
		if l.Spec.HolderIdentity == nil || *l.Spec.HolderIdentity == "" {
			return fmt.Errorf("no holder")
		}
		return nil
	})
	c.kubectl(t, nil, "wait", "--for=condition=Established", "crd/updateruns.fleet.flotilla.dev", "crd/clusterresourceplacements.placement.kubernetes-fleet.io",
		"crd/resourceoverrides.placement.kubernetes-fleet.io", "--timeout=30s")

	// A member the hub reaches with stored credentials (this API server),
	// created by the flotilla-admin user.
	c.kubectl(t, nil, append(as(adminUser), "-n", fleetNS, "create", "secret", "generic", "member-self-kubeconfig", "--from-file=kubeconfig="+c.kubeconfig)...)
	c.kubectl(t, nil, append(as(adminUser), "-n", fleetNS, "label", "secret", "member-self-kubeconfig", "fleet.flotilla.dev/member=self")...)
	c.kubectl(t, []byte(fmt.Sprintf(`apiVersion: fleet.flotilla.dev/v1alpha1
kind: MemberCluster
metadata:
  name: self
  labels: {env: smoke}
spec:
  updateGroup: g1
  heartbeatPeriodSeconds: 30
  access:
    mode: Kubeconfig
    kubeconfigSecretRef: {namespace: %s, name: member-self-kubeconfig, key: kubeconfig}
  provider:
    type: Exec
    exec: {command: ["true"], availableVersions: [%q]}
`, fleetNS, c.version)), append(as(adminUser), "apply", "-f", "-")...)
	c.kubectl(t, nil, "wait", "--for=condition=Joined", "membercluster/self", "--timeout=60s")
	c.kubectl(t, nil, "wait", "--for=condition=Reachable", "membercluster/self", "--timeout=60s")

	// An update run to the version the member runs, with an approval after
	// its only stage: the flotilla-operator user creates and approves it.
	c.kubectl(t, []byte(fmt.Sprintf(`apiVersion: fleet.flotilla.dev/v1alpha1
kind: UpdateStrategy
metadata: {name: smoke}
spec:
  stages:
  - name: only
    groups: [{name: g1}]
    afterGates: [{type: Approval, displayName: smoke approval}]
---
apiVersion: fleet.flotilla.dev/v1alpha1
kind: UpdateRun
metadata: {name: smoke}
spec:
  updateStrategyName: smoke
  managedClusterUpdate:
    upgrade: {type: Full, kubernetesVersion: %q}
  state: Started
`, c.version)), append(as(operatorUser), "apply", "-f", "-")...)
	var gate string
	testenv.Eventually(t, 60*time.Second, "the run's approval gate exists", func() error {
		out, err := runKubectl(kubectlBin(t), c.kubeconfig, nil, append(as(viewerUser), "get", "gates", "-l", "fleet.flotilla.dev/update-run=smoke", "-o", "name")...)
		if err != nil {
			return err
		}
		if gate = strings.TrimSpace(out); gate == "" {
			return fmt.Errorf("no gate yet")
		}
		return nil
	})
	c.kubectl(t, nil, append(as(operatorUser), "patch", gate, "--type=merge", "-p", `{"spec":{"state":"Completed"}}`)...)
	c.kubectl(t, nil, "wait", "--for=condition=Succeeded", "updaterun/smoke", "--timeout=60s")

	// A placement: the member's agent is simulated by marking it connected;
	// the hub selects the namespace, snapshots it, binds the member and
	// writes its Work, then cleans all of it up when the placement goes.
	hb := time.Now().UTC().Format(time.RFC3339)
	c.kubectl(t, nil, "patch", "membercluster/self", "--subresource=status", "--type=merge", "-p",
		fmt.Sprintf(`{"status":{"agentLastHeartbeatTime":%q,"conditions":[{"type":"AgentConnected","status":"True","reason":"Heartbeat","message":"simulated agent","lastTransitionTime":%q}]}}`, hb, hb))
	c.kubectl(t, nil, "create", "namespace", "smoke-app")
	c.kubectl(t, nil, "-n", "smoke-app", "create", "configmap", "settings", "--from-literal=mode=smoke")
	c.kubectl(t, []byte(`apiVersion: placement.kubernetes-fleet.io/v1
kind: ClusterResourcePlacement
metadata: {name: smoke}
spec:
  resourceSelectors: [{group: "", version: v1, kind: Namespace, name: smoke-app}]
  policy: {placementType: PickAll}
`), append(as(operatorUser), "apply", "-f", "-")...)
	testenv.Eventually(t, 60*time.Second, "the hub writes the member's Work", func() error {
		_, err := runKubectl(kubectlBin(t), c.kubeconfig, nil, "-n", "flotilla-member-self", "get", "work", "smoke")
		return err
	})
	c.kubectl(t, nil, append(as(operatorUser), "delete", "clusterresourceplacement", "smoke", "--wait=false")...)
	testenv.Eventually(t, 60*time.Second, "the placement and its Work are gone", func() error {
		out, err := runKubectl(kubectlBin(t), c.kubeconfig, nil, "get", "clusterresourceplacement/smoke", "work.fleet.flotilla.dev/smoke",
			"-n", "flotilla-member-self", "--ignore-not-found", "-o", "name")
		if err != nil {
			return err
		}
		if strings.TrimSpace(out) != "" {
			return fmt.Errorf("still there: %s", out)
		}
		return nil
	})

	if strings.Contains(strings.ToLower(log.String()), "forbidden") {
		t.Errorf("the hub was refused something under the chart's ServiceAccount:\n%s", grep(log.String(), "orbidden"))
	}
}

// startProcess starts bin with args, HOME in home and its output collected,
// and stops it (SIGTERM, then SIGKILL) when the test ends, printing its log
// if the test failed.
func startProcess(t *testing.T, what, home, bin string, args ...string) *lockedBuffer {
	t.Helper()
	log := &lockedBuffer{}
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = log, log
	cmd.Env = append(os.Environ(), "HOME="+home)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		var exit error
		select {
		case exit = <-done:
		case <-time.After(15 * time.Second):
			_ = cmd.Process.Kill()
			exit = <-done
		}
		if t.Failed() {
			t.Logf("%s log (exit: %v):\n%s", what, exit, log.String())
		}
	})
	return log
}

// buildFlotilla builds the flotilla binary into dir.
func buildFlotilla(t *testing.T, dir string) string {
	t.Helper()
	bin := filepath.Join(dir, "flotilla")
	if out, err := run(t, nil, "go", "build", "-o", bin, "../cmd/flotilla"); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

func freeAddress(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

func grep(text, substr string) string {
	var out []string
	for _, line := range strings.Split(text, "\n") {
		if strings.Contains(line, substr) {
			out = append(out, line)
		}
	}
	return strings.Join(out, "\n")
}

// lockedBuffer collects a process's output while tests read it.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// waitReady waits until a flotilla process serves /readyz at addr.
func waitReady(t *testing.T, addr string) {
	t.Helper()
	testenv.Eventually(t, 60*time.Second, "the hub is ready", func() error {
		resp, err := http.Get("http://" + addr + "/readyz")
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("/readyz: %s", resp.Status)
		}
		return nil
	})
}
