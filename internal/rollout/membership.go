package rollout

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	fleetv1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
)

// Resolution is a strategy applied to a member set: who is in which group.
type Resolution struct {
	Stages []ResolvedStage
	// Untouched are the members no stage covers, with the reason.
	Untouched []UntouchedMember
}

// ResolvedStage is a stage's groups with their members.
type ResolvedStage struct {
	Name   string
	Groups []ResolvedGroup
}

// ResolvedGroup is a group with its members, sorted by name.
type ResolvedGroup struct {
	Name string
	// Implicit marks the group a stage with a memberSelector and no groups
	// gets, named after the stage.
	Implicit bool
	Members  []string
}

// UntouchedMember is a member a run leaves alone.
type UntouchedMember struct {
	Name   string
	Reason string
}

// MembershipConflictError reports a member that two groups claim.
type MembershipConflictError struct {
	Member string
	Groups [2]string
}

func (e *MembershipConflictError) Error() string {
	return fmt.Sprintf("member %s is in two groups, %s and %s: a member may be in only one", e.Member, e.Groups[0], e.Groups[1])
}

// groupMatcher decides whether a member belongs to one group.
type groupMatcher struct {
	stage, group int
	selector     labels.Selector // nil: match by update group name
	name         string
}

func (m groupMatcher) matches(member *Member) bool {
	if m.selector != nil {
		return m.selector.Matches(labels.Set(member.Labels))
	}
	return member.UpdateGroup == m.name
}

// Resolve places members in the strategy's groups. A group takes the members
// whose update group is its name or, when it has a memberSelector, those whose
// labels match; a stage with a memberSelector and no groups gets one implicit
// group named after the stage. A member two groups claim is an error (every
// such member is reported, each as a *MembershipConflictError).
func Resolve(spec fleetv1.UpdateStrategySpec, members []Member) (Resolution, error) {
	res, conflicts, err := resolve(spec, members)
	if err != nil {
		return res, err
	}
	errs := make([]error, len(conflicts))
	for i, c := range conflicts {
		errs[i] = c
	}
	return res, errors.Join(errs...)
}

func resolve(spec fleetv1.UpdateStrategySpec, members []Member) (Resolution, []*MembershipConflictError, error) {
	matchers, err := groupMatchers(spec)
	if err != nil {
		return Resolution{}, nil, err
	}
	res := Resolution{Stages: make([]ResolvedStage, len(spec.Stages))}
	for i, stage := range spec.Stages {
		res.Stages[i].Name = stage.Name
		for _, g := range stageGroups(stage) {
			res.Stages[i].Groups = append(res.Stages[i].Groups, ResolvedGroup{Name: g.Name, Implicit: len(stage.Groups) == 0})
		}
	}
	// Most members name their group: look those up directly, and test
	// selectors only when some group has one, to stay linear in members.
	byGroupName := make(map[string]groupMatcher, len(matchers))
	var selecting []groupMatcher
	for _, m := range matchers {
		if m.selector != nil {
			selecting = append(selecting, m)
		} else if _, dup := byGroupName[m.name]; !dup {
			byGroupName[m.name] = m
		}
	}
	sorted := slices.Clone(members)
	slices.SortFunc(sorted, func(a, b Member) int { return strings.Compare(a.Name, b.Name) })
	var conflicts []*MembershipConflictError
	for i := range sorted {
		member := &sorted[i]
		var found []groupMatcher
		if m, ok := byGroupName[member.UpdateGroup]; ok && member.UpdateGroup != "" {
			found = append(found, m)
		}
		for _, m := range selecting {
			if m.matches(member) {
				found = append(found, m)
			}
		}
		switch {
		case len(found) == 0:
			res.Untouched = append(res.Untouched, UntouchedMember{Name: member.Name, Reason: untouchedReason(member)})
		case len(found) > 1:
			conflicts = append(conflicts, &MembershipConflictError{Member: member.Name, Groups: [2]string{found[0].name, found[1].name}})
		default:
			g := &res.Stages[found[0].stage].Groups[found[0].group]
			g.Members = append(g.Members, member.Name)
		}
	}
	return res, conflicts, nil
}

func untouchedReason(m *Member) string {
	if m.UpdateGroup == "" {
		return "in no update group, and no stage or group selects it"
	}
	return fmt.Sprintf("update group %s is not in the strategy, and no selector picks it", m.UpdateGroup)
}

// stageGroups is a stage's groups, or the implicit group of a stage that
// selects its members directly.
func stageGroups(stage fleetv1.UpdateStage) []fleetv1.UpdateGroup {
	if len(stage.Groups) > 0 || stage.MemberSelector == nil {
		return stage.Groups
	}
	return []fleetv1.UpdateGroup{{
		Name:               stage.Name,
		MemberSelector:     stage.MemberSelector,
		MaxConcurrency:     stage.MaxConcurrency,
		MaxAllowedFailures: nil, // the stage's budget covers it
	}}
}

func groupMatchers(spec fleetv1.UpdateStrategySpec) ([]groupMatcher, error) {
	var out []groupMatcher
	for si, stage := range spec.Stages {
		for gi, g := range stageGroups(stage) {
			m := groupMatcher{stage: si, group: gi, name: g.Name}
			if g.MemberSelector != nil {
				sel, err := metav1.LabelSelectorAsSelector(g.MemberSelector)
				if err != nil {
					return nil, fmt.Errorf("stage %s group %s: memberSelector: %w", stage.Name, g.Name, err)
				}
				m.selector = sel
			}
			out = append(out, m)
		}
	}
	return out, nil
}
