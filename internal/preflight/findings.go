package preflight

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/yaml"
)

// Source says how a use of a removed API was found.
type Source string

const (
	// SourceRequests: the member's API server counted requests to it
	// (apiserver_requested_deprecated_apis).
	SourceRequests Source = "Requests"
	// SourceLastApplied: a stored object was last applied (kubectl apply)
	// through it.
	SourceLastApplied Source = "LastApplied"
	// SourceHelmRelease: a deployed Helm v3 release's manifest uses it.
	SourceHelmRelease Source = "HelmRelease"
)

// Finding is one use of an API the target release removes.
type Finding struct {
	Source Source `json:"source"`
	// Kind is the object's kind; for requests, the resource.
	Kind       string `json:"kind"`
	Namespace  string `json:"namespace,omitempty"`
	Name       string `json:"name,omitempty"`
	APIVersion string `json:"apiVersion"`
	RemovedIn  string `json:"removedIn"`
	// Replacement is the apiVersion to move to, where the API names one.
	Replacement string `json:"replacement,omitempty"`
	// Detail says more: the Helm release, or the request count.
	Detail string `json:"detail,omitempty"`
}

// Object is namespace/name, or name for a cluster-scoped object.
func (f Finding) Object() string {
	if f.Namespace == "" {
		return f.Name
	}
	return f.Namespace + "/" + f.Name
}

func (f Finding) String() string {
	what := f.Kind
	if obj := f.Object(); obj != "" {
		what += " " + obj
	}
	s := fmt.Sprintf("%s %s (removed in %s", what, f.APIVersion, f.RemovedIn)
	if f.Replacement != "" {
		s += ", use " + f.Replacement
	}
	s += "; " + string(f.Source)
	if f.Detail != "" {
		s += " " + f.Detail
	}
	return s + ")"
}

// Summary is the findings in one line, for a member's refusal.
func Summary(findings []Finding) string {
	const shown = 5
	parts := make([]string, 0, shown)
	for i, f := range findings {
		if i == shown {
			parts = append(parts, fmt.Sprintf("and %d more (flotilla preflight lists them)", len(findings)-shown))
			break
		}
		parts = append(parts, f.String())
	}
	return fmt.Sprintf("%d use(s) of APIs the target removes: %s", len(findings), strings.Join(parts, "; "))
}

// index finds removed APIs by group/version/kind.
type index map[schema.GroupVersionKind]RemovedAPI

func indexOf(apis []RemovedAPI) index {
	out := index{}
	for _, a := range apis {
		out[a.GroupVersionKind] = a
	}
	return out
}

func (ix index) finding(src Source, gvk schema.GroupVersionKind, namespace, name, detail string) (Finding, bool) {
	a, ok := ix[gvk]
	if !ok {
		return Finding{}, false
	}
	f := Finding{Source: src, Kind: gvk.Kind, Namespace: namespace, Name: name, APIVersion: gvk.GroupVersion().String(),
		RemovedIn: a.Removed.String(), Detail: detail}
	if !a.Replacement.Empty() {
		f.Replacement = a.Replacement.GroupVersion().String()
	}
	return f, true
}

// requestedMetric is the API server's count of requests to deprecated
// APIs, labelled with the release that removes them.
const requestedMetric = "apiserver_requested_deprecated_apis"

// RequestFindings reads an API server's /metrics text for requests to
// group/versions that apis remove.
func RequestFindings(metrics []byte, apis []RemovedAPI) ([]Finding, error) {
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(bytes.NewReader(metrics))
	if err != nil {
		return nil, fmt.Errorf("reading the API server's metrics: %w", err)
	}
	removed := map[schema.GroupVersion]RemovedAPI{}
	for _, a := range apis {
		removed[a.GroupVersion()] = a
	}
	family, ok := families[requestedMetric]
	if !ok {
		return nil, nil
	}
	var out []Finding
	for _, m := range family.GetMetric() {
		labels := map[string]string{}
		for _, l := range m.GetLabel() {
			labels[l.GetName()] = l.GetValue()
		}
		gv := schema.GroupVersion{Group: labels["group"], Version: labels["version"]}
		a, ok := removed[gv]
		if !ok || (m.GetGauge() != nil && m.GetGauge().GetValue() == 0) {
			continue
		}
		resource := labels["resource"]
		if sub := labels["subresource"]; sub != "" {
			resource += "/" + sub
		}
		f := Finding{Source: SourceRequests, Kind: resource, APIVersion: gv.String(), RemovedIn: a.Removed.String(),
			Detail: "counted since the API server started"}
		if !a.Replacement.Empty() && a.Replacement.Group == gv.Group {
			f.Replacement = a.Replacement.GroupVersion().String()
		}
		out = append(out, f)
	}
	return out, nil
}

// lastAppliedAnnotation is where kubectl apply keeps what it applied.
const lastAppliedAnnotation = "kubectl.kubernetes.io/last-applied-configuration"

// LastAppliedFinding reports an object whose last applied configuration
// names an apiVersion of apis.
func LastAppliedFinding(annotations map[string]string, namespace, name string, apis []RemovedAPI) (Finding, bool) {
	applied := annotations[lastAppliedAnnotation]
	if applied == "" {
		return Finding{}, false
	}
	var head struct {
		APIVersion string `json:"apiVersion"`
		Kind       string `json:"kind"`
	}
	if err := json.Unmarshal([]byte(applied), &head); err != nil {
		return Finding{}, false
	}
	return indexOf(apis).finding(SourceLastApplied, schema.FromAPIVersionAndKind(head.APIVersion, head.Kind), namespace, name, "")
}

// HelmRelease is what Helm v3 keeps of a release, as far as the scan needs.
type HelmRelease struct {
	Name      string `json:"name"`
	Namespace string `json:"namespace"`
	Version   int    `json:"version"`
	Info      struct {
		Status string `json:"status"`
	} `json:"info"`
	Manifest string `json:"manifest"`
}

// DecodeHelmRelease reads the "release" key of a Helm v3 release Secret:
// base64 (beside the Secret's own encoding) of gzipped JSON.
func DecodeHelmRelease(data []byte) (HelmRelease, error) {
	var r HelmRelease
	raw, err := base64.StdEncoding.DecodeString(string(data))
	if err != nil {
		return r, fmt.Errorf("the release is not base64: %w", err)
	}
	if len(raw) > 2 && raw[0] == 0x1f && raw[1] == 0x8b {
		zr, err := gzip.NewReader(bytes.NewReader(raw))
		if err != nil {
			return r, fmt.Errorf("the release is not gzip: %w", err)
		}
		// A release manifest is a few MB at most; bound what a hostile
		// Secret can make the scan allocate.
		if raw, err = io.ReadAll(io.LimitReader(zr, 64<<20)); err != nil {
			return r, fmt.Errorf("the release is not gzip: %w", err)
		}
	}
	if err := json.Unmarshal(raw, &r); err != nil {
		return r, fmt.Errorf("the release is not JSON: %w", err)
	}
	return r, nil
}

// ManifestFindings reports the objects of a Helm release manifest (YAML
// documents separated by ---) that use an API of apis. A manifest does not
// say whether a kind is namespaced: namespaced answers that, and a
// namespaced object without a namespace is in the release's.
func ManifestFindings(release, releaseNamespace, manifest string, apis []RemovedAPI, namespaced func(schema.GroupVersionKind) bool) []Finding {
	ix := indexOf(apis)
	var out []Finding
	for _, doc := range splitDocuments(manifest) {
		var head struct {
			APIVersion string `json:"apiVersion"`
			Kind       string `json:"kind"`
			Metadata   struct {
				Name      string `json:"name"`
				Namespace string `json:"namespace"`
			} `json:"metadata"`
		}
		if err := yaml.Unmarshal([]byte(doc), &head); err != nil || head.Kind == "" {
			continue
		}
		gvk := schema.FromAPIVersionAndKind(head.APIVersion, head.Kind)
		ns := ""
		if namespaced(gvk) {
			ns = head.Metadata.Namespace
			if ns == "" {
				ns = releaseNamespace
			}
		}
		if f, ok := ix.finding(SourceHelmRelease, gvk, ns, head.Metadata.Name, "release "+releaseNamespace+"/"+release); ok {
			out = append(out, f)
		}
	}
	return out
}

func splitDocuments(manifest string) []string {
	var docs []string
	var cur strings.Builder
	sc := bufio.NewScanner(strings.NewReader(manifest))
	sc.Buffer(make([]byte, 0, 64<<10), 16<<20)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "---") {
			docs = append(docs, cur.String())
			cur.Reset()
			continue
		}
		cur.WriteString(line)
		cur.WriteByte('\n')
	}
	return append(docs, cur.String())
}
