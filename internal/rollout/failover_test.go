package rollout

import (
	"testing"
	"time"

	fleetv1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
)

func TestAnAttemptRecordsItsNumberAndTheHubInstanceThatStartedIt(t *testing.T) {
	s := newSim(t, strategyOf(stage("s", group("g"))), member("m1", "g"))
	s.fleet["m1"].upgradeTakes = 10 * time.Minute
	s.in.Instance = "hub-a"
	s.step()
	op := memberState(s.in.Status, "m1").Operation
	if op == nil || op.Attempt != 1 || op.HubInstance != "hub-a" || !op.StartedAt.Equal(memberState(s.in.Status, "m1").StartTime) {
		t.Fatalf("operation %+v", op)
	}
}

func TestAnInterruptedAttemptIsRunAgainAsANewAttemptByTheNewInstance(t *testing.T) {
	s := newSim(t, strategyOf(stage("s", group("g"))), member("m1", "g"))
	s.fleet["m1"].upgradeTakes = 10 * time.Minute
	s.in.Instance = "hub-a"
	s.step()
	first := memberState(s.in.Status, "m1")

	// hub-a dies; hub-b finds no record of the attempt and the provider
	// says a new one is safe.
	in := s.in
	in.Instance = "hub-b"
	in.Now = t0.Add(30 * time.Second)
	in.Observed = Observations{Members: map[string]MemberObservation{"m1": {Version: "1.36.3", Upgrade: UpgradeObservation{State: UpgradeInterrupted}}}}
	r := Step(in)
	m := memberState(r.Status, "m1")
	if m.State != fleetv1.StateRunning || m.Operation == nil || m.Operation.Attempt != 2 || m.Operation.HubInstance != "hub-b" {
		t.Fatalf("after the failover: %s, %+v", m.State, m.Operation)
	}
	if !m.StartTime.After(first.StartTime.Time) {
		t.Fatalf("the new attempt kept the old start time %s", m.StartTime)
	}
	if len(r.Actions.StartUpgrades) != 1 || r.Actions.StartUpgrades[0].Member != "m1" {
		t.Fatalf("actions %+v, want one StartUpgrade of m1", r.Actions)
	}
	// The same step again (a retry after a lost status write) starts
	// nothing more once the attempt is recorded as in flight.
	in.Status = throughAPIServer(t, r.Status)
	in.Observed.Members["m1"] = MemberObservation{Version: "1.36.3", Upgrade: UpgradeObservation{State: UpgradeInProgress}}
	if again := Step(in); len(again.Actions.StartUpgrades) != 0 {
		t.Fatalf("a recorded attempt was started again: %+v", again.Actions.StartUpgrades)
	}
}

func TestAnInterruptedAttemptThatCannotBeRerunFailsTheMemberAndStopsTheRun(t *testing.T) {
	s := newSim(t, strategyOf(stage("s", group("g"))), member("m1", "g"), member("m2", "g"))
	s.fleet["m1"].upgradeTakes = 10 * time.Minute
	s.in.Instance = "hub-a"
	s.step()
	in := s.in
	in.Instance = "hub-b"
	in.Observed = Observations{Members: map[string]MemberObservation{
		"m1": {Version: "1.36.3", Upgrade: UpgradeObservation{State: UpgradeFailed, Message: "interrupted by a hub failover"}},
		"m2": {Version: "1.36.3"},
	}}
	r := Step(in)
	if m := memberState(r.Status, "m1"); m.State != fleetv1.StateFailed {
		t.Fatalf("m1 %s", m.State)
	}
	for _, a := range r.Actions.StartUpgrades {
		if a.Member == "m2" {
			t.Fatal("the run went on to m2 after a failure")
		}
	}
}
