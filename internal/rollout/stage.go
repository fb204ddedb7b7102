package rollout

import (
	"fmt"
	"time"

	fleetv1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
)

// advanceStage drives one stage as far as this step allows and reports
// whether it is done (Completed or Skipped), so that the next may start in
// the same step.
func (s *stepper) advanceStage(n *stageNode) bool {
	p := &n.p.Progress
	if done(p.State) {
		return true
	}
	if notYetStarted(p.State) {
		if !s.starting() {
			return false
		}
		if waiting := s.passGates(&n.before); waiting != "" {
			s.set(stageRef(n), p, fleetv1.StatePending, "waiting for "+waiting)
			return false
		}
		s.set(stageRef(n), p, fleetv1.StateRunning, "")
	}

	// Members: learn what finished, then start what may start, so that a
	// member finishing and the next one starting happen in the same step.
	s.absorbStage(n)
	if s.starting() {
		for _, g := range n.groups {
			s.openGroup(g)
		}
	}
	s.enforceBudgets(n)
	if s.starting() {
		s.fillSlots(n)
		for _, g := range n.groups {
			s.completeGroup(g)
		}
	}
	if !s.starting() {
		s.markStopping(n)
		return false
	}

	open := 0
	for _, g := range n.groups {
		if !done(g.p.State) {
			open++
		}
	}
	if open > 0 {
		s.set(stageRef(n), p, p.State, s.stageProgressMessage(n))
		return false
	}
	return s.finishStage(n)
}

// finishStage runs what follows a stage's groups: its health checks, then
// its wait and after gates at the same time.
func (s *stepper) finishStage(n *stageNode) bool {
	p := &n.p.Progress
	if len(s.stageChecks) > 0 {
		if n.p.HealthChecks == nil {
			n.p.HealthChecks = &fleetv1.Progress{State: fleetv1.StateNotStarted}
		}
		scope := Scope{Level: LevelStage, Stage: n.name}
		var members []string
		for _, g := range n.groups {
			members = append(members, upgradedMembers(g)...)
		}
		switch s.advanceChecks(ref{kind: KindHealthChecks, stage: n.name}, scope, n.p.HealthChecks, s.stageChecks, members) {
		case checksRunning:
			s.set(stageRef(n), p, p.State, "running health checks")
			return false
		case checksFailed:
			s.set(stageRef(n), p, fleetv1.StateFailed, "health checks failed: "+n.p.HealthChecks.Message)
			s.fail(fmt.Sprintf("stage %s health checks failed", n.name))
			return false
		}
	}
	waited := s.advanceWait(n)
	waiting := s.passGates(&n.after)
	switch {
	case !waited && waiting != "":
		s.set(stageRef(n), p, p.State, fmt.Sprintf("waiting until %s and for %s", formatTime(s.waitEnd(n)), waiting))
		return false
	case !waited:
		s.set(stageRef(n), p, p.State, "waiting until "+formatTime(s.waitEnd(n)))
		return false
	case waiting != "":
		s.set(stageRef(n), p, p.State, "waiting for "+waiting)
		return false
	}
	s.set(stageRef(n), p, fleetv1.StateCompleted, s.stageProgressMessage(n))
	return true
}

func (s *stepper) waitEnd(n *stageNode) time.Time {
	w := n.p.AfterStageWait
	if w == nil || w.StartTime == nil {
		return s.now
	}
	return w.StartTime.Add(time.Duration(n.spec.AfterStageWaitInSeconds) * time.Second)
}

// advanceWait runs the after-stage wait and reports whether it is over.
func (s *stepper) advanceWait(n *stageNode) bool {
	w := n.p.AfterStageWait
	if w == nil || done(w.State) {
		return true
	}
	r := ref{kind: KindAfterStageWait, stage: n.name, name: "after-stage-wait"}
	if w.State != fleetv1.StateRunning {
		s.set(r, w, fleetv1.StateRunning, "")
	}
	end := s.waitEnd(n)
	if !s.now.Before(end) {
		s.set(r, w, fleetv1.StateCompleted, "waited "+(time.Duration(n.spec.AfterStageWaitInSeconds)*time.Second).String())
		return true
	}
	s.wake(end)
	w.Message = "until " + formatTime(end)
	return false
}

// markStopping shows a stopping run's stage and groups as Stopping while
// their upgrades in flight finish.
func (s *stepper) markStopping(n *stageNode) {
	if n.p.State == fleetv1.StateRunning || n.p.State == fleetv1.StatePending {
		s.set(stageRef(n), &n.p.Progress, fleetv1.StateStopping, fmt.Sprintf("%d upgrades in flight finish first", n.inFlight))
	}
	for _, g := range n.groups {
		if g.p.State == fleetv1.StateRunning || g.p.State == fleetv1.StatePending {
			s.set(groupRef(g), &g.p.Progress, fleetv1.StateStopping, fmt.Sprintf("%d upgrades in flight finish first", g.inFlight))
		}
	}
}

func (s *stepper) stageProgressMessage(n *stageNode) string {
	finishedOK, inFlight, waiting := 0, 0, 0
	for _, g := range n.groups {
		finishedOK += g.done
		inFlight += g.inFlight
		waiting += g.waiting
	}
	msg := fmt.Sprintf("%d of %d members done", finishedOK, n.members)
	if inFlight > 0 {
		msg += fmt.Sprintf(", %d upgrading", inFlight)
	}
	if waiting > 0 {
		msg += fmt.Sprintf(", %d waiting", waiting)
	}
	return msg
}
