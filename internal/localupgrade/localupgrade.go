// Package localupgrade upgrades a local cluster for real: the control plane
// by restarting kube-apiserver on the newer Kubernetes binary over the same
// etcd data, the nodes by rolling each simulated node in turn (cordon, new
// kubelet version and node image, uncordon). Faults can be injected to
// rehearse failures: an upgrade that fails, or nodes that stay NotReady.
package localupgrade

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"

	fleetv1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/internal/localcluster"
)

// Request is one upgrade of a local cluster.
type Request struct {
	Type fleetv1.UpgradeType
	// KubernetesVersion is the target for Full and ControlPlaneOnly.
	KubernetesVersion string
	// NodeImage is the image nodes get; empty keeps it.
	NodeImage string
}

// Faults make a cluster misbehave on its next upgrades.
type Faults struct {
	// FailUpgrade makes the upgrade fail before it changes anything.
	FailUpgrade bool `json:"failUpgrade,omitempty"`
	// NodesNotReadyAfterUpgrade leaves the rolled nodes NotReady.
	NodesNotReadyAfterUpgrade bool `json:"nodesNotReadyAfterUpgrade,omitempty"`
}

// Any reports whether any fault is set.
func (f Faults) Any() bool { return f.FailUpgrade || f.NodesNotReadyAfterUpgrade }

func faultsFile(clusterDir string) string { return filepath.Join(clusterDir, "faults.json") }

// ReadFaults returns the faults injected into the cluster in clusterDir.
func ReadFaults(clusterDir string) (Faults, error) {
	var f Faults
	data, err := os.ReadFile(faultsFile(clusterDir))
	if errors.Is(err, os.ErrNotExist) {
		return f, nil
	}
	if err != nil {
		return f, err
	}
	// Not `return f, json.Unmarshal(data, &f)`: Go does not say whether f
	// is read before or after Unmarshal fills it.
	err = json.Unmarshal(data, &f)
	return f, err
}

// WriteFaults injects faults into the cluster in clusterDir; no fault clears them.
func WriteFaults(clusterDir string, f Faults) error {
	if _, err := os.Stat(localcluster.StateFile(clusterDir)); err != nil {
		return fmt.Errorf("no local cluster in %s", clusterDir)
	}
	if !f.Any() {
		if err := os.Remove(faultsFile(clusterDir)); err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
		return nil
	}
	data, err := json.Marshal(f)
	if err != nil {
		return err
	}
	return os.WriteFile(faultsFile(clusterDir), data, 0o644)
}

// Upgrade upgrades the cluster in clusterDir, reporting each step to log.
// It is idempotent: what is already at the target is left alone.
func Upgrade(ctx context.Context, clusterDir string, req Request, log io.Writer) error {
	faults, err := ReadFaults(clusterDir)
	if err != nil {
		return err
	}
	c, err := localcluster.Attach(clusterDir)
	if err != nil {
		return err
	}
	if faults.FailUpgrade {
		return fmt.Errorf("injected fault: the upgrade of %s fails (flotilla local fault --clear to remove it)", c.Name())
	}
	start := time.Now()
	if req.Type == fleetv1.UpgradeFull || req.Type == fleetv1.UpgradeControlPlaneOnly {
		if req.KubernetesVersion == "" {
			return fmt.Errorf("a %s upgrade needs a Kubernetes version", req.Type)
		}
		if from := c.KubernetesVersion(); from != req.KubernetesVersion {
			fmt.Fprintf(log, "%s: control plane %s → %s: restarting kube-apiserver over the same etcd data\n", c.Name(), from, req.KubernetesVersion)
			if err := c.RestartAPIServer(ctx, req.KubernetesVersion); err != nil {
				return err
			}
		} else {
			fmt.Fprintf(log, "%s: control plane already at %s\n", c.Name(), from)
		}
	}
	if req.Type == fleetv1.UpgradeFull || req.Type == fleetv1.UpgradeNodeImageOnly {
		if err := rollNodes(ctx, c, req, faults, log); err != nil {
			return err
		}
	}
	fmt.Fprintf(log, "%s: upgrade done in %s\n", c.Name(), time.Since(start).Round(time.Millisecond))
	return nil
}

// rollNodes moves each simulated node to the target, one at a time.
func rollNodes(ctx context.Context, c *localcluster.Cluster, req Request, faults Faults, log io.Writer) error {
	cfg, err := c.RESTConfig()
	if err != nil {
		return err
	}
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return err
	}
	nodes, err := cs.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	if err != nil {
		return fmt.Errorf("listing nodes: %w", err)
	}
	sort.Slice(nodes.Items, func(i, j int) bool { return nodes.Items[i].Name < nodes.Items[j].Name })
	for i := range nodes.Items {
		n := &nodes.Items[i]
		if _, simulated := n.Annotations[localcluster.KwokNodeAnnotation]; !simulated && !faults.NodesNotReadyAfterUpgrade {
			continue
		}
		kubelet := n.Status.NodeInfo.KubeletVersion
		if req.Type == fleetv1.UpgradeFull {
			kubelet = req.KubernetesVersion
		}
		image := n.Labels[localcluster.NodeImageLabel]
		if req.NodeImage != "" {
			image = req.NodeImage
		}
		if kubelet == n.Status.NodeInfo.KubeletVersion && image == n.Labels[localcluster.NodeImageLabel] && !faults.NodesNotReadyAfterUpgrade {
			continue
		}
		fmt.Fprintf(log, "%s: node %s: cordon, kubelet %s → %s, image %s → %s, uncordon\n",
			c.Name(), n.Name, n.Status.NodeInfo.KubeletVersion, kubelet, n.Labels[localcluster.NodeImageLabel], image)
		if err := setUnschedulable(ctx, cs, n.Name, true); err != nil {
			return err
		}
		if err := rollNode(ctx, cs, n.Name, kubelet, image, faults.NodesNotReadyAfterUpgrade); err != nil {
			return err
		}
		if faults.NodesNotReadyAfterUpgrade {
			fmt.Fprintf(log, "%s: node %s left NotReady (injected fault)\n", c.Name(), n.Name)
			continue
		}
		if err := setUnschedulable(ctx, cs, n.Name, false); err != nil {
			return err
		}
	}
	return nil
}

func setUnschedulable(ctx context.Context, cs kubernetes.Interface, node string, on bool) error {
	patch := fmt.Sprintf(`{"spec":{"unschedulable":%t}}`, on)
	if _, err := cs.CoreV1().Nodes().Patch(ctx, node, types.StrategicMergePatchType, []byte(patch), metav1.PatchOptions{}); err != nil {
		return fmt.Errorf("cordoning node %s: %w", node, err)
	}
	return nil
}

// rollNode gives a node a new kubelet version and image. A node that is to
// stay NotReady is taken from kwok first, so that kwok does not heal it.
func rollNode(ctx context.Context, cs kubernetes.Interface, name, kubelet, image string, notReady bool) error {
	meta := map[string]any{"labels": map[string]string{localcluster.NodeImageLabel: image}}
	if notReady {
		meta["annotations"] = map[string]any{localcluster.KwokNodeAnnotation: nil}
	}
	metaPatch, _ := json.Marshal(map[string]any{"metadata": meta})
	if _, err := cs.CoreV1().Nodes().Patch(ctx, name, types.StrategicMergePatchType, metaPatch, metav1.PatchOptions{}); err != nil {
		return fmt.Errorf("relabelling node %s: %w", name, err)
	}
	status := map[string]any{"nodeInfo": map[string]string{"kubeletVersion": kubelet, "osImage": image}}
	if notReady {
		status["conditions"] = []corev1.NodeCondition{{
			Type: corev1.NodeReady, Status: corev1.ConditionFalse, Reason: "KubeletNotReady",
			Message: "injected fault: the node did not come back after its upgrade", LastHeartbeatTime: metav1.Now(), LastTransitionTime: metav1.Now(),
		}}
	}
	statusPatch, _ := json.Marshal(map[string]any{"status": status})
	if _, err := cs.CoreV1().Nodes().Patch(ctx, name, types.StrategicMergePatchType, statusPatch, metav1.PatchOptions{}, "status"); err != nil {
		return fmt.Errorf("updating node %s: %w", name, err)
	}
	return nil
}
