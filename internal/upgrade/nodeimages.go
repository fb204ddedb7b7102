package upgrade

import (
	"fmt"
	"slices"
	"strings"

	fleetv1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
)

// NodeImage is one node image a provider offers for the nodes of one OS.
type NodeImage struct {
	// OS is the operating system of the nodes the image is for, as the hub
	// observes it (clusterprobe.NodeOS: the cloud's OS family label, e.g.
	// Ubuntu or AzureLinux, else kubernetes.io/os, e.g. linux).
	OS      string
	Version string
}

// Request is what a run asks of each of its members: the upgrade, how node
// images are selected and, once a Consistent run has started, the images it
// chose then.
type Request struct {
	Upgrade   fleetv1.UpgradeSpec
	Selection fleetv1.NodeImageSelection
	Chosen    []fleetv1.ChosenNodeImage
}

// RequestOf is the request of a run, with the images it recorded.
func RequestOf(run *fleetv1.UpdateRun) Request {
	req := Request{
		Upgrade:   run.Spec.ManagedClusterUpdate.Upgrade,
		Selection: fleetv1.NodeImageSelection{Type: fleetv1.NodeImageLatest},
		Chosen:    run.Status.NodeImages,
	}
	if sel := run.Spec.ManagedClusterUpdate.NodeImageSelection; sel != nil && sel.Type != "" {
		req.Selection = *sel
	}
	return req
}

// PoolOSes are the distinct operating systems of a member's node pools as
// the hub last observed them, sorted; none when it saw no pools.
func PoolOSes(st fleetv1.MemberClusterStatus) []string {
	var out []string
	for _, p := range st.Nodes.Pools {
		if !slices.Contains(out, p.OS) {
			out = append(out, p.OS)
		}
	}
	slices.Sort(out)
	return out
}

// SelectNodeImages picks the node image for each OS of a member's nodes
// (oses; none known means every OS the provider offers images for) on a
// Kubernetes version, from what the member's provider offers (offered,
// oldest first):
//   - Latest: the newest offered image;
//   - Consistent: the image the run chose for that OS and version when it
//     started (chosen), which the member must be offered;
//   - Custom: the newest of the custom images that the member is offered.
//
// An OS that gets no image is an error that says why, so that the member
// fails before anything is done to it.
func SelectNodeImages(sel fleetv1.NodeImageSelection, kubernetesVersion string, oses []string, offered []NodeImage, chosen []fleetv1.ChosenNodeImage) ([]NodeImage, error) {
	if len(oses) == 0 {
		for _, img := range offered {
			if !slices.Contains(oses, img.OS) {
				oses = append(oses, img.OS)
			}
		}
		slices.Sort(oses)
	}
	var out []NodeImage
	for _, os := range oses {
		offers := imagesFor(offered, os)
		if len(offers) == 0 {
			return nil, fmt.Errorf("the member's provider offers no node image for %s nodes on %s", os, kubernetesVersion)
		}
		var pick string
		switch sel.Type {
		case fleetv1.NodeImageConsistent:
			pick = chosenFor(chosen, os, kubernetesVersion)
			if pick == "" {
				return nil, fmt.Errorf("the run chose no node image for %s nodes on %s when it started (no member was on that version, or no image was offered to all of them)", os, kubernetesVersion)
			}
			if !slices.Contains(offers, pick) {
				return nil, fmt.Errorf("the node image %s the run chose for %s nodes on %s is not offered to this member (it is offered %s)", pick, os, kubernetesVersion, strings.Join(offers, ", "))
			}
		case fleetv1.NodeImageCustom:
			for _, img := range offers {
				if customListed(sel.CustomNodeImageVersions, img) {
					pick = img // offers run oldest first: the last match is the newest
				}
			}
			if pick == "" {
				return nil, fmt.Errorf("none of the custom node images %s is offered for %s nodes on %s (the member is offered %s)", customList(sel.CustomNodeImageVersions), os, kubernetesVersion, strings.Join(offers, ", "))
			}
		default:
			pick = offers[len(offers)-1]
		}
		out = append(out, NodeImage{OS: os, Version: pick})
	}
	return out, nil
}

// MemberOffer is what ConsistentNodeImages needs of one member: the
// Kubernetes version its nodes get, their OSes and the images it is offered.
type MemberOffer struct {
	KubernetesVersion string
	OSes              []string
	Offered           []NodeImage
}

// ConsistentNodeImages chooses, for each OS and Kubernetes version among the
// members, the newest image offered to every member with nodes of that OS on
// that version, so that they all get the same one. Where the members share
// no image, nothing is chosen, and SelectNodeImages fails them with the
// reason. The result is sorted by OS, then version.
func ConsistentNodeImages(members []MemberOffer) []fleetv1.ChosenNodeImage {
	type key struct{ os, version string }
	common := map[key][]string{}
	var keys []key
	for _, m := range members {
		oses := m.OSes
		if len(oses) == 0 {
			for _, img := range m.Offered {
				if !slices.Contains(oses, img.OS) {
					oses = append(oses, img.OS)
				}
			}
		}
		for _, os := range oses {
			k := key{os, m.KubernetesVersion}
			offers := imagesFor(m.Offered, os)
			prev, seen := common[k]
			if !seen {
				keys = append(keys, k)
				common[k] = offers
				continue
			}
			common[k] = slices.DeleteFunc(slices.Clone(prev), func(img string) bool { return !slices.Contains(offers, img) })
		}
	}
	var out []fleetv1.ChosenNodeImage
	for _, k := range keys {
		if images := common[k]; len(images) > 0 {
			out = append(out, fleetv1.ChosenNodeImage{OS: k.os, KubernetesVersion: k.version, Version: images[len(images)-1]})
		}
	}
	slices.SortFunc(out, func(a, b fleetv1.ChosenNodeImage) int {
		if c := strings.Compare(a.OS, b.OS); c != 0 {
			return c
		}
		return strings.Compare(a.KubernetesVersion, b.KubernetesVersion)
	})
	return out
}

func imagesFor(offered []NodeImage, os string) []string {
	var out []string
	for _, img := range offered {
		if img.OS == os {
			out = append(out, img.Version)
		}
	}
	return out
}

func chosenFor(chosen []fleetv1.ChosenNodeImage, os, kubernetesVersion string) string {
	for _, c := range chosen {
		if c.OS == os && NormalizeVersion(c.KubernetesVersion) == NormalizeVersion(kubernetesVersion) {
			return c.Version
		}
	}
	return ""
}

func customListed(custom []fleetv1.NodeImageVersion, image string) bool {
	for _, c := range custom {
		if c.Version == image {
			return true
		}
	}
	return false
}

func customList(custom []fleetv1.NodeImageVersion) string {
	names := make([]string, len(custom))
	for i, c := range custom {
		names[i] = c.Version
	}
	return strings.Join(names, ", ")
}

// hasNodeImage reports whether img is one of the target's images.
func (t Target) hasNodeImage(img string) bool {
	if len(t.NodeImages) == 0 {
		return img == t.NodeImage
	}
	for _, n := range t.NodeImages {
		if n.Version == img {
			return true
		}
	}
	return false
}

func (t Target) nodeImageList() string {
	if len(t.NodeImages) == 0 {
		return t.NodeImage
	}
	names := make([]string, len(t.NodeImages))
	for i, n := range t.NodeImages {
		names[i] = n.Version
	}
	return strings.Join(names, " or ")
}
