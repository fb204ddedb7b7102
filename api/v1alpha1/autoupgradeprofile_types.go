package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// UpgradeChannel says which version an AutoUpgradeProfile keeps the fleet on.
// +kubebuilder:validation:Enum=Stable;Rapid;NodeImage;TargetKubernetesVersion
type UpgradeChannel string

const (
	// ChannelRapid is the newest patch of the newest minor the members'
	// providers offer.
	ChannelRapid UpgradeChannel = "Rapid"
	// ChannelStable is the newest patch of the minor before the newest one
	// offered (N-1).
	ChannelStable UpgradeChannel = "Stable"
	// ChannelNodeImage upgrades node images only, never Kubernetes.
	ChannelNodeImage UpgradeChannel = "NodeImage"
	// ChannelTargetKubernetesVersion is the newest patch of the minor named
	// in targetKubernetesVersion, never past it.
	ChannelTargetKubernetesVersion UpgradeChannel = "TargetKubernetesVersion"
)

// AutoUpgradeProfileSpec is Azure Kubernetes Fleet Manager's auto-upgrade
// profile: which channel the fleet follows and how the runs it generates
// are shaped.
// +kubebuilder:validation:XValidation:rule="self.channel == 'TargetKubernetesVersion' ? has(self.targetKubernetesVersion) : !has(self.targetKubernetesVersion)",message="targetKubernetesVersion is required with channel TargetKubernetesVersion and not allowed with any other channel"
// +kubebuilder:validation:XValidation:rule="!has(self.nodeImageSelection) || self.nodeImageSelection.type != 'Custom'",message="nodeImageSelection.type must be Latest or Consistent"
type AutoUpgradeProfileSpec struct {
	Channel UpgradeChannel `json:"channel"`
	// TargetKubernetesVersion is a minor, e.g. 1.37, for channel
	// TargetKubernetesVersion: the profile keeps members on its newest
	// patch and never moves them past it.
	// +kubebuilder:validation:Pattern=`^v?[0-9]+\.[0-9]+$`
	// +optional
	TargetKubernetesVersion string `json:"targetKubernetesVersion,omitempty"`
	// LongTermSupport asks for the provider's long-term-support versions,
	// where it has such a catalogue. No Flotilla provider lists LTS
	// versions separately today, so it is accepted and recorded, and the
	// channel picks from the versions the providers offer as if it were
	// false (the LongTermSupport condition says so).
	// +optional
	LongTermSupport bool `json:"longTermSupport,omitempty"`
	// UpdateStrategyName names the UpdateStrategy the generated runs
	// follow; without it a run has one stage with every member.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +optional
	UpdateStrategyName string `json:"updateStrategyName,omitempty"`
	// NodeImageSelection is copied into the generated runs: Latest (the
	// default) or Consistent.
	// +optional
	NodeImageSelection *NodeImageSelection `json:"nodeImageSelection,omitempty"`
	// Disabled stops the profile from generating runs; runs it generated
	// before are left alone.
	// +optional
	Disabled bool `json:"disabled,omitempty"`
	// AutoStart starts the runs the profile generates. Flotilla's
	// addition: by default (false) a generated run waits NotStarted for an
	// operator to `flotilla updaterun start` it, as Azure's do.
	// +optional
	AutoStart bool `json:"autoStart,omitempty"`
}

// TriggerStatus is how the last evaluation of a profile ended.
// +kubebuilder:validation:Enum=Succeeded;Failed;Skipped
type TriggerStatus string

const (
	// TriggerSucceeded: the profile generated a run.
	TriggerSucceeded TriggerStatus = "Succeeded"
	// TriggerFailed: a run was due but could not be decided or created
	// (lastTriggerError says why).
	TriggerFailed TriggerStatus = "Failed"
	// TriggerSkipped: nothing to do (up to date, disabled, the run for the
	// target exists, an earlier run has not finished); the Ready
	// condition's message says which.
	TriggerSkipped TriggerStatus = "Skipped"
)

// AutoUpgradeProfileStatus is what the profile last did.
type AutoUpgradeProfileStatus struct {
	// LastTriggeredAt is when the profile last generated a run, or tried
	// to and failed.
	// +optional
	LastTriggeredAt *metav1.Time `json:"lastTriggeredAt,omitempty"`
	// LastTriggerStatus is how the last evaluation ended.
	// +optional
	LastTriggerStatus TriggerStatus `json:"lastTriggerStatus,omitempty"`
	// LastTriggerError is why the last evaluation failed.
	// +optional
	LastTriggerError string `json:"lastTriggerError,omitempty"`
	// LastTriggerUpgradeVersions are the versions of the last generated run
	// (the Kubernetes version, or for NodeImage the node images).
	// +optional
	LastTriggerUpgradeVersions []string `json:"lastTriggerUpgradeVersions,omitempty"`
	// GeneratedUpdateRun names the last run the profile generated.
	// +optional
	GeneratedUpdateRun string `json:"generatedUpdateRun,omitempty"`
	// Conditions: Ready (True when the last evaluation succeeded or had
	// nothing to do, with why in its message; False when it failed) and
	// LongTermSupport (when asked for: whether it is honoured).
	// +optional
	// +listType=map
	// +listMapKey=type
	Conditions []metav1.Condition `json:"conditions,omitempty"`
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`
	// LastGenerateRequest is the GenerateRequestAnnotation value the
	// profile last acted on.
	// +optional
	LastGenerateRequest string `json:"lastGenerateRequest,omitempty"`
}

// Condition types of an AutoUpgradeProfile.
const (
	ProfileReady           = "Ready"
	ProfileLongTermSupport = "LongTermSupport"
)

// AutoUpgradeProfileLabel on an UpdateRun names the profile that generated
// it; the run's owner reference carries the profile's UID.
const AutoUpgradeProfileLabel = "fleet.flotilla.dev/auto-upgrade-profile"

// GenerateRequestAnnotation, set to a new value by `flotilla
// autoupgradeprofile generate-update-run`, has the controller evaluate the
// profile now, even when it is disabled.
const GenerateRequestAnnotation = "fleet.flotilla.dev/generate-request"

// AutoUpgradeProfile generates update runs when the members' providers
// offer a newer version on the profile's channel.
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:scope=Cluster,shortName=aup,categories=fleet
// +kubebuilder:validation:XValidation:rule="size(self.metadata.name) <= 40",message="an auto-upgrade profile's name is at most 40 characters (its runs are named after it)"
// +kubebuilder:printcolumn:name="Channel",type=string,JSONPath=`.spec.channel`
// +kubebuilder:printcolumn:name="Target",type=string,JSONPath=`.spec.targetKubernetesVersion`
// +kubebuilder:printcolumn:name="Disabled",type=boolean,JSONPath=`.spec.disabled`
// +kubebuilder:printcolumn:name="Last",type=string,JSONPath=`.status.lastTriggerStatus`
// +kubebuilder:printcolumn:name="Run",type=string,JSONPath=`.status.generatedUpdateRun`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type AutoUpgradeProfile struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   AutoUpgradeProfileSpec   `json:"spec"`
	Status AutoUpgradeProfileStatus `json:"status,omitempty"`
}

// AutoUpgradeProfileList is a list of AutoUpgradeProfiles.
//
// +kubebuilder:object:root=true
type AutoUpgradeProfileList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []AutoUpgradeProfile `json:"items"`
}

func init() {
	register(&AutoUpgradeProfile{}, &AutoUpgradeProfileList{})
}
