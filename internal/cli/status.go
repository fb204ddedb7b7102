package cli

import (
	"fmt"
	"sort"

	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	placementv1 "github.com/flotilla-dev/flotilla/api/placement/v1"
	fleetv1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
)

// memberRow is one line of `flotilla status`.
type memberRow struct {
	Name       string `json:"name"`
	Group      string `json:"group,omitempty"`
	Version    string `json:"version,omitempty"`
	ReadyNodes int32  `json:"readyNodes"`
	Nodes      int32  `json:"nodes"`
	FailedPods int32  `json:"failedPods"`
	Health     string `json:"health"`
	// Agent is the member agent's state in a hubful fleet: Connected,
	// Disconnected, or empty for a hubless member.
	Agent string `json:"agent,omitempty"`
	// Placements counts the placements that picked the member, and
	// PlacementsApplied those applied there.
	Placements        int    `json:"placements"`
	PlacementsApplied int    `json:"placementsApplied"`
	Age               string `json:"age"`
}

// fleetStatus is the fleet at a glance.
type fleetStatus struct {
	Members   []memberRow    `json:"members"`
	Versions  map[string]int `json:"versions"`
	Healthy   int            `json:"healthy"`
	Unhealthy int            `json:"unhealthy"`
}

func newStatusCommand(g *globalOptions) *cobra.Command {
	return &cobra.Command{
		Use:   "status",
		Short: "The fleet at a glance: every member's version, nodes, failed pods and health",
		Args:  cobra.NoArgs,
		RunE: onHub(g, func(cmd *cobra.Command, hub client.WithWatch) error {
			list := &fleetv1.MemberClusterList{}
			if err := hub.List(cmd.Context(), list); err != nil {
				return fmt.Errorf("listing members: %w", err)
			}
			st := summarise(list.Items)
			placements := &placementv1.ClusterResourcePlacementList{}
			if err := hub.List(cmd.Context(), placements); err != nil && !meta.IsNoMatchError(err) {
				return fmt.Errorf("listing placements: %w", err)
			}
			countPlacements(&st, placements.Items)
			return render(cmd.OutOrStdout(), g.output, st, func() *table {
				t := &table{headers: []string{"NAME", "GROUP", "VERSION", "NODES", "FAILED PODS", "HEALTH", "AGENT", "PLACEMENTS", "AGE"}}
				for _, r := range st.Members {
					placed := "-"
					if r.Placements > 0 {
						placed = fmt.Sprintf("%d/%d applied", r.PlacementsApplied, r.Placements)
					}
					t.add(r.Name, orDash(r.Group), orDash(r.Version), fmt.Sprintf("%d/%d", r.ReadyNodes, r.Nodes),
						fmt.Sprint(r.FailedPods), r.Health, orDash(r.Agent), placed, r.Age)
				}
				return t
			})
		}),
	}
}

func summarise(members []fleetv1.MemberCluster) fleetStatus {
	sort.Slice(members, func(i, j int) bool { return members[i].Name < members[j].Name })
	st := fleetStatus{Members: []memberRow{}, Versions: map[string]int{}}
	for i := range members {
		m := &members[i]
		row := memberRow{
			Name: m.Name, Group: m.Spec.UpdateGroup, Version: m.Status.KubernetesVersion,
			ReadyNodes: m.Status.Nodes.Ready, Nodes: m.Status.Nodes.Total,
			FailedPods: m.Status.FailedPods, Health: health(m), Age: age(m.CreationTimestamp),
		}
		if c := meta.FindStatusCondition(m.Status.Conditions, fleetv1.MemberAgentConnected); c != nil {
			row.Agent = "Disconnected"
			if c.Status == metav1.ConditionTrue {
				row.Agent = "Connected"
			}
		}
		st.Members = append(st.Members, row)
		if row.Version != "" {
			st.Versions[row.Version]++
		}
		if row.Health == "Healthy" {
			st.Healthy++
		} else {
			st.Unhealthy++
		}
	}
	return st
}

// countPlacements adds to each member row the placements that picked it.
func countPlacements(st *fleetStatus, placements []placementv1.ClusterResourcePlacement) {
	index := map[string]*memberRow{}
	for i := range st.Members {
		index[st.Members[i].Name] = &st.Members[i]
	}
	for _, p := range placements {
		for _, s := range p.Status.PlacementStatuses {
			row := index[s.ClusterName]
			if row == nil {
				continue
			}
			row.Placements++
			if meta.IsStatusConditionTrue(s.Conditions, placementv1.ResourcesAppliedConditionType) {
				row.PlacementsApplied++
			}
		}
	}
}
