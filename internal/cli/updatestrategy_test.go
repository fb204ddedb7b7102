package cli

import (
	"os"
	"os/exec"
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

// az fleet updatestrategy create --stages takes a path to a JSON file
// holding {"stages": [...]}; the same path works here.
func TestParseStrategyReadsAPlainFilePath(t *testing.T) {
	file := filepath.Join(t.TempDir(), "stages.json")
	azure := `{"stages": [{"name": "stage-internal", "groups": [{"name": "group-dev-clusters"}], "afterStageWaitInSeconds": 3600}]}`
	if err := os.WriteFile(file, []byte(azure), 0o600); err != nil {
		t.Fatal(err)
	}
	spec, err := parseStrategy(file)
	if err != nil {
		t.Fatalf("parseStrategy(%q): %v", file, err)
	}
	if len(spec.Stages) != 1 || spec.Stages[0].Groups[0].Name != "group-dev-clusters" || spec.Stages[0].AfterStageWaitInSeconds != 3600 {
		t.Errorf("stages from the file: %+v", spec.Stages)
	}
}

func TestParseStrategySaysWhenTheValueIsNeitherAFileNorStages(t *testing.T) {
	_, err := parseStrategy("foo.json")
	want := `--stages: "foo.json" is neither a file nor JSON/YAML stages`
	if err == nil || err.Error() != want {
		t.Errorf("parseStrategy(%q) = %v, want %q", "foo.json", err, want)
	}
}

// Azure's --stages JSON writes counts as strings ("2", "25%"); the CLI's
// own parsing keeps them for the hub to judge.
func TestAzureStringCountsPassTheCLI(t *testing.T) {
	azure := `{"stages": [{"name": "s1", "groups": [{"name": "dev", "maxConcurrency": "2"}], "maxConcurrency": "2", "maxAllowedFailures": "25%"}]}`
	spec, err := parseStrategy(azure)
	if err != nil {
		t.Fatalf("parseStrategy: %v", err)
	}
	st := spec.Stages[0]
	if st.MaxConcurrency.String() != "2" || st.MaxAllowedFailures.String() != "25%" || st.Groups[0].MaxConcurrency.String() != "2" {
		t.Errorf("counts read as %v, %v, %v", st.MaxConcurrency, st.MaxAllowedFailures, st.Groups[0].MaxConcurrency)
	}

	hub := fakeHub(member("dev-1", "dev"), member("dev-2", "dev"))
	if _, _, err := runCLI(hub, "updatestrategy", "create", "azure", "--stages", azure); err != nil {
		t.Errorf("updatestrategy create: %v", err)
	}
	// updaterun create plans the run with the engine (internal/rollout),
	// which reads a decimal string as a count.
	_, _, err = runCLI(hub, "updaterun", "create", "r1", "--upgrade-type", "ControlPlaneOnly", "--kubernetes-version", "1.37.2", "--force", "--stages", azure)
	if err != nil {
		t.Errorf("updaterun create: %v", err)
	}
}

// The tour's strategy must not depend on the directory the hub runs in: its
// Command checks name their program by an absolute path and carry their
// script inline.
func TestTheDemoStrategyWorksWhereverTheHubRuns(t *testing.T) {
	spec, err := parseStrategy(filepath.Join("..", "..", "examples", "demo-strategy.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	commands := 0
	for _, c := range spec.HealthChecks {
		if c.Type != "Command" {
			continue
		}
		commands++
		if !filepath.IsAbs(c.Command[0]) {
			t.Errorf("check %s runs %q, a path relative to the hub's directory", c.Name, c.Command[0])
		}
		if len(c.Command) >= 3 && c.Command[1] == "-c" {
			if out, err := exec.Command(c.Command[0], "-n", "-c", c.Command[2]).CombinedOutput(); err != nil {
				t.Errorf("check %s: the script does not parse: %v\n%s", c.Name, err, out)
			}
		}
	}
	if commands == 0 {
		t.Error("the demo strategy has no Command check")
	}
}
