package scheduling

import (
	"reflect"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	placementv1 "github.com/flotilla-dev/flotilla/api/placement/v1"
	fleetv1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
)

func member(name string, labels ...string) Member {
	m := Member{Name: name, Labels: map[string]string{}, Properties: map[string]string{}, Eligible: true}
	for i := 0; i+1 < len(labels); i += 2 {
		m.Labels[labels[i]] = labels[i+1]
	}
	return m
}

func withProps(m Member, kv ...string) Member {
	for i := 0; i+1 < len(kv); i += 2 {
		m.Properties[kv[i]] = kv[i+1]
	}
	return m
}

func tainted(m Member, key, value string, effect corev1.TaintEffect) Member {
	m.Taints = append(m.Taints, fleetv1.Taint{Key: key, Value: value, Effect: effect})
	return m
}

func unreachable(m Member, d time.Duration) Member {
	m.Eligible, m.Unreachable, m.UnreachableFor = false, true, d
	return m
}

func requireLabels(kv ...string) *placementv1.Affinity {
	ml := map[string]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		ml[kv[i]] = kv[i+1]
	}
	return &placementv1.Affinity{ClusterAffinity: &placementv1.ClusterAffinity{
		RequiredDuringSchedulingIgnoredDuringExecution: &placementv1.ClusterSelector{
			ClusterSelectorTerms: []placementv1.ClusterSelectorTerm{{LabelSelector: &metav1.LabelSelector{MatchLabels: ml}}},
		},
	}}
}

func prefer(prefs ...placementv1.PreferredClusterSelector) *placementv1.Affinity {
	return &placementv1.Affinity{ClusterAffinity: &placementv1.ClusterAffinity{PreferredDuringSchedulingIgnoredDuringExecution: prefs}}
}

func preferLabel(weight int32, k, v string) placementv1.PreferredClusterSelector {
	return placementv1.PreferredClusterSelector{Weight: weight, Preference: placementv1.ClusterSelectorTerm{
		LabelSelector: &metav1.LabelSelector{MatchLabels: map[string]string{k: v}},
	}}
}

func pickN(n int32, mods ...func(*placementv1.PlacementPolicy)) *placementv1.PlacementPolicy {
	p := &placementv1.PlacementPolicy{PlacementType: placementv1.PickNPlacementType, NumberOfClusters: ptr.To(n)}
	for _, m := range mods {
		m(p)
	}
	return p
}

func spreadBy(key string, skew int32, when placementv1.UnsatisfiableConstraintAction) func(*placementv1.PlacementPolicy) {
	return func(p *placementv1.PlacementPolicy) {
		p.TopologySpreadConstraints = append(p.TopologySpreadConstraints, placementv1.TopologySpreadConstraint{
			TopologyKey: key, MaxSkew: ptr.To(skew), WhenUnsatisfiable: when,
		})
	}
}

func bound(names ...string) map[string]fleetv1.BindingState {
	b := map[string]fleetv1.BindingState{}
	for _, n := range names {
		b[n] = fleetv1.BindingBound
	}
	return b
}

func names(ds []Decision) []string {
	out := []string{}
	for _, d := range ds {
		out = append(out, d.Member)
	}
	return out
}

func TestSchedule(t *testing.T) {
	prodPCI := []string{"region", "prod", "compliance", "pci"}
	cases := []struct {
		name           string
		in             Input
		wantPicked     []string
		wantUnschedule []string
		wantSatisfied  bool
		wantMessage    string
	}{
		{
			name:       "nil policy is PickAll",
			in:         Input{Members: []Member{member("b"), member("a")}},
			wantPicked: []string{"a", "b"}, wantSatisfied: true,
			wantMessage: "picked 2 of 2 eligible members",
		},
		{
			name: "PickAll with required labels (the seed's CRP)",
			in: Input{
				Policy:  &placementv1.PlacementPolicy{PlacementType: placementv1.PickAllPlacementType, Affinity: requireLabels(prodPCI...)},
				Members: []Member{member("eu", prodPCI...), member("us", prodPCI...), member("x", "region", "prod")},
			},
			wantPicked: []string{"eu", "us"}, wantSatisfied: true,
			wantMessage: "picked 2 of 3 eligible members; cluster x: does not match required affinity",
		},
		{
			name:       "PickAll skips ineligible members",
			in:         Input{Members: []Member{member("a"), func() Member { m := member("b"); m.Eligible = false; return m }()}},
			wantPicked: []string{"a"}, wantSatisfied: true,
			wantMessage: "picked 1 of 1 eligible members; cluster b: not eligible",
		},
		{
			name: "PickAll unschedules a member relabelled out",
			in: Input{
				Policy:  &placementv1.PlacementPolicy{Affinity: requireLabels("region", "prod")},
				Members: []Member{member("a", "region", "prod"), member("b", "region", "dev")},
				Bound:   bound("a", "b"),
			},
			wantPicked: []string{"a"}, wantUnschedule: []string{"b"}, wantSatisfied: true,
		},
		{
			name: "PickAll: NoSchedule taint needs a toleration",
			in: Input{
				Members: []Member{tainted(member("a"), "gpu", "true", corev1.TaintEffectNoSchedule), member("b")},
			},
			wantPicked: []string{"b"}, wantSatisfied: true,
			wantMessage: "cluster a: taint gpu=true:NoSchedule not tolerated",
		},
		{
			name: "PickAll: Equal toleration",
			in: Input{
				Policy:  &placementv1.PlacementPolicy{Tolerations: []placementv1.Toleration{{Key: "gpu", Value: "true"}}},
				Members: []Member{tainted(member("a"), "gpu", "true", corev1.TaintEffectNoSchedule), tainted(member("b"), "gpu", "false", corev1.TaintEffectNoSchedule)},
			},
			wantPicked: []string{"a"}, wantSatisfied: true,
		},
		{
			name: "PickAll: Exists toleration with empty key tolerates all",
			in: Input{
				Policy:  &placementv1.PlacementPolicy{Tolerations: []placementv1.Toleration{{Operator: placementv1.TolerationOpExists}}},
				Members: []Member{tainted(member("a"), "gpu", "true", corev1.TaintEffectNoSchedule), tainted(member("b"), "x", "", corev1.TaintEffectNoSchedule)},
			},
			wantPicked: []string{"a", "b"}, wantSatisfied: true,
		},
		{
			name: "PickAll: Exists toleration by key; other effects are ignored",
			in: Input{
				Policy: &placementv1.PlacementPolicy{Tolerations: []placementv1.Toleration{{Key: "gpu", Operator: placementv1.TolerationOpExists, Effect: "NoSchedule"}}},
				Members: []Member{
					tainted(member("a"), "gpu", "v100", corev1.TaintEffectNoSchedule),
					tainted(member("b"), "spot", "", corev1.TaintEffectNoSchedule),
					tainted(member("c"), "spot", "", corev1.TaintEffectPreferNoSchedule),
				},
			},
			wantPicked: []string{"a", "c"}, wantSatisfied: true,
		},
		{
			name: "PickAll keeps a bound unreachable member however long",
			in: Input{
				Members:          []Member{member("a"), unreachable(member("b"), time.Hour)},
				Bound:            bound("a", "b"),
				UnreachableGrace: time.Minute,
			},
			wantPicked: []string{"a", "b"}, wantSatisfied: true,
		},
		{
			name:       "PickAll does not add an unbound unreachable member",
			in:         Input{Members: []Member{member("a"), unreachable(member("b"), time.Second)}},
			wantPicked: []string{"a"}, wantSatisfied: true,
		},
		{
			name: "PickFixed picks the named, reports the missing, ignores taints",
			in: Input{
				Policy:  &placementv1.PlacementPolicy{PlacementType: placementv1.PickFixedPlacementType, ClusterNames: []string{"c", "a", "ghost"}},
				Members: []Member{tainted(member("a"), "k", "v", corev1.TaintEffectNoSchedule), member("b"), member("c")},
				Bound:   bound("b"),
			},
			wantPicked: []string{"a", "c"}, wantUnschedule: []string{"b"}, wantSatisfied: false,
			wantMessage: "picked 2 of 3 named members; no such members: ghost",
		},
		{
			name: "PickFixed keeps a bound unreachable member",
			in: Input{
				Policy:           &placementv1.PlacementPolicy{PlacementType: placementv1.PickFixedPlacementType, ClusterNames: []string{"a"}},
				Members:          []Member{unreachable(member("a"), time.Hour)},
				Bound:            bound("a"),
				UnreachableGrace: time.Minute,
			},
			wantPicked: []string{"a"}, wantSatisfied: true,
		},
		{
			name:       "PickN by name when nothing is preferred",
			in:         Input{Policy: pickN(2), Members: []Member{member("c"), member("b"), member("a")}},
			wantPicked: []string{"a", "b"}, wantSatisfied: true,
			wantMessage: "picked 2 of 2 wanted members (3 candidates); cluster c: score 0; not among the best 2",
		},
		{
			name: "PickN ranks by preferred weights",
			in: Input{
				Policy: pickN(2, func(p *placementv1.PlacementPolicy) {
					p.Affinity = prefer(preferLabel(10, "tier", "gold"), preferLabel(5, "region", "eu"), preferLabel(-20, "spot", "true"))
				}),
				Members: []Member{
					member("a", "spot", "true", "tier", "gold"),
					member("b", "region", "eu"),
					member("c", "tier", "gold", "region", "eu"),
					member("d"),
				},
			},
			wantPicked: []string{"b", "c"}, wantSatisfied: true,
		},
		{
			name: "PickN propertySorter descending",
			in: Input{
				Policy: pickN(1, func(p *placementv1.PlacementPolicy) {
					p.Affinity = prefer(placementv1.PreferredClusterSelector{Weight: 100, Preference: placementv1.ClusterSelectorTerm{
						PropertySorter: &placementv1.PropertySorter{Name: "memory", SortOrder: placementv1.Descending},
					}})
				}),
				Members: []Member{withProps(member("a"), "memory", "8Gi"), withProps(member("b"), "memory", "64Gi"), withProps(member("c"), "memory", "16Gi")},
			},
			wantPicked: []string{"b"}, wantSatisfied: true,
		},
		{
			name: "PickN propertySorter ascending",
			in: Input{
				Policy: pickN(1, func(p *placementv1.PlacementPolicy) {
					p.Affinity = prefer(placementv1.PreferredClusterSelector{Weight: 100, Preference: placementv1.ClusterSelectorTerm{
						PropertySorter: &placementv1.PropertySorter{Name: "cost", SortOrder: placementv1.Ascending},
					}})
				}),
				Members: []Member{withProps(member("a"), "cost", "3"), withProps(member("b"), "cost", "1"), member("c")},
			},
			wantPicked: []string{"b"}, wantSatisfied: true,
		},
		{
			name: "PickN keeps bound members although others score higher",
			in: Input{
				Policy:  pickN(1, func(p *placementv1.PlacementPolicy) { p.Affinity = prefer(preferLabel(50, "tier", "gold")) }),
				Members: []Member{member("a"), member("b", "tier", "gold")},
				Bound:   bound("a"),
			},
			wantPicked: []string{"a"}, wantSatisfied: true,
		},
		{
			name: "PickN shrinks by dropping the lowest-scored bound member",
			in: Input{
				Policy:  pickN(1, func(p *placementv1.PlacementPolicy) { p.Affinity = prefer(preferLabel(50, "tier", "gold")) }),
				Members: []Member{member("a"), member("b", "tier", "gold")},
				Bound:   bound("a", "b"),
			},
			wantPicked: []string{"b"}, wantUnschedule: []string{"a"}, wantSatisfied: true,
		},
		{
			name: "PickN keeps an unreachable bound member within the grace period",
			in: Input{
				Policy:           pickN(1),
				Members:          []Member{unreachable(member("b"), time.Minute), member("a")},
				Bound:            bound("b"),
				UnreachableGrace: 5 * time.Minute,
			},
			wantPicked: []string{"b"}, wantSatisfied: true,
		},
		{
			name: "PickN replaces an unreachable bound member after the grace period",
			in: Input{
				Policy:           pickN(1),
				Members:          []Member{unreachable(member("b"), 10*time.Minute), member("a")},
				Bound:            bound("b"),
				UnreachableGrace: 5 * time.Minute,
			},
			wantPicked: []string{"a"}, wantUnschedule: []string{"b"}, wantSatisfied: true,
		},
		{
			name: "PickN respects required affinity and reports a shortfall",
			in: Input{
				Policy:  pickN(3, func(p *placementv1.PlacementPolicy) { p.Affinity = requireLabels("region", "prod") }),
				Members: []Member{member("a", "region", "prod"), member("b", "region", "dev")},
			},
			wantPicked: []string{"a"}, wantSatisfied: false,
			wantMessage: "picked 1 of 3 wanted members (1 candidates); cluster b: does not match required affinity",
		},
		{
			name: "PickN spreads over region (DoNotSchedule)",
			in: Input{
				Policy: pickN(3, spreadBy("region", 1, placementv1.DoNotSchedule)),
				Members: []Member{
					member("a1", "region", "a"), member("a2", "region", "a"), member("a3", "region", "a"),
					member("b1", "region", "b"), member("c1", "region", "c"),
				},
			},
			wantPicked: []string{"a1", "b1", "c1"}, wantSatisfied: true,
		},
		{
			name: "PickN DoNotSchedule refuses to exceed the skew",
			in: Input{
				Policy:  pickN(4, spreadBy("region", 1, placementv1.DoNotSchedule)),
				Members: []Member{member("a1", "region", "a"), member("a2", "region", "a"), member("a3", "region", "a"), member("b1", "region", "b")},
			},
			wantPicked: []string{"a1", "a2", "b1"}, wantSatisfied: false,
		},
		{
			name: "PickN ScheduleAnyway only prefers",
			in: Input{
				Policy:  pickN(4, spreadBy("region", 1, placementv1.ScheduleAnyway)),
				Members: []Member{member("a1", "region", "a"), member("a2", "region", "a"), member("a3", "region", "a"), member("b1", "region", "b")},
			},
			wantPicked: []string{"a1", "a2", "a3", "b1"}, wantSatisfied: true,
		},
		{
			name:           "PickN zero picks nothing",
			in:             Input{Policy: pickN(0), Members: []Member{member("a")}, Bound: bound("a")},
			wantUnschedule: []string{"a"}, wantSatisfied: true,
		},
		{
			name:       "already unscheduled bindings are not unscheduled again",
			in:         Input{Members: []Member{member("a")}, Bound: map[string]fleetv1.BindingState{"gone": fleetv1.BindingUnscheduled, "left": fleetv1.BindingBound}},
			wantPicked: []string{"a"}, wantUnschedule: []string{"left"}, wantSatisfied: true,
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := Schedule(tc.in)
			if p := names(got.Picked); !reflect.DeepEqual(p, orEmpty(tc.wantPicked)) {
				t.Errorf("picked %v, want %v (%s)", p, tc.wantPicked, got.Message)
			}
			if !reflect.DeepEqual(got.Unschedule, tc.wantUnschedule) {
				t.Errorf("unschedule %v, want %v", got.Unschedule, tc.wantUnschedule)
			}
			if got.Satisfied != tc.wantSatisfied {
				t.Errorf("satisfied %v, want %v (%s)", got.Satisfied, tc.wantSatisfied, got.Message)
			}
			if !strings.Contains(got.Message, tc.wantMessage) {
				t.Errorf("message %q, want it to contain %q", got.Message, tc.wantMessage)
			}
			for _, d := range got.Picked {
				if d.Reason == "" {
					t.Errorf("member %s picked without a reason", d.Member)
				}
			}
		})
	}
}

func orEmpty(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
