package cli

import (
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"

	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/labels"
	"sigs.k8s.io/controller-runtime/pkg/client"

	placementv1 "github.com/flotilla-dev/flotilla/api/placement/v1"
	fleetv1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/internal/fleetcost"
)

func newCostCommand(g *globalOptions) *cobra.Command {
	var (
		modelPath, selectorFlag string
		outagePerHour, hours    float64
	)
	cmd := &cobra.Command{
		Use:   "cost [--model cost.yaml] [-l selector] [--outage-cost-per-hour Y --expected-outage-hours H]",
		Short: "What the fleet costs a month: per member, per placement and in total",
		Long: `Price the live fleet for a month with a cost model (docs/cost.md describes
cost.yaml; without --model the defaults hold: AKS Standard $73 per
cluster-month, Free $0, the hub one Standard control plane, compute at an
illustrative $0.04 per vCPU-hour and $0.005 per GiB-hour).

Each member costs its control-plane tier (label cost.flotilla.dev/control-plane-tier,
else the model's default for its provider) plus its node capacity (from the
MemberCluster status) at its region's price (or the member's
cost.flotilla.dev/vcpu-hour and gib-hour labels). The fleet adds the hub and,
when members span regions, cross-region connectivity. Each placement costs its
workloads' requests once per member it is placed on: on N members, N×.

With --outage-cost-per-hour and --expected-outage-hours it prints the seed's
comparison: redundancy cost X (the fleet's month beyond its most expensive
member) vs outage cost Y (per hour × hours a month), with a verdict.`,
		Example: `  flotilla cost
  flotilla cost --model cost.yaml -o json
  flotilla cost --outage-cost-per-hour 5000 --expected-outage-hours 2`,
		Args: cobra.NoArgs,
		PreRunE: func(cmd *cobra.Command, _ []string) error {
			if _, err := labels.Parse(selectorFlag); err != nil {
				return fmt.Errorf("invalid --selector: %w", err)
			}
			if cmd.Flags().Changed("outage-cost-per-hour") != cmd.Flags().Changed("expected-outage-hours") {
				return fmt.Errorf("--outage-cost-per-hour and --expected-outage-hours go together")
			}
			if outagePerHour < 0 || hours < 0 {
				return fmt.Errorf("outage cost and hours cannot be negative")
			}
			return nil
		},
		RunE: onHub(g, func(cmd *cobra.Command, hub client.WithWatch) error {
			model := fleetcost.DefaultModel()
			if modelPath != "" {
				data, err := os.ReadFile(modelPath)
				if err != nil {
					return err
				}
				if model, err = fleetcost.ParseModel(data); err != nil {
					return fmt.Errorf("%s: %w", modelPath, err)
				}
			}
			sel, _ := labels.Parse(selectorFlag)
			ctx := cmd.Context()
			members := &fleetv1.MemberClusterList{}
			if err := hub.List(ctx, members, client.MatchingLabelsSelector{Selector: sel}); err != nil {
				return fmt.Errorf("listing members: %w", err)
			}
			inputs := make([]fleetcost.Member, 0, len(members.Items))
			picked := map[string]bool{}
			for i := range members.Items {
				inputs = append(inputs, fleetcost.MemberFrom(&members.Items[i], model))
				picked[members.Items[i].Name] = true
			}
			sort.Slice(inputs, func(i, j int) bool { return inputs[i].Name < inputs[j].Name })
			placements, err := readPlacements(cmd, hub, picked)
			if err != nil {
				return err
			}
			report := fleetcost.Calculate(model, inputs, placements)
			if cmd.Flags().Changed("outage-cost-per-hour") {
				c := fleetcost.Compare(report, outagePerHour, hours)
				report.Comparison = &c
			}
			if g.output == "table" {
				return writeCost(cmd, report)
			}
			return render(cmd.OutOrStdout(), g.output, report, nil)
		}),
	}
	cmd.Flags().StringVar(&modelPath, "model", "", "the cost model file (cost.yaml); default: the built-in model")
	cmd.Flags().StringVarP(&selectorFlag, "selector", "l", "", "only members matching this label selector")
	cmd.Flags().Float64Var(&outagePerHour, "outage-cost-per-hour", 0, "what an hour of a single-cluster outage costs (revenue lost)")
	cmd.Flags().Float64Var(&hours, "expected-outage-hours", 0, "hours of outage a month the fleet's redundancy is expected to avoid")
	return cmd
}

// readPlacements reads each placement's bindings and latest snapshot, kept
// to the picked members.
func readPlacements(cmd *cobra.Command, hub client.Reader, picked map[string]bool) ([]fleetcost.Placement, error) {
	ctx := cmd.Context()
	crps := &placementv1.ClusterResourcePlacementList{}
	if err := hub.List(ctx, crps); err != nil {
		return nil, fmt.Errorf("listing placements: %w", err)
	}
	bindings := &fleetv1.ResourceBindingList{}
	if err := hub.List(ctx, bindings); err != nil {
		return nil, fmt.Errorf("listing resource bindings: %w", err)
	}
	var kept []fleetv1.ResourceBinding
	for _, b := range bindings.Items {
		if picked[b.Spec.TargetCluster] {
			kept = append(kept, b)
		}
	}
	out := make([]fleetcost.Placement, 0, len(crps.Items))
	for _, crp := range crps.Items {
		latest := &fleetv1.ResourceSnapshotList{}
		if err := hub.List(ctx, latest, client.MatchingLabels{fleetv1.PlacementLabel: crp.Name, fleetv1.LatestSnapshotLabel: "true"}); err != nil {
			return nil, fmt.Errorf("listing snapshots of %s: %w", crp.Name, err)
		}
		var parts []fleetv1.ResourceSnapshot
		if len(latest.Items) > 0 {
			all := &fleetv1.ResourceSnapshotList{}
			if err := hub.List(ctx, all, client.MatchingLabels{fleetv1.PlacementLabel: crp.Name,
				fleetv1.SnapshotIndexLabel: strconv.Itoa(int(latest.Items[0].Spec.Index))}); err != nil {
				return nil, fmt.Errorf("listing snapshots of %s: %w", crp.Name, err)
			}
			parts = all.Items
		}
		out = append(out, fleetcost.PlacementFrom(crp.Name, kept, parts))
	}
	return out, nil
}

func writeCost(cmd *cobra.Command, r fleetcost.Report) error {
	w := cmd.OutOrStdout()
	money := func(v float64) string { return fleetcost.Money(r.Currency, v) }
	members := &table{headers: []string{"MEMBER", "PROVIDER", "TIER", "REGION", "CPU", "MEMORY", "CONTROL PLANE", "COMPUTE", "MONTHLY", "NOTE"}}
	for _, m := range r.Members {
		members.add(m.Name, m.Provider, orDash(m.Tier), orDash(m.Region), strconv.FormatFloat(m.CPU, 'f', -1, 64),
			strconv.FormatFloat(m.MemoryGiB, 'f', 1, 64)+"Gi", money(m.ControlPlane), money(m.Compute), money(m.Total), orDash(m.Note))
	}
	if err := members.write(w); err != nil {
		return err
	}
	if len(r.Placements) > 0 {
		fmt.Fprintln(w)
		pt := &table{headers: []string{"PLACEMENT", "COPIES", "CPU/COPY", "MEMORY/COPY", "MONTHLY", "MEMBERS", "NOT COUNTED"}}
		for _, p := range r.Placements {
			pt.add(p.Name, strconv.Itoa(p.Copies)+"×", strconv.FormatFloat(p.CPU, 'f', -1, 64), strconv.FormatFloat(p.MemoryGiB, 'f', 2, 64)+"Gi",
				money(p.Total), orDash(strings.Join(p.Members, ",")), orDash(strings.Join(p.Unpriced, "; ")))
		}
		if err := pt.write(w); err != nil {
			return err
		}
	}
	fmt.Fprintln(w)
	fmt.Fprintf(w, "Control plane: %s a month (%d members)\n", money(r.ControlPlane), len(r.Members))
	fmt.Fprintf(w, "Compute:       %s a month\n", money(r.Compute))
	fmt.Fprintf(w, "Hub:           %s a month\n", money(r.Hub))
	fmt.Fprintf(w, "Cross-region:  %s a month (%d regions)\n", money(r.CrossRegion), len(r.Regions))
	fmt.Fprintf(w, "Fleet total:   %s a month\n", money(r.Total))
	if c := r.Comparison; c != nil {
		fmt.Fprintln(w)
		fmt.Fprintln(w, c.Verdict)
	}
	return nil
}
