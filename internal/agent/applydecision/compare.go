package applydecision

import (
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"sort"
	"strconv"
	"strings"

	"k8s.io/apimachinery/pkg/api/resource"

	placementv1 "github.com/flotilla-dev/flotilla/api/placement/v1"
	fleetv1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
)

// compareManifest compares the fields a manifest sets with the live object
// (partial comparison) and returns one PatchDetail per differing field, paths
// as JSON pointers, in a stable order. Of metadata only labels and
// annotations count: the rest is the server's (uid, resourceVersion,
// managedFields, ...) or the object's identity. Status is never compared.
func compareManifest(manifest, live map[string]any) []placementv1.PatchDetail {
	return compareFields(manifest, live, false)
}

// compare compares as the strategy's comparisonOption says. The full
// comparison (FullComparison) finds, besides what compareManifest finds,
// every field the live object has and the manifest does not (defaulted by
// the member's API server, or set by another owner), with no value in the
// hub.
func compare(option placementv1.ComparisonOptionType, manifest, live map[string]any) []placementv1.PatchDetail {
	return compareFields(manifest, live, option == placementv1.ComparisonOptionTypeFullComparison)
}

func compareFields(manifest, live map[string]any, full bool) []placementv1.PatchDetail {
	var out []placementv1.PatchDetail
	keys := sortedKeys(manifest)
	if full {
		keys = sortedKeys(union(manifest, live))
	}
	for _, key := range keys {
		switch key {
		case "status", "apiVersion", "kind":
			continue
		case "metadata":
			want, _ := manifest[key].(map[string]any)
			got, _ := live[key].(map[string]any)
			for _, field := range []string{"labels", "annotations"} {
				w, ok := want[field]
				g := got[field]
				if full {
					// The agent's own marks on the member's object are not
					// its fields, unless the manifest sets them (Desired).
					g = withoutFleetMarks(g, w)
					if !ok && g != nil {
						w, ok = map[string]any{}, true
					}
				}
				if ok {
					out = compareValue(out, fieldPath{"metadata", field}, w, g, true, full)
				}
			}
			continue
		}
		want, inManifest := manifest[key]
		got, present := live[key]
		if !inManifest {
			out = append(out, placementv1.PatchDetail{Path: fieldPath{key}.pointer(), ValueInMember: render(got)})
			continue
		}
		out = compareValue(out, fieldPath{key}, want, got, present, full)
	}
	return out
}

// union is a map with the keys of a and b (a's values).
func union(a, b map[string]any) map[string]any {
	out := make(map[string]any, len(a)+len(b))
	for k, v := range b {
		out[k] = v
	}
	for k, v := range a {
		out[k] = v
	}
	return out
}

// compareValue walks want (from the manifest) against got (from the member).
// Maps compare only the keys want has, so that fields the server defaults
// or other owners set do not count; lists of the same length compare element
// by element for the same reason; anything else must be equal.
//
// Under a full comparison, keys got has and want has not count too.
func compareValue(out []placementv1.PatchDetail, path fieldPath, want, got any, present, full bool) []placementv1.PatchDetail {
	if !present {
		return append(out, placementv1.PatchDetail{Path: path.pointer(), ValueInHub: render(want)})
	}
	switch w := want.(type) {
	case map[string]any:
		g, ok := got.(map[string]any)
		if !ok {
			break
		}
		for _, key := range sortedKeys(w) {
			v, present := g[key]
			out = compareValue(out, path.child(key), w[key], v, present, full)
		}
		if full {
			for _, key := range sortedKeys(g) {
				if _, ok := w[key]; !ok {
					out = append(out, placementv1.PatchDetail{Path: path.child(key).pointer(), ValueInMember: render(g[key])})
				}
			}
		}
		return out
	case []any:
		g, ok := got.([]any)
		if !ok || len(g) != len(w) {
			break
		}
		for i := range w {
			out = compareValue(out, path.child(strconv.Itoa(i)), w[i], g[i], true, full)
		}
		return out
	default:
		if scalarEqual(want, got) || path.isQuantity() && quantityEqual(want, got) {
			return out
		}
	}
	return append(out, placementv1.PatchDetail{Path: path.pointer(), ValueInMember: render(got), ValueInHub: render(want)})
}

// fieldPath is the keys (and list indexes) from an object's root to a field.
type fieldPath []string

// child is the path one key deeper; it never shares the parent's array.
func (p fieldPath) child(key string) fieldPath {
	return append(p[:len(p):len(p)], key)
}

// pointer renders the path as a JSON pointer, escaped per RFC 6901.
func (p fieldPath) pointer() string {
	var b strings.Builder
	for _, key := range p {
		b.WriteString("/")
		b.WriteString(pointerEscaper.Replace(key))
	}
	return b.String()
}

var pointerEscaper = strings.NewReplacer("~", "~0", "/", "~1")

// Kubernetes serializes a resource.Quantity in its canonical form, so the
// member may hold "1" for a manifest's "1000m", "500m" for "0.5" or "1Gi"
// for "1024Mi": the same value, not a drift. Only fields known to hold
// quantities compare by value; any other string compares as it is, because
// for a label or a ConfigMap value "1.0" and "1" are different data.
//
// A field holds a quantity when it is
//   - an entry of a resource list: a map under requests, limits, hard,
//     capacity, allocatable or overhead (containers, pods, quotas, PVCs,
//     PVs, RuntimeClasses, and CRDs that embed these types);
//   - an entry of a LimitRange item's min, max, default, defaultRequest or
//     maxLimitRequestRatio (a map inside the list limits);
//   - an emptyDir's sizeLimit, or an HPA metric target's value or
//     averageValue.
var (
	resourceListKeys   = map[string]bool{"requests": true, "limits": true, "hard": true, "capacity": true, "allocatable": true, "overhead": true}
	limitRangeItemKeys = map[string]bool{"min": true, "max": true, "default": true, "defaultRequest": true, "maxLimitRequestRatio": true}
)

func (p fieldPath) isQuantity() bool {
	n := len(p)
	if n >= 2 && resourceListKeys[p[n-2]] {
		return true
	}
	if n >= 4 && limitRangeItemKeys[p[n-2]] && p[n-4] == "limits" && isIndex(p[n-3]) {
		return true
	}
	switch {
	case n >= 1 && p[n-1] == "sizeLimit":
		return true
	case n >= 2 && p[n-2] == "target" && (p[n-1] == "value" || p[n-1] == "averageValue"):
		return true
	}
	return false
}

func isIndex(key string) bool {
	_, err := strconv.Atoi(key)
	return err == nil
}

// quantityEqual says whether two values of a quantity field are the same
// quantity. Either may be a JSON number (an override may write one); a
// value that does not parse as a quantity equals nothing but itself.
func quantityEqual(a, b any) bool {
	qa, ok := quantityOf(a)
	if !ok {
		return false
	}
	qb, ok := quantityOf(b)
	return ok && qa.Cmp(qb) == 0
}

func quantityOf(v any) (resource.Quantity, bool) {
	var s string
	switch x := v.(type) {
	case string:
		s = x
	case json.Number:
		s = x.String()
	case int64:
		s = strconv.FormatInt(x, 10)
	case int:
		s = strconv.Itoa(x)
	case int32:
		s = strconv.FormatInt(int64(x), 10)
	case float64:
		s = strconv.FormatFloat(x, 'f', -1, 64)
	default:
		return resource.Quantity{}, false
	}
	q, err := resource.ParseQuantity(s)
	return q, err == nil
}

// scalarEqual treats numbers as equal by value: a manifest decoded from JSON
// may hold float64 where the live object holds int64.
func scalarEqual(a, b any) bool {
	if fa, ok := number(a); ok {
		fb, ok := number(b)
		return ok && fa == fb
	}
	return reflect.DeepEqual(a, b)
}

func number(v any) (float64, bool) {
	switch n := v.(type) {
	case int64:
		return float64(n), true
	case int:
		return float64(n), true
	case int32:
		return float64(n), true
	case float64:
		return n, true
	case json.Number:
		f, err := n.Float64()
		return f, err == nil
	}
	return 0, false
}

// render prints a value for a PatchDetail: strings as they are, anything
// else as JSON.
func render(v any) string {
	switch s := v.(type) {
	case nil:
		return ""
	case string:
		return s
	}
	data, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(data)
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// fleetMarks are the labels and annotations the agent puts on what it
// places (Desired).
var fleetMarks = []string{fleetv1.ManagedByLabel, fleetv1.PlacementLabel, fleetv1.WorkAnnotation}

// withoutFleetMarks is a labels or annotations map without the agent's
// marks that want (the manifest's map) does not set; nil when nothing is
// left.
func withoutFleetMarks(v, want any) any {
	m, ok := v.(map[string]any)
	if !ok {
		return v
	}
	w, _ := want.(map[string]any)
	out := map[string]any{}
	for k, val := range m {
		if _, wanted := w[k]; wanted || !slices.Contains(fleetMarks, k) {
			out[k] = val
		}
	}
	if len(out) == 0 {
		return nil
	}
	return out
}
