package crd_test

import (
	"context"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"
)

// seedStages is the --stages JSON from the operator's account, verbatim.
const seedStages = `[
    {"name": "stage-internal", "groups": [{"name": "group-dev-clusters"}], "afterStageWaitInSeconds": 14400},
    {"name": "stage-canary-prod", "groups": [{"name": "group-prod-canary-eu"}, {"name": "group-prod-canary-us"}], "afterStageWaitInSeconds": 86400},
    {"name": "stage-primary-final", "groups": [{"name": "group-prod-primary-eu"}, {"name": "group-prod-primary-us"}]}
  ]`

func object(t *testing.T, manifest string) *unstructured.Unstructured {
	t.Helper()
	u := &unstructured.Unstructured{}
	if err := yaml.Unmarshal([]byte(manifest), &u.Object); err != nil {
		t.Fatalf("bad test manifest: %v\n%s", err, manifest)
	}
	return u
}

func strategy(name, stages string) string {
	return "apiVersion: fleet.flotilla.dev/v1alpha1\nkind: UpdateStrategy\nmetadata: {name: " + name + "}\nspec:\n  stages: " + stages
}

func run(name, spec string) string {
	return "apiVersion: fleet.flotilla.dev/v1alpha1\nkind: UpdateRun\nmetadata: {name: " + name + "}\nspec: " + spec
}

func member(name, spec string) string {
	return "apiVersion: fleet.flotilla.dev/v1alpha1\nkind: MemberCluster\nmetadata: {name: " + name + "}\nspec: " + spec
}

const goodAccess = `{access: {kubeconfigSecretRef: {namespace: flotilla-system, name: m}}}`

func TestValidationRefusesBadInput(t *testing.T) {
	c := hubClient(t)
	cases := []struct {
		name, manifest, want string
	}{
		{"member name not a DNS label", member("dev.one", goodAccess), "metadata.name must be a DNS label"},
		{"member name too long for its hub namespace", member(strings.Repeat("m", 48), goodAccess), "at most 47"},
		{"member kubeconfig mode without a secret", member("m1", `{access: {mode: Kubeconfig}}`), "kubeconfigSecretRef is required"},
		{"member bad update group", member("m2", `{updateGroup: "Group_A", access: {mode: Agent}}`), "spec.updateGroup"},
		{"member heartbeat zero", member("m3", `{heartbeatPeriodSeconds: 0, access: {mode: Agent}}`), "heartbeatPeriodSeconds"},
		{"group listed twice across stages", strategy("dup", `[{name: a, groups: [{name: g}]}, {name: b, groups: [{name: g}]}]`), "a group may appear in only one stage"},
		{"group listed twice in a stage", strategy("dup2", `[{name: a, groups: [{name: g}, {name: g}]}]`), "Duplicate value"},
		{"stage listed twice", strategy("dup3", `[{name: a}, {name: a}]`), "Duplicate value"},
		{"no stages", strategy("empty", `[]`), "spec.stages"},
		{"stage without members", strategy("nomembers", `[{name: a}]`), "a stage needs groups or a memberSelector"},
		{"negative wait", strategy("neg", `[{name: a, afterStageWaitInSeconds: -1}]`), "afterStageWaitInSeconds"},
		{"max concurrency zero", strategy("mc0", `[{name: a, maxConcurrency: 0}]`), "maxConcurrency must be a count of at least 1"},
		{"max concurrency 0%", strategy("mc1", `[{name: a, groups: [{name: g, maxConcurrency: "0%"}]}]`), "maxConcurrency must be a count of at least 1"},
		{"max concurrency 150%", strategy("mc2", `[{name: a, maxConcurrency: "150%"}]`), "maxConcurrency must be"},
		{"max concurrency words", strategy("mc3", `[{name: a, maxConcurrency: "half"}]`), "maxConcurrency must be"},
		{"max concurrency string zero", strategy("mc4", `[{name: a, maxConcurrency: "0"}]`), "maxConcurrency must be a count of at least 1"},
		{"max concurrency leading zero", strategy("mc5", `[{name: a, maxConcurrency: "02"}]`), "maxConcurrency must be"},
		{"max allowed failures negative string", strategy("mf1", `[{name: a, maxAllowedFailures: "-1"}]`), "maxAllowedFailures must be"},
		{"max failures negative", strategy("mf0", `[{name: a, maxAllowedFailures: -1}]`), "maxAllowedFailures must be a count of at least 0"},
		{"bad stage name", strategy("bn", `[{name: "Stage One"}]`), "spec.stages[0].name"},
		{"scheduled gate without schedule", strategy("g1", `[{name: a, beforeGates: [{type: ScheduledStart}]}]`), "a ScheduledStart gate needs a schedule"},
		{"bad gate time", strategy("g2", `[{name: a, beforeGates: [{type: ScheduledStart, schedule: {startTime: "25:00"}}]}]`), "startTime"},
		{"full without version", run("r1", `{managedClusterUpdate: {upgrade: {type: Full}}}`), "kubernetesVersion is required for a Full or ControlPlaneOnly upgrade"},
		{"control plane without version", run("r2", `{managedClusterUpdate: {upgrade: {type: ControlPlaneOnly}}}`), "kubernetesVersion is required"},
		{"node image with version", run("r3", `{managedClusterUpdate: {upgrade: {type: NodeImageOnly, kubernetesVersion: "1.37.2"}}}`), "kubernetesVersion must not be set for a NodeImageOnly upgrade"},
		{"malformed version", run("r4", `{managedClusterUpdate: {upgrade: {type: Full, kubernetesVersion: "1.x"}}}`), "kubernetesVersion"},
		{"unknown upgrade type", run("r5", `{managedClusterUpdate: {upgrade: {type: Everything, kubernetesVersion: "1.37"}}}`), "Unsupported value"},
		{"strategy name and inline strategy", run("r6", `{updateStrategyName: s, strategy: {stages: [{name: a}]}, managedClusterUpdate: {upgrade: {type: Full, kubernetesVersion: "1.37"}}}`), "set updateStrategyName or strategy, not both"},
		{"bad desired state", run("r7", `{state: Running, managedClusterUpdate: {upgrade: {type: Full, kubernetesVersion: "1.37"}}}`), "spec.state"},
		{"custom without images", run("r9", `{managedClusterUpdate: {upgrade: {type: NodeImageOnly}, nodeImageSelection: {type: Custom}}}`), "customNodeImageVersions is required when nodeImageSelection.type is Custom"},
		{"images without custom", run("r10", `{managedClusterUpdate: {upgrade: {type: NodeImageOnly}, nodeImageSelection: {type: Latest, customNodeImageVersions: [{version: img-1}]}}}`), "customNodeImageVersions must be empty unless nodeImageSelection.type is Custom"},
		{"custom images as strings", run("r11", `{managedClusterUpdate: {upgrade: {type: NodeImageOnly}, nodeImageSelection: {type: Custom, customNodeImageVersions: [img-1]}}}`), "customNodeImageVersions[0]"},
		{"bad skip type", run("r8", `{skip: [{type: Cluster, name: x}], managedClusterUpdate: {upgrade: {type: Full, kubernetesVersion: "1.37"}}}`), "spec.skip[0].type"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := c.Create(context.Background(), object(t, tc.manifest))
			if err == nil {
				t.Fatalf("accepted, want refused with %q", tc.want)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("refused with %q, want a message containing %q", err, tc.want)
			}
		})
	}
}

func TestValidationAcceptsGoodInput(t *testing.T) {
	c := hubClient(t)
	ctx := context.Background()
	good := []string{
		strategy("seed-staged-k8s-1-29", seedStages),
		strategy("percent", `[{name: a, maxConcurrency: "50%", maxAllowedFailures: "10%", groups: [{name: g, maxConcurrency: 2, maxAllowedFailures: 1}]}]`),
		// Azure's --stages JSON writes counts as strings.
		strategy("azure-strings", `[{name: a, maxConcurrency: "2", maxAllowedFailures: "0", groups: [{name: g, maxConcurrency: "3", maxAllowedFailures: "25%"}]}]`),
		strategy("gated", `[{name: a, groups: [{name: g}], afterStageWaitInSeconds: 60, afterGates: [{type: Approval, displayName: "check dashboards"}]}, {name: b, memberSelector: {matchLabels: {env: prod}}, beforeGates: [{type: ScheduledStart, schedule: {daysOfWeek: [Tuesday], startTime: "09:30", utcOffset: "+01:00"}}]}]`),
		member("dev-1", goodAccess),
		run("seed-run", `{updateStrategyName: seed-staged-k8s-1-29, managedClusterUpdate: {upgrade: {type: Full, kubernetesVersion: "1.29.0"}}}`),
		run("node-images", `{managedClusterUpdate: {upgrade: {type: NodeImageOnly}, nodeImageSelection: {type: Consistent}}}`),
		// Azure's shape for custom node images.
		run("custom-images", `{managedClusterUpdate: {upgrade: {type: NodeImageOnly}, nodeImageSelection: {type: Custom, customNodeImageVersions: [{version: AKSUbuntu-2204gen2containerd-202612.1}]}}}`),
	}
	for _, m := range good {
		if err := c.Create(ctx, object(t, m)); err != nil {
			t.Errorf("refused a valid object: %v\n%s", err, m)
		}
	}

	got := object(t, run("seed-run", "{}"))
	if err := c.Get(ctx, client.ObjectKeyFromObject(got), got); err != nil {
		t.Fatal(err)
	}
	if state, _, _ := unstructured.NestedString(got.Object, "spec", "state"); state != "NotStarted" {
		t.Errorf("spec.state defaulted to %q, want NotStarted", state)
	}
	// A started run's upgrade cannot be changed under it.
	if err := unstructured.SetNestedField(got.Object, "1.30.0", "spec", "managedClusterUpdate", "upgrade", "kubernetesVersion"); err != nil {
		t.Fatal(err)
	}
	if err := c.Update(ctx, got); err == nil || !strings.Contains(err.Error(), "managedClusterUpdate cannot be changed") {
		t.Errorf("changing the upgrade of a run: got %v, want it refused", err)
	}
}
