package rollout

import (
	"time"

	fleetv1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
)

// Member is a unit the engine rolls out to: a MemberCluster for an update
// run, a placement target later. Only its name, labels and update group
// matter to the engine.
type Member struct {
	Name        string
	Labels      map[string]string
	UpdateGroup string
}

// Input is everything Step needs: what the operator asked for, what was
// recorded, what the controller observed since, and the time.
type Input struct {
	// RunName names the run; gate names are derived from it.
	RunName string
	// Strategy is the run's strategy, as snapshotted when the run started.
	Strategy fleetv1.UpdateStrategySpec
	// Target is what members are upgraded to (e.g. a Kubernetes version); the
	// engine only records it and passes it on in StartUpgrade actions.
	Target string
	// Members is the fleet. It is resolved into stages and groups when the run
	// starts; after that the recorded status is the run's member list.
	Members []Member
	// Desired is the spec's state: NotStarted, Started or Stopped.
	Desired fleetv1.UpdateRunDesiredState
	// StartRequest is the run's fleetv1.StartRequestAnnotation. A Failed run
	// resumes only when it differs from Status.LastStartRequest.
	StartRequest string
	// RetryMembers, when not empty, limits the resume a new start request
	// asks for to these failed members (fleetv1.RetryMembersAnnotation).
	RetryMembers []string
	// Skip lists what the operator asked to skip.
	Skip []fleetv1.SkipTarget
	// Status is the status recorded by the previous step (empty at first).
	Status fleetv1.UpdateRunStatus
	// Observed is what the controller saw of the world since.
	Observed Observations
	// Now is the clock. The engine never reads the real one.
	Now time.Time
	// Instance names the hub process taking the step; it is recorded with
	// each upgrade attempt the step starts.
	Instance string
}

// Observations are facts the controller gathered for a step.
type Observations struct {
	// Members by member name. A member with no entry is treated as unknown:
	// not at the target, and with no news of its upgrade.
	Members map[string]MemberObservation
	// Gates are the states of the run's Gate objects, by gate name. A gate
	// with no entry has no object yet.
	Gates map[string]fleetv1.GateState
	// Checks are the results of health-check runs, keyed by the Scope of the
	// RunChecks action that asked for them.
	Checks map[Scope]CheckResult
}

// MemberObservation is what the controller knows of one member.
type MemberObservation struct {
	// Version is the member's current version, recorded as FromVersion.
	Version string
	// AtTarget: the member already runs the target (control plane and every
	// node), so it is Skipped instead of upgraded.
	AtTarget bool
	// Blocked, when set, says why the member must not be upgraded (a
	// downgrade, a minor-version jump, a target its provider cannot reach).
	// The member fails with that reason when its group runs.
	Blocked string
	// HeldBy names another update run that is upgrading the member; the
	// member waits (Pending) until it is released.
	HeldBy string
	// Unreachable, when set, says why the hub cannot reach the member now;
	// at its turn the member fails or is skipped, as the strategy's
	// onUnreachableMember says.
	Unreachable string
	// Upgrade is the provider's report on the member's upgrade.
	Upgrade UpgradeObservation
}

// UpgradeState is the provider's view of a member's upgrade.
type UpgradeState string

const (
	// UpgradeUnknown: no news (not polled yet, or the provider has no record).
	UpgradeUnknown UpgradeState = ""
	// UpgradeInProgress: the upgrade is running.
	UpgradeInProgress UpgradeState = "InProgress"
	// UpgradeSucceeded: the member runs the target.
	UpgradeSucceeded UpgradeState = "Succeeded"
	// UpgradeFailed: the upgrade failed; Message says why.
	UpgradeFailed UpgradeState = "Failed"
	// UpgradeInterrupted: another hub instance started the attempt and died
	// (a failover); the provider has no record of it and says a new attempt
	// is safe. The engine starts one.
	UpgradeInterrupted UpgradeState = "Interrupted"
)

// UpgradeObservation is one report of a member's upgrade.
type UpgradeObservation struct {
	State   UpgradeState
	Message string
	// StartedAt is when the provider started the upgrade it reports on. A
	// report older than the member's recorded start time (a previous
	// attempt's) is ignored. Zero means unknown and is trusted.
	StartedAt time.Time
}

// Level is the point of a run a set of health checks guards.
type Level string

const (
	LevelMember Level = "Member"
	LevelGroup  Level = "Group"
	LevelStage  Level = "Stage"
)

// Scope identifies one run of health checks: after a member, a group or a
// stage. It is comparable, so it keys Observations.Checks.
type Scope struct {
	Level Level
	Stage string
	// Group is empty for a stage's checks.
	Group string
	// Member is empty for a group's or a stage's checks.
	Member string
}

// String is the scope as a path, e.g. "canary/eu/member-1".
func (s Scope) String() string {
	path := s.Stage
	if s.Group != "" {
		path += "/" + s.Group
	}
	if s.Member != "" {
		path += "/" + s.Member
	}
	return path
}

// CheckState is the state of a run of health checks.
type CheckState string

const (
	CheckRunning CheckState = "Running"
	CheckPassed  CheckState = "Passed"
	CheckFailed  CheckState = "Failed"
)

// CheckResult reports a run of health checks; Message carries the failing
// check's name and output.
type CheckResult struct {
	State   CheckState
	Message string
}

// Result is what Step computed.
type Result struct {
	// Status is the run's next status, to be written back.
	Status fleetv1.UpdateRunStatus
	// Actions are what the controller must do now.
	Actions Actions
	// Transitions are the state changes of this step, e.g. for Events.
	Transitions []Transition
	// NextStepAt is the earliest time at which the clock alone changes
	// something (a wait ends, a window opens, a gate's slot arrives, a
	// timeout expires); zero when nothing is due. Observations arriving
	// earlier also warrant a step.
	NextStepAt time.Time
}

// Actions are the controller's work for one step.
type Actions struct {
	// StartUpgrades are emitted once per member attempt, in the step that
	// moves the member to Running.
	StartUpgrades []StartUpgrade
	// CancelUpgrades are upgrades the engine gave up on (they ran past the
	// member upgrade timeout): the member is Failed, and its upgrade should
	// be stopped if the provider can.
	CancelUpgrades []CancelUpgrade
	// RunChecks are emitted when checks start, and again while the status
	// says they run but the controller reports nothing for their scope
	// (e.g. after a controller restart): run at most one per Scope.
	RunChecks []RunChecks
	// Gates are Gate objects to create, or to move to a state. They are
	// emitted until Observations.Gates agrees, so they are idempotent.
	Gates []EnsureGate
}

// Empty reports whether there is nothing to do.
func (a Actions) Empty() bool {
	return len(a.StartUpgrades) == 0 && len(a.CancelUpgrades) == 0 && len(a.RunChecks) == 0 && len(a.Gates) == 0
}

// StartUpgrade asks the controller to start upgrading a member.
type StartUpgrade struct {
	Member string
	Stage  string
	Group  string
	Target string
}

// CancelUpgrade asks the controller to stop a member's upgrade.
type CancelUpgrade struct {
	Member string
	Reason string
}

// RunChecks asks the controller to run health checks on members and to
// report a CheckResult under Scope.
type RunChecks struct {
	Scope   Scope
	Members []string
	Checks  []fleetv1.HealthCheck
}

// EnsureGate asks the controller to make the named Gate object exist with
// State: create it Pending, or set it Completed (a ScheduledStart slot
// arrived) or Skipped.
type EnsureGate struct {
	Name        string
	Type        fleetv1.GateType
	DisplayName string
	Stage       string
	Group       string
	Timing      fleetv1.GateTiming
	Schedule    *fleetv1.GateSchedule
	State       fleetv1.GateState
}

// NodeKind is the kind of status node a Transition is about.
type NodeKind string

const (
	KindRun            NodeKind = "Run"
	KindStage          NodeKind = "Stage"
	KindGroup          NodeKind = "Group"
	KindMember         NodeKind = "Member"
	KindGate           NodeKind = "Gate"
	KindAfterStageWait NodeKind = "AfterStageWait"
	KindHealthChecks   NodeKind = "HealthChecks"
)

// Transition is one state change of one node of the status tree.
type Transition struct {
	Kind NodeKind
	// Path locates the node, e.g. "canary/eu/member-1" or "canary/eu".
	Path    string
	From    fleetv1.State
	To      fleetv1.State
	Message string
}
