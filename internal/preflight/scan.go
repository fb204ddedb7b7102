package preflight

import (
	"context"
	"fmt"
	"slices"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/metadata"
	"k8s.io/client-go/rest"
)

// Report is what a scan of one member found.
type Report struct {
	From, To string
	// Removed are the APIs the move removes, whether the member uses them
	// or not.
	Removed  []RemovedAPI
	Findings []Finding
}

// helmReleaseType is the Secret type of Helm v3's release records.
const helmReleaseType = "helm.sh/release.v1"

// listPage bounds each list of the scan.
const listPage = 500

// Scan looks at the member that cfg reaches for uses of the APIs that a
// move from version from to version to removes.
func Scan(ctx context.Context, cfg *rest.Config, from, to string) (Report, error) {
	fromRelease, err := ParseRelease(from)
	if err != nil {
		return Report{}, err
	}
	toRelease, err := ParseRelease(to)
	if err != nil {
		return Report{}, err
	}
	rep := Report{From: fromRelease.String(), To: toRelease.String(), Removed: RemovedBetween(BuiltinRemovedAPIs(), fromRelease, toRelease)}
	if len(rep.Removed) == 0 {
		return rep, nil
	}
	cfg = rest.CopyConfig(cfg)
	cfg.WarningHandler = rest.NoWarnings{}
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return rep, err
	}
	meta, err := metadata.NewForConfig(cfg)
	if err != nil {
		return rep, err
	}
	metrics, err := cs.Discovery().RESTClient().Get().AbsPath("/metrics").DoRaw(ctx)
	if err != nil {
		return rep, fmt.Errorf("reading the API server's /metrics: %w", err)
	}
	requests, err := RequestFindings(metrics, rep.Removed)
	if err != nil {
		return rep, err
	}
	rep.Findings = append(rep.Findings, requests...)

	served, err := servedResources(cs)
	if err != nil {
		return rep, err
	}
	applied, err := lastAppliedFindings(ctx, meta, served, rep.Removed)
	if err != nil {
		return rep, err
	}
	rep.Findings = append(rep.Findings, applied...)

	helm, err := helmFindings(ctx, cs, served, rep.Removed)
	if err != nil {
		return rep, err
	}
	rep.Findings = append(rep.Findings, helm...)
	slices.SortStableFunc(rep.Findings, func(a, b Finding) int {
		return strings.Compare(string(a.Source)+a.Kind+a.Object(), string(b.Source)+b.Kind+b.Object())
	})
	return rep, nil
}

// resource is a served resource of a kind.
type resource struct {
	schema.GroupVersionResource
	namespaced bool
}

// servedResources maps each kind the member serves to its resource in the
// group's preferred version: stored objects are the same in every version
// of a group, and listing through a deprecated one would itself count as
// a use of it.
func servedResources(cs kubernetes.Interface) (map[schema.GroupKind]resource, error) {
	// A group whose discovery fails (an aggregated API that is down) is
	// left out: the others still get scanned.
	lists, err := cs.Discovery().ServerPreferredResources()
	if err != nil && len(lists) == 0 {
		return nil, fmt.Errorf("discovering the member's APIs: %w", err)
	}
	out := map[schema.GroupKind]resource{}
	for _, list := range lists {
		gv, err := schema.ParseGroupVersion(list.GroupVersion)
		if err != nil {
			continue
		}
		for _, r := range list.APIResources {
			if strings.Contains(r.Name, "/") || !slices.Contains(r.Verbs, "list") {
				continue
			}
			out[schema.GroupKind{Group: gv.Group, Kind: r.Kind}] = resource{GroupVersionResource: gv.WithResource(r.Name), namespaced: r.Namespaced}
		}
	}
	return out, nil
}

// lastAppliedFindings lists the objects of every kind a removed API
// serves and reports those kubectl last applied through it.
func lastAppliedFindings(ctx context.Context, meta metadata.Interface, served map[schema.GroupKind]resource, apis []RemovedAPI) ([]Finding, error) {
	var out []Finding
	seen := map[schema.GroupKind]bool{}
	for _, a := range apis {
		gk := a.GroupKind()
		r, ok := served[gk]
		if !ok || seen[gk] {
			continue
		}
		seen[gk] = true
		opts := metav1.ListOptions{Limit: listPage}
		for {
			list, err := meta.Resource(r.GroupVersionResource).List(ctx, opts)
			if err != nil {
				return nil, fmt.Errorf("listing %s: %w", r.GroupVersionResource, err)
			}
			for _, obj := range list.Items {
				if f, ok := LastAppliedFinding(obj.Annotations, obj.Namespace, obj.Name, apis); ok {
					out = append(out, f)
				}
			}
			if opts.Continue = list.Continue; opts.Continue == "" {
				break
			}
		}
	}
	return out, nil
}

// helmFindings reads the member's deployed Helm v3 releases.
func helmFindings(ctx context.Context, cs kubernetes.Interface, served map[schema.GroupKind]resource, apis []RemovedAPI) ([]Finding, error) {
	namespaced := func(gvk schema.GroupVersionKind) bool {
		r, ok := served[gvk.GroupKind()]
		return !ok || r.namespaced
	}
	var out []Finding
	opts := metav1.ListOptions{LabelSelector: "owner=helm", FieldSelector: "type=" + helmReleaseType, Limit: listPage}
	for {
		secrets, err := cs.CoreV1().Secrets(metav1.NamespaceAll).List(ctx, opts)
		if err != nil {
			return nil, fmt.Errorf("listing Helm release Secrets: %w", err)
		}
		for _, s := range secrets.Items {
			rel, err := DecodeHelmRelease(s.Data["release"])
			if err != nil || rel.Info.Status != "deployed" {
				continue
			}
			ns := rel.Namespace
			if ns == "" {
				ns = s.Namespace
			}
			out = append(out, ManifestFindings(rel.Name, ns, rel.Manifest, apis, namespaced)...)
		}
		if opts.Continue = secrets.Continue; opts.Continue == "" {
			break
		}
	}
	return out, nil
}
