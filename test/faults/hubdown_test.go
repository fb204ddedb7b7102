package faults

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	placementv1 "github.com/flotilla-dev/flotilla/api/placement/v1"
	fleetv1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/internal/testenv"
)

// placed is what the suite's placement puts on every member.
const placed = `apiVersion: v1
kind: Namespace
metadata: {name: fault-placed}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: settings, namespace: fault-placed}
data: {level: "1"}
---
apiVersion: placement.kubernetes-fleet.io/v1
kind: ClusterResourcePlacement
metadata: {name: fault-placed}
spec:
  resourceSelectors: [{group: "", version: v1, kind: Namespace, name: fault-placed}]
  policy:
    placementType: PickAll
    affinity:
      clusterAffinity:
        requiredDuringSchedulingIgnoredDuringExecution:
          clusterSelectorTerms: [{labelSelector: {matchLabels: {fault-suite: "yes"}}}]
`

// placeSettings applies the placement and waits until every member holds
// its ConfigMap and the placement says so.
func (f *fleet) placeSettings(names ...string) {
	f.t.Helper()
	path := filepath.Join(f.t.TempDir(), "placed.yaml")
	if err := os.WriteFile(path, []byte(placed), 0o644); err != nil {
		f.t.Fatal(err)
	}
	f.must("apply", "-f", path)
	testenv.Eventually(f.t, 90*time.Second, "the placement applied on every member", func() error {
		if err := f.settingsMissing(names...); err != nil {
			return err
		}
		var crp placementv1.ClusterResourcePlacement
		if err := f.hub.Get(context.Background(), client.ObjectKey{Name: "fault-placed"}, &crp); err != nil {
			return err
		}
		if c := meta.FindStatusCondition(crp.Status.Conditions, placementv1.ClusterResourcePlacementAppliedConditionType); c == nil || c.Status != metav1.ConditionTrue || c.ObservedGeneration != crp.Generation {
			return fmt.Errorf("placement not Applied: %+v", c)
		}
		return nil
	})
}

// settingsMissing says which member lacks the placed ConfigMap, or holds
// it with other data.
func (f *fleet) settingsMissing(names ...string) error {
	for _, m := range names {
		cm, err := f.memberClient(m).CoreV1().ConfigMaps("fault-placed").Get(context.Background(), "settings", metav1.GetOptions{})
		if err != nil {
			return fmt.Errorf("%s: %w", m, err)
		}
		if cm.Data["level"] != "1" {
			return fmt.Errorf("%s: level %q", m, cm.Data["level"])
		}
	}
	return nil
}

// drift changes the placed ConfigMap on a member by hand and returns how
// long the member's agent took to put it back.
func (f *fleet) drift(member string, n int) time.Duration {
	f.t.Helper()
	cs := f.memberClient(member)
	patch := fmt.Sprintf(`{"data":{"level":"drift-%d"}}`, n)
	// Retried: the member's API server may be restarting for its upgrade.
	testenv.Eventually(f.t, 30*time.Second, "drifting "+member, func() error {
		_, err := cs.CoreV1().ConfigMaps("fault-placed").Patch(context.Background(), "settings", types.MergePatchType, []byte(patch), metav1.PatchOptions{})
		return err
	})
	return testenv.Eventually(f.t, 30*time.Second, member+": drift reverted", func() error { return f.settingsMissing(member) })
}

// driftStats collects drift reverts.
type driftStats struct {
	n   int
	max time.Duration
}

func (d *driftStats) add(took time.Duration) {
	d.n++
	d.max = max(d.max, took)
}

func (d driftStats) String() string {
	return fmt.Sprintf("%d of %d drifts reverted, slowest in %.2f s", d.n, d.n, d.max.Seconds())
}

// TestHubAPIServerDown stops the hub's kube-apiserver while a member is
// being upgraded and a placement is in force, for 2 minutes in full mode.
// While it is down, members' placed objects are changed by hand every few
// seconds and their agents revert each change; halfway through, one agent
// is SIGKILLed and started again, and enforces from its state directory
// alone. When the hub is back, the run completes with no member upgraded
// twice, the placement is still Applied everywhere and nothing is missing.
func TestHubAPIServerDown(t *testing.T) {
	concurrentInShortForm(t)
	outage := pick(2*time.Minute, 15*time.Second)
	outageText := fmt.Sprintf("for %s", outage)
	if !full() {
		outageText += " (2 min in full mode)"
	}
	runRow := &result{scenario: "hub API server down", injected: outageText + ", during a run (m-1 upgrading)"}
	placementRow := &result{scenario: "hub API server down", injected: outageText + ", placement in force, drift made on a member every 3 s"}
	agentRow := &result{scenario: "agent SIGKILLed and restarted while its hub is down", injected: "halfway through the hub outage, m-2's agent"}
	record(t, agentRow)
	record(t, placementRow)
	record(t, runRow)
	names := []string{"m-1", "m-2"}
	f := upFleet(t, members(true, "m-1:a", "m-2:a"))
	f.placeSettings(names...)
	f.writeCanaries(names...)
	f.startRun("fault", `{"stages": [{"name": "one", "groups": [{"name": "a"}]}],
	  "healthChecks": [{"name": "nodes-ready", "type": "NodesReady", "timeoutSeconds": 30}]}`)
	f.waitRun("fault", 2*time.Minute, "m-1 upgrading", func(fleetv1.UpdateRun) bool {
		return strings.Contains(f.upgradeOutput("fault", "m-1"), "restarting kube-apiserver")
	})

	hub := f.hubCluster()
	if err := hub.StopAPIServer(); err != nil {
		t.Fatal(err)
	}
	down := time.Now()
	var before, after driftStats
	agentRestarted := false
	for i := 0; time.Since(down) < outage; i++ {
		member := names[i%2]
		if !agentRestarted && time.Since(down) > outage/2 {
			agent := f.agent("m-2")
			agent.kill(t)
			f.restart(agent)
			agentRestarted = true
			t.Logf("m-2's agent SIGKILLed and started again %s into the outage", time.Since(down).Round(time.Second))
		}
		took := f.drift(member, i)
		if member == "m-2" && agentRestarted {
			after.add(took)
		} else {
			before.add(took)
		}
		// Nothing goes missing (m-1's API server may be restarting).
		testenv.Eventually(t, 30*time.Second, "the placed objects on every member with the hub down", func() error {
			return f.settingsMissing(names...)
		})
		time.Sleep(3 * time.Second)
	}
	if f.run("fault").Name != "" {
		t.Fatal("the hub still answers: the outage did not happen")
	}
	if err := hub.RestartAPIServer(t.Context(), ""); err != nil {
		t.Fatal(err)
	}
	back := time.Now() // the hub's API server is ready again
	t.Logf("hub API server down for %s", back.Sub(down).Round(time.Second))

	// The agents sync with the hub again: heartbeats and the placement's status.
	testenv.Eventually(t, time.Minute, "agents heartbeating to the hub again", func() error {
		for _, m := range names {
			var mc fleetv1.MemberCluster
			if err := f.hub.Get(context.Background(), client.ObjectKey{Name: m}, &mc); err != nil {
				return err
			}
			if hb := mc.Status.AgentLastHeartbeatTime; hb == nil || hb.Time.Before(back) {
				return fmt.Errorf("%s: last agent heartbeat %v", m, hb)
			}
		}
		return nil
	})
	resynced := time.Since(back)
	run := f.waitFinished("fault", 3*time.Minute)
	runRow.outcome = "run " + string(run.Status.State)
	runRow.recovered = sinceText(time.Since(back)) + " (hub back → run Completed)"
	runRow.touched = touchedText(f.touchedAfter("fault", down, names...)) + " (the run goes on, as it should)"
	if run.Status.State != fleetv1.StateCompleted {
		t.Errorf("after the outage the run is %s: %s", run.Status.State, summaryLine(run))
	}
	dups, why := f.duplicateUpgrades("fault", names...)
	if dups != 0 {
		t.Errorf("%d duplicate upgrade(s): %s", dups, why)
	}
	for _, m := range names {
		if n := len(f.upgradeOps("fault", m)); n != 1 {
			t.Errorf("%s: %d upgrade operations, want 1", m, n)
		}
	}
	lost := f.lostCanaries(names...)
	if err := f.settingsMissing(names...); err != nil {
		lost = append(lost, err.Error())
	}
	runRow.lost = fmt.Sprintf("%s; %d duplicate upgrades", lostText(lost), dups)
	if len(lost) != 0 {
		t.Errorf("lost: %v", lost)
	}

	f.placeSettings(names...)
	placementRow.outcome = "converged: " + before.String() + " while the hub was down"
	placementRow.touched = "m-1, m-2 (drift reverted on both)"
	placementRow.recovered = sinceText(resynced) + " (hub back → agents heartbeating again), placement Applied"
	placementRow.lost = lostText(lost)
	agentRow.outcome = "kept enforcing from its state dir: " + after.String()
	agentRow.touched = "m-2 (drift reverted)"
	agentRow.recovered = fmt.Sprintf("each drift after the restart reverted within %.2f s", after.max.Seconds())
	agentRow.lost = lostText(lost)
	if after.n == 0 {
		t.Error("no drift was made after the agent's restart")
	}
}
