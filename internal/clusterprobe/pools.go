package clusterprobe

import (
	"sort"

	corev1 "k8s.io/api/core/v1"

	fleetv1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
)

// Node labels that name a node's pool, as the clouds set them, then
// Flotilla's own for other clusters.
var nodePoolLabels = []string{
	"kubernetes.azure.com/agentpool",
	"eks.amazonaws.com/nodegroup",
	"cloud.google.com/gke-nodepool",
	"flotilla.dev/node-pool",
}

// DefaultNodePool names the pool of nodes no pool label names.
const DefaultNodePool = "default"

// NodePool is the pool a node belongs to: the cloud's or Flotilla's pool
// label, else DefaultNodePool.
func NodePool(n *corev1.Node) string {
	for _, l := range nodePoolLabels {
		if v := n.Labels[l]; v != "" {
			return v
		}
	}
	return DefaultNodePool
}

// Node labels that name a node's OS image family where a cloud sets one:
// pools of one OS can run different image families (AKS Ubuntu and
// AzureLinux pools are both linux), and an image fits only its own.
var nodeOSLabels = []string{
	"kubernetes.azure.com/os-sku",
	"cloud.google.com/gke-os-distribution",
	corev1.LabelOSStable,
}

// NodeOS is a node's operating system as node images are keyed by it: the
// cloud's OS family label (e.g. Ubuntu, AzureLinux), else its
// kubernetes.io/os label, else what the kubelet reports, else linux.
func NodeOS(n *corev1.Node) string {
	for _, l := range nodeOSLabels {
		if v := n.Labels[l]; v != "" {
			return v
		}
	}
	if v := n.Status.NodeInfo.OperatingSystem; v != "" {
		return v
	}
	return "linux"
}

// Pools groups nodes into their pools (by pool and OS), sorted by name.
func Pools(nodes []corev1.Node) []fleetv1.NodePoolSummary {
	type key struct{ name, os string }
	type tally struct {
		total            int32
		kubelets, images map[string]int32
	}
	byPool := map[key]*tally{}
	for i := range nodes {
		n := &nodes[i]
		k := key{NodePool(n), NodeOS(n)}
		t := byPool[k]
		if t == nil {
			t = &tally{kubelets: map[string]int32{}, images: map[string]int32{}}
			byPool[k] = t
		}
		t.total++
		t.kubelets[n.Status.NodeInfo.KubeletVersion]++
		t.images[NodeImage(n)]++
	}
	out := make([]fleetv1.NodePoolSummary, 0, len(byPool))
	for k, t := range byPool {
		out = append(out, fleetv1.NodePoolSummary{
			Name: k.name, OS: k.os, Total: t.total,
			KubeletVersions: counts(t.kubelets), NodeImages: counts(t.images),
		})
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Name != out[j].Name {
			return out[i].Name < out[j].Name
		}
		return out[i].OS < out[j].OS
	})
	return out
}
