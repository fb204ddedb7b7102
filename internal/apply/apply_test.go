package apply

import (
	"context"
	"errors"
	"strings"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	dynamicfake "k8s.io/client-go/dynamic/fake"
	clienttesting "k8s.io/client-go/testing"
)

const manifests = `
apiVersion: placement.kubernetes-fleet.io/v1
kind: ClusterResourcePlacement
metadata: {name: app}
---
# a comment and an empty document
---
apiVersion: v1
kind: ConfigMap
metadata: {name: settings, namespace: team}
---
{"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition", "metadata": {"name": "widgets.example.com"}}
---
apiVersion: v1
kind: Namespace
metadata: {name: team}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: plain}
`

func names(objs []*unstructured.Unstructured) string {
	var out []string
	for _, o := range objs {
		out = append(out, o.GetKind()+"/"+o.GetName())
	}
	return strings.Join(out, " ")
}

func decoded(t *testing.T, text string) []*unstructured.Unstructured {
	t.Helper()
	objs, err := Decode(strings.NewReader(text), "test.yaml")
	if err != nil {
		t.Fatal(err)
	}
	return objs
}

func TestDecodeSplitsDocumentsAndSkipsEmptyOnes(t *testing.T) {
	got := names(decoded(t, manifests))
	want := "ClusterResourcePlacement/app ConfigMap/settings CustomResourceDefinition/widgets.example.com Namespace/team ConfigMap/plain"
	if got != want {
		t.Errorf("decoded %s, want %s", got, want)
	}
}

func TestDecodeNamesTheDocumentThatIsWrong(t *testing.T) {
	for text, want := range map[string]string{
		"apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n---\nkind: ConfigMap\nmetadata: {name: b}\n": "test.yaml: document 2 needs apiVersion, kind and metadata.name",
		"apiVersion: v1\nkind: ConfigMap\nmetadata: {}\n":                                                   "test.yaml: document 1 needs apiVersion, kind and metadata.name",
		"apiVersion: v1\nkind: [\n": "test.yaml: document 1: ",
	} {
		if _, err := Decode(strings.NewReader(text), "test.yaml"); err == nil || !strings.HasPrefix(err.Error(), want) {
			t.Errorf("Decode(%q) = %v, want an error starting %q", text, err, want)
		}
	}
}

func TestOrderPutsNamespacesThenCRDsFirstAndPlacementsLast(t *testing.T) {
	objs := decoded(t, manifests)
	Order(objs)
	want := "Namespace/team CustomResourceDefinition/widgets.example.com ConfigMap/settings ConfigMap/plain ClusterResourcePlacement/app"
	if got := names(objs); got != want {
		t.Errorf("ordered %s, want %s", got, want)
	}
}

// resetCounter is a static mapper that counts how often it is reset.
type resetCounter struct {
	meta.RESTMapper
	resets int
}

func (m *resetCounter) Reset() { m.resets++ }

var (
	namespaces = schema.GroupVersionResource{Version: "v1", Resource: "namespaces"}
	configMaps = schema.GroupVersionResource{Version: "v1", Resource: "configmaps"}
	crds       = schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"}
	placements = schema.GroupVersionResource{Group: "placement.kubernetes-fleet.io", Version: "v1", Resource: "clusterresourceplacements"}
)

// fakeHub is an Applier on a fake API server that knows Namespaces,
// ConfigMaps, CRDs and placements (not widgets), does not store what a dry
// run sends, and refuses the objects named in refuse.
func fakeHub(t *testing.T, refuse ...string) (*Applier, *resetCounter, *dynamicfake.FakeDynamicClient) {
	t.Helper()
	static := meta.NewDefaultRESTMapper(nil)
	static.Add(schema.GroupVersionKind{Version: "v1", Kind: "Namespace"}, meta.RESTScopeRoot)
	static.Add(schema.GroupVersionKind{Version: "v1", Kind: "ConfigMap"}, meta.RESTScopeNamespace)
	static.Add(schema.GroupVersionKind{Group: "apiextensions.k8s.io", Version: "v1", Kind: "CustomResourceDefinition"}, meta.RESTScopeRoot)
	static.Add(schema.GroupVersionKind{Group: "placement.kubernetes-fleet.io", Version: "v1", Kind: "ClusterResourcePlacement"}, meta.RESTScopeRoot)
	mapper := &resetCounter{RESTMapper: static}
	dyn := dynamicfake.NewSimpleDynamicClientWithCustomListKinds(runtime.NewScheme(), map[schema.GroupVersionResource]string{
		namespaces: "NamespaceList", configMaps: "ConfigMapList", crds: "CustomResourceDefinitionList", placements: "ClusterResourcePlacementList",
	})
	dyn.PrependReactor("patch", "*", func(action clienttesting.Action) (bool, runtime.Object, error) {
		patch := action.(clienttesting.PatchActionImpl)
		for _, name := range refuse {
			if patch.Name == name {
				return true, nil, apierrors.NewBadRequest("refused by the test")
			}
		}
		obj := &unstructured.Unstructured{}
		if err := obj.UnmarshalJSON(patch.Patch); err != nil {
			return true, nil, err
		}
		if len(patch.PatchOptions.DryRun) > 0 {
			return true, obj, nil
		}
		// Server-side apply, as far as these tests need it: create or replace.
		tracker := dyn.Tracker()
		if _, err := tracker.Get(patch.Resource, patch.Namespace, patch.Name); apierrors.IsNotFound(err) {
			return true, obj, tracker.Create(patch.Resource, obj, patch.Namespace)
		}
		return true, obj, tracker.Update(patch.Resource, obj, patch.Namespace)
	})
	return &Applier{mapper: mapper, dynamic: dyn}, mapper, dyn
}

// applied lists the patches that were not dry runs, as resource/namespace/name.
func applied(dyn *dynamicfake.FakeDynamicClient) []string {
	var out []string
	for _, a := range dyn.Actions() {
		if p, ok := a.(clienttesting.PatchActionImpl); ok && len(p.PatchOptions.DryRun) == 0 {
			out = append(out, p.Resource.Resource+"/"+p.Namespace+"/"+p.Name)
		}
	}
	return out
}

func TestApplyAppliesInOrderWhatTheDryRunAccepted(t *testing.T) {
	a, _, dyn := fakeHub(t)
	done, err := a.Apply(context.Background(), decoded(t, manifests))
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	for _, r := range done {
		lines = append(lines, r.String())
	}
	want := []string{
		"namespace/team created",
		"customresourcedefinition.apiextensions.k8s.io/widgets.example.com created",
		"configmap/team/settings created",
		"configmap/default/plain created", // a namespaced object without a namespace goes to default
		"clusterresourceplacement.placement.kubernetes-fleet.io/app created",
	}
	if strings.Join(lines, "\n") != strings.Join(want, "\n") {
		t.Errorf("results:\n%s\nwant:\n%s", strings.Join(lines, "\n"), strings.Join(want, "\n"))
	}
	// The ConfigMap in the namespace the batch creates is not dry-run (the
	// namespace does not exist yet); everything else is, before any write.
	var dryRuns []string
	for _, act := range dyn.Actions() {
		if p, ok := act.(clienttesting.PatchActionImpl); ok && len(p.PatchOptions.DryRun) > 0 {
			dryRuns = append(dryRuns, p.Name)
		}
	}
	if got := strings.Join(dryRuns, " "); got != "team widgets.example.com plain app" {
		t.Errorf("dry runs of %s", got)
	}
	for _, act := range dyn.Actions() {
		if p, ok := act.(clienttesting.PatchActionImpl); ok && len(p.PatchOptions.DryRun) == 0 && p.PatchOptions.FieldManager != FieldManager {
			t.Errorf("%s applied by field manager %q", p.Name, p.PatchOptions.FieldManager)
		}
	}
}

func TestApplyAppliesNothingWhenTheHubRefusesOneObject(t *testing.T) {
	a, _, dyn := fakeHub(t, "plain", "app")
	_, err := a.Apply(context.Background(), decoded(t, manifests))
	want := "nothing applied: the hub refused:\nConfigMap default/plain: refused by the test\nClusterResourcePlacement app: refused by the test"
	if err == nil || err.Error() != want {
		t.Errorf("Apply: %v\nwant: %s", err, want)
	}
	if got := applied(dyn); len(got) > 0 {
		t.Errorf("applied %v", got)
	}
}

// A kind the hub does not know may come with a CRD of the same batch: the
// dry run passes over it, and applying it says the kind is unknown if it
// still is, after looking again.
func TestAnUnknownKindIsRefusedWhenAppliedAfterTheMapperIsReset(t *testing.T) {
	a, mapper, dyn := fakeHub(t)
	objs := decoded(t, "apiVersion: v1\nkind: Namespace\nmetadata: {name: team}\n---\napiVersion: example.com/v1\nkind: Widget\nmetadata: {name: w, namespace: team}\n")
	done, err := a.Apply(context.Background(), objs)
	if err == nil || !strings.HasPrefix(err.Error(), "Widget w: unknown kind: ") {
		t.Fatalf("Apply: %v", err)
	}
	var noMatch *meta.NoKindMatchError
	if !errors.As(err, &noMatch) {
		t.Errorf("the error hides the mapper's: %v", err)
	}
	if len(done) != 1 || done[0].String() != "namespace/team created" {
		t.Errorf("done %v, want the namespace", done)
	}
	if mapper.resets != 1 {
		t.Errorf("mapper reset %d times, want once", mapper.resets)
	}
	if got := applied(dyn); strings.Join(got, " ") != "namespaces//team" {
		t.Errorf("applied %v", got)
	}
}

func TestAnUnknownNamespaceOrCRDKindIsRefusedByTheDryRun(t *testing.T) {
	a, _, dyn := fakeHub(t)
	objs := decoded(t, "apiVersion: apiextensions.k8s.io/v2\nkind: CustomResourceDefinition\nmetadata: {name: x}\n")
	_, err := a.Apply(context.Background(), objs)
	if err == nil || !strings.HasPrefix(err.Error(), "nothing applied: the hub refused:\nCustomResourceDefinition x: unknown kind: ") {
		t.Errorf("Apply: %v", err)
	}
	if got := applied(dyn); len(got) > 0 {
		t.Errorf("applied %v", got)
	}
}
