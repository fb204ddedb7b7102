package rolloutplan_test

import (
	"fmt"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"

	placementv1 "github.com/flotilla-dev/flotilla/api/placement/v1"
	fleetv1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/internal/placement/rolloutplan"
)

// A new snapshot reaches two available members one at a time, a third
// member is placed at once, and a member no longer picked is removed.
func ExampleMake() {
	now := time.Date(2026, time.November, 25, 12, 0, 0, 0, time.UTC)
	ready := rolloutplan.Condition{Status: metav1.ConditionTrue, Since: now.Add(-time.Hour)}
	plan := rolloutplan.Make(rolloutplan.Input{
		Picked: []rolloutplan.Pick{{Member: "eu-1"}, {Member: "eu-2"}, {Member: "us-1"}},
		Bindings: []rolloutplan.Binding{
			{Name: "app-eu-1", Member: "eu-1", State: fleetv1.BindingBound, SnapshotIndex: 0},
			{Name: "app-eu-2", Member: "eu-2", State: fleetv1.BindingBound, SnapshotIndex: 0},
			{Name: "app-dev-1", Member: "dev-1", State: fleetv1.BindingBound, SnapshotIndex: 0},
		},
		Works: map[string]rolloutplan.Work{
			"eu-1": {SnapshotIndex: 0, Applied: ready, Available: ready},
			"eu-2": {SnapshotIndex: 0, Applied: ready, Available: ready},
		},
		Strategy: placementv1.RolloutStrategy{RollingUpdate: &placementv1.RollingUpdateConfig{
			MaxUnavailable: ptr.To(intstr.FromInt32(2)),
		}},
		LatestIndex: 1,
		Now:         now,
	})
	for _, t := range plan.Targets {
		fmt.Printf("%s %s: %s at snapshot %d\n", t.Op, t.Member, t.State, t.SnapshotIndex)
	}
	for _, r := range plan.Removals {
		fmt.Printf("remove %s (%s)\n", r.Member, r.Name)
	}
	// Output:
	// Update eu-1: Bound at snapshot 1
	// Keep eu-2: Bound at snapshot 0
	// Create us-1: Bound at snapshot 1
	// remove dev-1 (app-dev-1)
}
