package localcluster_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/flotilla-dev/flotilla/internal/localcluster"
	"github.com/flotilla-dev/flotilla/internal/testenv"
)

// startCluster starts a cluster until the test ends. The tests here start
// clusters directly: they test what testenv is built on.
func startCluster(t *testing.T, opts localcluster.Options) *localcluster.Cluster {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c, err := localcluster.Start(ctx, opts)
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
	testenv.RequireTools(t)
	ctx := t.Context()
	start := time.Now()
	c := startCluster(t, localcluster.Options{Name: "alpha", Dir: t.TempDir(), KubernetesVersion: "1.36", Nodes: 3, Pods: 4})
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
		if !localcluster.NodeReady(&n) {
			t.Errorf("node %s not Ready", n.Name)
		}
		if got := n.Status.NodeInfo.KubeletVersion; got != "v1.36.3" {
			t.Errorf("node %s kubelet version %q, want v1.36.3 (kwok must keep it)", n.Name, got)
		}
		if got := n.Labels[localcluster.NodeImageLabel]; got != "flotilla-node-v1.36.3-202611.1" {
			t.Errorf("node %s image label %q, want the catalogue's older image", n.Name, got)
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
	attached, err := localcluster.Attach(c.Dir())
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
	testenv.RequireTools(t)
	c := startCluster(t, localcluster.Options{Name: "beta", Dir: t.TempDir()})
	data, err := c.UserKubeconfig("someone", "some-group")
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := clientcmd.RESTConfigFromKubeConfig(data)
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
	testenv.RequireTools(t)
	dir := t.TempDir()
	startCluster(t, localcluster.Options{Name: "gamma", Dir: dir})
	if _, err := localcluster.Start(t.Context(), localcluster.Options{Name: "gamma", Dir: dir}); err == nil || !strings.Contains(err.Error(), "already holds a cluster") {
		t.Fatalf("second Start in the same directory: %v", err)
	}
}

func TestStartValidatesOptions(t *testing.T) {
	for _, opts := range []localcluster.Options{
		{Name: "Bad_Name", Dir: t.TempDir()},
		{Name: "ok", Dir: t.TempDir(), Nodes: -1},
		{Name: "ok", Dir: t.TempDir(), Pods: 2},
		{Name: "ok", Dir: t.TempDir(), KubernetesVersion: "1.20"},
	} {
		if _, err := localcluster.Start(t.Context(), opts); err == nil {
			t.Errorf("Start(%+v) succeeded, want an error", opts)
		}
	}
}

func clientFor(t *testing.T, c *localcluster.Cluster) kubernetes.Interface {
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
	testenv.Eventually(t, 30*time.Second, fmt.Sprintf("%d nodes Ready at %s", n, kubeletVersion), func() error {
		nodes, err := client.CoreV1().Nodes().List(t.Context(), metav1.ListOptions{})
		if err != nil {
			return err
		}
		if len(nodes.Items) != n {
			return fmt.Errorf("%d nodes", len(nodes.Items))
		}
		for _, node := range nodes.Items {
			if !localcluster.NodeReady(&node) || node.Status.NodeInfo.KubeletVersion != kubeletVersion {
				return fmt.Errorf("node %s: Ready %t, kubelet %s", node.Name, localcluster.NodeReady(&node), node.Status.NodeInfo.KubeletVersion)
			}
		}
		return nil
	})
}
