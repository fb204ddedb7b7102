package localcluster

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/flotilla-dev/flotilla/internal/toolchain"
)

// requireTools skips the test when the tool binaries are not built, except
// in CI, where `make test` builds them first and a skip would hide a failure.
func requireTools(t *testing.T) {
	t.Helper()
	missing := toolchain.Default().Missing()
	if len(missing) == 0 {
		return
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("tool binaries missing in CI: %s", strings.Join(missing, ", "))
	}
	t.Skipf("tool binaries not built (%s): run `make tools` to run this test", strings.Join(missing, ", "))
}

func startCluster(t *testing.T, opts Options) *Cluster {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c, err := Start(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := c.Stop(); err != nil {
			t.Error(err)
		}
	})
	return c
}

func TestClusterLifecycle(t *testing.T) {
	requireTools(t)
	ctx := t.Context()
	start := time.Now()
	c := startCluster(t, Options{Name: "alpha", Dir: t.TempDir(), KubernetesVersion: "1.36", Nodes: 3, Pods: 4})
	t.Logf("cluster with 3 nodes and 4 pods up in %s", time.Since(start).Round(time.Millisecond))

	client := clientFor(t, c)
	assertServerVersion(t, client, "v1.36.3")

	nodes, err := client.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(nodes.Items) != 3 {
		t.Fatalf("%d nodes, want 3", len(nodes.Items))
	}
	for _, n := range nodes.Items {
		if !NodeReady(&n) {
			t.Errorf("node %s not Ready", n.Name)
		}
		if got := n.Status.NodeInfo.KubeletVersion; got != "v1.36.3" {
			t.Errorf("node %s kubelet version %q, want v1.36.3 (kwok must keep it)", n.Name, got)
		}
		if got := n.Labels[NodeImageLabel]; got != "flotilla-node-v1.36.3" {
			t.Errorf("node %s image label %q", n.Name, got)
		}
		if !strings.HasPrefix(n.Name, "alpha-node-") || n.Labels["type"] != "kwok" {
			t.Errorf("node %s: unexpected name or labels %v", n.Name, n.Labels)
		}
	}

	// Objects survive a control-plane upgrade: same etcd, newer binary.
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "before-upgrade", Namespace: "default"}, Data: map[string]string{"k": "v"}}
	if _, err := client.CoreV1().ConfigMaps("default").Create(ctx, cm, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	oldPID := c.State().APIServer.PID
	restart := time.Now()
	if err := c.RestartAPIServer(ctx, "1.37"); err != nil {
		t.Fatal(err)
	}
	t.Logf("API server restarted on v1.37.2 in %s", time.Since(restart).Round(time.Millisecond))
	if c.State().APIServer.PID == oldPID {
		t.Error("API server PID unchanged after restart")
	}
	assertServerVersion(t, client, "v1.37.2")
	got, err := client.CoreV1().ConfigMaps("default").Get(ctx, "before-upgrade", metav1.GetOptions{})
	if err != nil || got.Data["k"] != "v" {
		t.Fatalf("ConfigMap after restart: %v, %v", got, err)
	}

	// Another program finds the cluster from its directory.
	attached, err := Attach(c.Dir())
	if err != nil {
		t.Fatal(err)
	}
	if h := attached.Health(ctx, 5*time.Second); !h.Ready || h.ServerVersion != "v1.37.2" || !h.KwokRunning {
		t.Errorf("health after restart: %+v", h)
	}
	// Nodes stay Ready under kwok, with the version they had.
	waitForReadyNodes(t, client, 3, "v1.36.3")

	stopAPI := time.Now()
	if err := attached.StopAPIServer(); err != nil {
		t.Fatal(err)
	}
	t.Logf("API server stopped in %s", time.Since(stopAPI).Round(time.Millisecond))
	if h := attached.Health(ctx, time.Second); h.Ready || h.APIServerRunning || !h.EtcdRunning {
		t.Errorf("health with the API server stopped: %+v", h)
	}

	stop := time.Now()
	if err := attached.Stop(); err != nil {
		t.Fatal(err)
	}
	t.Logf("stopped in %s", time.Since(stop).Round(time.Millisecond))
	s := c.State()
	for _, alive := range []bool{s.Etcd.Alive(), s.APIServer.Alive(), s.Kwok.Alive()} {
		if alive {
			t.Errorf("a process survived Stop: %+v", s)
		}
	}
}

func TestUserKubeconfigIsRestrictedByRBAC(t *testing.T) {
	requireTools(t)
	c := startCluster(t, Options{Name: "beta", Dir: t.TempDir()})
	data, err := c.UserKubeconfig("someone", "some-group")
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := restConfigFrom(data)
	if err != nil {
		t.Fatal(err)
	}
	client := kubernetes.NewForConfigOrDie(cfg)
	_, err = client.CoreV1().Secrets("default").List(t.Context(), metav1.ListOptions{})
	if err == nil || !strings.Contains(err.Error(), "forbidden") {
		t.Fatalf("listing secrets as an unprivileged user: %v, want forbidden", err)
	}
	if _, err := client.Discovery().ServerVersion(); err != nil {
		t.Errorf("the user is not authenticated: %v", err)
	}
}

func TestStartRefusesADirectoryInUse(t *testing.T) {
	requireTools(t)
	dir := t.TempDir()
	startCluster(t, Options{Name: "gamma", Dir: dir})
	if _, err := Start(t.Context(), Options{Name: "gamma", Dir: dir}); err == nil || !strings.Contains(err.Error(), "already holds a cluster") {
		t.Fatalf("second Start in the same directory: %v", err)
	}
}

func TestStartValidatesOptions(t *testing.T) {
	for _, opts := range []Options{
		{Name: "Bad_Name", Dir: t.TempDir()},
		{Name: "ok", Dir: t.TempDir(), Nodes: -1},
		{Name: "ok", Dir: t.TempDir(), Pods: 2},
		{Name: "ok", Dir: t.TempDir(), KubernetesVersion: "1.20"},
	} {
		if _, err := Start(t.Context(), opts); err == nil {
			t.Errorf("Start(%+v) succeeded, want an error", opts)
		}
	}
}

func clientFor(t *testing.T, c *Cluster) kubernetes.Interface {
	t.Helper()
	cfg, err := c.RESTConfig()
	if err != nil {
		t.Fatal(err)
	}
	return kubernetes.NewForConfigOrDie(cfg)
}

func assertServerVersion(t *testing.T, client kubernetes.Interface, want string) {
	t.Helper()
	v, err := client.Discovery().ServerVersion()
	if err != nil {
		t.Fatal(err)
	}
	if v.GitVersion != want {
		t.Fatalf("/version says %s, want %s", v.GitVersion, want)
	}
}

func waitForReadyNodes(t *testing.T, client kubernetes.Interface, n int, kubeletVersion string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		nodes, err := client.CoreV1().Nodes().List(t.Context(), metav1.ListOptions{})
		ok := err == nil && len(nodes.Items) == n
		if ok {
			for _, node := range nodes.Items {
				ok = ok && NodeReady(&node) && node.Status.NodeInfo.KubeletVersion == kubeletVersion
			}
		}
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("nodes not %d Ready at %s: %v", n, kubeletVersion, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
