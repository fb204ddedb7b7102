// Package scheduling decides which member clusters a placement picks. It is
// pure and deterministic: given the policy, the members and the current
// bindings it returns the picked members and those to unschedule, and the
// controller does the I/O.
package scheduling

import (
	"fmt"
	"math"
	"sort"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"

	placementv1 "github.com/flotilla-dev/flotilla/api/placement/v1"
	fleetv1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/internal/placement/clusterselector"
)

// Member is what the scheduler knows of one member cluster.
type Member struct {
	Name       string
	Labels     map[string]string
	Properties map[string]string
	Taints     []fleetv1.Taint
	// Eligible: agent access mode, Joined=True, Reachable=True and not
	// being deleted.
	Eligible bool
	// Unreachable: everything of Eligible holds except Reachable, which has
	// not been True for UnreachableFor.
	Unreachable    bool
	UnreachableFor time.Duration
}

// Input is one scheduling question.
type Input struct {
	// Policy is the placement's policy; nil means PickAll.
	Policy  *placementv1.PlacementPolicy
	Members []Member
	// Bound maps each member that has a binding to its state.
	Bound map[string]fleetv1.BindingState
	// UnreachableGrace is how long a PickN placement keeps a bound member
	// that stopped answering before it replaces it.
	UnreachableGrace time.Duration
}

// Decision is one picked member.
type Decision struct {
	Member string
	Reason string
	// Score is the member's preferred-affinity score (PickN only).
	Score int64
}

// Result is the scheduler's answer.
type Result struct {
	// Picked is sorted by member name.
	Picked []Decision
	// Unschedule are bound members that are no longer picked, sorted.
	Unschedule []string
	// NotPicked says why each considered member was left out.
	NotPicked map[string]string
	// Satisfied is false when the policy wanted more than it got (PickN
	// short of members, PickFixed naming missing members).
	Satisfied bool
	Message   string
}

// Schedule picks members for a placement.
func Schedule(in Input) Result {
	policy := in.Policy
	if policy == nil {
		policy = &placementv1.PlacementPolicy{PlacementType: placementv1.PickAllPlacementType}
	}
	members := append([]Member(nil), in.Members...)
	sort.Slice(members, func(i, j int) bool { return members[i].Name < members[j].Name })
	s := &scheduler{in: in, policy: policy, members: members, notPicked: map[string]string{}}

	var res Result
	switch policy.PlacementType {
	case placementv1.PickFixedPlacementType:
		res = s.pickFixed()
	case placementv1.PickNPlacementType:
		res = s.pickN()
	default:
		res = s.pickAll()
	}
	res.NotPicked = s.notPicked
	picked := map[string]bool{}
	for _, d := range res.Picked {
		picked[d.Member] = true
	}
	for name, state := range in.Bound {
		if !picked[name] && state != fleetv1.BindingUnscheduled {
			res.Unschedule = append(res.Unschedule, name)
		}
	}
	sort.Strings(res.Unschedule)
	res.Message += s.notes()
	return res
}

type scheduler struct {
	in        Input
	policy    *placementv1.PlacementPolicy
	members   []Member
	notPicked map[string]string
}

func (s *scheduler) bound(name string) bool {
	state, ok := s.in.Bound[name]
	return ok && state != fleetv1.BindingUnscheduled
}

// usable says whether a member can hold the placement; keepUnreachable
// says whether a bound member that stopped answering is kept.
func (s *scheduler) usable(m Member, keepUnreachable func(Member) bool) (bool, string) {
	switch {
	case m.Eligible:
		return true, ""
	case m.Unreachable && s.bound(m.Name) && keepUnreachable(m):
		return true, ""
	case m.Unreachable && s.bound(m.Name):
		return false, fmt.Sprintf("unreachable for %s, past the grace period", m.UnreachableFor.Round(time.Second))
	case m.Unreachable:
		return false, "unreachable"
	}
	return false, "not eligible (needs agent access, Joined and Reachable)"
}

// fits checks required affinity and taints.
func (s *scheduler) fits(m Member) (bool, string) {
	var required *placementv1.ClusterSelector
	if a := s.policy.Affinity; a != nil && a.ClusterAffinity != nil {
		required = a.ClusterAffinity.RequiredDuringSchedulingIgnoredDuringExecution
	}
	ok, err := clusterselector.Matches(required, clusterselector.Cluster{Labels: m.Labels, Properties: m.Properties})
	if err != nil {
		return false, "invalid required affinity: spec.policy.affinity.clusterAffinity.requiredDuringSchedulingIgnoredDuringExecution." + err.Error()
	}
	if !ok {
		return false, "does not match required affinity"
	}
	if t, ok := untolerated(m.Taints, s.policy.Tolerations); !ok {
		return false, fmt.Sprintf("taint %s=%s:%s not tolerated", t.Key, t.Value, t.Effect)
	}
	return true, ""
}

func (s *scheduler) pickAll() Result {
	var res Result
	eligible := 0
	for _, m := range s.members {
		ok, why := s.usable(m, func(Member) bool { return true })
		if !ok {
			s.notPicked[m.Name] = why
			continue
		}
		eligible++
		if ok, why := s.fits(m); !ok {
			s.notPicked[m.Name] = why
			continue
		}
		res.Picked = append(res.Picked, Decision{Member: m.Name, Reason: pickReason(m, "matches the required affinity")})
	}
	res.Satisfied = true
	res.Message = fmt.Sprintf("picked %d of %d eligible members", len(res.Picked), eligible)
	return res
}

func (s *scheduler) pickFixed() Result {
	byName := map[string]Member{}
	for _, m := range s.members {
		byName[m.Name] = m
	}
	names := append([]string(nil), s.policy.ClusterNames...)
	sort.Strings(names)
	var res Result
	var missing []string
	seen := map[string]bool{}
	for _, name := range names {
		if seen[name] {
			continue
		}
		seen[name] = true
		m, ok := byName[name]
		if !ok {
			missing = append(missing, name)
			continue
		}
		if ok, why := s.usable(m, func(Member) bool { return true }); !ok {
			s.notPicked[name] = why
			continue
		}
		res.Picked = append(res.Picked, Decision{Member: name, Reason: pickReason(m, "named in clusterNames")})
	}
	res.Satisfied = len(res.Picked) == len(seen)
	res.Message = fmt.Sprintf("picked %d of %d named members", len(res.Picked), len(seen))
	if len(missing) > 0 {
		res.Message += "; no such members: " + strings.Join(missing, ", ")
	}
	return res
}

func pickReason(m Member, why string) string {
	if !m.Eligible && m.Unreachable {
		// No duration here: the reason is stored, and must not change on
		// every reconcile.
		return why + "; kept while unreachable"
	}
	return why
}

// notes lists why members were not picked, in name order, bounded so that
// a large fleet does not make an unreadable condition message.
func (s *scheduler) notes() string {
	const maxNotes = 10
	names := make([]string, 0, len(s.notPicked))
	for n := range s.notPicked {
		names = append(names, n)
	}
	sort.Strings(names)
	var b strings.Builder
	for i, n := range names {
		if i == maxNotes {
			fmt.Fprintf(&b, "; and %d more", len(names)-maxNotes)
			break
		}
		fmt.Fprintf(&b, "; cluster %s: %s", n, s.notPicked[n])
	}
	return b.String()
}

// untolerated returns the first NoSchedule taint no toleration matches.
// Other effects do not keep placements away.
func untolerated(taints []fleetv1.Taint, tolerations []placementv1.Toleration) (fleetv1.Taint, bool) {
	for _, t := range taints {
		if t.Effect != corev1.TaintEffectNoSchedule {
			continue
		}
		tolerated := false
		for _, tol := range tolerations {
			if tolerates(tol, t) {
				tolerated = true
				break
			}
		}
		if !tolerated {
			return t, false
		}
	}
	return fleetv1.Taint{}, true
}

// tolerates follows Kubernetes: an empty effect matches every effect,
// Exists with an empty key matches every taint, Equal (the default)
// compares key and value.
func tolerates(tol placementv1.Toleration, t fleetv1.Taint) bool {
	if tol.Effect != "" && tol.Effect != string(t.Effect) {
		return false
	}
	switch tol.Operator {
	case placementv1.TolerationOpExists:
		return tol.Key == "" || tol.Key == t.Key
	case placementv1.TolerationOpEqual, "":
		return tol.Key == t.Key && tol.Value == t.Value
	}
	return false
}

// round keeps scores integral without losing the order of close values.
func round(f float64) int64 { return int64(math.Round(f)) }
