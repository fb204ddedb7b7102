package clusterselector

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/util/validation/field"

	placementv1 "github.com/flotilla-dev/flotilla/api/placement/v1"
)

// FuzzMatches feeds cluster selectors (as JSON) to Matches and CheckTerm
// for a few clusters: no panic; a selector CheckTerm finds nothing wrong
// with never fails to match; a failure names the term and the field, and
// CheckTerm finds that term at fault too.
func FuzzMatches(f *testing.F) {
	f.Add(`{"clusterSelectorTerms": [{"labelSelector": {"matchLabels": {"region": "eu"}}}]}`)
	f.Add(`{"clusterSelectorTerms": [{"propertySelector": {"matchExpressions": [{"name": "memory", "operator": "Ge", "values": ["16Gi"]}]}}]}`)
	f.Add(`{"clusterSelectorTerms": [{"labelSelector": {"matchExpressions": [{"key": "env", "operator": "In", "values": ["dev", "prod"]}]}}, {"propertySelector": {"matchExpressions": [{"name": "cpu", "operator": "Lt", "values": ["4"]}]}}]}`)
	f.Add(`{"clusterSelectorTerms": [{"labelSelector": {"matchExpressions": [{"key": "env", "operator": "Bogus"}]}}]}`)
	f.Add(`{"clusterSelectorTerms": [{"propertySelector": {"matchExpressions": [{"name": "cpu", "operator": "Gt", "values": ["4", "5"]}]}}]}`)
	f.Add(`{"clusterSelectorTerms": [{"propertySelector": {"matchExpressions": [{"name": "cpu", "operator": "Gt", "values": ["four"]}]}}]}`)
	f.Add(`{"clusterSelectorTerms": [{"propertySelector": {"matchExpressions": [{"name": "cpu", "operator": "Approx", "values": ["4"]}]}}]}`)
	f.Add(`{"clusterSelectorTerms": [{"labelSelector": {"matchLabels": {"bad key!": "x"}}}]}`)
	f.Fuzz(func(t *testing.T, doc string) {
		var sel placementv1.ClusterSelector
		if err := json.Unmarshal([]byte(doc), &sel); err != nil {
			return
		}
		valid := true
		for i := range sel.ClusterSelectorTerms {
			errs := CheckTerm(field.NewPath("clusterSelectorTerms").Index(i), &sel.ClusterSelectorTerms[i])
			for _, e := range errs {
				if !strings.HasPrefix(e.Field, "clusterSelectorTerms[") {
					t.Fatalf("CheckTerm names %q, not a field of the term", e.Field)
				}
			}
			valid = valid && len(errs) == 0
		}
		for _, c := range []Cluster{
			{},
			{Labels: map[string]string{"region": "eu", "env": "dev"}, Properties: map[string]string{"cpu": "8", "memory": "32Gi"}},
			{Labels: map[string]string{"env": "prod"}, Properties: map[string]string{"cpu": "not-a-number"}},
		} {
			ok, err := Matches(&sel, c)
			if err == nil {
				continue
			}
			if valid {
				t.Fatalf("CheckTerm finds nothing wrong, but Matches fails: %v", err)
			}
			if ok {
				t.Fatalf("matched and failed at once: %v", err)
			}
			var i int
			if !strings.HasPrefix(err.Error(), "clusterSelectorTerms[") || !strings.Contains(err.Error(), "].") {
				t.Fatalf("the error %q names no term and field", err)
			}
			if _, scanErr := fmt.Sscanf(err.Error(), "clusterSelectorTerms[%d]", &i); scanErr != nil || i >= len(sel.ClusterSelectorTerms) {
				t.Fatalf("the error %q names no term of the selector", err)
			}
			if len(CheckTerm(field.NewPath("t"), &sel.ClusterSelectorTerms[i])) == 0 {
				t.Fatalf("Matches fails on term %d (%v), which CheckTerm finds nothing wrong with", i, err)
			}
		}
	})
}
