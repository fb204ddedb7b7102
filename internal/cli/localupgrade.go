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

// newLocalFaultCommand injects faults into a local member's next upgrades.
func newLocalFaultCommand() *cobra.Command {
	var (
		fleet                      fleetFlags
		member                     string
		failUpgrade, nodesNotReady bool
		clearFaults                bool
	)
	cmd := &cobra.Command{
		Use:   "fault --member NAME [--fail-upgrade] [--nodes-not-ready-after-upgrade] [--clear]",
		Short: "Make a local member's next upgrades fail, to rehearse failures",
		Long: `Inject faults into a member of a local fleet: --fail-upgrade makes its
upgrades fail before they change anything; --nodes-not-ready-after-upgrade leaves
its nodes NotReady after they are rolled, as a bad node image would. --clear
removes the faults (nodes already left NotReady stay so).`,
		Example: `  flotilla local fault --member dev-1 --nodes-not-ready-after-upgrade`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if member == "" {
				return fmt.Errorf("--member is required")
			}
			if clearFaults == (failUpgrade || nodesNotReady) {
				return fmt.Errorf("pass --clear, or at least one of --fail-upgrade and --nodes-not-ready-after-upgrade")
			}
			faults := localupgrade.Faults{FailUpgrade: failUpgrade, NodesNotReadyAfterUpgrade: nodesNotReady}
			if err := localupgrade.WriteFaults(fleet.layout().MemberDir(member), faults); err != nil {
				return fmt.Errorf("member %q of local fleet %q: %w", member, fleet.name, err)
			}
			if clearFaults {
				fmt.Fprintf(cmd.OutOrStdout(), "faults of %s cleared\n", member)
			} else {
				fmt.Fprintf(cmd.OutOrStdout(), "faults injected into %s: %+v\n", member, faults)
			}
			return nil
		},
	}
	fleet.register(cmd)
	cmd.Flags().StringVar(&member, "member", "", "the member to inject faults into")
	cmd.Flags().BoolVar(&failUpgrade, "fail-upgrade", false, "its upgrades fail")
	cmd.Flags().BoolVar(&nodesNotReady, "nodes-not-ready-after-upgrade", false, "its nodes stay NotReady after an upgrade")
	cmd.Flags().BoolVar(&clearFaults, "clear", false, "remove the member's faults")
	return cmd
}
