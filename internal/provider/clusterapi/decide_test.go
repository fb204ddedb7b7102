package clusterapi

import (
	"slices"
	"strings"
	"testing"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
	clusterv1 "sigs.k8s.io/cluster-api/api/core/v1beta2"

	fleetv1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/internal/upgrade"
)

func testCluster(version string, mutate ...func(*clusterv1.Cluster)) *clusterv1.Cluster {
	c := &clusterv1.Cluster{
		ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "c1", Generation: 4},
		Spec: clusterv1.ClusterSpec{Topology: clusterv1.Topology{
			ClassRef: clusterv1.ClusterClassRef{Name: "cc"},
			Version:  version,
			Workers: clusterv1.WorkersTopology{MachineDeployments: []clusterv1.MachineDeploymentTopology{
				{Class: "w", Name: "md-0"}, {Class: "w", Name: "md-1"},
			}},
		}},
		Status: clusterv1.ClusterStatus{ObservedGeneration: 4, Phase: "Provisioned", Conditions: []metav1.Condition{
			{Type: clusterv1.ClusterTopologyReconciledCondition, Status: metav1.ConditionTrue, Reason: clusterv1.ClusterTopologyReconcileSucceededReason, ObservedGeneration: 4},
		}},
	}
	for _, m := range mutate {
		m(c)
	}
	return c
}

func withImage(image string) func(*clusterv1.Cluster) {
	return func(c *clusterv1.Cluster) {
		c.Spec.Topology.Variables = []clusterv1.ClusterVariable{{Name: "image", Value: apiextensionsv1.JSON{Raw: mustJSON(image)}}}
	}
}

func testClass(variables ...clusterv1.ClusterClassVariable) *clusterv1.ClusterClass {
	return &clusterv1.ClusterClass{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "cc"}, Spec: clusterv1.ClusterClassSpec{Variables: variables}}
}

func stringVariable(name string, enum ...string) clusterv1.ClusterClassVariable {
	s := clusterv1.JSONSchemaProps{Type: "string"}
	for _, e := range enum {
		s.Enum = append(s.Enum, apiextensionsv1.JSON{Raw: mustJSON(e)})
	}
	return clusterv1.ClusterClassVariable{Name: name, Schema: clusterv1.VariableSchema{OpenAPIV3Schema: s}}
}

func TestDesiredCluster(t *testing.T) {
	full := upgrade.Target{Type: fleetv1.UpgradeFull, KubernetesVersion: "v1.37.2"}
	fullImage := upgrade.Target{Type: fleetv1.UpgradeFull, KubernetesVersion: "v1.37.2", NodeImages: []upgrade.NodeImage{{OS: NodeOS, Version: "img-2"}}}
	imageOnly := upgrade.Target{Type: fleetv1.UpgradeNodeImageOnly, NodeImage: "img-2"}
	cpOnly := upgrade.Target{Type: fleetv1.UpgradeControlPlaneOnly, KubernetesVersion: "v1.37.2"}
	holdOn := func(i int, value string) func(*clusterv1.Cluster) {
		return func(c *clusterv1.Cluster) {
			c.Spec.Topology.Workers.MachineDeployments[i].Metadata.Annotations = map[string]string{clusterv1.ClusterTopologyHoldUpgradeSequenceAnnotation: value}
		}
	}
	hold := func(c *clusterv1.Cluster, i int) string {
		return c.Spec.Topology.Workers.MachineDeployments[i].Metadata.Annotations[clusterv1.ClusterTopologyHoldUpgradeSequenceAnnotation]
	}
	tests := []struct {
		name     string
		cluster  *clusterv1.Cluster
		class    *clusterv1.ClusterClass
		variable string
		target   upgrade.Target
		// check the change; nil cluster means nothing is to be sent
		want    func(t *testing.T, c *clusterv1.Cluster)
		wantErr string
	}{
		{name: "a Cluster at the target gets nothing", cluster: testCluster("v1.37.2"), target: full},
		{name: "a Cluster at the target spelt without v gets nothing", cluster: testCluster("1.37.2"), target: full},
		{name: "the version is set", cluster: testCluster("v1.36.3"), target: full, want: func(t *testing.T, c *clusterv1.Cluster) {
			if c.Spec.Topology.Version != "v1.37.2" {
				t.Fatalf("version %s", c.Spec.Topology.Version)
			}
		}},
		{name: "a Cluster without a managed topology is refused", cluster: testCluster("v1.36.3", func(c *clusterv1.Cluster) { c.Spec.Topology = clusterv1.Topology{} }),
			target: full, wantErr: "has no managed topology"},
		{name: "ControlPlaneOnly holds the first MachineDeployment", cluster: testCluster("v1.36.3"), target: cpOnly, want: func(t *testing.T, c *clusterv1.Cluster) {
			if hold(c, 0) != HeldByFlotilla || hold(c, 1) != "" || c.Spec.Topology.Version != "v1.37.2" {
				t.Fatalf("holds %q %q, version %s", hold(c, 0), hold(c, 1), c.Spec.Topology.Version)
			}
		}},
		{name: "ControlPlaneOnly adds no hold where one is held already", cluster: testCluster("v1.36.3", holdOn(1, "ops")), target: cpOnly, want: func(t *testing.T, c *clusterv1.Cluster) {
			if hold(c, 0) != "" || hold(c, 1) != "ops" {
				t.Fatalf("holds %q %q", hold(c, 0), hold(c, 1))
			}
		}},
		{name: "ControlPlaneOnly on a held Cluster at the target gets nothing", cluster: testCluster("v1.37.2", holdOn(0, HeldByFlotilla)), target: cpOnly},
		{name: "ControlPlaneOnly leaves the image alone", cluster: testCluster("v1.37.2", holdOn(0, HeldByFlotilla), withImage("img-1")), class: testClass(stringVariable("image")), variable: "image",
			target: upgrade.Target{Type: fleetv1.UpgradeControlPlaneOnly, KubernetesVersion: "v1.37.2", NodeImage: "img-2"}},
		{name: "Full releases Flotilla's hold", cluster: testCluster("v1.37.2", holdOn(0, HeldByFlotilla)), target: full, want: func(t *testing.T, c *clusterv1.Cluster) {
			if hold(c, 0) != "" || c.Spec.Topology.Workers.MachineDeployments[0].Metadata.Annotations != nil {
				t.Fatalf("hold %q left", hold(c, 0))
			}
		}},
		{name: "Full keeps someone else's hold", cluster: testCluster("v1.37.2", holdOn(0, "ops")), target: full},
		{name: "the image variable is set with the version", cluster: testCluster("v1.36.3", withImage("img-1")), class: testClass(stringVariable("image")), variable: "image", target: fullImage,
			want: func(t *testing.T, c *clusterv1.Cluster) {
				if got := imageOf(c, "image", nil); got != "img-2" || c.Spec.Topology.Version != "v1.37.2" {
					t.Fatalf("image %q, version %s", got, c.Spec.Topology.Version)
				}
			}},
		{name: "NodeImageOnly adds the variable and leaves the version", cluster: testCluster("v1.36.3"), class: testClass(stringVariable("image")), variable: "image", target: imageOnly,
			want: func(t *testing.T, c *clusterv1.Cluster) {
				if got := imageOf(c, "image", nil); got != "img-2" || c.Spec.Topology.Version != "v1.36.3" {
					t.Fatalf("image %q, version %s", got, c.Spec.Topology.Version)
				}
			}},
		{name: "overrides of the variable are set too", class: testClass(stringVariable("image")), variable: "image", target: imageOnly,
			cluster: testCluster("v1.36.3", withImage("img-1"), func(c *clusterv1.Cluster) {
				c.Spec.Topology.Workers.MachineDeployments[1].Variables.Overrides = []clusterv1.ClusterVariable{{Name: "image", Value: apiextensionsv1.JSON{Raw: mustJSON("img-0")}}}
			}),
			want: func(t *testing.T, c *clusterv1.Cluster) {
				md := c.Spec.Topology.Workers.MachineDeployments
				if got := imageOf(c, "image", md[1].Variables.Overrides); got != "img-2" || md[0].Variables.Overrides != nil {
					t.Fatalf("override %q, md-0 overrides %v", got, md[0].Variables.Overrides)
				}
			}},
		{name: "an image at the target gets nothing", cluster: testCluster("v1.36.3", withImage("img-2")), class: testClass(stringVariable("image")), variable: "image", target: imageOnly},
		{name: "a variable discovered from a patch counts", cluster: testCluster("v1.36.3"), variable: "image", target: imageOnly,
			class: func() *clusterv1.ClusterClass {
				cc := testClass()
				cc.Status.Variables = []clusterv1.ClusterClassStatusVariable{{Name: "image", Definitions: []clusterv1.ClusterClassStatusVariableDefinition{
					{From: "images-patch", Schema: clusterv1.VariableSchema{OpenAPIV3Schema: clusterv1.JSONSchemaProps{Type: "string"}}},
				}}}
				return cc
			}(),
			want: func(t *testing.T, c *clusterv1.Cluster) {
				if imageOf(c, "image", nil) != "img-2" {
					t.Fatal("image not set")
				}
			}},
		{name: "an image without a variable setting is refused", cluster: testCluster("v1.36.3"), class: testClass(stringVariable("image")), target: imageOnly, wantErr: "sets no nodeImageVariable"},
		{name: "a class without the variable is refused", cluster: testCluster("v1.36.3"), class: testClass(stringVariable("other")), variable: "image", target: imageOnly,
			wantErr: `ClusterClass ns/cc defines no variable "image"`},
		{name: "a class not found is refused", cluster: testCluster("v1.36.3"), variable: "image", target: imageOnly, wantErr: "ClusterClass was not found"},
		{name: "a variable that is not a string is refused", cluster: testCluster("v1.36.3"), variable: "image", target: imageOnly,
			class:   testClass(clusterv1.ClusterClassVariable{Name: "image", Schema: clusterv1.VariableSchema{OpenAPIV3Schema: clusterv1.JSONSchemaProps{Type: "object"}}}),
			wantErr: `is of type "object"`},
		{name: "a Full upgrade without a version is refused", cluster: testCluster("v1.36.3"), target: upgrade.Target{Type: fleetv1.UpgradeFull}, wantErr: "needs a Kubernetes version"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := tc.cluster.DeepCopy()
			got, err := desiredCluster(tc.cluster, tc.class, tc.variable, tc.target)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !equalJSON(before, tc.cluster) {
				t.Fatal("desiredCluster changed the Cluster it was given")
			}
			if tc.want == nil {
				if got != nil {
					t.Fatalf("a change was made: %+v", got.Spec.Topology)
				}
				return
			}
			if got == nil {
				t.Fatal("no change, want one")
			}
			tc.want(t, got)
			again, err := desiredCluster(got, tc.class, tc.variable, tc.target)
			if err != nil || again != nil {
				t.Fatalf("the changed Cluster asks for another change (%v): Start would not be idempotent", err)
			}
		})
	}
}

func rolledCP(version string) *ControlPlane {
	return &ControlPlane{Kind: "KubeadmControlPlane", Name: "c1-cp", SpecVersion: version, Versions: []clusterv1.StatusVersion{{Version: version, Replicas: 3}},
		Desired: ptr.To[int32](3), Replicas: ptr.To[int32](3), ReadyReplicas: ptr.To[int32](3), UpToDateReplicas: ptr.To[int32](3), Generation: 2, ObservedGeneration: 2}
}

func rolledMD(name, version string) clusterv1.MachineDeployment {
	md := clusterv1.MachineDeployment{ObjectMeta: metav1.ObjectMeta{Name: name, Generation: 3, Labels: map[string]string{
		clusterv1.ClusterTopologyOwnedLabel: "", clusterv1.ClusterTopologyMachineDeploymentNameLabel: strings.TrimPrefix(name, "c1-")}}}
	md.Spec.Replicas = ptr.To[int32](2)
	md.Spec.Template.Spec.Version = version
	md.Status = clusterv1.MachineDeploymentStatus{ObservedGeneration: 3, Replicas: ptr.To[int32](2), ReadyReplicas: ptr.To[int32](2), UpToDateReplicas: ptr.To[int32](2),
		Versions: []clusterv1.StatusVersion{{Version: version, Replicas: 2}}, Phase: "Running"}
	return md
}

func TestProgressOf(t *testing.T) {
	const from, to = "v1.36.3", "v1.37.2"
	full := upgrade.Target{Type: fleetv1.UpgradeFull, KubernetesVersion: to}
	at := func(mutate ...func(*Observed)) Observed {
		o := Observed{Cluster: testCluster(to), ControlPlane: rolledCP(to), MachineDeployments: []clusterv1.MachineDeployment{rolledMD("c1-md-0", to), rolledMD("c1-md-1", to)}}
		for _, m := range mutate {
			m(&o)
		}
		return o
	}
	topology := func(status metav1.ConditionStatus, reason, message string) func(*Observed) {
		return func(o *Observed) {
			o.Cluster.Status.Conditions = []metav1.Condition{{Type: clusterv1.ClusterTopologyReconciledCondition, Status: status, Reason: reason, Message: message, ObservedGeneration: 4}}
		}
	}
	tests := []struct {
		name     string
		observed Observed
		target   upgrade.Target
		variable string
		phase    upgrade.Phase
		message  string
	}{
		{name: "everything at the target and rolled out", observed: at(), target: full, phase: upgrade.PhaseSucceeded, message: "control plane at v1.37.2 (3 replicas) and 2 MachineDeployments"},
		{name: "the Cluster does not ask for the target yet", observed: at(func(o *Observed) { o.Cluster.Spec.Topology.Version = from }), target: full,
			phase: upgrade.PhaseNotStarted, message: "spec.topology.version is v1.36.3, target v1.37.2"},
		{name: "the topology controller has not seen the change", observed: at(func(o *Observed) { o.Cluster.Generation = 5 }), target: full,
			phase: upgrade.PhaseRunning, message: "has not yet seen the Cluster's generation 5"},
		{name: "TopologyReconciled is of an older generation", observed: at(func(o *Observed) { o.Cluster.Status.Conditions[0].ObservedGeneration = 3 }), target: full,
			phase: upgrade.PhaseRunning, message: "TopologyReconciled is for generation 3"},
		{name: "the control plane is not yet asked for the version", observed: at(func(o *Observed) { o.ControlPlane = rolledCP(from) }), target: full,
			phase: upgrade.PhaseRunning, message: "waiting for the topology controller to set KubeadmControlPlane c1-cp to v1.37.2"},
		{name: "the control plane is rolling", target: full, phase: upgrade.PhaseRunning,
			observed: at(func(o *Observed) {
				o.ControlPlane.Versions = []clusterv1.StatusVersion{{Version: to, Replicas: 1}, {Version: from, Replicas: 2}}
				o.ControlPlane.UpToDateReplicas = ptr.To[int32](1)
			}),
			message: "KubeadmControlPlane c1-cp rolling out v1.37.2: runs v1.36.3, 1/3 replicas up to date, 3 ready"},
		{name: "the control plane is at the version with a replica not ready", target: full, phase: upgrade.PhaseRunning,
			observed: at(func(o *Observed) { o.ControlPlane.ReadyReplicas = ptr.To[int32](2) }), message: "KubeadmControlPlane c1-cp rolling out: 3 replicas, 3/3 up to date, 2 ready"},
		{name: "the control plane has not seen its spec", target: full, phase: upgrade.PhaseRunning,
			observed: at(func(o *Observed) { o.ControlPlane.Generation = 3 }), message: "KubeadmControlPlane c1-cp has not yet seen its generation 3"},
		{name: "a MachineDeployment is not yet asked for the version", target: full, phase: upgrade.PhaseRunning,
			observed: at(func(o *Observed) { o.MachineDeployments[1] = rolledMD("c1-md-1", from) }),
			message:  "waiting for the topology controller to set MachineDeployment c1-md-1 to v1.37.2 (it is at v1.36.3)"},
		{name: "a MachineDeployment is rolling", target: full, phase: upgrade.PhaseRunning,
			observed: at(func(o *Observed) {
				md := &o.MachineDeployments[0]
				md.Status.UpToDateReplicas, md.Status.Versions = ptr.To[int32](1), []clusterv1.StatusVersion{{Version: from, Replicas: 1}, {Version: to, Replicas: 1}}
			}),
			message: "MachineDeployment c1-md-0 rolling out: 2 replicas, 1/2 up to date, 2 ready (1 at v1.36.3)"},
		{name: "a MachineDeployment surging", target: full, phase: upgrade.PhaseRunning,
			observed: at(func(o *Observed) { o.MachineDeployments[0].Status.Replicas = ptr.To[int32](3) }), message: "3 replicas, 2/2 up to date"},
		{name: "a MachinePool is rolling", target: full, phase: upgrade.PhaseRunning,
			observed: at(func(o *Observed) {
				mp := clusterv1.MachinePool{ObjectMeta: metav1.ObjectMeta{Name: "c1-mp-0", Generation: 1, Labels: map[string]string{clusterv1.ClusterTopologyOwnedLabel: ""}}}
				mp.Spec.Replicas, mp.Spec.Template.Spec.Version = ptr.To[int32](2), to
				mp.Status = clusterv1.MachinePoolStatus{ObservedGeneration: 1, Replicas: ptr.To[int32](2), ReadyReplicas: ptr.To[int32](2), UpToDateReplicas: ptr.To[int32](0)}
				o.MachinePools = []clusterv1.MachinePool{mp}
			}),
			message: "MachinePool c1-mp-0 rolling out: 2 replicas, 0/2 up to date"},
		{name: "the topology controller is still upgrading", target: full, phase: upgrade.PhaseRunning,
			observed: at(topology(metav1.ConditionFalse, clusterv1.ClusterTopologyReconciledClusterUpgradingReason, "MachineDeployment md-1 upgrading")),
			message:  "TopologyReconciled is False (ClusterUpgrading): MachineDeployment md-1 upgrading"},
		{name: "the topology controller failed", target: full, phase: upgrade.PhaseFailed,
			observed: at(func(o *Observed) { o.ControlPlane = rolledCP(from) }, topology(metav1.ConditionFalse, clusterv1.ClusterTopologyReconciledFailedReason, "version v1.37.2 is not allowed")),
			message:  "Cluster API: TopologyReconciled ReconcileFailed: version v1.37.2 is not allowed"},
		{name: "ControlPlaneOnly succeeds with the workers held", phase: upgrade.PhaseSucceeded,
			target: upgrade.Target{Type: fleetv1.UpgradeControlPlaneOnly, KubernetesVersion: to},
			observed: at(func(o *Observed) {
				o.MachineDeployments = []clusterv1.MachineDeployment{rolledMD("c1-md-0", from)}
			}, topology(metav1.ConditionFalse, clusterv1.ClusterTopologyReconciledClusterUpgradingReason, "held")),
			message: "control plane at v1.37.2 (3 replicas)"},
		{name: "NodeImageOnly waits for the variable", phase: upgrade.PhaseNotStarted, variable: "image",
			target: upgrade.Target{Type: fleetv1.UpgradeNodeImageOnly, NodeImage: "img-2"}, observed: at(func(o *Observed) { withImage("img-1")(o.Cluster) }),
			message: "variable image is img-1, target img-2"},
		{name: "NodeImageOnly succeeds on any version once rolled", phase: upgrade.PhaseSucceeded, variable: "image",
			target: upgrade.Target{Type: fleetv1.UpgradeNodeImageOnly, NodeImage: "img-2"}, observed: at(func(o *Observed) { withImage("img-2")(o.Cluster) }),
			message: "node image img-2"},
		{name: "a MachineDeployment outside the topology is not waited for", target: full, phase: upgrade.PhaseSucceeded,
			observed: at(func(o *Observed) {
				md := rolledMD("c1-legacy", from)
				delete(md.Labels, clusterv1.ClusterTopologyOwnedLabel)
				o.MachineDeployments = append(o.MachineDeployments, md)
			}),
			message: "rolled out"},
		{name: "no control plane yet", target: full, phase: upgrade.PhaseRunning, observed: at(func(o *Observed) { o.ControlPlane = nil }), message: "no control plane yet"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := progressOf(tc.observed, tc.variable, tc.target)
			if got.Phase != tc.phase || !strings.Contains(got.Message, tc.message) {
				t.Fatalf("progress = %s %q, want %s with %q", got.Phase, got.Message, tc.phase, tc.message)
			}
		})
	}
}

func TestAvailableVersions(t *testing.T) {
	class := func(versions ...string) *clusterv1.ClusterClass {
		cc := testClass()
		cc.Spec.KubernetesVersions = versions
		return cc
	}
	tests := []struct {
		name    string
		class   *clusterv1.ClusterClass
		current string
		want    []string
	}{
		{name: "no class: any", current: "v1.36.3"},
		{name: "a class that lists none: any", class: class(), current: "v1.36.3"},
		{name: "the Cluster's version and newer", class: class("v1.35.0", "v1.36.3", "1.37.2"), current: "v1.36.3", want: []string{"v1.36.3", "v1.37.2"}},
		{name: "an unparsable current version: all", class: class("v1.35.0", "v1.36.3"), current: "", want: []string{"v1.35.0", "v1.36.3"}},
		{name: "none newer", class: class("v1.35.0"), current: "v1.36.3", want: []string{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := availableVersions(tc.class, tc.current)
			if !slices.Equal(got, tc.want) || (got == nil) != (tc.want == nil) {
				t.Fatalf("available = %#v, want %#v", got, tc.want)
			}
		})
	}
}

func TestOfferedImagesAreTheVariablesEnum(t *testing.T) {
	got, err := offeredImages(testClass(stringVariable("image", "img-1", "img-2")), "image")
	if err != nil {
		t.Fatal(err)
	}
	if want := []upgrade.NodeImage{{OS: NodeOS, Version: "img-1"}, {OS: NodeOS, Version: "img-2"}}; !slices.Equal(got, want) {
		t.Fatalf("images %v, want %v", got, want)
	}
	if got, err := offeredImages(testClass(stringVariable("image")), "image"); err != nil || got != nil {
		t.Fatalf("a variable without an enum offers %v, %v; want none", got, err)
	}
}

func TestViewOf(t *testing.T) {
	o := Observed{
		Cluster: testCluster("v1.37.2", withImage("img-2")),
		Class: func() *clusterv1.ClusterClass {
			cc := testClass(stringVariable("image", "img-1", "img-2"))
			cc.Spec.KubernetesVersions = []string{"v1.36.3", "v1.37.2", "v1.38.0"}
			return cc
		}(),
		ControlPlane:       rolledCP("v1.36.3"),
		MachineDeployments: []clusterv1.MachineDeployment{rolledMD("c1-md-0", "v1.36.3")},
	}
	o.Cluster.Spec.Topology.Workers.MachineDeployments[0].Variables.Overrides = []clusterv1.ClusterVariable{{Name: "image", Value: apiextensionsv1.JSON{Raw: mustJSON("img-gpu")}}}
	o.MachineDeployments[0].Spec.Rollout.Strategy.RollingUpdate.MaxSurge = ptr.To(intstr.FromString("33%"))
	v := viewOf(o, "image")
	if v.ControlPlaneVersion != "v1.36.3" || v.State != "Provisioned" || v.Operation != "upgrading to v1.37.2" || !slices.Equal(v.UpgradableVersions, []string{"v1.38.0"}) {
		t.Fatalf("view %+v", v)
	}
	want := upgrade.PoolView{Name: "md-0", KubernetesVersion: "v1.36.3", NodeImageVersion: "img-gpu", LatestNodeImageVersion: "img-2", Count: 2, MaxSurge: "33%", State: "Running"}
	if len(v.Pools) != 1 || v.Pools[0] != want {
		t.Fatalf("pools %+v, want %+v", v.Pools, want)
	}
	o.Cluster.Status.Conditions[0].Status, o.Cluster.Status.Conditions[0].Reason, o.Cluster.Status.Conditions[0].Message = metav1.ConditionFalse, "ClusterUpgrading", "control plane upgrading"
	if v := viewOf(o, "image"); v.Operation != "TopologyReconciled False (ClusterUpgrading): control plane upgrading" {
		t.Fatalf("operation %q", v.Operation)
	}
}

func TestAnyControlPlaneIsReadByTheContract(t *testing.T) {
	u := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "controlplane.cluster.x-k8s.io/v1beta2", "kind": "K0smotronControlPlane",
		"metadata": map[string]any{"name": "cp", "generation": int64(3)},
		"spec":     map[string]any{"version": "v1.37.2", "replicas": int64(3)},
		"status":   map[string]any{"version": "v1.36.3", "replicas": int64(3), "readyReplicas": int64(3), "upToDateReplicas": int64(1), "observedGeneration": int64(3)},
	}}
	got := fromContract(u)
	if got.Kind != "K0smotronControlPlane" || got.SpecVersion != "v1.37.2" || got.Version != "v1.36.3" || deref(got.Desired) != 3 || deref(got.UpToDateReplicas) != 1 || got.ObservedGeneration != 3 {
		t.Fatalf("control plane %+v", got)
	}
	if why := controlPlaneBehind(got, "v1.37.2"); !strings.Contains(why, "runs v1.36.3, 1/3 replicas up to date") {
		t.Fatalf("behind: %q", why)
	}
	u.Object["status"].(map[string]any)["versions"] = []any{map[string]any{"version": "v1.37.2", "replicas": int64(3)}}
	if got := fromContract(u); got.CurrentVersion() != "v1.37.2" || !got.runs("v1.37.2") {
		t.Fatalf("status.versions not read: %+v", got)
	}
}
