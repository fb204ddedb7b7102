// Package rolloutplan decides how a placement's resources reach the members
// it picked: which bindings to create, which to move to the newest resource
// snapshot and when, and which to remove. It is pure and deterministic: the
// placement controller gathers the Input, calls Make and carries out the
// Plan; nothing here reads or writes the API.
//
// The rolling-update rule:
//   - a member picked for the first time, picked again while its binding
//     was being removed, or whose snapshot was pruned gets the newest
//     snapshot at once;
//   - a member holding an older snapshot moves to the newest only while
//     fewer than maxUnavailable picked members are unavailable; moving one
//     that is unavailable anyway costs nothing;
//   - a member is unavailable until its Work reports, for its binding's
//     snapshot, Available=True, or Applied=True for at least
//     unavailablePeriodSeconds;
//   - with the External strategy, members holding a snapshot are not moved.
//
// maxSurge is not used: a member is moved in place (its binding changes
// snapshot), so no member beyond the picked ones ever holds the resources
// and there is nothing for it to bound yet.
package rolloutplan

import (
	"sort"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	placementv1 "github.com/flotilla-dev/flotilla/api/placement/v1"
	fleetv1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
)

// NoSnapshot is the snapshot index of a binding or Work whose snapshot is
// unknown: it names none, or one that was pruned.
const NoSnapshot int32 = -1

// Defaults of a RollingUpdateConfig left unset, as in the API.
const (
	DefaultMaxUnavailable    = "25%"
	DefaultUnavailablePeriod = 60 * time.Second
)

// Pick is one member the scheduler picked, with why and its score.
type Pick struct {
	Member string
	Reason string
	Score  int64
}

// Binding is an existing binding of the placement.
type Binding struct {
	Name   string
	Member string
	State  fleetv1.BindingState
	// SnapshotIndex is the index of the snapshot the binding holds, or
	// NoSnapshot.
	SnapshotIndex int32
	Reason        string
	Score         int64
}

// Work is what a member's agent last reported on the member's Work for the
// placement, counting only conditions reported for the Work's current
// generation.
type Work struct {
	// SnapshotIndex is the snapshot the Work's manifests come from, or
	// NoSnapshot.
	SnapshotIndex int32
	Applied       Condition
	Available     Condition
}

// Condition is one condition of a Work; the zero value is "not reported".
type Condition struct {
	Status metav1.ConditionStatus
	// Since is when the condition last changed status.
	Since time.Time
}

// Input is everything a plan depends on.
type Input struct {
	// Picked are the members to hold the placement, each once, in the
	// order moves are considered (the scheduler's: by name).
	Picked []Pick
	// Bindings are the placement's bindings, in any order.
	Bindings []Binding
	// Works holds, by member, what the member's Work reports; a member
	// without a Work is absent.
	Works map[string]Work
	// Strategy is the placement's rollout strategy.
	Strategy placementv1.RolloutStrategy
	// LatestIndex is the index of the newest resource snapshot.
	LatestIndex int32
	Now         time.Time
}

// Op is what becomes of a picked member's binding.
type Op string

const (
	// Keep: the binding is already what it should be.
	Keep Op = "Keep"
	// Create: the member has no binding; make one.
	Create Op = "Create"
	// Update: change the existing binding to the Target.
	Update Op = "Update"
)

// Target is the binding a picked member is to have.
type Target struct {
	Op     Op
	Member string
	// Name is the existing binding's; empty for Create, where the
	// controller names the new binding.
	Name          string
	State         fleetv1.BindingState
	SnapshotIndex int32
	Reason        string
	Score         int64
}

// Removal is the binding of a member no longer picked. The controller sets
// it Unscheduled (when MarkUnscheduled), removes the member's Work, and
// deletes the binding once the Work is gone.
type Removal struct {
	Name            string
	Member          string
	MarkUnscheduled bool
}

// Plan is what to do now.
type Plan struct {
	// Targets has one entry per picked member, in the order of Picked.
	Targets []Target
	// Removals are sorted by member.
	Removals []Removal
	// Duplicates name extra bindings of members that have another one
	// (kept: the smallest name); they are deleted and the member's Work is
	// left alone. Sorted.
	Duplicates []string
	// RecheckAfter is how soon time alone makes an applied member
	// available; zero when it makes none.
	RecheckAfter time.Duration
}

// Make plans one step of the rollout.
func Make(in Input) Plan {
	period := UnavailablePeriod(in.Strategy)
	kept, duplicates := byMember(in.Bindings)
	plan := Plan{Duplicates: duplicates}

	picked := map[string]bool{}
	unavailable := 0
	// behind are the members holding an older snapshot, as indexes into
	// plan.Targets, with whether each is available now.
	type behindMember struct {
		target    int
		available bool
	}
	var behind []behindMember
	for _, p := range in.Picked {
		if picked[p.Member] {
			continue
		}
		picked[p.Member] = true
		t := Target{Op: Keep, Member: p.Member, State: fleetv1.BindingBound, Reason: p.Reason, Score: p.Score}
		b, ok := kept[p.Member]
		switch {
		case !ok:
			t.Op, t.SnapshotIndex = Create, in.LatestIndex
		case b.State != fleetv1.BindingBound || b.SnapshotIndex == NoSnapshot:
			// Re-picked while being removed, or its snapshot was pruned:
			// like a new member, it gets the newest at once.
			t.Op, t.Name, t.SnapshotIndex = Update, b.Name, in.LatestIndex
		default:
			t.Name, t.SnapshotIndex = b.Name, b.SnapshotIndex
			if b.Reason != p.Reason || b.Score != p.Score {
				t.Op = Update
			}
		}
		w, hasWork := in.Works[p.Member]
		avail, wait := available(t.SnapshotIndex, w, hasWork, period, in.Now)
		if !avail {
			unavailable++
			if wait > 0 && (plan.RecheckAfter == 0 || wait < plan.RecheckAfter) {
				plan.RecheckAfter = wait
			}
		}
		if t.SnapshotIndex != in.LatestIndex {
			behind = append(behind, behindMember{target: len(plan.Targets), available: avail})
		}
		plan.Targets = append(plan.Targets, t)
	}

	if in.Strategy.Type != placementv1.ExternalRolloutStrategyType {
		budget := MaxUnavailable(in.Strategy, len(plan.Targets))
		for _, m := range behind {
			if m.available && unavailable >= budget {
				continue
			}
			plan.Targets[m.target].SnapshotIndex = in.LatestIndex
			plan.Targets[m.target].Op = Update
			if m.available {
				unavailable++
			}
		}
	}

	members := make([]string, 0, len(kept))
	for m := range kept {
		members = append(members, m)
	}
	sort.Strings(members)
	for _, m := range members {
		if picked[m] {
			continue
		}
		b := kept[m]
		plan.Removals = append(plan.Removals, Removal{Name: b.Name, Member: m, MarkUnscheduled: b.State != fleetv1.BindingUnscheduled})
	}
	return plan
}

// byMember keeps one binding per member, the one with the smallest name,
// and names the others.
func byMember(bindings []Binding) (map[string]Binding, []string) {
	kept := map[string]Binding{}
	var duplicates []string
	for _, b := range bindings {
		old, ok := kept[b.Member]
		switch {
		case !ok:
			kept[b.Member] = b
		case b.Name < old.Name:
			kept[b.Member] = b
			duplicates = append(duplicates, old.Name)
		default:
			duplicates = append(duplicates, b.Name)
		}
	}
	sort.Strings(duplicates)
	return kept, duplicates
}

// available applies the availability rule to a member that is to hold
// snapshot; wait is how long until time alone makes an applied member
// available.
func available(snapshot int32, w Work, hasWork bool, period time.Duration, now time.Time) (bool, time.Duration) {
	if !hasWork || snapshot == NoSnapshot || w.SnapshotIndex != snapshot {
		return false, 0
	}
	if w.Available.Status == metav1.ConditionTrue {
		return true, 0
	}
	if w.Applied.Status == metav1.ConditionTrue {
		since := now.Sub(w.Applied.Since)
		if since >= period {
			return true, 0
		}
		return false, period - since
	}
	return false, 0
}

// UnavailablePeriod is how long an applied member without an availability
// signal counts as unavailable.
func UnavailablePeriod(s placementv1.RolloutStrategy) time.Duration {
	if ru := s.RollingUpdate; ru != nil && ru.UnavailablePeriodSeconds != nil {
		return time.Duration(*ru.UnavailablePeriodSeconds) * time.Second
	}
	return DefaultUnavailablePeriod
}

// MaxUnavailable resolves maxUnavailable, a count or a percentage (rounded
// down) of the picked members, to at least 1 so that a rollout always
// moves.
func MaxUnavailable(s placementv1.RolloutStrategy, picked int) int {
	v := intstr.FromString(DefaultMaxUnavailable)
	if ru := s.RollingUpdate; ru != nil && ru.MaxUnavailable != nil {
		v = *ru.MaxUnavailable
	}
	n, err := intstr.GetScaledValueFromIntOrPercent(&v, picked, false)
	if err != nil || n < 1 {
		return 1
	}
	return n
}
