package agent

import (
	"encoding/json"
	"fmt"
	"reflect"
	"sort"
	"strconv"
	"strings"

	placementv1 "github.com/flotilla-dev/flotilla/api/placement/v1"
)

// compareManifest compares the fields a manifest sets with the live object
// (partial comparison) and returns one PatchDetail per differing field, paths
// as JSON pointers, in a stable order. Of metadata only labels and
// annotations count: the rest is the server's (uid, resourceVersion,
// managedFields, ...) or the object's identity. Status is never compared.
func compareManifest(manifest, live map[string]any) []placementv1.PatchDetail {
	var out []placementv1.PatchDetail
	for _, key := range sortedKeys(manifest) {
		switch key {
		case "status", "apiVersion", "kind":
			continue
		case "metadata":
			want, _ := manifest[key].(map[string]any)
			got, _ := live[key].(map[string]any)
			for _, field := range []string{"labels", "annotations"} {
				if w, ok := want[field]; ok {
					out = compareValue(out, "/metadata/"+field, w, got[field], true)
				}
			}
			continue
		}
		got, present := live[key]
		out = compareValue(out, pointerToken("", key), manifest[key], got, present)
	}
	return out
}

// compareValue walks want (from the manifest) against got (from the member).
// Maps compare only the keys want has, so that fields the server defaults
// or other owners set do not count; lists of the same length compare element
// by element for the same reason; anything else must be equal.
func compareValue(out []placementv1.PatchDetail, path string, want, got any, present bool) []placementv1.PatchDetail {
	if !present {
		return append(out, placementv1.PatchDetail{Path: path, ValueInHub: render(want)})
	}
	switch w := want.(type) {
	case map[string]any:
		g, ok := got.(map[string]any)
		if !ok {
			break
		}
		for _, key := range sortedKeys(w) {
			v, present := g[key]
			out = compareValue(out, pointerToken(path, key), w[key], v, present)
		}
		return out
	case []any:
		g, ok := got.([]any)
		if !ok || len(g) != len(w) {
			break
		}
		for i := range w {
			out = compareValue(out, path+"/"+strconv.Itoa(i), w[i], g[i], true)
		}
		return out
	default:
		if scalarEqual(want, got) {
			return out
		}
	}
	return append(out, placementv1.PatchDetail{Path: path, ValueInMember: render(got), ValueInHub: render(want)})
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

// pointerToken appends one key to a JSON pointer, escaped per RFC 6901.
func pointerToken(path, key string) string {
	return path + "/" + strings.NewReplacer("~", "~0", "/", "~1").Replace(key)
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
