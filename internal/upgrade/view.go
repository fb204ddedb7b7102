package upgrade

import "context"

// Describer is a provider that can say how its cloud (or management
// cluster) sees a member: what `flotilla member show` prints as the
// provider's view.
type Describer interface {
	Describe(ctx context.Context, m Member) (MemberView, error)
}

// KubeconfigFetcher is a provider that can fetch a kubeconfig for a member
// from its cloud, so that `flotilla member create --provider ...` needs no
// kubeconfig file. Admin asks for the cloud's admin credential where it
// has one (AKS), else the user credential.
type KubeconfigFetcher interface {
	FetchKubeconfig(ctx context.Context, m Member, admin bool) ([]byte, error)
}

// MemberView is a member as its provider reports it.
type MemberView struct {
	// ControlPlaneVersion is the control plane's Kubernetes version.
	ControlPlaneVersion string `json:"controlPlaneVersion"`
	// State is the provider's state of the cluster (AKS provisioningState,
	// EKS and GKE status, Cluster API phase).
	State string `json:"state,omitempty"`
	// Operation describes an operation in progress, if any.
	Operation string `json:"operation,omitempty"`
	// UpgradableVersions are the versions the cloud offers the control
	// plane, as its upgrade profile says.
	UpgradableVersions []string   `json:"upgradableVersions,omitempty"`
	Pools              []PoolView `json:"pools,omitempty"`
	// Windows are the cloud's own maintenance windows and exclusions.
	Windows []MaintenanceWindow `json:"windows,omitempty"`
}

// PoolView is one node pool (AKS agent pool, EKS managed node group, GKE
// node pool, Cluster API MachineDeployment).
type PoolView struct {
	Name              string `json:"name"`
	OS                string `json:"os,omitempty"`
	KubernetesVersion string `json:"kubernetesVersion,omitempty"`
	NodeImageVersion  string `json:"nodeImageVersion,omitempty"`
	// LatestNodeImageVersion is the newest image the cloud offers the pool.
	LatestNodeImageVersion string `json:"latestNodeImageVersion,omitempty"`
	Count                  int32  `json:"count"`
	// MaxSurge is the pool's surge setting during upgrades, as the cloud
	// spells it ("33%", "1").
	MaxSurge string `json:"maxSurge,omitempty"`
	State    string `json:"state,omitempty"`
}

// MaintenanceWindow is a window (or, with Exclusion, a blackout) the
// cloud keeps for the member.
type MaintenanceWindow struct {
	// Name is the cloud's name for it (aksManagedAutoUpgradeSchedule,
	// maintenanceExclusion/NAME, ...).
	Name string `json:"name"`
	// Schedule is the window in the cloud's terms (a weekly or monthly
	// rule, an RRULE, a start and end time).
	Schedule  string `json:"schedule"`
	Exclusion bool   `json:"exclusion,omitempty"`
}
