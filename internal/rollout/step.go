package rollout

import (
	"fmt"
	"slices"
	"time"

	fleetv1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
)

// stepper holds one step's inputs, the status it is building and what it
// has decided so far.
type stepper struct {
	in  Input
	now time.Time
	st  fleetv1.UpdateRunStatus

	stages  []*stageNode
	skips   skipSet
	windows memberWindows
	labels  map[string]map[string]string

	memberChecks, groupChecks, stageChecks []fleetv1.HealthCheck
	upgradeTimeout                         time.Duration
	// strategyErr is a strategy the engine cannot run (bad windows).
	strategyErr error

	actions     Actions
	transitions []Transition
	next        time.Time
	// failure is the first failure that stopped the run in this step.
	failure string
}

// Step computes a run's next status and the actions to take, from the
// recorded status, the operator's wishes, fresh observations and the clock.
// It is pure: the same input gives the same result, and feeding the result's
// status back with the same observations starts nothing new.
func Step(in Input) Result {
	s := newStepper(in)
	s.step()
	return Result{Status: s.st, Actions: s.actions, Transitions: s.transitions, NextStepAt: s.next}
}

func newStepper(in Input) *stepper {
	s := &stepper{in: in, now: in.Now}
	s.st = copyStatus(&in.Status)
	s.skips = newSkipSet(in.Skip)
	for _, c := range in.Strategy.HealthChecks {
		switch c.RunAfter {
		case fleetv1.RunAfterGroup:
			s.groupChecks = append(s.groupChecks, c)
		case fleetv1.RunAfterStage:
			s.stageChecks = append(s.stageChecks, c)
		default:
			s.memberChecks = append(s.memberChecks, c)
		}
	}
	s.upgradeTimeout = time.Duration(in.Strategy.MemberUpgradeTimeoutSeconds) * time.Second
	s.windows, s.strategyErr = compileWindows(in.Strategy)
	return s
}

func runRef(s *stepper) ref { return ref{kind: KindRun, name: s.in.RunName} }

func (s *stepper) runState() fleetv1.State { return stateOf(&s.st.Progress) }

func (s *stepper) setRun(state fleetv1.State, message string) {
	s.set(runRef(s), &s.st.Progress, state, message)
}

// starting reports whether the run may start new work in this step.
func (s *stepper) starting() bool { return s.runState() == fleetv1.StateRunning }

func (s *stepper) step() {
	if s.runState() == fleetv1.StateCompleted {
		return // finished for good; starting it again is an illegal transition
	}
	s.drive()
	s.count()
	s.syncGates()
	if state := s.runState(); state != fleetv1.StateRunning && state != fleetv1.StateStopping {
		s.next = time.Time{}
	}
}

// drive applies the operator's wishes to the run, then advances it.
func (s *stepper) drive() {
	desired := s.in.Desired
	if desired == "" {
		desired = fleetv1.RunNotStarted
	}
	state := s.runState()
	// A run that never started (including one that failed to) takes its
	// members from the fleet as it is now.
	fresh := state == fleetv1.StateNotStarted || s.st.StartTime == nil || len(s.st.Stages) == 0
	err := s.strategyErr
	if err == nil {
		err = s.buildTree(fresh)
	}
	if err != nil {
		s.cannotRun(err, desired)
		return
	}
	s.applySkips()

	switch state {
	case fleetv1.StateNotStarted:
		s.st.Progress = fleetv1.Progress{State: fleetv1.StateNotStarted}
		if desired != fleetv1.RunStarted {
			return
		}
		s.setRun(fleetv1.StateRunning, "running")
		s.st.LastStartRequest = s.in.StartRequest
		// From here the run follows the strategy as it is now: editing or
		// deleting the UpdateStrategy it names changes no started run.
		if s.st.StrategySnapshot == nil {
			s.st.StrategySnapshot = s.in.Strategy.DeepCopy()
		}
	case fleetv1.StateFailed:
		if desired != fleetv1.RunStarted || s.in.StartRequest == s.st.LastStartRequest {
			return
		}
		s.resume()
	case fleetv1.StateStopped:
		if desired != fleetv1.RunStarted {
			return
		}
		s.resume()
	case fleetv1.StateStopping:
		if desired == fleetv1.RunStarted && !s.failing() {
			s.unstop()
		}
	default: // Running, and states a run does not use, read as Running
		if desired != fleetv1.RunStarted {
			s.setRun(fleetv1.StateStopping, "stopping as asked: upgrades in flight finish first")
		}
	}
	s.advance()
}

// cannotRun reports a strategy or member set the engine cannot run. A run
// asked to start fails with the reason; otherwise the reason is only shown.
func (s *stepper) cannotRun(err error, desired fleetv1.UpdateRunDesiredState) {
	state := s.runState()
	switch {
	case state == fleetv1.StateNotStarted && desired != fleetv1.RunStarted:
		s.st.Progress.State = fleetv1.StateNotStarted
		s.st.Message = "cannot start: " + err.Error()
	case state == fleetv1.StateFailed && (desired != fleetv1.RunStarted || s.in.StartRequest == s.st.LastStartRequest):
	default:
		s.st.LastStartRequest = s.in.StartRequest
		s.setRun(fleetv1.StateFailed, "cannot run: "+err.Error())
	}
}

// advance walks the stages in order, driving the first that is not done;
// stages after it wait.
func (s *stepper) advance() {
	for _, n := range s.stages {
		if s.advanceStage(n) {
			continue
		}
		s.st.CurrentStage = n.name
		switch {
		case s.runState() == fleetv1.StateStopping && n.inFlight == 0:
			s.finishStopping(n)
		case s.runState() == fleetv1.StateRunning && n.p.Message != "":
			// Say what the run is doing, for listings.
			s.st.Message = "stage " + n.name + ": " + n.p.Message
		}
		return
	}
	s.st.CurrentStage = ""
	if s.runState() == fleetv1.StateRunning || s.runState() == fleetv1.StateStopping {
		s.setRun(fleetv1.StateCompleted, s.summary())
	}
}

// fail moves the run to Stopping because of a failure: nothing new starts,
// upgrades in flight finish, then the run is Failed.
func (s *stepper) fail(reason string) {
	if s.failure == "" {
		s.failure = reason
	}
	if state := s.runState(); state == fleetv1.StateRunning || state == fleetv1.StateStopping {
		s.setRun(fleetv1.StateStopping, reason+"; upgrades in flight finish, then the run fails")
	}
}

// failing reports a failure that stops the run: a Failed stage or group.
func (s *stepper) failing() bool {
	for _, n := range s.stages {
		if n.p.State == fleetv1.StateFailed {
			return true
		}
		for _, g := range n.groups {
			if g.p.State == fleetv1.StateFailed {
				return true
			}
		}
	}
	return false
}

// finishStopping ends a stopping run once nothing is in flight: Failed if a
// failure stopped it, Stopped if the operator did. What was under way
// becomes Stopped (or Failed); waiting members go back to NotStarted, and
// health checks of groups and stages are abandoned, to run again on resume.
func (s *stepper) finishStopping(n *stageNode) {
	failing := s.failing()
	for _, g := range n.groups {
		for i := range g.p.Members {
			m := &g.p.Members[i]
			if m.State == fleetv1.StatePending {
				s.set(memberRef(g, m), &m.Progress, fleetv1.StateNotStarted, "")
			}
		}
		abandonChecks(g.p.HealthChecks)
		switch g.p.State {
		case fleetv1.StateRunning, fleetv1.StatePending, fleetv1.StateStopping:
			if failing && g.failed > 0 {
				s.set(groupRef(g), &g.p.Progress, fleetv1.StateFailed, fmt.Sprintf("%d members failed", g.failed))
			} else {
				s.set(groupRef(g), &g.p.Progress, fleetv1.StateStopped, "stopped")
			}
		}
	}
	abandonChecks(n.p.HealthChecks)
	if w := n.p.AfterStageWait; w != nil && w.State == fleetv1.StateRunning {
		s.set(ref{kind: KindAfterStageWait, stage: n.name, name: "after-stage-wait"}, w, fleetv1.StateStopped, "stopped")
	}
	switch n.p.State {
	case fleetv1.StateRunning, fleetv1.StatePending, fleetv1.StateStopping:
		if failing {
			s.set(stageRef(n), &n.p.Progress, fleetv1.StateFailed, "failed")
		} else {
			s.set(stageRef(n), &n.p.Progress, fleetv1.StateStopped, "stopped")
		}
	}
	if failing {
		reason := s.failure
		if reason == "" {
			reason = s.firstFailure()
		}
		s.setRun(fleetv1.StateFailed, reason)
	} else {
		s.setRun(fleetv1.StateStopped, "stopped as asked")
	}
}

// abandonChecks resets checks cut short by a stop, so that they run again.
func abandonChecks(p *fleetv1.Progress) {
	if p != nil && p.State == fleetv1.StateRunning {
		*p = fleetv1.Progress{State: fleetv1.StateNotStarted}
	}
}

// firstFailure describes the first Failed node, for the run's message.
func (s *stepper) firstFailure() string {
	for _, n := range s.stages {
		for _, g := range n.groups {
			for i := range g.p.Members {
				if m := &g.p.Members[i]; m.State == fleetv1.StateFailed {
					return fmt.Sprintf("member %s failed: %s", m.Name, m.Message)
				}
			}
			if g.p.State == fleetv1.StateFailed {
				return fmt.Sprintf("group %s failed: %s", g.name, g.p.Message)
			}
		}
		if n.p.State == fleetv1.StateFailed {
			return fmt.Sprintf("stage %s failed: %s", n.name, n.p.Message)
		}
	}
	return "failed"
}

// unstop takes back a stop the operator asked for while it is still under
// way: the run carries on.
func (s *stepper) unstop() {
	s.setRun(fleetv1.StateRunning, "running")
	for _, n := range s.stages {
		if n.p.State == fleetv1.StateStopping {
			s.set(stageRef(n), &n.p.Progress, fleetv1.StateRunning, "")
		}
		for _, g := range n.groups {
			if g.p.State == fleetv1.StateStopping {
				s.set(groupRef(g), &g.p.Progress, fleetv1.StateRunning, "")
			}
		}
	}
}

// resume restarts a Stopped or Failed run from where it stopped. Completed
// and Skipped members stay as they are. In a group not yet done, a member
// whose upgrade failed is retried from the start, one whose upgrade
// succeeded but whose health checks failed only has its checks run again,
// and one that failed but is at the target all the same has its checks run;
// failures a finished group tolerated stay as they are. Stopped or Failed
// stages and groups start over, keeping their approved gates and their
// start times.
func (s *stepper) resume() {
	s.setRun(fleetv1.StateRunning, "resumed")
	s.st.LastStartRequest = s.in.StartRequest
	for _, n := range s.stages {
		if resumable(n.p.State) {
			s.set(stageRef(n), &n.p.Progress, fleetv1.StateNotStarted, "resumed")
		}
		resetFailedChecks(n.p.HealthChecks)
		if w := n.p.AfterStageWait; w != nil && w.State == fleetv1.StateStopped {
			s.set(ref{kind: KindAfterStageWait, stage: n.name, name: "after-stage-wait"}, w, fleetv1.StateNotStarted, "")
		}
		for _, g := range n.groups {
			if resumable(g.p.State) {
				s.set(groupRef(g), &g.p.Progress, fleetv1.StateNotStarted, "resumed")
			}
			resetFailedChecks(g.p.HealthChecks)
			if done(g.p.State) {
				continue // its failures were within its budget: accepted
			}
			for i := range g.p.Members {
				m := &g.p.Members[i]
				if m.State != fleetv1.StateFailed || (len(s.in.RetryMembers) > 0 && !slices.Contains(s.in.RetryMembers, m.Name)) {
					continue
				}
				if m.HealthChecks != nil {
					m.HealthChecks = &fleetv1.Progress{State: fleetv1.StateNotStarted}
					s.set(memberRef(g, m), &m.Progress, fleetv1.StateRunning, "upgraded; running health checks again")
					continue
				}
				if m.Operation != nil && s.in.Observed.Members[m.Name].AtTarget {
					// Failed while its upgrade went through (the hub lost sight
					// of the member): retrying would find it at the target and
					// skip it unchecked, so it gets the checks it never had.
					m.HealthChecks = &fleetv1.Progress{State: fleetv1.StateNotStarted}
					s.set(memberRef(g, m), &m.Progress, fleetv1.StateRunning, "at the target after the failed attempt; running health checks")
					continue
				}
				previous := m.Message
				keepAttempt(m)
				m.StartTime, m.CompletedTime = nil, nil
				s.set(memberRef(g, m), &m.Progress, fleetv1.StateNotStarted, "to be retried; the last attempt failed: "+previous)
			}
		}
	}
}

// keptAttempts bounds a member's PreviousAttempts.
const keptAttempts = 10

// keepAttempt records how a failed member's attempt ended before it is
// tried again.
func keepAttempt(m *fleetv1.MemberProgress) {
	rec := fleetv1.AttemptRecord{Attempt: 1, StartTime: m.StartTime, CompletedTime: m.CompletedTime, Message: m.Message}
	if m.Operation != nil {
		rec.Attempt = m.Operation.Attempt
	} else if n := len(m.PreviousAttempts); n > 0 {
		rec.Attempt = m.PreviousAttempts[n-1].Attempt + 1
	}
	m.PreviousAttempts = append(m.PreviousAttempts, rec)
	if extra := len(m.PreviousAttempts) - keptAttempts; extra > 0 {
		m.PreviousAttempts = slices.Delete(m.PreviousAttempts, 0, extra)
	}
}

func resumable(state fleetv1.State) bool {
	return state == fleetv1.StateFailed || state == fleetv1.StateStopped || state == fleetv1.StateStopping
}

func resetFailedChecks(p *fleetv1.Progress) {
	if p != nil && p.State == fleetv1.StateFailed {
		*p = fleetv1.Progress{State: fleetv1.StateNotStarted}
	}
}

// count fills in the run's member counters.
func (s *stepper) count() {
	total, finishedOK := 0, 0
	for i := range s.st.Stages {
		for j := range s.st.Stages[i].Groups {
			members := s.st.Stages[i].Groups[j].Members
			total += len(members)
			for k := range members {
				if done(members[k].State) {
					finishedOK++
				}
			}
		}
	}
	s.st.MembersTotal, s.st.MembersDone = int32(total), int32(finishedOK)
}

// summary describes a finished run.
func (s *stepper) summary() string {
	upgraded, skipped, failed := 0, 0, 0
	for i := range s.st.Stages {
		for j := range s.st.Stages[i].Groups {
			for _, m := range s.st.Stages[i].Groups[j].Members {
				switch m.State {
				case fleetv1.StateCompleted:
					upgraded++
				case fleetv1.StateSkipped:
					skipped++
				case fleetv1.StateFailed:
					failed++
				}
			}
		}
	}
	msg := fmt.Sprintf("%d upgraded, %d skipped", upgraded, skipped)
	if failed > 0 {
		msg += fmt.Sprintf(", %d failed within the failure budget", failed)
	}
	return msg
}
