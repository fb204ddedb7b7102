package agent

import (
	"errors"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	fakediscovery "k8s.io/client-go/discovery/fake"
	dynamicfake "k8s.io/client-go/dynamic/fake"
	clienttesting "k8s.io/client-go/testing"

	placementv1 "github.com/flotilla-dev/flotilla/api/placement/v1"
	fleetv1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
)

// An error writing the member while removing a placed object reaches the
// caller, which keeps the Work's finalizer and tries again: dropping it
// would let the Work go while the object still carries the agent's marks.
func TestRemoveObjectReturnsTheMembersError(t *testing.T) {
	refused := errors.New("the member refused")
	for _, tc := range []struct {
		name    string
		abandon bool
		verb    string
	}{
		{"releasing, abandoned", true, "patch"},
		{"deleting", false, "delete"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cm := &unstructured.Unstructured{}
			cm.SetAPIVersion("v1")
			cm.SetKind("ConfigMap")
			cm.SetNamespace("fintech")
			cm.SetName("placed")
			cm.SetLabels(map[string]string{fleetv1.ManagedByLabel: fleetv1.ManagedByAgent})
			cm.SetAnnotations(map[string]string{fleetv1.WorkAnnotation: "w"})
			dyn := dynamicfake.NewSimpleDynamicClient(runtime.NewScheme(), cm)
			dyn.PrependReactor(tc.verb, "configmaps", func(clienttesting.Action) (bool, runtime.Object, error) {
				return true, nil, refused
			})
			disc := &fakediscovery.FakeDiscovery{Fake: &clienttesting.Fake{Resources: []*metav1.APIResourceList{{
				GroupVersion: "v1",
				APIResources: []metav1.APIResource{{Name: "configmaps", Kind: "ConfigMap", Namespaced: true}},
			}}}}
			a := &Agent{member: newMember(disc, dyn)}

			id := placementv1.ResourceIdentifier{Version: "v1", Kind: "ConfigMap", Namespace: "fintech", Name: "placed"}
			if err := a.removeObject(t.Context(), "w", id, tc.abandon); !errors.Is(err, refused) {
				t.Errorf("removeObject: %v, want the member's error", err)
			}
		})
	}
}

// Reports of a Secret say where it differs, never what its data is: Work
// status is read by more than those allowed the data.
func TestRedactData(t *testing.T) {
	findings := []placementv1.PatchDetail{
		{Path: "/data/password", ValueInMember: "bWluZQ==", ValueInHub: "aHVi"},
		{Path: "/stringData/user", ValueInHub: "admin"},
		{Path: "/metadata/labels/tier", ValueInMember: "a", ValueInHub: "b"},
	}
	redactData(findings)
	want := []placementv1.PatchDetail{
		{Path: "/data/password", ValueInMember: "(redacted)", ValueInHub: "(redacted)"},
		{Path: "/stringData/user", ValueInHub: "(redacted)"},
		{Path: "/metadata/labels/tier", ValueInMember: "a", ValueInHub: "b"},
	}
	for i := range want {
		if findings[i] != want[i] {
			t.Errorf("finding %d: %+v, want %+v", i, findings[i], want[i])
		}
	}
}
