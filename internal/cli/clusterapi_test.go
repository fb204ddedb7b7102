package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	controlplanev1 "sigs.k8s.io/cluster-api/api/controlplane/kubeadm/v1beta2"
	clusterv1 "sigs.k8s.io/cluster-api/api/core/v1beta2"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	fleetv1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/internal/crdinstall"
	"github.com/flotilla-dev/flotilla/internal/enrollment"
	"github.com/flotilla-dev/flotilla/internal/fleetscheme"
	"github.com/flotilla-dev/flotilla/internal/provider/clusterapi"
	"github.com/flotilla-dev/flotilla/internal/testenv"
)

// capiManagement starts a real API server with Cluster API's CRDs and, in
// namespace clusters, the Clusters names at v1.36.3 of a ClusterClass
// offering v1.36.3 and v1.37.2 and two images; each Cluster's
// `<name>-kubeconfig` Secret holds a kubeconfig of that same API server
// (a reachable workload cluster, as member create checks). It returns the
// management cluster's kubeconfig file.
func capiManagement(t *testing.T, names ...string) string {
	t.Helper()
	env := testenv.Start(t, testenv.Options{})
	ctx := context.Background()
	if err := crdinstall.Apply(ctx, env.Hub.Client, testenv.ClusterAPICRDs(t), time.Minute); err != nil {
		t.Fatal(err)
	}
	c, err := client.New(env.Hub.Config, client.Options{Scheme: clusterapi.Scheme()})
	if err != nil {
		t.Fatal(err)
	}
	kubeconfig, err := env.Hub.Kubeconfig()
	if err != nil {
		t.Fatal(err)
	}
	const ns, version = "clusters", "v1.36.3"
	enum := []apiextensionsv1.JSON{{Raw: []byte(`"ubuntu-2404-v1.36.3"`)}, {Raw: []byte(`"ubuntu-2404-v1.37.2"`)}}
	infra := clusterv1.ContractVersionedObjectReference{APIGroup: "infrastructure.cluster.x-k8s.io", Kind: "DockerMachineTemplate", Name: "t"}
	objs := []client.Object{
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}},
		&clusterv1.ClusterClass{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "quick-start"},
			Spec: clusterv1.ClusterClassSpec{
				KubernetesVersions: []string{version, "v1.37.2"},
				Infrastructure: clusterv1.InfrastructureClass{TemplateRef: clusterv1.ClusterClassTemplateReference{
					APIVersion: "infrastructure.cluster.x-k8s.io/v1beta2", Kind: "DockerClusterTemplate", Name: "t"}},
				ControlPlane: clusterv1.ControlPlaneClass{TemplateRef: clusterv1.ClusterClassTemplateReference{
					APIVersion: "controlplane.cluster.x-k8s.io/v1beta2", Kind: "KubeadmControlPlaneTemplate", Name: "t"}},
				Variables: []clusterv1.ClusterClassVariable{{Name: "imageName", Required: ptr.To(false),
					Schema: clusterv1.VariableSchema{OpenAPIV3Schema: clusterv1.JSONSchemaProps{Type: "string", Enum: enum}}}},
			},
		},
	}
	for _, name := range names {
		objs = append(objs,
			&clusterv1.Cluster{
				ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
				Spec: clusterv1.ClusterSpec{
					ControlPlaneRef: clusterv1.ContractVersionedObjectReference{APIGroup: controlplanev1.GroupVersion.Group, Kind: "KubeadmControlPlane", Name: name + "-cp"},
					Topology: clusterv1.Topology{
						ClassRef: clusterv1.ClusterClassRef{Name: "quick-start"}, Version: version,
						Variables: []clusterv1.ClusterVariable{{Name: "imageName", Value: enum[0]}},
						Workers:   clusterv1.WorkersTopology{MachineDeployments: []clusterv1.MachineDeploymentTopology{{Class: "default-worker", Name: "md-0"}}},
					},
				},
			},
			&controlplanev1.KubeadmControlPlane{
				ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name + "-cp"},
				Spec: controlplanev1.KubeadmControlPlaneSpec{Replicas: ptr.To[int32](3), Version: version,
					MachineTemplate: controlplanev1.KubeadmControlPlaneMachineTemplate{Spec: controlplanev1.KubeadmControlPlaneMachineTemplateSpec{InfrastructureRef: infra}}},
			},
			&clusterv1.MachineDeployment{
				ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name + "-md-0-x7k2p", Labels: map[string]string{
					clusterv1.ClusterNameLabel: name, clusterv1.ClusterTopologyMachineDeploymentNameLabel: "md-0"}},
				Spec: clusterv1.MachineDeploymentSpec{ClusterName: name, Replicas: ptr.To[int32](2),
					Selector: metav1.LabelSelector{MatchLabels: map[string]string{"md": name}},
					Template: clusterv1.MachineTemplateSpec{ObjectMeta: clusterv1.ObjectMeta{Labels: map[string]string{"md": name}},
						Spec: clusterv1.MachineSpec{ClusterName: name, Version: version, InfrastructureRef: infra,
							Bootstrap: clusterv1.Bootstrap{DataSecretName: ptr.To("b")}}}},
			},
			&corev1.Secret{
				ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name + "-kubeconfig"},
				Data:       map[string][]byte{clusterapi.KubeconfigSecretKey: kubeconfig},
			})
	}
	for _, obj := range objs {
		if err := c.Create(ctx, obj); err != nil {
			t.Fatalf("creating %T %s: %v", obj, obj.GetName(), err)
		}
	}
	// The status Cluster API's controllers report for provisioned Clusters.
	for _, name := range names {
		kcp := &controlplanev1.KubeadmControlPlane{}
		md := &clusterv1.MachineDeployment{}
		cl := &clusterv1.Cluster{}
		if err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: name + "-cp"}, kcp); err != nil {
			t.Fatal(err)
		}
		kcp.Status = controlplanev1.KubeadmControlPlaneStatus{Versions: []clusterv1.StatusVersion{{Version: version, Replicas: 3}}, Replicas: ptr.To[int32](3), ReadyReplicas: ptr.To[int32](3), UpToDateReplicas: ptr.To[int32](3), ObservedGeneration: kcp.Generation}
		if err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: name + "-md-0-x7k2p"}, md); err != nil {
			t.Fatal(err)
		}
		md.Status = clusterv1.MachineDeploymentStatus{Replicas: ptr.To[int32](2), ReadyReplicas: ptr.To[int32](2), UpToDateReplicas: ptr.To[int32](2), ObservedGeneration: md.Generation, Phase: "Running"}
		if err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, cl); err != nil {
			t.Fatal(err)
		}
		cl.Status = clusterv1.ClusterStatus{Phase: "Provisioned", ObservedGeneration: cl.Generation, Conditions: []metav1.Condition{{
			Type: clusterv1.ClusterTopologyReconciledCondition, Status: metav1.ConditionTrue, Reason: clusterv1.ClusterTopologyReconcileSucceededReason, LastTransitionTime: metav1.Now()}}}
		for _, obj := range []client.Object{kcp, md, cl} {
			if err := c.Status().Update(ctx, obj); err != nil {
				t.Fatal(err)
			}
		}
	}
	path := filepath.Join(t.TempDir(), "management.kubeconfig")
	if err := os.WriteFile(path, kubeconfig, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestClusterAPIWorkflow runs the commands of docs/clusterapi.md, in its
// order: members registered from their Cluster on a real management
// cluster (Cluster API's CRDs on a real API server, the workload
// kubeconfig fetched from `<cluster>-kubeconfig`), member show with the
// provider's view, the strategy, the run and its plan (the target
// resolved by the ClusterClass's kubernetesVersions), start, watch and
// the gate's approval. The hub is the CLI tests' fake: the test plays the
// hub's controllers where the run moves on (the hub's side of a Cluster
// API run is TestScenario in internal/provider/clusterapi).
func TestClusterAPIWorkflow(t *testing.T) {
	management := capiManagement(t, "dev-1", "prod-eu-1")
	base := fake.NewClientBuilder().WithScheme(fleetscheme.New()).
		WithStatusSubresource(&fleetv1.UpdateRun{}, &fleetv1.MemberCluster{}, &fleetv1.Gate{}).Build()
	hub := &closingHub{WithWatch: base, opened: make(chan struct{}, 10)}
	must := func(args ...string) string {
		t.Helper()
		out, _, err := runCLI(hub, args...)
		if err != nil {
			t.Fatalf("flotilla %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return out
	}
	ctx := context.Background()

	// Register the clusters.
	for _, m := range []struct{ name, cluster, group string }{{"capi-dev-1", "dev-1", "group-dev"}, {"capi-prod-eu-1", "prod-eu-1", "group-prod"}} {
		must("member", "create", m.name, "--provider", "cluster-api", "--management-kubeconfig", management,
			"--cluster", m.cluster, "--cluster-namespace", "clusters", "--node-image-variable", "imageName", "--update-group", m.group)
		member := &fleetv1.MemberCluster{}
		if err := hub.Get(ctx, client.ObjectKey{Name: m.name}, member); err != nil {
			t.Fatal(err)
		}
		p := member.Spec.Provider
		if p == nil || p.Type != fleetv1.ProviderClusterAPI || p.ClusterAPI.Name != m.cluster || p.ClusterAPI.Namespace != "clusters" || p.ClusterAPI.NodeImageVariable != "imageName" {
			t.Fatalf("member %s provider %+v", m.name, p)
		}
		ref := p.ClusterAPI.ManagementKubeconfigSecretRef
		secret := &corev1.Secret{}
		if err := hub.Get(ctx, client.ObjectKey{Namespace: ref.Namespace, Name: ref.Name}, secret); err != nil {
			t.Fatalf("the management kubeconfig Secret %s/%s: %v", ref.Namespace, ref.Name, err)
		}
		want, _ := os.ReadFile(management)
		if !bytes.Equal(secret.Data[ref.Key], want) {
			t.Fatalf("the stored management kubeconfig differs from --management-kubeconfig")
		}
		access := &corev1.Secret{}
		if err := hub.Get(ctx, client.ObjectKey{Namespace: enrollment.Namespace, Name: enrollment.SecretName(m.name)}, access); err != nil || len(access.Data[enrollment.KubeconfigKey]) == 0 {
			t.Fatalf("the member's kubeconfig fetched from %s-kubeconfig was not stored: %v", m.cluster, err)
		}
		// The hub's probe would write what the member's API server says.
		member.Status.KubernetesVersion = "v1.36.3"
		if err := hub.Status().Update(ctx, member); err != nil {
			t.Fatal(err)
		}
	}

	show := must("member", "show", "capi-dev-1")
	t.Logf("member show capi-dev-1:\n%s", show)
	for _, want := range []string{"Control plane: v1.36.3 (Provisioned)", "Upgrades to:   v1.37.2\n", "md-0", "ubuntu-2404-v1.36.3   ubuntu-2404-v1.37.2", "Running"} {
		if !strings.Contains(show, want) {
			t.Errorf("member show misses %q:\n%s", want, show)
		}
	}
	var shown struct {
		ProviderView struct {
			ControlPlaneVersion string                  `json:"controlPlaneVersion"`
			Pools               []struct{ Name string } `json:"pools"`
		} `json:"providerView"`
	}
	if err := json.Unmarshal([]byte(must("member", "show", "capi-dev-1", "-o", "json")), &shown); err != nil || shown.ProviderView.ControlPlaneVersion != "v1.36.3" || len(shown.ProviderView.Pools) != 1 {
		t.Fatalf("member show -o json: %+v %v", shown, err)
	}

	// A member's Cluster API settings are changed with member update.
	must("member", "update", "capi-prod-eu-1", "--provider", "cluster-api", "--management-kubeconfig", management,
		"--cluster", "prod-eu-1", "--cluster-namespace", "clusters", "--node-image-variable", "imageName")
	updated := &fleetv1.MemberCluster{}
	if err := hub.Get(ctx, client.ObjectKey{Name: "capi-prod-eu-1"}, updated); err != nil {
		t.Fatal(err)
	}
	if p := updated.Spec.Provider; p == nil || p.ClusterAPI == nil || p.ClusterAPI.ManagementKubeconfigSecretRef.Name != enrollment.ManagementSecretName("capi-prod-eu-1") || p.ClusterAPI.Name != "prod-eu-1" {
		t.Fatalf("provider after member update: %+v", p)
	}
	if show := must("member", "show", "capi-prod-eu-1"); !strings.Contains(show, "Control plane: v1.36.3 (Provisioned)") {
		t.Fatalf("member show after update:\n%s", show)
	}

	// The strategy and the run.
	must("updatestrategy", "create", "-n", "capi-staged", "--stages", `[
  {"name": "stage-dev", "groups": [{"name": "group-dev"}], "afterGates": [{"type": "Approval", "displayName": "dev looks good"}]},
  {"name": "stage-prod", "groups": [{"name": "group-prod"}]}
]`)
	must("updaterun", "create", "-n", "capi-1-37", "--upgrade-type", "Full", "--kubernetes-version", "1.37", "--update-strategy-name", "capi-staged")
	plan := must("updaterun", "plan", "-n", "capi-1-37")
	t.Logf("updaterun plan capi-1-37:\n%s", plan)
	for _, want := range []string{"v1.37.2", "stage-dev", "capi-dev-1", "stage-prod", "capi-prod-eu-1"} {
		if !strings.Contains(plan, want) {
			t.Errorf("the plan misses %q:\n%s", want, plan)
		}
	}
	must("updaterun", "start", "-n", "capi-1-37")
	run := &fleetv1.UpdateRun{}
	if err := hub.Get(ctx, client.ObjectKey{Name: "capi-1-37"}, run); err != nil || run.Spec.State != fleetv1.RunStarted {
		t.Fatalf("run after start: %+v %v", run.Spec.State, err)
	}

	// Watch it; the test plays the hub, which holds the run at the gate.
	gate := &fleetv1.Gate{
		ObjectMeta: metav1.ObjectMeta{Name: "capi-1-37-stage-dev-after-0-abcde"},
		Spec: fleetv1.GateSpec{Type: fleetv1.GateApproval, DisplayName: "dev looks good", State: fleetv1.GatePending,
			Target: fleetv1.GateTarget{UpdateRun: "capi-1-37", Stage: "stage-dev", Timing: fleetv1.GateAfter}},
	}
	if err := hub.Create(ctx, gate); err != nil {
		t.Fatal(err)
	}
	result := make(chan cliResult)
	go func() {
		out, errOut, err := runCLI(hub, "updaterun", "watch", "-n", "capi-1-37")
		result <- cliResult{out, errOut, err}
	}()
	<-hub.opened
	if gates := must("gate", "list", "--state", "Pending"); !strings.Contains(gates, gate.Name) {
		t.Fatalf("gate list misses %s:\n%s", gate.Name, gates)
	}
	must("gate", "approve", gate.Name)
	if err := hub.Get(ctx, client.ObjectKeyFromObject(gate), gate); err != nil || gate.Spec.State != fleetv1.GateCompleted {
		t.Fatalf("gate after approve: %s %v", gate.Spec.State, err)
	}
	if err := hub.Get(ctx, client.ObjectKey{Name: "capi-1-37"}, run); err != nil {
		t.Fatal(err)
	}
	run.Status.State = fleetv1.StateCompleted
	if err := hub.Status().Update(ctx, run); err != nil {
		t.Fatal(err)
	}
	r := <-result
	if r.err != nil || !strings.Contains(r.stdout, "Update run capi-1-37: Completed") {
		t.Fatalf("watch: %v\n%s", r.err, r.stdout)
	}
}
