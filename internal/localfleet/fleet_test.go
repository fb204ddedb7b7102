package localfleet

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	fleetv1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/internal/fleetscheme"
	"github.com/flotilla-dev/flotilla/internal/localcluster/process"
	"github.com/flotilla-dev/flotilla/internal/testenv"
)

func TestUpStatusDown(t *testing.T) {
	testenv.RequireTools(t)
	layout := Layout{StateDir: t.TempDir(), Name: "test"}
	t.Cleanup(func() {
		if err := Down(layout, nil); err != nil {
			t.Error(err)
		}
	})
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()

	cfg := Config{Members: []MemberConfig{
		{Name: "dev-1", UpdateGroup: "dev", Labels: map[string]string{"env": "dev", "region": "westeurope"}, Nodes: ptr.To(2)},
		{Name: "prod-1", UpdateGroup: "prod", Nodes: ptr.To(1), Pods: 2},
	}}
	var out strings.Builder
	start := time.Now()
	first, err := Up(ctx, Options{Layout: layout, Config: cfg, Progress: &out, NoHubManager: true})
	t.Logf("up in %s:\n%s", time.Since(start).Round(time.Millisecond), out.String())
	if err != nil {
		t.Fatal(err)
	}
	if !first.Ready || first.HubManager != nil {
		t.Errorf("state: ready %v, hub manager %+v", first.Ready, first.HubManager)
	}

	// Every kubeconfig works on its own, and reports the expected versions.
	assertVersion(t, layout.HubKubeconfig(), "v1.37.2")
	assertVersion(t, layout.MemberKubeconfig("dev-1"), "v1.36.3")
	assertVersion(t, layout.MemberKubeconfig("prod-1"), "v1.36.3")
	nodes, err := clientFrom(t, layout.MemberKubeconfig("dev-1")).CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	if err != nil || len(nodes.Items) != 2 || nodes.Items[0].Labels["topology.kubernetes.io/region"] != "westeurope" {
		t.Errorf("dev-1 nodes: %v, %v", nodes, err)
	}

	// The members are enrolled on the hub, pointing at their clusters.
	hub := hubClient(t, layout.HubKubeconfig())
	for _, m := range cfg.Members {
		mc := &fleetv1.MemberCluster{}
		if err := hub.Get(ctx, client.ObjectKey{Name: m.Name}, mc); err != nil {
			t.Fatalf("member %s on the hub: %v", m.Name, err)
		}
		if mc.Spec.UpdateGroup != m.UpdateGroup || mc.Spec.Provider == nil || mc.Spec.Provider.Local == nil ||
			mc.Spec.Provider.Local.ClusterDir != layout.MemberDir(m.Name) {
			t.Errorf("member %s: spec %+v", m.Name, mc.Spec)
		}
	}

	st, err := Status(ctx, layout)
	if err != nil {
		t.Fatal(err)
	}
	if len(st.Clusters) != 3 || st.Clusters[0].Role != RoleHub {
		t.Fatalf("status: %+v", st)
	}
	for _, c := range st.Clusters {
		if !c.Ready || c.Problem != "" {
			t.Errorf("cluster %s not ready: %s", c.Name, c.Problem)
		}
	}

	// As after a crash: up again without down. The old fleet goes away.
	second, err := Up(ctx, Options{Layout: layout, Config: Config{Members: cfg.Members[:1]}, NoHubManager: true})
	if err != nil {
		t.Fatal(err)
	}
	assertAllStopped(t, first)
	assertVersion(t, layout.MemberKubeconfig("dev-1"), "v1.36.3")
	if _, err := os.Stat(layout.MemberKubeconfig("prod-1")); !os.IsNotExist(err) {
		t.Errorf("prod-1's kubeconfig survived a fresh up: %v", err)
	}

	if err := Down(layout, nil); err != nil {
		t.Fatal(err)
	}
	assertAllStopped(t, second)
	if _, err := os.Stat(layout.Dir()); !os.IsNotExist(err) {
		t.Errorf("fleet directory left behind: %v", err)
	}
	if _, err := Status(ctx, layout); err == nil {
		t.Error("status of a fleet that is down succeeded")
	}
	if err := Down(layout, nil); err != nil {
		t.Errorf("second down: %v", err)
	}
}

func TestDownRefusesADirectoryThatIsNoFleet(t *testing.T) {
	layout := Layout{StateDir: t.TempDir(), Name: "precious"}
	if err := os.MkdirAll(layout.Dir(), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := Down(layout, nil); err == nil {
		t.Fatal("down removed a directory that holds no fleet")
	}
	if _, err := os.Stat(layout.Dir()); err != nil {
		t.Fatal(err)
	}
}

func assertAllStopped(t *testing.T, s State) {
	t.Helper()
	var recs []process.Record
	if s.HubManager != nil {
		recs = append(recs, s.HubManager.Record)
	}
	for _, c := range s.clusters() {
		if c.Cluster == nil {
			t.Errorf("cluster %s not recorded", c.Name)
			continue
		}
		recs = append(recs, c.Cluster.Etcd, c.Cluster.APIServer)
		if c.Cluster.Kwok != nil {
			recs = append(recs, *c.Cluster.Kwok)
		}
	}
	for _, r := range recs {
		if r.PID == 0 || r.Alive() {
			t.Errorf("process %s (pid %d) still running or never recorded", r.Path, r.PID)
		}
	}
}

func clientFrom(t *testing.T, kubeconfig string) kubernetes.Interface {
	t.Helper()
	cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	return kubernetes.NewForConfigOrDie(cfg)
}

func assertVersion(t *testing.T, kubeconfig, want string) {
	t.Helper()
	v, err := clientFrom(t, kubeconfig).Discovery().ServerVersion()
	if err != nil {
		t.Fatalf("%s: %v", kubeconfig, err)
	}
	if v.GitVersion != want {
		t.Errorf("%s: /version says %s, want %s", kubeconfig, v.GitVersion, want)
	}
}

func hubClient(t *testing.T, kubeconfig string) client.Client {
	t.Helper()
	cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	c, err := client.New(cfg, client.Options{Scheme: fleetscheme.New()})
	if err != nil {
		t.Fatal(err)
	}
	return c
}
