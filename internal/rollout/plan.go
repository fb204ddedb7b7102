package rollout

import (
	"fmt"
	"strings"
	"time"

	fleetv1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
)

// Plan is what a run will do, in order: for `updaterun plan` and `create`.
type Plan struct {
	Stages []StagePlan
	// Untouched are fleet members no stage covers.
	Untouched []UntouchedMember
	// Problems are the strategy's errors and warnings.
	Problems Problems
}

// StagePlan is one stage of a plan.
type StagePlan struct {
	Name string
	// Skip says why the stage will be skipped; empty when it runs.
	Skip        string
	BeforeGates []GatePlan
	Groups      []GroupPlan
	// MaxConcurrency caps the stage's members in flight; 0 means no cap
	// beyond its groups'.
	MaxConcurrency int
	// MaxAllowedFailures is the stage's failure budget; -1 when not set.
	MaxAllowedFailures int
	// HealthChecks run once the stage's groups are done.
	HealthChecks   []string
	AfterStageWait time.Duration
	// SkipAfterStageWait says why the wait will be skipped.
	SkipAfterStageWait string
	AfterGates         []GatePlan
}

// GroupPlan is one group of a plan.
type GroupPlan struct {
	Name string
	// Implicit marks the group of a stage that selects its members directly.
	Implicit           bool
	Skip               string
	MaxConcurrency     int
	MaxAllowedFailures int
	BeforeGates        []GatePlan
	Members            []MemberPlan
	HealthChecks       []string
	AfterGates         []GatePlan
}

// MemberAction is what a run will do with a member.
type MemberAction string

const (
	PlanUpgrade MemberAction = "Upgrade"
	PlanSkip    MemberAction = "Skip"
	PlanRefuse  MemberAction = "Refuse"
	// PlanDone: the run has already finished with the member.
	PlanDone MemberAction = "Done"
)

// MemberPlan is one member of a plan.
type MemberPlan struct {
	Name           string
	CurrentVersion string
	TargetVersion  string
	Action         MemberAction
	// Reason says why a member is skipped, refused or done, or notes what
	// an upgrade will wait for (a closed maintenance window).
	Reason       string
	HealthChecks []string
}

// GatePlan is one gate of a plan.
type GatePlan struct {
	Name        string
	Type        fleetv1.GateType
	DisplayName string
	// Schedule describes a ScheduledStart gate, e.g. "Tuesday 09:30 +01:00".
	Schedule string
	// State is the gate's state in a run that has started.
	State fleetv1.State
}

// MakePlan lays out what the run in is about to do, from its recorded
// status (all of it is ahead for a run that has not started) and current
// observations of the members' versions. It fails only when the members
// cannot be placed in the strategy's groups.
func MakePlan(in Input) (Plan, error) {
	s := newStepper(in)
	plan := Plan{Problems: ValidateStrategy(in.Strategy, in.Members)}
	started := s.runState() != fleetv1.StateNotStarted && len(s.st.Stages) > 0
	if !started {
		res, err := Resolve(in.Strategy, in.Members)
		if err != nil {
			return plan, err
		}
		plan.Untouched = res.Untouched
	}
	if s.strategyErr != nil {
		return plan, s.strategyErr
	}
	if err := s.buildTree(!started); err != nil {
		return plan, err
	}
	for _, n := range s.stages {
		plan.Stages = append(plan.Stages, s.planStage(n))
	}
	return plan, nil
}

func (s *stepper) planStage(n *stageNode) StagePlan {
	sp := StagePlan{
		Name:               n.name,
		BeforeGates:        planGates(n.before),
		AfterGates:         planGates(n.after),
		MaxConcurrency:     n.maxInFlight,
		MaxAllowedFailures: budgetForPlan(n.budget),
		HealthChecks:       checkNames(s.stageChecks),
		AfterStageWait:     time.Duration(n.spec.AfterStageWaitInSeconds) * time.Second,
	}
	if s.skips.stages[n.name] && n.p.State != fleetv1.StateCompleted {
		sp.Skip = "skipped by request"
	}
	if sp.AfterStageWait > 0 && (sp.Skip != "" || s.skips.waits[n.name]) {
		sp.SkipAfterStageWait = "skipped by request"
	}
	for _, g := range n.groups {
		gp := GroupPlan{
			Name:               g.name,
			Implicit:           len(n.spec.Groups) == 0,
			MaxConcurrency:     g.maxInFlight,
			MaxAllowedFailures: budgetForPlan(g.budget),
			BeforeGates:        planGates(g.before),
			AfterGates:         planGates(g.after),
			HealthChecks:       checkNames(s.groupChecks),
		}
		if s.skips.group(g) && g.p.State != fleetv1.StateCompleted {
			gp.Skip = "skipped by request"
		}
		for i := range g.p.Members {
			gp.Members = append(gp.Members, s.planMember(g, &g.p.Members[i]))
		}
		sp.Groups = append(sp.Groups, gp)
	}
	return sp
}

func (s *stepper) planMember(g *groupNode, m *fleetv1.MemberProgress) MemberPlan {
	obs := s.in.Observed.Members[m.Name]
	mp := MemberPlan{Name: m.Name, CurrentVersion: obs.Version, TargetVersion: s.in.Target, Action: PlanUpgrade, HealthChecks: checkNames(s.memberChecks)}
	switch {
	case m.State == fleetv1.StateCompleted || m.State == fleetv1.StateSkipped:
		mp.Action, mp.Reason = PlanDone, strings.ToLower(string(m.State))+": "+m.Message
	case m.State == fleetv1.StateRunning:
		mp.Action, mp.Reason = PlanDone, "upgrading now"
	case s.skips.member(g, m.Name):
		mp.Action, mp.Reason = PlanSkip, "skipped by request"
	case obs.AtTarget:
		mp.Action, mp.Reason = PlanSkip, "already at the target "+s.in.Target
	case obs.Blocked != "":
		mp.Action, mp.Reason = PlanRefuse, obs.Blocked
	case obs.Unreachable != "":
		// Plans describe the fleet as it is now; the member may be back by
		// its turn.
		mp.Reason = "unreachable now (at its turn it would be "
		if s.in.Strategy.OnUnreachableMember == fleetv1.UnreachableSkip {
			mp.Reason += "skipped"
		} else {
			mp.Reason += "failed"
		}
		mp.Reason += "): " + obs.Unreachable
	case obs.HeldBy != "":
		mp.Reason = fmt.Sprintf("waits for update run %s, which is upgrading it", obs.HeldBy)
	case !s.windows.empty():
		if av := s.windows.availability(s.memberLabels(m.Name), s.now); !av.Open {
			mp.Reason = "waits: " + av.Reason
		}
	}
	return mp
}

func planGates(gs gateSet) []GatePlan {
	var out []GatePlan
	for i, g := range gs.progress {
		gp := GatePlan{Name: g.Name, Type: g.Type, DisplayName: g.DisplayName, State: stateOf(&gs.progress[i].Progress)}
		if sch := gs.configs[i].Schedule; sch != nil {
			gp.Schedule = describeSchedule(*sch)
		}
		out = append(out, gp)
	}
	return out
}

func describeSchedule(s fleetv1.GateSchedule) string {
	days := "every day"
	if len(s.DaysOfWeek) > 0 {
		days = strings.Join(s.DaysOfWeek, ", ")
	}
	offset := s.UTCOffset
	if offset == "" {
		offset = "UTC"
	}
	return fmt.Sprintf("%s %s %s", days, s.StartTime, offset)
}

func budgetForPlan(b failureBudget) int {
	if !b.set {
		return -1
	}
	return b.allowed
}

func checkNames(checks []fleetv1.HealthCheck) []string {
	var names []string
	for _, c := range checks {
		names = append(names, c.Name)
	}
	return names
}
