package rolloutplan

import (
	"reflect"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"

	placementv1 "github.com/flotilla-dev/flotilla/api/placement/v1"
	fleetv1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
)

// t0 is a Wednesday noon, UTC.
var t0 = time.Date(2026, time.November, 25, 12, 0, 0, 0, time.UTC)

// Builders that keep the tables short.

func picks(members ...string) []Pick {
	out := make([]Pick, 0, len(members))
	for _, m := range members {
		out = append(out, Pick{Member: m, Reason: "picked"})
	}
	return out
}

func bound(member string, snapshot int32) Binding {
	return Binding{Name: "b-" + member, Member: member, State: fleetv1.BindingBound, SnapshotIndex: snapshot, Reason: "picked"}
}

func withState(b Binding, s fleetv1.BindingState) Binding { b.State = s; return b }

// availableAt is a Work on snapshot that reported Available.
func availableAt(snapshot int32) Work {
	return Work{SnapshotIndex: snapshot,
		Applied:   Condition{Status: metav1.ConditionTrue, Since: t0.Add(-time.Hour)},
		Available: Condition{Status: metav1.ConditionTrue, Since: t0.Add(-time.Hour)}}
}

// appliedAgo is a Work on snapshot applied ago, without availability signal.
func appliedAgo(snapshot int32, ago time.Duration) Work {
	return Work{SnapshotIndex: snapshot, Applied: Condition{Status: metav1.ConditionTrue, Since: t0.Add(-ago)}}
}

func rolling(maxUnavailable *intstr.IntOrString) placementv1.RolloutStrategy {
	return placementv1.RolloutStrategy{Type: placementv1.RollingUpdateRolloutStrategyType,
		RollingUpdate: &placementv1.RollingUpdateConfig{MaxUnavailable: maxUnavailable}}
}

func target(op Op, member string, snapshot int32) Target {
	t := Target{Op: op, Member: member, State: fleetv1.BindingBound, SnapshotIndex: snapshot, Reason: "picked"}
	if op != Create {
		t.Name = "b-" + member
	}
	return t
}

func TestMake(t *testing.T) {
	cases := []struct {
		name string
		in   Input
		want Plan
	}{{
		name: "a member picked for the first time gets the newest snapshot",
		in:   Input{Picked: picks("a"), LatestIndex: 2},
		want: Plan{Targets: []Target{target(Create, "a", 2)}},
	}, {
		name: "a settled placement changes nothing",
		in: Input{Picked: picks("a", "b"), Bindings: []Binding{bound("a", 2), bound("b", 2)},
			Works: map[string]Work{"a": availableAt(2), "b": availableAt(2)}, LatestIndex: 2},
		want: Plan{Targets: []Target{target(Keep, "a", 2), target(Keep, "b", 2)}},
	}, {
		name: "a new reason or score is written, the snapshot kept",
		in: Input{Picked: []Pick{{Member: "a", Reason: "new", Score: 7}}, Bindings: []Binding{bound("a", 1)},
			Works: map[string]Work{"a": availableAt(1)}, LatestIndex: 1},
		want: Plan{Targets: []Target{{Op: Update, Member: "a", Name: "b-a", State: fleetv1.BindingBound, SnapshotIndex: 1, Reason: "new", Score: 7}}},
	}, {
		name: "re-picked while being removed: the newest at once",
		in: Input{Picked: picks("a"), Bindings: []Binding{withState(bound("a", 0), fleetv1.BindingUnscheduled)},
			Works: map[string]Work{"a": availableAt(0)}, LatestIndex: 3, Strategy: rolling(ptr.To(intstr.FromInt32(1)))},
		want: Plan{Targets: []Target{target(Update, "a", 3)}},
	}, {
		name: "a Scheduled binding becomes Bound to the newest",
		in:   Input{Picked: picks("a"), Bindings: []Binding{withState(bound("a", 1), fleetv1.BindingScheduled)}, LatestIndex: 1},
		want: Plan{Targets: []Target{target(Update, "a", 1)}},
	}, {
		name: "a pruned snapshot is replaced by the newest, even with External",
		in: Input{Picked: picks("a"), Bindings: []Binding{bound("a", NoSnapshot)}, LatestIndex: 5,
			Strategy: placementv1.RolloutStrategy{Type: placementv1.ExternalRolloutStrategyType}},
		want: Plan{Targets: []Target{target(Update, "a", 5)}},
	}, {
		name: "only maxUnavailable available members move at once",
		in: Input{Picked: picks("a", "b", "c", "d"),
			Bindings:    []Binding{bound("a", 0), bound("b", 0), bound("c", 0), bound("d", 0)},
			Works:       map[string]Work{"a": availableAt(0), "b": availableAt(0), "c": availableAt(0), "d": availableAt(0)},
			LatestIndex: 1, Strategy: rolling(ptr.To(intstr.FromInt32(2)))},
		want: Plan{Targets: []Target{target(Update, "a", 1), target(Update, "b", 1), target(Keep, "c", 0), target(Keep, "d", 0)}},
	}, {
		name: "a member still unavailable on the newest uses up the budget",
		in: Input{Picked: picks("a", "b", "c"),
			Bindings:    []Binding{bound("a", 1), bound("b", 0), bound("c", 0)},
			Works:       map[string]Work{"a": appliedAgo(1, 10*time.Second), "b": availableAt(0), "c": availableAt(0)},
			LatestIndex: 1, Strategy: rolling(ptr.To(intstr.FromInt32(1)))},
		want: Plan{Targets: []Target{target(Keep, "a", 1), target(Keep, "b", 0), target(Keep, "c", 0)}, RecheckAfter: 50 * time.Second},
	}, {
		name: "an unavailable member behind moves for free",
		in: Input{Picked: picks("a", "b", "c"),
			Bindings:    []Binding{bound("a", 1), bound("b", 0), bound("c", 0)},
			Works:       map[string]Work{"a": appliedAgo(1, time.Second), "b": {SnapshotIndex: 0}, "c": availableAt(0)},
			LatestIndex: 1, Strategy: rolling(ptr.To(intstr.FromInt32(1)))},
		want: Plan{Targets: []Target{target(Keep, "a", 1), target(Update, "b", 1), target(Keep, "c", 0)}, RecheckAfter: 59 * time.Second},
	}, {
		name: "applied long enough counts as available",
		in: Input{Picked: picks("a", "b"),
			Bindings:    []Binding{bound("a", 1), bound("b", 0)},
			Works:       map[string]Work{"a": appliedAgo(1, time.Minute), "b": availableAt(0)},
			LatestIndex: 1, Strategy: rolling(ptr.To(intstr.FromInt32(1)))},
		want: Plan{Targets: []Target{target(Keep, "a", 1), target(Update, "b", 1)}},
	}, {
		name: "the default budget is 25% of the picked members, at least one",
		in: Input{Picked: picks("a", "b", "c"),
			Bindings:    []Binding{bound("a", 0), bound("b", 0), bound("c", 0)},
			Works:       map[string]Work{"a": availableAt(0), "b": availableAt(0), "c": availableAt(0)},
			LatestIndex: 1},
		want: Plan{Targets: []Target{target(Update, "a", 1), target(Keep, "b", 0), target(Keep, "c", 0)}},
	}, {
		name: "External moves no member that holds a snapshot, but places new ones",
		in: Input{Picked: picks("a", "b"), Bindings: []Binding{bound("a", 0)},
			Works: map[string]Work{"a": availableAt(0)}, LatestIndex: 1,
			Strategy: placementv1.RolloutStrategy{Type: placementv1.ExternalRolloutStrategyType}},
		want: Plan{Targets: []Target{target(Keep, "a", 0), target(Create, "b", 1)}},
	}, {
		name: "members no longer picked are removed, in name order",
		in: Input{Picked: picks("b"),
			Bindings:    []Binding{bound("c", 0), bound("b", 0), withState(bound("a", 0), fleetv1.BindingUnscheduled)},
			Works:       map[string]Work{"b": availableAt(0)},
			LatestIndex: 0},
		want: Plan{Targets: []Target{target(Keep, "b", 0)},
			Removals: []Removal{{Name: "b-a", Member: "a"}, {Name: "b-c", Member: "c", MarkUnscheduled: true}}},
	}, {
		name: "of two bindings for one member the smaller name is kept, the other deleted",
		in: Input{Picked: picks("a"),
			Bindings:    []Binding{{Name: "b-a-1f2e", Member: "a", State: fleetv1.BindingBound, SnapshotIndex: 0, Reason: "picked"}, bound("a", 0)},
			Works:       map[string]Work{"a": availableAt(0)},
			LatestIndex: 0},
		want: Plan{Targets: []Target{target(Keep, "a", 0)}, Duplicates: []string{"b-a-1f2e"}},
	}, {
		name: "a Work of another snapshot does not make a new member available",
		in: Input{Picked: picks("a", "b"), Bindings: []Binding{bound("b", 0)},
			Works: map[string]Work{"a": availableAt(0), "b": availableAt(0)}, LatestIndex: 1,
			Strategy: rolling(ptr.To(intstr.FromInt32(1)))},
		want: Plan{Targets: []Target{target(Create, "a", 1), target(Keep, "b", 0)}},
	}, {
		name: "a new member whose Work already holds the newest counts as available",
		in: Input{Picked: picks("a", "b"), Bindings: []Binding{bound("b", 0)},
			Works: map[string]Work{"a": availableAt(1), "b": availableAt(0)}, LatestIndex: 1,
			Strategy: rolling(ptr.To(intstr.FromInt32(1)))},
		want: Plan{Targets: []Target{target(Create, "a", 1), target(Update, "b", 1)}},
	}}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tc.in.Now = t0
			if tc.in.Strategy.Type == "" {
				tc.in.Strategy.Type = placementv1.RollingUpdateRolloutStrategyType
			}
			got := Make(tc.in)
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("Make:\n got %+v\nwant %+v", got, tc.want)
			}
		})
	}
}

func TestMaxSurgeIsIgnored(t *testing.T) {
	in := Input{Picked: picks("a", "b"), Bindings: []Binding{bound("a", 0), bound("b", 0)},
		Works: map[string]Work{"a": availableAt(0), "b": availableAt(0)}, LatestIndex: 1, Now: t0,
		Strategy: rolling(ptr.To(intstr.FromInt32(1)))}
	without := Make(in)
	in.Strategy.RollingUpdate.MaxSurge = ptr.To(intstr.FromString("100%"))
	if with := Make(in); !reflect.DeepEqual(with, without) {
		t.Fatalf("maxSurge changed the plan:\n%+v\n%+v", with, without)
	}
}

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
		{ptr.To(intstr.FromInt32(5)), 0, 5},
	}
	for _, tc := range cases {
		s := placementv1.RolloutStrategy{}
		if tc.value != nil {
			s.RollingUpdate = &placementv1.RollingUpdateConfig{MaxUnavailable: tc.value}
		}
		if got := MaxUnavailable(s, tc.picked); got != tc.want {
			t.Errorf("MaxUnavailable(%v, %d) = %d, want %d", tc.value, tc.picked, got, tc.want)
		}
	}
}

func TestUnavailablePeriod(t *testing.T) {
	if got := UnavailablePeriod(placementv1.RolloutStrategy{}); got != time.Minute {
		t.Errorf("default %s", got)
	}
	s := placementv1.RolloutStrategy{RollingUpdate: &placementv1.RollingUpdateConfig{UnavailablePeriodSeconds: ptr.To(5)}}
	if got := UnavailablePeriod(s); got != 5*time.Second {
		t.Errorf("5 s: %s", got)
	}
}

func TestAvailable(t *testing.T) {
	cond := func(s metav1.ConditionStatus, ago time.Duration) Condition {
		return Condition{Status: s, Since: t0.Add(-ago)}
	}
	cases := []struct {
		name     string
		work     *Work
		want     bool
		wantWait time.Duration
	}{
		{"no Work", nil, false, 0},
		{"Work of an older snapshot", &Work{SnapshotIndex: 0, Available: cond("True", time.Hour)}, false, 0},
		{"Work of an unknown snapshot", &Work{SnapshotIndex: NoSnapshot, Available: cond("True", time.Hour)}, false, 0},
		{"Available", &Work{SnapshotIndex: 1, Available: cond("True", 0)}, true, 0},
		{"nothing reported", &Work{SnapshotIndex: 1}, false, 0},
		{"Applied long enough", &Work{SnapshotIndex: 1, Applied: cond("True", time.Minute)}, true, 0},
		{"Applied not long enough", &Work{SnapshotIndex: 1, Applied: cond("True", 20*time.Second)}, false, 40 * time.Second},
		{"Available False", &Work{SnapshotIndex: 1, Available: cond("False", time.Hour), Applied: cond("False", time.Hour)}, false, 0},
		{"Applied long enough counts even beside Available False (as today)", &Work{SnapshotIndex: 1, Available: cond("False", time.Hour), Applied: cond("True", time.Hour)}, true, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var w Work
			if tc.work != nil {
				w = *tc.work
			}
			got, wait := available(1, w, tc.work != nil, time.Minute, t0)
			if got != tc.want || wait != tc.wantWait {
				t.Errorf("available = %v, %s; want %v, %s", got, wait, tc.want, tc.wantWait)
			}
		})
	}
}
