package rollout

import (
	fleetv1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
)

// skipSet is the run's skip targets by kind.
type skipSet struct {
	members, groups, stages, waits map[string]bool
}

func newSkipSet(targets []fleetv1.SkipTarget) skipSet {
	s := skipSet{}
	add := func(m *map[string]bool, name string) {
		if *m == nil {
			*m = map[string]bool{}
		}
		(*m)[name] = true
	}
	for _, t := range targets {
		switch t.Type {
		case fleetv1.SkipMember:
			add(&s.members, t.Name)
		case fleetv1.SkipGroup:
			add(&s.groups, t.Name)
		case fleetv1.SkipStage:
			add(&s.stages, t.Name)
		case fleetv1.SkipAfterStageWait:
			add(&s.waits, t.Name)
		}
	}
	return s
}

// group reports a skip of the group or of its stage.
func (k skipSet) group(g *groupNode) bool {
	return k.stages[g.stage.name] || k.groups[g.name]
}

// member reports a skip of the member, its group or its stage.
func (k skipSet) member(g *groupNode, name string) bool {
	return k.members[name] || k.group(g)
}

// applySkips marks what the operator asked to skip. It reaches what has not
// started yet anywhere in the run, and Failed members (skipping one is how
// an operator accepts its failure before resuming); what is Completed stays
// so, and members in flight finish before their group or stage is Skipped.
func (s *stepper) applySkips() {
	k := s.skips
	if len(k.members) == 0 && len(k.groups) == 0 && len(k.stages) == 0 && len(k.waits) == 0 {
		return
	}
	for _, n := range s.stages {
		if n.p.State == fleetv1.StateCompleted {
			continue
		}
		stageSkipped := k.stages[n.name]
		if w := n.p.AfterStageWait; w != nil && (stageSkipped || k.waits[n.name]) && !done(w.State) {
			s.set(ref{kind: KindAfterStageWait, stage: n.name, name: "after-stage-wait"}, w, fleetv1.StateSkipped, "skipped by request")
		}
		if stageSkipped {
			s.skipGates(&n.before)
			s.skipGates(&n.after)
			skipChecks(s, ref{kind: KindHealthChecks, stage: n.name}, n.p.HealthChecks)
		}
		allDone := true
		for _, g := range n.groups {
			if g.p.State != fleetv1.StateCompleted {
				s.applyGroupSkips(g)
			}
			if !done(g.p.State) {
				allDone = false
			}
		}
		if stageSkipped && allDone && n.p.State != fleetv1.StateSkipped {
			s.set(stageRef(n), &n.p.Progress, fleetv1.StateSkipped, "skipped by request")
		}
	}
}

func (s *stepper) applyGroupSkips(g *groupNode) {
	groupSkipped := s.skips.group(g)
	if !groupSkipped && len(s.skips.members) == 0 {
		return
	}
	inFlight := 0
	for i := range g.p.Members {
		m := &g.p.Members[i]
		switch m.State {
		case fleetv1.StateRunning:
			inFlight++
		case fleetv1.StateCompleted, fleetv1.StateSkipped:
		default:
			if groupSkipped || s.skips.members[m.Name] {
				s.set(memberRef(g, m), &m.Progress, fleetv1.StateSkipped, "skipped by request")
			}
		}
	}
	if !groupSkipped {
		return
	}
	s.skipGates(&g.before)
	s.skipGates(&g.after)
	skipChecks(s, ref{kind: KindHealthChecks, stage: g.stage.name, group: g.name}, g.p.HealthChecks)
	if inFlight == 0 && g.p.State != fleetv1.StateSkipped {
		s.set(groupRef(g), &g.p.Progress, fleetv1.StateSkipped, "skipped by request")
	}
}

func (s *stepper) skipGates(gs *gateSet) {
	for i := range gs.progress {
		g := &gs.progress[i]
		if !done(g.State) {
			s.set(ref{kind: KindGate, stage: gs.stage, group: gs.group, name: g.Name}, &g.Progress, fleetv1.StateSkipped, "skipped by request")
		}
	}
}

func skipChecks(s *stepper, r ref, p *fleetv1.Progress) {
	if p != nil && !done(p.State) {
		s.set(r, p, fleetv1.StateSkipped, "skipped by request")
	}
}
