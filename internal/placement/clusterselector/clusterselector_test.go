package clusterselector

import (
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	placementv1 "github.com/flotilla-dev/flotilla/api/placement/v1"
)

func prop(name string, op placementv1.PropertySelectorOperator, v string) *placementv1.PropertySelector {
	return &placementv1.PropertySelector{MatchExpressions: []placementv1.PropertySelectorRequirement{{Name: name, Operator: op, Values: []string{v}}}}
}

func TestMatches(t *testing.T) {
	c := Cluster{
		Labels:     map[string]string{"region": "prod", "compliance": "pci"},
		Properties: map[string]string{"cpu": "4", "memory": "16Gi", "bad": "lots"},
	}
	prodPCI := &metav1.LabelSelector{MatchLabels: map[string]string{"region": "prod", "compliance": "pci"}}
	dev := &metav1.LabelSelector{MatchLabels: map[string]string{"region": "dev"}}
	cases := []struct {
		name    string
		sel     *placementv1.ClusterSelector
		want    bool
		wantErr bool
	}{
		{"nil selector matches all", nil, true, false},
		{"no terms matches all", &placementv1.ClusterSelector{}, true, false},
		{"labels match", terms(placementv1.ClusterSelectorTerm{LabelSelector: prodPCI}), true, false},
		{"labels differ", terms(placementv1.ClusterSelectorTerm{LabelSelector: dev}), false, false},
		{"any term matches", terms(placementv1.ClusterSelectorTerm{LabelSelector: dev}, placementv1.ClusterSelectorTerm{LabelSelector: prodPCI}), true, false},
		{"labels and properties both needed", terms(placementv1.ClusterSelectorTerm{LabelSelector: prodPCI, PropertySelector: prop("cpu", "Gt", "8")}), false, false},
		{"Gt", terms(placementv1.ClusterSelectorTerm{PropertySelector: prop("cpu", "Gt", "3")}), true, false},
		{"Ge equal", terms(placementv1.ClusterSelectorTerm{PropertySelector: prop("cpu", "Ge", "4000m")}), true, false},
		{"Eq quantity units", terms(placementv1.ClusterSelectorTerm{PropertySelector: prop("memory", "Eq", "17179869184")}), true, false},
		{"Ne", terms(placementv1.ClusterSelectorTerm{PropertySelector: prop("memory", "Ne", "16Gi")}), false, false},
		{"Lt", terms(placementv1.ClusterSelectorTerm{PropertySelector: prop("memory", "Lt", "32Gi")}), true, false},
		{"Le", terms(placementv1.ClusterSelectorTerm{PropertySelector: prop("cpu", "Le", "3")}), false, false},
		{"missing property never matches", terms(placementv1.ClusterSelectorTerm{PropertySelector: prop("gpu", "Ne", "1")}), false, false},
		{"non-numeric property never matches", terms(placementv1.ClusterSelectorTerm{PropertySelector: prop("bad", "Ne", "1")}), false, false},
		{"bad value is an error", terms(placementv1.ClusterSelectorTerm{PropertySelector: prop("cpu", "Gt", "many")}), false, true},
		{"bad label selector is an error", terms(placementv1.ClusterSelectorTerm{LabelSelector: &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "a", Operator: "Bogus"}}}}), false, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Matches(tc.sel, c)
			if got != tc.want || (err != nil) != tc.wantErr {
				t.Fatalf("Matches = %v, %v; want %v, error %v", got, err, tc.want, tc.wantErr)
			}
		})
	}
}

func terms(ts ...placementv1.ClusterSelectorTerm) *placementv1.ClusterSelector {
	return &placementv1.ClusterSelector{ClusterSelectorTerms: ts}
}
