package v1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// ClusterResourceSelector picks cluster-scoped resources on the hub: one by
// name, or all of a kind that match a label selector. A selected Namespace
// brings every resource in it, unless selectionScope says NamespaceOnly.
// +kubebuilder:validation:XValidation:rule="!(has(self.name) && size(self.name) > 0 && has(self.labelSelector))",message="a resource selector takes a name or a labelSelector, not both"
type ClusterResourceSelector struct {
	// Group of the resource; "" is the core group.
	Group string `json:"group"`
	// +kubebuilder:validation:MinLength=1
	Version string `json:"version"`
	// +kubebuilder:validation:MinLength=1
	Kind string `json:"kind"`
	// +optional
	Name string `json:"name,omitempty"`
	// +optional
	LabelSelector *metav1.LabelSelector `json:"labelSelector,omitempty"`
	// SelectionScope applies to Namespaces: NamespaceWithResources (the
	// default) places the namespace and everything in it.
	// +kubebuilder:validation:Enum=NamespaceOnly;NamespaceWithResources
	// +kubebuilder:default=NamespaceWithResources
	// +optional
	SelectionScope SelectionScope `json:"selectionScope,omitempty"`
}

// SelectionScope says how much of a selected namespace is placed.
type SelectionScope string

const (
	NamespaceOnly          SelectionScope = "NamespaceOnly"
	NamespaceWithResources SelectionScope = "NamespaceWithResources"
)

// PlacementType is how clusters are picked.
// +kubebuilder:validation:Enum=PickAll;PickN;PickFixed
type PlacementType string

const (
	PickAllPlacementType   PlacementType = "PickAll"
	PickNPlacementType     PlacementType = "PickN"
	PickFixedPlacementType PlacementType = "PickFixed"
)

// PlacementPolicy says which member clusters receive the selected resources.
// +kubebuilder:validation:XValidation:rule="!has(self.placementType) || self.placementType != 'PickFixed' || (has(self.clusterNames) && size(self.clusterNames) > 0)",message="PickFixed needs clusterNames"
// +kubebuilder:validation:XValidation:rule="!has(self.placementType) || self.placementType == 'PickFixed' || !has(self.clusterNames) || size(self.clusterNames) == 0",message="clusterNames is only for PickFixed"
// +kubebuilder:validation:XValidation:rule="!has(self.placementType) || self.placementType != 'PickN' || has(self.numberOfClusters)",message="PickN needs numberOfClusters"
// +kubebuilder:validation:XValidation:rule="!has(self.numberOfClusters) || (has(self.placementType) && self.placementType == 'PickN')",message="numberOfClusters is only for PickN"
// +kubebuilder:validation:XValidation:rule="!has(self.placementType) || self.placementType != 'PickFixed' || (!has(self.affinity) && !has(self.topologySpreadConstraints))",message="PickFixed takes no affinity or topologySpreadConstraints"
type PlacementPolicy struct {
	// +kubebuilder:default=PickAll
	// +optional
	PlacementType PlacementType `json:"placementType,omitempty"`
	// ClusterNames are the members of a PickFixed placement.
	// +kubebuilder:validation:MaxItems=100
	// +optional
	ClusterNames []string `json:"clusterNames,omitempty"`
	// NumberOfClusters is how many members a PickN placement picks.
	// +kubebuilder:validation:Minimum=0
	// +optional
	NumberOfClusters *int32 `json:"numberOfClusters,omitempty"`
	// +optional
	Affinity *Affinity `json:"affinity,omitempty"`
	// TopologySpreadConstraints spread a PickN placement over the values of
	// a member label, such as region.
	// +optional
	TopologySpreadConstraints []TopologySpreadConstraint `json:"topologySpreadConstraints,omitempty"`
	// Tolerations let the placement onto members with matching taints.
	// +kubebuilder:validation:MaxItems=100
	// +optional
	Tolerations []Toleration `json:"tolerations,omitempty"`
}

// Affinity holds the cluster affinity rules.
type Affinity struct {
	// +optional
	ClusterAffinity *ClusterAffinity `json:"clusterAffinity,omitempty"`
}

// ClusterAffinity has required terms (a member must match one) and
// preferred terms (weights that rank members for PickN).
type ClusterAffinity struct {
	// +optional
	RequiredDuringSchedulingIgnoredDuringExecution *ClusterSelector `json:"requiredDuringSchedulingIgnoredDuringExecution,omitempty"`
	// +optional
	PreferredDuringSchedulingIgnoredDuringExecution []PreferredClusterSelector `json:"preferredDuringSchedulingIgnoredDuringExecution,omitempty"`
}

// ClusterSelector matches a member that matches any one of its terms.
type ClusterSelector struct {
	// +kubebuilder:validation:MaxItems=10
	ClusterSelectorTerms []ClusterSelectorTerm `json:"clusterSelectorTerms"`
}

// ClusterSelectorTerm matches a member whose labels and properties match
// all of what it sets.
type ClusterSelectorTerm struct {
	// +optional
	LabelSelector *metav1.LabelSelector `json:"labelSelector,omitempty"`
	// +optional
	PropertySelector *PropertySelector `json:"propertySelector,omitempty"`
	// PropertySorter ranks members by a property in a preferred term.
	// +optional
	PropertySorter *PropertySorter `json:"propertySorter,omitempty"`
}

// PropertySelector matches members whose properties meet every requirement.
type PropertySelector struct {
	MatchExpressions []PropertySelectorRequirement `json:"matchExpressions"`
}

// PropertySelectorOperator compares a property with a value.
// +kubebuilder:validation:Enum=Gt;Ge;Eq;Ne;Lt;Le
type PropertySelectorOperator string

const (
	PropertySelectorGreaterThan        PropertySelectorOperator = "Gt"
	PropertySelectorGreaterThanOrEqual PropertySelectorOperator = "Ge"
	PropertySelectorEqualTo            PropertySelectorOperator = "Eq"
	PropertySelectorNotEqualTo         PropertySelectorOperator = "Ne"
	PropertySelectorLessThan           PropertySelectorOperator = "Lt"
	PropertySelectorLessThanOrEqual    PropertySelectorOperator = "Le"
)

// PropertySelectorRequirement compares one property, such as
// kubernetes-fleet.io/node-count, with one value.
type PropertySelectorRequirement struct {
	// +kubebuilder:validation:MinLength=1
	Name     string                   `json:"name"`
	Operator PropertySelectorOperator `json:"operator"`
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=1
	Values []string `json:"values"`
}

// PropertySortOrder is the direction of a PropertySorter.
// +kubebuilder:validation:Enum=Descending;Ascending
type PropertySortOrder string

const (
	Descending PropertySortOrder = "Descending"
	Ascending  PropertySortOrder = "Ascending"
)

// PropertySorter ranks members by a numeric property.
type PropertySorter struct {
	Name      string            `json:"name"`
	SortOrder PropertySortOrder `json:"sortOrder"`
}

// PreferredClusterSelector weighs the members that match its preference.
type PreferredClusterSelector struct {
	// +kubebuilder:validation:Minimum=-100
	// +kubebuilder:validation:Maximum=100
	Weight     int32               `json:"weight"`
	Preference ClusterSelectorTerm `json:"preference"`
}

// UnsatisfiableConstraintAction is what to do when a spread cannot be kept.
// +kubebuilder:validation:Enum=DoNotSchedule;ScheduleAnyway
type UnsatisfiableConstraintAction string

const (
	DoNotSchedule  UnsatisfiableConstraintAction = "DoNotSchedule"
	ScheduleAnyway UnsatisfiableConstraintAction = "ScheduleAnyway"
)

// TopologySpreadConstraint keeps the number of picked members per value of
// a member label within maxSkew of each other.
type TopologySpreadConstraint struct {
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:default=1
	// +optional
	MaxSkew *int32 `json:"maxSkew,omitempty"`
	// +kubebuilder:validation:MinLength=1
	TopologyKey string `json:"topologyKey"`
	// +kubebuilder:default=DoNotSchedule
	// +optional
	WhenUnsatisfiable UnsatisfiableConstraintAction `json:"whenUnsatisfiable,omitempty"`
}

// TolerationOperator compares a toleration with a taint.
// +kubebuilder:validation:Enum=Exists;Equal
type TolerationOperator string

const (
	TolerationOpExists TolerationOperator = "Exists"
	TolerationOpEqual  TolerationOperator = "Equal"
)

// Toleration lets a placement onto members whose taint it matches.
type Toleration struct {
	// +optional
	Key string `json:"key,omitempty"`
	// +kubebuilder:default=Equal
	// +optional
	Operator TolerationOperator `json:"operator,omitempty"`
	// +optional
	Value string `json:"value,omitempty"`
	// +kubebuilder:validation:Enum=NoSchedule
	// +optional
	Effect string `json:"effect,omitempty"`
}

// RolloutStrategyType is how a change reaches the picked members.
// +kubebuilder:validation:Enum=RollingUpdate;External
type RolloutStrategyType string

const (
	RollingUpdateRolloutStrategyType RolloutStrategyType = "RollingUpdate"
	ExternalRolloutStrategyType      RolloutStrategyType = "External"
)

// RolloutStrategy says how a change of the selected resources or of the
// picked members is rolled out, and how it is applied on the members.
type RolloutStrategy struct {
	// +kubebuilder:default=RollingUpdate
	// +optional
	Type RolloutStrategyType `json:"type,omitempty"`
	// +optional
	RollingUpdate *RollingUpdateConfig `json:"rollingUpdate,omitempty"`
	// +optional
	ApplyStrategy *ApplyStrategy `json:"applyStrategy,omitempty"`
}

// RollingUpdateConfig bounds how many members are changing at once.
type RollingUpdateConfig struct {
	// MaxUnavailable is how many picked members may be without an available
	// copy of the resources during a rollout: a count or a percentage.
	// +kubebuilder:validation:XIntOrString
	// +kubebuilder:validation:MaxLength=4
	// +kubebuilder:validation:XValidation:rule="type(self) == int ? self >= 0 : self.matches('^(100|[1-9]?[0-9])%$')",message="maxUnavailable must be a count of at least 0 or a percentage from 0% to 100%"
	// +kubebuilder:default="25%"
	// +optional
	MaxUnavailable *intstr.IntOrString `json:"maxUnavailable,omitempty"`
	// MaxSurge is how many members beyond the target may hold the resources
	// while a placement moves.
	// +kubebuilder:validation:XIntOrString
	// +kubebuilder:validation:MaxLength=4
	// +kubebuilder:validation:XValidation:rule="type(self) == int ? self >= 0 : self.matches('^(100|[1-9]?[0-9])%$')",message="maxSurge must be a count of at least 0 or a percentage from 0% to 100%"
	// +kubebuilder:default="25%"
	// +optional
	MaxSurge *intstr.IntOrString `json:"maxSurge,omitempty"`
	// UnavailablePeriodSeconds is how long an applied member counts as
	// unavailable when its resources have no availability signal.
	// +kubebuilder:default=60
	// +kubebuilder:validation:Minimum=0
	// +optional
	UnavailablePeriodSeconds *int `json:"unavailablePeriodSeconds,omitempty"`
}

// ApplyStrategyType is how manifests are applied on members.
// +kubebuilder:validation:Enum=ClientSideApply;ServerSideApply;ReportDiff
type ApplyStrategyType string

const (
	ApplyStrategyTypeClientSideApply ApplyStrategyType = "ClientSideApply"
	ApplyStrategyTypeServerSideApply ApplyStrategyType = "ServerSideApply"
	ApplyStrategyTypeReportDiff      ApplyStrategyType = "ReportDiff"
)

// ComparisonOptionType says which fields count when comparing a member's
// object with the hub's manifest.
// +kubebuilder:validation:Enum=PartialComparison;FullComparison
type ComparisonOptionType string

const (
	ComparisonOptionTypePartialComparison ComparisonOptionType = "PartialComparison"
	ComparisonOptionTypeFullComparison    ComparisonOptionType = "FullComparison"
)

// WhenToApplyType says whether drifted objects are overwritten.
// +kubebuilder:validation:Enum=Always;IfNotDrifted
type WhenToApplyType string

const (
	WhenToApplyTypeAlways       WhenToApplyType = "Always"
	WhenToApplyTypeIfNotDrifted WhenToApplyType = "IfNotDrifted"
)

// WhenToTakeOverType says what happens to an object that already exists on a
// member and was not placed by the fleet.
// +kubebuilder:validation:Enum=Always;IfNoDiff;Never
type WhenToTakeOverType string

const (
	WhenToTakeOverTypeAlways   WhenToTakeOverType = "Always"
	WhenToTakeOverTypeIfNoDiff WhenToTakeOverType = "IfNoDiff"
	WhenToTakeOverTypeNever    WhenToTakeOverType = "Never"
)

// ApplyStrategy says how placed manifests are applied and kept on members.
type ApplyStrategy struct {
	// +kubebuilder:default=PartialComparison
	// +optional
	ComparisonOption ComparisonOptionType `json:"comparisonOption,omitempty"`
	// +kubebuilder:default=Always
	// +optional
	WhenToApply WhenToApplyType `json:"whenToApply,omitempty"`
	// +kubebuilder:default=ClientSideApply
	// +optional
	Type ApplyStrategyType `json:"type,omitempty"`
	// AllowCoOwnership lets the fleet apply to objects other owners also own.
	// +optional
	AllowCoOwnership bool `json:"allowCoOwnership,omitempty"`
	// +optional
	ServerSideApplyConfig *ServerSideApplyConfig `json:"serverSideApplyConfig,omitempty"`
	// +kubebuilder:default=Always
	// +optional
	WhenToTakeOver WhenToTakeOverType `json:"whenToTakeOver,omitempty"`
}

// ServerSideApplyConfig tunes ServerSideApply.
type ServerSideApplyConfig struct {
	// Force takes fields over from other field managers.
	// +optional
	ForceConflicts bool `json:"force,omitempty"`
}

// ClusterResourcePlacementSpec is what to place and where.
type ClusterResourcePlacementSpec struct {
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=100
	ResourceSelectors []ClusterResourceSelector `json:"resourceSelectors"`
	// Policy picks the members; empty means PickAll.
	// +optional
	Policy *PlacementPolicy `json:"policy,omitempty"`
	// +optional
	Strategy RolloutStrategy `json:"strategy,omitempty"`
	// RevisionHistoryLimit is how many resource snapshots are kept.
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=1000
	// +kubebuilder:default=10
	// +optional
	RevisionHistoryLimit *int32 `json:"revisionHistoryLimit,omitempty"`
}

// ResourceIdentifier names one placed resource.
type ResourceIdentifier struct {
	// +optional
	Group   string `json:"group,omitempty"`
	Version string `json:"version"`
	Kind    string `json:"kind"`
	Name    string `json:"name"`
	// +optional
	Namespace string `json:"namespace,omitempty"`
}

// PatchDetail is one field where a member's object and the hub's manifest
// differ, as a JSON pointer and the two values.
type PatchDetail struct {
	Path string `json:"path"`
	// +optional
	ValueInMember string `json:"valueInMember,omitempty"`
	// +optional
	ValueInHub string `json:"valueInHub,omitempty"`
}

// FailedResourcePlacement is a resource that could not be applied or is not
// available on a member.
type FailedResourcePlacement struct {
	ResourceIdentifier `json:",inline"`
	Condition          metav1.Condition `json:"condition"`
}

// DriftedResourcePlacement is a placed resource changed on the member.
type DriftedResourcePlacement struct {
	ResourceIdentifier `json:",inline"`
	ObservationTime    metav1.Time `json:"observationTime"`
	// +optional
	TargetClusterObservedGeneration int64       `json:"targetClusterObservedGeneration,omitempty"`
	FirstDriftedObservedTime        metav1.Time `json:"firstDriftedObservedTime"`
	// +optional
	ObservedDrifts []PatchDetail `json:"observedDrifts,omitempty"`
}

// DiffedResourcePlacement is a resource whose member copy differs from the
// hub's manifest (ReportDiff, or a takeover refused).
type DiffedResourcePlacement struct {
	ResourceIdentifier `json:",inline"`
	ObservationTime    metav1.Time `json:"observationTime"`
	// +optional
	TargetClusterObservedGeneration *int64      `json:"targetClusterObservedGeneration,omitempty"`
	FirstDiffedObservedTime         metav1.Time `json:"firstDiffedObservedTime"`
	// +optional
	ObservedDiffs []PatchDetail `json:"observedDiffs,omitempty"`
}

// ResourcePlacementStatus is the placement's state on one member.
type ResourcePlacementStatus struct {
	// +optional
	ClusterName string `json:"clusterName,omitempty"`
	// +optional
	ObservedResourceIndex string `json:"observedResourceIndex,omitempty"`
	// +optional
	ApplicableResourceOverrides []NamespacedName `json:"applicableResourceOverrides,omitempty"`
	// +optional
	ApplicableClusterResourceOverrides []string `json:"applicableClusterResourceOverrides,omitempty"`
	// +kubebuilder:validation:MaxItems=100
	// +optional
	FailedPlacements []FailedResourcePlacement `json:"failedPlacements,omitempty"`
	// +kubebuilder:validation:MaxItems=100
	// +optional
	DriftedPlacements []DriftedResourcePlacement `json:"driftedPlacements,omitempty"`
	// +kubebuilder:validation:MaxItems=100
	// +optional
	DiffedPlacements []DiffedResourcePlacement `json:"diffedPlacements,omitempty"`
	// +optional
	// +listType=map
	// +listMapKey=type
	Conditions []metav1.Condition `json:"conditions,omitempty"`
}

// NamespacedName names a namespaced object.
type NamespacedName struct {
	Name      string `json:"name"`
	Namespace string `json:"namespace"`
}

// ClusterResourcePlacementStatus is what the hub last saw of the placement.
type ClusterResourcePlacementStatus struct {
	// +optional
	SelectedResources []ResourceIdentifier `json:"selectedResources,omitempty"`
	// ObservedResourceIndex is the index of the newest resource snapshot.
	// +optional
	ObservedResourceIndex string `json:"observedResourceIndex,omitempty"`
	// +optional
	PlacementStatuses []ResourcePlacementStatus `json:"placementStatuses,omitempty"`
	// +optional
	// +listType=map
	// +listMapKey=type
	Conditions []metav1.Condition `json:"conditions,omitempty"`
}

// Condition types of a ClusterResourcePlacement; the per-cluster conditions
// drop the "ClusterResourcePlacement" prefix.
const (
	ClusterResourcePlacementScheduledConditionType        = "ClusterResourcePlacementScheduled"
	ClusterResourcePlacementRolloutStartedConditionType   = "ClusterResourcePlacementRolloutStarted"
	ClusterResourcePlacementOverriddenConditionType       = "ClusterResourcePlacementOverridden"
	ClusterResourcePlacementWorkSynchronizedConditionType = "ClusterResourcePlacementWorkSynchronized"
	ClusterResourcePlacementAppliedConditionType          = "ClusterResourcePlacementApplied"
	ClusterResourcePlacementAvailableConditionType        = "ClusterResourcePlacementAvailable"
	ClusterResourcePlacementDiffReportedConditionType     = "ClusterResourcePlacementDiffReported"

	ResourceScheduledConditionType        = "Scheduled"
	ResourceRolloutStartedConditionType   = "RolloutStarted"
	ResourceOverriddenConditionType       = "Overridden"
	ResourceWorkSynchronizedConditionType = "WorkSynchronized"
	ResourcesAppliedConditionType         = "Applied"
	ResourcesAvailableConditionType       = "Available"
	ResourcesDiffReportedConditionType    = "DiffReported"
)

// Reasons of the ClusterResourcePlacementScheduled condition.
const (
	// SchedulingPolicyFulfilledReason: the policy got every member it asked for.
	SchedulingPolicyFulfilledReason = "SchedulingPolicyFulfilled"
	// SchedulingPolicyUnfulfilledReason: fewer members fit than the policy
	// asks for (PickN short, PickFixed naming missing members).
	SchedulingPolicyUnfulfilledReason = "SchedulingPolicyUnfulfilled"
	// InvalidResourceSelectorsReason: the resource selectors cannot be
	// served (a namespaced kind, an unknown kind); the user's to fix.
	InvalidResourceSelectorsReason = "InvalidResourceSelectors"
	// ResourceSelectionFailedReason: the selected resources could not be
	// read or snapshotted; retried.
	ResourceSelectionFailedReason = "ResourceSelectionFailed"
	// SchedulingFailedReason: what the scheduler needs (members, bindings,
	// Works) could not be read; retried.
	SchedulingFailedReason = "SchedulingFailed"
)

// Reasons of the placement-wide conditions that sum the per-cluster ones
// (ClusterResourcePlacementRolloutStarted ... DiffReported): Pending while
// a picked member has not reported, Failed once one reports False,
// Succeeded when all report True.
const (
	RolloutStartedPendingReason     = "RolloutStartedPending"
	RolloutStartedFailedReason      = "RolloutStartedFailed"
	RolloutStartedSucceededReason   = "RolloutStartedSucceeded"
	OverriddenPendingReason         = "OverriddenPending"
	OverriddenFailedReason          = "OverriddenFailed"
	OverriddenSucceededReason       = "OverriddenSucceeded"
	WorkSynchronizedPendingReason   = "WorkSynchronizedPending"
	WorkSynchronizedFailedReason    = "WorkSynchronizedFailed"
	WorkSynchronizedSucceededReason = "WorkSynchronizedSucceeded"
	AppliedPendingReason            = "AppliedPending"
	AppliedFailedReason             = "AppliedFailed"
	AppliedSucceededReason          = "AppliedSucceeded"
	AvailablePendingReason          = "AvailablePending"
	AvailableFailedReason           = "AvailableFailed"
	AvailableSucceededReason        = "AvailableSucceeded"
	DiffReportedPendingReason       = "DiffReportedPending"
	DiffReportedFailedReason        = "DiffReportedFailed"
	DiffReportedSucceededReason     = "DiffReportedSucceeded"
)

// Reasons of the per-cluster conditions. Applied, Available and
// DiffReported carry the reason the member's agent gave, or one of the
// last two.
const (
	// ScheduleSucceededReason (Scheduled): the scheduler picked the member.
	ScheduleSucceededReason = "Scheduled"
	// RolloutStartedReason (RolloutStarted): the member's binding holds the
	// newest resource snapshot.
	RolloutStartedReason = "RolloutStarted"
	// RolloutNotStartedYetReason: the member waits for others to become
	// available (maxUnavailable) or for an external rollout.
	RolloutNotStartedYetReason = "RolloutNotStartedYet"
	// RolloutFailedReason: the member's binding could not be written.
	RolloutFailedReason = "RolloutFailed"
	// OverrideNotSpecifiedReason (Overridden): no override applies.
	// OverriddenSucceededReason and OverriddenFailedReason (above) say
	// whether the overrides that apply could be applied.
	OverrideNotSpecifiedReason = "NoOverrideSpecified"
	// WorkSynchronizedReason (WorkSynchronized): the Work holds the
	// member's resources.
	WorkSynchronizedReason = "WorkSynchronized"
	// WorkNotSynchronizedYetReason: the Work is not written yet.
	WorkNotSynchronizedYetReason = "WorkNotSynchronizedYet"
	// SyncWorkFailedReason: writing the Work failed; the message says why.
	SyncWorkFailedReason = "SyncWorkFailed"
	// WorkNotReportedReason: the member's agent has not reported on the
	// current Work.
	WorkNotReportedReason = "WorkNotReported"
	// WorkReportedReason stands in for an agent that reported a condition
	// without a reason.
	WorkReportedReason = "Reported"
)

// ClusterResourcePlacementCleanupFinalizer keeps a placement until its
// Works, bindings and snapshots are gone.
const ClusterResourcePlacementCleanupFinalizer = "fleet.flotilla.dev/placement-cleanup"

// ClusterResourcePlacement places cluster-scoped hub resources (and the
// contents of selected namespaces) on the member clusters its policy picks.
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:scope=Cluster,shortName=crp,categories=fleet
// +kubebuilder:printcolumn:name="Gen",type=string,JSONPath=`.metadata.generation`
// +kubebuilder:printcolumn:name="Scheduled",type=string,JSONPath=`.status.conditions[?(@.type=="ClusterResourcePlacementScheduled")].status`
// +kubebuilder:printcolumn:name="Applied",type=string,JSONPath=`.status.conditions[?(@.type=="ClusterResourcePlacementApplied")].status`
// +kubebuilder:printcolumn:name="Available",type=string,JSONPath=`.status.conditions[?(@.type=="ClusterResourcePlacementAvailable")].status`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
// +kubebuilder:validation:XValidation:rule="size(self.metadata.name) <= 63",message="metadata.name must be at most 63 characters"
type ClusterResourcePlacement struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec ClusterResourcePlacementSpec `json:"spec"`
	// +optional
	Status ClusterResourcePlacementStatus `json:"status,omitempty"`
}

// ClusterResourcePlacementList is a list of ClusterResourcePlacements.
//
// +kubebuilder:object:root=true
type ClusterResourcePlacementList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []ClusterResourcePlacement `json:"items"`
}

func init() {
	register(&ClusterResourcePlacement{}, &ClusterResourcePlacementList{})
}
