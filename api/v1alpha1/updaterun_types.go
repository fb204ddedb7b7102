package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// UpgradeType says which parts of a member an update run upgrades.
// +kubebuilder:validation:Enum=Full;ControlPlaneOnly;NodeImageOnly
type UpgradeType string

const (
	// UpgradeFull upgrades the control plane, then every node.
	UpgradeFull UpgradeType = "Full"
	// UpgradeControlPlaneOnly upgrades the control plane and leaves nodes alone.
	UpgradeControlPlaneOnly UpgradeType = "ControlPlaneOnly"
	// UpgradeNodeImageOnly rolls nodes to a newer node image, same Kubernetes version.
	UpgradeNodeImageOnly UpgradeType = "NodeImageOnly"
)

// NodeImageSelectionType says which node image each member gets.
// +kubebuilder:validation:Enum=Latest;Consistent;Custom
type NodeImageSelectionType string

const (
	// NodeImageLatest gives each member the newest image available to it.
	NodeImageLatest NodeImageSelectionType = "Latest"
	// NodeImageConsistent gives every member the image chosen when the run started.
	NodeImageConsistent NodeImageSelectionType = "Consistent"
	// NodeImageCustom uses the images listed in customNodeImageVersions.
	NodeImageCustom NodeImageSelectionType = "Custom"
)

// UpgradeSpec is the upgrade to apply.
// +kubebuilder:validation:XValidation:rule="self.type == 'NodeImageOnly' || has(self.kubernetesVersion)",message="kubernetesVersion is required for a Full or ControlPlaneOnly upgrade"
// +kubebuilder:validation:XValidation:rule="self.type != 'NodeImageOnly' || !has(self.kubernetesVersion)",message="kubernetesVersion must not be set for a NodeImageOnly upgrade"
type UpgradeSpec struct {
	Type UpgradeType `json:"type"`
	// KubernetesVersion is the target, e.g. 1.37.2 or 1.37 (the newest patch
	// of that minor the provider offers).
	// +kubebuilder:validation:Pattern=`^v?[0-9]+\.[0-9]+(\.[0-9]+)?$`
	// +optional
	KubernetesVersion string `json:"kubernetesVersion,omitempty"`
}

// NodeImageSelection chooses node images for the run: Latest (each member's
// newest image when its nodes upgrade), Consistent (the newest images when
// the run starts, the same for every member of the same OS and Kubernetes
// version, recorded in status.nodeImages) or Custom (customNodeImageVersions).
// +kubebuilder:validation:XValidation:rule="self.type != 'Custom' || (has(self.customNodeImageVersions) && size(self.customNodeImageVersions) > 0)",message="customNodeImageVersions is required when nodeImageSelection.type is Custom"
// +kubebuilder:validation:XValidation:rule="self.type == 'Custom' || !has(self.customNodeImageVersions) || size(self.customNodeImageVersions) == 0",message="customNodeImageVersions must be empty unless nodeImageSelection.type is Custom"
type NodeImageSelection struct {
	// +kubebuilder:default=Latest
	Type NodeImageSelectionType `json:"type"`
	// CustomNodeImageVersions are the images a Custom run gives the nodes,
	// in Azure's shape ([{version: ...}]). Each of a member's node pools
	// gets the listed image that its provider offers for the pool's OS and
	// Kubernetes version; a member with a pool that can take none of them
	// fails, with the reason, before anything is done to it.
	// +kubebuilder:validation:MaxItems=20
	// +optional
	CustomNodeImageVersions []NodeImageVersion `json:"customNodeImageVersions,omitempty"`
}

// NodeImageVersion names one node image.
type NodeImageVersion struct {
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=256
	Version string `json:"version"`
}

// ChosenNodeImage is the node image a Consistent run chose, when it started,
// for the nodes of one OS on one Kubernetes version.
type ChosenNodeImage struct {
	// OS is the nodes' operating system, e.g. linux.
	OS string `json:"os"`
	// KubernetesVersion is the nodes' Kubernetes version the image is for.
	KubernetesVersion string `json:"kubernetesVersion"`
	// Version is the node image.
	Version string `json:"version"`
}

// ManagedClusterUpdate is what a run does to each member.
type ManagedClusterUpdate struct {
	Upgrade UpgradeSpec `json:"upgrade"`
	// +optional
	NodeImageSelection *NodeImageSelection `json:"nodeImageSelection,omitempty"`
}

// UpdateRunDesiredState is the state an operator asks a run to be in.
// +kubebuilder:validation:Enum=NotStarted;Started;Stopped
type UpdateRunDesiredState string

const (
	RunNotStarted UpdateRunDesiredState = "NotStarted"
	RunStarted    UpdateRunDesiredState = "Started"
	RunStopped    UpdateRunDesiredState = "Stopped"
)

// SkipTargetType is the kind of thing a run is told to skip.
// +kubebuilder:validation:Enum=Member;Group;Stage;AfterStageWait
type SkipTargetType string

const (
	SkipMember         SkipTargetType = "Member"
	SkipGroup          SkipTargetType = "Group"
	SkipStage          SkipTargetType = "Stage"
	SkipAfterStageWait SkipTargetType = "AfterStageWait"
)

// SkipTarget names a member, group, stage or after-stage wait to skip.
type SkipTarget struct {
	Type SkipTargetType `json:"type"`
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	Name string `json:"name"`
}

// UpdateRunSpec is one staged upgrade of the fleet.
// +kubebuilder:validation:XValidation:rule="!(has(self.updateStrategyName) && has(self.strategy))",message="set updateStrategyName or strategy, not both"
// +kubebuilder:validation:XValidation:rule="!has(oldSelf.managedClusterUpdate) || self.managedClusterUpdate == oldSelf.managedClusterUpdate",message="managedClusterUpdate cannot be changed; create a new run"
// +kubebuilder:validation:XValidation:rule="(has(self.updateStrategyName) == has(oldSelf.updateStrategyName)) && (!has(self.updateStrategyName) || self.updateStrategyName == oldSelf.updateStrategyName)",message="updateStrategyName cannot be changed; create a new run"
// +kubebuilder:validation:XValidation:rule="(has(self.strategy) == has(oldSelf.strategy)) && (!has(self.strategy) || self.strategy == oldSelf.strategy)",message="strategy cannot be changed; create a new run"
type UpdateRunSpec struct {
	// UpdateStrategyName names an UpdateStrategy; it is copied into the status
	// when the run starts, so later edits to it do not change a started run.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +optional
	UpdateStrategyName string `json:"updateStrategyName,omitempty"`
	// Strategy is an inline strategy, for a run without a named one.
	// +optional
	Strategy             *UpdateStrategySpec  `json:"strategy,omitempty"`
	ManagedClusterUpdate ManagedClusterUpdate `json:"managedClusterUpdate"`
	// State is the state the operator wants: NotStarted, Started or Stopped.
	// +kubebuilder:default=NotStarted
	// +optional
	State UpdateRunDesiredState `json:"state,omitempty"`
	// Skip lists what the run must skip.
	// +kubebuilder:validation:MaxItems=100
	// +optional
	Skip []SkipTarget `json:"skip,omitempty"`
}

// State is the observed state of a run, stage, group, member, gate or wait.
// +kubebuilder:validation:Enum=NotStarted;Running;Pending;Stopping;Stopped;Skipped;Failed;Completed
type State string

const (
	StateNotStarted State = "NotStarted"
	StateRunning    State = "Running"
	StatePending    State = "Pending"
	StateStopping   State = "Stopping"
	StateStopped    State = "Stopped"
	StateSkipped    State = "Skipped"
	StateFailed     State = "Failed"
	StateCompleted  State = "Completed"
)

// Progress is the state of one node of the status tree.
type Progress struct {
	// +optional
	State State `json:"state,omitempty"`
	// +optional
	StartTime *metav1.Time `json:"startTime,omitempty"`
	// +optional
	CompletedTime *metav1.Time `json:"completedTime,omitempty"`
	// +optional
	Message string `json:"message,omitempty"`
}

// GateProgress is the state of one gate of the run.
type GateProgress struct {
	// Name of the Gate object the run created.
	Name        string   `json:"name"`
	Type        GateType `json:"type"`
	DisplayName string   `json:"displayName,omitempty"`
	Progress    `json:",inline"`
}

// MemberProgress is the state of one member in the run.
type MemberProgress struct {
	Name     string `json:"name"`
	Progress `json:",inline"`
	// FromVersion is the member's version when the run reached it.
	// +optional
	FromVersion string `json:"fromVersion,omitempty"`
	// TargetVersion is what the member is being upgraded to.
	// +optional
	TargetVersion string `json:"targetVersion,omitempty"`
	// HealthChecks is the state of the member's after-member checks, set once
	// its upgrade succeeded.
	// +optional
	HealthChecks *Progress `json:"healthChecks,omitempty"`
	// Operation is the attempt at upgrading the member that is in flight or
	// ran last. It lives here, in the hub's API, so that any hub replica
	// that takes over knows which attempt another one started.
	// +optional
	Operation *UpgradeOperation `json:"operation,omitempty"`
	// PreviousAttempts are the member's earlier failed attempts in this
	// run, oldest first (the last ten), kept when a resume or
	// `flotilla updaterun retry` tries it again.
	// +kubebuilder:validation:MaxItems=10
	// +optional
	PreviousAttempts []AttemptRecord `json:"previousAttempts,omitempty"`
}

// AttemptRecord is how one earlier attempt at a member ended.
type AttemptRecord struct {
	// Attempt counts from 1.
	Attempt int32 `json:"attempt"`
	// +optional
	StartTime *metav1.Time `json:"startTime,omitempty"`
	// +optional
	CompletedTime *metav1.Time `json:"completedTime,omitempty"`
	// Message is why it failed.
	// +optional
	Message string `json:"message,omitempty"`
}

// UpgradeOperation is one attempt at upgrading a member.
type UpgradeOperation struct {
	// Attempt counts the attempts at this member in this run, from 1.
	Attempt int32 `json:"attempt"`
	// HubInstance names the hub process that started the attempt.
	HubInstance string `json:"hubInstance,omitempty"`
	// StartedAt is when the attempt started.
	StartedAt metav1.Time `json:"startedAt"`
	// RerunsInterrupted says the attempt re-runs one that a failed-over hub
	// instance started (and so had already passed the pre-flight scan).
	// +optional
	RerunsInterrupted bool `json:"rerunsInterrupted,omitempty"`
}

// GroupProgress is the state of one group in the run.
type GroupProgress struct {
	Name     string `json:"name"`
	Progress `json:",inline"`
	// +optional
	Members []MemberProgress `json:"members,omitempty"`
	// +optional
	BeforeGates []GateProgress `json:"beforeGates,omitempty"`
	// +optional
	AfterGates []GateProgress `json:"afterGates,omitempty"`
	// HealthChecks is the state of the group's after-group checks.
	// +optional
	HealthChecks *Progress `json:"healthChecks,omitempty"`
}

// StageProgress is the state of one stage in the run.
type StageProgress struct {
	Name     string `json:"name"`
	Progress `json:",inline"`
	// +optional
	Groups []GroupProgress `json:"groups,omitempty"`
	// +optional
	AfterStageWait *Progress `json:"afterStageWait,omitempty"`
	// +optional
	BeforeGates []GateProgress `json:"beforeGates,omitempty"`
	// +optional
	AfterGates []GateProgress `json:"afterGates,omitempty"`
	// HealthChecks is the state of the stage's after-stage checks.
	// +optional
	HealthChecks *Progress `json:"healthChecks,omitempty"`
}

// UpdateRunStatus is the run's progress as a tree: run, stages, groups, members.
type UpdateRunStatus struct {
	Progress `json:",inline"`
	// StrategySnapshot is the strategy as it was when the run started.
	// +optional
	StrategySnapshot *UpdateStrategySpec `json:"strategySnapshot,omitempty"`
	// NodeImages are the node images a Consistent run chose when it started,
	// one per OS and Kubernetes version among its members.
	// +optional
	NodeImages []ChosenNodeImage `json:"nodeImages,omitempty"`
	// +optional
	Stages []StageProgress `json:"stages,omitempty"`
	// CurrentStage is the stage in progress, if any.
	// +optional
	CurrentStage string `json:"currentStage,omitempty"`
	// MembersDone counts members that are Completed or Skipped.
	// +optional
	MembersDone int32 `json:"membersDone,omitempty"`
	// MembersTotal counts the members the run covers.
	// +optional
	MembersTotal int32 `json:"membersTotal,omitempty"`
	// Conditions are Progressing (the run is moving: Running or Stopping)
	// and Succeeded (True once Completed, False once Failed), so that
	// `kubectl wait --for=condition=Succeeded updaterun/NAME` works.
	// +optional
	// +listType=map
	// +listMapKey=type
	Conditions []metav1.Condition `json:"conditions,omitempty"`
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`
	// LastStartRequest is the StartRequestAnnotation value the run last acted
	// on: a Failed run resumes only when asked again with a new value.
	// +optional
	LastStartRequest string `json:"lastStartRequest,omitempty"`
}

// Condition types of an UpdateRun. Their reason is the run's state
// (NotStarted, Running, Stopping, Stopped, Failed, Completed).
const (
	// RunProgressing is True while the run is Running or Stopping.
	RunProgressing = "Progressing"
	// RunSucceeded is True once the run is Completed, False once it Failed,
	// Unknown before.
	RunSucceeded = "Succeeded"
)

// Labels and finalizers of update runs and their gates.
const (
	// UpdateRunLabel on a Gate names the update run it belongs to; the
	// gate's owner reference carries the run's UID.
	UpdateRunLabel = "fleet.flotilla.dev/update-run"
)

// StartRequestAnnotation is set by `flotilla updaterun start` to a new value
// (e.g. a timestamp) on every start, so that starting a Failed run, whose
// spec.state is already Started, is still a change the controller sees.
const StartRequestAnnotation = "fleet.flotilla.dev/start-request"

// RetryMembersAnnotation, set by `flotilla updaterun retry --members` with a
// new start request, limits that resume to the named failed members
// (comma-separated); without it a resume retries every failed member.
const RetryMembersAnnotation = "fleet.flotilla.dev/retry-members"

// UpdateRun upgrades the fleet's members stage by stage.
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:scope=Cluster,shortName=run;runs,categories=fleet
// +kubebuilder:printcolumn:name="State",type=string,JSONPath=`.status.state`
// +kubebuilder:printcolumn:name="Upgrade",type=string,JSONPath=`.spec.managedClusterUpdate.upgrade.type`
// +kubebuilder:printcolumn:name="Version",type=string,JSONPath=`.spec.managedClusterUpdate.upgrade.kubernetesVersion`
// +kubebuilder:printcolumn:name="Strategy",type=string,JSONPath=`.spec.updateStrategyName`
// +kubebuilder:printcolumn:name="Done",type=integer,JSONPath=`.status.membersDone`
// +kubebuilder:printcolumn:name="Total",type=integer,JSONPath=`.status.membersTotal`
// +kubebuilder:printcolumn:name="Stage",type=string,JSONPath=`.status.currentStage`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type UpdateRun struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   UpdateRunSpec   `json:"spec"`
	Status UpdateRunStatus `json:"status,omitempty"`
}

// UpdateRunList is a list of UpdateRuns.
//
// +kubebuilder:object:root=true
type UpdateRunList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []UpdateRun `json:"items"`
}

func init() {
	register(&UpdateRun{}, &UpdateRunList{})
}

// MemberProgress finds a member in the run's stage → group → member tree;
// the zero value when the run has no such member.
func (s *UpdateRunStatus) MemberProgress(member string) MemberProgress {
	for _, st := range s.Stages {
		for _, g := range st.Groups {
			for _, m := range g.Members {
				if m.Name == member {
					return m
				}
			}
		}
	}
	return MemberProgress{}
}
