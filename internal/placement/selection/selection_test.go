package selection

import (
	"reflect"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

func obj(apiVersion, kind, ns, name string) *unstructured.Unstructured {
	o := &unstructured.Unstructured{}
	o.SetAPIVersion(apiVersion)
	o.SetKind(kind)
	o.SetNamespace(ns)
	o.SetName(name)
	return o
}

func TestSort(t *testing.T) {
	objs := []*unstructured.Unstructured{
		obj("v1", "Service", "fintech", "api"),
		obj("apps/v1", "Deployment", "fintech", "api"),
		obj("v1", "ResourceQuota", "fintech", "platform-quota"),
		obj("v1", "ConfigMap", "fintech", "b"),
		obj("v1", "ConfigMap", "fintech", "a"),
		obj("rbac.authorization.k8s.io/v1", "ClusterRole", "", "fintech-readonly"),
		obj("v1", "ServiceAccount", "fintech", "app"),
		obj("apiextensions.k8s.io/v1", "CustomResourceDefinition", "", "widgets.example.com"),
		obj("v1", "Namespace", "", "fintech"),
		obj("v1", "Namespace", "", "alpha"),
	}
	Sort(objs)
	var got []string
	for _, o := range objs {
		got = append(got, o.GetKind()+"/"+o.GetName())
	}
	want := []string{
		"Namespace/alpha", "Namespace/fintech", "CustomResourceDefinition/widgets.example.com",
		"ClusterRole/fintech-readonly", "ServiceAccount/app",
		"ConfigMap/a", "ConfigMap/b", "ResourceQuota/platform-quota",
		"Deployment/api", "Service/api",
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("order\n got %v\nwant %v", got, want)
	}
}

func TestStrip(t *testing.T) {
	svc := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "v1", "kind": "Service",
		"metadata": map[string]any{
			"name": "api", "namespace": "fintech", "uid": "u", "resourceVersion": "7", "generation": int64(2),
			"creationTimestamp": "2026-01-01T00:00:00Z", "managedFields": []any{map[string]any{}},
			"ownerReferences": []any{map[string]any{}}, "selfLink": "/x",
			"labels":      map[string]any{"app": "api"},
			"annotations": map[string]any{"kubectl.kubernetes.io/last-applied-configuration": "{}"},
		},
		"spec":   map[string]any{"clusterIP": "10.0.0.1", "clusterIPs": []any{"10.0.0.1"}, "ports": []any{map[string]any{"port": int64(80)}}},
		"status": map[string]any{"loadBalancer": map[string]any{}},
	}}
	got := Strip(svc)
	want := map[string]any{
		"apiVersion": "v1", "kind": "Service",
		"metadata": map[string]any{"name": "api", "namespace": "fintech", "labels": map[string]any{"app": "api"}},
		"spec":     map[string]any{"ports": []any{map[string]any{"port": int64(80)}}},
	}
	if !reflect.DeepEqual(got.Object, want) {
		t.Errorf("Strip\n got %v\nwant %v", got.Object, want)
	}
	if _, ok := svc.Object["status"]; !ok {
		t.Error("Strip changed its input")
	}
}

func TestHash(t *testing.T) {
	a := []*unstructured.Unstructured{obj("v1", "Namespace", "", "fintech")}
	b := []*unstructured.Unstructured{obj("v1", "Namespace", "", "fintech")}
	ha, _ := Hash(a)
	hb, _ := Hash(b)
	if ha != hb || len(ha) != 64 {
		t.Fatalf("equal selections hash differently: %s %s", ha, hb)
	}
	b[0].SetLabels(map[string]string{"x": "y"})
	if hc, _ := Hash(b); hc == ha {
		t.Fatal("a changed selection keeps its hash")
	}
}

func TestSkip(t *testing.T) {
	owned := obj("v1", "ConfigMap", "fintech", "owned")
	owned.SetOwnerReferences([]metav1.OwnerReference{{Name: "rs"}})
	token := obj("v1", "Secret", "fintech", "tok")
	_ = unstructured.SetNestedField(token.Object, "kubernetes.io/service-account-token", "type")
	cases := []struct {
		gvr  schema.GroupVersionResource
		o    *unstructured.Unstructured
		want bool
	}{
		{schema.GroupVersionResource{Version: "v1", Resource: "configmaps"}, obj("v1", "ConfigMap", "fintech", "kube-root-ca.crt"), true},
		{schema.GroupVersionResource{Version: "v1", Resource: "configmaps"}, obj("v1", "ConfigMap", "fintech", "app"), false},
		{schema.GroupVersionResource{Version: "v1", Resource: "configmaps"}, owned, true},
		{schema.GroupVersionResource{Version: "v1", Resource: "serviceaccounts"}, obj("v1", "ServiceAccount", "fintech", "default"), true},
		{schema.GroupVersionResource{Version: "v1", Resource: "serviceaccounts"}, obj("v1", "ServiceAccount", "fintech", "app"), false},
		{schema.GroupVersionResource{Version: "v1", Resource: "secrets"}, token, true},
		{schema.GroupVersionResource{Version: "v1", Resource: "secrets"}, obj("v1", "Secret", "fintech", "creds"), false},
		{schema.GroupVersionResource{Group: "placement.kubernetes-fleet.io", Version: "v1", Resource: "resourceoverrides"},
			obj("placement.kubernetes-fleet.io/v1", "ResourceOverride", "fintech", "per-member"), true},
	}
	for _, tc := range cases {
		if got := skip(tc.gvr, tc.o); got != tc.want {
			t.Errorf("skip(%s %s) = %v, want %v", tc.gvr.Resource, tc.o.GetName(), got, tc.want)
		}
	}
}

func TestReserved(t *testing.T) {
	for ns, want := range map[string]bool{
		"kube-system": true, "kube-node-lease": true, "flotilla-system": true, "flotilla-member-eu-1": true,
		"fintech": false, "default": false, "kubernetes-dashboard": false, "flotilla-demo": false,
	} {
		if got := Reserved(ns); got != want {
			t.Errorf("Reserved(%q) = %v, want %v", ns, got, want)
		}
	}
}
