package cli

import (
	"os"
	"reflect"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/util/validation"

	fleetv1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/internal/rollout"
)

// FuzzParseStrategy feeds inline --stages values (JSON or YAML, a list, an
// object, a manifest) to the parser of `updatestrategy create` and
// `updaterun create`: it must not panic, every refusal names --stages, and
// whatever it accepts has stages that the hub's own checks accept too.
func FuzzParseStrategy(f *testing.F) {
	f.Add(`[{"name": "stage-internal", "groups": [{"name": "group-dev-clusters"}], "afterStageWaitInSeconds": 14400}]`)
	f.Add(`{"stages": [{"name": "a", "groups": [{"name": "g", "maxConcurrency": "2", "maxAllowedFailures": "25%"}]}]}`)
	f.Add("stages:\n- {name: one, groups: [{name: dev}]}\nhealthChecks:\n- {name: nodes, type: NodesReady}\n")
	f.Add("apiVersion: fleet.flotilla.dev/v1alpha1\nkind: UpdateStrategy\nmetadata: {name: x}\nspec:\n  stages: [{name: one, groups: [{name: dev}]}]\n")
	f.Add(`[{"name": "a", "maxConcurrency": "150%", "memberSelector": {}}]`)
	f.Add(`[{"name": "a", "groups": [{"name": "g"}], "beforeGates": [{"type": "ScheduledStart", "schedule": {"startTime": "25:00"}}]}]`)
	f.Add(`{"stages": [{"name": "a", "memberSelector": {"matchExpressions": [{"key": "x", "operator": "Bogus"}]}}]}`)
	f.Add(`[{"name": "a", "groupz": []}]`)
	f.Add(`null`)
	f.Add(`- name: a`)
	f.Fuzz(func(t *testing.T, arg string) {
		if strings.HasPrefix(arg, "@") || namesAFile(arg) {
			return // files are read by tests of their own; here only inline values
		}
		spec, err := parseStrategy(arg)
		if err != nil {
			if !strings.Contains(err.Error(), "--stages") {
				t.Fatalf("parseStrategy(%q) = %q: the message does not name --stages", arg, err)
			}
			return
		}
		if len(spec.Stages) == 0 {
			t.Fatalf("parseStrategy(%q) accepted a strategy without stages", arg)
		}
		if err := rollout.ValidateStrategy(*spec, nil).Err(); err != nil {
			t.Fatalf("parseStrategy(%q) accepted what the hub refuses: %v", arg, err)
		}
		again, err := parseStrategy(arg)
		if err != nil || !reflect.DeepEqual(spec, again) {
			t.Fatalf("parseStrategy(%q) is not deterministic: %+v then %+v, %v", arg, spec, again, err)
		}
	})
}

// namesAFile is what readStagesArg takes for a file name.
func namesAFile(arg string) bool {
	inline := strings.TrimSpace(arg)
	if inline == "" || inline[0] == '[' || inline[0] == '{' {
		return false
	}
	_, err := os.Stat(arg)
	return err == nil
}

// FuzzParseLabels feeds --labels values to the parser of `member create`,
// `member update` and `member join`: no panic, every refusal names
// --labels, and every label it accepts is one the API server takes.
func FuzzParseLabels(f *testing.F) {
	f.Add("env=dev,region=westeurope")
	f.Add("fleet.flotilla.dev/tier=gold")
	f.Add("a=b=c")
	f.Add("=x")
	f.Add("-x=y")
	f.Add(" env = dev ,")
	f.Add("k=" + strings.Repeat("v", 64))
	f.Fuzz(func(t *testing.T, s string) {
		labels, err := parseLabels(s)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "--labels: ") {
				t.Fatalf("parseLabels(%q) = %q: the message does not name --labels", s, err)
			}
			return
		}
		for k, v := range labels {
			if msgs := validation.IsQualifiedName(k); len(msgs) > 0 {
				t.Fatalf("parseLabels(%q) accepted the key %q: %v", s, k, msgs)
			}
			if msgs := validation.IsValidLabelValue(v); len(msgs) > 0 {
				t.Fatalf("parseLabels(%q) accepted the value %q: %v", s, v, msgs)
			}
		}
	})
}

// FuzzParseSkipTargets feeds --targets values to `updaterun skip`: no
// panic, every refusal names --targets, and every target it accepts has a
// known type and a name.
func FuzzParseSkipTargets(f *testing.F) {
	f.Add("Stage:canary", "Group:dev")
	f.Add("Member:dev-1,AfterStageWait:canary", "")
	f.Add("Cluster:x", "")
	f.Add("Stage:", "Group")
	f.Add(":", ",")
	f.Fuzz(func(t *testing.T, a, b string) {
		targets, err := parseSkipTargets([]string{a, b})
		if err != nil {
			if !strings.HasPrefix(err.Error(), "--targets") {
				t.Fatalf("parseSkipTargets(%q, %q) = %q: the message does not name --targets", a, b, err)
			}
			return
		}
		if len(targets) == 0 {
			t.Fatalf("parseSkipTargets(%q, %q) accepted no targets", a, b)
		}
		// What the CLI accepts, the hub's check of skip targets can read.
		for _, p := range rollout.ValidateSkipTargets(strategyNaming(targets), nil, targets) {
			t.Fatalf("parseSkipTargets(%q, %q) accepted %v: %s", a, b, targets, p)
		}
	})
}

// strategyNaming is a strategy with a stage for every Stage and
// AfterStageWait target and a group for every Group target.
func strategyNaming(targets []fleetv1.SkipTarget) fleetv1.UpdateStrategySpec {
	stage := fleetv1.UpdateStage{Name: "all"}
	spec := fleetv1.UpdateStrategySpec{}
	for _, t := range targets {
		switch t.Type {
		case fleetv1.SkipStage, fleetv1.SkipAfterStageWait:
			spec.Stages = append(spec.Stages, fleetv1.UpdateStage{Name: t.Name})
		case fleetv1.SkipGroup:
			stage.Groups = append(stage.Groups, fleetv1.UpdateGroup{Name: t.Name})
		}
	}
	return fleetv1.UpdateStrategySpec{Stages: append(spec.Stages, stage)}
}
