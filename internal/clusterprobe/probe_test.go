package clusterprobe

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func node(name, kubelet, image string, ready bool) corev1.Node {
	status := corev1.ConditionFalse
	if ready {
		status = corev1.ConditionTrue
	}
	return corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{
			"flotilla.dev/node-image": image, PropertyRegion: "westeurope",
		}},
		Status: corev1.NodeStatus{
			Conditions:  []corev1.NodeCondition{{Type: corev1.NodeReady, Status: status}},
			NodeInfo:    corev1.NodeSystemInfo{KubeletVersion: kubelet, OSImage: "ignored"},
			Capacity:    corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("4"), corev1.ResourceMemory: resource.MustParse("16Gi")},
			Allocatable: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("4"), corev1.ResourceMemory: resource.MustParse("16Gi")},
		},
	}
}

func pod(phase corev1.PodPhase, cpu string) corev1.Pod {
	return corev1.Pod{
		Spec: corev1.PodSpec{NodeName: "n1", Containers: []corev1.Container{{
			Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse(cpu)}},
		}}},
		Status: corev1.PodStatus{Phase: phase},
	}
}

func TestSummarise(t *testing.T) {
	nodes := []corev1.Node{
		node("n1", "v1.36.3", "img-a", true),
		node("n2", "v1.36.3", "img-a", true),
		node("n3", "v1.37.2", "img-b", false),
	}
	pods := []corev1.Pod{
		pod(corev1.PodRunning, "500m"),
		pod(corev1.PodFailed, "1"),
		pod(corev1.PodUnknown, "1"),
		pod(corev1.PodSucceeded, "1"),
	}
	o := Summarise("v1.36.3", nodes, pods)

	if o.Nodes.Total != 3 || o.Nodes.Ready != 2 {
		t.Errorf("nodes = %d/%d, want 2/3 ready", o.Nodes.Ready, o.Nodes.Total)
	}
	if o.FailedPods != 2 {
		t.Errorf("failed pods = %d, want 2 (Failed and Unknown)", o.FailedPods)
	}
	if got := o.Nodes.KubeletVersions; len(got) != 2 || got[0].Version != "v1.36.3" || got[0].Count != 2 {
		t.Errorf("kubelet versions = %+v, want v1.36.3 x2 first", got)
	}
	if got := o.Nodes.NodeImages; len(got) != 2 || got[0].Version != "img-a" {
		t.Errorf("node images = %+v, want img-a first (from the label, not the OS image)", got)
	}
	if got := o.Properties[PropertyAvailableCPU]; got != "11500m" {
		t.Errorf("available cpu = %s, want 11500m (12 allocatable less 500m running)", got)
	}
	if got := o.Properties[PropertyNodeCount]; got != "3" {
		t.Errorf("node count = %s, want 3", got)
	}
	if got := o.Properties[PropertyRegion]; got != "westeurope" {
		t.Errorf("region = %q, want westeurope", got)
	}
	if ok, reason, _ := o.Healthy(); ok || reason != "NodesNotReady" {
		t.Errorf("Healthy() = %v %s, want false NodesNotReady", ok, reason)
	}
}

func TestHealthy(t *testing.T) {
	ready := []corev1.Node{node("n1", "v1.36.3", "i", true)}
	cases := []struct {
		name   string
		pods   []corev1.Pod
		ok     bool
		reason string
	}{
		{"all good", []corev1.Pod{pod(corev1.PodRunning, "1")}, true, "AllHealthy"},
		{"a failed pod", []corev1.Pod{pod(corev1.PodFailed, "1")}, false, "FailedPods"},
		{"succeeded pods are fine", []corev1.Pod{pod(corev1.PodSucceeded, "1")}, true, "AllHealthy"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ok, reason, msg := Summarise("v1.36.3", ready, tc.pods).Healthy()
			if ok != tc.ok || reason != tc.reason || msg == "" {
				t.Errorf("Healthy() = %v, %q, %q; want %v, %q", ok, reason, msg, tc.ok, tc.reason)
			}
		})
	}
}
