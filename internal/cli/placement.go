package cli

import (
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	placementv1 "github.com/flotilla-dev/flotilla/api/placement/v1"
)

func newPlacementCommand(g *globalOptions) *cobra.Command {
	cmd := &cobra.Command{
		Use:     "placement",
		Aliases: []string{"placements", "crp"},
		Short:   "Inspect and remove ClusterResourcePlacements (create them with 'flotilla apply -f')",
	}
	cmd.AddCommand(newPlacementListCommand(g), newPlacementShowCommand(g), newPlacementDeleteCommand(g))
	return cmd
}

// placementRow is one line of `placement list`.
type placementRow struct {
	Name      string `json:"name"`
	Type      string `json:"type"`
	Resources int    `json:"resources"`
	Clusters  int    `json:"clusters"`
	Applied   int    `json:"applied"`
	Available int    `json:"available"`
	Drifted   int    `json:"drifted"`
	Snapshot  string `json:"snapshot"`
	State     string `json:"state"`
	Age       string `json:"age"`
}

func placementType(p *placementv1.ClusterResourcePlacement) string {
	if p.Spec.Policy == nil || p.Spec.Policy.PlacementType == "" {
		return string(placementv1.PickAllPlacementType)
	}
	t := string(p.Spec.Policy.PlacementType)
	if p.Spec.Policy.PlacementType == placementv1.PickNPlacementType && p.Spec.Policy.NumberOfClusters != nil {
		t += fmt.Sprintf("(%d)", *p.Spec.Policy.NumberOfClusters)
	}
	return t
}

// placementState sums up the placement's conditions in one word.
func placementState(p *placementv1.ClusterResourcePlacement) string {
	if p.DeletionTimestamp != nil {
		return "Deleting"
	}
	order := []struct{ cond, ok string }{
		{placementv1.ClusterResourcePlacementScheduledConditionType, "Scheduled"},
		{placementv1.ClusterResourcePlacementWorkSynchronizedConditionType, "Synchronized"},
		{placementv1.ClusterResourcePlacementAppliedConditionType, "Applied"},
		{placementv1.ClusterResourcePlacementAvailableConditionType, "Available"},
	}
	state := "Pending"
	for _, o := range order {
		c := meta.FindStatusCondition(p.Status.Conditions, o.cond)
		if c == nil || c.ObservedGeneration != p.Generation {
			return state
		}
		if c.Status == metav1.ConditionFalse {
			return "Not" + o.ok
		}
		if c.Status != metav1.ConditionTrue {
			return state
		}
		state = o.ok
	}
	return state
}

func summarisePlacement(p *placementv1.ClusterResourcePlacement) placementRow {
	r := placementRow{
		Name: p.Name, Type: placementType(p), Resources: len(p.Status.SelectedResources),
		Snapshot: orDash(p.Status.ObservedResourceIndex), State: placementState(p), Age: age(p.CreationTimestamp),
	}
	for _, s := range p.Status.PlacementStatuses {
		if s.ClusterName == "" {
			continue
		}
		r.Clusters++
		if meta.IsStatusConditionTrue(s.Conditions, placementv1.ResourcesAppliedConditionType) {
			r.Applied++
		}
		if meta.IsStatusConditionTrue(s.Conditions, placementv1.ResourcesAvailableConditionType) {
			r.Available++
		}
		if len(s.DriftedPlacements) > 0 {
			r.Drifted++
		}
	}
	return r
}

func newPlacementListCommand(g *globalOptions) *cobra.Command {
	return &cobra.Command{
		Use:   "list",
		Short: "List placements: where they go and how far they got",
		Args:  cobra.NoArgs,
		RunE: onHub(g, func(cmd *cobra.Command, hub client.WithWatch) error {
			list := &placementv1.ClusterResourcePlacementList{}
			if err := hub.List(cmd.Context(), list); err != nil {
				return fmt.Errorf("listing placements: %w", err)
			}
			sort.Slice(list.Items, func(i, j int) bool { return list.Items[i].Name < list.Items[j].Name })
			if g.output != "table" {
				return render(cmd.OutOrStdout(), g.output, list.Items, nil)
			}
			if len(list.Items) == 0 {
				fmt.Fprintln(cmd.OutOrStdout(), "No placements on the hub. Create one with 'flotilla apply -f FILE'.")
				return nil
			}
			return render(cmd.OutOrStdout(), g.output, nil, func() *table {
				t := &table{headers: []string{"NAME", "TYPE", "RESOURCES", "CLUSTERS", "APPLIED", "AVAILABLE", "DRIFTED", "SNAPSHOT", "STATE", "AGE"}}
				for i := range list.Items {
					r := summarisePlacement(&list.Items[i])
					t.add(r.Name, r.Type, fmt.Sprint(r.Resources), fmt.Sprint(r.Clusters),
						fmt.Sprintf("%d/%d", r.Applied, r.Clusters), fmt.Sprintf("%d/%d", r.Available, r.Clusters),
						fmt.Sprint(r.Drifted), r.Snapshot, r.State, r.Age)
				}
				return t
			})
		}),
	}
}

func newPlacementShowCommand(g *globalOptions) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "show NAME",
		Short: "One placement: its resources and its state on every cluster, with drift and diffs",
	}
	return placementKind.onObject(g, cmd, func(cmd *cobra.Command, _ client.WithWatch, p *placementv1.ClusterResourcePlacement) error {
		if g.output != "table" {
			return render(cmd.OutOrStdout(), g.output, p, nil)
		}
		describePlacement(cmd.OutOrStdout(), p)
		return nil
	})
}

func resourceName(r placementv1.ResourceIdentifier) string {
	kind := r.Kind
	if r.Group != "" {
		kind += "." + r.Group
	}
	if r.Namespace != "" {
		return kind + " " + r.Namespace + "/" + r.Name
	}
	return kind + " " + r.Name
}

func describePlacement(w io.Writer, p *placementv1.ClusterResourcePlacement) {
	r := summarisePlacement(p)
	fmt.Fprintf(w, "Name:       %s\nType:       %s\nState:      %s\nSnapshot:   %s\nAge:        %s\n", p.Name, r.Type, r.State, r.Snapshot, r.Age)
	fmt.Fprintf(w, "\nSelected resources (%d):\n", len(p.Status.SelectedResources))
	for _, res := range p.Status.SelectedResources {
		fmt.Fprintf(w, "  %s\n", resourceName(res))
	}
	fmt.Fprintf(w, "\nConditions:\n")
	for _, c := range p.Status.Conditions {
		fmt.Fprintf(w, "  %-42s %-6s %s\n", c.Type, c.Status, c.Message)
	}
	fmt.Fprintf(w, "\nClusters (%d):\n", r.Clusters)
	t := &table{headers: []string{"  CLUSTER", "SCHEDULED", "APPLIED", "AVAILABLE", "SNAPSHOT", "MESSAGE"}}
	var details []string
	for _, s := range p.Status.PlacementStatuses {
		status := func(cond string) string {
			if c := meta.FindStatusCondition(s.Conditions, cond); c != nil {
				return string(c.Status)
			}
			return "-"
		}
		msg := ""
		for _, cond := range []string{placementv1.ResourcesAvailableConditionType, placementv1.ResourcesAppliedConditionType, placementv1.ResourceScheduledConditionType} {
			if c := meta.FindStatusCondition(s.Conditions, cond); c != nil && c.Status != metav1.ConditionTrue {
				msg = c.Message
			}
		}
		cluster := s.ClusterName
		if cluster == "" {
			cluster = "(unscheduled)"
			if c := meta.FindStatusCondition(s.Conditions, placementv1.ResourceScheduledConditionType); c != nil {
				msg = c.Message
			}
		}
		t.add("  "+cluster, status(placementv1.ResourceScheduledConditionType), status(placementv1.ResourcesAppliedConditionType),
			status(placementv1.ResourcesAvailableConditionType), orDash(s.ObservedResourceIndex), msg)
		for _, f := range s.FailedPlacements {
			details = append(details, fmt.Sprintf("  %s: failed %s: %s", cluster, resourceName(f.ResourceIdentifier), f.Condition.Message))
		}
		for _, d := range s.DriftedPlacements {
			details = append(details, fmt.Sprintf("  %s: drifted %s%s", cluster, resourceName(d.ResourceIdentifier), patchDetails(d.ObservedDrifts)))
		}
		for _, d := range s.DiffedPlacements {
			details = append(details, fmt.Sprintf("  %s: differs %s%s", cluster, resourceName(d.ResourceIdentifier), patchDetails(d.ObservedDiffs)))
		}
	}
	_ = t.write(w)
	if len(details) > 0 {
		fmt.Fprintf(w, "\nProblems:\n%s\n", strings.Join(details, "\n"))
	}
}

func patchDetails(ps []placementv1.PatchDetail) string {
	var b strings.Builder
	for _, p := range ps {
		fmt.Fprintf(&b, "\n      %s: member %s, hub %s", p.Path, orDash(p.ValueInMember), orDash(p.ValueInHub))
	}
	return b.String()
}

func newPlacementDeleteCommand(g *globalOptions) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "delete NAME",
		Short: "Delete a placement: what it placed is removed from every member (unless it says Abandon)",
	}
	return placementKind.onObject(g, cmd, func(cmd *cobra.Command, hub client.WithWatch, p *placementv1.ClusterResourcePlacement) error {
		if err := hub.Delete(cmd.Context(), p); err != nil {
			return fmt.Errorf("deleting placement %q: %w", p.Name, err)
		}
		fmt.Fprintf(cmd.OutOrStdout(), "placement %q deleted; members lose what it placed as their agents clean up\n", p.Name)
		return nil
	})
}
