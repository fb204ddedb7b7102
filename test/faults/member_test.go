package faults

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	fleetv1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
)

// twoStageMembers: m-1 and m-2 upgrade one after the other in stage one,
// m-3 alone in stage two. A fault in stage one must never reach m-3.
var twoStageMembers = []string{"m-1", "m-2", "m-3"}

// twoStages is the strategy of the member faults. Its member upgrade
// timeout fails a member whose API server stays down after its upgrade
// command succeeded: without one, the hub waits for the member's API to
// report the target for as long as it takes (docs/upgrades.md).
const twoStages = `{"stages": [
  {"name": "one", "groups": [{"name": "a"}]},
  {"name": "two", "groups": [{"name": "b"}]}
], "memberUpgradeTimeoutSeconds": 25,
"healthChecks": [{"name": "nodes-ready", "type": "NodesReady", "settleSeconds": %d, "timeoutSeconds": 5}]}`

// canary is an object written on each member before a fault, to tell
// whether the member lost data through it.
const canary = "fault-canary"

func (f *fleet) writeCanaries(names ...string) {
	f.t.Helper()
	for _, m := range names {
		cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: canary, Namespace: "default"}, Data: map[string]string{"member": m}}
		if _, err := f.memberClient(m).CoreV1().ConfigMaps("default").Create(context.Background(), cm, metav1.CreateOptions{}); err != nil {
			f.t.Fatalf("writing the canary on %s: %v", m, err)
		}
	}
}

// lostCanaries lists the members whose canary is gone or changed.
func (f *fleet) lostCanaries(names ...string) []string {
	f.t.Helper()
	var lost []string
	for _, m := range names {
		cm, err := f.memberClient(m).CoreV1().ConfigMaps("default").Get(context.Background(), canary, metav1.GetOptions{})
		if err != nil || cm.Data["member"] != m {
			lost = append(lost, fmt.Sprintf("%s's canary (%v)", m, err))
		}
	}
	return lost
}

func lostText(lost []string) string {
	if len(lost) == 0 {
		return "nothing"
	}
	return strings.Join(lost, ", ")
}

// memberAPIServerPoint is where in a run a member's API server is killed.
type memberAPIServerPoint struct {
	name string
	// victim is the member whose API server is killed.
	victim string
	settle int
	// reached reports whether the run is at the point.
	reached func(f *fleet, startPID int) bool
	short   bool
	// wantCompleted are the members the run still completes (upgrades in
	// flight finish); the victim fails; every other member is untouched.
	wantCompleted []string
}

var memberAPIServerPoints = []memberAPIServerPoint{
	{
		name: "during its upgrade (the new kube-apiserver starting)", victim: "m-1", short: true,
		// The upgrade has stopped the old server and started the new one.
		reached: func(f *fleet, startPID int) bool {
			return strings.Contains(f.upgradeOutput("fault", "m-1"), "restarting kube-apiserver") &&
				f.memberCluster("m-1").State().APIServer.PID != startPID
		},
	},
	{
		name: "after its upgrade, before its checks", victim: "m-1", settle: 3,
		reached: func(f *fleet, _ int) bool {
			ops := f.upgradeOps("fault", "m-1")
			return len(ops) > 0 && ops[0].exitCode == 0
		},
	},
	{
		name: "during another member's upgrade in its group (m-1's)", victim: "m-2", short: true,
		wantCompleted: []string{"m-1"},
		reached: func(f *fleet, _ int) bool {
			return strings.Contains(f.upgradeOutput("fault", "m-1"), "restarting kube-apiserver")
		},
	},
}

// TestMemberAPIServerKilled SIGKILLs a member's kube-apiserver at points of
// a two-stage run, and keeps it down (an upgrade would otherwise restart
// it): the member fails, the run fails fast (upgrades in flight
// finish, nothing new starts, stage two is never touched); with the server
// back, starting the run again finishes it without upgrading anyone twice,
// and no member lost data.
func TestMemberAPIServerKilled(t *testing.T) {
	concurrentInShortForm(t)
	for _, point := range memberAPIServerPoints {
		if !point.short && !full() {
			continue
		}
		t.Run(point.name, func(t *testing.T) { memberAPIServerKilledAt(t, point) })
	}
}

func memberAPIServerKilledAt(t *testing.T, point memberAPIServerPoint) {
	row := &result{scenario: "member API server SIGKILLed, kept down", injected: point.name + ", " + point.victim}
	record(t, row)
	f := upFleet(t, members(false, "m-1:a", "m-2:a", "m-3:b"))
	f.writeCanaries(twoStageMembers...)
	startPID := f.memberCluster("m-1").State().APIServer.PID
	f.startRun("fault", fmt.Sprintf(twoStages, point.settle))

	f.waitRun("fault", 2*time.Minute, point.name, func(fleetv1.UpdateRun) bool { return point.reached(f, startPID) })
	// Killed, and killed again whenever something restarts it (the
	// upgrade does), until the operator recovers it.
	revive := keepDown(t, f.layout.MemberDir(point.victim), "kube-apiserver")
	fault := time.Now()
	run := f.waitFinished("fault", 2*time.Minute)
	others := slices.DeleteFunc(slices.Clone(twoStageMembers), func(m string) bool { return m == point.victim })
	touched := f.touchedAfter("fault", fault, others...)
	row.touched = touchedText(touched)

	victim := run.Status.MemberProgress(point.victim)
	row.outcome = fmt.Sprintf("run %s; %s %s (%s)", run.Status.State, point.victim, victim.State, reason(victim))
	if run.Status.State != fleetv1.StateFailed || victim.State != fleetv1.StateFailed {
		t.Fatalf("run %s, %s %s (%s); want both Failed", run.Status.State, point.victim, victim.State, victim.Message)
	}
	t.Logf("%s failed: %s", point.victim, victim.Message)
	for _, m := range others {
		p := run.Status.MemberProgress(m)
		if slices.Contains(point.wantCompleted, m) {
			if p.State != fleetv1.StateCompleted {
				t.Errorf("%s, in flight at the fault, is %s, want Completed", m, p.State)
			}
			continue
		}
		if p.State != fleetv1.StateNotStarted || len(f.upgradeOps("fault", m)) != 0 {
			t.Errorf("%s is %s with %d upgrade(s): the run went on past the failure", m, p.State, len(f.upgradeOps("fault", m)))
		}
	}
	if len(touched) != 0 {
		t.Errorf("members touched after the fault: %v, want none", touched)
	}

	// Recovery: the operator brings the server back and starts the run again.
	recovery := time.Now()
	revive()
	if err := f.memberCluster(point.victim).RestartAPIServer(t.Context(), ""); err != nil {
		t.Fatal(err)
	}
	f.resumeRun("fault")
	run = f.waitFinished("fault", 3*time.Minute)
	if run.Status.State != fleetv1.StateCompleted {
		t.Fatalf("after recovery the run is %s: %s", run.Status.State, summaryLine(run))
	}
	row.recovered = sinceText(time.Since(recovery)) + " (server restarted, run started again → Completed)"
	for _, m := range twoStageMembers {
		if v := f.memberVersion(m); v != "v1.37.2" {
			t.Errorf("%s is on %q after the run, want v1.37.2", m, v)
		}
	}
	if n, why := f.duplicateUpgrades("fault", twoStageMembers...); n != 0 {
		t.Errorf("%d duplicate upgrade(s): %s", n, why)
	}
	lost := f.lostCanaries(twoStageMembers...)
	row.lost = lostText(lost)
	if len(lost) != 0 {
		t.Errorf("lost: %v", lost)
	}
}
