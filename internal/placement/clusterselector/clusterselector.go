// Package clusterselector decides whether a member cluster matches the
// cluster selectors of the placement API (label and property selectors).
// Scheduling and overrides both use it, so a term means the same everywhere.
package clusterselector

import (
	"fmt"

	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/validation/field"

	placementv1 "github.com/flotilla-dev/flotilla/api/placement/v1"
)

// Cluster is what a selector looks at: the member's labels and the
// properties it reports in status.properties.
type Cluster struct {
	Labels     map[string]string
	Properties map[string]string
}

// Matches reports whether c matches any term of sel. A nil selector, or one
// without terms, matches every cluster.
func Matches(sel *placementv1.ClusterSelector, c Cluster) (bool, error) {
	if sel == nil || len(sel.ClusterSelectorTerms) == 0 {
		return true, nil
	}
	var firstErr error
	for i := range sel.ClusterSelectorTerms {
		ok, err := MatchesTerm(&sel.ClusterSelectorTerms[i], c)
		if err != nil && firstErr == nil {
			firstErr = fmt.Errorf("clusterSelectorTerms[%d].%w", i, err)
		}
		if ok {
			return true, nil
		}
	}
	return false, firstErr
}

// MatchesTerm reports whether c matches both the label and the property
// selector of a term; an unset selector matches everything. An invalid
// selector matches nothing and is returned as an error that starts with the
// field at fault, relative to the term (labelSelector,
// propertySelector.matchExpressions[0]), so callers can put their path
// before it.
func MatchesTerm(term *placementv1.ClusterSelectorTerm, c Cluster) (bool, error) {
	if term.LabelSelector != nil {
		sel, err := metav1.LabelSelectorAsSelector(term.LabelSelector)
		if err != nil {
			return false, fmt.Errorf("labelSelector: %w", err)
		}
		if !sel.Matches(labels.Set(c.Labels)) {
			return false, nil
		}
	}
	if term.PropertySelector != nil {
		for i, req := range term.PropertySelector.MatchExpressions {
			ok, err := matchesProperty(req, c.Properties)
			if err != nil {
				return false, fmt.Errorf("propertySelector.matchExpressions[%d]: %w", i, err)
			}
			if !ok {
				return false, nil
			}
		}
	}
	return true, nil
}

// matchesProperty compares a property as a Kubernetes quantity, so "16Gi"
// and "17179869184" are equal. A missing or non-numeric property matches no
// operator, Ne included: nothing is known about it.
func matchesProperty(req placementv1.PropertySelectorRequirement, props map[string]string) (bool, error) {
	if len(req.Values) != 1 {
		return false, fmt.Errorf("property %s: want exactly one value, got %d", req.Name, len(req.Values))
	}
	want, err := resource.ParseQuantity(req.Values[0])
	if err != nil {
		return false, fmt.Errorf("property %s: value %q is not a quantity: %w", req.Name, req.Values[0], err)
	}
	have, known := knownQuantity(props, req.Name)
	if !known {
		return false, nil
	}
	cmp := have.Cmp(want)
	switch req.Operator {
	case placementv1.PropertySelectorGreaterThan:
		return cmp > 0, nil
	case placementv1.PropertySelectorGreaterThanOrEqual:
		return cmp >= 0, nil
	case placementv1.PropertySelectorEqualTo:
		return cmp == 0, nil
	case placementv1.PropertySelectorNotEqualTo:
		return cmp != 0, nil
	case placementv1.PropertySelectorLessThan:
		return cmp < 0, nil
	case placementv1.PropertySelectorLessThanOrEqual:
		return cmp <= 0, nil
	}
	return false, fmt.Errorf("property %s: unknown operator %q", req.Name, req.Operator)
}

// knownQuantity returns a member's property as a quantity. A property the
// member does not report, or reports as something other than a quantity,
// is unknown: not an error of the selector, which is why no error is
// returned for it.
func knownQuantity(props map[string]string, name string) (resource.Quantity, bool) {
	raw, ok := props[name]
	if !ok {
		return resource.Quantity{}, false
	}
	q, err := resource.ParseQuantity(raw)
	return q, err == nil
}

// Quantity parses a property as a number for ranking; ok is false when the
// property is missing or not a quantity.
func Quantity(props map[string]string, name string) (float64, bool) {
	raw, ok := props[name]
	if !ok {
		return 0, false
	}
	q, err := resource.ParseQuantity(raw)
	if err != nil {
		return 0, false
	}
	return q.AsApproximateFloat64(), true
}

// CheckTerm reports what is wrong with a term, whatever cluster it is
// matched against: a label selector that does not parse, a property
// requirement without exactly one value, a value that is not a quantity,
// an unknown operator. Each error names its field under path.
func CheckTerm(path *field.Path, term *placementv1.ClusterSelectorTerm) field.ErrorList {
	var errs field.ErrorList
	if term.LabelSelector != nil {
		if _, err := metav1.LabelSelectorAsSelector(term.LabelSelector); err != nil {
			errs = append(errs, &field.Error{Type: field.ErrorTypeInvalid, Field: path.Child("labelSelector").String(), BadValue: field.OmitValueType{}, Detail: err.Error()})
		}
	}
	if term.PropertySelector == nil {
		return errs
	}
	for i, req := range term.PropertySelector.MatchExpressions {
		at := path.Child("propertySelector", "matchExpressions").Index(i)
		switch req.Operator {
		case placementv1.PropertySelectorGreaterThan, placementv1.PropertySelectorGreaterThanOrEqual, placementv1.PropertySelectorEqualTo,
			placementv1.PropertySelectorNotEqualTo, placementv1.PropertySelectorLessThan, placementv1.PropertySelectorLessThanOrEqual:
		default:
			errs = append(errs, field.NotSupported(at.Child("operator"), req.Operator, []placementv1.PropertySelectorOperator{
				placementv1.PropertySelectorGreaterThan, placementv1.PropertySelectorGreaterThanOrEqual, placementv1.PropertySelectorEqualTo,
				placementv1.PropertySelectorNotEqualTo, placementv1.PropertySelectorLessThan, placementv1.PropertySelectorLessThanOrEqual}))
		}
		if len(req.Values) != 1 {
			errs = append(errs, field.Invalid(at.Child("values"), req.Values, "want exactly one value"))
			continue
		}
		if _, err := resource.ParseQuantity(req.Values[0]); err != nil {
			errs = append(errs, field.Invalid(at.Child("values").Index(0), req.Values[0], "not a quantity (such as 4, 16Gi or 500m)"))
		}
	}
	return errs
}
