package scheduling

import (
	"fmt"
	"reflect"
	"slices"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/utils/ptr"

	placementv1 "github.com/flotilla-dev/flotilla/api/placement/v1"
	fleetv1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/internal/placement/clusterselector"
)

// FuzzSchedule builds a fleet and a policy from the fuzzer's bytes and
// checks the invariants every answer must keep.
func FuzzSchedule(f *testing.F) {
	f.Add([]byte{3, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9})
	f.Add([]byte{1, 2, 200, 17, 33, 90, 1, 1, 1, 1, 1, 1, 250})
	f.Add([]byte{2, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37, 41, 43})
	f.Fuzz(func(t *testing.T, data []byte) {
		in := fuzzInput(data)
		got := Schedule(in)
		again := Schedule(in)
		if !reflect.DeepEqual(got, again) {
			t.Fatalf("not deterministic:\n%+v\n%+v", got, again)
		}
		// The order members are listed in must not matter either.
		reversed := in
		reversed.Members = slices.Clone(in.Members)
		slices.Reverse(reversed.Members)
		if r := Schedule(reversed); !reflect.DeepEqual(got, r) {
			t.Fatalf("depends on the member order:\n%+v\n%+v", got, r)
		}
		byName := map[string]Member{}
		for _, m := range in.Members {
			byName[m.Name] = m
		}
		seen := map[string]bool{}
		for _, d := range got.Picked {
			if seen[d.Member] {
				t.Fatalf("%s picked twice", d.Member)
			}
			seen[d.Member] = true
			m, ok := byName[d.Member]
			if !ok {
				t.Fatalf("picked %s, which is not a member", d.Member)
			}
			if !m.Eligible && !m.Unreachable {
				t.Fatalf("picked ineligible %s", d.Member)
			}
			if in.Policy.PlacementType == placementv1.PickFixedPlacementType {
				continue
			}
			ok, _ = clusterselector.Matches(in.Policy.Affinity.ClusterAffinity.RequiredDuringSchedulingIgnoredDuringExecution,
				clusterselector.Cluster{Labels: m.Labels, Properties: m.Properties})
			if !ok {
				t.Fatalf("picked %s, which does not match the required affinity", d.Member)
			}
			if _, ok := untolerated(m.Taints, in.Policy.Tolerations); !ok {
				t.Fatalf("picked %s, whose taints are not tolerated", d.Member)
			}
		}
		if in.Policy.PlacementType == placementv1.PickNPlacementType && len(got.Picked) > int(*in.Policy.NumberOfClusters) {
			t.Fatalf("picked %d, more than %d", len(got.Picked), *in.Policy.NumberOfClusters)
		}
		for _, u := range got.Unschedule {
			if seen[u] {
				t.Fatalf("%s both picked and unscheduled", u)
			}
			if s, ok := in.Bound[u]; !ok || s == fleetv1.BindingUnscheduled {
				t.Fatalf("unscheduled %s, which was not bound", u)
			}
		}
	})
}

// fuzzInput turns bytes into a small fleet: each member takes a few bytes
// for its region, tier, cpu, taint and health.
func fuzzInput(data []byte) Input {
	next := func() byte {
		if len(data) == 0 {
			return 0
		}
		b := data[0]
		data = data[1:]
		return b
	}
	kind := next() % 3
	n := int32(next() % 6)
	policy := &placementv1.PlacementPolicy{
		Affinity: requireLabels(),
	}
	policy.Affinity.ClusterAffinity.RequiredDuringSchedulingIgnoredDuringExecution.ClusterSelectorTerms[0].PropertySelector =
		&placementv1.PropertySelector{MatchExpressions: []placementv1.PropertySelectorRequirement{{Name: "cpu", Operator: "Ge", Values: []string{fmt.Sprint(next() % 4)}}}}
	policy.Affinity.ClusterAffinity.PreferredDuringSchedulingIgnoredDuringExecution = []placementv1.PreferredClusterSelector{
		preferLabel(int32(next()%201)-100, "tier", "gold"),
		{Weight: int32(next() % 101), Preference: placementv1.ClusterSelectorTerm{PropertySorter: &placementv1.PropertySorter{Name: "cpu", SortOrder: placementv1.Descending}}},
	}
	if next()%2 == 0 {
		policy.Tolerations = []placementv1.Toleration{{Key: "spot", Operator: placementv1.TolerationOpExists}}
	}
	switch kind {
	case 0:
		policy.PlacementType = placementv1.PickAllPlacementType
	case 1:
		policy.PlacementType = placementv1.PickNPlacementType
		policy.NumberOfClusters = ptr.To(n)
		when := placementv1.DoNotSchedule
		if next()%2 == 0 {
			when = placementv1.ScheduleAnyway
		}
		policy.TopologySpreadConstraints = []placementv1.TopologySpreadConstraint{{TopologyKey: "region", MaxSkew: ptr.To(int32(next()%3 + 1)), WhenUnsatisfiable: when}}
	case 2:
		policy.PlacementType = placementv1.PickFixedPlacementType
		policy.Affinity = nil
		for i := 0; i < int(n); i++ {
			policy.ClusterNames = append(policy.ClusterNames, fmt.Sprintf("m%d", next()%12))
		}
	}
	in := Input{Policy: policy, Bound: map[string]fleetv1.BindingState{}, UnreachableGrace: 5 * time.Minute}
	count := int(next() % 12)
	for i := 0; i < count; i++ {
		b := next()
		m := member(fmt.Sprintf("m%d", i), "region", fmt.Sprint("r", b%3))
		if b&8 != 0 {
			m.Labels["tier"] = "gold"
		}
		m.Properties["cpu"] = fmt.Sprint(next() % 8)
		if b&16 != 0 {
			m.Taints = []fleetv1.Taint{{Key: "spot", Effect: corev1.TaintEffectNoSchedule}}
		}
		switch h := next() % 4; h {
		case 1:
			m.Eligible = false
		case 2:
			m = unreachable(m, time.Duration(next())*time.Minute/16)
		}
		if b&32 != 0 {
			in.Bound[m.Name] = fleetv1.BindingBound
		}
		in.Members = append(in.Members, m)
	}
	if next()%2 == 0 {
		in.Bound["departed"] = fleetv1.BindingBound
	}
	return in
}
