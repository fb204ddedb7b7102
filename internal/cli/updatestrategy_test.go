package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestParseStrategy(t *testing.T) {
	seed := `[
    {"name": "stage-internal", "groups": [{"name": "group-dev-clusters"}], "afterStageWaitInSeconds": 14400},
    {"name": "stage-canary-prod", "groups": [{"name": "group-prod-canary-eu"}, {"name": "group-prod-canary-us"}], "afterStageWaitInSeconds": 86400},
    {"name": "stage-primary-final", "groups": [{"name": "group-prod-primary-eu"}, {"name": "group-prod-primary-us"}]}
  ]`
	spec, err := parseStrategy(seed)
	if err != nil {
		t.Fatalf("the seed's --stages: %v", err)
	}
	if len(spec.Stages) != 3 || spec.Stages[1].AfterStageWaitInSeconds != 86400 || spec.Stages[2].Groups[1].Name != "group-prod-primary-us" {
		t.Errorf("seed stages parsed as %+v", spec.Stages)
	}

	file := filepath.Join(t.TempDir(), "strategy.yaml")
	yamlSpec := "stages:\n- {name: one, groups: [{name: dev}]}\nhealthChecks:\n- {name: nodes, type: NodesReady}\n"
	if err := os.WriteFile(file, []byte(yamlSpec), 0o600); err != nil {
		t.Fatal(err)
	}
	spec, err = parseStrategy("@" + file)
	if err != nil {
		t.Fatalf("a YAML strategy file: %v", err)
	}
	if len(spec.HealthChecks) != 1 || spec.HealthChecks[0].Type != "NodesReady" {
		t.Errorf("health checks lost: %+v", spec)
	}

	spec, err = parseStrategy("apiVersion: fleet.flotilla.dev/v1alpha1\nkind: UpdateStrategy\nmetadata: {name: x}\nspec:\n  stages: [{name: one, groups: [{name: dev}]}]\n")
	if err != nil || len(spec.Stages) != 1 {
		t.Errorf("an UpdateStrategy manifest: %+v, %v", spec, err)
	}

	for input, want := range map[string]string{
		`[{"name": "a", "groupz": []}]`: `unknown field "groupz"`,
		`[]`:                            "no stages",
		`{"stages": [`:                  "invalid --stages",
		"@/nonexistent/file.json":       "reading --stages file",
	} {
		if _, err := parseStrategy(input); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("parseStrategy(%q) = %v, want an error containing %q", input, err, want)
		}
	}
}
