package rollout

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	fleetv1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
)

// t0 is a Monday, 10:00 UTC.
var t0 = time.Date(2026, time.November, 23, 10, 0, 0, 0, time.UTC)

// fakeMember is one member of a simulated fleet with a fake provider.
type fakeMember struct {
	Member
	version string
	// upgradeTakes is how long an upgrade runs; zero is instant (done by the
	// next step).
	upgradeTakes time.Duration
	failUpgrade  string // non-empty: the upgrade fails with this message
	failChecks   string // non-empty: after-member checks fail with this
	blocked      string
	heldBy       string
	unreachable  string

	upgrading bool
	startedAt time.Time
	outcome   UpgradeState
	message   string
	upgrades  int
}

// sim drives Step in a loop against a fake fleet and a fake clock, the way
// the controller would, and checks the engine's invariants after each step.
type sim struct {
	t       testing.TB
	in      Input
	fleet   map[string]*fakeMember
	gates   map[string]fleetv1.GateState
	checks  map[Scope]CheckResult
	pending map[Scope]time.Time // checks in flight, and when they report
	// checksTake is how long a run of checks takes.
	checksTake time.Duration
	// failChecks fails the checks of a scope with the message it returns.
	failChecks func(Scope) string
	// approve decides whether the sim approves a pending Approval gate at once.
	approve func(name string) bool

	steps   int
	started []startRecord
	last    Result
	// stepHook runs after each step (e.g. to stop or skip mid-run).
	stepHook func(*sim)
	// noInvariants turns the invariant checks off, for tests that look at
	// a single rule.
	noInvariants bool
}

type startRecord struct {
	member, stage, group string
	at                   time.Time
	step                 int
}

func newSim(t testing.TB, strategy fleetv1.UpdateStrategySpec, members ...*fakeMember) *sim {
	s := &sim{
		t:       t,
		fleet:   map[string]*fakeMember{},
		gates:   map[string]fleetv1.GateState{},
		checks:  map[Scope]CheckResult{},
		pending: map[Scope]time.Time{},
		approve: func(string) bool { return true },
		in: Input{
			RunName:  "run",
			Strategy: strategy,
			Target:   "1.37.2",
			Desired:  fleetv1.RunStarted,
			Now:      t0,
		},
	}
	for _, m := range members {
		s.fleet[m.Name] = m
		s.in.Members = append(s.in.Members, m.Member)
		if m.version == "" {
			m.version = "1.36.3"
		}
	}
	return s
}

func member(name, group string, labels ...string) *fakeMember {
	m := &fakeMember{Member: Member{Name: name, UpdateGroup: group, Labels: map[string]string{}}}
	for _, kv := range labels {
		k, v, _ := strings.Cut(kv, "=")
		m.Labels[k] = v
	}
	return m
}

// observe builds the observations the controller would gather.
func (s *sim) observe() Observations {
	obs := Observations{Members: map[string]MemberObservation{}, Gates: map[string]fleetv1.GateState{}, Checks: map[Scope]CheckResult{}}
	for name, m := range s.fleet {
		if m.upgrading && !s.in.Now.Before(m.startedAt.Add(m.upgradeTakes)) {
			m.upgrading = false
			if m.failUpgrade != "" {
				m.outcome, m.message = UpgradeFailed, m.failUpgrade
			} else {
				m.outcome, m.message = UpgradeSucceeded, ""
				m.version = s.in.Target
			}
		}
		o := MemberObservation{Version: m.version, AtTarget: m.version == s.in.Target && m.outcome == UpgradeUnknown, Blocked: m.blocked, HeldBy: m.heldBy, Unreachable: m.unreachable}
		switch {
		case m.upgrading:
			o.Upgrade = UpgradeObservation{State: UpgradeInProgress, StartedAt: m.startedAt}
		case m.outcome != UpgradeUnknown:
			o.Upgrade = UpgradeObservation{State: m.outcome, Message: m.message, StartedAt: m.startedAt}
		}
		obs.Members[name] = o
	}
	for name, state := range s.gates {
		if state == fleetv1.GatePending && s.approve(name) {
			s.gates[name] = fleetv1.GateCompleted
		}
		obs.Gates[name] = s.gates[name]
	}
	for scope, at := range s.pending {
		if s.in.Now.Before(at) {
			obs.Checks[scope] = CheckResult{State: CheckRunning}
			continue
		}
		delete(s.pending, scope)
		result := CheckResult{State: CheckPassed}
		if s.failChecks != nil {
			if msg := s.failChecks(scope); msg != "" {
				result = CheckResult{State: CheckFailed, Message: msg}
			}
		}
		if m := s.fleet[scope.Member]; scope.Level == LevelMember && m != nil && m.failChecks != "" {
			result = CheckResult{State: CheckFailed, Message: m.failChecks}
		}
		s.checks[scope] = result
	}
	for scope, r := range s.checks {
		obs.Checks[scope] = r
	}
	return obs
}

// step runs one engine step and carries out its actions.
func (s *sim) step() Result {
	s.t.Helper()
	s.in.Observed = s.observe()
	before := s.in.Status.DeepCopy()
	r := Step(s.in)
	s.steps++
	if !s.noInvariants {
		checkInvariants(s.t, s.in, *before, r)
	}
	s.applyActions(r)
	s.in.Status = throughAPIServer(s.t, r.Status)
	s.last = r
	if s.stepHook != nil {
		s.stepHook(s)
	}
	return r
}

// applyActions carries out a step's actions in the fake world.
func (s *sim) applyActions(r Result) {
	s.t.Helper()
	for _, a := range r.Actions.StartUpgrades {
		m := s.fleet[a.Member]
		if m == nil {
			s.t.Fatalf("step %d: StartUpgrade for unknown member %s", s.steps, a.Member)
		}
		if m.upgrading {
			s.t.Fatalf("step %d: StartUpgrade for %s, which is already upgrading", s.steps, a.Member)
		}
		m.upgrading, m.startedAt, m.outcome, m.message = true, s.in.Now, UpgradeUnknown, ""
		m.upgrades++
		s.started = append(s.started, startRecord{member: a.Member, stage: a.Stage, group: a.Group, at: s.in.Now, step: s.steps})
	}
	for _, a := range r.Actions.CancelUpgrades {
		if m := s.fleet[a.Member]; m != nil && m.upgrading {
			m.upgrading, m.outcome, m.message = false, UpgradeFailed, "cancelled: "+a.Reason
		}
	}
	for _, a := range r.Actions.RunChecks {
		if _, running := s.pending[a.Scope]; running {
			continue
		}
		delete(s.checks, a.Scope)
		s.pending[a.Scope] = s.in.Now.Add(s.checksTake)
	}
	for _, g := range r.Actions.Gates {
		if current, ok := s.gates[g.Name]; ok && current != fleetv1.GatePending {
			continue // a Completed or Skipped gate cannot change (CEL)
		}
		s.gates[g.Name] = g.State
	}
}

// throughAPIServer round-trips a status through JSON, as writing it to the
// API server and reading it back does (times lose their fractions).
func throughAPIServer(t testing.TB, st fleetv1.UpdateRunStatus) fleetv1.UpdateRunStatus {
	t.Helper()
	data, err := json.Marshal(st)
	if err != nil {
		t.Fatal(err)
	}
	var out fleetv1.UpdateRunStatus
	if err := json.Unmarshal(data, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

// nextEvent is the earliest time the fake world or the engine's clock
// changes something.
func (s *sim) nextEvent() time.Time {
	next := s.last.NextStepAt
	consider := func(t time.Time) {
		if t.After(s.in.Now) && (next.IsZero() || t.Before(next)) {
			next = t
		}
	}
	for _, m := range s.fleet {
		if m.upgrading {
			consider(m.startedAt.Add(m.upgradeTakes))
		}
	}
	for _, at := range s.pending {
		consider(at)
	}
	return next
}

// runToEnd steps until the run is Completed, Failed or Stopped, moving the
// clock to the next event whenever a step changes nothing.
func (s *sim) runToEnd(maxSteps int) fleetv1.State {
	s.t.Helper()
	for i := 0; i < maxSteps; i++ {
		r := s.step()
		switch r.Status.State {
		case fleetv1.StateCompleted, fleetv1.StateFailed, fleetv1.StateStopped:
			return r.Status.State
		}
		if r.Status.State == fleetv1.StateNotStarted {
			return r.Status.State
		}
		if len(r.Transitions) == 0 && r.Actions.Empty() {
			next := s.nextEvent()
			if next.IsZero() {
				// Only observations can move it on: an instant world has
				// nothing left to report, so the run is stuck.
				if !s.anythingInstantPending() {
					s.t.Fatalf("run stuck at step %d:\n%s", s.steps, describe(r.Status))
				}
				continue
			}
			s.in.Now = next
		}
	}
	s.t.Fatalf("run did not end within %d steps:\n%s", maxSteps, describe(s.in.Status))
	return ""
}

func (s *sim) anythingInstantPending() bool {
	for _, m := range s.fleet {
		if m.upgrading && m.upgradeTakes == 0 {
			return true
		}
	}
	for _, at := range s.pending {
		if !at.After(s.in.Now) {
			return true
		}
	}
	return false
}

// startedMembers lists the members started, in order.
func (s *sim) startedMembers() []string {
	var names []string
	for _, r := range s.started {
		names = append(names, r.member)
	}
	return names
}

// checkInvariants checks what must hold after any step.
func checkInvariants(t testing.TB, in Input, before fleetv1.UpdateRunStatus, r Result) {
	t.Helper()
	st := r.Status
	wasRunning := map[string]bool{}
	wasCompleted := map[string]bool{}
	forEachMember(before, func(_ *fleetv1.StageProgress, _ *fleetv1.GroupProgress, m *fleetv1.MemberProgress) {
		wasRunning[m.Name] = m.State == fleetv1.StateRunning
		wasCompleted[m.Name] = m.State == fleetv1.StateCompleted
	})
	seen := map[string]bool{}
	for _, a := range r.Actions.StartUpgrades {
		if seen[a.Member] {
			t.Fatalf("member %s started twice in one step", a.Member)
		}
		seen[a.Member] = true
		if wasRunning[a.Member] {
			t.Fatalf("member %s started again while its recorded status says Running", a.Member)
		}
		if wasCompleted[a.Member] {
			t.Fatalf("member %s started again after it Completed", a.Member)
		}
	}
	if len(r.Actions.StartUpgrades) > 0 && st.State != fleetv1.StateRunning {
		t.Fatalf("members started while the run is %s", st.State)
	}

	// Concurrency caps, and stage order.
	for si := range st.Stages {
		stage := &st.Stages[si]
		stageSpec := in.Strategy.Stages[si]
		stageMembers, stageRunning := 0, 0
		for gi := range stage.Groups {
			g := &stage.Groups[gi]
			running := 0
			for _, m := range g.Members {
				if m.State == fleetv1.StateRunning {
					running++
				}
			}
			stageMembers += len(g.Members)
			stageRunning += running
			limit := 1
			if gs := stageGroups(stageSpec); gi < len(gs) {
				limit, _ = maxInFlight(gs[gi].MaxConcurrency, len(g.Members), 1)
			}
			if running > limit {
				t.Fatalf("group %s/%s has %d members upgrading, cap %d", stage.Name, g.Name, running, limit)
			}
		}
		if stageSpec.MaxConcurrency != nil {
			limit, _ := maxInFlight(stageSpec.MaxConcurrency, stageMembers, 1)
			if stageRunning > limit {
				t.Fatalf("stage %s has %d members upgrading, cap %d", stage.Name, stageRunning, limit)
			}
		}
		if si == 0 {
			continue
		}
		prev := &st.Stages[si-1]
		if stage.State == fleetv1.StateNotStarted || stage.State == fleetv1.StateSkipped {
			continue
		}
		if !done(prev.State) {
			t.Fatalf("stage %s is %s while the stage before it, %s, is %s", stage.Name, stage.State, prev.Name, prev.State)
		}
		if w := prev.AfterStageWait; w != nil && !done(w.State) {
			t.Fatalf("stage %s is %s before the wait after %s is over", stage.Name, stage.State, prev.Name)
		}
		for _, g := range prev.AfterGates {
			if !done(g.State) {
				t.Fatalf("stage %s is %s before gate %s after %s passed", stage.Name, stage.State, g.Name, prev.Name)
			}
		}
	}
	var total, finishedOK int32
	forEachMember(st, func(_ *fleetv1.StageProgress, _ *fleetv1.GroupProgress, m *fleetv1.MemberProgress) {
		total++
		if done(m.State) {
			finishedOK++
		}
	})
	if st.MembersTotal != total || st.MembersDone != finishedOK {
		t.Fatalf("counts %d/%d, want %d/%d", st.MembersDone, st.MembersTotal, finishedOK, total)
	}
	if !r.NextStepAt.IsZero() && !r.NextStepAt.After(in.Now) {
		t.Fatalf("NextStepAt %s is not after now %s", r.NextStepAt, in.Now)
	}
}

func forEachMember(st fleetv1.UpdateRunStatus, f func(*fleetv1.StageProgress, *fleetv1.GroupProgress, *fleetv1.MemberProgress)) {
	for si := range st.Stages {
		for gi := range st.Stages[si].Groups {
			for mi := range st.Stages[si].Groups[gi].Members {
				f(&st.Stages[si], &st.Stages[si].Groups[gi], &st.Stages[si].Groups[gi].Members[mi])
			}
		}
	}
}

// describe renders a status tree for failure messages.
func describe(st fleetv1.UpdateRunStatus) string {
	var b strings.Builder
	fmt.Fprintf(&b, "run %s %q (%d/%d)\n", st.State, st.Message, st.MembersDone, st.MembersTotal)
	for _, stage := range st.Stages {
		fmt.Fprintf(&b, "  stage %s %s %q\n", stage.Name, stage.State, stage.Message)
		for _, g := range stage.BeforeGates {
			fmt.Fprintf(&b, "    before gate %s %s %q\n", g.Name, g.State, g.Message)
		}
		for _, g := range stage.Groups {
			fmt.Fprintf(&b, "    group %s %s %q\n", g.Name, g.State, g.Message)
			for _, m := range g.Members {
				fmt.Fprintf(&b, "      member %s %s %q\n", m.Name, m.State, m.Message)
			}
		}
		if stage.HealthChecks != nil {
			fmt.Fprintf(&b, "    checks %s %q\n", stage.HealthChecks.State, stage.HealthChecks.Message)
		}
		if w := stage.AfterStageWait; w != nil {
			fmt.Fprintf(&b, "    wait %s %q\n", w.State, w.Message)
		}
		for _, g := range stage.AfterGates {
			fmt.Fprintf(&b, "    after gate %s %s %q\n", g.Name, g.State, g.Message)
		}
	}
	return b.String()
}

// memberState finds a member's progress in a status.
func memberState(st fleetv1.UpdateRunStatus, name string) fleetv1.MemberProgress {
	var found fleetv1.MemberProgress
	forEachMember(st, func(_ *fleetv1.StageProgress, _ *fleetv1.GroupProgress, m *fleetv1.MemberProgress) {
		if m.Name == name {
			found = *m
		}
	})
	return found
}

func stageState(st fleetv1.UpdateRunStatus, name string) fleetv1.StageProgress {
	i := slices.IndexFunc(st.Stages, func(s fleetv1.StageProgress) bool { return s.Name == name })
	if i < 0 {
		return fleetv1.StageProgress{}
	}
	return st.Stages[i]
}

func groupState(st fleetv1.UpdateRunStatus, name string) fleetv1.GroupProgress {
	for _, stage := range st.Stages {
		for _, g := range stage.Groups {
			if g.Name == name {
				return g
			}
		}
	}
	return fleetv1.GroupProgress{}
}

func TestSimulationSeedStrategy(t *testing.T) {
	s := newSim(t, seedStrategy(),
		member("dev-1", "group-dev-clusters"),
		member("eu-1", "group-prod-canary-eu"),
		member("us-1", "group-prod-canary-us"),
		member("eu-2", "group-prod-primary-eu"),
		member("us-2", "group-prod-primary-us"),
	)
	if got := s.runToEnd(100); got != fleetv1.StateCompleted {
		t.Fatalf("run ended %s:\n%s", got, describe(s.in.Status))
	}
	if got := s.in.Status.MembersDone; got != 5 {
		t.Fatalf("MembersDone = %d, want 5", got)
	}
	// 4h after stage 1, 24h after stage 2.
	if got, want := s.in.Now.Sub(t0), 28*time.Hour; got != want {
		t.Fatalf("run took %s of fake time, want %s", got, want)
	}
}

func seedStrategy() fleetv1.UpdateStrategySpec {
	return fleetv1.UpdateStrategySpec{Stages: []fleetv1.UpdateStage{
		{Name: "stage-internal", Groups: []fleetv1.UpdateGroup{{Name: "group-dev-clusters"}}, AfterStageWaitInSeconds: 14400},
		{Name: "stage-canary-prod", Groups: []fleetv1.UpdateGroup{{Name: "group-prod-canary-eu"}, {Name: "group-prod-canary-us"}}, AfterStageWaitInSeconds: 86400},
		{Name: "stage-primary-final", Groups: []fleetv1.UpdateGroup{{Name: "group-prod-primary-eu"}, {Name: "group-prod-primary-us"}}},
	}}
}
