package faults

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	fleetv1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
)

// gateStages checks every member's nodes and pods a few seconds after its
// upgrade: the window in which the faults below strike. Its upgrade timeout
// fails a member whose API stops answering before the hub has read its
// new version (see twoStages).
const gateStages = `{"stages": [
  {"name": "one", "groups": [{"name": "a"}]},
  {"name": "two", "groups": [{"name": "b"}]}
], "memberUpgradeTimeoutSeconds": 25,
"healthChecks": [
  {"name": "nodes-ready", "type": "NodesReady", "settleSeconds": 3, "timeoutSeconds": 5},
  {"name": "no-failed-pods", "type": "NoFailedPods", "settleSeconds": 3, "timeoutSeconds": 5}
]}`

// gateFault is a member going bad right after its upgrade.
type gateFault struct {
	name string
	// before runs before the run starts; nil for none.
	before func(f *fleet)
	// inject runs once m-1's upgrade command succeeded.
	inject func(f *fleet)
	// failingCheck is the check that must fail m-1.
	failingCheck string
	// repair undoes the fault, as the operator would.
	repair func(f *fleet)
	short  bool
}

var gateFaults = []gateFault{
	{
		name: "nodes NotReady after the upgrade (bad node image, `flotilla local fault`)", short: true,
		before: func(f *fleet) {
			f.must("local", "fault", "--name", f.layout.Name, "--state-dir", f.layout.StateDir, "--member", "m-1", "--nodes-not-ready-after-upgrade")
		},
		failingCheck: "nodes-ready",
		repair: func(f *fleet) {
			f.must("local", "fault", "--name", f.layout.Name, "--state-dir", f.layout.StateDir, "--member", "m-1", "--clear")
			f.setNodesReady("m-1", true)
		},
	},
	{
		name: "nodes NotReady after the upgrade (kwok stopped, nodes marked NotReady)",
		inject: func(f *fleet) {
			f.stopKwok("m-1")
			f.setNodesReady("m-1", false)
		},
		failingCheck: "nodes-ready",
		repair:       func(f *fleet) { f.setNodesReady("m-1", true) },
	},
	{
		name:         "a pod Failed after the upgrade",
		inject:       func(f *fleet) { f.failAPod("m-1") },
		failingCheck: "no-failed-pods",
		repair: func(f *fleet) {
			if err := f.memberClient("m-1").CoreV1().Pods("default").Delete(context.Background(), "crashed", metav1.DeleteOptions{}); err != nil {
				f.t.Fatal(err)
			}
		},
	},
}

// TestFailingGateStopsTheRun makes m-1 go bad right after its upgrade: the
// check that sees it fails m-1, and the run stops there, before stage two.
// Once the operator repairs m-1, starting the run again re-runs only m-1's
// checks (it is not upgraded twice) and finishes the run.
func TestFailingGateStopsTheRun(t *testing.T) {
	concurrentInShortForm(t)
	for _, fault := range gateFaults {
		if !fault.short && !full() {
			continue
		}
		t.Run(fault.name, func(t *testing.T) { failingGate(t, fault) })
	}
}

func failingGate(t *testing.T, fault gateFault) {
	row := &result{scenario: "member goes bad after its upgrade", injected: fault.name + ", m-1"}
	record(t, row)
	f := upFleet(t, members(false, "m-1:a", "m-2:b"))
	if fault.before != nil {
		fault.before(f)
	}
	f.startRun("fault", gateStages)
	f.waitRun("fault", 2*time.Minute, "m-1's upgrade command done", func(fleetv1.UpdateRun) bool {
		ops := f.upgradeOps("fault", "m-1")
		return len(ops) > 0 && ops[0].exitCode == 0
	})
	if fault.inject != nil {
		fault.inject(f)
	}
	fault0 := time.Now()
	run := f.waitFinished("fault", 2*time.Minute)
	touched := f.touchedAfter("fault", fault0, "m-2")
	row.touched = touchedText(touched)
	m1 := run.Status.MemberProgress("m-1")
	row.outcome = fmt.Sprintf("run %s; m-1 %s by %s", run.Status.State, m1.State, fault.failingCheck)
	if run.Status.State != fleetv1.StateFailed || m1.State != fleetv1.StateFailed || !strings.Contains(m1.Message, fault.failingCheck) {
		t.Fatalf("run %s, m-1 %s (%s); want both Failed by %s", run.Status.State, m1.State, m1.Message, fault.failingCheck)
	}
	if p := run.Status.MemberProgress("m-2"); p.State != fleetv1.StateNotStarted || len(touched) != 0 {
		t.Errorf("m-2 is %s, touched after the fault: %v; the run went past the failing gate", p.State, touched)
	}

	recovery := time.Now()
	fault.repair(f)
	f.resumeRun("fault")
	run = f.waitFinished("fault", 2*time.Minute)
	if run.Status.State != fleetv1.StateCompleted {
		t.Fatalf("after the repair the run is %s: %s", run.Status.State, summaryLine(run))
	}
	row.recovered = sinceText(time.Since(recovery)) + " (repaired, run started again → Completed)"
	if n := len(f.upgradeOps("fault", "m-1")); n != 1 {
		t.Errorf("m-1 upgraded %d times, want once (only its checks run again)", n)
	}
	if n, why := f.duplicateUpgrades("fault", "m-1", "m-2"); n != 0 {
		t.Errorf("%d duplicate upgrade(s): %s", n, why)
	}
	row.lost = "nothing"
}

// setNodesReady sets every node's Ready condition and schedulability, as
// a node that went bad or came back would.
func (f *fleet) setNodesReady(member string, ready bool) {
	f.t.Helper()
	cs := f.memberClient(member)
	ctx := context.Background()
	nodes, err := cs.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	if err != nil {
		f.t.Fatal(err)
	}
	status, reason := corev1.ConditionTrue, "KubeletReady"
	if !ready {
		status, reason = corev1.ConditionFalse, "KubeletNotReady"
	}
	for _, n := range nodes.Items {
		cond := corev1.NodeCondition{Type: corev1.NodeReady, Status: status, Reason: reason, Message: "set by the fault suite",
			LastHeartbeatTime: metav1.Now(), LastTransitionTime: metav1.Now()}
		patch, _ := json.Marshal(map[string]any{"status": map[string]any{"conditions": []corev1.NodeCondition{cond}}})
		if _, err := cs.CoreV1().Nodes().Patch(ctx, n.Name, types.StrategicMergePatchType, patch, metav1.PatchOptions{}, "status"); err != nil {
			f.t.Fatal(err)
		}
		if ready {
			if _, err := cs.CoreV1().Nodes().Patch(ctx, n.Name, types.StrategicMergePatchType, []byte(`{"spec":{"unschedulable":false}}`), metav1.PatchOptions{}); err != nil {
				f.t.Fatal(err)
			}
		}
	}
}

// stopKwok stops the member's simulated kubelets: nothing heals its nodes.
func (f *fleet) stopKwok(member string) {
	f.t.Helper()
	kwok := f.memberCluster(member).State().Kwok
	if kwok == nil {
		f.t.Fatalf("%s runs no kwok", member)
	}
	if err := kwok.Stop(10 * time.Second); err != nil {
		f.t.Fatal(err)
	}
}

// failAPod creates a pod no kubelet runs and marks it Failed, as a crashed
// workload's pod is.
func (f *fleet) failAPod(member string) {
	f.t.Helper()
	cs := f.memberClient(member)
	ctx := context.Background()
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "crashed", Namespace: "default"},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "app:broken"}}},
	}
	if _, err := cs.CoreV1().Pods("default").Create(ctx, pod, metav1.CreateOptions{}); err != nil {
		f.t.Fatal(err)
	}
	patch := []byte(`{"status":{"phase":"Failed","reason":"Error","message":"set by the fault suite"}}`)
	if _, err := cs.CoreV1().Pods("default").Patch(ctx, "crashed", types.StrategicMergePatchType, patch, metav1.PatchOptions{}, "status"); err != nil {
		f.t.Fatal(err)
	}
}
