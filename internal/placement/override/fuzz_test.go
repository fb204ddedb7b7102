package override

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	placementv1 "github.com/flotilla-dev/flotilla/api/placement/v1"
)

// FuzzApply feeds override policies (as the JSON of spec.policy) to Apply
// for a ClusterRole and a namespaced ResourceQuota, on a member with labels
// and properties: it must not panic or change its input, every refusal must
// name the field under spec.policy, and whatever it returns must be the
// same object (apiVersion, kind, name, namespace) with labels and
// annotations that are maps of strings.
func FuzzApply(f *testing.F) {
	f.Add(`{"overrideRules": [{"jsonPatchOverrides": [{"op": "add", "path": "/metadata/labels/cluster", "value": "${MEMBER-CLUSTER-NAME}"}]}]}`)
	f.Add(`{"overrideRules": [{"clusterSelector": {"clusterSelectorTerms": [{"labelSelector": {"matchLabels": {"region": "eu"}}}]}, "overrideType": "Delete"}]}`)
	f.Add(`{"overrideRules": [{"clusterSelector": {"clusterSelectorTerms": [{"propertySelector": {"matchExpressions": [{"name": "cpu", "operator": "Gt", "values": ["4"]}]}}]}, "jsonPatchOverrides": [{"op": "replace", "path": "/spec/hard/pods", "value": "100"}]}]}`)
	f.Add(`{"overrideRules": [{"jsonPatchOverrides": [{"op": "remove", "path": "/rules/0"}]}]}`)
	f.Add(`{"overrideRules": [{"jsonPatchOverrides": [{"op": "replace", "path": "/metadata/name", "value": "x"}]}]}`)
	f.Add(`{"overrideRules": [{"jsonPatchOverrides": [{"op": "replace", "path": "/kind", "value": "Secret"}]}]}`)
	f.Add(`{"overrideRules": [{"jsonPatchOverrides": [{"op": "add", "path": "/metadata/labels", "value": "not-a-map"}]}]}`)
	f.Add(`{"overrideRules": [{"jsonPatchOverrides": [{"op": "add", "path": "/metadata/labels/n", "value": 5}]}]}`)
	f.Add(`{"overrideRules": [{"clusterSelector": {"clusterSelectorTerms": [{"labelSelector": {"matchExpressions": [{"key": "x", "operator": "Bogus"}]}}]}, "overrideType": "Delete"}]}`)
	f.Add(`{"overrideRules": [{"clusterSelector": {"clusterSelectorTerms": [{"propertySelector": {"matchExpressions": [{"name": "cpu", "operator": "Gt", "values": ["many"]}]}}]}, "overrideType": "Delete"}]}`)
	f.Add(`{"overrideRules": [{"overrideType": "Copy"}]}`)
	f.Add(`{"overrideRules": []}`)
	f.Fuzz(func(t *testing.T, policyJSON string) {
		var policy placementv1.OverridePolicy
		if err := json.Unmarshal([]byte(policyJSON), &policy); err != nil {
			return
		}
		member := Member{Name: "member-1", Labels: map[string]string{"region": "eu"}, Properties: map[string]string{"cpu": "8"}}
		cro := placementv1.ClusterResourceOverride{Spec: placementv1.ClusterResourceOverrideSpec{
			ClusterResourceSelectors: []placementv1.ClusterResourceSelector{{Group: "rbac.authorization.k8s.io", Version: "v1", Kind: "ClusterRole", Name: "fintech-readonly"}},
			Policy:                   &policy,
		}}
		cro.Name = "fuzz"
		ro := placementv1.ResourceOverride{Spec: placementv1.ResourceOverrideSpec{
			ResourceSelectors: []placementv1.ResourceSelector{{Version: "v1", Kind: "ResourceQuota", Name: "platform-quota"}},
			Policy:            &policy,
		}}
		ro.Name, ro.Namespace = "fuzz", "fintech"
		set := Set{ClusterResourceOverrides: []placementv1.ClusterResourceOverride{cro}, ResourceOverrides: []placementv1.ResourceOverride{ro}}
		for _, obj := range []*unstructured.Unstructured{clusterRole(), quota()} {
			before := obj.DeepCopy()
			out, _, err := Apply("crp", obj, member, set)
			if !reflect.DeepEqual(obj, before) {
				t.Fatalf("Apply changed its input:\n%v\n%v", before, obj)
			}
			if err != nil {
				if !strings.Contains(err.Error(), "spec.policy") {
					t.Fatalf("refused with %q, which names no field under spec.policy", err)
				}
				if again, _, err2 := Apply("crp", obj, member, set); again != nil || err2 == nil || err2.Error() != err.Error() {
					t.Fatalf("not deterministic: %v then %v", err, err2)
				}
				continue
			}
			if out == nil {
				continue // deleted for this member
			}
			if out.GetAPIVersion() != obj.GetAPIVersion() || out.GetKind() != obj.GetKind() || out.GetName() != obj.GetName() || out.GetNamespace() != obj.GetNamespace() {
				t.Fatalf("the override made %s %s/%s into %s %s/%s", obj.GetKind(), obj.GetNamespace(), obj.GetName(), out.GetKind(), out.GetNamespace(), out.GetName())
			}
			for _, m := range []string{"labels", "annotations"} {
				if _, _, err := unstructured.NestedStringMap(out.Object, "metadata", m); err != nil {
					t.Fatalf("the override left metadata.%s that are not strings: %v", m, err)
				}
			}
		}
	})
}
