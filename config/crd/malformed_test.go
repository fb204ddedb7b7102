package crd_test

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	placementv1 "github.com/flotilla-dev/flotilla/api/placement/v1"
	fleetv1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/internal/controller/membership"
	"github.com/flotilla-dev/flotilla/internal/controller/placement"
	"github.com/flotilla-dev/flotilla/internal/controller/updaterun"
	"github.com/flotilla-dev/flotilla/internal/memberaccess"
	"github.com/flotilla-dev/flotilla/internal/testenv"
	"github.com/flotilla-dev/flotilla/internal/upgrade"
)

// refusalWait bounds how long the hub's controllers take to refuse an
// object the API server accepted.
const refusalWait = 30 * time.Second

// malformed is one bad object: the API server refuses it with a message
// containing refused, or (refused empty) accepts it and the hub's
// controller refuses it, which byController checks.
type malformed struct {
	name, manifest string
	refused        string
	byController   func(t *testing.T, c client.Client, name string)
}

// The objects below are the ones an operator gets wrong: typos in enums,
// missing fields, numbers out of range, conflicting fields, selectors that
// do not parse, patches of what may not be patched. Every one is refused
// with a message naming what is wrong; those the schema cannot judge are
// refused by the controller, with a False condition, before anything
// happens on a member.
var malformedObjects = []malformed{
	// MemberClusters
	{name: "member name not a DNS label", manifest: mc("Dev_1", `{access: {mode: Agent}}`), refused: "metadata.name must be a DNS label"},
	{name: "member without access", manifest: mc("mf-m1", `{updateGroup: dev}`), refused: "spec.access: Required value"},
	{name: "member access mode unknown", manifest: mc("mf-m2", `{access: {mode: SSH}}`), refused: `spec.access.mode: Unsupported value: "SSH"`},
	{name: "member kubeconfig mode without a Secret", manifest: mc("mf-m3", `{access: {mode: Kubeconfig}}`), refused: "access.kubeconfigSecretRef is required when access.mode is Kubeconfig"},
	{name: "member Secret reference without a namespace", manifest: mc("mf-m4", `{access: {kubeconfigSecretRef: {namespace: "", name: m}}}`), refused: "spec.access.kubeconfigSecretRef.namespace"},
	{name: "member update group with spaces", manifest: mc("mf-m5", `{updateGroup: "Group A", access: {mode: Agent}}`), refused: "spec.updateGroup"},
	{name: "member heartbeat above ten minutes", manifest: mc("mf-m6", `{heartbeatPeriodSeconds: 601, access: {mode: Agent}}`), refused: "spec.heartbeatPeriodSeconds"},
	{name: "member heartbeat as text", manifest: mc("mf-m7", `{heartbeatPeriodSeconds: "15s", access: {mode: Agent}}`), refused: "spec.heartbeatPeriodSeconds"},
	{name: "member provider type unknown", manifest: mc("mf-m8", `{access: {mode: Agent}, provider: {type: Cloud}}`), refused: `spec.provider.type: Unsupported value: "Cloud"`},
	{name: "member exec provider without settings", manifest: mc("mf-m9", `{access: {mode: Agent}, provider: {type: Exec}}`), refused: "provider.exec is required when provider.type is Exec"},
	{name: "member exec provider without a command", manifest: mc("mf-m10", `{access: {mode: Agent}, provider: {type: Exec, exec: {command: []}}}`), refused: "spec.provider.exec.command"},
	{name: "member exec timeout zero", manifest: mc("mf-m11", `{access: {mode: Agent}, provider: {type: Exec, exec: {command: [x], timeoutSeconds: 0}}}`), refused: "spec.provider.exec.timeoutSeconds"},
	{name: "member local provider without a directory", manifest: mc("mf-m12", `{access: {mode: Agent}, provider: {type: Local, local: {clusterDir: ""}}}`), refused: "spec.provider.local.clusterDir"},
	{name: "member taint with an unsupported effect", manifest: mc("mf-m13", `{access: {mode: Agent}, taints: [{key: k, effect: NoExecute}]}`), refused: "spec.taints[0].effect"},
	{name: "member taint without a key", manifest: mc("mf-m14", `{access: {mode: Agent}, taints: [{key: "", effect: NoSchedule}]}`), refused: "spec.taints[0].key"},
	{name: "member whose kubeconfig Secret does not exist", manifest: mc("mf-m15", `{access: {kubeconfigSecretRef: {namespace: flotilla-system, name: mf-missing}}}`),
		byController: memberUnreachable(fleetv1.ReasonCredentialsInvalid, "reading Secret flotilla-system/mf-missing")},
	{name: "member whose Secret lacks the key", manifest: mc("mf-m16", `{access: {kubeconfigSecretRef: {namespace: flotilla-system, name: mf-no-key, key: config}}}`),
		byController: memberUnreachable(fleetv1.ReasonCredentialsInvalid, `has no key "config"`)},

	// UpdateStrategies
	{name: "strategy without stages", manifest: us("mf-s1", `[]`), refused: "spec.stages"},
	{name: "strategy stage name with spaces", manifest: us("mf-s2", `[{name: "Stage One", memberSelector: {}}]`), refused: "spec.stages[0].name"},
	{name: "strategy group in two stages", manifest: us("mf-s3", `[{name: a, groups: [{name: g}]}, {name: b, groups: [{name: g}]}]`), refused: "a group may appear in only one stage"},
	{name: "strategy stage without members", manifest: us("mf-s4", `[{name: a}]`), refused: "a stage needs groups or a memberSelector"},
	{name: "strategy maxConcurrency 0%", manifest: us("mf-s5", `[{name: a, groups: [{name: g, maxConcurrency: "0%"}]}]`), refused: "spec.stages[0].groups[0].maxConcurrency"},
	{name: "strategy maxConcurrency in words", manifest: us("mf-s6", `[{name: a, memberSelector: {}, maxConcurrency: "half"}]`), refused: "spec.stages[0].maxConcurrency"},
	{name: "strategy negative failure budget", manifest: us("mf-s7", `[{name: a, memberSelector: {}, maxAllowedFailures: -1}]`), refused: "spec.stages[0].maxAllowedFailures"},
	{name: "strategy wait longer than a week", manifest: us("mf-s8", `[{name: a, memberSelector: {}, afterStageWaitInSeconds: 604801}]`), refused: "spec.stages[0].afterStageWaitInSeconds"},
	{name: "strategy gate type unknown", manifest: us("mf-s9", `[{name: a, memberSelector: {}, beforeGates: [{type: Vote}]}]`), refused: "spec.stages[0].beforeGates[0].type"},
	{name: "strategy scheduled gate without a schedule", manifest: us("mf-s10", `[{name: a, memberSelector: {}, afterGates: [{type: ScheduledStart}]}]`), refused: "a ScheduledStart gate needs a schedule"},
	{name: "strategy gate at 25:00", manifest: us("mf-s11", `[{name: a, memberSelector: {}, beforeGates: [{type: ScheduledStart, schedule: {startTime: "25:00"}}]}]`), refused: "startTime"},
	{name: "strategy health check type unknown", manifest: usSpec("mf-s12", `{stages: [{name: a, memberSelector: {}}], healthChecks: [{name: c, type: Ping}]}`), refused: "spec.healthChecks[0].type"},
	{name: "strategy Command check without a command", manifest: usSpec("mf-s13", `{stages: [{name: a, memberSelector: {}}], healthChecks: [{name: c, type: Command}]}`), refused: "command is required for a Command check"},
	{name: "strategy HTTP check with an ftp URL", manifest: usSpec("mf-s14", `{stages: [{name: a, memberSelector: {}}], healthChecks: [{name: c, type: HTTP, http: {url: "ftp://x"}}]}`), refused: "http.url must be an http:// or https:// URL"},
	{name: "strategy maintenance window without a duration", manifest: usSpec("mf-s15", `{stages: [{name: a, memberSelector: {}}], maintenanceWindows: [{startTime: "22:00"}]}`), refused: "a maintenance window needs startTime and durationMinutes"},
	{name: "strategy freeze window ending before it starts", manifest: usSpec("mf-s16", `{stages: [{name: a, memberSelector: {}}], freezeWindows: [{from: "2026-12-01T00:00:00Z", until: "2026-11-01T00:00:00Z"}]}`), refused: "a freeze window must end"},
	{name: "strategy negative member timeout", manifest: usSpec("mf-s17", `{stages: [{name: a, memberSelector: {}}], memberUpgradeTimeoutSeconds: -1}`), refused: "spec.memberUpgradeTimeoutSeconds"},
	{name: "strategy unknown field", manifest: usSpec("mf-s18", `{stages: [{name: a, memberSelector: {}, maxSurge: 2}]}`), refused: `unknown field "spec.stages[0].maxSurge"`},

	// UpdateRuns refused by the API server
	{name: "run Full without a version", manifest: ur("mf-r1", `{managedClusterUpdate: {upgrade: {type: Full}}}`), refused: "kubernetesVersion is required for a Full or ControlPlaneOnly upgrade"},
	{name: "run NodeImageOnly with a version", manifest: ur("mf-r2", `{managedClusterUpdate: {upgrade: {type: NodeImageOnly, kubernetesVersion: "1.37.2"}}}`), refused: "kubernetesVersion must not be set for a NodeImageOnly upgrade"},
	{name: "run version not a version", manifest: ur("mf-r3", `{managedClusterUpdate: {upgrade: {type: Full, kubernetesVersion: "latest"}}}`), refused: "spec.managedClusterUpdate.upgrade.kubernetesVersion"},
	{name: "run upgrade type unknown", manifest: ur("mf-r4", `{managedClusterUpdate: {upgrade: {type: Everything, kubernetesVersion: "1.37"}}}`), refused: "spec.managedClusterUpdate.upgrade.type: Unsupported value"},
	{name: "run node image selection unknown", manifest: ur("mf-r5", `{managedClusterUpdate: {upgrade: {type: NodeImageOnly}, nodeImageSelection: {type: Newest}}}`), refused: "spec.managedClusterUpdate.nodeImageSelection.type: Unsupported value"},
	{name: "run with a strategy name and an inline strategy", manifest: ur("mf-r6", `{updateStrategyName: s, strategy: {stages: [{name: a, memberSelector: {}}]}, managedClusterUpdate: {upgrade: {type: Full, kubernetesVersion: "1.37"}}}`), refused: "set updateStrategyName or strategy, not both"},
	{name: "run desired state unknown", manifest: ur("mf-r7", `{state: Running, managedClusterUpdate: {upgrade: {type: Full, kubernetesVersion: "1.37"}}}`), refused: "spec.state: Unsupported value"},
	{name: "run skip target type unknown", manifest: ur("mf-r8", `{skip: [{type: Cluster, name: x}], managedClusterUpdate: {upgrade: {type: Full, kubernetesVersion: "1.37"}}}`), refused: "spec.skip[0].type"},
	{name: "run inline strategy with maxConcurrency 0", manifest: ur("mf-r9", `{strategy: {stages: [{name: a, memberSelector: {}, maxConcurrency: 0}]}, managedClusterUpdate: {upgrade: {type: Full, kubernetesVersion: "1.37"}}}`), refused: "spec.strategy.stages[0].maxConcurrency"},
	{name: "run inline strategy without stages", manifest: ur("mf-r10", `{strategy: {stages: []}, managedClusterUpdate: {upgrade: {type: Full, kubernetesVersion: "1.37"}}}`), refused: "spec.strategy.stages"},

	// UpdateRuns the API server accepts and the update-run controller refuses
	{name: "run naming a strategy that does not exist", manifest: ur("mf-r11", started(`updateStrategyName: mf-nowhere`)), byController: runRefused(`update strategy "mf-nowhere" not found`)},
	{name: "run inline strategy with a selector operator that does not exist", manifest: ur("mf-r12", started(`strategy: {stages: [{name: a, memberSelector: {matchExpressions: [{key: env, operator: Near, values: [x]}]}, beforeGates: [{type: Approval}]}]}`)),
		byController: runRefused("spec.strategy.stages[0].memberSelector")},
	{name: "run inline strategy with a bad label value in a group selector", manifest: ur("mf-r13", started(`strategy: {stages: [{name: a, groups: [{name: mf-g, memberSelector: {matchLabels: {env: "not a value"}}, beforeGates: [{type: Approval}]}]}]}`)),
		byController: runRefused("spec.strategy.stages[0].groups[0].memberSelector")},
	{name: "run inline strategy whose selector stage is named like another stage's group", manifest: ur("mf-r14", started(`strategy: {stages: [{name: a, groups: [{name: mf-g}], beforeGates: [{type: Approval}]}, {name: mf-g, memberSelector: {}}]}`)),
		byController: runRefused("spec.strategy.stages[1].name: group mf-g is also in stage a")},
	{name: "run naming a strategy whose selector does not parse", manifest: us("mf-s-badsel", `[{name: a, memberSelector: {matchExpressions: [{key: env, operator: In}]}, beforeGates: [{type: Approval}]}]`) + "\n---\n" + ur("mf-r15", started(`updateStrategyName: mf-s-badsel`)),
		byController: runRefused("update strategy mf-s-badsel is invalid: spec.stages[0].memberSelector")},

	// Gates
	{name: "gate state unknown", manifest: gate("mf-g1", `{type: Approval, target: {updateRun: r, stage: a, timing: Before}, state: Done}`), refused: "spec.state: Unsupported value"},
	{name: "gate timing unknown", manifest: gate("mf-g2", `{type: Approval, target: {updateRun: r, stage: a, timing: During}}`), refused: "spec.target.timing: Unsupported value"},
	{name: "gate without a run", manifest: gate("mf-g3", `{type: Approval, target: {stage: a, timing: Before}}`), refused: "spec.target.updateRun: Required value"},
	{name: "gate type unknown", manifest: gate("mf-g4", `{type: Vote, target: {updateRun: r, stage: a, timing: Before}}`), refused: "spec.type: Unsupported value"},

	// ClusterResourcePlacements refused by the API server
	{name: "placement without selectors", manifest: crp("mf-p1", `{resourceSelectors: []}`), refused: "spec.resourceSelectors"},
	{name: "placement selector with a name and a label selector", manifest: crp("mf-p2", `{resourceSelectors: [{group: "", version: v1, kind: Namespace, name: x, labelSelector: {matchLabels: {a: b}}}]}`), refused: "a resource selector takes a name or a labelSelector, not both"},
	{name: "placement selector without a kind", manifest: crp("mf-p3", `{resourceSelectors: [{group: "", version: v1, kind: ""}]}`), refused: "spec.resourceSelectors[0].kind"},
	{name: "placement type unknown", manifest: crp("mf-p4", ns(`policy: {placementType: PickSome}`)), refused: "spec.policy.placementType: Unsupported value"},
	{name: "placement PickFixed without names", manifest: crp("mf-p5", ns(`policy: {placementType: PickFixed}`)), refused: "PickFixed needs clusterNames"},
	{name: "placement PickAll with names", manifest: crp("mf-p6", ns(`policy: {placementType: PickAll, clusterNames: [a]}`)), refused: "clusterNames is only for PickFixed"},
	{name: "placement PickN without a count", manifest: crp("mf-p7", ns(`policy: {placementType: PickN}`)), refused: "PickN needs numberOfClusters"},
	{name: "placement PickN of a negative count", manifest: crp("mf-p8", ns(`policy: {placementType: PickN, numberOfClusters: -1}`)), refused: "spec.policy.numberOfClusters"},
	{name: "placement property operator unknown", manifest: crp("mf-p9", ns(affinity(`{propertySelector: {matchExpressions: [{name: cpu, operator: About, values: ["4"]}]}}`))), refused: "Unsupported value: \"About\""},
	{name: "placement property with two values", manifest: crp("mf-p10", ns(affinity(`{propertySelector: {matchExpressions: [{name: cpu, operator: Gt, values: ["4", "8"]}]}}`))), refused: "values: Too many"},
	{name: "placement preferred weight above 100", manifest: crp("mf-p11", ns(`policy: {placementType: PickN, numberOfClusters: 1, affinity: {clusterAffinity: {preferredDuringSchedulingIgnoredDuringExecution: [{weight: 101, preference: {}}]}}}`)), refused: "weight"},
	{name: "placement toleration effect unknown", manifest: crp("mf-p12", ns(`policy: {tolerations: [{key: k, operator: Exists, effect: NoExecute}]}`)), refused: "spec.policy.tolerations[0].effect"},
	{name: "placement rollout type unknown", manifest: crp("mf-p13", ns(`strategy: {type: Canary}`)), refused: "spec.strategy.type: Unsupported value"},
	{name: "placement maxUnavailable in words", manifest: crp("mf-p14", ns(`strategy: {rollingUpdate: {maxUnavailable: "some"}}`)), refused: "maxUnavailable must be a count of at least 0 or a percentage"},
	{name: "placement maxSurge above 100%", manifest: crp("mf-p15", ns(`strategy: {rollingUpdate: {maxSurge: "150%"}}`)), refused: "maxSurge must be a count of at least 0 or a percentage"},
	{name: "placement negative unavailable period", manifest: crp("mf-p16", ns(`strategy: {rollingUpdate: {unavailablePeriodSeconds: -5}}`)), refused: "spec.strategy.rollingUpdate.unavailablePeriodSeconds"},
	{name: "placement apply strategy unknown", manifest: crp("mf-p17", ns(`strategy: {applyStrategy: {type: Replace}}`)), refused: "spec.strategy.applyStrategy.type: Unsupported value"},
	{name: "placement revision history of zero", manifest: crp("mf-p18", ns(`revisionHistoryLimit: 0`)), refused: "spec.revisionHistoryLimit"},
	{name: "placement name longer than 63", manifest: crp("mf-"+strings.Repeat("p", 64), ns(``)), refused: "metadata.name must be at most 63 characters"},

	// ClusterResourcePlacements the API server accepts and the placement controller refuses
	{name: "placement required affinity with an operator that does not exist", manifest: crp("mf-p19", ns(affinity(`{labelSelector: {matchExpressions: [{key: env, operator: Near, values: [x]}]}}`))),
		byController: placementRefused("InvalidPolicy", "spec.policy.affinity.clusterAffinity.requiredDuringSchedulingIgnoredDuringExecution.clusterSelectorTerms[0].labelSelector")},
	{name: "placement property value that is not a quantity", manifest: crp("mf-p20", ns(affinity(`{propertySelector: {matchExpressions: [{name: memory, operator: Ge, values: [lots]}]}}`))),
		byController: placementRefused("InvalidPolicy", "clusterSelectorTerms[0].propertySelector.matchExpressions[0].values[0]")},
	{name: "placement preferred term that does not parse", manifest: crp("mf-p21", ns(`policy: {placementType: PickN, numberOfClusters: 1, affinity: {clusterAffinity: {preferredDuringSchedulingIgnoredDuringExecution: [{weight: 5, preference: {labelSelector: {matchLabels: {"bad key!": x}}}}]}}}`)),
		byController: placementRefused("InvalidPolicy", "preferredDuringSchedulingIgnoredDuringExecution[0].preference.labelSelector")},
	{name: "placement of a kind the hub does not serve", manifest: crp("mf-p22", `{resourceSelectors: [{group: example.com, version: v1, kind: Widget, name: w}]}`),
		byController: placementRefused(placementv1.InvalidResourceSelectorsReason, "resourceSelectors[0]")},
	{name: "placement of a namespaced kind", manifest: crp("mf-p23", `{resourceSelectors: [{group: "", version: v1, kind: ConfigMap, name: c}]}`),
		byController: placementRefused(placementv1.InvalidResourceSelectorsReason, "resourceSelectors[0]")},

	// Overrides
	{name: "override without a policy", manifest: cro("mf-o1", `{clusterResourceSelectors: [{group: "", version: v1, kind: Namespace, name: x}]}`), refused: "spec.policy: Required value"},
	{name: "override without rules", manifest: cro("mf-o2", policy(`[]`)), refused: "spec.policy.overrideRules"},
	{name: "override operation unknown", manifest: cro("mf-o3", policy(`[{jsonPatchOverrides: [{op: move, path: /metadata/labels/a}]}]`)), refused: "spec.policy.overrideRules[0].jsonPatchOverrides[0].op: Unsupported value"},
	{name: "override path not a JSON pointer", manifest: cro("mf-o4", policy(`[{jsonPatchOverrides: [{op: add, path: metadata/labels/a, value: x}]}]`)), refused: "spec.policy.overrideRules[0].jsonPatchOverrides[0].path"},
	{name: "override patching status", manifest: cro("mf-o5", policy(`[{jsonPatchOverrides: [{op: replace, path: /status/phase, value: x}]}]`)), refused: "apiVersion, kind and status cannot be overridden"},
	{name: "override patching kind", manifest: cro("mf-o6", policy(`[{jsonPatchOverrides: [{op: replace, path: /kind, value: Secret}]}]`)), refused: "apiVersion, kind and status cannot be overridden"},
	{name: "override patching the name", manifest: cro("mf-o7", policy(`[{jsonPatchOverrides: [{op: replace, path: /metadata/name, value: other}]}]`)), refused: "only metadata.labels and metadata.annotations can be overridden"},
	{name: "override JSONPatch rule without patches", manifest: cro("mf-o8", policy(`[{overrideType: JSONPatch}]`)), refused: "a JSONPatch rule needs jsonPatchOverrides"},
	{name: "override Delete rule with patches", manifest: cro("mf-o9", policy(`[{overrideType: Delete, jsonPatchOverrides: [{op: remove, path: /metadata/labels/a}]}]`)), refused: "a Delete rule takes no jsonPatchOverrides"},
	{name: "override type unknown", manifest: cro("mf-o10", policy(`[{overrideType: Copy}]`)), refused: "spec.policy.overrideRules[0].overrideType: Unsupported value"},
	{name: "override cluster selector property operator unknown", manifest: cro("mf-o11", policy(`[{clusterSelector: {clusterSelectorTerms: [{propertySelector: {matchExpressions: [{name: cpu, operator: About, values: ["1"]}]}}]}, overrideType: Delete}]`)), refused: "Unsupported value: \"About\""},
	{name: "resource override without selectors", manifest: ro("mf-o12", `{resourceSelectors: [], policy: {overrideRules: [{overrideType: Delete}]}}`), refused: "spec.resourceSelectors"},
	{name: "resource override selector without a name", manifest: ro("mf-o13", `{resourceSelectors: [{group: "", version: v1, kind: ConfigMap, name: ""}], policy: {overrideRules: [{overrideType: Delete}]}}`), refused: "spec.resourceSelectors[0].name"},

	// Works
	{name: "work without its placement", manifest: work("mf-w1", `{resourceSnapshotName: s}`), refused: "spec.placement: Required value"},
	{name: "work deletion policy unknown", manifest: work("mf-w2", `{placement: p, deletionPolicy: Orphan}`), refused: "spec.deletionPolicy: Unsupported value"},
	{name: "work manifests not a list", manifest: work("mf-w3", `{placement: p, manifests: "kind: ConfigMap"}`), refused: "spec.manifests"},
	{name: "work field misspelt", manifest: work("mf-w4", `{placement: p, manifest: []}`), refused: `unknown field "spec.manifest"`},
}

func mc(name, spec string) string {
	return "apiVersion: fleet.flotilla.dev/v1alpha1\nkind: MemberCluster\nmetadata: {name: " + name + "}\nspec: " + spec
}

func us(name, stages string) string { return usSpec(name, "{stages: "+stages+"}") }

func usSpec(name, spec string) string {
	return "apiVersion: fleet.flotilla.dev/v1alpha1\nkind: UpdateStrategy\nmetadata: {name: " + name + "}\nspec: " + spec
}

func ur(name, spec string) string {
	return "apiVersion: fleet.flotilla.dev/v1alpha1\nkind: UpdateRun\nmetadata: {name: " + name + "}\nspec: " + spec
}

// started is the spec of a run asked to start, upgrading the control plane
// to a version, with the given strategy fields.
func started(strategy string) string {
	return `{state: Started, ` + strategy + `, managedClusterUpdate: {upgrade: {type: ControlPlaneOnly, kubernetesVersion: "1.37"}}}`
}

func gate(name, spec string) string {
	return "apiVersion: fleet.flotilla.dev/v1alpha1\nkind: Gate\nmetadata: {name: " + name + "}\nspec: " + spec
}

func crp(name, spec string) string {
	return "apiVersion: placement.kubernetes-fleet.io/v1\nkind: ClusterResourcePlacement\nmetadata: {name: " + name + "}\nspec: " + spec
}

// ns is a placement spec of one namespace with the given further fields.
func ns(fields string) string {
	if fields == "" {
		return `{resourceSelectors: [{group: "", version: v1, kind: Namespace, name: mf-placed}]}`
	}
	return `{resourceSelectors: [{group: "", version: v1, kind: Namespace, name: mf-placed}], ` + fields + `}`
}

func affinity(term string) string {
	return `policy: {placementType: PickAll, affinity: {clusterAffinity: {requiredDuringSchedulingIgnoredDuringExecution: {clusterSelectorTerms: [` + term + `]}}}}`
}

func cro(name, spec string) string {
	return "apiVersion: placement.kubernetes-fleet.io/v1\nkind: ClusterResourceOverride\nmetadata: {name: " + name + "}\nspec: " + spec
}

func policy(rules string) string {
	return `{clusterResourceSelectors: [{group: "", version: v1, kind: Namespace, name: mf-placed}], policy: {overrideRules: ` + rules + `}}`
}

func ro(name, spec string) string {
	return "apiVersion: placement.kubernetes-fleet.io/v1\nkind: ResourceOverride\nmetadata: {name: " + name + ", namespace: default}\nspec: " + spec
}

func work(name, spec string) string {
	return "apiVersion: fleet.flotilla.dev/v1alpha1\nkind: Work\nmetadata: {name: " + name + ", namespace: default}\nspec: " + spec
}

// runRefused waits for the run to fail with Succeeded False and a message
// containing want, then checks it is not half-done: no stage, group or
// member was recorded (no member upgrade started) and no gate was created.
func runRefused(want string) func(t *testing.T, c client.Client, name string) {
	return func(t *testing.T, c client.Client, name string) {
		ctx := t.Context()
		run := &fleetv1.UpdateRun{}
		testenv.Eventually(t, refusalWait, "the run is refused with Succeeded False", func() error {
			if err := c.Get(ctx, client.ObjectKey{Name: name}, run); err != nil {
				return err
			}
			s := meta.FindStatusCondition(run.Status.Conditions, fleetv1.RunSucceeded)
			if s == nil || s.Status != metav1.ConditionFalse {
				return fmt.Errorf("state %s, Succeeded %+v", run.Status.State, s)
			}
			if !strings.Contains(s.Message, want) {
				return fmt.Errorf("Succeeded is False with %q, want a message containing %q", s.Message, want)
			}
			return nil
		})
		if run.Status.State != fleetv1.StateFailed || len(run.Status.Stages) > 0 || run.Status.StartTime != nil {
			t.Fatalf("a refused run went ahead: state %s, started %v, %d stages", run.Status.State, run.Status.StartTime, len(run.Status.Stages))
		}
		gates := &fleetv1.GateList{}
		if err := c.List(ctx, gates, client.MatchingLabels{fleetv1.UpdateRunLabel: name}); err != nil {
			t.Fatal(err)
		}
		if len(gates.Items) > 0 {
			t.Fatalf("a refused run created %d gates", len(gates.Items))
		}
	}
}

// placementRefused waits for the placement's Scheduled condition to be
// False with reason and a message containing want, and checks that nothing
// was bound to a member.
func placementRefused(reason, want string) func(t *testing.T, c client.Client, name string) {
	return func(t *testing.T, c client.Client, name string) {
		ctx := t.Context()
		testenv.Eventually(t, refusalWait, "the placement is refused with Scheduled False", func() error {
			p := &placementv1.ClusterResourcePlacement{}
			if err := c.Get(ctx, client.ObjectKey{Name: name}, p); err != nil {
				return err
			}
			s := meta.FindStatusCondition(p.Status.Conditions, placementv1.ClusterResourcePlacementScheduledConditionType)
			if s == nil || s.Status != metav1.ConditionFalse || s.Reason != reason {
				return fmt.Errorf("Scheduled %+v, want False with reason %s", s, reason)
			}
			if !strings.Contains(s.Message, want) {
				return fmt.Errorf("Scheduled is False with %q, want a message containing %q", s.Message, want)
			}
			return nil
		})
		bindings := &fleetv1.ResourceBindingList{}
		if err := c.List(ctx, bindings, client.MatchingLabels{fleetv1.PlacementLabel: name}); err != nil {
			t.Fatal(err)
		}
		if len(bindings.Items) > 0 {
			t.Fatalf("a refused placement bound %d members", len(bindings.Items))
		}
	}
}

// memberUnreachable waits for the member's Reachable condition to be False
// with reason and a message containing want.
func memberUnreachable(reason, want string) func(t *testing.T, c client.Client, name string) {
	return func(t *testing.T, c client.Client, name string) {
		testenv.Eventually(t, refusalWait, "the member is Reachable False", func() error {
			m := &fleetv1.MemberCluster{}
			if err := c.Get(t.Context(), client.ObjectKey{Name: name}, m); err != nil {
				return err
			}
			r := meta.FindStatusCondition(m.Status.Conditions, fleetv1.MemberReachable)
			if r == nil || r.Status != metav1.ConditionFalse || r.Reason != reason || !strings.Contains(r.Message, want) {
				return fmt.Errorf("Reachable %+v, want False with reason %s and a message containing %q", r, reason, want)
			}
			return nil
		})
	}
}

// runHubControllers runs the hub's membership, update-run and placement
// controllers against the shared hub until the test ends.
func runHubControllers(t *testing.T) {
	t.Helper()
	stateDir := t.TempDir()
	hub.Env(t).Hub.RunManager(t, func(mgr ctrl.Manager) error {
		members := &memberaccess.Clients{Hub: mgr.GetClient()}
		if err := (&membership.Reconciler{Client: mgr.GetClient(), Members: members, Recorder: mgr.GetEventRecorder("malformed-membership")}).SetupWithManager(mgr); err != nil {
			return err
		}
		if err := (&updaterun.Reconciler{
			Client: mgr.GetClient(), Recorder: mgr.GetEventRecorder("malformed-updaterun"), Members: members,
			Providers: upgrade.NewProviders(stateDir, map[fleetv1.ProviderType]upgrade.Factory{fleetv1.ProviderExec: upgrade.Exec}),
			WorkDir:   filepath.Join(stateDir, "checks"),
		}).SetupWithManager(mgr); err != nil {
			return err
		}
		return (&placement.Reconciler{Client: mgr.GetClient(), Recorder: mgr.GetEventRecorder("malformed-placement"), Resync: 5 * time.Second}).SetupWithManager(mgr)
	})
}

func TestMalformedObjectsAreRefusedWithTheirField(t *testing.T) {
	if n := len(malformedObjects); n < 50 {
		t.Fatalf("%d malformed objects, want at least 50", n)
	}
	c := hubClient(t)
	ctx := t.Context()
	runHubControllers(t)
	// The Secret a member names without the key it names.
	secretNS := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "flotilla-system"}}
	if err := c.Create(ctx, secretNS); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
	if err := c.Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "mf-no-key", Namespace: secretNS.Name}, Data: map[string][]byte{"kubeconfig": []byte("x")}}); err != nil {
		t.Fatal(err)
	}
	// A member every refused run could have touched.
	target := &fleetv1.MemberCluster{ObjectMeta: metav1.ObjectMeta{Name: "mf-target", Labels: map[string]string{"env": "x"}},
		Spec: fleetv1.MemberClusterSpec{UpdateGroup: "mf-g", Access: fleetv1.MemberAccess{Mode: fleetv1.AccessAgent},
			// An upgrade would fail: none may start.
			Provider: &fleetv1.ProviderSpec{Type: fleetv1.ProviderExec, Exec: &fleetv1.ExecProvider{Command: []string{"false"}}}}}
	if err := c.Create(ctx, target); err != nil {
		t.Fatal(err)
	}
	target.Status.KubernetesVersion = "v1.36.3"
	if err := c.Status().Update(ctx, target); err != nil {
		t.Fatal(err)
	}

	for _, tc := range malformedObjects {
		t.Run(tc.name, func(t *testing.T) {
			docs := strings.Split(tc.manifest, "\n---\n")
			for i, doc := range docs {
				obj := object(t, doc)
				// Strict, as kubectl apply: a misspelt field is an error.
				err := c.Create(ctx, obj, client.FieldValidation("Strict"))
				last := i == len(docs)-1
				switch {
				case !last && err != nil:
					t.Fatalf("a manifest the case builds on was refused: %v", err)
				case last && tc.refused != "" && err == nil:
					t.Fatalf("accepted, want refused with %q", tc.refused)
				case last && tc.refused != "":
					if !strings.Contains(err.Error(), tc.refused) {
						t.Fatalf("refused with %q, want a message containing %q", err, tc.refused)
					}
				case last && err != nil:
					t.Fatalf("refused with %v, want the controller to refuse it", err)
				case last:
					tc.byController(t, c, obj.GetName())
				}
			}
		})
	}

	// The controllers kept running: a good run still completes and a good
	// placement is still scheduled.
	if err := c.Status().Update(ctx, target); err != nil && !apierrors.IsConflict(err) {
		t.Fatal(err)
	}
	good := object(t, ur("mf-good", `{state: Started, strategy: {stages: [{name: a, groups: [{name: mf-g}]}]}, managedClusterUpdate: {upgrade: {type: ControlPlaneOnly, kubernetesVersion: "1.36.3"}}}`))
	if err := c.Create(ctx, good); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, refusalWait, "a good run completes after the malformed ones", func() error {
		run := &fleetv1.UpdateRun{}
		if err := c.Get(ctx, client.ObjectKey{Name: "mf-good"}, run); err != nil {
			return err
		}
		if run.Status.State != fleetv1.StateCompleted {
			return fmt.Errorf("state %s: %s", run.Status.State, run.Status.Message)
		}
		return nil
	})
	if err := c.Create(ctx, object(t, crp("mf-good", ns(``)))); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, refusalWait, "a good placement is scheduled after the malformed ones", func() error {
		p := &placementv1.ClusterResourcePlacement{}
		if err := c.Get(ctx, client.ObjectKey{Name: "mf-good"}, p); err != nil {
			return err
		}
		s := meta.FindStatusCondition(p.Status.Conditions, placementv1.ClusterResourcePlacementScheduledConditionType)
		if s == nil || s.Reason == "InvalidPolicy" || s.Reason == placementv1.InvalidResourceSelectorsReason || s.ObservedGeneration != p.Generation {
			return fmt.Errorf("Scheduled %+v", s)
		}
		return nil
	})
}
