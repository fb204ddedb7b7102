package fleetmetrics

import (
	"reflect"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	placementv1 "github.com/flotilla-dev/flotilla/api/placement/v1"
	fleetv1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
)

var t0 = time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)

func at(d time.Duration) *metav1.Time { t := metav1.NewTime(t0.Add(d)); return &t }

func cond(t string, ok bool) metav1.Condition {
	s := metav1.ConditionFalse
	if ok {
		s = metav1.ConditionTrue
	}
	return metav1.Condition{Type: t, Status: s}
}

func TestSamples(t *testing.T) {
	now := t0.Add(time.Minute)
	tests := []struct {
		name  string
		fleet Fleet
		want  []Sample
	}{
		{name: "empty fleet", fleet: Fleet{}, want: nil},
		{
			name: "a healthy hub-probed member and an unreachable agent member",
			fleet: Fleet{Members: []fleetv1.MemberCluster{
				{
					ObjectMeta: metav1.ObjectMeta{Name: "prod"},
					Spec:       fleetv1.MemberClusterSpec{UpdateGroup: "eu", Provider: &fleetv1.ProviderSpec{Type: fleetv1.ProviderAKS}},
					Status: fleetv1.MemberClusterStatus{
						KubernetesVersion: "v1.37.2", Nodes: fleetv1.NodeSummary{Total: 3, Ready: 2}, FailedPods: 4,
						Conditions:        []metav1.Condition{cond(fleetv1.MemberReachable, true), cond(fleetv1.MemberHealthy, true)},
						LastHeartbeatTime: at(30 * time.Second),
					},
				},
				{
					ObjectMeta: metav1.ObjectMeta{Name: "edge"},
					Status: fleetv1.MemberClusterStatus{
						Conditions: []metav1.Condition{cond(fleetv1.MemberReachable, false), cond(fleetv1.MemberAgentConnected, false)},
						// The later of the two heartbeats counts.
						LastHeartbeatTime: at(-time.Hour), AgentLastHeartbeatTime: at(50 * time.Second),
					},
				},
			}},
			want: []Sample{
				{MemberAgentConnected, []string{"edge"}, 0},
				{MemberFailedPods, []string{"edge"}, 0},
				{MemberFailedPods, []string{"prod"}, 4},
				{MemberHealthy, []string{"edge"}, 0},
				{MemberHealthy, []string{"prod"}, 1},
				{MemberHeartbeatAge, []string{"edge"}, 10},
				{MemberHeartbeatAge, []string{"prod"}, 30},
				{MemberInfo, []string{"edge", "", "", ""}, 1},
				{MemberInfo, []string{"prod", "eu", "v1.37.2", "AKS"}, 1},
				{MemberNodes, []string{"edge"}, 0},
				{MemberNodes, []string{"prod"}, 3},
				{MemberNodesReady, []string{"edge"}, 0},
				{MemberNodesReady, []string{"prod"}, 2},
				{MemberReachable, []string{"edge"}, 0},
				{MemberReachable, []string{"prod"}, 1},
			},
		},
		{
			name: "runs: state and members by state",
			fleet: Fleet{Runs: []fleetv1.UpdateRun{
				{ObjectMeta: metav1.ObjectMeta{Name: "fresh"}},
				{
					ObjectMeta: metav1.ObjectMeta{Name: "r1"},
					Status: fleetv1.UpdateRunStatus{
						Progress: fleetv1.Progress{State: fleetv1.StateRunning},
						Stages: []fleetv1.StageProgress{
							{Name: "canary", Groups: []fleetv1.GroupProgress{{Name: "g", Members: []fleetv1.MemberProgress{
								{Name: "a", Progress: fleetv1.Progress{State: fleetv1.StateCompleted}},
								{Name: "b", Progress: fleetv1.Progress{State: fleetv1.StateFailed}},
							}}}},
							{Name: "prod", Groups: []fleetv1.GroupProgress{{Name: "g", Members: []fleetv1.MemberProgress{
								{Name: "c", Progress: fleetv1.Progress{State: fleetv1.StateRunning}},
								{Name: "d"}, {Name: "e"},
							}}}},
						},
					},
				},
			}},
			want: []Sample{
				{RunMembers, []string{"r1", "Completed"}, 1},
				{RunMembers, []string{"r1", "Failed"}, 1},
				{RunMembers, []string{"r1", "NotStarted"}, 2},
				{RunMembers, []string{"r1", "Running"}, 1},
				{RunState, []string{"fresh", "NotStarted"}, 1},
				{RunState, []string{"r1", "Running"}, 1},
			},
		},
		{
			name: "works: per member, drifted and failed manifests per placement",
			fleet: Fleet{Works: []fleetv1.Work{
				{
					ObjectMeta: metav1.ObjectMeta{Name: "w1", Namespace: "flotilla-member-a"},
					Spec:       fleetv1.WorkSpec{Placement: "web"},
					Status: fleetv1.WorkStatus{Manifests: []fleetv1.ManifestStatus{
						{Drifts: []placementv1.PatchDetail{{Path: "/spec/replicas"}}, Conditions: []metav1.Condition{cond(fleetv1.WorkApplied, true)}},
						{Conditions: []metav1.Condition{cond(fleetv1.WorkApplied, false)}},
						{Conditions: []metav1.Condition{cond(fleetv1.WorkApplied, false)}},
					}},
				},
				{
					ObjectMeta: metav1.ObjectMeta{Name: "w2", Namespace: "flotilla-member-a"},
					Spec:       fleetv1.WorkSpec{Placement: "db"},
				},
				{
					ObjectMeta: metav1.ObjectMeta{Name: "w3", Namespace: "elsewhere", Labels: map[string]string{fleetv1.MemberClusterLabel: "b"}},
					Spec:       fleetv1.WorkSpec{Placement: "web"},
				},
				// In no member's namespace and unlabelled: not a member's.
				{ObjectMeta: metav1.ObjectMeta{Name: "stray", Namespace: "default"}},
			}},
			want: []Sample{
				{MemberWorks, []string{"a"}, 2},
				{MemberWorks, []string{"b"}, 1},
				{PlacementDrifted, []string{"db", "a"}, 0},
				{PlacementDrifted, []string{"web", "a"}, 1},
				{PlacementDrifted, []string{"web", "b"}, 0},
				{PlacementFailed, []string{"db", "a"}, 0},
				{PlacementFailed, []string{"web", "a"}, 2},
				{PlacementFailed, []string{"web", "b"}, 0},
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := Samples(tc.fleet, now)
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("Samples:\n got %v\nwant %v", got, tc.want)
			}
			for _, s := range got {
				if g, ok := gauges[s.Name]; !ok || len(g.labels) != len(s.LabelValues) {
					t.Errorf("%s%v does not match a gauge's labels", s.Name, s.LabelValues)
				}
			}
		})
	}
}

// TestNames checks that Names lists every metric the package defines.
func TestNames(t *testing.T) {
	defined := []string{MemberUpgradeDuration, StageDuration, GateWait, HealthChecks, PlacementLatency}
	for name := range gauges {
		defined = append(defined, name)
	}
	for _, n := range defined {
		found := false
		for _, m := range Names {
			found = found || m == n
		}
		if !found {
			t.Errorf("%s is not in Names", n)
		}
	}
}
