package v1alpha1

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// AccessMode says how the hub reaches a member.
// +kubebuilder:validation:Enum=Kubeconfig;Agent
type AccessMode string

const (
	// AccessKubeconfig: the hub dials the member with a kubeconfig stored in a
	// Secret on the hub (hubless fleets; nothing is installed on the member).
	AccessKubeconfig AccessMode = "Kubeconfig"
	// AccessAgent: a member agent dials the hub (hubful fleets).
	AccessAgent AccessMode = "Agent"
)

// SecretKeyReference names one key of a Secret on the hub.
type SecretKeyReference struct {
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	Namespace string `json:"namespace"`
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	Name string `json:"name"`
	// +kubebuilder:default=kubeconfig
	// +optional
	Key string `json:"key,omitempty"`
}

// MemberAccess is how the hub reaches a member's API server.
// +kubebuilder:validation:XValidation:rule="self.mode != 'Kubeconfig' || has(self.kubeconfigSecretRef)",message="access.kubeconfigSecretRef is required when access.mode is Kubeconfig"
type MemberAccess struct {
	// +kubebuilder:default=Kubeconfig
	// +optional
	Mode AccessMode `json:"mode,omitempty"`
	// KubeconfigSecretRef points to the kubeconfig the hub uses for this member.
	// +optional
	KubeconfigSecretRef *SecretKeyReference `json:"kubeconfigSecretRef,omitempty"`
	// Context selects a context of the kubeconfig; empty means its current context.
	// +optional
	Context string `json:"context,omitempty"`
}

// ProviderType names an upgrade provider.
// +kubebuilder:validation:Enum=Local;Exec;AKS;EKS;GKE;ClusterAPI
type ProviderType string

const (
	// ProviderLocal upgrades members of a local fleet (`flotilla local`).
	ProviderLocal ProviderType = "Local"
	// ProviderExec runs an operator-supplied command per member.
	ProviderExec ProviderType = "Exec"
	// ProviderAKS upgrades an Azure Kubernetes Service managed cluster
	// through Azure Resource Manager.
	ProviderAKS ProviderType = "AKS"
	// ProviderEKS upgrades an Amazon EKS cluster and its managed node groups.
	ProviderEKS ProviderType = "EKS"
	// ProviderGKE upgrades a Google Kubernetes Engine cluster and its node pools.
	ProviderGKE ProviderType = "GKE"
	// ProviderClusterAPI upgrades a Cluster API Cluster with a managed
	// topology through its management cluster.
	ProviderClusterAPI ProviderType = "ClusterAPI"
)

// ProviderSpec chooses the upgrade provider for a member and configures it.
// +kubebuilder:validation:XValidation:rule="self.type != 'Exec' || has(self.exec)",message="provider.exec is required when provider.type is Exec"
// +kubebuilder:validation:XValidation:rule="self.type != 'Local' || has(self.local)",message="provider.local is required when provider.type is Local"
// +kubebuilder:validation:XValidation:rule="self.type != 'AKS' || has(self.aks)",message="provider.aks is required when provider.type is AKS"
// +kubebuilder:validation:XValidation:rule="self.type != 'EKS' || has(self.eks)",message="provider.eks is required when provider.type is EKS"
// +kubebuilder:validation:XValidation:rule="self.type != 'GKE' || has(self.gke)",message="provider.gke is required when provider.type is GKE"
// +kubebuilder:validation:XValidation:rule="self.type != 'ClusterAPI' || has(self.clusterAPI)",message="provider.clusterAPI is required when provider.type is ClusterAPI"
type ProviderSpec struct {
	Type ProviderType `json:"type"`
	// +optional
	Exec *ExecProvider `json:"exec,omitempty"`
	// +optional
	Local *LocalProvider `json:"local,omitempty"`
	// +optional
	AKS *AKSProvider `json:"aks,omitempty"`
	// +optional
	EKS *EKSProvider `json:"eks,omitempty"`
	// +optional
	GKE *GKEProvider `json:"gke,omitempty"`
	// +optional
	ClusterAPI *ClusterAPIProvider `json:"clusterAPI,omitempty"`
}

// AKSProvider locates an AKS managed cluster. The hub reaches Azure with
// DefaultAzureCredential (workload identity in a pod, the Azure CLI's login
// on a laptop).
type AKSProvider struct {
	// ResourceID is the managed cluster's Azure resource ID,
	// /subscriptions/SUB/resourceGroups/RG/providers/Microsoft.ContainerService/managedClusters/NAME.
	// +kubebuilder:validation:Pattern=`(?i)^/subscriptions/[^/]+/resourceGroups/[^/]+/providers/Microsoft\.ContainerService/managedClusters/[^/]+$`
	ResourceID string `json:"resourceID"`
}

// EKSProvider locates an Amazon EKS cluster. The hub reaches AWS with the
// SDK's default credential chain (IRSA or EKS Pod Identity in a pod).
type EKSProvider struct {
	// +kubebuilder:validation:MinLength=1
	Region string `json:"region"`
	// Cluster is the EKS cluster's name.
	// +kubebuilder:validation:MinLength=1
	Cluster string `json:"cluster"`
}

// GKEProvider locates a GKE cluster. The hub reaches Google Cloud with
// application default credentials (workload identity in a pod).
type GKEProvider struct {
	// +kubebuilder:validation:MinLength=1
	Project string `json:"project"`
	// Location is the cluster's region or zone.
	// +kubebuilder:validation:MinLength=1
	Location string `json:"location"`
	// +kubebuilder:validation:MinLength=1
	Cluster string `json:"cluster"`
}

// ClusterAPIProvider locates a Cluster API Cluster with a managed topology
// on its management cluster.
type ClusterAPIProvider struct {
	// ManagementKubeconfigSecretRef is a Secret in the hub's namespace whose
	// key holds a kubeconfig for the management cluster.
	ManagementKubeconfigSecretRef SecretKeyReference `json:"managementKubeconfigSecretRef"`
	// Namespace of the Cluster object on the management cluster.
	// +kubebuilder:validation:MinLength=1
	Namespace string `json:"namespace"`
	// Name of the Cluster object.
	// +kubebuilder:validation:MinLength=1
	Name string `json:"name"`
	// NodeImageVariable is the ClusterClass variable that selects the
	// machines' image, where the class defines one; empty means the
	// member has no node images Flotilla can choose.
	// +optional
	NodeImageVariable string `json:"nodeImageVariable,omitempty"`
}

// LocalProvider locates a member of a local fleet (`flotilla local`).
type LocalProvider struct {
	// ClusterDir is the directory of the member's local cluster.
	// +kubebuilder:validation:MinLength=1
	ClusterDir string `json:"clusterDir"`
}

// ExecProvider runs Command to upgrade a member. The command gets the member's
// name, kubeconfig, upgrade type and target version in its environment
// (FLOTILLA_MEMBER, KUBECONFIG, FLOTILLA_UPGRADE_TYPE,
// FLOTILLA_KUBERNETES_VERSION), and ${VAR} references to them in Command are
// expanded. The upgrade succeeds when the command exits 0 and the member's
// API then reports the target version.
type ExecProvider struct {
	// +kubebuilder:validation:MinItems=1
	Command []string `json:"command"`
	// AvailableVersions lists the Kubernetes versions the command can reach;
	// empty means any.
	// +optional
	AvailableVersions []string `json:"availableVersions,omitempty"`
	// TimeoutSeconds bounds one upgrade; past it the member fails.
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:default=3600
	// +optional
	TimeoutSeconds int32 `json:"timeoutSeconds,omitempty"`
	// Idempotent says the command may safely run again for the same target
	// (as `az aks upgrade` to the version a cluster already has does). A
	// command that was running in a hub replica that died is re-run only
	// when it is; otherwise the member fails and asks an operator to look.
	// +optional
	Idempotent bool `json:"idempotent,omitempty"`
}

// Taint keeps placements off a member unless they tolerate it.
type Taint struct {
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=316
	Key string `json:"key"`
	// +optional
	Value string `json:"value,omitempty"`
	// +kubebuilder:validation:Enum=NoSchedule
	Effect corev1.TaintEffect `json:"effect"`
}

// MemberClusterSpec is the desired membership of one cluster.
type MemberClusterSpec struct {
	// UpdateGroup is the one update group this member belongs to; update
	// strategies refer to members through it.
	// +kubebuilder:validation:MaxLength=63
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`
	// +optional
	UpdateGroup string       `json:"updateGroup,omitempty"`
	Access      MemberAccess `json:"access"`
	// +optional
	Provider *ProviderSpec `json:"provider,omitempty"`
	// +optional
	Taints []Taint `json:"taints,omitempty"`
	// HeartbeatPeriodSeconds is how often the hub probes the member.
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=600
	// +kubebuilder:default=15
	// +optional
	HeartbeatPeriodSeconds int32 `json:"heartbeatPeriodSeconds,omitempty"`
}

// Condition types of a MemberCluster.
const (
	// MemberJoined: the member is part of the fleet and its access works.
	MemberJoined = "Joined"
	// MemberReachable: the last probe of the member's API server succeeded.
	MemberReachable = "Reachable"
	// MemberHealthy: reachable, every node Ready and no Failed or Unknown pod.
	MemberHealthy = "Healthy"
	// MemberAgentConnected: the member agent of a hubful fleet heartbeats;
	// only such members receive placements.
	MemberAgentConnected = "AgentConnected"
)

// Reasons of MemberCluster conditions.
const (
	// ReasonProbed: the hub reaches the member with its stored credentials.
	ReasonProbed = "Probed"
	// ReasonProbeSucceeded: the last probe of the member's API server worked.
	ReasonProbeSucceeded = "ProbeSucceeded"
	// ReasonProbeFailed: the last probe of the member's API server failed.
	ReasonProbeFailed = "ProbeFailed"
	// ReasonCredentialsInvalid: the member's stored kubeconfig cannot be used.
	ReasonCredentialsInvalid = "CredentialsInvalid"
	// ReasonHeartbeatMissed: the member's agent stopped heartbeating.
	ReasonHeartbeatMissed = "HeartbeatMissed"
	// ReasonHeartbeatReceived: the member's agent heartbeats.
	ReasonHeartbeatReceived = "HeartbeatReceived"
	// ReasonAgentJoined: the member's agent joined the fleet.
	ReasonAgentJoined = "AgentJoined"
	// ReasonUnreachable: Healthy is False because the member cannot be probed.
	ReasonUnreachable = "Unreachable"
	// ReasonNodesNotReady: Healthy is False because a node is not Ready.
	ReasonNodesNotReady = "NodesNotReady"
	// ReasonFailedPods: Healthy is False because pods are Failed or Unknown.
	ReasonFailedPods = "FailedPods"
	// ReasonAllHealthy: every node is Ready and no pod failed.
	ReasonAllHealthy = "AllHealthy"
)

// LeavingAnnotation on a MemberCluster, set by `flotilla member leave`, takes
// it out of every placement while its agent removes what it placed.
const LeavingAnnotation = "fleet.flotilla.dev/leaving"

// VersionCount counts the nodes that report one version.
type VersionCount struct {
	Version string `json:"version"`
	Count   int32  `json:"count"`
}

// NodeSummary is what the hub last saw of a member's nodes.
type NodeSummary struct {
	Total int32 `json:"total"`
	Ready int32 `json:"ready"`
	// KubeletVersions counts nodes by kubelet version, highest count first.
	// +optional
	KubeletVersions []VersionCount `json:"kubeletVersions,omitempty"`
	// NodeImages counts nodes by node image, highest count first.
	// +optional
	NodeImages []VersionCount `json:"nodeImages,omitempty"`
	// Pools are the member's node pools, by the pool label of its nodes
	// (AKS, EKS, GKE or flotilla.dev/node-pool; "default" without one) and
	// their OS, each with its kubelet versions and node images.
	// +optional
	Pools []NodePoolSummary `json:"pools,omitempty"`
}

// NodePoolSummary is what the hub last saw of one node pool.
type NodePoolSummary struct {
	Name string `json:"name"`
	// OS is the pool's operating system as node images are keyed by it: the
	// cloud's OS family label where it has one (AKS
	// kubernetes.azure.com/os-sku, GKE cloud.google.com/gke-os-distribution),
	// else kubernetes.io/os, e.g. linux.
	OS    string `json:"os"`
	Total int32  `json:"total"`
	// +optional
	KubeletVersions []VersionCount `json:"kubeletVersions,omitempty"`
	// +optional
	NodeImages []VersionCount `json:"nodeImages,omitempty"`
}

// ResourceUsage sums the member's node resources.
type ResourceUsage struct {
	// +optional
	Capacity corev1.ResourceList `json:"capacity,omitempty"`
	// +optional
	Allocatable corev1.ResourceList `json:"allocatable,omitempty"`
	// Available is allocatable less the requests of pods that are not finished.
	// +optional
	Available corev1.ResourceList `json:"available,omitempty"`
}

// MemberClusterStatus is what the hub last observed of a member.
type MemberClusterStatus struct {
	// +optional
	// +listType=map
	// +listMapKey=type
	Conditions []metav1.Condition `json:"conditions,omitempty"`
	// KubernetesVersion is the API server's gitVersion, e.g. v1.36.3.
	// +optional
	KubernetesVersion string `json:"kubernetesVersion,omitempty"`
	// +optional
	Nodes NodeSummary `json:"nodes,omitempty"`
	// FailedPods counts pods in phase Failed or Unknown.
	// +optional
	FailedPods int32 `json:"failedPods"`
	// +optional
	ResourceUsage ResourceUsage `json:"resourceUsage,omitempty"`
	// Properties are facts about the member for placement selectors: node
	// count, CPU and memory, region and the like, keyed by property name.
	// +optional
	Properties map[string]string `json:"properties,omitempty"`
	// LastHeartbeatTime is when the member last answered.
	// +optional
	LastHeartbeatTime *metav1.Time `json:"lastHeartbeatTime,omitempty"`
	// AgentLastHeartbeatTime is when the member agent last reported.
	// +optional
	AgentLastHeartbeatTime *metav1.Time `json:"agentLastHeartbeatTime,omitempty"`
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`
}

// MemberCluster is one cluster in the fleet.
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:scope=Cluster,shortName=member;members,categories=fleet
// +kubebuilder:printcolumn:name="Group",type=string,JSONPath=`.spec.updateGroup`
// +kubebuilder:printcolumn:name="Version",type=string,JSONPath=`.status.kubernetesVersion`
// +kubebuilder:printcolumn:name="Ready-Nodes",type=integer,JSONPath=`.status.nodes.ready`
// +kubebuilder:printcolumn:name="Nodes",type=integer,JSONPath=`.status.nodes.total`
// +kubebuilder:printcolumn:name="Failed-Pods",type=integer,JSONPath=`.status.failedPods`
// +kubebuilder:printcolumn:name="Reachable",type=string,JSONPath=`.status.conditions[?(@.type=="Reachable")].status`
// +kubebuilder:printcolumn:name="Healthy",type=string,JSONPath=`.status.conditions[?(@.type=="Healthy")].status`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
// +kubebuilder:validation:XValidation:rule="size(self.metadata.name) <= 47 && self.metadata.name.matches('^[a-z0-9]([-a-z0-9]*[a-z0-9])?$')",message="metadata.name must be a DNS label of at most 47 lower-case letters, digits and '-', starting and ending with a letter or digit, so that the member's hub namespace flotilla-member-NAME is a valid namespace name"
type MemberCluster struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   MemberClusterSpec   `json:"spec"`
	Status MemberClusterStatus `json:"status,omitempty"`
}

// MemberClusterList is a list of MemberClusters.
//
// +kubebuilder:object:root=true
type MemberClusterList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []MemberCluster `json:"items"`
}

func init() {
	register(&MemberCluster{}, &MemberClusterList{})
}
