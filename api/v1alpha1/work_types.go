package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	placementv1 "github.com/flotilla-dev/flotilla/api/placement/v1"
)

// Labels and names that tie placement machinery together.
const (
	// PlacementLabel names the ClusterResourcePlacement an object belongs to:
	// snapshots, bindings and Works on the hub, placed objects on members.
	PlacementLabel = "fleet.flotilla.dev/placement"
	// MemberClusterLabel names the member a binding or Work is for.
	MemberClusterLabel = "fleet.flotilla.dev/member-cluster"
	// SnapshotIndexLabel is a resource snapshot's index.
	SnapshotIndexLabel = "fleet.flotilla.dev/snapshot-index"
	// LatestSnapshotLabel marks the newest snapshot of a placement.
	LatestSnapshotLabel = "fleet.flotilla.dev/latest-snapshot"
	// ManagedByLabel marks objects the agent applied on a member; its value
	// is always ManagedByAgent.
	ManagedByLabel = "fleet.flotilla.dev/managed-by"
	ManagedByAgent = "flotilla-agent"
	// WorkAnnotation on a placed object names the Work that placed it.
	WorkAnnotation = "fleet.flotilla.dev/work"
	// SecretDataLabel marks a hub Secret that holds the data of placed
	// Secrets: "snapshot" for a snapshot part's, in the fleet namespace;
	// "work" for a Work's, in the member's namespace.
	SecretDataLabel = "fleet.flotilla.dev/secret-data"
	// NumberOfSnapshotPartsAnnotation on part 0 of a snapshot counts its
	// parts; SnapshotPartAnnotation on the others is their subindex. The
	// names are KubeFleet's for the same split.
	NumberOfSnapshotPartsAnnotation = "kubernetes-fleet.io/number-of-resource-snapshots"
	SnapshotPartAnnotation          = "kubernetes-fleet.io/subindex"
	// MemberNamespacePrefix starts the hub namespace of each member:
	// flotilla-member-<name> holds its Works, and its agent may read nothing else.
	MemberNamespacePrefix = "flotilla-member-"
)

// MemberNamespace is the hub namespace that holds a member's Works.
func MemberNamespace(member string) string { return MemberNamespacePrefix + member }

// ResourceSnapshotSpec is the selected resources of a placement at one point.
type ResourceSnapshotSpec struct {
	// Placement is the ClusterResourcePlacement this snapshot is of.
	Placement string `json:"placement"`
	// Index counts the placement's snapshots from 0.
	Index int32 `json:"index"`
	// Hash identifies the content, so an unchanged selection makes no new snapshot.
	Hash string `json:"hash"`
	// Resources are the selected objects, stripped of cluster-specific
	// fields, in apply order. Secrets are stored without data and
	// stringData: those are in the Secret SecretData names.
	// +optional
	Resources []runtime.RawExtension `json:"resources,omitempty"`
	// Part is this object's subindex among the snapshot's parts: resources
	// that do not fit one object are split in apply order. Part 0 is named
	// <placement>-<index> and holds the first resources; part k is
	// <placement>-<index>.<k>.
	// +optional
	Part int32 `json:"part,omitempty"`
	// Parts, on part 0, is how many parts the snapshot has (0 means 1).
	// +optional
	Parts int32 `json:"parts,omitempty"`
	// SecretData names the hub Secret, in the fleet namespace, that holds
	// the data of this part's Secrets, where only hub admins can read it.
	// +optional
	SecretData *SecretDataReference `json:"secretData,omitempty"`
}

// SecretDataReference names a Secret holding the data of placed Secrets.
type SecretDataReference struct {
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
}

// WorkSecretData names the Secret, in the Work's own namespace, that holds
// the data and stringData of the Work's Secret manifests. Only hub admins
// and the member's agent may read it.
type WorkSecretData struct {
	Name string `json:"name"`
	// Digest is a keyed hash of the data (the key is in the Secret), so a
	// change of data changes the Work and the agent can tell the Secret it
	// read belongs to this generation, while readers of the Work learn
	// nothing of the data.
	Digest string `json:"digest"`
}

// WorkPart places a Work among the parts of one placement's Works for one
// member, when its manifests do not fit one object.
type WorkPart struct {
	// Set is the name of part 0, the Work that counts the parts; the
	// agent applies the parts as one and places objects under this name.
	Set string `json:"set"`
	// Index is this part's subindex; part 0 holds the first manifests.
	Index int32 `json:"index"`
	// Total is how many parts the set has.
	Total int32 `json:"total"`
	// Token identifies the content of the whole set: the agent removes
	// what no part holds only once every part carries part 0's token.
	Token string `json:"token"`
}

// ResourceSnapshot is an immutable copy of what a placement selected; a
// placement keeps spec.revisionHistoryLimit of them.
//
// +kubebuilder:object:root=true
// +kubebuilder:resource:scope=Cluster,categories=fleet-internal
// +kubebuilder:printcolumn:name="Placement",type=string,JSONPath=`.spec.placement`
// +kubebuilder:printcolumn:name="Index",type=integer,JSONPath=`.spec.index`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type ResourceSnapshot struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec ResourceSnapshotSpec `json:"spec"`
}

// ResourceSnapshotList is a list of ResourceSnapshots.
//
// +kubebuilder:object:root=true
type ResourceSnapshotList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []ResourceSnapshot `json:"items"`
}

// BindingState is where a binding is in its life.
// +kubebuilder:validation:Enum=Scheduled;Bound;Unscheduled
type BindingState string

const (
	// BindingScheduled: the scheduler picked the member; nothing sent yet.
	BindingScheduled BindingState = "Scheduled"
	// BindingBound: the member is to hold the binding's snapshot.
	BindingBound BindingState = "Bound"
	// BindingUnscheduled: the member is no longer picked; its Work is removed.
	BindingUnscheduled BindingState = "Unscheduled"
)

// ResourceBindingSpec is one scheduling decision: a placement on a member.
type ResourceBindingSpec struct {
	Placement     string       `json:"placement"`
	TargetCluster string       `json:"targetCluster"`
	State         BindingState `json:"state"`
	// ResourceSnapshotName is the snapshot the member is to hold.
	// +optional
	ResourceSnapshotName string `json:"resourceSnapshotName,omitempty"`
	// Reason says why the scheduler picked the member.
	// +optional
	Reason string `json:"reason,omitempty"`
	// Score ranks the member among those picked by PickN.
	// +optional
	Score int64 `json:"score,omitempty"`
}

// ResourceBinding records that a placement picked a member.
//
// +kubebuilder:object:root=true
// +kubebuilder:resource:scope=Cluster,categories=fleet-internal
// +kubebuilder:printcolumn:name="Placement",type=string,JSONPath=`.spec.placement`
// +kubebuilder:printcolumn:name="Member",type=string,JSONPath=`.spec.targetCluster`
// +kubebuilder:printcolumn:name="State",type=string,JSONPath=`.spec.state`
// +kubebuilder:printcolumn:name="Snapshot",type=string,JSONPath=`.spec.resourceSnapshotName`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type ResourceBinding struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec ResourceBindingSpec `json:"spec"`
}

// ResourceBindingList is a list of ResourceBindings.
//
// +kubebuilder:object:root=true
type ResourceBindingList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []ResourceBinding `json:"items"`
}

// WorkSpec is what one member must hold for one placement: the manifests,
// already overridden for that member, and how to apply them.
type WorkSpec struct {
	Placement string `json:"placement"`
	// ResourceSnapshotName is the snapshot the manifests come from.
	// +optional
	ResourceSnapshotName string `json:"resourceSnapshotName,omitempty"`
	// Manifests are the objects to apply, in apply order.
	// +optional
	Manifests []runtime.RawExtension `json:"manifests,omitempty"`
	// +optional
	ApplyStrategy *placementv1.ApplyStrategy `json:"applyStrategy,omitempty"`
	// DeletionPolicy says what the agent does with the placed objects when
	// the Work is deleted: Delete them (the default) or Abandon them.
	// +kubebuilder:validation:Enum=Delete;Abandon
	// +kubebuilder:default=Delete
	// +optional
	DeletionPolicy DeletionPolicy `json:"deletionPolicy,omitempty"`
	// SecretData, when the manifests hold Secrets, names the Secret with
	// their data.
	// +optional
	SecretData *WorkSecretData `json:"secretData,omitempty"`
	// Part is set when the member's manifests of the placement are split
	// across several Works.
	// +optional
	Part *WorkPart `json:"part,omitempty"`
}

// DeletionPolicy is what happens on members to what a placement placed when
// it stops placing it.
type DeletionPolicy string

const (
	DeletionPolicyDelete  DeletionPolicy = "Delete"
	DeletionPolicyAbandon DeletionPolicy = "Abandon"
)

// DeletionPolicyAnnotation on a ClusterResourcePlacement set to Abandon
// leaves what it placed on the members when it is deleted.
const DeletionPolicyAnnotation = "placement.flotilla.dev/deletion-policy"

// AgentFinalizer on a Work keeps it until its agent has removed what it placed.
const AgentFinalizer = "fleet.flotilla.dev/agent-cleanup"

// Condition types of a Work and of each of its manifests.
const (
	WorkApplied      = "Applied"
	WorkAvailable    = "Available"
	WorkDiffReported = "DiffReported"
)

// Reasons of a manifest's conditions.
const (
	// WorkReasonApplied: the manifest is on the member as the hub has it.
	WorkReasonApplied = "Applied"
	// WorkReasonApplyFailed: reading or writing the member's object failed;
	// the agent retries.
	WorkReasonApplyFailed = "ApplyFailed"
	// WorkReasonManifestInvalid: the manifest cannot be decoded; the hub
	// must send a fixed one.
	WorkReasonManifestInvalid = "ManifestInvalid"
	// WorkReasonNotTakenOver: the object exists on the member, not placed by
	// the fleet, and whenToTakeOver forbids taking it over.
	WorkReasonNotTakenOver = "NotTakenOver"
	// WorkReasonConflict: another Work placed the object and still holds it.
	WorkReasonConflict = "ConflictWithOtherWork"
	// WorkReasonDrifted: the object was changed on the member and
	// whenToApply is IfNotDrifted, so the change stays.
	WorkReasonDrifted = "Drifted"
	// WorkReasonAvailable: the workload has rolled out.
	WorkReasonAvailable = "Available"
	// WorkReasonNotTrackable: the agent has no readiness signal for the
	// kind, so the object counts as available once applied.
	WorkReasonNotTrackable = "NotTrackable"
	// WorkReasonNotYetAvailable: the workload has not rolled out yet.
	WorkReasonNotYetAvailable = "NotYetAvailable"
	// WorkReasonNotApplied: Available is False because the manifest is not
	// applied.
	WorkReasonNotApplied = "NotApplied"
	// WorkReasonDiffFound: with ReportDiff, the member's object differs
	// from the manifest.
	WorkReasonDiffFound = "DiffFound"
	// WorkReasonNoDiffFound: with ReportDiff, the member's object matches
	// the manifest.
	WorkReasonNoDiffFound = "NoDiffFound"
)

// Reasons of a Work's conditions; a Work that is not Applied (or whose
// diffs are not all reported) carries the reason of its first such manifest.
const (
	// WorkReasonAllApplied: every manifest is applied.
	WorkReasonAllApplied = "AllManifestsApplied"
	// WorkReasonAllAvailable: every manifest is available.
	WorkReasonAllAvailable = "AllManifestsAvailable"
	// WorkReasonUnknown: a manifest has no report yet.
	WorkReasonUnknown = "Unknown"
)

// ManifestStatus is the agent's report on one manifest.
type ManifestStatus struct {
	Identifier placementv1.ResourceIdentifier `json:"identifier"`
	// Ordinal is the manifest's position in spec.manifests.
	Ordinal int32 `json:"ordinal"`
	// +optional
	// +listType=map
	// +listMapKey=type
	Conditions []metav1.Condition `json:"conditions,omitempty"`
	// Drifts are the fields changed on the member since the agent applied
	// them (reported when whenToApply is IfNotDrifted).
	// +optional
	Drifts []placementv1.PatchDetail `json:"drifts,omitempty"`
	// +optional
	FirstDriftedObservedTime *metav1.Time `json:"firstDriftedObservedTime,omitempty"`
	// Diffs are the fields where the member differs from the manifest
	// (ReportDiff, or a takeover refused).
	// +optional
	Diffs []placementv1.PatchDetail `json:"diffs,omitempty"`
	// +optional
	FirstDiffedObservedTime *metav1.Time `json:"firstDiffedObservedTime,omitempty"`
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`
}

// WorkStatus is what the member's agent last reported.
type WorkStatus struct {
	// +optional
	// +listType=map
	// +listMapKey=type
	Conditions []metav1.Condition `json:"conditions,omitempty"`
	// +optional
	Manifests []ManifestStatus `json:"manifests,omitempty"`
}

// Work is the hub's instruction to one member's agent: apply these
// manifests and keep them so. It lives in the member's hub namespace.
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:scope=Namespaced,categories=fleet-internal
// +kubebuilder:printcolumn:name="Placement",type=string,JSONPath=`.spec.placement`
// +kubebuilder:printcolumn:name="Applied",type=string,JSONPath=`.status.conditions[?(@.type=="Applied")].status`
// +kubebuilder:printcolumn:name="Available",type=string,JSONPath=`.status.conditions[?(@.type=="Available")].status`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type Work struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec WorkSpec `json:"spec"`
	// +optional
	Status WorkStatus `json:"status,omitempty"`
}

// WorkList is a list of Works.
//
// +kubebuilder:object:root=true
type WorkList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []Work `json:"items"`
}

func init() {
	register(&ResourceSnapshot{}, &ResourceSnapshotList{},
		&ResourceBinding{}, &ResourceBindingList{}, &Work{}, &WorkList{})
}
