package preflight

import (
	"bytes"
	"compress/gzip"
	"encoding/base64"
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/runtime/schema"
)

var (
	serviceCIDRBeta = schema.GroupVersionKind{Group: "networking.k8s.io", Version: "v1beta1", Kind: "ServiceCIDR"}
	v136            = Release{1, 36}
	v137            = Release{1, 37}
)

func removedIn137(t *testing.T) []RemovedAPI {
	t.Helper()
	apis := RemovedBetween(BuiltinRemovedAPIs(), v136, v137)
	if len(apis) == 0 {
		t.Fatal("no API is removed between 1.36 and 1.37 by the lifecycle data")
	}
	return apis
}

func TestTheLifecycleDataSaysWhatEachReleaseRemoves(t *testing.T) {
	all := BuiltinRemovedAPIs()
	find := func(gvk schema.GroupVersionKind) (RemovedAPI, bool) {
		for _, a := range all {
			if a.GroupVersionKind == gvk {
				return a, true
			}
		}
		return RemovedAPI{}, false
	}
	cases := []struct {
		gvk         schema.GroupVersionKind
		removed     Release
		replacement string
	}{
		{serviceCIDRBeta, v137, "networking.k8s.io/v1"},
		{schema.GroupVersionKind{Group: "extensions", Version: "v1beta1", Kind: "Ingress"}, Release{1, 22}, "networking.k8s.io/v1"},
		{schema.GroupVersionKind{Group: "policy", Version: "v1beta1", Kind: "PodDisruptionBudget"}, Release{1, 25}, "policy/v1"},
	}
	for _, tc := range cases {
		a, ok := find(tc.gvk)
		if !ok {
			// Types removed long ago may be gone from the Go packages too.
			if tc.removed.before(Release{1, 30}) {
				continue
			}
			t.Fatalf("%s is not in the lifecycle data", tc.gvk)
		}
		if a.Removed != tc.removed || a.Replacement.GroupVersion().String() != tc.replacement {
			t.Errorf("%s: removed %s, replacement %s; want %s, %s", tc.gvk, a.Removed, a.Replacement.GroupVersion(), tc.removed, tc.replacement)
		}
	}
	for _, a := range all {
		if strings.HasSuffix(a.Kind, "List") {
			t.Errorf("list kind %s in the table", a.GroupVersionKind)
		}
	}
}

func TestRemovedBetweenTakesWhatTheMoveRemoves(t *testing.T) {
	apis := []RemovedAPI{
		{GroupVersionKind: schema.GroupVersionKind{Kind: "Old"}, Removed: Release{1, 25}},
		{GroupVersionKind: schema.GroupVersionKind{Kind: "Next"}, Removed: v137},
		{GroupVersionKind: schema.GroupVersionKind{Kind: "Later"}, Removed: Release{1, 39}},
	}
	kinds := func(as []RemovedAPI) []string {
		var out []string
		for _, a := range as {
			out = append(out, a.Kind)
		}
		return out
	}
	cases := []struct {
		from, to Release
		want     []string
	}{
		{v136, v137, []string{"Next"}},
		{v136, v136, nil},
		{v137, Release{1, 39}, []string{"Later"}},
		{Release{1, 24}, Release{1, 40}, []string{"Old", "Next", "Later"}},
		{v137, v136, nil},
	}
	for _, tc := range cases {
		if got := kinds(RemovedBetween(apis, tc.from, tc.to)); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s -> %s: %v, want %v", tc.from, tc.to, got, tc.want)
		}
	}
}

func TestParseRelease(t *testing.T) {
	for in, want := range map[string]Release{"1.37": v137, "v1.37.2": v137, "1.36.0-rc.1": v136, "v2.0": {2, 0}} {
		if got, err := ParseRelease(in); err != nil || got != want {
			t.Errorf("ParseRelease(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"", "1", "latest", "v1.x"} {
		if _, err := ParseRelease(in); err == nil {
			t.Errorf("ParseRelease(%q) succeeded", in)
		}
	}
}

func TestRequestFindingsReadTheAPIServersCount(t *testing.T) {
	metrics := `# HELP apiserver_requested_deprecated_apis [STABLE] Gauge of deprecated APIs that have been requested, broken out by API group, version, resource, subresource, and removed_release.
# TYPE apiserver_requested_deprecated_apis gauge
apiserver_requested_deprecated_apis{group="networking.k8s.io",removed_release="1.37",resource="servicecidrs",subresource="",version="v1beta1"} 1
apiserver_requested_deprecated_apis{group="networking.k8s.io",removed_release="1.37",resource="servicecidrs",subresource="status",version="v1beta1"} 1
apiserver_requested_deprecated_apis{group="example.dev",removed_release="1.37",resource="widgets",subresource="",version="v1beta1"} 1
# TYPE apiserver_request_total counter
apiserver_request_total{code="200",verb="GET"} 12
`
	got, err := RequestFindings([]byte(metrics), removedIn137(t))
	if err != nil {
		t.Fatal(err)
	}
	want := []Finding{
		{Source: SourceRequests, Kind: "servicecidrs", APIVersion: "networking.k8s.io/v1beta1", RemovedIn: "1.37", Replacement: "networking.k8s.io/v1", Detail: "counted since the API server started"},
		{Source: SourceRequests, Kind: "servicecidrs/status", APIVersion: "networking.k8s.io/v1beta1", RemovedIn: "1.37", Replacement: "networking.k8s.io/v1", Detail: "counted since the API server started"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("findings\n%+v\nwant\n%+v", got, want)
	}
	if _, err := RequestFindings([]byte("not{ metrics"), nil); err == nil {
		t.Error("garbage metrics were read without an error")
	}
}

func TestLastAppliedFindingNamesTheRemovedVersion(t *testing.T) {
	apis := removedIn137(t)
	beta := map[string]string{lastAppliedAnnotation: `{"apiVersion":"networking.k8s.io/v1beta1","kind":"ServiceCIDR","metadata":{"name":"extra"}}`}
	f, ok := LastAppliedFinding(beta, "", "extra", apis)
	if !ok || f.Kind != "ServiceCIDR" || f.Name != "extra" || f.Replacement != "networking.k8s.io/v1" || f.Source != SourceLastApplied {
		t.Fatalf("finding %+v, %v", f, ok)
	}
	for _, annotations := range []map[string]string{
		nil,
		{lastAppliedAnnotation: `{"apiVersion":"networking.k8s.io/v1","kind":"ServiceCIDR"}`},
		{lastAppliedAnnotation: `not json`},
	} {
		if f, ok := LastAppliedFinding(annotations, "", "x", apis); ok {
			t.Errorf("%v: finding %+v", annotations, f)
		}
	}
}

// helmSecretData is a release as Helm v3 stores it in its Secret's
// "release" key: base64 of gzipped JSON.
func helmSecretData(t testing.TB, name, namespace, status, manifest string) []byte {
	t.Helper()
	raw, err := json.Marshal(map[string]any{"name": name, "namespace": namespace, "version": 1,
		"info": map[string]any{"status": status}, "manifest": manifest})
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	if _, err := zw.Write(raw); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return []byte(base64.StdEncoding.EncodeToString(buf.Bytes()))
}

const helmManifest = `---
# Source: net/templates/cidr.yaml
apiVersion: networking.k8s.io/v1beta1
kind: ServiceCIDR
metadata:
  name: chart-cidr
spec:
  cidrs: ["10.250.0.0/24"]
---
# Source: net/templates/cm.yaml
apiVersion: v1
kind: ConfigMap
metadata:
  name: settings
`

func TestHelmReleasesAreDecodedAndTheirManifestsRead(t *testing.T) {
	rel, err := DecodeHelmRelease(helmSecretData(t, "net", "apps", "deployed", helmManifest))
	name, ns, manifest := rel.Name, rel.Namespace, rel.Manifest
	if err != nil || name != "net" || ns != "apps" || rel.Info.Status != "deployed" || rel.Version != 1 || manifest != helmManifest {
		t.Fatalf("decoded %+v %v", rel, err)
	}
	clusterScoped := func(gvk schema.GroupVersionKind) bool { return gvk.Kind != "ServiceCIDR" }
	got := ManifestFindings(name, ns, manifest, removedIn137(t), clusterScoped)
	want := []Finding{{Source: SourceHelmRelease, Kind: "ServiceCIDR", Name: "chart-cidr", APIVersion: "networking.k8s.io/v1beta1",
		RemovedIn: "1.37", Replacement: "networking.k8s.io/v1", Detail: "release apps/net"}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("findings\n%+v\nwant\n%+v", got, want)
	}
	for _, bad := range [][]byte{[]byte("%%%"), []byte(base64.StdEncoding.EncodeToString([]byte{0x1f, 0x8b, 0})), []byte(base64.StdEncoding.EncodeToString([]byte("{")))} {
		if _, err := DecodeHelmRelease(bad); err == nil {
			t.Errorf("DecodeHelmRelease(%q) succeeded", bad)
		}
	}
}

func TestSummaryListsTheFirstFindings(t *testing.T) {
	var fs []Finding
	for range 7 {
		fs = append(fs, Finding{Source: SourceLastApplied, Kind: "ServiceCIDR", Name: "a", APIVersion: "networking.k8s.io/v1beta1", RemovedIn: "1.37"})
	}
	s := Summary(fs)
	if !strings.HasPrefix(s, "7 use(s) of APIs the target removes: ServiceCIDR a networking.k8s.io/v1beta1 (removed in 1.37; LastApplied)") || !strings.HasSuffix(s, "and 2 more (flotilla preflight lists them)") {
		t.Fatal(s)
	}
}

func FuzzDecodeHelmRelease(f *testing.F) {
	f.Add(helmSecretData(f, "net", "apps", "deployed", helmManifest))
	f.Add([]byte("e30="))
	f.Fuzz(func(t *testing.T, data []byte) {
		rel, err := DecodeHelmRelease(data)
		if err == nil {
			ManifestFindings("r", "ns", rel.Manifest, BuiltinRemovedAPIs(), func(schema.GroupVersionKind) bool { return true })
		}
	})
}
