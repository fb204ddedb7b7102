package scheduling

import (
	"k8s.io/apimachinery/pkg/util/validation/field"

	placementv1 "github.com/flotilla-dev/flotilla/api/placement/v1"
	"github.com/flotilla-dev/flotilla/internal/placement/clusterselector"
)

// ValidatePolicy checks what the CRD schema cannot: that the label and
// property selectors of the policy's affinity parse. A selector that does
// not would otherwise match no member, silently. Errors name the field
// under spec.policy.
func ValidatePolicy(policy *placementv1.PlacementPolicy) field.ErrorList {
	if policy == nil || policy.Affinity == nil || policy.Affinity.ClusterAffinity == nil {
		return nil
	}
	var errs field.ErrorList
	affinity := field.NewPath("spec", "policy", "affinity", "clusterAffinity")
	if req := policy.Affinity.ClusterAffinity.RequiredDuringSchedulingIgnoredDuringExecution; req != nil {
		terms := affinity.Child("requiredDuringSchedulingIgnoredDuringExecution", "clusterSelectorTerms")
		for i := range req.ClusterSelectorTerms {
			errs = append(errs, clusterselector.CheckTerm(terms.Index(i), &req.ClusterSelectorTerms[i])...)
		}
	}
	for i, pref := range policy.Affinity.ClusterAffinity.PreferredDuringSchedulingIgnoredDuringExecution {
		errs = append(errs, clusterselector.CheckTerm(affinity.Child("preferredDuringSchedulingIgnoredDuringExecution").Index(i).Child("preference"), &pref.Preference)...)
	}
	return errs
}
