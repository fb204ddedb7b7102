package placement

import (
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"

	placementv1 "github.com/flotilla-dev/flotilla/api/placement/v1"
	fleetv1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
)

func TestMaxUnavailable(t *testing.T) {
	cases := []struct {
		value  *intstr.IntOrString
		picked int
		want   int
	}{
		{nil, 4, 1},  // 25% of 4
		{nil, 2, 1},  // 25% of 2 rounds down to 0, at least 1
		{nil, 10, 2}, // 25% of 10 rounds down
		{ptr.To(intstr.FromInt32(3)), 10, 3},
		{ptr.To(intstr.FromString("50%")), 10, 5},
		{ptr.To(intstr.FromInt32(0)), 10, 1},
		{ptr.To(intstr.FromString("bogus")), 10, 1},
	}
	for _, tc := range cases {
		crp := &placementv1.ClusterResourcePlacement{}
		if tc.value != nil {
			crp.Spec.Strategy.RollingUpdate = &placementv1.RollingUpdateConfig{MaxUnavailable: tc.value}
		}
		if got := maxUnavailable(crp, tc.picked); got != tc.want {
			t.Errorf("maxUnavailable(%v, %d) = %d, want %d", tc.value, tc.picked, got, tc.want)
		}
	}
}

func TestAvailable(t *testing.T) {
	now := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	binding := &fleetv1.ResourceBinding{Spec: fleetv1.ResourceBindingSpec{ResourceSnapshotName: "p-1"}}
	work := func(snapshot string, conds ...metav1.Condition) *fleetv1.Work {
		w := &fleetv1.Work{Spec: fleetv1.WorkSpec{ResourceSnapshotName: snapshot}}
		w.Generation = 3
		w.Status.Conditions = conds
		return w
	}
	cond := func(typ string, s metav1.ConditionStatus, gen int64, ago time.Duration) metav1.Condition {
		return metav1.Condition{Type: typ, Status: s, ObservedGeneration: gen, LastTransitionTime: metav1.NewTime(now.Add(-ago))}
	}
	cases := []struct {
		name     string
		work     *fleetv1.Work
		want     bool
		wantWait time.Duration
	}{
		{"no Work", nil, false, 0},
		{"Work of an older snapshot", work("p-0", cond("Available", "True", 3, time.Hour)), false, 0},
		{"Available", work("p-1", cond("Available", "True", 3, 0)), true, 0},
		{"Available for an older generation", work("p-1", cond("Available", "True", 2, 0)), false, 0},
		{"agent without observedGeneration is trusted", work("p-1", cond("Available", "True", 0, 0)), true, 0},
		{"Applied long enough", work("p-1", cond("Applied", "True", 3, time.Minute)), true, 0},
		{"Applied not long enough", work("p-1", cond("Applied", "True", 3, 20*time.Second)), false, 40 * time.Second},
		{"Available False", work("p-1", cond("Available", "False", 3, time.Hour)), false, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, wait := available(binding, tc.work, time.Minute, now)
			if got != tc.want || wait != tc.wantWait {
				t.Errorf("available = %v, %s; want %v, %s", got, wait, tc.want, tc.wantWait)
			}
		})
	}
}
