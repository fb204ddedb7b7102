package faults

import (
	"context"
	"fmt"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	"sigs.k8s.io/controller-runtime/pkg/client"

	fleetv1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/internal/testenv"
)

// memberHealth is a member's Healthy condition on the hub: status and reason.
func (f *fleet) memberHealth(name string) string {
	var mc fleetv1.MemberCluster
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := f.hub.Get(ctx, client.ObjectKey{Name: name}, &mc); err != nil {
		return "unknown: " + err.Error()
	}
	c := meta.FindStatusCondition(mc.Status.Conditions, fleetv1.MemberHealthy)
	if c == nil {
		return "unknown"
	}
	if c.Status == "True" {
		return "Healthy"
	}
	return "not Healthy (" + c.Reason + ")"
}

// TestMemberEtcdStopped stops a member's etcd under its running API server.
// On an idle fleet the hub reports the member not Healthy and the others
// Healthy, and the member is Healthy again once etcd is back. During a run,
// the member's checks fail it and the run stops before stage two; with
// etcd back, starting the run again finishes it. Nothing written before
// the outage is lost.
func TestMemberEtcdStopped(t *testing.T) {
	concurrentInShortForm(t)
	t.Run("idle fleet", etcdStoppedIdle)
	if full() {
		t.Run("after its upgrade, during its checks", etcdStoppedDuringChecks)
	}
}

func etcdStoppedIdle(t *testing.T) {
	outage := pick(30*time.Second, 5*time.Second)
	row := &result{scenario: "member etcd stopped under its API server", injected: fmt.Sprintf("idle fleet, m-1, for %s", outage)}
	record(t, row)
	names := []string{"m-1", "m-2"}
	f := upFleet(t, members(false, "m-1:a", "m-2:b"))
	f.writeCanaries(names...)
	testenv.Eventually(t, time.Minute, "members Healthy", func() error {
		for _, m := range names {
			if h := f.memberHealth(m); h != "Healthy" {
				return fmt.Errorf("%s: %s", m, h)
			}
		}
		return nil
	})
	c := f.memberCluster("m-1")
	if err := c.StopEtcd(); err != nil {
		t.Fatal(err)
	}
	stopped := time.Now()
	seen := testenv.Eventually(t, time.Minute, "m-1 not Healthy", func() error {
		if h := f.memberHealth("m-1"); h == "Healthy" {
			return fmt.Errorf("m-1 still %s", h)
		}
		return nil
	})
	health := f.memberHealth("m-1")
	if h := f.memberHealth("m-2"); h != "Healthy" {
		t.Errorf("m-2, whose etcd runs, is %s", h)
	}
	time.Sleep(time.Until(stopped.Add(outage)))
	back := time.Now()
	if err := c.StartEtcd(t.Context()); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, time.Minute, "m-1 Healthy again", func() error {
		if h := f.memberHealth("m-1"); h != "Healthy" {
			return fmt.Errorf("m-1: %s", h)
		}
		return nil
	})
	row.outcome = fmt.Sprintf("m-1 %s %s after the stop; m-2 Healthy throughout", health, sinceText(seen))
	row.touched = "none"
	row.recovered = sinceText(time.Since(back)) + " (etcd restarted → m-1 Healthy)"
	lost := f.lostCanaries(names...)
	row.lost = lostText(lost)
	if len(lost) != 0 {
		t.Errorf("lost: %v", lost)
	}
}

func etcdStoppedDuringChecks(t *testing.T) {
	row := &result{scenario: "member etcd stopped under its API server", injected: "after m-1's upgrade, during its checks"}
	record(t, row)
	f := upFleet(t, members(false, "m-1:a", "m-2:b"))
	names := []string{"m-1", "m-2"}
	f.writeCanaries(names...)
	f.startRun("fault", gateStages)
	f.waitRun("fault", 2*time.Minute, "m-1's upgrade command done", func(fleetv1.UpdateRun) bool {
		ops := f.upgradeOps("fault", "m-1")
		return len(ops) > 0 && ops[0].exitCode == 0
	})
	c := f.memberCluster("m-1")
	if err := c.StopEtcd(); err != nil {
		t.Fatal(err)
	}
	stopped := time.Now()
	run := f.waitFinished("fault", 3*time.Minute)
	touched := f.touchedAfter("fault", stopped, "m-2")
	m1 := run.Status.MemberProgress("m-1")
	row.outcome = fmt.Sprintf("run %s; m-1 %s (%s)", run.Status.State, m1.State, reason(m1))
	row.touched = touchedText(touched)
	if run.Status.State != fleetv1.StateFailed || m1.State != fleetv1.StateFailed {
		t.Fatalf("run %s, m-1 %s (%s); want both Failed", run.Status.State, m1.State, m1.Message)
	}
	t.Logf("m-1 failed: %s", m1.Message)
	if len(touched) != 0 || run.Status.MemberProgress("m-2").State != fleetv1.StateNotStarted {
		t.Errorf("m-2 touched after the fault: %v", touched)
	}
	recovery := time.Now()
	if err := c.StartEtcd(t.Context()); err != nil {
		t.Fatal(err)
	}
	f.resumeRun("fault")
	run = f.waitFinished("fault", 3*time.Minute)
	if run.Status.State != fleetv1.StateCompleted {
		t.Fatalf("after etcd came back the run is %s: %s", run.Status.State, summaryLine(run))
	}
	row.recovered = sinceText(time.Since(recovery)) + " (etcd back, run started again → Completed)"
	if n := len(f.upgradeOps("fault", "m-1")); n != 1 {
		t.Errorf("m-1 upgraded %d times, want once", n)
	}
	lost := f.lostCanaries(names...)
	row.lost = lostText(lost)
	if len(lost) != 0 {
		t.Errorf("lost: %v", lost)
	}
}
