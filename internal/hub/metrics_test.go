package hub_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"sigs.k8s.io/controller-runtime/pkg/client"

	fleetv1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/internal/enrollment"
	"github.com/flotilla-dev/flotilla/internal/fleetmetrics"
	"github.com/flotilla-dev/flotilla/internal/hub"
	"github.com/flotilla-dev/flotilla/internal/localcluster"
	"github.com/flotilla-dev/flotilla/internal/testenv"
)

// TestMetrics runs the hub against a real API server with two members, one
// of them unreachable, and a run waiting at a gate, scrapes its /metrics
// over HTTP and checks the values against the fleet's objects; a deleted
// member's series vanish.
func TestMetrics(t *testing.T) {
	testenv.RequireTools(t)
	env := testenv.Start(t, testenv.Options{CRDs: testenv.AllCRDs})
	c := env.Hub.Client
	ctx := t.Context()
	reachable, err := env.Hub.Kubeconfig()
	if err != nil {
		t.Fatal(err)
	}
	ports, err := localcluster.FreePorts(2)
	if err != nil {
		t.Fatal(err)
	}
	// The hub's own API server is the reachable member.
	if _, err := enrollment.Enroll(ctx, c, enrollment.Request{Name: "near", Kubeconfig: reachable, UpdateGroup: "prod"}); err != nil {
		t.Fatal(err)
	}
	addMember(t, c, "far", unreachable(t, ports[1]))

	metricsAddr := fmt.Sprintf("127.0.0.1:%d", ports[0])
	hubCtx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- hub.Run(hubCtx, env.Hub.Config, hub.Options{
			MetricsAddress: metricsAddr, HealthAddress: "0", StateDir: t.TempDir(), Instance: "hub-metrics",
		})
	}()
	t.Cleanup(func() {
		stop()
		if err := <-done; err != nil {
			t.Errorf("hub: %v", err)
		}
	})

	run := &fleetv1.UpdateRun{
		ObjectMeta: metav1.ObjectMeta{Name: "gated"},
		Spec: fleetv1.UpdateRunSpec{
			Strategy: &fleetv1.UpdateStrategySpec{Stages: []fleetv1.UpdateStage{{
				Name: "prod", Groups: []fleetv1.UpdateGroup{{Name: "prod"}},
				BeforeGates: []fleetv1.GateConfig{{Type: fleetv1.GateApproval}},
			}}},
			ManagedClusterUpdate: fleetv1.ManagedClusterUpdate{Upgrade: fleetv1.UpgradeSpec{Type: fleetv1.UpgradeControlPlaneOnly, KubernetesVersion: "v1.99.0"}},
			State:                fleetv1.RunStarted,
		},
	}
	if err := c.Create(ctx, run); err != nil {
		t.Fatal(err)
	}

	url := "http://" + metricsAddr + "/metrics"
	testenv.Eventually(t, time.Minute, "the scrape to match the fleet", func() error {
		families, err := testenv.Scrape(url)
		if err != nil {
			return err
		}
		members := &fleetv1.MemberClusterList{}
		if err := c.List(ctx, members); err != nil {
			return err
		}
		for _, m := range members.Items {
			if m.Status.KubernetesVersion == "" && m.Name == "near" {
				return fmt.Errorf("%s not probed yet", m.Name)
			}
			want := map[string]float64{
				fleetmetrics.MemberReachable:  map[string]float64{"near": 1, "far": 0}[m.Name],
				fleetmetrics.MemberNodes:      float64(m.Status.Nodes.Total),
				fleetmetrics.MemberFailedPods: float64(m.Status.FailedPods),
			}
			for name, v := range want {
				if got, ok := testenv.MetricValue(t, families, name, map[string]string{"member": m.Name}); !ok || got != v {
					return fmt.Errorf("%s{member=%q} = %v (present %v), want %v", name, m.Name, got, ok, v)
				}
			}
			info := map[string]string{"member": m.Name, "group": m.Spec.UpdateGroup, "version": m.Status.KubernetesVersion}
			if v, ok := testenv.MetricValue(t, families, fleetmetrics.MemberInfo, info); !ok || v != 1 {
				return fmt.Errorf("%s%v = %v (present %v), want 1", fleetmetrics.MemberInfo, info, v, ok)
			}
		}
		if age, ok := testenv.MetricValue(t, families, fleetmetrics.MemberHeartbeatAge, map[string]string{"member": "near"}); !ok || age < 0 || age > 120 {
			return fmt.Errorf("heartbeat age of near = %v (present %v)", age, ok)
		}
		if err := c.Get(ctx, client.ObjectKeyFromObject(run), run); err != nil {
			return err
		}
		if run.Status.State == "" || len(run.Status.Stages) == 0 {
			return fmt.Errorf("run not planned yet")
		}
		if v, ok := testenv.MetricValue(t, families, fleetmetrics.RunState, map[string]string{"run": run.Name, "state": string(run.Status.State)}); !ok || v != 1 {
			return fmt.Errorf("run state %s not reported: %v %v", run.Status.State, v, ok)
		}
		byState := map[string]float64{}
		for _, s := range run.Status.Stages {
			for _, g := range s.Groups {
				for _, m := range g.Members {
					byState[string(orNotStarted(m.State))]++
				}
			}
		}
		if byState[string(fleetv1.StateNotStarted)] != 1 {
			return fmt.Errorf("want the prod member waiting at the gate, run members by state %v", byState)
		}
		for state, n := range byState {
			if v, _ := testenv.MetricValue(t, families, fleetmetrics.RunMembers, map[string]string{"run": run.Name, "state": state}); v != n {
				return fmt.Errorf("%s{run=%q,state=%q} = %v, want %v", fleetmetrics.RunMembers, run.Name, state, v, n)
			}
		}
		return nil
	})

	// A deleted member's series are gone at the next scrape.
	if err := c.Delete(ctx, &fleetv1.MemberCluster{ObjectMeta: metav1.ObjectMeta{Name: "far"}}); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, 30*time.Second, "the deleted member's series gone", func() error {
		families, err := testenv.Scrape(url)
		if err != nil {
			return err
		}
		if got := testenv.LabelValues(families, fleetmetrics.MemberInfo, "member"); len(got) != 1 || got[0] != "near" {
			return fmt.Errorf("members reported: %v", got)
		}
		return nil
	})
}

func orNotStarted(s fleetv1.State) fleetv1.State {
	if s == "" {
		return fleetv1.StateNotStarted
	}
	return s
}

// addMember registers a member whose kubeconfig is stored as is, without
// enrollment's reachability check.
func addMember(t *testing.T, c client.Client, name string, kubeconfig []byte) {
	t.Helper()
	secret := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: enrollment.SecretName(name), Namespace: enrollment.Namespace, Labels: map[string]string{enrollment.MemberLabel: name}},
		Data:       map[string][]byte{enrollment.KubeconfigKey: kubeconfig},
	}
	if err := c.Create(t.Context(), secret); err != nil {
		t.Fatal(err)
	}
	mc := &fleetv1.MemberCluster{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: fleetv1.MemberClusterSpec{Access: fleetv1.MemberAccess{
			Mode:                fleetv1.AccessKubeconfig,
			KubeconfigSecretRef: &fleetv1.SecretKeyReference{Namespace: enrollment.Namespace, Name: secret.Name, Key: enrollment.KubeconfigKey},
		}},
	}
	if err := c.Create(t.Context(), mc); err != nil {
		t.Fatal(err)
	}
}

// unreachable is a kubeconfig for a port nothing listens on.
func unreachable(t *testing.T, port int) []byte {
	t.Helper()
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["gone"] = &clientcmdapi.Cluster{Server: fmt.Sprintf("https://127.0.0.1:%d", port), InsecureSkipTLSVerify: true}
	cfg.AuthInfos["gone"] = &clientcmdapi.AuthInfo{Token: "t"}
	cfg.Contexts["gone"] = &clientcmdapi.Context{Cluster: "gone", AuthInfo: "gone"}
	cfg.CurrentContext = "gone"
	data, err := clientcmd.Write(*cfg)
	if err != nil {
		t.Fatal(err)
	}
	return data
}
