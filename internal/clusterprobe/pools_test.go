package clusterprobe

import (
	"reflect"
	"testing"

	corev1 "k8s.io/api/core/v1"

	fleetv1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
)

func TestPoolsGroupNodesByPoolLabelAndOS(t *testing.T) {
	aks := node("aks-1", "v1.37.2", "AKSUbuntu-2204gen2containerd-202612.1", true)
	aks.Labels["kubernetes.azure.com/agentpool"] = "system"
	win := node("aks-2", "v1.37.2", "AKSWindows-2022-202612.1", true)
	win.Labels["kubernetes.azure.com/agentpool"] = "win"
	win.Labels["kubernetes.io/os"] = "windows"
	azl := node("aks-3", "v1.37.2", "AKSAzureLinux-V3gen2-202612.1", true)
	azl.Labels["kubernetes.azure.com/agentpool"] = "system"
	azl.Labels["kubernetes.azure.com/os-sku"] = "AzureLinux"
	local1 := node("n1", "v1.36.3", "img-a", true)
	local2 := node("n2", "v1.36.3", "img-b", true)
	local2.Status.NodeInfo.OperatingSystem = "linux"

	got := Pools([]corev1.Node{aks, win, azl, local1, local2})
	want := []fleetv1.NodePoolSummary{
		{Name: "default", OS: "linux", Total: 2,
			KubeletVersions: []fleetv1.VersionCount{{Version: "v1.36.3", Count: 2}},
			NodeImages:      []fleetv1.VersionCount{{Version: "img-a", Count: 1}, {Version: "img-b", Count: 1}}},
		{Name: "system", OS: "AzureLinux", Total: 1,
			KubeletVersions: []fleetv1.VersionCount{{Version: "v1.37.2", Count: 1}},
			NodeImages:      []fleetv1.VersionCount{{Version: "AKSAzureLinux-V3gen2-202612.1", Count: 1}}},
		{Name: "system", OS: "linux", Total: 1,
			KubeletVersions: []fleetv1.VersionCount{{Version: "v1.37.2", Count: 1}},
			NodeImages:      []fleetv1.VersionCount{{Version: "AKSUbuntu-2204gen2containerd-202612.1", Count: 1}}},
		{Name: "win", OS: "windows", Total: 1,
			KubeletVersions: []fleetv1.VersionCount{{Version: "v1.37.2", Count: 1}},
			NodeImages:      []fleetv1.VersionCount{{Version: "AKSWindows-2022-202612.1", Count: 1}}},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Pools =\n%+v\nwant\n%+v", got, want)
	}
	if o := Summarise("v1.37.2", nil, nil); o.Nodes.Pools != nil {
		t.Errorf("a cluster without nodes has pools %+v", o.Nodes.Pools)
	}
}
