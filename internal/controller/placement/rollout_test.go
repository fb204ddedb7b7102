package placement

import (
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	fleetv1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/internal/placement/rolloutplan"
)

func TestWorkFactsCountOnlyTheCurrentGeneration(t *testing.T) {
	now := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	indexOf := func(name string) int32 {
		if i, ok := map[string]int32{"p-0": 0, "p-1": 1}[name]; ok {
			return i
		}
		return rolloutplan.NoSnapshot
	}
	work := func(snapshot string, conds ...metav1.Condition) *fleetv1.Work {
		w := &fleetv1.Work{Spec: fleetv1.WorkSpec{ResourceSnapshotName: snapshot}}
		w.Generation = 3
		w.Status.Conditions = conds
		return w
	}
	cond := func(typ string, gen int64) metav1.Condition {
		return metav1.Condition{Type: typ, Status: metav1.ConditionTrue, ObservedGeneration: gen, LastTransitionTime: metav1.NewTime(now)}
	}
	reported := rolloutplan.Condition{Status: metav1.ConditionTrue, Since: now}
	cases := []struct {
		name string
		work *fleetv1.Work
		want rolloutplan.Work
	}{
		{"current generation", work("p-1", cond(fleetv1.WorkApplied, 3), cond(fleetv1.WorkAvailable, 3)),
			rolloutplan.Work{SnapshotIndex: 1, Applied: reported, Available: reported}},
		{"an older generation is not reported", work("p-1", cond(fleetv1.WorkApplied, 3), cond(fleetv1.WorkAvailable, 2)),
			rolloutplan.Work{SnapshotIndex: 1, Applied: reported}},
		{"an agent without observedGeneration is trusted", work("p-0", cond(fleetv1.WorkAvailable, 0)),
			rolloutplan.Work{SnapshotIndex: 0, Available: reported}},
		{"a pruned snapshot is unknown", work("p-gone"), rolloutplan.Work{SnapshotIndex: rolloutplan.NoSnapshot}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := workFacts(tc.work, nil, indexOf); got != tc.want {
				t.Errorf("workFacts = %+v, want %+v", got, tc.want)
			}
		})
	}
}
