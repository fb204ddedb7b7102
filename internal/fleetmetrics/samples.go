package fleetmetrics

import (
	"sort"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	fleetv1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
)

// gauge describes one gauge the Collector reports.
type gauge struct {
	help   string
	labels []string
}

// gauges are the gauges read from the fleet's objects, by name.
var gauges = map[string]gauge{
	MemberInfo:           {"A member cluster, 1 for each: its update group, Kubernetes version and provider.", []string{"member", "group", "version", "provider"}},
	MemberNodes:          {"Nodes of the member, as its last probe counted them.", []string{"member"}},
	MemberNodesReady:     {"Ready nodes of the member, as its last probe counted them.", []string{"member"}},
	MemberFailedPods:     {"Pods in phase Failed on the member, as its last probe counted them.", []string{"member"}},
	MemberReachable:      {"1 when the member's Reachable condition is True, else 0.", []string{"member"}},
	MemberHealthy:        {"1 when the member's Healthy condition is True, else 0.", []string{"member"}},
	MemberAgentConnected: {"1 when the member's AgentConnected condition is True, else 0; only members that have an agent.", []string{"member"}},
	MemberHeartbeatAge:   {"Seconds since the member's last heartbeat (hub probe or agent, the later).", []string{"member"}},
	MemberWorks:          {"Works in the member's hub namespace.", []string{"member"}},
	RunState:             {"An update run, 1 for its current state.", []string{"run", "state"}},
	RunMembers:           {"Members of an update run by their state in it.", []string{"run", "state"}},
	PlacementDrifted:     {"Manifests of a placement on a member that drifted from the hub's copy.", []string{"placement", "member"}},
	PlacementFailed:      {"Manifests of a placement on a member whose Applied condition is False.", []string{"placement", "member"}},
}

// Fleet is what the gauges are read from.
type Fleet struct {
	Members []fleetv1.MemberCluster
	Runs    []fleetv1.UpdateRun
	Works   []fleetv1.Work
}

// Sample is one gauge value; LabelValues follow the gauge's label names.
type Sample struct {
	Name        string
	LabelValues []string
	Value       float64
}

// Samples are the gauges' values for fleet at now, sorted by name then
// labels.
func Samples(fleet Fleet, now time.Time) []Sample {
	var out []Sample
	add := func(name string, v float64, labels ...string) {
		out = append(out, Sample{Name: name, LabelValues: labels, Value: v})
	}
	for i := range fleet.Members {
		m := &fleet.Members[i]
		provider := ""
		if m.Spec.Provider != nil {
			provider = string(m.Spec.Provider.Type)
		}
		add(MemberInfo, 1, m.Name, m.Spec.UpdateGroup, m.Status.KubernetesVersion, provider)
		add(MemberNodes, float64(m.Status.Nodes.Total), m.Name)
		add(MemberNodesReady, float64(m.Status.Nodes.Ready), m.Name)
		add(MemberFailedPods, float64(m.Status.FailedPods), m.Name)
		add(MemberReachable, isTrue(m.Status.Conditions, fleetv1.MemberReachable), m.Name)
		add(MemberHealthy, isTrue(m.Status.Conditions, fleetv1.MemberHealthy), m.Name)
		if meta.FindStatusCondition(m.Status.Conditions, fleetv1.MemberAgentConnected) != nil {
			add(MemberAgentConnected, isTrue(m.Status.Conditions, fleetv1.MemberAgentConnected), m.Name)
		}
		if last := later(m.Status.LastHeartbeatTime, m.Status.AgentLastHeartbeatTime); last != nil {
			add(MemberHeartbeatAge, max(now.Sub(last.Time).Seconds(), 0), m.Name)
		}
	}
	for i := range fleet.Runs {
		r := &fleet.Runs[i]
		add(RunState, 1, r.Name, string(orNotStarted(r.Status.State)))
		for state, n := range membersByState(&r.Status) {
			add(RunMembers, float64(n), r.Name, string(state))
		}
	}
	works := map[string]int{}
	type key struct{ placement, member string }
	drifted, failed := map[key]int{}, map[key]int{}
	for i := range fleet.Works {
		w := &fleet.Works[i]
		member := WorkMember(w)
		if member == "" {
			continue
		}
		works[member]++
		k := key{w.Spec.Placement, member}
		drifted[k] += 0
		failed[k] += 0
		for _, ms := range w.Status.Manifests {
			if len(ms.Drifts) > 0 {
				drifted[k]++
			}
			if c := meta.FindStatusCondition(ms.Conditions, fleetv1.WorkApplied); c != nil && c.Status == metav1.ConditionFalse {
				failed[k]++
			}
		}
	}
	for member, n := range works {
		add(MemberWorks, float64(n), member)
	}
	for k, n := range drifted {
		add(PlacementDrifted, float64(n), k.placement, k.member)
	}
	for k, n := range failed {
		add(PlacementFailed, float64(n), k.placement, k.member)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Name != out[j].Name {
			return out[i].Name < out[j].Name
		}
		return strings.Join(out[i].LabelValues, "\x00") < strings.Join(out[j].LabelValues, "\x00")
	})
	return out
}

// WorkMember is the member a Work is for: its member label, else its hub
// namespace; "" for a Work in no member's namespace.
func WorkMember(w *fleetv1.Work) string {
	if m := w.Labels[fleetv1.MemberClusterLabel]; m != "" {
		return m
	}
	if m, ok := strings.CutPrefix(w.Namespace, fleetv1.MemberNamespacePrefix); ok {
		return m
	}
	return ""
}

// membersByState counts a run's members by their state; a member not
// started yet counts as NotStarted.
func membersByState(st *fleetv1.UpdateRunStatus) map[fleetv1.State]int {
	out := map[fleetv1.State]int{}
	for _, s := range st.Stages {
		for _, g := range s.Groups {
			for _, m := range g.Members {
				out[orNotStarted(m.State)]++
			}
		}
	}
	return out
}

func orNotStarted(s fleetv1.State) fleetv1.State {
	if s == "" {
		return fleetv1.StateNotStarted
	}
	return s
}

func isTrue(conds []metav1.Condition, t string) float64 {
	if meta.IsStatusConditionTrue(conds, t) {
		return 1
	}
	return 0
}

func later(a, b *metav1.Time) *metav1.Time {
	switch {
	case a == nil:
		return b
	case b == nil || a.After(b.Time):
		return a
	}
	return b
}
