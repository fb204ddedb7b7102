package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// GateType is what completes a gate.
// +kubebuilder:validation:Enum=Approval;ScheduledStart
type GateType string

const (
	// GateApproval waits for an operator to approve the Gate object.
	GateApproval GateType = "Approval"
	// GateScheduledStart waits for the next matching time slot.
	GateScheduledStart GateType = "ScheduledStart"
)

// GateSchedule is when a ScheduledStart gate opens: the first matching day and
// time at or after the gate is reached.
type GateSchedule struct {
	// DaysOfWeek the gate may open on; empty means every day.
	// +optional
	// +kubebuilder:validation:items:Enum=Monday;Tuesday;Wednesday;Thursday;Friday;Saturday;Sunday
	DaysOfWeek []string `json:"daysOfWeek,omitempty"`
	// StartTime is HH:mm on a 24-hour clock.
	// +kubebuilder:validation:Pattern=`^([01][0-9]|2[0-3]):[0-5][0-9]$`
	StartTime string `json:"startTime"`
	// UTCOffset of StartTime, e.g. +01:00; empty means UTC.
	// +kubebuilder:validation:Pattern=`^[+-]([01][0-9]|2[0-3]):[0-5][0-9]$`
	// +optional
	UTCOffset string `json:"utcOffset,omitempty"`
}

// GateConfig declares a gate before or after a stage or group.
// +kubebuilder:validation:XValidation:rule="self.type != 'ScheduledStart' || has(self.schedule)",message="a ScheduledStart gate needs a schedule"
// +kubebuilder:validation:XValidation:rule="self.type != 'Approval' || !has(self.schedule)",message="an Approval gate takes no schedule"
type GateConfig struct {
	Type GateType `json:"type"`
	// DisplayName is shown to whoever approves the gate.
	// +kubebuilder:validation:MaxLength=100
	// +optional
	DisplayName string `json:"displayName,omitempty"`
	// +optional
	Schedule *GateSchedule `json:"schedule,omitempty"`
}

// UpdateGroup is a set of members updated together within a stage. Its
// members are the MemberClusters whose spec.updateGroup is its name, or, when
// memberSelector is set, those whose labels match it.
type UpdateGroup struct {
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`
	Name string `json:"name"`
	// MaxConcurrency is how many of the group's members upgrade at once: a
	// count (>= 1) or a percentage of the group, rounded down, at least 1.
	// Defaults to 1.
	// +kubebuilder:validation:XIntOrString
	// +kubebuilder:validation:MaxLength=4
	// +kubebuilder:validation:XValidation:rule="type(self) == int ? self >= 1 : (self.matches('^(100|[1-9][0-9]?)%$') || self.matches('^[1-9][0-9]{0,3}$'))",message="maxConcurrency must be a count of at least 1 (2 or \"2\") or a percentage from 1% to 100%"
	// +optional
	MaxConcurrency *intstr.IntOrString `json:"maxConcurrency,omitempty"`
	// MaxAllowedFailures is how many members may fail before the run stops: a
	// count (>= 0) or a percentage, rounded up. Defaults to 0 (fail fast).
	// +kubebuilder:validation:XIntOrString
	// +kubebuilder:validation:MaxLength=4
	// +kubebuilder:validation:XValidation:rule="type(self) == int ? self >= 0 : (self.matches('^(100|[1-9]?[0-9])%$') || self.matches('^(0|[1-9][0-9]{0,3})$'))",message="maxAllowedFailures must be a count of at least 0 (2 or \"2\") or a percentage from 0% to 100%"
	// +optional
	MaxAllowedFailures *intstr.IntOrString `json:"maxAllowedFailures,omitempty"`
	// +optional
	MemberSelector *metav1.LabelSelector `json:"memberSelector,omitempty"`
	// +kubebuilder:validation:MaxItems=4
	// +optional
	BeforeGates []GateConfig `json:"beforeGates,omitempty"`
	// +kubebuilder:validation:MaxItems=4
	// +optional
	AfterGates []GateConfig `json:"afterGates,omitempty"`
}

// +kubebuilder:validation:XValidation:rule="has(self.groups) || has(self.memberSelector)",message="a stage needs groups or a memberSelector"
// +kubebuilder:validation:XValidation:rule="!has(self.groups) || !has(self.memberSelector)",message="a stage takes groups or a memberSelector, not both"
// UpdateStage is a step of a strategy: its groups run in parallel, and the
// next stage starts only once this one, its wait and its gates are done.
type UpdateStage struct {
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`
	Name string `json:"name"`
	// +kubebuilder:validation:MaxItems=20
	// +listType=map
	// +listMapKey=name
	// +optional
	Groups []UpdateGroup `json:"groups,omitempty"`
	// MemberSelector picks the stage's members by label when it has no groups.
	// +optional
	MemberSelector *metav1.LabelSelector `json:"memberSelector,omitempty"`
	// AfterStageWaitInSeconds is a pause after the stage completes.
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=604800
	// +optional
	AfterStageWaitInSeconds int32 `json:"afterStageWaitInSeconds,omitempty"`
	// MaxConcurrency caps the members upgrading at once across the stage's
	// groups: a count (>= 1) or a percentage of the stage's members.
	// +kubebuilder:validation:XIntOrString
	// +kubebuilder:validation:MaxLength=4
	// +kubebuilder:validation:XValidation:rule="type(self) == int ? self >= 1 : (self.matches('^(100|[1-9][0-9]?)%$') || self.matches('^[1-9][0-9]{0,3}$'))",message="maxConcurrency must be a count of at least 1 (2 or \"2\") or a percentage from 1% to 100%"
	// +optional
	MaxConcurrency *intstr.IntOrString `json:"maxConcurrency,omitempty"`
	// MaxAllowedFailures is the stage's failure budget (count or percentage,
	// rounded up). Defaults to 0 (fail fast).
	// +kubebuilder:validation:XIntOrString
	// +kubebuilder:validation:MaxLength=4
	// +kubebuilder:validation:XValidation:rule="type(self) == int ? self >= 0 : (self.matches('^(100|[1-9]?[0-9])%$') || self.matches('^(0|[1-9][0-9]{0,3})$'))",message="maxAllowedFailures must be a count of at least 0 (2 or \"2\") or a percentage from 0% to 100%"
	// +optional
	MaxAllowedFailures *intstr.IntOrString `json:"maxAllowedFailures,omitempty"`
	// +kubebuilder:validation:MaxItems=4
	// +optional
	BeforeGates []GateConfig `json:"beforeGates,omitempty"`
	// +kubebuilder:validation:MaxItems=4
	// +optional
	AfterGates []GateConfig `json:"afterGates,omitempty"`
}

// UpdateStrategySpec is an ordered list of stages; the JSON shape of stages is
// Azure Fleet Manager's, so `az fleet updatestrategy create --stages` input
// works unchanged. Health checks, maintenance and freeze windows and the
// member upgrade timeout are Flotilla's additions.
// +kubebuilder:validation:XValidation:rule="self.stages.all(s, !has(s.groups) || s.groups.all(g, self.stages.exists_one(t, has(t.groups) && t.groups.exists(h, h.name == g.name))))",message="a group may appear in only one stage"
type UpdateStrategySpec struct {
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=20
	// +listType=map
	// +listMapKey=name
	Stages []UpdateStage `json:"stages"`
	// HealthChecks run after each member, each group or each stage (see
	// runAfter). A failing check fails that member, group or stage.
	// +kubebuilder:validation:MaxItems=20
	// +listType=map
	// +listMapKey=name
	// +optional
	HealthChecks []HealthCheck `json:"healthChecks,omitempty"`
	// MaintenanceWindows are the only times a member's upgrade may start.
	// A member no window applies to may start at any time.
	// +kubebuilder:validation:MaxItems=20
	// +optional
	MaintenanceWindows []MaintenanceWindow `json:"maintenanceWindows,omitempty"`
	// FreezeWindows are times no member's upgrade may start, even inside a
	// maintenance window.
	// +kubebuilder:validation:MaxItems=50
	// +optional
	FreezeWindows []FreezeWindow `json:"freezeWindows,omitempty"`
	// MemberUpgradeTimeoutSeconds fails a member whose upgrade runs longer
	// (health checks not included). Unset means no limit.
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=604800
	// +optional
	MemberUpgradeTimeoutSeconds int32 `json:"memberUpgradeTimeoutSeconds,omitempty"`
	// Preflight says what happens when a member whose control plane is to
	// move to a new minor still uses an API that minor removes (found by
	// `flotilla preflight`'s scan just before its upgrade starts): Block
	// (the default: the member fails before anything is done to it, with
	// the list), Warn (a Warning Event, and the upgrade goes on) or Off.
	// +optional
	Preflight PreflightPolicy `json:"preflight,omitempty"`
	// OnUnreachableMember says what happens to a member whose turn comes
	// while the hub cannot reach it (its Reachable condition is False):
	// Fail (the default: it fails, which stops the run unless the budget
	// allows it) or Skip (Skipped, with the reason).
	// +optional
	OnUnreachableMember UnreachablePolicy `json:"onUnreachableMember,omitempty"`
	// Notifications are webhooks told of the run's transitions.
	// +kubebuilder:validation:MaxItems=10
	// +optional
	Notifications []Notification `json:"notifications,omitempty"`
}

// Notification is a webhook that receives a JSON event, POSTed, for each
// transition of a run it asks for. Delivery is retried with backoff and
// never holds the run up.
type Notification struct {
	// URL receives the events.
	// +kubebuilder:validation:Pattern=`^https?://[^\s]+$`
	// +kubebuilder:validation:MaxLength=2048
	URL string `json:"url"`
	// Events are the transitions to send, named as the run's Kubernetes
	// Events are: a kind (Run, Stage, Group, Member, Gate, AfterStageWait,
	// HealthChecks) and the state it moved to (RunFailed, StageCompleted,
	// GatePending, MemberFailed, ...). Empty sends all of them.
	// +kubebuilder:validation:MaxItems=64
	// +kubebuilder:validation:items:Pattern=`^(Run|Stage|Group|Member|Gate|AfterStageWait|HealthChecks)(NotStarted|Running|Pending|Stopping|Stopped|Skipped|Failed|Completed)$`
	// +optional
	Events []string `json:"events,omitempty"`
	// SecretRef names a key of a Secret in flotilla-system whose value
	// signs each event: the X-Flotilla-Signature-256 header is
	// "sha256=" and the hex HMAC-SHA256 of the body.
	// +optional
	SecretRef *NotificationSecretRef `json:"secretRef,omitempty"`
}

// NotificationSecretRef is a key of a Secret in the hub's namespace.
type NotificationSecretRef struct {
	// +kubebuilder:validation:MinLength=1
	Name string `json:"name"`
	// +kubebuilder:default=secret
	// +optional
	Key string `json:"key,omitempty"`
}

// UnreachablePolicy is a strategy's answer to a member it cannot reach.
// +kubebuilder:validation:Enum=Fail;Skip
type UnreachablePolicy string

const (
	UnreachableFail UnreachablePolicy = "Fail"
	UnreachableSkip UnreachablePolicy = "Skip"
)

// PreflightPolicy is a strategy's answer to uses of removed APIs.
// +kubebuilder:validation:Enum=Block;Warn;Off
type PreflightPolicy string

const (
	PreflightBlock PreflightPolicy = "Block"
	PreflightWarn  PreflightPolicy = "Warn"
	PreflightOff   PreflightPolicy = "Off"
)

// UpdateStrategy is a reusable staged-upgrade plan.
//
// +kubebuilder:object:root=true
// +kubebuilder:resource:scope=Cluster,shortName=strategy;strategies,categories=fleet
// +kubebuilder:printcolumn:name="Stages",type=string,JSONPath=`.spec.stages[*].name`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type UpdateStrategy struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec UpdateStrategySpec `json:"spec"`
}

// UpdateStrategyList is a list of UpdateStrategies.
//
// +kubebuilder:object:root=true
type UpdateStrategyList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []UpdateStrategy `json:"items"`
}

func init() {
	register(&UpdateStrategy{}, &UpdateStrategyList{})
}
