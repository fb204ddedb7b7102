package rollout

import (
	"fmt"

	fleetv1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
)

// stageNode is one stage of the run: its status, its config, and counters
// the step fills in as it goes.
type stageNode struct {
	name        string
	spec        *fleetv1.UpdateStage
	p           *fleetv1.StageProgress
	groups      []*groupNode
	before      gateSet
	after       gateSet
	members     int
	maxInFlight int // 0: the stage sets no cap
	budget      failureBudget

	inFlight int
}

// groupNode is one group of a stage.
type groupNode struct {
	stage       *stageNode
	name        string
	p           *fleetv1.GroupProgress
	before      gateSet
	after       gateSet
	maxInFlight int
	budget      failureBudget

	// Counters of the current step.
	inFlight, failed, done, waiting int
	candidates                      []*fleetv1.MemberProgress
}

// open reports members not yet finished: not started, waiting or upgrading.
func (g *groupNode) open() int {
	return len(g.p.Members) - g.done - g.failed
}

// buildTree lays the strategy over the recorded status: stages, groups and
// gates in strategy order, each keeping its recorded progress when there is
// one. A fresh tree (a run that has not started) takes its members from the
// fleet; a started run keeps the members it recorded when it started, so
// later changes to the fleet do not change a run in flight.
func (s *stepper) buildTree(fresh bool) error {
	spec := &s.in.Strategy
	var recorded map[string]*fleetv1.StageProgress
	if !fresh {
		recorded = make(map[string]*fleetv1.StageProgress, len(s.st.Stages))
		for i := range s.st.Stages {
			recorded[s.st.Stages[i].Name] = &s.st.Stages[i]
		}
	}
	var resolution *Resolution
	resolve := func() (*Resolution, error) {
		if resolution == nil {
			r, err := Resolve(*spec, s.in.Members)
			if err != nil {
				return nil, err
			}
			resolution = &r
		}
		return resolution, nil
	}

	stages := make([]fleetv1.StageProgress, len(spec.Stages))
	for i := range spec.Stages {
		stageSpec := &spec.Stages[i]
		sp := &stages[i]
		rec := recorded[stageSpec.Name]
		if rec != nil {
			*sp = *rec
		} else {
			*sp = fleetv1.StageProgress{Name: stageSpec.Name, Progress: fleetv1.Progress{State: fleetv1.StateNotStarted}}
		}
		groupSpecs := stageGroups(*stageSpec)
		groups := make([]fleetv1.GroupProgress, len(groupSpecs))
		for j, gs := range groupSpecs {
			var recGroup *fleetv1.GroupProgress
			if rec != nil {
				for k := range rec.Groups {
					if rec.Groups[k].Name == gs.Name {
						recGroup = &rec.Groups[k]
						break
					}
				}
			}
			if recGroup != nil {
				groups[j] = *recGroup
			} else {
				r, err := resolve()
				if err != nil {
					return err
				}
				names := r.Stages[i].Groups[j].Members
				groups[j] = fleetv1.GroupProgress{Name: gs.Name, Progress: fleetv1.Progress{State: fleetv1.StateNotStarted}}
				groups[j].Members = make([]fleetv1.MemberProgress, len(names))
				for k, name := range names {
					groups[j].Members[k] = fleetv1.MemberProgress{Name: name, Progress: fleetv1.Progress{State: fleetv1.StateNotStarted}, TargetVersion: s.in.Target}
				}
			}
			g := &groups[j]
			g.BeforeGates = buildGates(s.in.RunName, stageSpec.Name, gs.Name, fleetv1.GateBefore, gs.BeforeGates, g.BeforeGates)
			g.AfterGates = buildGates(s.in.RunName, stageSpec.Name, gs.Name, fleetv1.GateAfter, gs.AfterGates, g.AfterGates)
			if len(s.groupChecks) == 0 {
				g.HealthChecks = nil
			}
		}
		sp.Groups = groups
		sp.BeforeGates = buildGates(s.in.RunName, stageSpec.Name, "", fleetv1.GateBefore, stageSpec.BeforeGates, sp.BeforeGates)
		sp.AfterGates = buildGates(s.in.RunName, stageSpec.Name, "", fleetv1.GateAfter, stageSpec.AfterGates, sp.AfterGates)
		switch {
		case stageSpec.AfterStageWaitInSeconds <= 0:
			sp.AfterStageWait = nil
		case sp.AfterStageWait == nil:
			sp.AfterStageWait = &fleetv1.Progress{State: fleetv1.StateNotStarted}
		}
		if len(s.stageChecks) == 0 {
			sp.HealthChecks = nil
		}
	}
	s.st.Stages = stages
	return s.indexTree()
}

// indexTree builds the nodes over s.st.Stages, which must not move after.
func (s *stepper) indexTree() error {
	spec := &s.in.Strategy
	s.stages = make([]*stageNode, len(spec.Stages))
	for i := range spec.Stages {
		stageSpec := &spec.Stages[i]
		sp := &s.st.Stages[i]
		n := &stageNode{name: stageSpec.Name, spec: stageSpec, p: sp}
		s.stages[i] = n
		n.before = gateSet{progress: sp.BeforeGates, configs: stageSpec.BeforeGates, stage: n.name, timing: fleetv1.GateBefore}
		n.after = gateSet{progress: sp.AfterGates, configs: stageSpec.AfterGates, stage: n.name, timing: fleetv1.GateAfter}
		for j := range sp.Groups {
			n.members += len(sp.Groups[j].Members)
		}
		var err error
		if stageSpec.MaxConcurrency != nil {
			if n.maxInFlight, err = maxInFlight(stageSpec.MaxConcurrency, n.members, 1); err != nil {
				return fmt.Errorf("stage %s: %w", n.name, err)
			}
		}
		if n.budget, err = budgetOf(stageSpec.MaxAllowedFailures, n.members); err != nil {
			return fmt.Errorf("stage %s: %w", n.name, err)
		}
		for j, gs := range stageGroups(*stageSpec) {
			gp := &sp.Groups[j]
			g := &groupNode{stage: n, name: gs.Name, p: gp}
			g.before = gateSet{progress: gp.BeforeGates, configs: gs.BeforeGates, stage: n.name, group: g.name, timing: fleetv1.GateBefore}
			g.after = gateSet{progress: gp.AfterGates, configs: gs.AfterGates, stage: n.name, group: g.name, timing: fleetv1.GateAfter}
			if g.maxInFlight, err = maxInFlight(gs.MaxConcurrency, len(gp.Members), 1); err != nil {
				return fmt.Errorf("stage %s group %s: %w", n.name, g.name, err)
			}
			if g.budget, err = budgetOf(gs.MaxAllowedFailures, len(gp.Members)); err != nil {
				return fmt.Errorf("stage %s group %s: %w", n.name, g.name, err)
			}
			n.groups = append(n.groups, g)
		}
	}
	return nil
}
