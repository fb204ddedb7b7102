package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// GateState is the state of a gate.
// +kubebuilder:validation:Enum=Pending;Completed;Skipped
type GateState string

const (
	GatePending   GateState = "Pending"
	GateCompleted GateState = "Completed"
	GateSkipped   GateState = "Skipped"
)

// GateTiming says whether a gate comes before or after its stage or group.
// +kubebuilder:validation:Enum=Before;After
type GateTiming string

const (
	GateBefore GateTiming = "Before"
	GateAfter  GateTiming = "After"
)

// GateTarget is the place in an update run a gate guards.
type GateTarget struct {
	UpdateRun string `json:"updateRun"`
	Stage     string `json:"stage"`
	// Group is empty for a stage's gate.
	// +optional
	Group  string     `json:"group,omitempty"`
	Timing GateTiming `json:"timing"`
}

// GateSpec describes a gate and holds its state. An operator approves an
// Approval gate by setting state to Completed (`flotilla gate approve`).
// +kubebuilder:validation:XValidation:rule="oldSelf.state == 'Pending' || self.state == oldSelf.state",message="a Completed or Skipped gate cannot change state"
type GateSpec struct {
	Type GateType `json:"type"`
	// +optional
	DisplayName string     `json:"displayName,omitempty"`
	Target      GateTarget `json:"target"`
	// +optional
	Schedule *GateSchedule `json:"schedule,omitempty"`
	// +kubebuilder:default=Pending
	// +optional
	State GateState `json:"state,omitempty"`
}

// GateStatus records when the gate changed state.
type GateStatus struct {
	// +optional
	CompletedTime *metav1.Time `json:"completedTime,omitempty"`
	// +optional
	Message string `json:"message,omitempty"`
}

// Gate holds an update run at a stage or group until it is completed.
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:scope=Cluster,categories=fleet
// +kubebuilder:printcolumn:name="State",type=string,JSONPath=`.spec.state`
// +kubebuilder:printcolumn:name="Type",type=string,JSONPath=`.spec.type`
// +kubebuilder:printcolumn:name="Run",type=string,JSONPath=`.spec.target.updateRun`
// +kubebuilder:printcolumn:name="Stage",type=string,JSONPath=`.spec.target.stage`
// +kubebuilder:printcolumn:name="Group",type=string,JSONPath=`.spec.target.group`
// +kubebuilder:printcolumn:name="Timing",type=string,JSONPath=`.spec.target.timing`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type Gate struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   GateSpec   `json:"spec"`
	Status GateStatus `json:"status,omitempty"`
}

// GateList is a list of Gates.
//
// +kubebuilder:object:root=true
type GateList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []Gate `json:"items"`
}

func init() {
	register(&Gate{}, &GateList{})
}
