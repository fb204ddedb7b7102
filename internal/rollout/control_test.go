package rollout

import (
	"slices"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/equality"

	fleetv1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
)

func TestNotStartedRunDoesNothing(t *testing.T) {
	s := newSim(t, seedStrategy(), concat(fleetOf("group-dev-clusters", 2), fleetOf("group-prod-canary-eu", 1))...)
	s.in.Desired = fleetv1.RunNotStarted
	r := s.step()
	if !r.Actions.Empty() || len(r.Transitions) != 0 || !r.NextStepAt.IsZero() {
		t.Fatalf("a NotStarted run acted: %+v %+v", r.Actions, r.Transitions)
	}
	if r.Status.State != fleetv1.StateNotStarted || r.Status.MembersTotal != 3 || r.Status.StartTime != nil {
		t.Fatalf("status %s, total %d", r.Status.State, r.Status.MembersTotal)
	}
	// The tree is there to show the plan, every node NotStarted.
	if m := memberState(r.Status, "group-dev-clusters-01"); m.State != fleetv1.StateNotStarted || m.TargetVersion != "1.37.2" {
		t.Fatalf("member %+v", m)
	}
	// It follows the fleet until it starts.
	s.in.Members = append(s.in.Members, Member{Name: "late", UpdateGroup: "group-prod-canary-us"})
	s.fleet["late"] = &fakeMember{Member: s.in.Members[len(s.in.Members)-1], version: "1.36.3"}
	if r := s.step(); r.Status.MembersTotal != 4 {
		t.Fatalf("total %d after a member joined, want 4", r.Status.MembersTotal)
	}
	s.in.Desired = fleetv1.RunStarted
	if r := s.step(); r.Status.State != fleetv1.StateRunning || len(r.Actions.StartUpgrades) != 1 {
		t.Fatalf("after start: %s, started %v", r.Status.State, startedNames(r))
	}
}

func TestMembersAreFixedWhenTheRunStarts(t *testing.T) {
	s := newSim(t, strategyOf(stage("s", group("a"))), fleetOf("a", 2)...)
	s.step()
	joiner := member("a-99", "a")
	s.fleet[joiner.Name] = joiner
	s.in.Members = append(s.in.Members, joiner.Member)
	s.in.Members = s.in.Members[1:] // and a-00 is no longer listed
	if s.runToEnd(10) != fleetv1.StateCompleted {
		t.Fatal(describe(s.in.Status))
	}
	if got := s.startedMembers(); !slices.Equal(got, []string{"a-00", "a-01"}) {
		t.Fatalf("started %v, want the members of when the run started", got)
	}
}

func TestInvalidMembershipFailsTheStart(t *testing.T) {
	spec := strategyOf(stage("s", group("a"), group("b")))
	spec.Stages[0].Groups[1].MemberSelector = selector("region", "eu")
	s := newSim(t, spec, member("m", "a"))
	s.in.Desired = fleetv1.RunNotStarted
	if r := s.step(); groupState(r.Status, "a").Members[0].Name != "m" {
		t.Fatalf("preview\n%s", describe(r.Status))
	}
	s.in.Members[0].Labels = map[string]string{"region": "eu"} // now claimed by a and b
	r := s.step()
	if r.Status.State != fleetv1.StateNotStarted || !strings.Contains(r.Status.Message, "cannot start: member m is in two groups, a and b") {
		t.Fatalf("%s %q", r.Status.State, r.Status.Message)
	}
	s.in.Desired = fleetv1.RunStarted
	r = s.step()
	if r.Status.State != fleetv1.StateFailed || !strings.Contains(r.Status.Message, "member m is in two groups") || len(r.Actions.StartUpgrades) != 0 {
		t.Fatalf("%s %q", r.Status.State, r.Status.Message)
	}
	// The operator takes m out of group a and starts the run again: it
	// takes the fleet as it is now, not the preview it showed before.
	s.in.Members[0].UpdateGroup = ""
	s.in.StartRequest = "fixed"
	r = s.step()
	if r.Status.State != fleetv1.StateRunning || !slices.Equal(startedNames(r), []string{"m"}) || len(groupState(r.Status, "b").Members) != 1 {
		t.Fatalf("started %v\n%s", startedNames(r), describe(r.Status))
	}
}

func TestStopThenResume(t *testing.T) {
	members := concat(fleetOf("a", 3), fleetOf("b", 2))
	for _, m := range members {
		m.upgradeTakes = 10 * time.Minute
	}
	s := newSim(t, strategyOf(stage("one", group("a")), stage("two", group("b"))), members...)
	s.step() // a-00 starts
	s.in.Desired = fleetv1.RunStopped
	s.in.Now = t0.Add(5 * time.Minute)
	r := s.step()
	if r.Status.State != fleetv1.StateStopping || stageState(r.Status, "one").State != fleetv1.StateStopping || groupState(r.Status, "a").State != fleetv1.StateStopping {
		t.Fatalf("after stop:\n%s", describe(r.Status))
	}
	s.in.Now = t0.Add(10 * time.Minute)
	r = s.step()
	if r.Status.State != fleetv1.StateStopped || r.Status.Message != "stopped as asked" || len(r.Actions.StartUpgrades) != 0 {
		t.Fatalf("once a-00 finished:\n%s", describe(r.Status))
	}
	if memberState(r.Status, "a-00").State != fleetv1.StateCompleted || groupState(r.Status, "a").State != fleetv1.StateStopped {
		t.Fatalf("\n%s", describe(r.Status))
	}
	// Stopped stays stopped.
	s.in.Now = t0.Add(time.Hour)
	if r := s.step(); r.Status.State != fleetv1.StateStopped || !r.Actions.Empty() {
		t.Fatal("a Stopped run moved")
	}
	s.in.Desired = fleetv1.RunStarted
	r = s.step()
	if r.Status.State != fleetv1.StateRunning || !slices.Equal(startedNames(r), []string{"a-01"}) {
		t.Fatalf("resume started %v, want a-01 (a-00 is done)\n%s", startedNames(r), describe(r.Status))
	}
	if s.runToEnd(50) != fleetv1.StateCompleted {
		t.Fatal(describe(s.in.Status))
	}
	for _, m := range s.fleet {
		if m.upgrades != 1 {
			t.Errorf("%s upgraded %d times", m.Name, m.upgrades)
		}
	}
}

func TestAStopCanBeTakenBackWhileStopping(t *testing.T) {
	members := fleetOf("a", 2)
	members[0].upgradeTakes = time.Hour
	s := newSim(t, strategyOf(stage("s", group("a"))), members...)
	s.step()
	s.in.Desired = fleetv1.RunStopped
	s.step()
	s.in.Desired = fleetv1.RunStarted
	r := s.step()
	if r.Status.State != fleetv1.StateRunning || groupState(r.Status, "a").State != fleetv1.StateRunning || stageState(r.Status, "s").State != fleetv1.StateRunning {
		t.Fatalf("\n%s", describe(r.Status))
	}
	if s.runToEnd(10) != fleetv1.StateCompleted {
		t.Fatal(describe(s.in.Status))
	}
}

func TestStoppingBetweenStagesStopsAtOnce(t *testing.T) {
	spec := strategyOf(fleetv1.UpdateStage{Name: "one", Groups: []fleetv1.UpdateGroup{group("a")}, AfterStageWaitInSeconds: 3600}, stage("two", group("b")))
	s := newSim(t, spec, concat(fleetOf("a", 1), fleetOf("b", 1))...)
	s.step()
	s.step() // a-00 done, the wait runs
	s.in.Desired = fleetv1.RunStopped
	r := s.step()
	if r.Status.State != fleetv1.StateStopped || stageState(r.Status, "one").AfterStageWait.State != fleetv1.StateStopped {
		t.Fatalf("\n%s", describe(r.Status))
	}
	// On resume the wait carries on from when it started.
	s.in.Desired = fleetv1.RunStarted
	s.in.Now = t0.Add(30 * time.Minute)
	r = s.step()
	if w := stageState(r.Status, "one").AfterStageWait; w.State != fleetv1.StateRunning || !w.StartTime.Time.Equal(t0) || !r.NextStepAt.Equal(t0.Add(time.Hour)) {
		t.Fatalf("wait %+v, next %s", w, r.NextStepAt)
	}
}

func TestResumeAFailedRun(t *testing.T) {
	members := fleetOf("a", 3)
	members[1].failUpgrade = "provider says no"
	s := newSim(t, strategyOf(stage("s", group("a"))), members...)
	s.in.StartRequest = "first"
	if s.runToEnd(20) != fleetv1.StateFailed {
		t.Fatal(describe(s.in.Status))
	}
	if s.in.Status.LastStartRequest != "first" {
		t.Fatalf("LastStartRequest %q", s.in.Status.LastStartRequest)
	}
	// Still asked to be Started, but with the same request: stays Failed.
	s.in.Now = t0.Add(time.Hour)
	if r := s.step(); r.Status.State != fleetv1.StateFailed || !r.Actions.Empty() {
		t.Fatalf("a Failed run resumed without a new start request")
	}
	members[1].failUpgrade = ""
	s.in.StartRequest = "second"
	r := s.step()
	if r.Status.State != fleetv1.StateRunning || !slices.Equal(startedNames(r), []string{"a-01"}) {
		t.Fatalf("resume started %v\n%s", startedNames(r), describe(r.Status))
	}
	if m := memberState(r.Status, "a-01"); !strings.Contains(m.Message, "upgrading") {
		t.Fatalf("a-01 %q", m.Message)
	}
	if s.runToEnd(20) != fleetv1.StateCompleted {
		t.Fatal(describe(s.in.Status))
	}
	if members[0].upgrades != 1 || members[1].upgrades != 2 || members[2].upgrades != 1 {
		t.Fatalf("upgrades: %d %d %d; want the failed member retried and no other", members[0].upgrades, members[1].upgrades, members[2].upgrades)
	}
}

func TestResumeAfterAFailedCheckRunsOnlyTheChecksAgain(t *testing.T) {
	spec := strategyOf(stage("s", group("a")))
	spec.HealthChecks = []fleetv1.HealthCheck{check("nodes", fleetv1.RunAfterMember)}
	members := fleetOf("a", 2)
	members[0].failChecks = "nodes: n1 NotReady"
	s := newSim(t, spec, members...)
	if s.runToEnd(20) != fleetv1.StateFailed {
		t.Fatal(describe(s.in.Status))
	}
	members[0].failChecks = ""
	s.in.StartRequest = "again"
	r := s.step()
	if len(r.Actions.StartUpgrades) != 0 || len(r.Actions.RunChecks) != 1 || r.Actions.RunChecks[0].Scope.Member != "a-00" {
		t.Fatalf("resume: upgrades %v, checks %+v; want only a-00's checks again", startedNames(r), r.Actions.RunChecks)
	}
	if s.runToEnd(20) != fleetv1.StateCompleted || members[0].upgrades != 1 {
		t.Fatalf("%s, a-00 upgraded %d times\n%s", s.in.Status.State, members[0].upgrades, describe(s.in.Status))
	}
}

func TestSkippingAFailedMemberThenResuming(t *testing.T) {
	members := fleetOf("a", 3)
	members[0].failUpgrade = "broken"
	s := newSim(t, strategyOf(stage("s", group("a")), stage("t", group("b"))), concat(members, fleetOf("b", 1))...)
	if s.runToEnd(20) != fleetv1.StateFailed {
		t.Fatal(describe(s.in.Status))
	}
	s.in.Skip = []fleetv1.SkipTarget{{Type: fleetv1.SkipMember, Name: "a-00"}}
	r := s.step()
	if m := memberState(r.Status, "a-00"); m.State != fleetv1.StateSkipped || r.Status.State != fleetv1.StateFailed {
		t.Fatalf("a-00 %s, run %s: the skip shows at once, the run waits for a start", m.State, r.Status.State)
	}
	s.in.StartRequest = "resume"
	if s.runToEnd(20) != fleetv1.StateCompleted {
		t.Fatal(describe(s.in.Status))
	}
	if members[0].upgrades != 1 || s.in.Status.MembersDone != 4 {
		t.Fatalf("a-00 upgraded %d times; done %d", members[0].upgrades, s.in.Status.MembersDone)
	}
}

func TestSkipTargets(t *testing.T) {
	spec := func() fleetv1.UpdateStrategySpec {
		return strategyOf(
			fleetv1.UpdateStage{Name: "one", Groups: []fleetv1.UpdateGroup{group("a"), group("b")}, AfterStageWaitInSeconds: 600, AfterGates: []fleetv1.GateConfig{approval()}},
			fleetv1.UpdateStage{Name: "two", Groups: []fleetv1.UpdateGroup{group("c")}, BeforeGates: []fleetv1.GateConfig{approval()}, AfterStageWaitInSeconds: 600},
			stage("three", group("d")),
		)
	}
	fleet := func() []*fakeMember {
		return concat(fleetOf("a", 2), fleetOf("b", 1), fleetOf("c", 2), fleetOf("d", 1))
	}
	for _, tc := range []struct {
		name        string
		skip        []fleetv1.SkipTarget
		wantStarted []string
		check       func(t *testing.T, s *sim)
	}{
		{
			name:        "a member",
			skip:        []fleetv1.SkipTarget{{Type: fleetv1.SkipMember, Name: "a-01"}},
			wantStarted: []string{"a-00", "b-00", "c-00", "c-01", "d-00"},
			check: func(t *testing.T, s *sim) {
				if m := memberState(s.in.Status, "a-01"); m.State != fleetv1.StateSkipped || m.Message != "skipped by request" {
					t.Errorf("a-01 %s %q", m.State, m.Message)
				}
			},
		},
		{
			name:        "a group",
			skip:        []fleetv1.SkipTarget{{Type: fleetv1.SkipGroup, Name: "a"}},
			wantStarted: []string{"b-00", "c-00", "c-01", "d-00"},
			check: func(t *testing.T, s *sim) {
				if g := groupState(s.in.Status, "a"); g.State != fleetv1.StateSkipped {
					t.Errorf("group a %s", g.State)
				}
			},
		},
		{
			name:        "a stage, with its gates and wait",
			skip:        []fleetv1.SkipTarget{{Type: fleetv1.SkipStage, Name: "two"}},
			wantStarted: []string{"a-00", "b-00", "a-01", "d-00"},
			check: func(t *testing.T, s *sim) {
				st := stageState(s.in.Status, "two")
				if st.State != fleetv1.StateSkipped || st.AfterStageWait.State != fleetv1.StateSkipped || st.BeforeGates[0].State != fleetv1.StateSkipped || st.StartTime != nil {
					t.Errorf("stage two\n%s", describe(s.in.Status))
				}
				if _, created := s.gates[st.BeforeGates[0].Name]; created {
					t.Error("a Gate object was created for a skipped stage")
				}
				// Stage one's wait (600 s) is the only time that passes.
				if got := s.in.Now.Sub(t0); got != 10*time.Minute {
					t.Errorf("run took %s, want 10m", got)
				}
			},
		},
		{
			name:        "an after-stage wait",
			skip:        []fleetv1.SkipTarget{{Type: fleetv1.SkipAfterStageWait, Name: "one"}},
			wantStarted: []string{"a-00", "b-00", "a-01", "c-00", "c-01", "d-00"},
			check: func(t *testing.T, s *sim) {
				if w := stageState(s.in.Status, "one").AfterStageWait; w.State != fleetv1.StateSkipped {
					t.Errorf("wait %s", w.State)
				}
				if got := s.in.Now.Sub(t0); got != 10*time.Minute {
					t.Errorf("run took %s, want only stage two's 10m wait", got)
				}
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newSim(t, spec(), fleet()...)
			s.in.Skip = tc.skip
			if s.runToEnd(100) != fleetv1.StateCompleted {
				t.Fatal(describe(s.in.Status))
			}
			if got := s.startedMembers(); !slices.Equal(got, tc.wantStarted) {
				t.Fatalf("started %v, want %v", got, tc.wantStarted)
			}
			tc.check(t, s)
		})
	}
}

func TestSkipDuringTheRun(t *testing.T) {
	t.Run("skipping what is Completed changes nothing", func(t *testing.T) {
		s := newSim(t, strategyOf(stage("one", group("a")), stage("two", group("b"))), concat(fleetOf("a", 1), fleetOf("b", 2))...)
		s.step()
		s.step() // stage one done
		s.in.Skip = []fleetv1.SkipTarget{{Type: fleetv1.SkipStage, Name: "one"}, {Type: fleetv1.SkipMember, Name: "a-00"}}
		r := s.step()
		if stageState(r.Status, "one").State != fleetv1.StateCompleted || memberState(r.Status, "a-00").State != fleetv1.StateCompleted {
			t.Fatalf("\n%s", describe(r.Status))
		}
	})
	t.Run("skipping a group with a member in flight waits for it", func(t *testing.T) {
		members := concat(fleetOf("a", 3), fleetOf("b", 1))
		members[0].upgradeTakes = time.Hour
		s := newSim(t, strategyOf(stage("one", group("a")), stage("two", group("b"))), members...)
		s.step()
		s.in.Skip = []fleetv1.SkipTarget{{Type: fleetv1.SkipGroup, Name: "a"}}
		r := s.step()
		if g := groupState(r.Status, "a"); g.State != fleetv1.StateRunning || memberState(r.Status, "a-01").State != fleetv1.StateSkipped || len(r.Actions.StartUpgrades) != 0 {
			t.Fatalf("\n%s", describe(r.Status))
		}
		s.in.Now = t0.Add(time.Hour)
		r = s.step()
		if groupState(r.Status, "a").State != fleetv1.StateSkipped || memberState(r.Status, "a-00").State != fleetv1.StateCompleted || !slices.Equal(startedNames(r), []string{"b-00"}) {
			t.Fatalf("started %v\n%s", startedNames(r), describe(r.Status))
		}
	})
	t.Run("skipping a waiting stage's gate object passes it", func(t *testing.T) {
		s := newSim(t, strategyOf(fleetv1.UpdateStage{Name: "s", Groups: []fleetv1.UpdateGroup{group("a")}, BeforeGates: []fleetv1.GateConfig{approval()}}), fleetOf("a", 1)...)
		s.approve = func(string) bool { return false }
		s.step()
		s.gates[GateName("run", "s", "", fleetv1.GateBefore, 0)] = fleetv1.GateSkipped
		if r := s.step(); len(r.Actions.StartUpgrades) != 1 || r.Status.Stages[0].BeforeGates[0].State != fleetv1.StateSkipped {
			t.Fatalf("\n%s", describe(r.Status))
		}
	})
	t.Run("skipping a stage whose gate object exists skips the object", func(t *testing.T) {
		s := newSim(t, strategyOf(fleetv1.UpdateStage{Name: "s", Groups: []fleetv1.UpdateGroup{group("a")}, BeforeGates: []fleetv1.GateConfig{approval()}}), fleetOf("a", 1)...)
		s.approve = func(string) bool { return false }
		s.step()
		s.in.Skip = []fleetv1.SkipTarget{{Type: fleetv1.SkipStage, Name: "s"}}
		r := s.step()
		if len(r.Actions.Gates) != 1 || r.Actions.Gates[0].State != fleetv1.GateSkipped || r.Status.State != fleetv1.StateCompleted {
			t.Fatalf("gates %+v\n%s", r.Actions.Gates, describe(r.Status))
		}
	})
}

func TestACompletedRunStaysCompleted(t *testing.T) {
	s := newSim(t, strategyOf(stage("s", group("a"))), fleetOf("a", 1)...)
	if s.runToEnd(10) != fleetv1.StateCompleted {
		t.Fatal(describe(s.in.Status))
	}
	before := s.in.Status.DeepCopy()
	s.in.StartRequest = "again"
	s.in.Skip = []fleetv1.SkipTarget{{Type: fleetv1.SkipMember, Name: "a-00"}}
	s.in.Now = t0.Add(time.Hour)
	r := s.step()
	if !r.Actions.Empty() || len(r.Transitions) != 0 || !equality.Semantic.DeepEqual(*before, r.Status) {
		t.Fatalf("a Completed run changed:\n%s", describe(r.Status))
	}
	if err := CheckTransition(r.Status.State, fleetv1.RunStarted); err == nil {
		t.Fatal("CheckTransition allows starting a Completed run")
	}
}

// TestRestartIdempotence steps every recorded status again with the same
// observations, as a restarted controller would: nothing new may start and
// the status must not move.
func TestRestartIdempotence(t *testing.T) {
	spec := strategyOf(
		fleetv1.UpdateStage{Name: "one", Groups: []fleetv1.UpdateGroup{{Name: "a", MaxConcurrency: count(2), BeforeGates: []fleetv1.GateConfig{approval()}}, group("b")}, AfterStageWaitInSeconds: 300, AfterGates: []fleetv1.GateConfig{scheduled("12:00")}},
		stage("two", group("c")),
	)
	spec.HealthChecks = []fleetv1.HealthCheck{check("m", fleetv1.RunAfterMember), check("g", fleetv1.RunAfterGroup)}
	spec.MemberUpgradeTimeoutSeconds = 3600
	members := concat(fleetOf("a", 4), fleetOf("b", 2), fleetOf("c", 2))
	for i, m := range members {
		m.upgradeTakes = time.Duration(i%3) * time.Minute
	}
	members[5].failUpgrade = "flaky"
	spec.Stages[0].Groups[1].MaxAllowedFailures = count(1)
	s := newSim(t, spec, members...)
	s.checksTake = 30 * time.Second
	s.stepHook = func(s *sim) {
		again := s.in // the recorded status, the same observations, the same time
		r := Step(again)
		if len(r.Actions.StartUpgrades) != 0 {
			t.Fatalf("step %d: replaying started %v", s.steps, startedNames(r))
		}
		if !equality.Semantic.DeepEqual(r.Status, s.in.Status) {
			t.Fatalf("step %d: replaying moved the status:\n%s\nto\n%s", s.steps, describe(s.in.Status), describe(r.Status))
		}
	}
	if s.runToEnd(200) != fleetv1.StateCompleted {
		t.Fatal(describe(s.in.Status))
	}
}

// TestStepLeavesItsInputAlone checks that Step is pure: the recorded
// status it is given is the same afterwards.
func TestStepLeavesItsInputAlone(t *testing.T) {
	spec := strategyOf(fleetv1.UpdateStage{Name: "s", Groups: []fleetv1.UpdateGroup{{Name: "a", MaxConcurrency: count(2), AfterGates: []fleetv1.GateConfig{approval()}}}, AfterStageWaitInSeconds: 60})
	spec.HealthChecks = []fleetv1.HealthCheck{check("m", fleetv1.RunAfterMember), check("g", fleetv1.RunAfterGroup), check("s", fleetv1.RunAfterStage)}
	members := fleetOf("a", 5)
	members[2].failChecks = "bad"
	spec.Stages[0].Groups[0].MaxAllowedFailures = count(1)
	s := newSim(t, spec, members...)
	s.checksTake = time.Minute
	s.stepHook = func(s *sim) {
		in := s.in
		in.Now = in.Now.Add(time.Hour)
		in.Desired = fleetv1.RunStopped
		in.Skip = []fleetv1.SkipTarget{{Type: fleetv1.SkipGroup, Name: "a"}}
		recorded := in.Status.DeepCopy()
		Step(in)
		in.Desired, in.Skip = fleetv1.RunStarted, nil
		Step(in)
		if !equality.Semantic.DeepEqual(*recorded, in.Status) {
			t.Fatalf("step %d: Step changed its input", s.steps)
		}
	}
	s.runToEnd(100)
}

// A member failed by its upgrade timeout whose upgrade went through all the
// same (the hub could not read its version) is at the target on resume: it
// gets the health checks it never had, not a Skipped that passes it unchecked.
func TestResumeChecksAFailedMemberFoundAtTheTarget(t *testing.T) {
	spec := strategyOf(stage("s", group("a")))
	spec.MemberUpgradeTimeoutSeconds = 60
	spec.HealthChecks = []fleetv1.HealthCheck{check("nodes", fleetv1.RunAfterMember)}
	members := fleetOf("a", 2)
	members[0].upgradeTakes = time.Hour
	s := newSim(t, spec, members...)
	if s.runToEnd(20) != fleetv1.StateFailed {
		t.Fatal(describe(s.in.Status))
	}
	if m := memberState(s.in.Status, "a-00"); m.State != fleetv1.StateFailed || !strings.Contains(m.Message, "did not finish") {
		t.Fatalf("a-00: %s %q", m.State, m.Message)
	}
	// The upgrade went through; the provider has no word on it.
	members[0].upgrading, members[0].version, members[0].outcome = false, s.in.Target, UpgradeUnknown
	s.in.StartRequest = "again"
	r := s.step()
	if len(r.Actions.StartUpgrades) != 0 || len(r.Actions.RunChecks) != 1 || r.Actions.RunChecks[0].Scope.Member != "a-00" {
		t.Fatalf("resume: upgrades %v, checks %+v; want a-00's checks only\n%s", startedNames(r), r.Actions.RunChecks, describe(r.Status))
	}
	if s.runToEnd(20) != fleetv1.StateCompleted {
		t.Fatal(describe(s.in.Status))
	}
	if m := memberState(s.in.Status, "a-00"); m.State != fleetv1.StateCompleted || members[0].upgrades != 1 {
		t.Fatalf("a-00: %s %q, upgraded %d times", m.State, m.Message, members[0].upgrades)
	}
}
