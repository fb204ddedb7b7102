package rollout

import (
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	fleetv1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
)

func TestStagesRunInOrderAndTheNextMemberStartsInTheSameStep(t *testing.T) {
	s := newSim(t, strategyOf(stage("one", group("a")), stage("two", group("b")), stage("three", group("c"))),
		concat(fleetOf("c", 2), fleetOf("b", 2), fleetOf("a", 2))...)
	if got := s.runToEnd(50); got != fleetv1.StateCompleted {
		t.Fatalf("ended %s:\n%s", got, describe(s.in.Status))
	}
	want := []string{"a-00", "a-01", "b-00", "b-01", "c-00", "c-01"}
	if got := s.startedMembers(); !slices.Equal(got, want) {
		t.Fatalf("started %v, want %v", got, want)
	}
	// With an instant provider, the step that learns a member finished
	// starts the next one, across stage boundaries too: no step is lost
	// to orchestration.
	for i, r := range s.started {
		if r.step != i+1 {
			t.Fatalf("%s started at step %d, want %d", r.member, r.step, i+1)
		}
	}
	if s.steps != len(want)+1 {
		t.Fatalf("took %d steps, want %d", s.steps, len(want)+1)
	}
}

func TestGroupsOfAStageRunInParallel(t *testing.T) {
	s := newSim(t, strategyOf(stage("one", group("a"), group("b")), stage("two", group("c"))),
		concat(fleetOf("a", 2), fleetOf("b", 3), fleetOf("c", 1))...)
	r := s.step()
	if got := startedNames(r); !slices.Equal(got, []string{"a-00", "b-00"}) {
		t.Fatalf("first step started %v, want one member of each group", got)
	}
	if s.runToEnd(50) != fleetv1.StateCompleted {
		t.Fatal(describe(s.in.Status))
	}
	// c-00 starts only once both groups of stage one are done.
	last := s.started[len(s.started)-1]
	if last.member != "c-00" {
		t.Fatalf("last started %s, want c-00", last.member)
	}
	for _, r := range s.started[:len(s.started)-1] {
		if r.step >= last.step {
			t.Fatalf("%s started at step %d, not before stage two (step %d)", r.member, r.step, last.step)
		}
	}
}

func startedNames(r Result) []string {
	var names []string
	for _, a := range r.Actions.StartUpgrades {
		names = append(names, a.Member)
	}
	return names
}

func TestConcurrencyCaps(t *testing.T) {
	withMax := func(name string, v *intstr.IntOrString) fleetv1.UpdateGroup {
		return fleetv1.UpdateGroup{Name: name, MaxConcurrency: v}
	}
	for _, tc := range []struct {
		name      string
		stage     fleetv1.UpdateStage
		sizes     map[string]int
		wantFirst map[string]int // members started in the first step, by group
	}{
		{"one at a time by default", stage("s", group("a")), map[string]int{"a": 4}, map[string]int{"a": 1}},
		{"a count", stage("s", withMax("a", count(3))), map[string]int{"a": 10}, map[string]int{"a": 3}},
		{"a count above the group size", stage("s", withMax("a", count(30))), map[string]int{"a": 10}, map[string]int{"a": 10}},
		{"a percentage rounds down", stage("s", withMax("a", percent("25%"))), map[string]int{"a": 10}, map[string]int{"a": 2}},
		{"a percentage is at least 1", stage("s", withMax("a", percent("5%"))), map[string]int{"a": 10}, map[string]int{"a": 1}},
		{"100%", stage("s", withMax("a", percent("100%"))), map[string]int{"a": 7}, map[string]int{"a": 7}},
		{
			"the stage caps the sum of its groups, shared in turn",
			fleetv1.UpdateStage{Name: "s", MaxConcurrency: count(3), Groups: []fleetv1.UpdateGroup{withMax("a", count(5)), withMax("b", count(5))}},
			map[string]int{"a": 10, "b": 10}, map[string]int{"a": 2, "b": 1},
		},
		{
			"a stage percentage of all its members",
			fleetv1.UpdateStage{Name: "s", MaxConcurrency: percent("50%"), Groups: []fleetv1.UpdateGroup{withMax("a", count(10)), withMax("b", count(10))}},
			map[string]int{"a": 10, "b": 10}, map[string]int{"a": 5, "b": 5},
		},
		{
			"a stage cap of 1 serialises its groups",
			fleetv1.UpdateStage{Name: "s", MaxConcurrency: count(1), Groups: []fleetv1.UpdateGroup{group("a"), group("b"), group("c")}},
			map[string]int{"a": 2, "b": 2, "c": 2}, map[string]int{"a": 1},
		},
		{
			"a stage cap above the groups' caps changes nothing",
			fleetv1.UpdateStage{Name: "s", MaxConcurrency: count(100), Groups: []fleetv1.UpdateGroup{withMax("a", count(2)), group("b")}},
			map[string]int{"a": 5, "b": 5}, map[string]int{"a": 2, "b": 1},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var members []*fakeMember
			for g, n := range tc.sizes {
				members = append(members, fleetOf(g, n)...)
			}
			for _, m := range members {
				m.upgradeTakes = time.Duration(len(m.Name)%3+1) * time.Minute
			}
			s := newSim(t, strategyOf(tc.stage), members...)
			r := s.step()
			got := map[string]int{}
			for _, a := range r.Actions.StartUpgrades {
				got[a.Group]++
			}
			for g := range tc.sizes {
				if got[g] != tc.wantFirst[g] {
					t.Fatalf("first step started %v, want %v", got, tc.wantFirst)
				}
			}
			// The invariants check every cap at every step to the end.
			if s.runToEnd(500) != fleetv1.StateCompleted {
				t.Fatal(describe(s.in.Status))
			}
		})
	}
}

func TestImplicitGroupOfASelectorStage(t *testing.T) {
	spec := strategyOf(fleetv1.UpdateStage{Name: "edge", MemberSelector: selector("tier", "edge"), MaxConcurrency: count(2)})
	s := newSim(t, spec, member("e1", "", "tier=edge"), member("e2", "", "tier=edge"), member("e3", "", "tier=edge"), member("core", "", "tier=core"))
	r := s.step()
	if got := startedNames(r); !slices.Equal(got, []string{"e1", "e2"}) {
		t.Fatalf("started %v, want e1 and e2 (the stage's cap covers its implicit group)", got)
	}
	if g := r.Status.Stages[0].Groups; len(g) != 1 || g[0].Name != "edge" || len(g[0].Members) != 3 {
		t.Fatalf("groups = %+v, want one group named after the stage with 3 members", g)
	}
	if r.Status.MembersTotal != 3 {
		t.Fatalf("MembersTotal = %d, want 3 (core is in no stage)", r.Status.MembersTotal)
	}
}

func TestBeforeGates(t *testing.T) {
	spec := strategyOf(fleetv1.UpdateStage{Name: "s", BeforeGates: []fleetv1.GateConfig{approval()},
		Groups: []fleetv1.UpdateGroup{{Name: "a", BeforeGates: []fleetv1.GateConfig{{Type: fleetv1.GateApproval, DisplayName: "look at a"}}}, group("b")}})
	s := newSim(t, spec, concat(fleetOf("a", 1), fleetOf("b", 1))...)
	approved := map[string]bool{}
	s.approve = func(name string) bool { return approved[name] }

	r := s.step()
	stageGate := GateName("run", "s", "", fleetv1.GateBefore, 0)
	if len(r.Actions.StartUpgrades) != 0 {
		t.Fatalf("started %v before the stage's gate passed", startedNames(r))
	}
	if st := r.Status.Stages[0]; st.State != fleetv1.StatePending || !strings.Contains(st.Message, stageGate) {
		t.Fatalf("stage %s %q, want Pending on %s", st.State, st.Message, stageGate)
	}
	if len(r.Actions.Gates) != 1 || r.Actions.Gates[0] != (EnsureGate{Name: stageGate, Type: fleetv1.GateApproval, Stage: "s", Timing: fleetv1.GateBefore, State: fleetv1.GatePending}) {
		t.Fatalf("gate actions %+v, want the stage's gate created", r.Actions.Gates)
	}
	if g := r.Status.Stages[0].BeforeGates[0]; g.State != fleetv1.StatePending || g.StartTime == nil {
		t.Fatalf("gate %+v, want Pending with a start time", g)
	}
	// Stepping again without news creates nothing new: the gate exists.
	if r := s.step(); len(r.Actions.Gates) != 0 || len(r.Transitions) != 0 {
		t.Fatalf("second step: gates %+v transitions %+v", r.Actions.Gates, r.Transitions)
	}

	approved[stageGate] = true
	r = s.step()
	if got := startedNames(r); !slices.Equal(got, []string{"b-00"}) {
		t.Fatalf("started %v, want only b-00: group a has its own gate", got)
	}
	groupGate := GateName("run", "s", "a", fleetv1.GateBefore, 0)
	if g := groupState(r.Status, "a"); g.State != fleetv1.StatePending || len(r.Actions.Gates) != 1 || r.Actions.Gates[0].Name != groupGate || r.Actions.Gates[0].DisplayName != "look at a" {
		t.Fatalf("group a %s, gate actions %+v", g.State, r.Actions.Gates)
	}
	approved[groupGate] = true
	if r := s.step(); !slices.Equal(startedNames(r), []string{"a-00"}) {
		t.Fatalf("started %v after approval, want a-00 in the same step", startedNames(r))
	}
	if s.runToEnd(20) != fleetv1.StateCompleted {
		t.Fatal(describe(s.in.Status))
	}
}

func TestScheduledStartGate(t *testing.T) {
	// t0 is Monday 10:00 UTC; the gate opens Tuesday 09:30 at UTC+01:00.
	gate := fleetv1.GateConfig{Type: fleetv1.GateScheduledStart, Schedule: &fleetv1.GateSchedule{DaysOfWeek: []string{"Tuesday"}, StartTime: "09:30", UTCOffset: "+01:00"}}
	s := newSim(t, strategyOf(stage("one", group("a")), fleetv1.UpdateStage{Name: "two", Groups: []fleetv1.UpdateGroup{group("b")}, BeforeGates: []fleetv1.GateConfig{gate}}),
		concat(fleetOf("a", 1), fleetOf("b", 1))...)
	s.approve = func(string) bool { return false } // nobody approves: the clock must
	s.step()
	r := s.step()
	opens := time.Date(2026, time.November, 24, 8, 30, 0, 0, time.UTC)
	if !r.NextStepAt.Equal(opens) {
		t.Fatalf("NextStepAt %s, want %s", r.NextStepAt, opens)
	}
	if g := r.Status.Stages[1].BeforeGates[0]; g.State != fleetv1.StatePending || !strings.Contains(g.Message, "opens at 2026-11-24 08:30 UTC") {
		t.Fatalf("gate %s %q", g.State, g.Message)
	}
	s.in.Now = opens.Add(-time.Second)
	if r := s.step(); len(r.Actions.StartUpgrades) != 0 {
		t.Fatal("stage two started before its slot")
	}
	s.in.Now = opens
	r = s.step()
	if !slices.Equal(startedNames(r), []string{"b-00"}) {
		t.Fatalf("started %v at the slot, want b-00", startedNames(r))
	}
	if len(r.Actions.Gates) != 1 || r.Actions.Gates[0].State != fleetv1.GateCompleted {
		t.Fatalf("gate actions %+v, want the Gate object completed", r.Actions.Gates)
	}
}

func TestApprovingAScheduledGateEarlyPassesIt(t *testing.T) {
	s := newSim(t, strategyOf(fleetv1.UpdateStage{Name: "s", Groups: []fleetv1.UpdateGroup{group("a")}, BeforeGates: []fleetv1.GateConfig{scheduled("09:00", "Friday")}}), fleetOf("a", 1)...)
	s.approve = func(string) bool { return false }
	s.step()
	s.gates[GateName("run", "s", "", fleetv1.GateBefore, 0)] = fleetv1.GateCompleted
	if r := s.step(); len(r.Actions.StartUpgrades) != 1 {
		t.Fatal("completing the Gate object did not pass the scheduled gate")
	}
}

func TestAfterStageWaitAndGatesRunAtTheSameTime(t *testing.T) {
	for _, tc := range []struct {
		name       string
		approveAt  time.Duration
		wantStarts time.Duration
	}{
		{"approved during the wait: the wait decides", 30 * time.Minute, time.Hour},
		{"approved after the wait: the approval decides", 2 * time.Hour, 2 * time.Hour},
	} {
		t.Run(tc.name, func(t *testing.T) {
			spec := strategyOf(fleetv1.UpdateStage{Name: "one", Groups: []fleetv1.UpdateGroup{group("a")}, AfterStageWaitInSeconds: 3600, AfterGates: []fleetv1.GateConfig{approval()}},
				stage("two", group("b")))
			s := newSim(t, spec, concat(fleetOf("a", 1), fleetOf("b", 1))...)
			var finished time.Time
			s.approve = func(string) bool { return !s.in.Now.Before(finished.Add(tc.approveAt)) }
			s.stepHook = func(s *sim) {
				if finished.IsZero() && stageState(s.in.Status, "one").AfterStageWait.State == fleetv1.StateRunning {
					finished = s.in.Now
					w := stageState(s.in.Status, "one")
					if w.AfterGates[0].State != fleetv1.StatePending {
						t.Fatalf("the after gate is %s while the wait runs, want Pending", w.AfterGates[0].State)
					}
				}
			}
			// Approvals only happen when the sim steps: step at the
			// approval time too.
			for i := 0; i < 20 && s.in.Status.State != fleetv1.StateCompleted; i++ {
				r := s.step()
				if len(r.Transitions) == 0 && r.Actions.Empty() {
					next := s.nextEvent()
					if approval := finished.Add(tc.approveAt); !finished.IsZero() && approval.After(s.in.Now) && (next.IsZero() || approval.Before(next)) {
						next = approval
					}
					s.in.Now = next
				}
			}
			if s.in.Status.State != fleetv1.StateCompleted {
				t.Fatal(describe(s.in.Status))
			}
			b := s.started[len(s.started)-1]
			if b.member != "b-00" || b.at.Sub(finished) != tc.wantStarts {
				t.Fatalf("%s started %s after stage one finished, want %s", b.member, b.at.Sub(finished), tc.wantStarts)
			}
		})
	}
}

func TestGroupAfterGatesBlockItsCompletion(t *testing.T) {
	spec := strategyOf(stage("one", fleetv1.UpdateGroup{Name: "a", AfterGates: []fleetv1.GateConfig{approval()}}), stage("two", group("b")))
	s := newSim(t, spec, concat(fleetOf("a", 1), fleetOf("b", 1))...)
	approved := false
	s.approve = func(string) bool { return approved }
	s.step()
	r := s.step()
	if g := groupState(r.Status, "a"); g.State != fleetv1.StateRunning || !strings.Contains(g.Message, "approval of gate "+GateName("run", "one", "a", fleetv1.GateAfter, 0)) {
		t.Fatalf("group a %s %q, want Running, waiting for its gate", g.State, g.Message)
	}
	if len(r.Actions.StartUpgrades) != 0 || stageState(r.Status, "one").State != fleetv1.StateRunning {
		t.Fatal("the stage moved on before the group's after gate passed")
	}
	approved = true
	r = s.step()
	if groupState(r.Status, "a").State != fleetv1.StateCompleted || !slices.Equal(startedNames(r), []string{"b-00"}) {
		t.Fatalf("after approval: group a %s, started %v", groupState(r.Status, "a").State, startedNames(r))
	}
}

func TestMemberAlreadyAtTargetIsSkipped(t *testing.T) {
	members := fleetOf("a", 3)
	members[0].version = "1.37.2"
	members[2].version = "1.37.2"
	s := newSim(t, strategyOf(stage("s", group("a"))), members...)
	r := s.step()
	if !slices.Equal(startedNames(r), []string{"a-01"}) {
		t.Fatalf("started %v, want only a-01", startedNames(r))
	}
	m := memberState(r.Status, "a-00")
	if m.State != fleetv1.StateSkipped || m.Message != "already at the target 1.37.2" || m.FromVersion != "1.37.2" || m.CompletedTime == nil {
		t.Fatalf("a-00 = %+v", m)
	}
	if r.Status.MembersDone != 2 {
		t.Fatalf("MembersDone %d, want 2: skipped members are done", r.Status.MembersDone)
	}
	if s.runToEnd(10) != fleetv1.StateCompleted || s.in.Status.Message != "1 upgraded, 2 skipped" {
		t.Fatalf("%s %q", s.in.Status.State, s.in.Status.Message)
	}
}

func TestMaintenanceWindowMakesAMemberPendingAndTheGroupMovesOn(t *testing.T) {
	// t0 is Monday 10:00 UTC. EU members may only start between 22:00 and
	// 02:00 (UTC+01:00): 21:00 to 01:00 UTC, across midnight.
	spec := strategyOf(fleetv1.UpdateStage{Name: "s", Groups: []fleetv1.UpdateGroup{group("a")}})
	spec.MaintenanceWindows = []fleetv1.MaintenanceWindow{{Name: "eu-nights", WeeklyWindow: fleetv1.WeeklyWindow{StartTime: "22:00", DurationMinutes: 240, UTCOffset: "+01:00"}, MemberSelector: selector("region", "eu")}}
	s := newSim(t, spec, member("a-1", "a", "region=eu"), member("a-2", "a", "region=us"), member("a-3", "a", "region=us"))
	r := s.step()
	if !slices.Equal(startedNames(r), []string{"a-2"}) {
		t.Fatalf("started %v, want a-2 (a-1 waits for its window)", startedNames(r))
	}
	opens := time.Date(2026, time.November, 23, 21, 0, 0, 0, time.UTC)
	if m := memberState(r.Status, "a-1"); m.State != fleetv1.StatePending || !strings.Contains(m.Message, "until 2026-11-23 21:00 UTC") || m.StartTime != nil {
		t.Fatalf("a-1 = %s %q", m.State, m.Message)
	}
	if !r.NextStepAt.Equal(opens) {
		t.Fatalf("NextStepAt %s, want the window's opening %s", r.NextStepAt, opens)
	}
	r = s.step()
	if !slices.Equal(startedNames(r), []string{"a-3"}) {
		t.Fatalf("then started %v, want a-3", startedNames(r))
	}
	s.step() // a-3 done; a-1 still waits
	if g := groupState(s.in.Status, "a"); g.State != fleetv1.StateRunning || !strings.Contains(g.Message, "1 waiting") {
		t.Fatalf("group %s %q", g.State, g.Message)
	}
	s.in.Now = opens.Add(3 * time.Hour) // 00:00 UTC: inside the window, past midnight
	r = s.step()
	if !slices.Equal(startedNames(r), []string{"a-1"}) {
		t.Fatalf("inside the window started %v, want a-1", startedNames(r))
	}
}

func TestFreezeWindowHoldsEveryone(t *testing.T) {
	from, until := metav1.NewTime(t0.Add(-time.Hour)), metav1.NewTime(t0.Add(48*time.Hour))
	spec := strategyOf(stage("s", group("a")))
	spec.FreezeWindows = []fleetv1.FreezeWindow{{Name: "black-friday", From: &from, Until: &until}}
	s := newSim(t, spec, fleetOf("a", 2)...)
	r := s.step()
	if len(r.Actions.StartUpgrades) != 0 || !r.NextStepAt.Equal(until.Time) {
		t.Fatalf("started %v, next step %s; want nothing until %s", startedNames(r), r.NextStepAt, until.Time)
	}
	if m := memberState(r.Status, "a-00"); m.State != fleetv1.StatePending || !strings.Contains(m.Message, "inside freeze window black-friday until") {
		t.Fatalf("a-00 %s %q", m.State, m.Message)
	}
	if s.runToEnd(10) != fleetv1.StateCompleted || s.started[0].at != until.Time {
		t.Fatalf("first start at %s, want at the freeze's end", s.started[0].at)
	}
}

func TestMemberHeldByAnotherRunWaits(t *testing.T) {
	members := fleetOf("a", 2)
	members[0].heldBy = "other-run"
	s := newSim(t, strategyOf(stage("s", group("a"))), members...)
	r := s.step()
	if !slices.Equal(startedNames(r), []string{"a-01"}) {
		t.Fatalf("started %v", startedNames(r))
	}
	if m := memberState(r.Status, "a-00"); m.State != fleetv1.StatePending || !strings.Contains(m.Message, "update run other-run") {
		t.Fatalf("a-00 %s %q", m.State, m.Message)
	}
	members[0].heldBy = ""
	if s.runToEnd(10) != fleetv1.StateCompleted {
		t.Fatal(describe(s.in.Status))
	}
}

func TestNextStepAtTracksTheEarliestClockEvent(t *testing.T) {
	spec := strategyOf(fleetv1.UpdateStage{Name: "s", Groups: []fleetv1.UpdateGroup{group("a")}, AfterStageWaitInSeconds: 600}, stage("t", group("b")))
	spec.MemberUpgradeTimeoutSeconds = 3600
	members := concat(fleetOf("a", 1), fleetOf("b", 1))
	members[0].upgradeTakes = 10 * time.Minute
	s := newSim(t, spec, members...)
	if r := s.step(); !r.NextStepAt.Equal(t0.Add(time.Hour)) {
		t.Fatalf("while upgrading: NextStepAt %s, want the timeout", r.NextStepAt)
	}
	s.in.Now = t0.Add(10 * time.Minute)
	if r := s.step(); !r.NextStepAt.Equal(t0.Add(20 * time.Minute)) {
		t.Fatalf("during the wait: NextStepAt %s, want its end", r.NextStepAt)
	}
	s.in.Now = t0.Add(20 * time.Minute)
	r := s.step()
	if !slices.Equal(startedNames(r), []string{"b-00"}) {
		t.Fatalf("started %v at the wait's end", startedNames(r))
	}
	if s.runToEnd(5) != fleetv1.StateCompleted || !s.last.NextStepAt.IsZero() {
		t.Fatalf("a finished run has NextStepAt %s", s.last.NextStepAt)
	}
}

func TestEveryNodeHasTimesWhenTheRunCompletes(t *testing.T) {
	spec := strategyOf(
		fleetv1.UpdateStage{Name: "one", Groups: []fleetv1.UpdateGroup{{Name: "a", BeforeGates: []fleetv1.GateConfig{approval()}, AfterGates: []fleetv1.GateConfig{approval()}}},
			BeforeGates: []fleetv1.GateConfig{approval()}, AfterGates: []fleetv1.GateConfig{approval()}, AfterStageWaitInSeconds: 60},
		stage("two", group("b")),
	)
	spec.HealthChecks = []fleetv1.HealthCheck{check("m", fleetv1.RunAfterMember), check("g", fleetv1.RunAfterGroup), check("s", fleetv1.RunAfterStage)}
	s := newSim(t, spec, concat(fleetOf("a", 2), fleetOf("b", 1))...)
	if s.runToEnd(100) != fleetv1.StateCompleted {
		t.Fatal(describe(s.in.Status))
	}
	st := s.in.Status
	complete := func(what string, p *fleetv1.Progress) {
		t.Helper()
		if p == nil || p.State != fleetv1.StateCompleted || p.StartTime == nil || p.CompletedTime == nil || p.CompletedTime.Before(p.StartTime) {
			t.Errorf("%s: %+v, want Completed with start and completion times", what, p)
		}
	}
	complete("run", &st.Progress)
	for _, stage := range st.Stages {
		complete("stage "+stage.Name, &stage.Progress)
		for _, g := range append(stage.BeforeGates, stage.AfterGates...) {
			complete("gate "+g.Name, &g.Progress)
		}
		if stage.Name == "one" {
			complete("wait", stage.AfterStageWait)
			complete("stage checks", stage.HealthChecks)
		}
		for _, g := range stage.Groups {
			complete("group "+g.Name, &g.Progress)
			complete("group checks "+g.Name, g.HealthChecks)
			for _, gate := range append(g.BeforeGates, g.AfterGates...) {
				complete("gate "+gate.Name, &gate.Progress)
			}
			for _, m := range g.Members {
				complete("member "+m.Name, &m.Progress)
				complete("member checks "+m.Name, m.HealthChecks)
				if m.FromVersion != "1.36.3" || m.TargetVersion != "1.37.2" {
					t.Errorf("member %s versions %s -> %s", m.Name, m.FromVersion, m.TargetVersion)
				}
			}
		}
	}
	if st.CurrentStage != "" || st.MembersDone != 3 || st.MembersTotal != 3 {
		t.Errorf("current stage %q, %d/%d", st.CurrentStage, st.MembersDone, st.MembersTotal)
	}
}

func TestTransitionsOfTheFirstStep(t *testing.T) {
	s := newSim(t, strategyOf(stage("s", group("a"))), fleetOf("a", 1)...)
	r := s.step()
	want := []Transition{
		{Kind: KindRun, Path: "run", From: fleetv1.StateNotStarted, To: fleetv1.StateRunning, Message: "running"},
		{Kind: KindStage, Path: "s", From: fleetv1.StateNotStarted, To: fleetv1.StateRunning},
		{Kind: KindGroup, Path: "s/a", From: fleetv1.StateNotStarted, To: fleetv1.StateRunning},
		{Kind: KindMember, Path: "s/a/a-00", From: fleetv1.StateNotStarted, To: fleetv1.StateRunning, Message: "upgrading to 1.37.2"},
	}
	if !slices.Equal(r.Transitions, want) {
		t.Fatalf("transitions\n%+v\nwant\n%+v", r.Transitions, want)
	}
	if r.Status.CurrentStage != "s" {
		t.Fatalf("CurrentStage %q", r.Status.CurrentStage)
	}
}

func TestAStartingRunRecordsTheStrategyItFollows(t *testing.T) {
	strategy := strategyOf(stage("one", group("a")), stage("two", group("b")))
	s := newSim(t, strategy, concat(fleetOf("a", 1), fleetOf("b", 1))...)
	s.in.Desired = fleetv1.RunNotStarted
	s.step()
	if s.in.Status.StrategySnapshot != nil {
		t.Fatalf("a run not started recorded a strategy: %+v", s.in.Status.StrategySnapshot)
	}
	s.in.Desired = fleetv1.RunStarted
	s.step()
	if got := s.in.Status.StrategySnapshot; got == nil || !reflect.DeepEqual(*got, strategy) {
		t.Fatalf("snapshot = %+v, want %+v", got, strategy)
	}
}

func TestAMemberUnreachableAtItsTurnFailsOrIsSkipped(t *testing.T) {
	for _, tc := range []struct {
		policy    fleetv1.UnreachablePolicy
		wantState fleetv1.State
		wantRun   fleetv1.State
		wantText  string
	}{
		{"", fleetv1.StateFailed, fleetv1.StateFailed, "unreachable at its turn: probe timed out"},
		{fleetv1.UnreachableFail, fleetv1.StateFailed, fleetv1.StateFailed, "unreachable at its turn: probe timed out"},
		{fleetv1.UnreachableSkip, fleetv1.StateSkipped, fleetv1.StateCompleted, "skipped, unreachable at its turn (onUnreachableMember: Skip): probe timed out"},
	} {
		t.Run(string(tc.policy), func(t *testing.T) {
			spec := strategyOf(stage("s", group("a")))
			spec.OnUnreachableMember = tc.policy
			members := fleetOf("a", 2)
			members[0].unreachable = "probe timed out"
			s := newSim(t, spec, members...)
			if got := s.runToEnd(10); got != tc.wantRun {
				t.Fatalf("run %s, want %s\n%s", got, tc.wantRun, describe(s.in.Status))
			}
			m := memberState(s.in.Status, "a-00")
			if m.State != tc.wantState || !strings.Contains(m.Message, tc.wantText) {
				t.Errorf("a-00: %s %q, want %s %q", m.State, m.Message, tc.wantState, tc.wantText)
			}
			if members[0].upgrades != 0 {
				t.Errorf("the unreachable member was upgraded %d times", members[0].upgrades)
			}
		})
	}
}

func TestARetryOfNamedMembersRetriesOnlyThemAndKeepsEachAttempt(t *testing.T) {
	spec := strategyOf(stage("s", fleetv1.UpdateGroup{Name: "a", MaxConcurrency: count(3), MaxAllowedFailures: count(0)}))
	members := fleetOf("a", 3)
	members[0].failUpgrade = "disk full"
	members[1].failUpgrade = "quota"
	s := newSim(t, spec, members...)
	if got := s.runToEnd(10); got != fleetv1.StateFailed {
		t.Fatalf("run %s\n%s", got, describe(s.in.Status))
	}
	members[0].failUpgrade = ""
	s.in.StartRequest, s.in.RetryMembers = "retry-1", []string{"a-00"}
	if got := s.runToEnd(10); got != fleetv1.StateFailed {
		t.Fatalf("after retrying a-00 only: run %s, want Failed (a-01 still failed)\n%s", got, describe(s.in.Status))
	}
	if m := memberState(s.in.Status, "a-00"); m.State != fleetv1.StateCompleted || len(m.PreviousAttempts) != 1 || m.PreviousAttempts[0].Message == "" {
		t.Errorf("a-00: %s, previous attempts %+v; want Completed with the failed attempt kept", m.State, m.PreviousAttempts)
	}
	if m := memberState(s.in.Status, "a-01"); m.State != fleetv1.StateFailed || len(m.PreviousAttempts) != 0 || members[1].upgrades != 1 {
		t.Errorf("a-01 was touched: %s, %d upgrades, previous %+v", m.State, members[1].upgrades, m.PreviousAttempts)
	}
	members[1].failUpgrade = ""
	s.in.StartRequest, s.in.RetryMembers = "retry-2", nil
	if got := s.runToEnd(10); got != fleetv1.StateCompleted {
		t.Fatalf("after retrying every failed member: run %s\n%s", got, describe(s.in.Status))
	}
	if members[0].upgrades != 2 || members[2].upgrades != 1 {
		t.Errorf("upgrades: a-00 %d (want 2), a-02 %d (want 1: completed members are not touched)", members[0].upgrades, members[2].upgrades)
	}
}
