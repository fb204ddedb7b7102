package v1alpha1

import (
	"bytes"
	"encoding/json"
	"testing"
)

// decodeStrict decodes JSON, refusing fields the types do not have.
func decodeStrict(t *testing.T, doc string, into any) {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader([]byte(doc)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(into); err != nil {
		t.Fatalf("%v\n%s", err, doc)
	}
}

func TestSeedStagesParse(t *testing.T) {
	// The operator's `az fleet updatestrategy create --stages` JSON, verbatim.
	const stages = `[
    {"name": "stage-internal", "groups": [{"name": "group-dev-clusters"}], "afterStageWaitInSeconds": 14400},
    {"name": "stage-canary-prod", "groups": [{"name": "group-prod-canary-eu"}, {"name": "group-prod-canary-us"}], "afterStageWaitInSeconds": 86400},
    {"name": "stage-primary-final", "groups": [{"name": "group-prod-primary-eu"}, {"name": "group-prod-primary-us"}]}
  ]`
	var spec UpdateStrategySpec
	decodeStrict(t, `{"stages": `+stages+`}`, &spec)
	if len(spec.Stages) != 3 || spec.Stages[1].AfterStageWaitInSeconds != 86400 || spec.Stages[1].Groups[1].Name != "group-prod-canary-us" {
		t.Fatalf("parsed %+v", spec)
	}
}

func TestStrategyAdditionsRoundTrip(t *testing.T) {
	const doc = `{
  "stages": [{"name": "a", "groups": [{"name": "g"}]}],
  "healthChecks": [
    {"name": "nodes", "type": "NodesReady", "runAfter": "Member", "timeoutSeconds": 300, "settleSeconds": 30},
    {"name": "pods", "type": "NoFailedPods", "namespaces": ["default"], "runAfter": "Group"},
    {"name": "web", "type": "WorkloadsAvailable", "workloads": {"kind": "Deployment", "namespace": "shop", "labelSelector": {"matchLabels": {"app": "web"}}}, "runAfter": "Stage"},
    {"name": "pvcs", "type": "PVCsBound", "namespaces": ["data"]},
    {"name": "script", "type": "Command", "command": ["/bin/validate.sh"]},
    {"name": "probe", "type": "HTTP", "http": {"url": "https://shop.example.com/healthz", "expectedStatus": 204}}
  ],
  "maintenanceWindows": [{"name": "eu-nights", "daysOfWeek": ["Monday", "Tuesday"], "startTime": "22:00", "durationMinutes": 240, "utcOffset": "+01:00", "memberSelector": {"matchLabels": {"region": "eu"}}}],
  "freezeWindows": [
    {"name": "black-friday", "from": "2026-11-27T00:00:00Z", "until": "2026-12-01T00:00:00Z"},
    {"name": "fridays", "daysOfWeek": ["Friday"], "startTime": "12:00", "durationMinutes": 720}
  ],
  "memberUpgradeTimeoutSeconds": 3600
}`
	var spec UpdateStrategySpec
	decodeStrict(t, doc, &spec)
	if c := spec.HealthChecks[2]; c.Type != CheckWorkloadsAvailable || c.RunAfter != RunAfterStage || c.Workloads.LabelSelector.MatchLabels["app"] != "web" {
		t.Fatalf("check %+v", c)
	}
	if c := spec.HealthChecks[5]; c.HTTP.ExpectedStatus != 204 {
		t.Fatalf("check %+v", c)
	}
	if w := spec.MaintenanceWindows[0]; w.StartTime != "22:00" || w.DurationMinutes != 240 || w.UTCOffset != "+01:00" {
		t.Fatalf("window %+v", w)
	}
	if f := spec.FreezeWindows[0]; f.From == nil || f.Until.Sub(f.From.Time).Hours() != 96 {
		t.Fatalf("freeze %+v", f)
	}
	out, err := json.Marshal(spec)
	if err != nil {
		t.Fatal(err)
	}
	var again UpdateStrategySpec
	decodeStrict(t, string(out), &again)
	if again.MemberUpgradeTimeoutSeconds != 3600 || len(again.HealthChecks) != 6 || again.FreezeWindows[1].DaysOfWeek[0] != "Friday" {
		t.Fatalf("round trip lost fields: %s", out)
	}
	if copied := spec.DeepCopy(); copied.HealthChecks[2].Workloads == spec.HealthChecks[2].Workloads {
		t.Fatal("DeepCopy shares a check's workload selector")
	}
}
