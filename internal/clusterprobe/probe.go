// Package clusterprobe observes a cluster through its API server: readiness,
// version, nodes, failed pods and resources. The hub uses it to probe members
// it reaches directly; a member agent reports the same observation.
package clusterprobe

import (
	"context"
	"fmt"
	"sort"
	"strconv"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	fleetv1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/internal/conditions"
)

// Node labels that carry a node image version, most specific first.
var nodeImageLabels = []string{
	"kubernetes.azure.com/node-image-version",
	"flotilla.dev/node-image",
}

// Property names, shared with placement's property selectors.
const (
	PropertyNodeCount         = "kubernetes-fleet.io/node-count"
	PropertyAllocatableCPU    = "resources.kubernetes-fleet.io/allocatable-cpu"
	PropertyAllocatableMemory = "resources.kubernetes-fleet.io/allocatable-memory"
	PropertyAvailableCPU      = "resources.kubernetes-fleet.io/available-cpu"
	PropertyAvailableMemory   = "resources.kubernetes-fleet.io/available-memory"
	PropertyRegion            = "topology.kubernetes.io/region"
)

// Observation is what one probe saw.
type Observation struct {
	KubernetesVersion string
	Nodes             fleetv1.NodeSummary
	FailedPods        int32
	ResourceUsage     fleetv1.ResourceUsage
	Properties        map[string]string
}

// Healthy reports whether every node is Ready and no pod has failed; when
// not, it says why in a reason and a message.
func (o *Observation) Healthy() (ok bool, reason, message string) {
	switch {
	case o.Nodes.Ready < o.Nodes.Total:
		return false, fleetv1.ReasonNodesNotReady, fmt.Sprintf("%d of %d nodes are not Ready", o.Nodes.Total-o.Nodes.Ready, o.Nodes.Total)
	case o.FailedPods > 0:
		return false, fleetv1.ReasonFailedPods, fmt.Sprintf("%d pods are Failed or Unknown", o.FailedPods)
	}
	return true, fleetv1.ReasonAllHealthy, fmt.Sprintf("%d/%d nodes Ready, no failed pods", o.Nodes.Ready, o.Nodes.Total)
}

// Record writes what the probe saw into a MemberCluster's status: versions,
// nodes, failed pods, resources, properties, the heartbeat time, Reachable
// (with the caller's reason and message, which say who probed) and Healthy.
// The hub and the member agent both record probes this way.
func (o *Observation) Record(status *fleetv1.MemberClusterStatus, generation int64, now metav1.Time, reachableReason, reachableMessage string) {
	status.KubernetesVersion = o.KubernetesVersion
	status.Nodes = o.Nodes
	status.FailedPods = o.FailedPods
	status.ResourceUsage = o.ResourceUsage
	status.Properties = o.Properties
	status.LastHeartbeatTime = &now
	conditions.Set(&status.Conditions, conditions.True(fleetv1.MemberReachable, reachableReason, reachableMessage), generation, now)
	ok, reason, msg := o.Healthy()
	conditions.Set(&status.Conditions, conditions.Of(fleetv1.MemberHealthy, ok, reason, msg), generation, now)
}

// RecordUnreachable writes a failed probe into a MemberCluster's status:
// Reachable and Healthy False with the reason.
func RecordUnreachable(status *fleetv1.MemberClusterStatus, generation int64, now metav1.Time, reason, message string) {
	conditions.Set(&status.Conditions, conditions.False(fleetv1.MemberReachable, reason, message), generation, now)
	conditions.Set(&status.Conditions, conditions.False(fleetv1.MemberHealthy, fleetv1.ReasonUnreachable, "the member cannot be probed: "+message), generation, now)
}

// Probe checks /readyz, then reads the version, nodes and pods.
func Probe(ctx context.Context, cs kubernetes.Interface) (*Observation, error) {
	body, err := cs.Discovery().RESTClient().Get().AbsPath("/readyz").DoRaw(ctx)
	if err != nil {
		return nil, fmt.Errorf("readyz: %w", err)
	}
	if string(body) != "ok" {
		return nil, fmt.Errorf("readyz: %s", body)
	}
	version, err := cs.Discovery().ServerVersion()
	if err != nil {
		return nil, fmt.Errorf("version: %w", err)
	}
	nodes, err := cs.CoreV1().Nodes().List(ctx, metav1.ListOptions{ResourceVersion: "0"})
	if err != nil {
		return nil, fmt.Errorf("listing nodes: %w", err)
	}
	pods, err := cs.CoreV1().Pods(metav1.NamespaceAll).List(ctx, metav1.ListOptions{ResourceVersion: "0"})
	if err != nil {
		return nil, fmt.Errorf("listing pods: %w", err)
	}
	return Summarise(version.GitVersion, nodes.Items, pods.Items), nil
}

// Summarise derives an Observation from a cluster's nodes and pods.
func Summarise(version string, nodes []corev1.Node, pods []corev1.Pod) *Observation {
	o := &Observation{KubernetesVersion: version, Properties: map[string]string{}}
	kubelets, images := map[string]int32{}, map[string]int32{}
	capacity, allocatable := corev1.ResourceList{}, corev1.ResourceList{}
	regions := map[string]bool{}
	for i := range nodes {
		n := &nodes[i]
		o.Nodes.Total++
		if nodeReady(n) {
			o.Nodes.Ready++
		}
		kubelets[n.Status.NodeInfo.KubeletVersion]++
		images[NodeImage(n)]++
		addResources(capacity, n.Status.Capacity)
		addResources(allocatable, n.Status.Allocatable)
		if r := n.Labels[PropertyRegion]; r != "" {
			regions[r] = true
		}
	}
	requested := corev1.ResourceList{}
	for i := range pods {
		p := &pods[i]
		switch p.Status.Phase {
		case corev1.PodFailed, corev1.PodUnknown:
			o.FailedPods++
			continue
		case corev1.PodSucceeded:
			continue
		}
		if p.Spec.NodeName == "" {
			continue
		}
		for _, c := range p.Spec.Containers {
			addResources(requested, c.Resources.Requests)
		}
	}
	o.Nodes.KubeletVersions = counts(kubelets)
	o.Nodes.NodeImages = counts(images)
	if len(nodes) > 0 {
		o.Nodes.Pools = Pools(nodes)
	}
	available := corev1.ResourceList{}
	for name, q := range allocatable {
		a := q.DeepCopy()
		if r, ok := requested[name]; ok {
			a.Sub(r)
		}
		available[name] = a
	}
	o.ResourceUsage = fleetv1.ResourceUsage{Capacity: capacity, Allocatable: allocatable, Available: available}

	o.Properties[PropertyNodeCount] = strconv.Itoa(int(o.Nodes.Total))
	setQuantity(o.Properties, PropertyAllocatableCPU, allocatable, corev1.ResourceCPU)
	setQuantity(o.Properties, PropertyAllocatableMemory, allocatable, corev1.ResourceMemory)
	setQuantity(o.Properties, PropertyAvailableCPU, available, corev1.ResourceCPU)
	setQuantity(o.Properties, PropertyAvailableMemory, available, corev1.ResourceMemory)
	if len(regions) == 1 {
		for r := range regions {
			o.Properties[PropertyRegion] = r
		}
	}
	return o
}

func nodeReady(n *corev1.Node) bool {
	for _, c := range n.Status.Conditions {
		if c.Type == corev1.NodeReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// NodeImage is the node image a node runs: from the cloud's or Flotilla's
// label when present, else the OS image the kubelet reports.
func NodeImage(n *corev1.Node) string {
	for _, l := range nodeImageLabels {
		if v := n.Labels[l]; v != "" {
			return v
		}
	}
	return n.Status.NodeInfo.OSImage
}

func addResources(sum, add corev1.ResourceList) {
	for name, q := range add {
		if cur, ok := sum[name]; ok {
			cur.Add(q)
			sum[name] = cur
		} else {
			sum[name] = q.DeepCopy()
		}
	}
}

func setQuantity(props map[string]string, key string, list corev1.ResourceList, name corev1.ResourceName) {
	if q, ok := list[name]; ok {
		props[key] = q.String()
	}
}

// counts orders version counts by count, then version, for stable output.
func counts(m map[string]int32) []fleetv1.VersionCount {
	out := make([]fleetv1.VersionCount, 0, len(m))
	for v, c := range m {
		if v == "" {
			continue
		}
		out = append(out, fleetv1.VersionCount{Version: v, Count: c})
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Count != out[j].Count {
			return out[i].Count > out[j].Count
		}
		return out[i].Version < out[j].Version
	})
	return out
}
