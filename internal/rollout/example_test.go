package rollout_test

import (
	"fmt"
	"time"

	fleetv1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/internal/rollout"
)

// A controller's reconcile, in small: gather observations, step the engine,
// carry out its actions, write the status back, and step again when the
// world changes or at NextStepAt. Here a fake provider finishes each upgrade
// one minute after it started, and the clock is a variable.
func Example() {
	strategy := fleetv1.UpdateStrategySpec{Stages: []fleetv1.UpdateStage{
		{Name: "canary", Groups: []fleetv1.UpdateGroup{{Name: "eu"}}, AfterStageWaitInSeconds: 600},
		{Name: "prod", Groups: []fleetv1.UpdateGroup{{Name: "us"}}},
	}}
	members := []rollout.Member{ // from the MemberClusters
		{Name: "eu-1", UpdateGroup: "eu"},
		{Name: "us-1", UpdateGroup: "us"},
		{Name: "us-2", UpdateGroup: "us"},
	}
	provider := fakeProvider{started: map[string]time.Time{}}
	now := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	var status fleetv1.UpdateRunStatus // the run's recorded status

	for range 20 {
		res := rollout.Step(rollout.Input{
			RunName:  "k8s-1-37",
			Strategy: strategy, // the run's strategy snapshot
			Target:   "v1.37.2",
			Members:  members,
			Desired:  fleetv1.RunStarted, // the run's spec.state
			Status:   status,
			Observed: provider.observe(members, now), // also Gates and health-check results
			Now:      now,
		})
		for _, u := range res.Actions.StartUpgrades {
			provider.start(u.Member, now) // idempotent, keyed by run and member
		}
		// A controller also runs res.Actions.RunChecks, cancels
		// res.Actions.CancelUpgrades and creates res.Actions.Gates.
		for _, t := range res.Transitions {
			if t.Kind != rollout.KindGroup {
				fmt.Printf("%s %s %s: %s → %s\n", now.Format("15:04"), t.Kind, t.Path, t.From, t.To)
			}
		}
		status = res.Status // written back with one status patch, then Events for the transitions
		if status.State == fleetv1.StateCompleted || status.State == fleetv1.StateFailed {
			break
		}
		// Step again at NextStepAt, or when the provider's progress (a watch
		// or a poll) wakes the controller earlier.
		next := res.NextStepAt
		if done, ok := provider.nextDone(now); ok && (next.IsZero() || done.Before(next)) {
			next = done
		}
		if next.IsZero() {
			break // nothing left that could change the run
		}
		now = next
	}
	// Output:
	// 09:00 Run k8s-1-37: NotStarted → Running
	// 09:00 Stage canary: NotStarted → Running
	// 09:00 Member canary/eu/eu-1: NotStarted → Running
	// 09:01 Member canary/eu/eu-1: Running → Completed
	// 09:01 AfterStageWait canary/after-stage-wait: NotStarted → Running
	// 09:11 AfterStageWait canary/after-stage-wait: Running → Completed
	// 09:11 Stage canary: Running → Completed
	// 09:11 Stage prod: NotStarted → Running
	// 09:11 Member prod/us/us-1: NotStarted → Running
	// 09:12 Member prod/us/us-1: Running → Completed
	// 09:12 Member prod/us/us-2: NotStarted → Running
	// 09:13 Member prod/us/us-2: Running → Completed
	// 09:13 Stage prod: Running → Completed
	// 09:13 Run k8s-1-37: Running → Completed
}

const upgradeTakes = time.Minute

// fakeProvider upgrades a member in upgradeTakes.
type fakeProvider struct {
	started map[string]time.Time
}

func (p fakeProvider) start(member string, now time.Time) {
	if _, ok := p.started[member]; !ok {
		p.started[member] = now
	}
}

// nextDone is when the next upgrade in flight after now finishes.
func (p fakeProvider) nextDone(now time.Time) (time.Time, bool) {
	var next time.Time
	for _, at := range p.started {
		if done := at.Add(upgradeTakes); done.After(now) && (next.IsZero() || done.Before(next)) {
			next = done
		}
	}
	return next, !next.IsZero()
}

// observe reports every member's version and upgrade, as a controller
// learns them from the member's API and its provider.
func (p fakeProvider) observe(members []rollout.Member, now time.Time) rollout.Observations {
	obs := rollout.Observations{Members: map[string]rollout.MemberObservation{}}
	for _, member := range members {
		name := member.Name
		m := rollout.MemberObservation{Version: "v1.36.3"}
		if at, ok := p.started[name]; ok {
			m.Upgrade = rollout.UpgradeObservation{State: rollout.UpgradeInProgress, StartedAt: at}
			if !now.Before(at.Add(upgradeTakes)) {
				m.Version, m.AtTarget = "v1.37.2", true
				m.Upgrade.State = rollout.UpgradeSucceeded
			}
		}
		obs.Members[name] = m
	}
	return obs
}
