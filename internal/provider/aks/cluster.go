package aks

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/containerservice/armcontainerservice/v6"

	fleetv1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/internal/rollout"
	"github.com/flotilla-dev/flotilla/internal/upgrade"
)

// cluster is a managed cluster as the provider's decisions need it.
type cluster struct {
	// State is the cluster's provisioningState (Succeeded, Upgrading,
	// Failed, ...).
	State string
	// Version is the Kubernetes version asked for (kubernetesVersion);
	// Current is the one the control plane runs (currentKubernetesVersion).
	Version, Current string
	Pools            []pool
}

// pool is one agent pool of a managed cluster.
type pool struct {
	Name string
	// OS is the pool's OS SKU (Ubuntu, AzureLinux, Windows2022), which is
	// what the nodes' kubernetes.azure.com/os-sku label and so the hub's
	// node OS say; the OS type (Linux, Windows) where no SKU is set.
	OS    string
	Count int32
	// Version is the orchestratorVersion asked for; Current the one the
	// nodes run (currentOrchestratorVersion).
	Version, Current string
	Image            string
	// LatestImage is the newest node image AKS offers the pool (its
	// upgrade profile's latestNodeImageVersion).
	LatestImage string
	MaxSurge    string
	State       string
}

func str[T ~string](p *T) string {
	if p == nil {
		return ""
	}
	return string(*p)
}

// clusterOf reads what the decisions need of an ARM managed cluster.
func clusterOf(mc *armcontainerservice.ManagedCluster) cluster {
	var c cluster
	pr := mc.Properties
	if pr == nil {
		return c
	}
	c.State, c.Version, c.Current = str(pr.ProvisioningState), str(pr.KubernetesVersion), str(pr.CurrentKubernetesVersion)
	if c.Current == "" {
		c.Current = c.Version
	}
	for _, ap := range pr.AgentPoolProfiles {
		if ap == nil {
			continue
		}
		p := pool{Name: str(ap.Name), OS: str(ap.OSSKU), Version: str(ap.OrchestratorVersion), Current: str(ap.CurrentOrchestratorVersion), Image: str(ap.NodeImageVersion), State: str(ap.ProvisioningState)}
		if p.OS == "" {
			p.OS = str(ap.OSType)
		}
		if p.Current == "" {
			p.Current = p.Version
		}
		if ap.Count != nil {
			p.Count = *ap.Count
		}
		if ap.UpgradeSettings != nil {
			p.MaxSurge = str(ap.UpgradeSettings.MaxSurge)
		}
		c.Pools = append(c.Pools, p)
	}
	return c
}

// busy reports whether a provisioningState is an operation in progress:
// everything but ARM's terminal states.
func busy(state string) bool {
	switch strings.ToLower(state) {
	case "", "succeeded", "failed", "canceled":
		return false
	}
	return true
}

func failed(state string) bool {
	return strings.EqualFold(state, "failed") || strings.EqualFold(state, "canceled")
}

// aksVersion is a Flotilla version (v1.29.2) as ARM spells it (1.29.2).
func aksVersion(v string) string { return strings.TrimPrefix(v, "v") }

func same(have, want string) bool { return have != "" && rollout.SameVersion(have, want) }

// upgradeVersions are the versions a managed cluster's upgrade profile
// offers its control plane, and the version it runs (a member already there
// can be "upgraded" to it: a no-op), with Flotilla's leading v.
func upgradeVersions(p *armcontainerservice.ManagedClusterUpgradeProfileProperties) []string {
	out := []string{}
	if p == nil || p.ControlPlaneProfile == nil {
		return out
	}
	if v := str(p.ControlPlaneProfile.KubernetesVersion); v != "" {
		out = append(out, upgrade.NormalizeVersion(v))
	}
	for _, u := range p.ControlPlaneProfile.Upgrades {
		if u != nil && u.KubernetesVersion != nil && !slices.Contains(out, upgrade.NormalizeVersion(*u.KubernetesVersion)) {
			out = append(out, upgrade.NormalizeVersion(*u.KubernetesVersion))
		}
	}
	return out
}

// offeredImages are the pools' latest node images by OS, sorted: AKS offers
// a pool only its latest image (for any Kubernetes version it can run), so
// a Consistent or Custom selection can pick only that one.
func offeredImages(pools []pool) []upgrade.NodeImage {
	var out []upgrade.NodeImage
	for _, p := range pools {
		img := upgrade.NodeImage{OS: p.OS, Version: p.LatestImage}
		if p.LatestImage != "" && !slices.Contains(out, img) {
			out = append(out, img)
		}
	}
	slices.SortFunc(out, func(a, b upgrade.NodeImage) int {
		if c := strings.Compare(a.OS, b.OS); c != 0 {
			return c
		}
		return strings.Compare(a.Version, b.Version)
	})
	return out
}

type requestKind int

const (
	requestNone requestKind = iota
	// requestCluster is a PUT of the managed cluster with kubernetesVersion
	// (and, with AllPools, every pool's orchestratorVersion) set.
	requestCluster
	// requestNodeImage is upgradeNodeImageVersion of each of Pools.
	requestNodeImage
)

// request is what Start sends.
type request struct {
	Kind requestKind
	// Version is the Kubernetes version to ask for, as ARM spells it.
	Version string
	// AllPools sets every pool's orchestratorVersion too (Full).
	AllPools bool
	// Pools are the pools whose node image to upgrade.
	Pools []string
	// Why says what the decision was, for tests and logs.
	Why string
}

// nextRequest is what to ask of AKS now to move the cluster to t, from its
// state alone (level-triggered: the same state gives the same answer, so
// a restarted hub sends nothing the first one already sent):
//   - nothing while the cluster or a pool has an operation in progress
//     (provisioningState Upgrading, UpgradingNodeImageVersion, Updating, ...);
//   - nothing once the cluster is at the target;
//   - Full and ControlPlaneOnly: a PUT of the cluster with the target
//     kubernetesVersion, Full with every pool's orchestratorVersion too
//     (AKS upgrades the control plane, then the pools, each with its own
//     upgradeSettings.maxSurge, which the PUT leaves as it is); a Full
//     upgrade whose versions are already there but whose node images are
//     not upgrades those pools' node images;
//   - NodeImageOnly: upgradeNodeImageVersion of each pool not on its latest image.
//
// A cluster or pool in provisioningState Failed (or Canceled) gets nothing
// when sent says this process already asked for this operation: its
// failure is the answer, which Progress reports. Otherwise (a new attempt,
// or a hub restarted since it asked) the request is sent again, as `az aks
// upgrade` on a failed cluster does.
//
// A target node image that is not the pool's latest is refused: AKS can
// upgrade a pool only to its latest image.
func nextRequest(c cluster, t upgrade.Target, sent bool) (request, error) {
	if err := checkImages(c, t); err != nil {
		return request{}, err
	}
	if sent {
		if failed(c.State) {
			return request{Why: "the requested upgrade is " + c.State}, nil
		}
		for _, p := range c.Pools {
			if failed(p.State) {
				return request{Why: "the requested upgrade of pool " + p.Name + " is " + p.State}, nil
			}
		}
	}
	if busy(c.State) {
		return request{Why: "cluster is " + c.State}, nil
	}
	for _, p := range c.Pools {
		if busy(p.State) {
			return request{Why: "pool " + p.Name + " is " + p.State}, nil
		}
	}
	want := aksVersion(t.KubernetesVersion)
	switch t.Type {
	case fleetv1.UpgradeControlPlaneOnly:
		if same(c.Current, want) {
			return request{Why: "control plane at target"}, nil
		}
		return request{Kind: requestCluster, Version: want, Why: "control plane " + c.Current}, nil
	case fleetv1.UpgradeFull:
		if !same(c.Current, want) {
			return request{Kind: requestCluster, Version: want, AllPools: true, Why: "control plane " + c.Current}, nil
		}
		for _, p := range c.Pools {
			if !same(p.Current, want) {
				return request{Kind: requestCluster, Version: want, AllPools: true, Why: "pool " + p.Name + " " + p.Current}, nil
			}
		}
		if len(t.NodeImages) == 0 && t.NodeImage == "" {
			return request{Why: "at target"}, nil
		}
		fallthrough
	case fleetv1.UpgradeNodeImageOnly:
		var pools []string
		for _, p := range c.Pools {
			if p.LatestImage != "" && p.Image != p.LatestImage {
				pools = append(pools, p.Name)
			}
		}
		if len(pools) == 0 {
			return request{Why: "every pool on its latest node image"}, nil
		}
		return request{Kind: requestNodeImage, Pools: pools, Why: "pools behind their latest node image"}, nil
	}
	return request{}, fmt.Errorf("AKS provider: unknown upgrade type %q", t.Type)
}

// targetImage is the node image t asks for a pool's OS, or "".
func targetImage(t upgrade.Target, os string) string {
	for _, img := range t.NodeImages {
		if img.OS == os {
			return img.Version
		}
	}
	if len(t.NodeImages) == 0 {
		return t.NodeImage
	}
	return ""
}

// checkImages refuses a target image that is not the pool's latest.
func checkImages(c cluster, t upgrade.Target) error {
	if t.Type == fleetv1.UpgradeControlPlaneOnly {
		return nil
	}
	for _, p := range c.Pools {
		want := targetImage(t, p.OS)
		if want == "" || p.LatestImage == "" || want == p.LatestImage || want == p.Image {
			continue
		}
		return fmt.Errorf("pool %s (%s) cannot take node image %s: AKS upgrades a pool only to its latest node image, which is %s now (the run chose its images earlier; a Latest selection follows AKS)", p.Name, p.OS, want, p.LatestImage)
	}
	return nil
}

// clusterUpdate is the managed cluster mc with what r asks set, for a PUT:
// kubernetesVersion and, for a Full upgrade, each pool's
// orchestratorVersion. Everything else, each pool's upgradeSettings
// (maxSurge) included, is sent back as ARM returned it.
func clusterUpdate(mc *armcontainerservice.ManagedCluster, r request) armcontainerservice.ManagedCluster {
	out := *mc
	props := armcontainerservice.ManagedClusterProperties{}
	if mc.Properties != nil {
		props = *mc.Properties
	}
	v := r.Version
	props.KubernetesVersion = &v
	props.AgentPoolProfiles = make([]*armcontainerservice.ManagedClusterAgentPoolProfile, 0, len(props.AgentPoolProfiles))
	for _, ap := range mc.Properties.AgentPoolProfiles {
		if ap == nil {
			continue
		}
		cp := *ap
		if r.AllPools {
			cp.OrchestratorVersion = &v
		}
		props.AgentPoolProfiles = append(props.AgentPoolProfiles, &cp)
	}
	out.Properties = &props
	return out
}

// progressOf is where an upgrade to t stands, from the cluster's state.
func progressOf(c cluster, t upgrade.Target) upgrade.Progress {
	want := aksVersion(t.KubernetesVersion)
	versions := describeVersions(c)
	if failed(c.State) {
		return upgrade.Progress{Phase: upgrade.PhaseFailed, Message: fmt.Sprintf("AKS cluster is %s (%s)", c.State, versions)}
	}
	for _, p := range c.Pools {
		if failed(p.State) {
			return upgrade.Progress{Phase: upgrade.PhaseFailed, Message: fmt.Sprintf("AKS pool %s is %s (%s)", p.Name, p.State, versions)}
		}
	}
	done, asked := atTarget(c, t, want)
	switch {
	case busy(c.State):
		return upgrade.Progress{Phase: upgrade.PhaseRunning, Message: fmt.Sprintf("AKS cluster is %s (%s)", c.State, versions)}
	case anyBusy(c.Pools) != "":
		return upgrade.Progress{Phase: upgrade.PhaseRunning, Message: fmt.Sprintf("AKS pool %s (%s)", anyBusy(c.Pools), versions)}
	case done:
		return upgrade.Progress{Phase: upgrade.PhaseSucceeded, Message: fmt.Sprintf("AKS reports the target (%s)", versions)}
	case asked:
		return upgrade.Progress{Phase: upgrade.PhaseRunning, Message: fmt.Sprintf("AKS has the target but does not run it yet (%s)", versions)}
	}
	return upgrade.Progress{Phase: upgrade.PhaseNotStarted, Message: fmt.Sprintf("AKS has not been asked for the target (%s)", versions)}
}

func anyBusy(pools []pool) string {
	for _, p := range pools {
		if busy(p.State) {
			return p.Name + " is " + p.State
		}
	}
	return ""
}

// atTarget reports whether the cluster runs t, and whether it was asked to.
func atTarget(c cluster, t upgrade.Target, want string) (done, asked bool) {
	done, asked = true, true
	if t.Type != fleetv1.UpgradeNodeImageOnly {
		done = done && same(c.Current, want)
		asked = asked && same(c.Version, want)
	}
	for _, p := range c.Pools {
		if t.Type == fleetv1.UpgradeFull {
			done = done && same(p.Current, want)
			asked = asked && same(p.Version, want)
		}
		if t.Type != fleetv1.UpgradeControlPlaneOnly && (t.Type == fleetv1.UpgradeNodeImageOnly || len(t.NodeImages) > 0 || t.NodeImage != "") {
			done = done && (p.LatestImage == "" || p.Image == p.LatestImage)
			if t.Type == fleetv1.UpgradeNodeImageOnly {
				asked = false // a node image upgrade shows only while it runs
			}
		}
	}
	return done, asked && !done
}

// describeVersions is "control plane 1.29.0 (asked 1.30.1); pools np1
// 1.29.0 image X, ..." for messages.
func describeVersions(c cluster) string {
	var b strings.Builder
	fmt.Fprintf(&b, "control plane %s", c.Current)
	if c.Version != "" && c.Version != c.Current {
		fmt.Fprintf(&b, " → %s", c.Version)
	}
	for i, p := range c.Pools {
		if i == 0 {
			b.WriteString("; pools")
		} else {
			b.WriteString(",")
		}
		fmt.Fprintf(&b, " %s %s", p.Name, p.Current)
		if p.Version != "" && p.Version != p.Current {
			fmt.Fprintf(&b, " → %s", p.Version)
		}
		if p.Image != "" {
			fmt.Fprintf(&b, " image %s", p.Image)
		}
		if p.State != "" && !strings.EqualFold(p.State, "Succeeded") {
			fmt.Fprintf(&b, " (%s)", p.State)
		}
	}
	return b.String()
}

// armError is err with ARM's own message brought forward.
func armError(err error) error {
	var re *azcore.ResponseError
	if errors.As(err, &re) {
		return errors.New(armMessage(err))
	}
	return err
}

// armMessage is ARM's "code: message" of a failed request or operation:
// from the response's body ({"error": {"code", "message"}}, which is also
// the shape of a failed long-running operation's status), else its code.
func armMessage(err error) string {
	var re *azcore.ResponseError
	if !errors.As(err, &re) {
		return err.Error()
	}
	if re.RawResponse != nil && re.RawResponse.Body != nil {
		body, _ := io.ReadAll(re.RawResponse.Body)
		re.RawResponse.Body = io.NopCloser(bytes.NewReader(body))
		var doc struct {
			Error struct {
				Code    string `json:"code"`
				Message string `json:"message"`
			} `json:"error"`
		}
		if json.Unmarshal(body, &doc) == nil && doc.Error.Message != "" {
			if doc.Error.Code != "" {
				return doc.Error.Code + ": " + doc.Error.Message
			}
			return doc.Error.Message
		}
	}
	if re.ErrorCode != "" {
		return re.ErrorCode
	}
	return fmt.Sprintf("HTTP %d", re.StatusCode)
}
