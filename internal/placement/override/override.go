// Package override applies ClusterResourceOverride and ResourceOverride
// rules to one placed object for one member. It is pure: the controller
// lists the overrides and hands them in.
package override

import (
	"encoding/json"
	"fmt"
	"regexp"
	"sort"
	"strings"

	jsonpatch "github.com/evanphx/json-patch/v5"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/validation/field"

	placementv1 "github.com/flotilla-dev/flotilla/api/placement/v1"
	"github.com/flotilla-dev/flotilla/internal/placement/clusterselector"
)

// Member is the member cluster the object is placed on.
type Member struct {
	Name       string
	Labels     map[string]string
	Properties map[string]string
}

// Set is every override on the hub that could apply to a placement.
type Set struct {
	ClusterResourceOverrides []placementv1.ClusterResourceOverride
	ResourceOverrides        []placementv1.ResourceOverride
}

// Applied names the overrides that changed an object, for the placement's
// status.
type Applied struct {
	ClusterResourceOverrides []string
	ResourceOverrides        []placementv1.NamespacedName
}

// Empty reports whether no override applied.
func (a Applied) Empty() bool {
	return len(a.ClusterResourceOverrides) == 0 && len(a.ResourceOverrides) == 0
}

// Merge adds b's names to a, keeping each once and the lists sorted.
func (a *Applied) Merge(b Applied) {
	a.ClusterResourceOverrides = mergeNames(a.ClusterResourceOverrides, b.ClusterResourceOverrides)
	seen := map[placementv1.NamespacedName]bool{}
	for _, n := range a.ResourceOverrides {
		seen[n] = true
	}
	for _, n := range b.ResourceOverrides {
		if !seen[n] {
			seen[n] = true
			a.ResourceOverrides = append(a.ResourceOverrides, n)
		}
	}
	sort.Slice(a.ResourceOverrides, func(i, j int) bool {
		x, y := a.ResourceOverrides[i], a.ResourceOverrides[j]
		return x.Namespace < y.Namespace || (x.Namespace == y.Namespace && x.Name < y.Name)
	})
}

func mergeNames(a, b []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, n := range append(append([]string(nil), a...), b...) {
		if !seen[n] {
			seen[n] = true
			out = append(out, n)
		}
	}
	sort.Strings(out)
	return out
}

// Apply returns obj as member is to receive it, or nil when a Delete rule
// keeps it off that member. ClusterResourceOverrides apply first, then
// ResourceOverrides, each in name order and their rules in order, so later
// rules patch on top of earlier ones. obj itself is not changed.
func Apply(placement string, obj *unstructured.Unstructured, member Member, set Set) (*unstructured.Unstructured, Applied, error) {
	var applied Applied
	out := obj.DeepCopy()
	cluster := clusterselector.Cluster{Labels: member.Labels, Properties: member.Properties}

	cros := append([]placementv1.ClusterResourceOverride(nil), set.ClusterResourceOverrides...)
	sort.Slice(cros, func(i, j int) bool { return cros[i].Name < cros[j].Name })
	for _, cro := range cros {
		if obj.GetNamespace() != "" || !forPlacement(cro.Spec.Placement, placement) || !selectsCluster(cro.Spec.ClusterResourceSelectors, obj) {
			continue
		}
		var deleted, changed bool
		var err error
		out, deleted, changed, err = applyPolicy(out, cro.Spec.Policy, member.Name, cluster)
		if err != nil {
			return nil, applied, fmt.Errorf("ClusterResourceOverride %s: %w", cro.Name, err)
		}
		if changed || deleted {
			applied.ClusterResourceOverrides = append(applied.ClusterResourceOverrides, cro.Name)
		}
		if deleted {
			return nil, applied, nil
		}
	}

	ros := append([]placementv1.ResourceOverride(nil), set.ResourceOverrides...)
	sort.Slice(ros, func(i, j int) bool {
		return ros[i].Namespace < ros[j].Namespace || (ros[i].Namespace == ros[j].Namespace && ros[i].Name < ros[j].Name)
	})
	for _, ro := range ros {
		if obj.GetNamespace() != ro.Namespace || !forPlacement(ro.Spec.Placement, placement) || !selectsNamespaced(ro.Spec.ResourceSelectors, obj) {
			continue
		}
		var deleted, changed bool
		var err error
		out, deleted, changed, err = applyPolicy(out, ro.Spec.Policy, member.Name, cluster)
		if err != nil {
			return nil, applied, fmt.Errorf("ResourceOverride %s/%s: %w", ro.Namespace, ro.Name, err)
		}
		if changed || deleted {
			applied.ResourceOverrides = append(applied.ResourceOverrides, placementv1.NamespacedName{Namespace: ro.Namespace, Name: ro.Name})
		}
		if deleted {
			return nil, applied, nil
		}
	}
	return out, applied, nil
}

func forPlacement(ref *placementv1.PlacementRef, placement string) bool {
	return ref == nil || ref.Name == "" || ref.Name == placement
}

func gvkMatches(group, version, kind string, obj *unstructured.Unstructured) bool {
	gvk := obj.GroupVersionKind()
	return gvk.Group == group && gvk.Version == version && gvk.Kind == kind
}

// selectsCluster: an override names its resources; a label selector in it
// is honoured too, since the selector type allows one.
func selectsCluster(sels []placementv1.ClusterResourceSelector, obj *unstructured.Unstructured) bool {
	for _, s := range sels {
		if !gvkMatches(s.Group, s.Version, s.Kind, obj) {
			continue
		}
		if s.Name != "" {
			if s.Name == obj.GetName() {
				return true
			}
			continue
		}
		if ok, _ := clusterselector.MatchesTerm(&placementv1.ClusterSelectorTerm{LabelSelector: s.LabelSelector},
			clusterselector.Cluster{Labels: obj.GetLabels()}); ok {
			return true
		}
	}
	return false
}

func selectsNamespaced(sels []placementv1.ResourceSelector, obj *unstructured.Unstructured) bool {
	for _, s := range sels {
		if gvkMatches(s.Group, s.Version, s.Kind, obj) && s.Name == obj.GetName() {
			return true
		}
	}
	return false
}

// ValidatePolicy checks an override's policy whatever member and object it
// meets: cluster selectors that parse, known rule types and operations,
// values that are JSON where an operation needs one, paths that may be
// overridden. Errors name their field under spec.policy.
func ValidatePolicy(policy *placementv1.OverridePolicy) field.ErrorList {
	path := field.NewPath("spec", "policy")
	if policy == nil {
		return field.ErrorList{field.Required(path, "an override needs a policy")}
	}
	var errs field.ErrorList
	rules := path.Child("overrideRules")
	if len(policy.OverrideRules) == 0 {
		errs = append(errs, field.Required(rules, "an override needs at least one rule"))
	}
	for i, rule := range policy.OverrideRules {
		at := rules.Index(i)
		if rule.ClusterSelector != nil {
			terms := at.Child("clusterSelector", "clusterSelectorTerms")
			for j := range rule.ClusterSelector.ClusterSelectorTerms {
				errs = append(errs, clusterselector.CheckTerm(terms.Index(j), &rule.ClusterSelector.ClusterSelectorTerms[j])...)
			}
		}
		switch rule.OverrideType {
		case placementv1.DeleteOverrideType:
			if len(rule.JSONPatchOverrides) > 0 {
				errs = append(errs, field.Forbidden(at.Child("jsonPatchOverrides"), "a Delete rule takes no jsonPatchOverrides"))
			}
			continue
		case "", placementv1.JSONPatchOverrideType:
		default:
			errs = append(errs, field.NotSupported(at.Child("overrideType"), rule.OverrideType,
				[]placementv1.OverrideType{placementv1.JSONPatchOverrideType, placementv1.DeleteOverrideType}))
			continue
		}
		if len(rule.JSONPatchOverrides) == 0 {
			errs = append(errs, field.Required(at.Child("jsonPatchOverrides"), "a JSONPatch rule needs jsonPatchOverrides"))
		}
		for j, o := range rule.JSONPatchOverrides {
			errs = append(errs, validateOp(at.Child("jsonPatchOverrides").Index(j), o)...)
		}
	}
	return errs
}

func validateOp(at *field.Path, o placementv1.JSONPatchOverride) field.ErrorList {
	var errs field.ErrorList
	switch o.Op {
	case placementv1.JSONPatchOverrideOpAdd, placementv1.JSONPatchOverrideOpReplace, placementv1.JSONPatchOverrideOpRemove:
	default:
		errs = append(errs, field.NotSupported(at.Child("op"), o.Op, []placementv1.JSONPatchOverrideOperator{
			placementv1.JSONPatchOverrideOpAdd, placementv1.JSONPatchOverrideOpRemove, placementv1.JSONPatchOverrideOpReplace}))
	}
	if !strings.HasPrefix(o.Path, "/") {
		errs = append(errs, field.Invalid(at.Child("path"), o.Path, "a JSON pointer starting with /"))
	} else if err := CheckPath(o.Path); err != nil {
		errs = append(errs, field.Forbidden(at.Child("path"), err.Error()))
	}
	switch {
	case o.Op == placementv1.JSONPatchOverrideOpRemove && len(o.Value.Raw) > 0:
		errs = append(errs, field.Forbidden(at.Child("value"), "remove takes no value"))
	case o.Op != placementv1.JSONPatchOverrideOpRemove && len(o.Value.Raw) == 0:
		errs = append(errs, field.Required(at.Child("value"), fmt.Sprintf("%s needs a value", o.Op)))
	case len(o.Value.Raw) > 0 && !json.Valid(o.Value.Raw):
		errs = append(errs, field.Invalid(at.Child("value"), string(o.Value.Raw), "not JSON"))
	}
	return errs
}

// applyPolicy runs the rules whose clusterSelector matches the member.
func applyPolicy(obj *unstructured.Unstructured, policy *placementv1.OverridePolicy, member string, cluster clusterselector.Cluster) (_ *unstructured.Unstructured, deleted, changed bool, _ error) {
	if policy == nil {
		return obj, false, false, nil
	}
	if err := ValidatePolicy(policy).ToAggregate(); err != nil {
		return nil, false, false, err
	}
	for i, rule := range policy.OverrideRules {
		ok, err := clusterselector.Matches(rule.ClusterSelector, cluster)
		if err != nil {
			return nil, false, false, fmt.Errorf("spec.policy.overrideRules[%d].clusterSelector.%w", i, err)
		}
		if !ok {
			continue
		}
		if rule.OverrideType == placementv1.DeleteOverrideType {
			return nil, true, true, nil
		}
		obj, err = patch(obj, rule.JSONPatchOverrides, member, cluster.Labels)
		if err != nil {
			return nil, false, false, fmt.Errorf("spec.policy.overrideRules[%d].jsonPatchOverrides: %w", i, err)
		}
		changed = true
	}
	return obj, false, changed, nil
}

// patch applies JSON patch operations, which ValidatePolicy has checked,
// putting the member's name in for ${MEMBER-CLUSTER-NAME} and its labels'
// values for ${MEMBER-CLUSTER-LABEL-KEY-<key>}.
func patch(obj *unstructured.Unstructured, ops []placementv1.JSONPatchOverride, member string, labels map[string]string) (*unstructured.Unstructured, error) {
	type op struct {
		Op    string `json:"op"`
		Path  string `json:"path"`
		Value any    `json:"value,omitempty"`
	}
	var patchOps []op
	for _, o := range ops {
		p := op{Op: string(o.Op), Path: o.Path}
		if o.Op != placementv1.JSONPatchOverrideOpRemove {
			var v any
			err := json.Unmarshal(o.Value.Raw, &v)
			if err != nil {
				return nil, fmt.Errorf("%s %s: value is not JSON: %w", o.Op, o.Path, err)
			}
			if p.Value, err = substitute(v, member, labels); err != nil {
				return nil, fmt.Errorf("%s %s: %w", o.Op, o.Path, err)
			}
		}
		patchOps = append(patchOps, p)
	}
	raw, err := json.Marshal(patchOps)
	if err != nil {
		return nil, err
	}
	decoded, err := jsonpatch.DecodePatch(raw)
	if err != nil {
		return nil, fmt.Errorf("invalid JSON patch: %w", err)
	}
	doc, err := obj.MarshalJSON()
	if err != nil {
		return nil, err
	}
	opts := jsonpatch.NewApplyOptions()
	// Adding a label to an object without labels should just work.
	opts.EnsurePathExistsOnAdd = true
	patched, err := decoded.ApplyWithOptions(doc, opts)
	if err != nil {
		return nil, fmt.Errorf("applying the JSON patch: %w", err)
	}
	out := &unstructured.Unstructured{}
	if err := out.UnmarshalJSON(patched); err != nil {
		return nil, fmt.Errorf("the patched object is no longer a Kubernetes object: %w", err)
	}
	// The API server would refuse the object on every member; say why here.
	for _, m := range []string{"labels", "annotations"} {
		if _, _, err := unstructured.NestedStringMap(out.Object, "metadata", m); err != nil {
			return nil, fmt.Errorf("the patched metadata.%s must map strings to strings", m)
		}
	}
	return out, nil
}

// CheckPath refuses patches of status, of apiVersion and kind, and of
// metadata other than labels and annotations: what an object is, its name,
// its namespace and the like are the placement's to decide, and status is
// the member's.
func CheckPath(path string) error {
	switch {
	case path == "/status" || strings.HasPrefix(path, "/status/"):
		return fmt.Errorf("path %s: status cannot be overridden", path)
	case path == "/apiVersion" || strings.HasPrefix(path, "/apiVersion/") || path == "/kind" || strings.HasPrefix(path, "/kind/"):
		return fmt.Errorf("path %s: an object's apiVersion and kind cannot be overridden", path)
	case path == "/metadata" || strings.HasPrefix(path, "/metadata/"):
		if strings.HasPrefix(path, "/metadata/labels/") || strings.HasPrefix(path, "/metadata/annotations/") ||
			path == "/metadata/labels" || path == "/metadata/annotations" {
			return nil
		}
		return fmt.Errorf("path %s: only metadata.labels and metadata.annotations can be overridden", path)
	}
	return nil
}

// labelVariable finds ${MEMBER-CLUSTER-LABEL-KEY-<key>}; a label key is
// an optional DNS prefix and a name, never "}".
var labelVariable = regexp.MustCompile(regexp.QuoteMeta(placementv1.OverrideClusterLabelKeyVariablePrefix) + `([^}]+)\}`)

// substitute replaces the member's variables in every string in v.
func substitute(v any, member string, labels map[string]string) (any, error) {
	switch t := v.(type) {
	case string:
		s := strings.ReplaceAll(t, placementv1.OverrideClusterNameVariable, member)
		var missing []string
		s = labelVariable.ReplaceAllStringFunc(s, func(m string) string {
			key := labelVariable.FindStringSubmatch(m)[1]
			value, ok := labels[key]
			if !ok {
				missing = append(missing, key)
			}
			return value
		})
		if len(missing) > 0 {
			return nil, fmt.Errorf("member %s has no label %s, which ${MEMBER-CLUSTER-LABEL-KEY-...} names", member, strings.Join(missing, ", "))
		}
		return s, nil
	case []any:
		for i := range t {
			var err error
			if t[i], err = substitute(t[i], member, labels); err != nil {
				return nil, err
			}
		}
		return t, nil
	case map[string]any:
		for k := range t {
			var err error
			if t[k], err = substitute(t[k], member, labels); err != nil {
				return nil, err
			}
		}
		return t, nil
	}
	return v, nil
}
