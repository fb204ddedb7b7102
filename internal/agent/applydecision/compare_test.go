package applydecision

import (
	"reflect"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	placementv1 "github.com/flotilla-dev/flotilla/api/placement/v1"
)

func obj(t *testing.T, s string) map[string]any {
	t.Helper()
	u := &unstructured.Unstructured{}
	if err := u.UnmarshalJSON([]byte(s)); err != nil {
		t.Fatal(err)
	}
	return u.Object
}

func TestCompareManifest(t *testing.T) {
	const deployment = `{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"web","namespace":"a","labels":{"app":"web"}},
		"spec":{"selector":{"matchLabels":{"app":"web"}},"template":{"spec":{"containers":[{"name":"web","image":"nginx:1"}]}}}}`
	for _, tc := range []struct {
		name           string
		manifest, live string
		want           []placementv1.PatchDetail
	}{
		{
			name:     "server defaults and other metadata do not count",
			manifest: deployment,
			live: `{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"web","namespace":"a","uid":"x","resourceVersion":"7","labels":{"app":"web","extra":"1"}},
				"spec":{"replicas":3,"selector":{"matchLabels":{"app":"web"}},"template":{"spec":{"containers":[{"name":"web","image":"nginx:1","imagePullPolicy":"IfNotPresent"}]}}},
				"status":{"replicas":3}}`,
		},
		{
			name:     "a changed field inside a list",
			manifest: deployment,
			live: `{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"web","namespace":"a","labels":{"app":"web"}},
				"spec":{"selector":{"matchLabels":{"app":"web"}},"template":{"spec":{"containers":[{"name":"web","image":"nginx:2"}]}}}}`,
			want: []placementv1.PatchDetail{{Path: "/spec/template/spec/containers/0/image", ValueInMember: "nginx:2", ValueInHub: "nginx:1"}},
		},
		{
			name:     "missing fields and a list of another length",
			manifest: `{"kind":"ConfigMap","metadata":{"name":"c","annotations":{"a/b~c":"1"}},"data":{"k":"v"},"list":[1,2]}`,
			live:     `{"kind":"ConfigMap","metadata":{"name":"c"},"list":[1]}`,
			want: []placementv1.PatchDetail{
				{Path: "/data", ValueInHub: `{"k":"v"}`},
				{Path: "/list", ValueInMember: "[1]", ValueInHub: "[1,2]"},
				{Path: "/metadata/annotations", ValueInHub: `{"a/b~c":"1"}`},
			},
		},
		{
			name:     "escaped keys",
			manifest: `{"kind":"ConfigMap","metadata":{"name":"c","annotations":{"a/b~c":"1"}}}`,
			live:     `{"kind":"ConfigMap","metadata":{"name":"c","annotations":{"a/b~c":"2"}}}`,
			want:     []placementv1.PatchDetail{{Path: "/metadata/annotations/a~1b~0c", ValueInMember: "2", ValueInHub: "1"}},
		},
		{
			name:     "quantities compare by value",
			manifest: `{"kind":"ResourceQuota","metadata":{"name":"q"},"spec":{"hard":{"requests.cpu":"1000m","limits.cpu":"0.5","requests.memory":"1Gi","pods":10}}}`,
			live:     `{"kind":"ResourceQuota","metadata":{"name":"q"},"spec":{"hard":{"requests.cpu":"1","limits.cpu":"500m","requests.memory":"1024Mi","pods":"10"}}}`,
		},
		{
			name: "quantities of a container and a LimitRange compare by value",
			manifest: `{"kind":"X","metadata":{"name":"x"},"spec":{"containers":[{"resources":{"requests":{"cpu":"0.1"},"limits":{"memory":"1G"}}}],
				"limits":[{"type":"Container","max":{"cpu":"2000m"},"defaultRequest":{"memory":"0.5Gi"}}],"volumes":[{"emptyDir":{"sizeLimit":"1024Ki"}}]}}`,
			live: `{"kind":"X","metadata":{"name":"x"},"spec":{"containers":[{"resources":{"requests":{"cpu":"100m"},"limits":{"memory":"1e9"}}}],
				"limits":[{"type":"Container","max":{"cpu":"2"},"defaultRequest":{"memory":"512Mi"}}],"volumes":[{"emptyDir":{"sizeLimit":"1Mi"}}]}}`,
		},
		{
			name:     "different quantities differ",
			manifest: `{"kind":"ResourceQuota","metadata":{"name":"q"},"spec":{"hard":{"requests.cpu":"1","pods":"5","requests.memory":"1Gi"}}}`,
			live:     `{"kind":"ResourceQuota","metadata":{"name":"q"},"spec":{"hard":{"requests.cpu":"1001m","pods":"5x","requests.memory":"1G"}}}`,
			want: []placementv1.PatchDetail{
				{Path: "/spec/hard/pods", ValueInMember: "5x", ValueInHub: "5"},
				{Path: "/spec/hard/requests.cpu", ValueInMember: "1001m", ValueInHub: "1"},
				{Path: "/spec/hard/requests.memory", ValueInMember: "1G", ValueInHub: "1Gi"},
			},
		},
		{
			name:     "strings that are not quantity fields compare as strings",
			manifest: `{"kind":"ConfigMap","metadata":{"name":"c","labels":{"v":"1.0"}},"data":{"cpu":"1000m","size":"1Gi"}}`,
			live:     `{"kind":"ConfigMap","metadata":{"name":"c","labels":{"v":"1"}},"data":{"cpu":"1","size":"1024Mi"}}`,
			want: []placementv1.PatchDetail{
				{Path: "/data/cpu", ValueInMember: "1", ValueInHub: "1000m"},
				{Path: "/data/size", ValueInMember: "1024Mi", ValueInHub: "1Gi"},
				{Path: "/metadata/labels/v", ValueInMember: "1", ValueInHub: "1.0"},
			},
		},
		{
			name:     "numbers compare by value",
			manifest: `{"kind":"X","metadata":{"name":"x"},"spec":{"n":2,"f":1.5}}`,
			live:     `{"kind":"X","metadata":{"name":"x"},"spec":{"n":2.0,"f":1.5}}`,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := compareManifest(obj(t, tc.manifest), obj(t, tc.live))
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got  %+v\nwant %+v", got, tc.want)
			}
		})
	}
}

func TestAFullComparisonFindsWhatTheMemberAddedBesideTheManifest(t *testing.T) {
	manifest := map[string]any{"apiVersion": "v1", "kind": "ConfigMap",
		"metadata": map[string]any{"name": "c", "labels": map[string]any{"app": "web"}},
		"data":     map[string]any{"a": "1"}}
	live := map[string]any{"apiVersion": "v1", "kind": "ConfigMap",
		"metadata":  map[string]any{"name": "c", "uid": "u", "labels": map[string]any{"app": "web", "fleet.flotilla.dev/managed-by": "flotilla-agent", "team": "x"}},
		"data":      map[string]any{"a": "1", "b": "2"},
		"immutable": false,
		"status":    map[string]any{"phase": "x"}}
	if got := compare(placementv1.ComparisonOptionTypePartialComparison, manifest, live); len(got) != 0 {
		t.Errorf("partial: %+v", got)
	}
	got := compare(placementv1.ComparisonOptionTypeFullComparison, manifest, live)
	want := []placementv1.PatchDetail{
		{Path: "/data/b", ValueInMember: "2"},
		{Path: "/immutable", ValueInMember: "false"},
		{Path: "/metadata/labels/team", ValueInMember: "x"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("full:\n%+v\nwant\n%+v", got, want)
	}
}
