package scheduling

import (
	"encoding/json"
	"strings"
	"testing"

	placementv1 "github.com/flotilla-dev/flotilla/api/placement/v1"
)

// FuzzValidatePolicy feeds placement policies (as the JSON of spec.policy)
// to ValidatePolicy and Schedule: no panic; every refusal names a field
// under spec.policy; a policy it accepts is scheduled without a selector
// error for any member.
func FuzzValidatePolicy(f *testing.F) {
	f.Add(`{"placementType": "PickAll", "affinity": {"clusterAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"clusterSelectorTerms": [{"labelSelector": {"matchLabels": {"env": "prod"}}}]}}}}`)
	f.Add(`{"placementType": "PickN", "numberOfClusters": 2, "affinity": {"clusterAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [{"weight": 20, "preference": {"propertySelector": {"matchExpressions": [{"name": "cpu", "operator": "Ge", "values": ["4"]}]}}}]}}}`)
	f.Add(`{"placementType": "PickN", "numberOfClusters": 1, "affinity": {"clusterAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [{"weight": 20, "preference": {"labelSelector": {"matchExpressions": [{"key": "a", "operator": "Exists", "values": ["x"]}]}}}]}}}`)
	f.Add(`{"affinity": {"clusterAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"clusterSelectorTerms": [{"propertySelector": {"matchExpressions": [{"name": "memory", "operator": "Gt", "values": ["lots"]}]}}]}}}}`)
	f.Add(`{"placementType": "PickFixed", "clusterNames": ["a", "b"]}`)
	f.Fuzz(func(t *testing.T, doc string) {
		var policy placementv1.PlacementPolicy
		if err := json.Unmarshal([]byte(doc), &policy); err != nil {
			return
		}
		if errs := ValidatePolicy(&policy); len(errs) > 0 {
			for _, e := range errs {
				if !strings.HasPrefix(e.Error(), "spec.policy.") {
					t.Fatalf("refused with %q, which names no field under spec.policy", e)
				}
			}
			return
		}
		members := []Member{
			{Name: "a", Labels: map[string]string{"env": "prod"}, Properties: map[string]string{"cpu": "8"}, Eligible: true},
			{Name: "b", Properties: map[string]string{"cpu": "x"}, Eligible: true},
		}
		res := Schedule(Input{Policy: &policy, Members: members})
		for name, why := range res.NotPicked {
			if strings.Contains(why, "invalid") {
				t.Fatalf("a valid policy left %s out as %q", name, why)
			}
		}
	})
}
