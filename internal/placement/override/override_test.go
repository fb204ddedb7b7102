package override

import (
	"reflect"
	"strings"
	"testing"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	placementv1 "github.com/flotilla-dev/flotilla/api/placement/v1"
)

func clusterRole() *unstructured.Unstructured {
	return &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
		"metadata": map[string]any{"name": "fintech-readonly"},
		"rules":    []any{map[string]any{"apiGroups": []any{""}, "resources": []any{"pods"}, "verbs": []any{"get"}}},
	}}
}

func quota() *unstructured.Unstructured {
	return &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "v1", "kind": "ResourceQuota",
		"metadata": map[string]any{"name": "platform-quota", "namespace": "fintech", "labels": map[string]any{"a": "b"}},
		"spec":     map[string]any{"hard": map[string]any{"pods": "500"}},
	}}
}

func jp(op placementv1.JSONPatchOverrideOperator, path, value string) placementv1.JSONPatchOverride {
	p := placementv1.JSONPatchOverride{Op: op, Path: path}
	if value != "" {
		p.Value = apiextensionsv1.JSON{Raw: []byte(value)}
	}
	return p
}

func cro(name string, sel *placementv1.ClusterSelector, rule placementv1.OverrideRule) placementv1.ClusterResourceOverride {
	rule.ClusterSelector = sel
	return placementv1.ClusterResourceOverride{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: placementv1.ClusterResourceOverrideSpec{
			ClusterResourceSelectors: []placementv1.ClusterResourceSelector{{Group: "rbac.authorization.k8s.io", Version: "v1", Kind: "ClusterRole", Name: "fintech-readonly"}},
			Policy:                   &placementv1.OverridePolicy{OverrideRules: []placementv1.OverrideRule{rule}},
		},
	}
}

func ro(name string, rule placementv1.OverrideRule) placementv1.ResourceOverride {
	return placementv1.ResourceOverride{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "fintech"},
		Spec: placementv1.ResourceOverrideSpec{
			ResourceSelectors: []placementv1.ResourceSelector{{Group: "", Version: "v1", Kind: "ResourceQuota", Name: "platform-quota"}},
			Policy:            &placementv1.OverridePolicy{OverrideRules: []placementv1.OverrideRule{rule}},
		},
	}
}

func regionSel(region string) *placementv1.ClusterSelector {
	return &placementv1.ClusterSelector{ClusterSelectorTerms: []placementv1.ClusterSelectorTerm{{
		LabelSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"region": region}},
	}}}
}

func patchRule(ops ...placementv1.JSONPatchOverride) placementv1.OverrideRule {
	return placementv1.OverrideRule{OverrideType: placementv1.JSONPatchOverrideType, JSONPatchOverrides: ops}
}

func TestApply(t *testing.T) {
	eu := Member{Name: "member-eu", Labels: map[string]string{"region": "eu"}}
	cases := []struct {
		name        string
		obj         *unstructured.Unstructured
		set         Set
		placement   string
		wantDeleted bool
		wantErr     string
		check       func(t *testing.T, out *unstructured.Unstructured)
		wantApplied Applied
	}{
		{
			name: "no overrides: unchanged",
			obj:  clusterRole(),
			check: func(t *testing.T, out *unstructured.Unstructured) {
				if !reflect.DeepEqual(out.Object, clusterRole().Object) {
					t.Errorf("changed: %v", out.Object)
				}
			},
		},
		{
			name: "add a label with the member's name; nil selector is every member",
			obj:  clusterRole(),
			set:  Set{ClusterResourceOverrides: []placementv1.ClusterResourceOverride{cro("c1", nil, patchRule(jp("add", "/metadata/labels/cluster", `"${MEMBER-CLUSTER-NAME}"`)))}},
			check: func(t *testing.T, out *unstructured.Unstructured) {
				if got := out.GetLabels()["cluster"]; got != "member-eu" {
					t.Errorf("label cluster = %q", got)
				}
			},
			wantApplied: Applied{ClusterResourceOverrides: []string{"c1"}},
		},
		{
			name: "variable replaced inside nested values",
			obj:  clusterRole(),
			set: Set{ClusterResourceOverrides: []placementv1.ClusterResourceOverride{cro("c1", nil,
				patchRule(jp("replace", "/rules/0/resources", `["pods-${MEMBER-CLUSTER-NAME}", {"x": "${MEMBER-CLUSTER-NAME}"}]`)))}},
			check: func(t *testing.T, out *unstructured.Unstructured) {
				got, _, _ := unstructured.NestedSlice(out.Object, "rules")
				res := got[0].(map[string]any)["resources"].([]any)
				if res[0] != "pods-member-eu" || res[1].(map[string]any)["x"] != "member-eu" {
					t.Errorf("resources = %v", res)
				}
			},
			wantApplied: Applied{ClusterResourceOverrides: []string{"c1"}},
		},
		{
			name: "a member label's value for ${MEMBER-CLUSTER-LABEL-KEY-<key>}",
			obj:  clusterRole(),
			set: Set{ClusterResourceOverrides: []placementv1.ClusterResourceOverride{cro("c1", nil,
				patchRule(jp("add", "/metadata/annotations/where", `"${MEMBER-CLUSTER-NAME} in ${MEMBER-CLUSTER-LABEL-KEY-region}"`)))}},
			check: func(t *testing.T, out *unstructured.Unstructured) {
				if got := out.GetAnnotations()["where"]; got != "member-eu in eu" {
					t.Errorf("annotation where = %q", got)
				}
			},
			wantApplied: Applied{ClusterResourceOverrides: []string{"c1"}},
		},
		{
			name: "a label the member does not have fails the override, naming it",
			obj:  clusterRole(),
			set: Set{ClusterResourceOverrides: []placementv1.ClusterResourceOverride{cro("c1", nil,
				patchRule(jp("add", "/metadata/labels/zone", `"${MEMBER-CLUSTER-LABEL-KEY-topology.kubernetes.io/zone}"`)))}},
			wantErr: "member member-eu has no label topology.kubernetes.io/zone",
		},
		{
			name: "rule for another region does not apply",
			obj:  clusterRole(),
			set:  Set{ClusterResourceOverrides: []placementv1.ClusterResourceOverride{cro("c1", regionSel("us"), patchRule(jp("add", "/metadata/labels/x", `"y"`)))}},
			check: func(t *testing.T, out *unstructured.Unstructured) {
				if len(out.GetLabels()) != 0 {
					t.Errorf("labels %v", out.GetLabels())
				}
			},
		},
		{
			name:        "Delete keeps the object off the member",
			obj:         clusterRole(),
			set:         Set{ClusterResourceOverrides: []placementv1.ClusterResourceOverride{cro("c1", regionSel("eu"), placementv1.OverrideRule{OverrideType: placementv1.DeleteOverrideType})}},
			wantDeleted: true,
			wantApplied: Applied{ClusterResourceOverrides: []string{"c1"}},
		},
		{
			name: "override for another placement does not apply",
			obj:  clusterRole(),
			set: Set{ClusterResourceOverrides: []placementv1.ClusterResourceOverride{func() placementv1.ClusterResourceOverride {
				c := cro("c1", nil, placementv1.OverrideRule{OverrideType: placementv1.DeleteOverrideType})
				c.Spec.Placement = &placementv1.PlacementRef{Name: "other"}
				return c
			}()}},
			placement: "mine",
		},
		{
			name:    "metadata.name cannot be patched",
			obj:     clusterRole(),
			set:     Set{ClusterResourceOverrides: []placementv1.ClusterResourceOverride{cro("c1", nil, patchRule(jp("replace", "/metadata/name", `"x"`)))}},
			wantErr: "only metadata.labels and metadata.annotations",
		},
		{
			name:    "status cannot be patched",
			obj:     quota(),
			set:     Set{ResourceOverrides: []placementv1.ResourceOverride{ro("r1", patchRule(jp("add", "/status/x", `"y"`)))}},
			wantErr: "status cannot be overridden",
		},
		{
			name: "ResourceOverride replaces and removes",
			obj:  quota(),
			set: Set{ResourceOverrides: []placementv1.ResourceOverride{ro("r1", patchRule(
				jp("replace", "/spec/hard/pods", `"10"`), jp("remove", "/metadata/labels/a", "")))}},
			check: func(t *testing.T, out *unstructured.Unstructured) {
				pods, _, _ := unstructured.NestedString(out.Object, "spec", "hard", "pods")
				if pods != "10" || len(out.GetLabels()) != 0 {
					t.Errorf("pods %q labels %v", pods, out.GetLabels())
				}
			},
			wantApplied: Applied{ResourceOverrides: []placementv1.NamespacedName{{Namespace: "fintech", Name: "r1"}}},
		},
		{
			name: "ResourceOverride in another namespace does not apply",
			obj:  quota(),
			set: Set{ResourceOverrides: []placementv1.ResourceOverride{func() placementv1.ResourceOverride {
				r := ro("r1", placementv1.OverrideRule{OverrideType: placementv1.DeleteOverrideType})
				r.Namespace = "other"
				return r
			}()}},
		},
		{
			name:    "removing a missing path is an error",
			obj:     quota(),
			set:     Set{ResourceOverrides: []placementv1.ResourceOverride{ro("r1", patchRule(jp("remove", "/spec/nothing", "")))}},
			wantErr: "applying the JSON patch",
		},
		{
			name: "later overrides patch on top, in name order",
			obj:  clusterRole(),
			set: Set{ClusterResourceOverrides: []placementv1.ClusterResourceOverride{
				cro("b", nil, patchRule(jp("add", "/metadata/labels/x", `"from-b"`))),
				cro("a", nil, patchRule(jp("add", "/metadata/labels/x", `"from-a"`))),
			}},
			check: func(t *testing.T, out *unstructured.Unstructured) {
				if got := out.GetLabels()["x"]; got != "from-b" {
					t.Errorf("x = %q", got)
				}
			},
			wantApplied: Applied{ClusterResourceOverrides: []string{"a", "b"}},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			orig := tc.obj.DeepCopy()
			out, applied, err := Apply(tc.placement, tc.obj, eu, tc.set)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(tc.obj.Object, orig.Object) {
				t.Error("the input object was changed")
			}
			if (out == nil) != tc.wantDeleted {
				t.Fatalf("deleted = %v, want %v", out == nil, tc.wantDeleted)
			}
			if tc.check != nil {
				tc.check(t, out)
			}
			if !reflect.DeepEqual(applied, tc.wantApplied) {
				t.Errorf("applied = %+v, want %+v", applied, tc.wantApplied)
			}
		})
	}
}

func TestCheckPath(t *testing.T) {
	for path, ok := range map[string]bool{
		"/spec/replicas": true, "/metadata/labels": true, "/metadata/labels/a": true, "/metadata/annotations/b~1c": true,
		"/metadata": false, "/metadata/name": false, "/metadata/namespace": false, "/metadata/finalizers/0": false,
		"/status": false, "/status/phase": false, "/statusx": true,
	} {
		if err := CheckPath(path); (err == nil) != ok {
			t.Errorf("CheckPath(%q) = %v, want ok=%v", path, err, ok)
		}
	}
}
