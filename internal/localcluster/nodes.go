package localcluster

import (
	"context"
	"fmt"
	"strconv"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"
)

const (
	// NodeImageLabel carries a simulated node's image; rolling a node to a
	// new image changes it.
	NodeImageLabel = "flotilla.dev/node-image"
	// KwokNodeAnnotation marks the nodes kwok simulates; kwok runs with a
	// selector on it, so that it never touches other nodes.
	KwokNodeAnnotation      = "kwok.x-k8s.io/node"
	kwokNodeAnnotationValue = "fake"
	// SimulatedPodLabel marks the simulated pods.
	SimulatedPodLabel = "flotilla.dev/simulated"
	// simulatedPodNamespace holds the simulated pods.
	simulatedPodNamespace = "default"
)

// NodeName is the name of a cluster's i-th node, counting from 1.
func NodeName(cluster string, i int) string { return cluster + "-node-" + strconv.Itoa(i) }

// startNodes creates the simulated nodes and pods, starts kwok for them and
// waits until kwok reports the nodes Ready and the pods Running.
func (c *Cluster) startNodes(ctx context.Context, kwokBin, image string, extraLabels map[string]string) error {
	cfg, err := c.RESTConfig()
	if err != nil {
		return err
	}
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return err
	}
	s := c.State()
	for i := 1; i <= s.Nodes; i++ {
		node := simulatedNode(NodeName(s.Name, i), s.KubernetesVersion, image, extraLabels)
		if _, err := client.CoreV1().Nodes().Create(ctx, node, metav1.CreateOptions{}); err != nil {
			return fmt.Errorf("creating node %s: %w", node.Name, err)
		}
	}
	for i := 1; i <= s.Pods; i++ {
		pod := simulatedPod("simulated-"+strconv.Itoa(i), NodeName(s.Name, (i-1)%s.Nodes+1))
		if _, err := client.CoreV1().Pods(pod.Namespace).Create(ctx, pod, metav1.CreateOptions{}); err != nil {
			return fmt.Errorf("creating pod %s: %w", pod.Name, err)
		}
	}

	args := []string{
		"--kubeconfig=" + c.KubeconfigPath(),
		"--manage-nodes-with-annotation-selector=" + KwokNodeAnnotation + "=" + kwokNodeAnnotationValue,
		"--cidr=10.244.0.1/16",
		"--v=WARN",
	}
	// kwok reads ~/.kwok/kwok.yaml when it exists; a home of its own keeps a
	// user's kwok set-up out of local clusters.
	env := []string{"HOME=" + s.Dir}
	return c.startServer(ctx, "kwok", kwokBin, args, env, func(ctx context.Context) error {
		return workloadReady(ctx, client, s.Nodes, s.Pods)
	})
}

// simulatedNode is a node as a kubelet would register it, with the status
// kwok keeps: kwok fills in only the nodeInfo fields left empty, so the
// kubelet version set here stays until someone rolls the node.
func simulatedNode(name, kubernetesVersion, image string, extraLabels map[string]string) *corev1.Node {
	labels := map[string]string{
		"type":                   "kwok",
		"kubernetes.io/hostname": name,
		"kubernetes.io/os":       "linux",
		"kubernetes.io/arch":     "amd64",
		NodeImageLabel:           image,
	}
	for k, v := range extraLabels {
		labels[k] = v
	}
	resources := corev1.ResourceList{
		corev1.ResourceCPU:    resource.MustParse("4"),
		corev1.ResourceMemory: resource.MustParse("16Gi"),
		corev1.ResourcePods:   resource.MustParse("110"),
	}
	return &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{
			Name:        name,
			Labels:      labels,
			Annotations: map[string]string{KwokNodeAnnotation: kwokNodeAnnotationValue},
		},
		Status: corev1.NodeStatus{
			Capacity:    resources,
			Allocatable: resources.DeepCopy(),
			NodeInfo: corev1.NodeSystemInfo{
				KubeletVersion:          kubernetesVersion,
				OSImage:                 image,
				OperatingSystem:         "linux",
				Architecture:            "amd64",
				ContainerRuntimeVersion: "kwok",
			},
		},
	}
}

func simulatedPod(name, node string) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			Name:      name,
			Namespace: simulatedPodNamespace,
			Labels:    map[string]string{SimulatedPodLabel: "true"},
		},
		Spec: corev1.PodSpec{
			// Bound up front: there is no scheduler.
			NodeName:                     node,
			AutomountServiceAccountToken: ptr.To(false),
			Containers:                   []corev1.Container{{Name: "app", Image: "registry.k8s.io/pause:3.10"}},
		},
	}
}

// workloadReady succeeds when the cluster has nodes Ready nodes and pods
// Running simulated pods.
func workloadReady(ctx context.Context, client kubernetes.Interface, nodes, pods int) error {
	nodeList, err := client.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	if err != nil {
		return err
	}
	ready := 0
	for _, n := range nodeList.Items {
		if NodeReady(&n) {
			ready++
		}
	}
	if ready < nodes {
		return fmt.Errorf("%d of %d nodes Ready", ready, nodes)
	}
	if pods == 0 {
		return nil
	}
	podList, err := client.CoreV1().Pods(simulatedPodNamespace).List(ctx, metav1.ListOptions{LabelSelector: SimulatedPodLabel})
	if err != nil && !apierrors.IsNotFound(err) {
		return err
	}
	running := 0
	for _, p := range podList.Items {
		if p.Status.Phase == corev1.PodRunning {
			running++
		}
	}
	if running < pods {
		return fmt.Errorf("%d of %d simulated pods Running", running, pods)
	}
	return nil
}

// NodeReady reports whether a node's Ready condition is True.
func NodeReady(node *corev1.Node) bool {
	for _, c := range node.Status.Conditions {
		if c.Type == corev1.NodeReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}
