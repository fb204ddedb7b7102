package rollout

import (
	"fmt"
	"slices"

	fleetv1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
)

// absorbStage takes in what happened to the stage's members in flight and
// counts every group's members.
func (s *stepper) absorbStage(n *stageNode) {
	n.inFlight = 0
	for _, g := range n.groups {
		g.inFlight, g.failed, g.done, g.waiting = 0, 0, 0, 0
		g.candidates = g.candidates[:0]
		retrying := s.retryingIn(g)
		for i := range g.p.Members {
			m := &g.p.Members[i]
			if m.State == fleetv1.StateRunning {
				s.advanceMember(g, m)
				if m.State == fleetv1.StateFailed && s.skips.member(g, m.Name) {
					s.set(memberRef(g, m), &m.Progress, fleetv1.StateSkipped, "skipped by request after it failed: "+m.Message)
				}
			}
			switch m.State {
			case fleetv1.StateRunning:
				g.inFlight++
			case fleetv1.StateFailed:
				if retrying && !slices.Contains(s.in.RetryMembers, m.Name) {
					// Left failed by a retry of other members: counted
					// against the budget once those are done, so that they
					// get their chance first.
					continue
				}
				g.failed++
			case fleetv1.StateCompleted, fleetv1.StateSkipped:
				g.done++
			case fleetv1.StatePending:
				g.waiting++
			}
		}
		n.inFlight += g.inFlight
	}
}

// retryingIn reports whether a retry of named members (RetryMembers) has
// any of them still to finish in the group.
func (s *stepper) retryingIn(g *groupNode) bool {
	if len(s.in.RetryMembers) == 0 {
		return false
	}
	for i := range g.p.Members {
		m := &g.p.Members[i]
		if slices.Contains(s.in.RetryMembers, m.Name) && !finished(m.State) {
			return true
		}
	}
	return false
}

// openGroup passes a group's before gates and sorts its members that have
// not started: already at the target (Skipped), refused (Failed), held by
// another run or outside their windows (Pending), or ready to start.
func (s *stepper) openGroup(g *groupNode) {
	p := &g.p.Progress
	if finished(p.State) {
		return
	}
	if notYetStarted(p.State) {
		if waiting := s.passGates(&g.before); waiting != "" {
			s.set(groupRef(g), p, fleetv1.StatePending, "waiting for "+waiting)
			return
		}
		s.set(groupRef(g), p, fleetv1.StateRunning, "")
	}
	if p.State != fleetv1.StateRunning {
		return
	}
	for i := range g.p.Members {
		m := &g.p.Members[i]
		if !notYetStarted(m.State) {
			continue
		}
		wasPending := m.State == fleetv1.StatePending
		if wasPending {
			g.waiting--
		}
		obs := s.in.Observed.Members[m.Name]
		switch {
		case obs.AtTarget:
			m.FromVersion = obs.Version
			s.set(memberRef(g, m), &m.Progress, fleetv1.StateSkipped, "already at the target "+s.in.Target)
			g.done++
			continue
		case obs.Blocked != "":
			m.FromVersion = obs.Version
			s.set(memberRef(g, m), &m.Progress, fleetv1.StateFailed, "refused: "+obs.Blocked)
			g.failed++
			continue
		case obs.Unreachable != "" && s.in.Strategy.OnUnreachableMember == fleetv1.UnreachableSkip:
			m.FromVersion = obs.Version
			s.set(memberRef(g, m), &m.Progress, fleetv1.StateSkipped, "skipped, unreachable at its turn (onUnreachableMember: Skip): "+obs.Unreachable)
			g.done++
			continue
		case obs.Unreachable != "":
			m.FromVersion = obs.Version
			s.set(memberRef(g, m), &m.Progress, fleetv1.StateFailed, "unreachable at its turn: "+obs.Unreachable+" (onUnreachableMember: Skip would skip it)")
			g.failed++
			continue
		case obs.HeldBy != "":
			s.set(memberRef(g, m), &m.Progress, fleetv1.StatePending, fmt.Sprintf("waiting for update run %s, which is upgrading this member", obs.HeldBy))
			g.waiting++
			continue
		}
		if !s.windows.empty() {
			if av := s.windows.availability(s.memberLabels(m.Name), s.now); !av.Open {
				s.set(memberRef(g, m), &m.Progress, fleetv1.StatePending, av.Reason)
				s.wake(av.Until)
				g.waiting++
				continue
			}
		}
		if wasPending {
			s.set(memberRef(g, m), &m.Progress, fleetv1.StateNotStarted, "")
		}
		g.candidates = append(g.candidates, m)
	}
}

// memberLabels finds a member's labels, for windows that select members.
func (s *stepper) memberLabels(name string) map[string]string {
	if s.labels == nil {
		s.labels = make(map[string]map[string]string, len(s.in.Members))
		for _, m := range s.in.Members {
			s.labels[m.Name] = m.Labels
		}
	}
	return s.labels[name]
}

// enforceBudgets fails a group or stage whose failed members exceed its
// budget, which stops the run. When neither a group nor its stage sets a
// budget, no failure is tolerated (fail fast).
func (s *stepper) enforceBudgets(n *stageNode) {
	stageFailed := 0
	var groupFailed *groupNode
	for _, g := range n.groups {
		stageFailed += g.failed
		exceeded := g.budget.exceededBy(g.failed) || (!g.budget.set && !n.budget.set && g.failed > 0)
		if !exceeded || g.p.State == fleetv1.StateFailed || g.p.State == fleetv1.StateSkipped {
			continue
		}
		s.set(groupRef(g), &g.p.Progress, fleetv1.StateFailed, budgetMessage(g.failed, len(g.p.Members), g.budget))
		s.fail(s.failedMemberReason(g))
		if groupFailed == nil {
			groupFailed = g
		}
	}
	if n.p.State == fleetv1.StateFailed {
		return
	}
	switch {
	case groupFailed != nil:
		s.set(stageRef(n), &n.p.Progress, fleetv1.StateFailed, fmt.Sprintf("group %s failed", groupFailed.name))
	case n.budget.exceededBy(stageFailed):
		s.set(stageRef(n), &n.p.Progress, fleetv1.StateFailed, budgetMessage(stageFailed, n.members, n.budget))
		for _, g := range n.groups {
			if g.failed > 0 {
				s.fail(s.failedMemberReason(g))
				break
			}
		}
	}
}

func budgetMessage(failed, total int, b failureBudget) string {
	return fmt.Sprintf("%d of %d members failed, %d allowed", failed, total, b.allowed)
}

// failedMemberReason names a group's first failed member and why.
func (s *stepper) failedMemberReason(g *groupNode) string {
	for i := range g.p.Members {
		if m := &g.p.Members[i]; m.State == fleetv1.StateFailed {
			return fmt.Sprintf("member %s failed: %s", m.Name, m.Message)
		}
	}
	return fmt.Sprintf("group %s failed", g.name)
}

// fillSlots starts members while the groups' and the stage's concurrency
// allow, taking one member per group in turn so that parallel groups share
// a stage's cap fairly.
func (s *stepper) fillSlots(n *stageNode) {
	stageFree := -1 // no stage cap
	if n.maxInFlight > 0 {
		stageFree = n.maxInFlight - n.inFlight
	}
	next := make([]int, len(n.groups))
	for stageFree != 0 {
		started := false
		for gi, g := range n.groups {
			if stageFree == 0 {
				break
			}
			if g.p.State != fleetv1.StateRunning || next[gi] >= len(g.candidates) || g.inFlight >= g.maxInFlight {
				continue
			}
			m := g.candidates[next[gi]]
			next[gi]++
			s.startMember(g, m)
			g.inFlight++
			n.inFlight++
			if stageFree > 0 {
				stageFree--
			}
			started = true
		}
		if !started {
			return
		}
	}
}

// startMember starts a member's upgrade: the one place StartUpgrade is
// emitted, on the move from NotStarted to Running, so a member whose status
// says Running is never started again.
func (s *stepper) startMember(g *groupNode, m *fleetv1.MemberProgress) {
	obs := s.in.Observed.Members[m.Name]
	m.FromVersion = obs.Version
	m.TargetVersion = s.in.Target
	m.HealthChecks = nil
	m.StartTime = nil
	s.set(memberRef(g, m), &m.Progress, fleetv1.StateRunning, "upgrading to "+s.in.Target)
	s.beginAttempt(g, m)
}

// beginAttempt records a new attempt at a Running member's upgrade and asks
// for it to be started.
func (s *stepper) beginAttempt(g *groupNode, m *fleetv1.MemberProgress) {
	attempt := int32(1)
	if m.Operation != nil {
		attempt = m.Operation.Attempt + 1
	}
	// A new value, never a write through the old one: copyStatus shares it.
	m.Operation = &fleetv1.UpgradeOperation{Attempt: attempt, HubInstance: s.in.Instance, StartedAt: *m.StartTime}
	s.actions.StartUpgrades = append(s.actions.StartUpgrades, StartUpgrade{Member: m.Name, Stage: g.stage.name, Group: g.name, Target: s.in.Target})
	if s.upgradeTimeout > 0 {
		s.wake(m.StartTime.Add(s.upgradeTimeout))
	}
}

// completeGroup finishes a group whose members are all done: its health
// checks, then its after gates.
func (s *stepper) completeGroup(g *groupNode) {
	p := &g.p.Progress
	if p.State != fleetv1.StateRunning {
		return
	}
	if g.open() > 0 {
		s.set(groupRef(g), p, p.State, groupProgressMessage(g))
		return
	}
	if s.skips.group(g) {
		s.set(groupRef(g), p, fleetv1.StateSkipped, "skipped by request")
		return
	}
	if len(s.groupChecks) > 0 {
		if g.p.HealthChecks == nil {
			g.p.HealthChecks = &fleetv1.Progress{State: fleetv1.StateNotStarted}
		}
		scope := Scope{Level: LevelGroup, Stage: g.stage.name, Group: g.name}
		switch s.advanceChecks(ref{kind: KindHealthChecks, stage: g.stage.name, group: g.name}, scope, g.p.HealthChecks, s.groupChecks, upgradedMembers(g)) {
		case checksRunning:
			s.set(groupRef(g), p, p.State, "running health checks")
			return
		case checksFailed:
			s.set(groupRef(g), p, fleetv1.StateFailed, "health checks failed: "+g.p.HealthChecks.Message)
			if g.stage.p.State != fleetv1.StateFailed {
				s.set(stageRef(g.stage), &g.stage.p.Progress, fleetv1.StateFailed, fmt.Sprintf("group %s failed", g.name))
			}
			s.fail(fmt.Sprintf("group %s health checks failed", g.name))
			return
		}
	}
	if waiting := s.passGates(&g.after); waiting != "" {
		s.set(groupRef(g), p, p.State, "waiting for "+waiting)
		return
	}
	s.set(groupRef(g), p, fleetv1.StateCompleted, groupProgressMessage(g))
}

func groupProgressMessage(g *groupNode) string {
	msg := fmt.Sprintf("%d of %d members done", g.done, len(g.p.Members))
	if g.inFlight > 0 {
		msg += fmt.Sprintf(", %d upgrading", g.inFlight)
	}
	if g.waiting > 0 {
		msg += fmt.Sprintf(", %d waiting", g.waiting)
	}
	if g.failed > 0 {
		msg += fmt.Sprintf(", %d failed", g.failed)
	}
	return msg
}

// upgradedMembers are the members a group's or stage's checks look at: the
// ones this run upgraded.
func upgradedMembers(g *groupNode) []string {
	var names []string
	for i := range g.p.Members {
		if g.p.Members[i].State == fleetv1.StateCompleted {
			names = append(names, g.p.Members[i].Name)
		}
	}
	return names
}
