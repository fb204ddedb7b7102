package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	fleetv1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
)

// seedFleet is the operator's three stages in small: dev, canaries in two
// regions, and a member already on the target.
const seedFleet = `
hub: {kubernetesVersion: "1.37"}
members:
- name: dev-1
  kubernetesVersion: "1.36"
  labels: {env: dev}
  updateGroup: group-dev-clusters
- name: dev-2
  kubernetesVersion: "1.37"
  nodeImage: flotilla-node-v1.37.2-202612.1
  labels: {env: dev}
  updateGroup: group-dev-clusters
- name: canary-eu
  kubernetesVersion: "1.36"
  labels: {env: prod, region: westeurope}
  updateGroup: group-prod-canary-eu
- name: canary-us
  kubernetesVersion: "1.36"
  labels: {env: prod, region: eastus}
  updateGroup: group-prod-canary-us
`

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestStagedUpgrade runs a Full upgrade through two stages with an
// after-stage wait, an approval gate and the operator's validation script as
// a stage check, and checks order, waits, skips and the end state.
func TestStagedUpgrade(t *testing.T) {
	f := upFleet(t, seedFleet)
	f.waitHealthy("dev-1", "dev-2", "canary-eu", "canary-us")

	script := filepath.Join(repoRoot, "examples", "validate-stage.sh")
	strategy := writeFile(t, "strategy.yaml", `
apiVersion: fleet.flotilla.dev/v1alpha1
kind: UpdateStrategy
metadata: {name: staged}
spec:
  stages:
  - {name: stage-internal, groups: [{name: group-dev-clusters}], afterStageWaitInSeconds: 4}
  - name: stage-canary-prod
    groups: [{name: group-prod-canary-eu}, {name: group-prod-canary-us}]
    beforeGates: [{type: Approval, displayName: "dev looks good"}]
  healthChecks:
  - {name: nodes, type: NodesReady, timeoutSeconds: 30}
  - {name: seed-script, type: Command, runAfter: Stage, command: [`+script+`], timeoutSeconds: 60}
`)
	// Azure's stages plus Flotilla's health checks, one strategy spec.
	f.must("updatestrategy", "create", "-n", "staged", "--stages", "@"+strategy)

	plan := f.must("updaterun", "create", "-n", "k8s-1-37", "--upgrade-type", "Full", "--kubernetes-version", "1.37", "--update-strategy-name", "staged")
	for _, want := range []string{"dev-1                v1.36.3 → v1.37.2  Upgrade", "dev-2                v1.37.2 → v1.37.2  Skip", "then wait 4s", `before gate: Approval "dev looks good"`} {
		if !strings.Contains(plan, want) {
			t.Errorf("plan lacks %q:\n%s", want, plan)
		}
	}
	if st := f.getRun("k8s-1-37").Status.State; st != "" && st != fleetv1.StateNotStarted {
		t.Fatalf("a created run is %s before start", st)
	}
	f.must("updaterun", "start", "-n", "k8s-1-37")

	// The gate holds stage 2 until approved.
	gateName := f.waitPendingGate()
	run := f.getRun("k8s-1-37")
	if p := run.Status.MemberProgress("canary-eu"); p.State != fleetv1.StateNotStarted {
		t.Errorf("canary-eu is %s while the gate is pending", p.State)
	}
	if row := f.status()["canary-eu"]; row.Version != "v1.36.3" {
		t.Errorf("canary-eu upgraded before the gate opened: %s", row.Version)
	}
	time.Sleep(time.Second)
	f.must("gate", "approve", gateName)
	f.must("updaterun", "wait", "-n", "k8s-1-37", "--timeout", "3m")

	run = f.getRun("k8s-1-37")
	if run.Status.State != fleetv1.StateCompleted {
		t.Fatalf("run %s: %s", run.Status.State, run.Status.Message)
	}
	if p := run.Status.MemberProgress("dev-2"); p.State != fleetv1.StateSkipped {
		t.Errorf("dev-2, already on the target, is %s, want Skipped", p.State)
	}
	internal, canary := stageProgress(run, "stage-internal"), stageProgress(run, "stage-canary-prod")
	wait := internal.AfterStageWait
	if wait == nil || wait.StartTime == nil || wait.CompletedTime == nil || wait.CompletedTime.Sub(wait.StartTime.Time) < 4*time.Second {
		t.Errorf("after-stage wait not honoured: %+v", wait)
	}
	if canary.StartTime == nil || internal.CompletedTime == nil || canary.StartTime.Before(internal.CompletedTime) || canary.StartTime.Before(wait.CompletedTime) {
		t.Errorf("stage 2 started %v, before stage 1 and its wait ended (%v, %v)", canary.StartTime, internal.CompletedTime, wait.CompletedTime)
	}
	f.eventually(20*time.Second, "every member on v1.37.2", func() (bool, string) {
		for name, row := range f.status() {
			if row.Version != "v1.37.2" || row.Health != "Healthy" {
				return false, fmt.Sprintf("%s: %s %s", name, row.Version, row.Health)
			}
		}
		return true, ""
	})
	for _, m := range []string{"dev-1", "canary-eu", "canary-us"} {
		if n := f.upgradeAttempts("k8s-1-37", m); n != 1 {
			t.Errorf("%s upgraded %d times, want once", m, n)
		}
	}
	// Illegal transitions are refused.
	if msg := f.mustFail("updaterun", "start", "-n", "k8s-1-37"); !strings.Contains(msg, "Completed") {
		t.Errorf("starting a Completed run: %s", msg)
	}
}

// TestFailingCheckStopsTheWave injects a bad node image into the first
// stage's member: its nodes stay NotReady, the NodesReady check fails it, and
// the run stops before the second stage touches anything. Skipping the
// failed member and starting again finishes the run without upgrading it twice.
func TestFailingCheckStopsTheWave(t *testing.T) {
	f := upFleet(t, `
hub: {kubernetesVersion: "1.37"}
members:
- {name: dev-1, kubernetesVersion: "1.36", updateGroup: dev}
- {name: prod-1, kubernetesVersion: "1.36", updateGroup: prod}
`)
	f.waitHealthy("dev-1", "prod-1")
	f.must("local", "fault", "--name", f.name, "--state-dir", f.stateDir, "--member", "dev-1", "--nodes-not-ready-after-upgrade")
	strategy := writeFile(t, "stages.json", `{"stages": [
	  {"name": "one", "groups": [{"name": "dev"}]},
	  {"name": "two", "groups": [{"name": "prod"}]}
	], "healthChecks": [{"name": "nodes-ready", "type": "NodesReady", "timeoutSeconds": 4}]}`)
	f.must("updaterun", "create", "-n", "bad-image", "--upgrade-type", "Full", "--kubernetes-version", "1.37.2", "--stages", "@"+strategy, "--start")
	_, errOut, err := f.run("updaterun", "wait", "-n", "bad-image", "--timeout", "2m")
	if err == nil || !strings.Contains(errOut, "Failed") {
		t.Fatalf("wait on a failing run: err=%v\n%s", err, errOut)
	}
	run := f.getRun("bad-image")
	dev := run.Status.MemberProgress("dev-1")
	if dev.State != fleetv1.StateFailed || !strings.Contains(dev.Message, "nodes-ready") {
		t.Errorf("dev-1: %s %q, want Failed by the nodes-ready check", dev.State, dev.Message)
	}
	if prod := run.Status.MemberProgress("prod-1"); prod.State != fleetv1.StateNotStarted {
		t.Errorf("prod-1 is %s: the wave spread past the failing stage", prod.State)
	}
	if row := f.status()["prod-1"]; row.Version != "v1.36.3" {
		t.Errorf("prod-1 was upgraded to %s", row.Version)
	}

	f.must("updaterun", "skip", "-n", "bad-image", "--targets", "Member:dev-1")
	f.must("updaterun", "start", "-n", "bad-image")
	f.must("updaterun", "wait", "-n", "bad-image", "--timeout", "2m")
	if n := f.upgradeAttempts("bad-image", "dev-1"); n != 1 {
		t.Errorf("dev-1 upgraded %d times, want once", n)
	}
	if n := f.upgradeAttempts("bad-image", "prod-1"); n != 1 {
		t.Errorf("prod-1 upgraded %d times, want once", n)
	}
}

// TestStopStartAndHubRestart stops a run mid-way and starts it again, then
// kills the hub mid-upgrade and starts another one: the run resumes where it
// was and no member is upgraded twice.
func TestStopStartAndHubRestart(t *testing.T) {
	f := upFleet(t, `
hub: {kubernetesVersion: "1.37"}
members:
- {name: m-1, kubernetesVersion: "1.36", updateGroup: all}
- {name: m-2, kubernetesVersion: "1.36", updateGroup: all}
- {name: m-3, kubernetesVersion: "1.36", updateGroup: all}
- {name: m-4, kubernetesVersion: "1.36", updateGroup: all}
`)
	f.waitHealthy("m-1", "m-2", "m-3", "m-4")
	f.must("updaterun", "create", "-n", "rolling", "--upgrade-type", "ControlPlaneOnly", "--kubernetes-version", "1.37",
		"--stages", `[{"name": "only", "groups": [{"name": "all"}]}]`, "--start")
	done := func(run fleetv1.UpdateRun) int {
		n := 0
		for _, m := range []string{"m-1", "m-2", "m-3", "m-4"} {
			if p := run.Status.MemberProgress(m); p.State == fleetv1.StateCompleted {
				n++
			}
		}
		return n
	}
	f.eventually(60*time.Second, "first member upgraded", func() (bool, string) {
		return done(f.getRun("rolling")) >= 1, ""
	})
	f.must("updaterun", "stop", "-n", "rolling")
	f.eventually(60*time.Second, "run Stopped", func() (bool, string) {
		run := f.getRun("rolling")
		return run.Status.State == fleetv1.StateStopped, string(run.Status.State)
	})
	stoppedAt := done(f.getRun("rolling"))
	time.Sleep(2 * time.Second)
	if now := done(f.getRun("rolling")); now != stoppedAt {
		t.Errorf("a Stopped run went on: %d → %d members done", stoppedAt, now)
	}
	f.must("updaterun", "start", "-n", "rolling")

	// Kill the hub while a member is being upgraded, then start a new one
	// with the same state directory.
	f.eventually(60*time.Second, "a member upgrading after the restart", func() (bool, string) {
		run := f.getRun("rolling")
		for _, m := range []string{"m-2", "m-3", "m-4"} {
			if p := run.Status.MemberProgress(m); p.State == fleetv1.StateRunning {
				return true, ""
			}
		}
		return false, string(run.Status.State)
	})
	hubPID := f.localStatus().HubManager.PID
	if err := syscall.Kill(hubPID, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	hub := exec.Command(flotilla, "hub", "--kubeconfig", f.dir("hub.kubeconfig"), "--state-dir", f.dir("hub-manager"),
		"--metrics-bind-address", "0", "--health-probe-bind-address", "0", "--allow-exec")
	hubLog, err := os.Create(filepath.Join(t.TempDir(), "hub.log"))
	if err != nil {
		t.Fatal(err)
	}
	hub.Stdout, hub.Stderr = hubLog, hubLog
	if err := hub.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = hub.Process.Kill()
		_ = hub.Wait()
	})
	f.must("updaterun", "wait", "-n", "rolling", "--timeout", "3m")
	for _, m := range []string{"m-1", "m-2", "m-3", "m-4"} {
		if n := f.upgradeAttempts("rolling", m); n != 1 {
			t.Errorf("%s upgraded %d times, want once", m, n)
		}
	}
}

// TestSkipTargets skips an after-stage wait, a stage (with its own wait)
// and a group beside one that runs, and checks that every skipped member is
// Skipped and untouched while the others are upgraded.
func TestSkipTargets(t *testing.T) {
	f := upFleet(t, `
hub: {kubernetesVersion: "1.37"}
members:
- {name: a-1, kubernetesVersion: "1.36", updateGroup: a}
- {name: b-1, kubernetesVersion: "1.36", updateGroup: b}
- {name: c-1, kubernetesVersion: "1.36", updateGroup: c}
- {name: d-1, kubernetesVersion: "1.36", updateGroup: d}
- {name: d-2, kubernetesVersion: "1.36", updateGroup: d}
`)
	members := []string{"a-1", "b-1", "c-1", "d-1", "d-2"}
	f.waitHealthy(members...)
	// Without the skips, s1's and s2's hour-long waits would hold the run
	// far beyond the wait below.
	f.must("updatestrategy", "create", "-n", "three", "--stages", `[
	  {"name": "s1", "groups": [{"name": "a"}], "afterStageWaitInSeconds": 3600},
	  {"name": "s2", "groups": [{"name": "b"}], "afterStageWaitInSeconds": 3600},
	  {"name": "s3", "groups": [{"name": "c"}, {"name": "d"}]}
	]`)
	f.must("updaterun", "create", "-n", "skippy", "--upgrade-type", "ControlPlaneOnly", "--kubernetes-version", "1.37.2", "--update-strategy-name", "three")
	if msg := f.mustFail("updaterun", "skip", "-n", "skippy", "--targets", "Stage:nope"); !strings.Contains(msg, "no stage named") {
		t.Errorf("skipping an unknown stage: %s", msg)
	}
	if msg := f.mustFail("updaterun", "skip", "-n", "skippy", "--targets", "Group:nope"); !strings.Contains(msg, "no group named") {
		t.Errorf("skipping an unknown group: %s", msg)
	}
	f.must("updaterun", "skip", "-n", "skippy", "--targets", "AfterStageWait:s1", "Stage:s2", "Group:d")
	f.must("updaterun", "start", "-n", "skippy")
	f.must("updaterun", "wait", "-n", "skippy", "--timeout", "2m")

	run := f.getRun("skippy")
	if run.Status.State != fleetv1.StateCompleted {
		t.Errorf("run is %s, want Completed", run.Status.State)
	}
	if w := stageProgress(run, "s1").AfterStageWait; w == nil || w.State != fleetv1.StateSkipped {
		t.Errorf("s1's wait: %+v, want Skipped", w)
	}
	if st := stageProgress(run, "s2"); st.State != fleetv1.StateSkipped {
		t.Errorf("stage s2 is %s, want Skipped", st.State)
	}
	if g := groupProgress(run, "s3", "d"); g.State != fleetv1.StateSkipped || len(g.Members) != 2 {
		t.Errorf("group d is %s with %d members, want Skipped with 2", g.State, len(g.Members))
	}
	if g := groupProgress(run, "s3", "c"); g.State != fleetv1.StateCompleted {
		t.Errorf("group c, beside the skipped group d, is %s, want Completed", g.State)
	}
	upgraded := map[string]bool{"a-1": true, "c-1": true}
	for _, m := range members {
		want, wantAttempts := fleetv1.StateSkipped, 0
		if upgraded[m] {
			want, wantAttempts = fleetv1.StateCompleted, 1
		}
		if p := run.Status.MemberProgress(m); p.State != want {
			t.Errorf("%s is %s, want %s", m, p.State, want)
		}
		if n := f.upgradeAttempts("skippy", m); n != wantAttempts {
			t.Errorf("%s upgraded %d times, want %d", m, n, wantAttempts)
		}
	}
	f.eventually(20*time.Second, "a-1 and c-1 on v1.37.2, the skipped members still on v1.36.3", func() (bool, string) {
		st := f.status()
		for _, m := range members {
			want := "v1.36.3"
			if upgraded[m] {
				want = "v1.37.2"
			}
			if st[m].Version != want {
				return false, fmt.Sprintf("%s on %q, want %s; all: %v", m, st[m].Version, want, st)
			}
		}
		return true, ""
	})
}

func groupProgress(run fleetv1.UpdateRun, stage, group string) fleetv1.GroupProgress {
	for _, g := range stageProgress(run, stage).Groups {
		if g.Name == group {
			return g
		}
	}
	return fleetv1.GroupProgress{}
}
