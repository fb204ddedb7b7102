package cli

import (
	"fmt"
	"sort"

	"github.com/spf13/cobra"
	"sigs.k8s.io/controller-runtime/pkg/client"

	fleetv1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
)

func newGateCommand(g *globalOptions) *cobra.Command {
	cmd := &cobra.Command{
		Use:     "gate",
		Aliases: []string{"gates"},
		Short:   "List and approve the gates that hold update runs",
	}
	cmd.AddCommand(newGateListCommand(g), newGateApproveCommand(g))
	return cmd
}

func newGateListCommand(g *globalOptions) *cobra.Command {
	var state, run string
	cmd := &cobra.Command{
		Use:   "list [--state Pending|Completed|Skipped] [--update-run NAME]",
		Short: "List gates",
		Args:  cobra.NoArgs,
		PreRunE: func(*cobra.Command, []string) error {
			switch fleetv1.GateState(state) {
			case "", fleetv1.GatePending, fleetv1.GateCompleted, fleetv1.GateSkipped:
				return nil
			}
			return fmt.Errorf("unknown --state %q: use Pending, Completed or Skipped", state)
		},
		RunE: onHub(g, func(cmd *cobra.Command, hub client.WithWatch) error {
			list := &fleetv1.GateList{}
			if err := hub.List(cmd.Context(), list); err != nil {
				return fmt.Errorf("listing gates: %w", err)
			}
			items := []fleetv1.Gate{}
			for _, gt := range list.Items {
				if (state == "" || string(gt.Spec.State) == state) && (run == "" || gt.Spec.Target.UpdateRun == run) {
					gt.APIVersion, gt.Kind, gt.ManagedFields = fleetv1.GroupVersion.String(), "Gate", nil
					items = append(items, gt)
				}
			}
			sort.Slice(items, func(i, j int) bool { return items[i].CreationTimestamp.Before(&items[j].CreationTimestamp) })
			return render(cmd.OutOrStdout(), g.output, items, func() *table {
				t := &table{headers: []string{"NAME", "STATE", "TYPE", "DISPLAY NAME", "RUN", "STAGE", "GROUP", "TIMING", "AGE"}}
				for _, gt := range items {
					t.add(gt.Name, string(gt.Spec.State), string(gt.Spec.Type), orDash(gt.Spec.DisplayName), gt.Spec.Target.UpdateRun,
						gt.Spec.Target.Stage, orDash(gt.Spec.Target.Group), string(gt.Spec.Target.Timing), age(gt.CreationTimestamp))
				}
				return t
			})
		}),
	}
	cmd.Flags().StringVar(&state, "state", "", "only gates in this state")
	cmd.Flags().StringVar(&run, "update-run", "", "only gates of this update run")
	return cmd
}

func newGateApproveCommand(g *globalOptions) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "approve NAME",
		Short: "Approve a Pending Approval gate, letting its update run go on",
		Long: `Approve a Pending Approval gate, letting its update run go on.
'flotilla gate list --state Pending' lists the gates that wait.`,
	}
	return gateKind.onObject(g, cmd, func(cmd *cobra.Command, hub client.WithWatch, gt *fleetv1.Gate) error {
		if gt.Spec.Type != fleetv1.GateApproval {
			return fmt.Errorf("gate %q is a %s gate: it opens by itself", gt.Name, gt.Spec.Type)
		}
		if gt.Spec.State != fleetv1.GatePending {
			return fmt.Errorf("gate %q is already %s", gt.Name, gt.Spec.State)
		}
		patch := client.MergeFrom(gt.DeepCopy())
		gt.Spec.State = fleetv1.GateCompleted
		if err := hub.Patch(cmd.Context(), gt, patch); err != nil {
			return fmt.Errorf("approving gate %q: %w", gt.Name, err)
		}
		fmt.Fprintf(cmd.OutOrStdout(), "gate %q approved: update run %s goes on (stage %s)\n", gt.Name, gt.Spec.Target.UpdateRun, gt.Spec.Target.Stage)
		return nil
	})
}
