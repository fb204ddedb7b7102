package fleetmetrics

import (
	"reflect"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	fleetv1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
)

func progress(s fleetv1.State, start, end time.Duration) fleetv1.Progress {
	p := fleetv1.Progress{State: s, StartTime: at(start)}
	if end != 0 {
		p.CompletedTime = at(end)
	}
	return p
}

func run(stage fleetv1.Progress, gate fleetv1.Progress, checks *fleetv1.Progress, members ...fleetv1.MemberProgress) *fleetv1.UpdateRunStatus {
	return &fleetv1.UpdateRunStatus{Stages: []fleetv1.StageProgress{{
		Name: "s", Progress: stage,
		AfterGates: []fleetv1.GateProgress{{Name: "approve", Type: fleetv1.GateType("Approval"), Progress: gate}},
		Groups:     []fleetv1.GroupProgress{{Name: "g", Members: members, HealthChecks: checks}},
	}}}
}

func TestRunObservations(t *testing.T) {
	running := progress(fleetv1.StateRunning, 0, 0)
	member := func(name string, p fleetv1.Progress, checks *fleetv1.Progress) fleetv1.MemberProgress {
		return fleetv1.MemberProgress{Name: name, Progress: p, HealthChecks: checks}
	}
	done := progress(fleetv1.StateCompleted, 0, 10*time.Minute)
	failedChecks := progress(fleetv1.StateFailed, 0, time.Minute)
	tests := []struct {
		name          string
		before, after *fleetv1.UpdateRunStatus
		want          []Observation
	}{
		{
			name:   "nothing changed",
			before: run(running, fleetv1.Progress{}, nil, member("a", running, nil)),
			after:  run(running, fleetv1.Progress{}, nil, member("a", running, nil)),
		},
		{
			name:   "a member completes, another fails its checks",
			before: run(running, fleetv1.Progress{}, nil, member("a", running, nil), member("b", running, &running)),
			after: run(running, fleetv1.Progress{}, nil,
				member("a", progress(fleetv1.StateCompleted, time.Minute, 6*time.Minute), nil),
				member("b", progress(fleetv1.StateFailed, 0, 2*time.Minute), &failedChecks)),
			want: []Observation{
				{MemberUpgradeDuration, []string{"Completed"}, 300},
				{MemberUpgradeDuration, []string{"Failed"}, 120},
				{HealthChecks, []string{"Member", "Failed"}, 1},
			},
		},
		{
			name:   "a stage ends after its gate and group checks passed",
			before: run(running, progress(fleetv1.StatePending, 0, 0), &running, member("a", done, nil)),
			after: run(progress(fleetv1.StateCompleted, 0, 20*time.Minute), progress(fleetv1.StateCompleted, time.Minute, 16*time.Minute),
				&done, member("a", done, nil)),
			want: []Observation{
				{StageDuration, []string{"Completed"}, 1200},
				{GateWait, []string{"Approval"}, 900},
				{HealthChecks, []string{"Group", "Completed"}, 1},
			},
		},
		{
			name:   "a stage seen for the first time already ended (a hub that took over)",
			before: &fleetv1.UpdateRunStatus{},
			after:  run(progress(fleetv1.StateFailed, 0, time.Minute), fleetv1.Progress{}, nil),
			want:   []Observation{{StageDuration, []string{"Failed"}, 60}},
		},
		{
			name:   "an ended member without times observes nothing",
			before: run(running, fleetv1.Progress{}, nil, member("a", running, nil)),
			after:  run(running, fleetv1.Progress{}, nil, member("a", fleetv1.Progress{State: fleetv1.StateCompleted}, nil)),
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := RunObservations(tc.before, tc.after); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("RunObservations:\n got %v\nwant %v", got, tc.want)
			}
		})
	}
}

func TestPlacementObservations(t *testing.T) {
	snap := &fleetv1.ResourceSnapshot{ObjectMeta: metav1.ObjectMeta{Name: "web-0", CreationTimestamp: *at(0)}}
	work := func(snapshot string, conds ...metav1.Condition) *fleetv1.Work {
		return &fleetv1.Work{
			ObjectMeta: metav1.ObjectMeta{Name: "web", UID: "u1", Generation: 2},
			Spec:       fleetv1.WorkSpec{ResourceSnapshotName: snapshot},
			Status:     fleetv1.WorkStatus{Conditions: conds},
		}
	}
	c := func(t string, s metav1.ConditionStatus, gen int64, after time.Duration) metav1.Condition {
		return metav1.Condition{Type: t, Status: s, ObservedGeneration: gen, LastTransitionTime: *at(after)}
	}
	tests := []struct {
		name string
		work *fleetv1.Work
		want []Observation
	}{
		{name: "no Work", work: nil},
		{name: "a Work of another snapshot", work: work("web-1", c(fleetv1.WorkApplied, metav1.ConditionTrue, 2, time.Second))},
		{
			name: "applied, not available yet",
			work: work("web-0", c(fleetv1.WorkApplied, metav1.ConditionTrue, 2, 3*time.Second), c(fleetv1.WorkAvailable, metav1.ConditionFalse, 2, 3*time.Second)),
			want: []Observation{{PlacementLatency, []string{"m", "Applied"}, 3}},
		},
		{
			name: "both, one of an older generation",
			work: work("web-0", c(fleetv1.WorkApplied, metav1.ConditionTrue, 1, time.Second), c(fleetv1.WorkAvailable, metav1.ConditionTrue, 2, 8*time.Second)),
			want: []Observation{{PlacementLatency, []string{"m", "Available"}, 8}},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := PlacementObservations("m", snap, tc.work); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("PlacementObservations:\n got %v\nwant %v", got, tc.want)
			}
		})
	}

	// The observer records each once, and nothing that turned True before
	// it was made.
	p := NewPlacementObserver(t0.Add(2 * time.Second))
	member := "observer-test"
	w := work("web-0", c(fleetv1.WorkApplied, metav1.ConditionTrue, 2, time.Second), c(fleetv1.WorkAvailable, metav1.ConditionTrue, 2, 5*time.Second))
	for range 3 {
		p.Observe(member, snap, w)
	}
	if n := testutil.CollectAndCount(placementLatency.MustCurryWith(prometheus.Labels{"member": member})); n != 1 {
		t.Errorf("%d series for %s, want 1 (Available only)", n, member)
	}
	if got := observed(t, placementLatency.WithLabelValues(member, fleetv1.WorkAvailable)); got != 1 {
		t.Errorf("Available observed %d times, want 1", got)
	}
}

// observed is how many values histogram holds.
func observed(t *testing.T, histogram prometheus.Observer) uint64 {
	t.Helper()
	var m dto.Metric
	if err := histogram.(prometheus.Metric).Write(&m); err != nil {
		t.Fatal(err)
	}
	return m.GetHistogram().GetSampleCount()
}
