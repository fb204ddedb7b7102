package selection

import (
	"sort"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// applyClass orders kinds so that what others need exists first:
// namespaces, CRDs, identities and RBAC, configuration, workloads, the rest.
func applyClass(group, kind string) int {
	switch {
	case group == "" && kind == "Namespace":
		return 0
	case group == "apiextensions.k8s.io" && kind == "CustomResourceDefinition":
		return 1
	case group == "" && kind == "ServiceAccount", group == "rbac.authorization.k8s.io":
		return 2
	case group == "" && (kind == "ConfigMap" || kind == "Secret" || kind == "ResourceQuota" || kind == "LimitRange"):
		return 3
	case group == "apps", group == "batch", group == "" && (kind == "Pod" || kind == "ReplicationController"):
		return 4
	}
	return 5
}

// Sort puts objects in apply order: by class, then kind, namespace, name.
func Sort(objs []*unstructured.Unstructured) {
	sort.SliceStable(objs, func(i, j int) bool {
		a, b := objs[i].GroupVersionKind(), objs[j].GroupVersionKind()
		if ca, cb := applyClass(a.Group, a.Kind), applyClass(b.Group, b.Kind); ca != cb {
			return ca < cb
		}
		if a.Kind != b.Kind {
			return a.Kind < b.Kind
		}
		if a.Group != b.Group {
			return a.Group < b.Group
		}
		if objs[i].GetNamespace() != objs[j].GetNamespace() {
			return objs[i].GetNamespace() < objs[j].GetNamespace()
		}
		return objs[i].GetName() < objs[j].GetName()
	})
}
