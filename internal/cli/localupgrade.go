package cli

import (
	"fmt"

	"github.com/spf13/cobra"

	fleetv1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/internal/localupgrade"
)

// newLocalUpgradeMemberCommand is what the Local upgrade provider runs for
// each member; it also lets an operator upgrade one local cluster by hand.
func newLocalUpgradeMemberCommand() *cobra.Command {
	var clusterDir, upgradeType, version, image string
	cmd := &cobra.Command{
		Use:   "upgrade-member --cluster-dir DIR --upgrade-type T [--kubernetes-version V] [--node-image I]",
		Short: "Upgrade one local cluster (what the Local upgrade provider runs)",
		Long: `Upgrade one local cluster for real: for Full and ControlPlaneOnly its
kube-apiserver is restarted on the newer Kubernetes binary over the same etcd
data; for Full and NodeImageOnly its nodes are rolled one at a time (cordon, new
kubelet version and node image, uncordon). Faults injected with
'flotilla local fault' apply.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if clusterDir == "" {
				return fmt.Errorf("--cluster-dir is required")
			}
			t := fleetv1.UpgradeType(upgradeType)
			switch t {
			case fleetv1.UpgradeFull, fleetv1.UpgradeControlPlaneOnly:
				if version == "" {
					return fmt.Errorf("--kubernetes-version is required for a %s upgrade", t)
				}
			case fleetv1.UpgradeNodeImageOnly:
			default:
				return fmt.Errorf("--upgrade-type must be Full, ControlPlaneOnly or NodeImageOnly")
			}
			return localupgrade.Upgrade(cmd.Context(), clusterDir, localupgrade.Request{
				Type: t, KubernetesVersion: version, NodeImage: image,
			}, cmd.OutOrStdout())
		},
	}
	cmd.Flags().StringVar(&clusterDir, "cluster-dir", "", "the local cluster's directory")
	cmd.Flags().StringVar(&upgradeType, "upgrade-type", "", "Full, ControlPlaneOnly or NodeImageOnly")
	cmd.Flags().StringVar(&version, "kubernetes-version", "", "target Kubernetes version, e.g. v1.37.2")
	cmd.Flags().StringVar(&image, "node-image", "", "node image the nodes get (default: keep)")
	return cmd
}
