package clusterapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	controlplanev1 "sigs.k8s.io/cluster-api/api/controlplane/kubeadm/v1beta2"
	clusterv1 "sigs.k8s.io/cluster-api/api/core/v1beta2"
	"sigs.k8s.io/controller-runtime/pkg/client"

	fleetv1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/internal/crdinstall"
	"github.com/flotilla-dev/flotilla/internal/testenv"
	"github.com/flotilla-dev/flotilla/internal/upgrade"
)

// The management cluster of these tests is a real kube-apiserver
// (internal/testenv) with Cluster API's own CRDs installed
// (testenv.ClusterAPICRDs).

// management is a management cluster for the tests: a real API server with
// Cluster API's CRDs, and a client of it.
type management struct {
	cluster    *testenv.Cluster
	c          client.Client
	kubeconfig []byte
}

func startManagement(t *testing.T) *management {
	t.Helper()
	env := testenv.Start(t, testenv.Options{})
	scheme := Scheme()
	if err := apiextensionsv1.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	c, err := client.New(env.Hub.Config, client.Options{Scheme: scheme})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := crdinstall.Apply(ctx, c, testenv.ClusterAPICRDs(t), time.Minute); err != nil {
		t.Fatalf("installing Cluster API's CRDs: %v", err)
	}
	kubeconfig, err := env.Hub.Kubeconfig()
	if err != nil {
		t.Fatal(err)
	}
	return &management{cluster: env.Hub, c: c, kubeconfig: kubeconfig}
}

const (
	testNamespace = "clusters"
	imageVariable = "imageName"
)

// class is a ClusterClass for the tests: it offers versions and, when
// images are given, a string variable imageName with those images as its
// enum.
func (m *management) class(t *testing.T, name string, versions, images []string) {
	t.Helper()
	cc := &clusterv1.ClusterClass{
		ObjectMeta: metav1.ObjectMeta{Namespace: testNamespace, Name: name},
		Spec: clusterv1.ClusterClassSpec{
			KubernetesVersions: versions,
			Infrastructure: clusterv1.InfrastructureClass{TemplateRef: clusterv1.ClusterClassTemplateReference{
				APIVersion: "infrastructure.cluster.x-k8s.io/v1beta2", Kind: "DockerClusterTemplate", Name: name,
			}},
			ControlPlane: clusterv1.ControlPlaneClass{TemplateRef: clusterv1.ClusterClassTemplateReference{
				APIVersion: "controlplane.cluster.x-k8s.io/v1beta2", Kind: "KubeadmControlPlaneTemplate", Name: name,
			}},
		},
	}
	if len(images) > 0 {
		schema := clusterv1.JSONSchemaProps{Type: "string"}
		for _, img := range images {
			raw, _ := json.Marshal(img)
			schema.Enum = append(schema.Enum, apiextensionsv1.JSON{Raw: raw})
		}
		cc.Spec.Variables = []clusterv1.ClusterClassVariable{{Name: imageVariable, Required: ptr.To(false), Schema: clusterv1.VariableSchema{OpenAPIV3Schema: schema}}}
	}
	m.create(t, cc)
}

func (m *management) create(t *testing.T, obj client.Object) {
	t.Helper()
	ctx := context.Background()
	if err := m.c.Get(ctx, client.ObjectKey{Name: testNamespace}, &corev1.Namespace{}); apierrors.IsNotFound(err) {
		if err := m.c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: testNamespace}}); err != nil && !apierrors.IsAlreadyExists(err) {
			t.Fatal(err)
		}
	}
	if err := m.c.Create(ctx, obj); err != nil {
		t.Fatalf("creating %T %s: %v", obj, obj.GetName(), err)
	}
}

// workload is one Cluster the tests create on the management cluster, as
// Cluster API's controllers would have left it: a KubeadmControlPlane of 3
// and one MachineDeployment of 2 at version, all rolled out.
func (m *management) workload(t *testing.T, name, class, version, image string, workloadKubeconfig []byte) {
	t.Helper()
	ctx := context.Background()
	infra := clusterv1.ContractVersionedObjectReference{APIGroup: "infrastructure.cluster.x-k8s.io", Kind: "DockerMachineTemplate", Name: name}
	c := &clusterv1.Cluster{
		ObjectMeta: metav1.ObjectMeta{Namespace: testNamespace, Name: name},
		Spec: clusterv1.ClusterSpec{
			ControlPlaneRef: clusterv1.ContractVersionedObjectReference{APIGroup: controlplanev1.GroupVersion.Group, Kind: "KubeadmControlPlane", Name: name + "-cp"},
			Topology: clusterv1.Topology{
				ClassRef:     clusterv1.ClusterClassRef{Name: class},
				Version:      version,
				ControlPlane: clusterv1.ControlPlaneTopology{Replicas: ptr.To[int32](3)},
				Workers: clusterv1.WorkersTopology{MachineDeployments: []clusterv1.MachineDeploymentTopology{
					{Class: "default-worker", Name: "md-0", Replicas: ptr.To[int32](2)},
				}},
			},
		},
	}
	if image != "" {
		c.Spec.Topology.Variables = []clusterv1.ClusterVariable{{Name: imageVariable, Value: apiextensionsv1.JSON{Raw: mustJSON(image)}}}
	}
	m.create(t, c)
	kcp := &controlplanev1.KubeadmControlPlane{
		ObjectMeta: metav1.ObjectMeta{Namespace: testNamespace, Name: name + "-cp", Labels: map[string]string{clusterv1.ClusterNameLabel: name, clusterv1.ClusterTopologyOwnedLabel: ""}},
		Spec: controlplanev1.KubeadmControlPlaneSpec{
			Replicas: ptr.To[int32](3), Version: version,
			MachineTemplate: controlplanev1.KubeadmControlPlaneMachineTemplate{Spec: controlplanev1.KubeadmControlPlaneMachineTemplateSpec{InfrastructureRef: infra}},
		},
	}
	m.create(t, kcp)
	md := &clusterv1.MachineDeployment{
		ObjectMeta: metav1.ObjectMeta{Namespace: testNamespace, Name: name + "-md-0", Labels: map[string]string{
			clusterv1.ClusterNameLabel: name, clusterv1.ClusterTopologyOwnedLabel: "", clusterv1.ClusterTopologyMachineDeploymentNameLabel: "md-0",
		}},
		Spec: clusterv1.MachineDeploymentSpec{
			ClusterName: name, Replicas: ptr.To[int32](2),
			Selector: metav1.LabelSelector{MatchLabels: map[string]string{"md": name + "-md-0"}},
			Template: clusterv1.MachineTemplateSpec{
				ObjectMeta: clusterv1.ObjectMeta{Labels: map[string]string{"md": name + "-md-0"}, Annotations: map[string]string{imageAnnotation: image}},
				Spec: clusterv1.MachineSpec{
					ClusterName: name, Version: version, InfrastructureRef: infra,
					Bootstrap: clusterv1.Bootstrap{DataSecretName: ptr.To(name + "-bootstrap")},
				},
			},
		},
	}
	m.create(t, md)
	if workloadKubeconfig != nil {
		m.create(t, &corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Namespace: testNamespace, Name: name + "-kubeconfig", Labels: map[string]string{clusterv1.ClusterNameLabel: name}},
			Data:       map[string][]byte{KubeconfigSecretKey: workloadKubeconfig},
		})
	}
	// What the controllers report once the Cluster is provisioned.
	if err := m.c.Get(ctx, client.ObjectKeyFromObject(kcp), kcp); err != nil {
		t.Fatal(err)
	}
	kcp.Status = controlplanev1.KubeadmControlPlaneStatus{
		Replicas: ptr.To[int32](3), ReadyReplicas: ptr.To[int32](3), UpToDateReplicas: ptr.To[int32](3), AvailableReplicas: ptr.To[int32](3),
		Versions: []clusterv1.StatusVersion{{Version: version, Replicas: 3}}, ObservedGeneration: kcp.Generation,
	}
	if err := m.c.Status().Update(ctx, kcp); err != nil {
		t.Fatal(err)
	}
	if err := m.c.Get(ctx, client.ObjectKeyFromObject(md), md); err != nil {
		t.Fatal(err)
	}
	md.Status = clusterv1.MachineDeploymentStatus{
		Replicas: ptr.To[int32](2), ReadyReplicas: ptr.To[int32](2), UpToDateReplicas: ptr.To[int32](2), AvailableReplicas: ptr.To[int32](2),
		Versions: []clusterv1.StatusVersion{{Version: version, Replicas: 2}}, ObservedGeneration: md.Generation, Phase: "Running",
	}
	if err := m.c.Status().Update(ctx, md); err != nil {
		t.Fatal(err)
	}
	if err := m.c.Get(ctx, client.ObjectKeyFromObject(c), c); err != nil {
		t.Fatal(err)
	}
	c.Status = clusterv1.ClusterStatus{
		Phase: string(clusterv1.ClusterPhaseProvisioned), ObservedGeneration: c.Generation,
		Conditions: []metav1.Condition{
			condition(clusterv1.ClusterTopologyReconciledCondition, metav1.ConditionTrue, clusterv1.ClusterTopologyReconcileSucceededReason, "", c.Generation),
			condition(clusterv1.ClusterControlPlaneAvailableCondition, metav1.ConditionTrue, "Available", "", c.Generation),
		},
	}
	if err := m.c.Status().Update(ctx, c); err != nil {
		t.Fatal(err)
	}
}

// imageAnnotation records on a MachineDeployment's machine template the
// image the fake topology controller rolled it to: the real one patches
// the infrastructure machine template instead, which these tests do not
// have.
const imageAnnotation = "test.flotilla.dev/image"

func condition(typ string, status metav1.ConditionStatus, reason, message string, generation int64) metav1.Condition {
	return metav1.Condition{Type: typ, Status: status, Reason: reason, Message: message, ObservedGeneration: generation, LastTransitionTime: metav1.Now()}
}

func mustJSON(v any) []byte {
	raw, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return raw
}

// model plays Cluster API's controllers on the management cluster for the
// Clusters it is told of: when a Cluster's spec.topology.version (or image
// variable) changes, it sets the KubeadmControlPlane's spec.version and
// rolls its replicas one at a time, then does the same to the
// MachineDeployment (unless its topology holds the upgrade), and reports
// TopologyReconciled as the topology controller does. It is the harness's
// Cloud: the member is named like its Cluster.
type model struct {
	m        *management
	mu       sync.Mutex
	fail     map[string]string
	failed   map[string]int64 // the Cluster generation that failed
	held     map[string]bool
	requests map[string]int
	errs     []error
}

func newModel(t *testing.T, m *management) *model {
	md := &model{m: m, fail: map[string]string{}, failed: map[string]int64{}, held: map[string]bool{}, requests: map[string]int{}}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		tick := time.NewTicker(40 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
				md.step(ctx)
			}
		}
	}()
	t.Cleanup(func() {
		cancel()
		<-done
		md.mu.Lock()
		defer md.mu.Unlock()
		if n := len(md.errs); n > 0 {
			t.Logf("the fake Cluster API controllers met %d errors besides conflicts (retried on the next step), the first: %v", n, md.errs[0])
		}
	})
	return md
}

// watch counts the writes of a provider's client to Cluster objects: the
// upgrade requests. Reads do not count.
func (md *model) watch(cfg *rest.Config) {
	cfg.Wrap(func(rt http.RoundTripper) http.RoundTripper {
		return roundTripper(func(r *http.Request) (*http.Response, error) {
			if r.Method != http.MethodGet && strings.Contains(r.URL.Path, "/clusters/") && strings.Contains(r.URL.Path, "/cluster.x-k8s.io/") {
				name := r.URL.Path[strings.LastIndex(r.URL.Path, "/")+1:]
				md.mu.Lock()
				md.requests[name]++
				md.mu.Unlock()
			}
			return rt.RoundTrip(r)
		})
	})
}

type roundTripper func(*http.Request) (*http.Response, error)

func (f roundTripper) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// provider is the provider as a hub builds it, with its writes counted.
func (md *model) provider() *Provider {
	return &Provider{secrets: md.secrets, config: md.watch}
}

func (md *model) secrets(context.Context, fleetv1.SecretKeyReference) ([]byte, error) {
	return md.m.kubeconfig, nil
}

// factory is Factory with the management kubeconfig read from the test's
// management cluster and the provider's writes counted.
func (md *model) factory(spec *fleetv1.ProviderSpec, env upgrade.FactoryEnv) (upgrade.Provider, error) {
	env.Secrets = md.secrets
	p, err := Factory(spec, env)
	if err != nil {
		return nil, err
	}
	p.(*Provider).config = md.watch
	return p, nil
}

func (md *model) Versions(member string) upgrade.Versions {
	ctx := context.Background()
	var v upgrade.Versions
	kcp := &controlplanev1.KubeadmControlPlane{}
	if err := md.m.c.Get(ctx, client.ObjectKey{Namespace: testNamespace, Name: member + "-cp"}, kcp); err == nil {
		v.ControlPlane = fromKCP(kcp).CurrentVersion()
	}
	mds := &clusterv1.MachineDeploymentList{}
	if err := md.m.c.List(ctx, mds, client.InNamespace(testNamespace), client.MatchingLabels{clusterv1.ClusterNameLabel: member}); err == nil {
		for _, d := range mds.Items {
			for _, sv := range d.Status.Versions {
				v.Kubelets = append(v.Kubelets, sv.Version)
			}
			if img := d.Spec.Template.Annotations[imageAnnotation]; img != "" {
				v.NodeImages = append(v.NodeImages, img)
			}
		}
	}
	return v
}

func (md *model) FailUpgrade(member, message string) {
	md.mu.Lock()
	defer md.mu.Unlock()
	md.fail[member] = message
}

func (md *model) Hold(member string) {
	md.mu.Lock()
	defer md.mu.Unlock()
	md.held[member] = true
}

func (md *model) Release(member string) {
	md.mu.Lock()
	defer md.mu.Unlock()
	delete(md.held, member)
}

func (md *model) UpgradeRequests(member string) int {
	md.mu.Lock()
	defer md.mu.Unlock()
	return md.requests[member]
}

func (md *model) step(ctx context.Context) {
	list := &clusterv1.ClusterList{}
	if err := md.m.c.List(ctx, list, client.InNamespace(testNamespace)); err != nil {
		md.note(err)
		return
	}
	for i := range list.Items {
		if err := md.reconcile(ctx, &list.Items[i]); err != nil {
			md.note(err)
		}
	}
}

func (md *model) note(err error) {
	if err == nil || apierrors.IsConflict(err) || errors.Is(err, context.Canceled) {
		return
	}
	md.mu.Lock()
	defer md.mu.Unlock()
	md.errs = append(md.errs, err)
}

// reconcile moves one Cluster one step on, as Cluster API's topology,
// KubeadmControlPlane and MachineDeployment controllers would.
func (md *model) reconcile(ctx context.Context, c *clusterv1.Cluster) error {
	md.mu.Lock()
	fail, held, failedGen := md.fail[c.Name], md.held[c.Name], md.failed[c.Name]
	md.mu.Unlock()
	// A Cluster the test is still creating is left alone: the last thing
	// workload does is report it Provisioned.
	if c.Status.Phase != string(clusterv1.ClusterPhaseProvisioned) || failedGen == c.Generation {
		return nil
	}
	kcp := &controlplanev1.KubeadmControlPlane{}
	if err := md.m.c.Get(ctx, client.ObjectKey{Namespace: c.Namespace, Name: c.Spec.ControlPlaneRef.Name}, kcp); err != nil {
		return err
	}
	mds := &clusterv1.MachineDeploymentList{}
	if err := md.m.c.List(ctx, mds, client.InNamespace(c.Namespace), client.MatchingLabels{clusterv1.ClusterNameLabel: c.Name}); err != nil {
		return err
	}
	want, image := c.Spec.Topology.Version, imageOf(c, imageVariable, nil)
	changed := kcp.Spec.Version != want
	for _, d := range mds.Items {
		changed = changed || d.Spec.Template.Spec.Version != want || d.Spec.Template.Annotations[imageAnnotation] != image
	}
	if c.Status.ObservedGeneration < c.Generation && changed {
		if fail != "" {
			md.mu.Lock()
			delete(md.fail, c.Name)
			md.failed[c.Name] = c.Generation
			md.mu.Unlock()
			return md.setTopology(ctx, c, metav1.ConditionFalse, clusterv1.ClusterTopologyReconciledFailedReason, fail)
		}
		return md.setTopology(ctx, c, metav1.ConditionFalse, clusterv1.ClusterTopologyReconciledClusterUpgradingReason, "Cluster is upgrading to "+want)
	}
	if held {
		return nil
	}
	if done, err := md.rollControlPlane(ctx, kcp, want); err != nil || !done {
		return err
	}
	workersHeld := false
	for i := range mds.Items {
		d := &mds.Items[i]
		if topologyHolds(c, d.Labels[clusterv1.ClusterTopologyMachineDeploymentNameLabel]) {
			workersHeld = true
		}
		if workersHeld {
			if d.Spec.Template.Annotations[imageAnnotation] == image {
				continue
			}
			want = d.Spec.Template.Spec.Version // a held upgrade still takes the new image
		}
		if done, err := md.rollWorkers(ctx, d, want, image); err != nil || !done {
			return err
		}
	}
	if workersHeld {
		return md.setTopology(ctx, c, metav1.ConditionFalse, clusterv1.ClusterTopologyReconciledClusterUpgradingReason, "MachineDeployment upgrades held by "+clusterv1.ClusterTopologyHoldUpgradeSequenceAnnotation)
	}
	return md.setTopology(ctx, c, metav1.ConditionTrue, clusterv1.ClusterTopologyReconcileSucceededReason, "")
}

func topologyHolds(c *clusterv1.Cluster, mdName string) bool {
	for _, t := range c.Spec.Topology.Workers.MachineDeployments {
		if _, ok := t.Metadata.Annotations[clusterv1.ClusterTopologyHoldUpgradeSequenceAnnotation]; ok && t.Name == mdName {
			return true
		}
	}
	return false
}

func (md *model) setTopology(ctx context.Context, c *clusterv1.Cluster, status metav1.ConditionStatus, reason, message string) error {
	if cond := meta(c.Status.Conditions, clusterv1.ClusterTopologyReconciledCondition); cond != nil && cond.Status == status && cond.Reason == reason &&
		cond.Message == message && c.Status.ObservedGeneration == c.Generation {
		return nil
	}
	before := c.DeepCopy()
	c.Status.ObservedGeneration = c.Generation
	conds := []metav1.Condition{condition(clusterv1.ClusterTopologyReconciledCondition, status, reason, message, c.Generation)}
	for _, cond := range c.Status.Conditions {
		if cond.Type != clusterv1.ClusterTopologyReconciledCondition {
			conds = append(conds, cond)
		}
	}
	c.Status.Conditions = conds
	return md.m.c.Status().Patch(ctx, c, client.MergeFrom(before))
}

// rollControlPlane sets the control plane's version and replaces one
// replica per step; done once all run want.
func (md *model) rollControlPlane(ctx context.Context, kcp *controlplanev1.KubeadmControlPlane, want string) (bool, error) {
	if kcp.Spec.Version != want {
		before := kcp.DeepCopy()
		kcp.Spec.Version = want
		return false, md.m.c.Patch(ctx, kcp, client.MergeFrom(before))
	}
	st := kcp.Status
	replicas := *kcp.Spec.Replicas
	if st.ObservedGeneration == kcp.Generation && fromKCP(kcp).runs(want) && deref(st.UpToDateReplicas) == replicas {
		return true, nil
	}
	before := kcp.DeepCopy()
	if st.ObservedGeneration < kcp.Generation {
		st.ObservedGeneration, st.UpToDateReplicas = kcp.Generation, ptr.To[int32](0)
	} else {
		st.UpToDateReplicas = ptr.To(deref(st.UpToDateReplicas) + 1)
	}
	up := deref(st.UpToDateReplicas)
	st.Versions = versions(st.Versions, want, up, replicas)
	kcp.Status = st
	return false, md.m.c.Status().Patch(ctx, kcp, client.MergeFrom(before))
}

// rollWorkers does to a MachineDeployment what rollControlPlane does to
// the control plane.
func (md *model) rollWorkers(ctx context.Context, d *clusterv1.MachineDeployment, want, image string) (bool, error) {
	if d.Spec.Template.Spec.Version != want || d.Spec.Template.Annotations[imageAnnotation] != image {
		before := d.DeepCopy()
		d.Spec.Template.Spec.Version = want
		if d.Spec.Template.Annotations == nil {
			d.Spec.Template.Annotations = map[string]string{}
		}
		d.Spec.Template.Annotations[imageAnnotation] = image
		return false, md.m.c.Patch(ctx, d, client.MergeFrom(before))
	}
	st := d.Status
	replicas := *d.Spec.Replicas
	if st.ObservedGeneration == d.Generation && deref(st.UpToDateReplicas) == replicas {
		return true, nil
	}
	before := d.DeepCopy()
	if st.ObservedGeneration < d.Generation {
		st.ObservedGeneration, st.UpToDateReplicas = d.Generation, ptr.To[int32](0)
		st.Phase = "ScalingUp"
	} else {
		st.UpToDateReplicas = ptr.To(deref(st.UpToDateReplicas) + 1)
	}
	up := deref(st.UpToDateReplicas)
	st.Versions = versions(st.Versions, want, up, replicas)
	if up == replicas {
		st.Phase = "Running"
	}
	d.Status = st
	return false, md.m.c.Status().Patch(ctx, d, client.MergeFrom(before))
}

// versions are the status versions of replicas machines of which up run
// want and the rest the version they ran.
func versions(old []clusterv1.StatusVersion, want string, up, replicas int32) []clusterv1.StatusVersion {
	prev := want
	for _, v := range old {
		if v.Version != want {
			prev = v.Version
		}
	}
	if prev == want {
		return []clusterv1.StatusVersion{{Version: want, Replicas: replicas}}
	}
	var out []clusterv1.StatusVersion
	if replicas-up > 0 {
		out = append(out, clusterv1.StatusVersion{Version: prev, Replicas: replicas - up})
	}
	if up > 0 {
		out = append(out, clusterv1.StatusVersion{Version: want, Replicas: up})
	}
	return out
}

// member is the upgrade.Member of a Cluster of the tests.
func member(name, variable string) upgrade.Member {
	return upgrade.Member{Name: name, Provider: providerSpec(name, variable)}
}

func providerSpec(name, variable string) fleetv1.ProviderSpec {
	return fleetv1.ProviderSpec{Type: fleetv1.ProviderClusterAPI, ClusterAPI: &fleetv1.ClusterAPIProvider{
		ManagementKubeconfigSecretRef: fleetv1.SecretKeyReference{Namespace: "flotilla-system", Name: "management-" + name, Key: "kubeconfig"},
		Namespace:                     testNamespace, Name: name, NodeImageVariable: variable,
	}}
}

// progressUntil polls the provider's Progress until it reports phase.
func progressUntil(t *testing.T, p *Provider, m upgrade.Member, target upgrade.Target, phase upgrade.Phase) upgrade.Progress {
	t.Helper()
	var last upgrade.Progress
	testenv.Eventually(t, 30*time.Second, fmt.Sprintf("%s reaching %s", m.Name, phase), func() error {
		var err error
		if last, err = p.Progress(context.Background(), "op", m, target); err != nil {
			return err
		}
		if last.Phase != phase {
			return fmt.Errorf("progress is %s: %s", last.Phase, last.Message)
		}
		return nil
	})
	return last
}
