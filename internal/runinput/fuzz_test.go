package runinput

import (
	"encoding/json"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	fleetv1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
)

// FuzzValidate feeds UpdateRun specs (as JSON) to the update-run
// controller's check of the strategy a run would follow: no panic; a run
// with an inline strategy is refused with every problem under
// spec.strategy; with a named strategy, the strategy is named and its
// problems are under spec; a run that started is never checked again.
func FuzzValidate(f *testing.F) {
	f.Add(`{"strategy": {"stages": [{"name": "a", "groups": [{"name": "g"}]}]}, "state": "Started"}`)
	f.Add(`{"strategy": {"stages": [{"name": "a", "memberSelector": {"matchExpressions": [{"key": "env", "operator": "Near"}]}}]}}`)
	f.Add(`{"strategy": {"stages": [{"name": "a", "groups": [{"name": "b"}]}, {"name": "b", "memberSelector": {}}]}}`)
	f.Add(`{"strategy": {"stages": [], "healthChecks": [{"name": "Bad Name", "type": "HTTP", "http": {"url": "x"}}]}}`)
	f.Add(`{"updateStrategyName": "staged"}`)
	f.Add(`{}`)
	f.Fuzz(func(t *testing.T, doc string) {
		run := &fleetv1.UpdateRun{}
		if err := json.Unmarshal([]byte(doc), &run.Spec); err != nil {
			return
		}
		if run.Spec.Strategy != nil && len(run.Spec.Strategy.Stages) > 50 {
			return // the API allows 20; keep each input quick
		}
		strategy := DefaultStrategy()
		prefix := "spec."
		switch {
		case run.Spec.Strategy != nil:
			strategy, prefix = run.Spec.Strategy, "spec.strategy."
			run.Spec.UpdateStrategyName = ""
		case run.Spec.UpdateStrategyName != "":
			// The named strategy's own stages, as the controller read them.
			strategy = &fleetv1.UpdateStrategySpec{Stages: []fleetv1.UpdateStage{{Name: "Not A Label", MemberSelector: &metav1.LabelSelector{}}}}
		}
		err := Validate(run, strategy)
		if err != nil {
			msg := err.Error()
			if run.Spec.Strategy == nil && run.Spec.UpdateStrategyName != "" {
				head := "update strategy " + run.Spec.UpdateStrategyName + " is invalid: "
				if !strings.HasPrefix(msg, head) {
					t.Fatalf("refused with %q, which does not name the strategy", msg)
				}
				msg = strings.TrimPrefix(msg, head)
			}
			for _, line := range strings.Split(msg, "\n") {
				if !strings.HasPrefix(line, prefix) {
					t.Fatalf("the problem %q is not under %s", line, prefix)
				}
			}
		}
		started := run.DeepCopy()
		started.Status.Stages = []fleetv1.StageProgress{{Name: "a"}}
		if err := Validate(started, strategy); err != nil {
			t.Fatalf("a started run was checked again: %v", err)
		}
	})
}
