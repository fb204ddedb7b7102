package rollout

import (
	"slices"
	"testing"
	"time"

	fleetv1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
)

func TestMakePlan(t *testing.T) {
	spec := strategyOf(
		fleetv1.UpdateStage{Name: "dev", Groups: []fleetv1.UpdateGroup{{Name: "d", MaxConcurrency: percent("50%")}}, AfterStageWaitInSeconds: 3600,
			AfterGates: []fleetv1.GateConfig{{Type: fleetv1.GateApproval, DisplayName: "check the dashboards"}}},
		fleetv1.UpdateStage{Name: "prod", Groups: []fleetv1.UpdateGroup{{Name: "p", MaxAllowedFailures: count(1)}}, MaxConcurrency: count(3),
			BeforeGates: []fleetv1.GateConfig{{Type: fleetv1.GateScheduledStart, Schedule: &fleetv1.GateSchedule{DaysOfWeek: []string{"Tuesday"}, StartTime: "09:30", UTCOffset: "+01:00"}}}},
	)
	spec.HealthChecks = []fleetv1.HealthCheck{check("nodes", ""), check("smoke", fleetv1.RunAfterStage)}
	spec.MaintenanceWindows = []fleetv1.MaintenanceWindow{{WeeklyWindow: fleetv1.WeeklyWindow{StartTime: "22:00", DurationMinutes: 60}, MemberSelector: selector("window", "night")}}
	in := Input{
		RunName:  "r",
		Strategy: spec,
		Target:   "1.37.2",
		Members: []Member{
			{Name: "d1", UpdateGroup: "d"}, {Name: "d2", UpdateGroup: "d"},
			{Name: "p1", UpdateGroup: "p"}, {Name: "p2", UpdateGroup: "p"}, {Name: "p3", UpdateGroup: "p", Labels: map[string]string{"window": "night"}}, {Name: "p4", UpdateGroup: "p"},
			{Name: "x", UpdateGroup: "elsewhere"},
		},
		Skip: []fleetv1.SkipTarget{{Type: fleetv1.SkipMember, Name: "p4"}, {Type: fleetv1.SkipAfterStageWait, Name: "dev"}},
		Observed: Observations{Members: map[string]MemberObservation{
			"d1": {Version: "v1.36.3"},
			"d2": {Version: "v1.37.2", AtTarget: true},
			"p1": {Version: "v1.35.9", Blocked: "more than one minor version: the control plane runs 1.35.9 and cannot jump to 1.37.2; upgrade to 1.36 first"},
			"p2": {Version: "v1.36.3"},
			"p3": {Version: "v1.36.3"},
			"p4": {Version: "v1.36.3"},
		}},
		Now: t0,
	}
	plan, err := MakePlan(in)
	if err != nil {
		t.Fatal(err)
	}
	if len(plan.Stages) != 2 {
		t.Fatalf("stages %+v", plan.Stages)
	}
	dev, prod := plan.Stages[0], plan.Stages[1]
	if dev.AfterStageWait != time.Hour || dev.SkipAfterStageWait != "skipped by request" || dev.MaxConcurrency != 0 || dev.MaxAllowedFailures != -1 || !slices.Equal(dev.HealthChecks, []string{"smoke"}) {
		t.Errorf("dev = %+v", dev)
	}
	if len(dev.AfterGates) != 1 || dev.AfterGates[0] != (GatePlan{Name: GateName("r", "dev", "", fleetv1.GateAfter, 0), Type: fleetv1.GateApproval, DisplayName: "check the dashboards", State: fleetv1.StateNotStarted}) {
		t.Errorf("dev gates %+v", dev.AfterGates)
	}
	if g := dev.Groups[0]; g.MaxConcurrency != 1 || g.MaxAllowedFailures != -1 {
		t.Errorf("group d = %+v (50%% of 2 is 1)", g)
	}
	if prod.MaxConcurrency != 3 || prod.BeforeGates[0].Schedule != "Tuesday 09:30 +01:00" || prod.Groups[0].MaxAllowedFailures != 1 {
		t.Errorf("prod = %+v", prod)
	}
	want := map[string]MemberPlan{
		"d1": {Name: "d1", CurrentVersion: "v1.36.3", TargetVersion: "1.37.2", Action: PlanUpgrade, HealthChecks: []string{"nodes"}},
		"d2": {Name: "d2", CurrentVersion: "v1.37.2", TargetVersion: "1.37.2", Action: PlanSkip, Reason: "already at the target 1.37.2", HealthChecks: []string{"nodes"}},
		"p1": {Name: "p1", CurrentVersion: "v1.35.9", TargetVersion: "1.37.2", Action: PlanRefuse, Reason: in.Observed.Members["p1"].Blocked, HealthChecks: []string{"nodes"}},
		"p2": {Name: "p2", CurrentVersion: "v1.36.3", TargetVersion: "1.37.2", Action: PlanUpgrade, HealthChecks: []string{"nodes"}},
		"p3": {Name: "p3", CurrentVersion: "v1.36.3", TargetVersion: "1.37.2", Action: PlanUpgrade, Reason: "waits: outside its maintenance windows until 2026-11-23 22:00 UTC", HealthChecks: []string{"nodes"}},
		"p4": {Name: "p4", CurrentVersion: "v1.36.3", TargetVersion: "1.37.2", Action: PlanSkip, Reason: "skipped by request", HealthChecks: []string{"nodes"}},
	}
	var order []string
	for _, s := range plan.Stages {
		for _, g := range s.Groups {
			for _, m := range g.Members {
				order = append(order, m.Name)
				w := want[m.Name]
				if m.Name != w.Name || m.CurrentVersion != w.CurrentVersion || m.TargetVersion != w.TargetVersion || m.Action != w.Action || m.Reason != w.Reason || !slices.Equal(m.HealthChecks, w.HealthChecks) {
					t.Errorf("member %s = %+v\nwant %+v", m.Name, m, w)
				}
			}
		}
	}
	if !slices.Equal(order, []string{"d1", "d2", "p1", "p2", "p3", "p4"}) {
		t.Errorf("order %v", order)
	}
	if len(plan.Untouched) != 1 || plan.Untouched[0].Name != "x" {
		t.Errorf("untouched %+v", plan.Untouched)
	}
	if ws := plan.Problems.Warnings(); len(ws) != 1 {
		t.Errorf("problems %v, want one warning for x's unknown group", plan.Problems)
	}
}

func TestMakePlanOfAStartedRun(t *testing.T) {
	s := newSim(t, strategyOf(stage("s", group("a"))), fleetOf("a", 3)...)
	s.fleet["a-01"].upgradeTakes = time.Hour
	s.step()
	s.step()
	in := s.in
	in.Observed = s.observe()
	plan, err := MakePlan(in)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]MemberAction{}
	for _, m := range plan.Stages[0].Groups[0].Members {
		got[m.Name] = m.Action
	}
	if got["a-00"] != PlanDone || got["a-01"] != PlanDone || got["a-02"] != PlanUpgrade {
		t.Fatalf("actions %v", got)
	}
}

func TestMakePlanRefusesAConflict(t *testing.T) {
	spec := strategyOf(stage("s", group("a"), fleetv1.UpdateGroup{Name: "b", MemberSelector: selector()}))
	if _, err := MakePlan(Input{Strategy: spec, Members: []Member{{Name: "m", UpdateGroup: "a"}}}); err == nil {
		t.Fatal("planned a member that two groups claim")
	}
}
