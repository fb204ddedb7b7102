package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// HealthCheckType is what a health check verifies on a member.
// +kubebuilder:validation:Enum=NodesReady;NoFailedPods;WorkloadsAvailable;PVCsBound;Command;HTTP
type HealthCheckType string

const (
	// CheckNodesReady passes when every node of the member is Ready.
	CheckNodesReady HealthCheckType = "NodesReady"
	// CheckNoFailedPods passes when no pod is in phase Failed or Unknown.
	CheckNoFailedPods HealthCheckType = "NoFailedPods"
	// CheckWorkloadsAvailable passes when the selected Deployments,
	// StatefulSets and DaemonSets have all their replicas available.
	CheckWorkloadsAvailable HealthCheckType = "WorkloadsAvailable"
	// CheckPVCsBound passes when every PersistentVolumeClaim is Bound.
	CheckPVCsBound HealthCheckType = "PVCsBound"
	// CheckCommand passes when a program exits 0. It runs with KUBECONFIG,
	// CLUSTER and STAGE in its environment.
	CheckCommand HealthCheckType = "Command"
	// CheckHTTP passes when a GET of a URL answers the expected status.
	CheckHTTP HealthCheckType = "HTTP"
)

// HealthCheckRunAfter says at which point of a run a check runs.
// +kubebuilder:validation:Enum=Member;Group;Stage
type HealthCheckRunAfter string

const (
	// RunAfterMember checks each member once its upgrade succeeded.
	RunAfterMember HealthCheckRunAfter = "Member"
	// RunAfterGroup checks the group's upgraded members once the group is done.
	RunAfterGroup HealthCheckRunAfter = "Group"
	// RunAfterStage checks the stage's upgraded members once the stage is done,
	// before its after-stage wait and gates.
	RunAfterStage HealthCheckRunAfter = "Stage"
)

// WorkloadSelector picks the workloads a WorkloadsAvailable check waits for.
type WorkloadSelector struct {
	// Kind of workload; empty means Deployments, StatefulSets and DaemonSets.
	// +kubebuilder:validation:Enum=Deployment;StatefulSet;DaemonSet
	// +optional
	Kind string `json:"kind,omitempty"`
	// Namespace of the workloads; empty means every namespace.
	// +kubebuilder:validation:MaxLength=63
	// +optional
	Namespace string `json:"namespace,omitempty"`
	// LabelSelector narrows the workloads by label; empty means all of them.
	// +optional
	LabelSelector *metav1.LabelSelector `json:"labelSelector,omitempty"`
}

// HTTPCheck is a GET that must answer an expected status code.
type HTTPCheck struct {
	// URL to GET.
	// +kubebuilder:validation:MaxLength=2048
	// +kubebuilder:validation:XValidation:rule="self.matches('^https?://[^/]+')",message="http.url must be an http:// or https:// URL"
	URL string `json:"url"`
	// ExpectedStatus is the status code that passes; defaults to 200.
	// +kubebuilder:validation:Minimum=100
	// +kubebuilder:validation:Maximum=599
	// +kubebuilder:default=200
	// +optional
	ExpectedStatus int32 `json:"expectedStatus,omitempty"`
}

// HealthCheck verifies members after their upgrade. It is retried until it
// passes or its timeout ends; settleSeconds delays the first attempt so that
// the member can settle after the upgrade.
// +kubebuilder:validation:XValidation:rule="self.type == 'Command' ? has(self.command) : !has(self.command)",message="command is required for a Command check and not allowed for other types"
// +kubebuilder:validation:XValidation:rule="self.type == 'HTTP' ? has(self.http) : !has(self.http)",message="http is required for an HTTP check and not allowed for other types"
// +kubebuilder:validation:XValidation:rule="!has(self.workloads) || self.type == 'WorkloadsAvailable'",message="workloads is only allowed for a WorkloadsAvailable check"
// +kubebuilder:validation:XValidation:rule="!has(self.namespaces) || self.type == 'NoFailedPods' || self.type == 'PVCsBound'",message="namespaces is only allowed for a NoFailedPods or PVCsBound check"
type HealthCheck struct {
	// Name identifies the check in status messages.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`
	Name string          `json:"name"`
	Type HealthCheckType `json:"type"`
	// RunAfter is when the check runs: after each Member, Group or Stage.
	// +kubebuilder:validation:Enum=Member;Group;Stage
	// +kubebuilder:default=Member
	// +optional
	RunAfter HealthCheckRunAfter `json:"runAfter,omitempty"`
	// Namespaces limits a NoFailedPods or PVCsBound check; empty means all.
	// +kubebuilder:validation:MaxItems=50
	// +kubebuilder:validation:items:MaxLength=63
	// +optional
	Namespaces []string `json:"namespaces,omitempty"`
	// Workloads selects what a WorkloadsAvailable check waits for.
	// +optional
	Workloads *WorkloadSelector `json:"workloads,omitempty"`
	// Command is the program and arguments of a Command check.
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=50
	// +kubebuilder:validation:items:MaxLength=4096
	// +optional
	Command []string `json:"command,omitempty"`
	// HTTP is the request of an HTTP check.
	// +optional
	HTTP *HTTPCheck `json:"http,omitempty"`
	// TimeoutSeconds is how long the check may keep failing before it fails
	// for good.
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=86400
	// +kubebuilder:default=300
	// +optional
	TimeoutSeconds int32 `json:"timeoutSeconds,omitempty"`
	// SettleSeconds is a pause before the first attempt.
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=86400
	// +optional
	SettleSeconds int32 `json:"settleSeconds,omitempty"`
}
