package rollout

import (
	"slices"

	fleetv1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
)

// copyStatus copies the recorded status for a step to change, leaving the
// caller's untouched. Every node the engine may change is copied; times are
// shared, because the engine replaces a time and never writes through one.
// At thousands of members this saves most of a deep copy's allocations.
func copyStatus(in *fleetv1.UpdateRunStatus) fleetv1.UpdateRunStatus {
	out := *in
	out.StrategySnapshot = in.StrategySnapshot.DeepCopy()
	out.Conditions = slices.Clone(in.Conditions)
	out.Stages = slices.Clone(in.Stages)
	for i := range out.Stages {
		st := &out.Stages[i]
		st.AfterStageWait = cloneProgress(st.AfterStageWait)
		st.HealthChecks = cloneProgress(st.HealthChecks)
		st.BeforeGates = slices.Clone(st.BeforeGates)
		st.AfterGates = slices.Clone(st.AfterGates)
		st.Groups = slices.Clone(st.Groups)
		for j := range st.Groups {
			g := &st.Groups[j]
			g.HealthChecks = cloneProgress(g.HealthChecks)
			g.BeforeGates = slices.Clone(g.BeforeGates)
			g.AfterGates = slices.Clone(g.AfterGates)
			g.Members = slices.Clone(g.Members)
			for k := range g.Members {
				g.Members[k].HealthChecks = cloneProgress(g.Members[k].HealthChecks)
				// Appended to, never written through: clipped, an append
				// copies instead of writing into the caller's array.
				g.Members[k].PreviousAttempts = slices.Clip(g.Members[k].PreviousAttempts)
			}
		}
	}
	return out
}

func cloneProgress(p *fleetv1.Progress) *fleetv1.Progress {
	if p == nil {
		return nil
	}
	c := *p
	return &c
}
