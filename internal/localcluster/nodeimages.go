package localcluster

// nodeImageReleases are the releases of the local node image catalogue,
// oldest first. Every Kubernetes version local fleets run has one image per
// release, so that a NodeImageOnly upgrade of a fresh local fleet has a
// newer image to roll its nodes to.
var nodeImageReleases = []string{"202611.1", "202612.1"}

// NodeImages is the local catalogue of node images for a Kubernetes version
// (e.g. v1.37.2), oldest first: flotilla-node-v1.37.2-202611.1, then
// flotilla-node-v1.37.2-202612.1. Local nodes are all linux.
func NodeImages(kubernetesVersion string) []string {
	out := make([]string, len(nodeImageReleases))
	for i, release := range nodeImageReleases {
		out[i] = "flotilla-node-" + kubernetesVersion + "-" + release
	}
	return out
}

// InitialNodeImage is the image new simulated nodes of a Kubernetes version
// run: the catalogue's oldest, so that a fresh local fleet has a node image
// upgrade to take.
func InitialNodeImage(kubernetesVersion string) string {
	return NodeImages(kubernetesVersion)[0]
}
