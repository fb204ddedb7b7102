package rollout

import (
	"slices"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/util/intstr"

	fleetv1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
)

func TestFailFastLetsUpgradesInFlightFinish(t *testing.T) {
	spec := strategyOf(stage("one", group("a"), group("b")), stage("two", group("c")))
	members := concat(fleetOf("a", 3), fleetOf("b", 3), fleetOf("c", 1))
	for _, m := range members {
		m.upgradeTakes = 10 * time.Minute
	}
	members[0].failUpgrade = "boom"            // a-00 fails at 10 min
	members[3].upgradeTakes = 20 * time.Minute // b-00 is still upgrading then
	s := newSim(t, spec, members...)
	s.step()
	s.in.Now = t0.Add(10 * time.Minute)
	r := s.step()
	if len(r.Actions.StartUpgrades) != 0 {
		t.Fatalf("started %v after a failure", startedNames(r))
	}
	if r.Status.State != fleetv1.StateStopping || !strings.Contains(r.Status.Message, "member a-00 failed: upgrade failed: boom") {
		t.Fatalf("run %s %q, want Stopping because of a-00", r.Status.State, r.Status.Message)
	}
	if g := groupState(r.Status, "a"); g.State != fleetv1.StateFailed {
		t.Fatalf("group a %s, want Failed", g.State)
	}
	if g := groupState(r.Status, "b"); g.State != fleetv1.StateStopping {
		t.Fatalf("group b %s, want Stopping while b-00 finishes", g.State)
	}
	s.in.Now = t0.Add(20 * time.Minute)
	r = s.step()
	if r.Status.State != fleetv1.StateFailed || !strings.Contains(r.Status.Message, "a-00") || r.Status.CompletedTime == nil {
		t.Fatalf("run %s %q, want Failed", r.Status.State, r.Status.Message)
	}
	for name, want := range map[string]fleetv1.State{"a-00": fleetv1.StateFailed, "a-01": fleetv1.StateNotStarted, "b-00": fleetv1.StateCompleted, "b-01": fleetv1.StateNotStarted, "c-00": fleetv1.StateNotStarted} {
		if got := memberState(r.Status, name).State; got != want {
			t.Errorf("%s is %s, want %s", name, got, want)
		}
	}
	if g := groupState(r.Status, "b"); g.State != fleetv1.StateStopped {
		t.Errorf("group b %s, want Stopped", g.State)
	}
	if st := stageState(r.Status, "one"); st.State != fleetv1.StateFailed {
		t.Errorf("stage one %s, want Failed", st.State)
	}
	if st := stageState(r.Status, "two"); st.State != fleetv1.StateNotStarted || r.Status.CurrentStage != "one" {
		t.Errorf("stage two %s, current stage %q", st.State, r.Status.CurrentStage)
	}
}

func TestFailureBudgets(t *testing.T) {
	budgeted := func(name string, v *intstr.IntOrString) fleetv1.UpdateGroup {
		return fleetv1.UpdateGroup{Name: name, MaxAllowedFailures: v}
	}
	for _, tc := range []struct {
		name    string
		stage   fleetv1.UpdateStage
		failing []string
		want    fleetv1.State
	}{
		{"fail fast by default", stage("s", group("a"), group("b")), []string{"a-01"}, fleetv1.StateFailed},
		{"a group count tolerates that many", stage("s", budgeted("a", count(1)), group("b")), []string{"a-01"}, fleetv1.StateCompleted},
		{"one more fails the group", stage("s", budgeted("a", count(1)), group("b")), []string{"a-01", "a-02"}, fleetv1.StateFailed},
		{"a group percentage rounds up: 30% of 4 is 2", stage("s", budgeted("a", percent("30%")), group("b")), []string{"a-00", "a-03"}, fleetv1.StateCompleted},
		{"25% of 4 is 1", stage("s", budgeted("a", percent("25%")), group("b")), []string{"a-00", "a-03"}, fleetv1.StateFailed},
		{"a group budget does not cover other groups", stage("s", budgeted("a", count(4)), group("b")), []string{"b-00"}, fleetv1.StateFailed},
		{"a stage budget counts across groups", fleetv1.UpdateStage{Name: "s", MaxAllowedFailures: count(2), Groups: []fleetv1.UpdateGroup{group("a"), group("b")}}, []string{"a-00", "b-01"}, fleetv1.StateCompleted},
		{"a stage budget exceeded", fleetv1.UpdateStage{Name: "s", MaxAllowedFailures: count(1), Groups: []fleetv1.UpdateGroup{group("a"), group("b")}}, []string{"a-00", "b-01"}, fleetv1.StateFailed},
		{"a stage percentage: 25% of 8 is 2", fleetv1.UpdateStage{Name: "s", MaxAllowedFailures: percent("25%"), Groups: []fleetv1.UpdateGroup{group("a"), group("b")}}, []string{"a-00", "b-01"}, fleetv1.StateCompleted},
		{"a group's budget within a stage that allows none", fleetv1.UpdateStage{Name: "s", MaxAllowedFailures: count(0), Groups: []fleetv1.UpdateGroup{budgeted("a", count(2)), group("b")}}, []string{"a-00"}, fleetv1.StateFailed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			members := concat(fleetOf("a", 4), fleetOf("b", 4))
			for _, m := range members {
				if slices.Contains(tc.failing, m.Name) {
					m.failUpgrade = "boom"
				}
			}
			s := newSim(t, strategyOf(tc.stage), members...)
			if got := s.runToEnd(100); got != tc.want {
				t.Fatalf("run ended %s, want %s:\n%s", got, tc.want, describe(s.in.Status))
			}
			if tc.want == fleetv1.StateCompleted {
				if !strings.Contains(s.in.Status.Message, "failed within the failure budget") {
					t.Errorf("message %q", s.in.Status.Message)
				}
				if got := int(s.in.Status.MembersDone); got != 8-len(tc.failing) {
					t.Errorf("MembersDone %d", got)
				}
			}
		})
	}
}

func TestUpgradeTimeoutFailsTheMember(t *testing.T) {
	spec := strategyOf(stage("s", group("a")))
	spec.MemberUpgradeTimeoutSeconds = 600
	members := fleetOf("a", 2)
	members[0].upgradeTakes = time.Hour
	s := newSim(t, spec, members...)
	r := s.step()
	if !r.NextStepAt.Equal(t0.Add(10 * time.Minute)) {
		t.Fatalf("NextStepAt %s, want the timeout", r.NextStepAt)
	}
	s.in.Now = t0.Add(10*time.Minute - time.Second)
	if r := s.step(); memberState(r.Status, "a-00").State != fleetv1.StateRunning {
		t.Fatal("failed before the timeout")
	}
	s.in.Now = t0.Add(10 * time.Minute)
	r = s.step()
	if m := memberState(r.Status, "a-00"); m.State != fleetv1.StateFailed || m.Message != "upgrade did not finish within 10m0s" {
		t.Fatalf("a-00 %s %q", m.State, m.Message)
	}
	if len(r.Actions.CancelUpgrades) != 1 || r.Actions.CancelUpgrades[0] != (CancelUpgrade{Member: "a-00", Reason: "upgrade did not finish within 10m0s"}) {
		t.Fatalf("cancel actions %+v", r.Actions.CancelUpgrades)
	}
	if r.Status.State != fleetv1.StateFailed {
		t.Fatalf("run %s, want Failed (nothing else in flight)", r.Status.State)
	}
}

func TestRefusedMemberFailsWithoutAnUpgrade(t *testing.T) {
	members := fleetOf("a", 2)
	members[1].blocked = "downgrade: the control plane runs 1.38.0, newer than the target 1.37.2"
	members[0].upgradeTakes = time.Minute
	s := newSim(t, strategyOf(fleetv1.UpdateStage{Name: "s", Groups: []fleetv1.UpdateGroup{{Name: "a", MaxAllowedFailures: count(1)}}}), members...)
	if s.runToEnd(10) != fleetv1.StateCompleted {
		t.Fatal(describe(s.in.Status))
	}
	if m := memberState(s.in.Status, "a-01"); m.State != fleetv1.StateFailed || !strings.HasPrefix(m.Message, "refused: downgrade") || m.StartTime != nil {
		t.Fatalf("a-01 = %+v", m)
	}
	if !slices.Equal(s.startedMembers(), []string{"a-00"}) {
		t.Fatalf("started %v", s.startedMembers())
	}
}

func TestMemberHealthChecks(t *testing.T) {
	spec := strategyOf(stage("s", group("a")))
	spec.HealthChecks = []fleetv1.HealthCheck{check("nodes", fleetv1.RunAfterMember), {Name: "script", Type: fleetv1.CheckCommand, Command: []string{"validate.sh"}, TimeoutSeconds: 120, SettleSeconds: 30}}

	t.Run("passing checks complete the member", func(t *testing.T) {
		s := newSim(t, spec, fleetOf("a", 2)...)
		s.checksTake = time.Minute
		s.step()
		r := s.step()
		m := memberState(r.Status, "a-00")
		if m.State != fleetv1.StateRunning || m.HealthChecks == nil || m.HealthChecks.State != fleetv1.StateRunning {
			t.Fatalf("a-00 %+v, want Running with checks Running after its upgrade", m)
		}
		if len(r.Actions.RunChecks) != 1 || r.Actions.RunChecks[0].Scope != (Scope{Level: LevelMember, Stage: "s", Group: "a", Member: "a-00"}) || len(r.Actions.RunChecks[0].Checks) != 2 {
			t.Fatalf("RunChecks %+v", r.Actions.RunChecks)
		}
		if len(r.Actions.StartUpgrades) != 0 {
			t.Fatal("the next member started while a-00's checks run: a member holds its slot until its checks pass")
		}
		if want := m.HealthChecks.StartTime.Add(time.Minute + 150*time.Second + checkReportGrace); !r.NextStepAt.Equal(want) {
			t.Fatalf("NextStepAt %s, want the checks' deadline %s", r.NextStepAt, want)
		}
		s.in.Now = t0.Add(time.Minute)
		r = s.step()
		if m := memberState(r.Status, "a-00"); m.State != fleetv1.StateCompleted || m.Message != "upgraded to 1.37.2; health checks passed" {
			t.Fatalf("a-00 %s %q", m.State, m.Message)
		}
		if !slices.Equal(startedNames(r), []string{"a-01"}) {
			t.Fatalf("started %v", startedNames(r))
		}
	})

	t.Run("a failing check fails the member with its output", func(t *testing.T) {
		members := fleetOf("a", 2)
		members[0].failChecks = "script: FAIL: 2 failed pods detected"
		s := newSim(t, spec, members...)
		if s.runToEnd(20) != fleetv1.StateFailed {
			t.Fatal(describe(s.in.Status))
		}
		if m := memberState(s.in.Status, "a-00"); m.State != fleetv1.StateFailed || m.Message != "health checks failed: script: FAIL: 2 failed pods detected" {
			t.Fatalf("a-00 %s %q", m.State, m.Message)
		}
		if len(s.started) != 1 {
			t.Fatalf("started %v, want a-01 never started", s.startedMembers())
		}
	})

	t.Run("checks the controller lost are asked for again", func(t *testing.T) {
		s := newSim(t, spec, fleetOf("a", 1)...)
		s.checksTake = time.Hour
		s.step()
		s.step()
		clear(s.pending) // the controller restarted
		r := s.step()
		if len(r.Actions.RunChecks) != 1 {
			t.Fatalf("RunChecks %+v, want them asked for again", r.Actions.RunChecks)
		}
	})

	t.Run("checks that never report fail at their deadline", func(t *testing.T) {
		s := newSim(t, spec, fleetOf("a", 1)...)
		s.checksTake = 24 * time.Hour
		if s.runToEnd(20) != fleetv1.StateFailed {
			t.Fatal(describe(s.in.Status))
		}
		if m := memberState(s.in.Status, "a-00"); !strings.Contains(m.Message, "no result within 4m30s") {
			t.Fatalf("a-00 %q", m.Message)
		}
	})
}

func TestGroupAndStageHealthChecks(t *testing.T) {
	spec := strategyOf(stage("one", group("a"), group("b")), stage("two", group("c")))
	spec.HealthChecks = []fleetv1.HealthCheck{check("g", fleetv1.RunAfterGroup), check("s", fleetv1.RunAfterStage)}
	members := concat(fleetOf("a", 2), fleetOf("b", 1), fleetOf("c", 1))
	members[1].version = "1.37.2" // already there: skipped, so not among the checked members

	t.Run("they run on the members the run upgraded", func(t *testing.T) {
		s := newSim(t, spec, members...)
		var asked []RunChecks
		s.stepHook = func(s *sim) { asked = append(asked, s.last.Actions.RunChecks...) }
		if s.runToEnd(50) != fleetv1.StateCompleted {
			t.Fatal(describe(s.in.Status))
		}
		want := map[Scope][]string{
			{Level: LevelGroup, Stage: "one", Group: "a"}: {"a-00"},
			{Level: LevelGroup, Stage: "one", Group: "b"}: {"b-00"},
			{Level: LevelStage, Stage: "one"}:             {"a-00", "b-00"},
			{Level: LevelGroup, Stage: "two", Group: "c"}: {"c-00"},
			{Level: LevelStage, Stage: "two"}:             {"c-00"},
		}
		if len(asked) != len(want) {
			t.Fatalf("asked %+v", asked)
		}
		for _, a := range asked {
			if !slices.Equal(a.Members, want[a.Scope]) {
				t.Errorf("%v checked %v, want %v", a.Scope, a.Members, want[a.Scope])
			}
		}
	})

	t.Run("a failing group check fails the group and the run", func(t *testing.T) {
		s := newSim(t, spec, members...)
		s.failChecks = func(sc Scope) string {
			if sc.Level == LevelGroup && sc.Group == "b" {
				return "g: deployment web has 0/3 available"
			}
			return ""
		}
		if s.runToEnd(50) != fleetv1.StateFailed {
			t.Fatal(describe(s.in.Status))
		}
		if g := groupState(s.in.Status, "b"); g.State != fleetv1.StateFailed || g.Message != "health checks failed: g: deployment web has 0/3 available" {
			t.Fatalf("group b %s %q", g.State, g.Message)
		}
		if slices.Contains(s.startedMembers(), "c-00") {
			t.Fatal("stage two started after a failed group")
		}
	})

	t.Run("a failing stage check stops the run before the next stage", func(t *testing.T) {
		s := newSim(t, spec, members...)
		s.failChecks = func(sc Scope) string {
			if sc.Level == LevelStage {
				return "s: node n1 NotReady"
			}
			return ""
		}
		if s.runToEnd(50) != fleetv1.StateFailed {
			t.Fatal(describe(s.in.Status))
		}
		st := stageState(s.in.Status, "one")
		if st.State != fleetv1.StateFailed || st.HealthChecks.State != fleetv1.StateFailed || !strings.Contains(st.Message, "node n1 NotReady") {
			t.Fatalf("stage one %s %q", st.State, st.Message)
		}
		if slices.Contains(s.startedMembers(), "c-00") || !strings.Contains(s.in.Status.Message, "stage one health checks failed") {
			t.Fatalf("started %v; run %q", s.startedMembers(), s.in.Status.Message)
		}
	})
}

func TestStaleUpgradeReportIsIgnored(t *testing.T) {
	s := newSim(t, strategyOf(stage("s", group("a"))), fleetOf("a", 1)...)
	s.noInvariants = true
	s.step()
	// A report from an earlier attempt, started before this one.
	s.in.Observed = Observations{Members: map[string]MemberObservation{"a-00": {Upgrade: UpgradeObservation{State: UpgradeFailed, Message: "old", StartedAt: t0.Add(-time.Hour)}}}}
	s.in.Now = t0.Add(time.Minute)
	r := Step(s.in)
	if m := memberState(r.Status, "a-00"); m.State != fleetv1.StateRunning {
		t.Fatalf("a-00 %s %q, want the stale report ignored", m.State, m.Message)
	}
}

func TestAMemberSeenAtTargetWithoutProviderNewsIsUpgraded(t *testing.T) {
	s := newSim(t, strategyOf(stage("s", group("a"))), fleetOf("a", 1)...)
	s.noInvariants = true
	s.step()
	s.in.Observed = Observations{Members: map[string]MemberObservation{"a-00": {Version: "v1.37.2", AtTarget: true}}}
	r := Step(s.in)
	if m := memberState(r.Status, "a-00"); m.State != fleetv1.StateCompleted {
		t.Fatalf("a-00 %s %q, want Completed", m.State, m.Message)
	}
}
