package scheduling

import (
	"fmt"
	"math"
	"sort"

	placementv1 "github.com/flotilla-dev/flotilla/api/placement/v1"
	"github.com/flotilla-dev/flotilla/internal/placement/clusterselector"
)

// candidate is a member PickN may pick.
type candidate struct {
	Member
	score int64
}

// pickN keeps the bound members that still qualify (best first, up to N),
// then fills up with the best-scored others, name breaking ties, while the
// topology spread constraints allow.
func (s *scheduler) pickN() Result {
	want := 0
	if s.policy.NumberOfClusters != nil {
		want = int(*s.policy.NumberOfClusters)
	}
	withinGrace := func(m Member) bool { return m.UnreachableFor < s.in.UnreachableGrace }
	var cands []candidate
	for _, m := range s.members {
		if ok, why := s.usable(m, withinGrace); !ok {
			s.notPicked[m.Name] = why
			continue
		}
		if ok, why := s.fits(m); !ok {
			s.notPicked[m.Name] = why
			continue
		}
		cands = append(cands, candidate{Member: m})
	}
	s.score(cands)
	sort.SliceStable(cands, func(i, j int) bool {
		if cands[i].score != cands[j].score {
			return cands[i].score > cands[j].score
		}
		return cands[i].Name < cands[j].Name
	})

	spread := newSpread(s.policy.TopologySpreadConstraints, cands)
	var picked []candidate
	var rest []candidate
	// Stability: members already bound stay, without re-checking the
	// spread, so that a reconcile never reshuffles a settled placement.
	for _, c := range cands {
		if s.bound(c.Name) && len(picked) < want {
			picked = append(picked, c)
			spread.add(c.Member)
		} else {
			rest = append(rest, c)
		}
	}
	for len(picked) < want && len(rest) > 0 {
		i := spread.choose(rest)
		if i < 0 {
			break
		}
		picked = append(picked, rest[i])
		spread.add(rest[i].Member)
		rest = append(rest[:i], rest[i+1:]...)
	}
	for _, c := range rest {
		if _, noted := s.notPicked[c.Name]; noted {
			continue
		}
		if spread.hardBlocked(c.Member) {
			s.notPicked[c.Name] = fmt.Sprintf("score %d; would exceed the topology spread", c.score)
		} else {
			s.notPicked[c.Name] = fmt.Sprintf("score %d; not among the best %d", c.score, want)
		}
	}

	var res Result
	for _, c := range picked {
		res.Picked = append(res.Picked, Decision{
			Member: c.Name, Score: c.score,
			Reason: pickReason(c.Member, fmt.Sprintf("score %d among %d candidates", c.score, len(cands))),
		})
	}
	sort.Slice(res.Picked, func(i, j int) bool { return res.Picked[i].Member < res.Picked[j].Member })
	res.Satisfied = len(res.Picked) == want
	res.Message = fmt.Sprintf("picked %d of %d wanted members (%d candidates)", len(res.Picked), want, len(cands))
	return res
}

// score sums the weights of the preferred terms each candidate matches; a
// term with a propertySorter scales its weight linearly between the lowest
// and highest value among the matching candidates.
func (s *scheduler) score(cands []candidate) {
	a := s.policy.Affinity
	if a == nil || a.ClusterAffinity == nil {
		return
	}
	for _, pref := range a.ClusterAffinity.PreferredDuringSchedulingIgnoredDuringExecution {
		term := pref.Preference
		matched := make([]bool, len(cands))
		for i := range cands {
			ok, _ := clusterselector.MatchesTerm(&term, clusterselector.Cluster{Labels: cands[i].Labels, Properties: cands[i].Properties})
			matched[i] = ok
		}
		if term.PropertySorter == nil {
			for i := range cands {
				if matched[i] {
					cands[i].score += int64(pref.Weight)
				}
			}
			continue
		}
		lo, hi := math.Inf(1), math.Inf(-1)
		values := make([]float64, len(cands))
		has := make([]bool, len(cands))
		for i := range cands {
			if !matched[i] {
				continue
			}
			values[i], has[i] = clusterselector.Quantity(cands[i].Properties, term.PropertySorter.Name)
			if has[i] {
				lo, hi = math.Min(lo, values[i]), math.Max(hi, values[i])
			}
		}
		for i := range cands {
			if !has[i] {
				continue
			}
			frac := 1.0
			if hi > lo {
				frac = (values[i] - lo) / (hi - lo)
				if term.PropertySorter.SortOrder == placementv1.Ascending {
					frac = 1 - frac
				}
			}
			cands[i].score += round(float64(pref.Weight) * frac)
		}
	}
}

// spread tracks the picked members per value of each constraint's key.
type spread struct {
	constraints []placementv1.TopologySpreadConstraint
	// counts[i][value] is how many picked members have that value of
	// constraint i's key; every value seen among candidates is present.
	counts []map[string]int
}

func newSpread(cs []placementv1.TopologySpreadConstraint, cands []candidate) *spread {
	sp := &spread{constraints: cs, counts: make([]map[string]int, len(cs))}
	for i, c := range cs {
		sp.counts[i] = map[string]int{}
		for _, m := range cands {
			if v, ok := m.Labels[c.TopologyKey]; ok {
				sp.counts[i][v] = 0
			}
		}
	}
	return sp
}

func (sp *spread) add(m Member) {
	for i, c := range sp.constraints {
		if v, ok := m.Labels[c.TopologyKey]; ok {
			sp.counts[i][v]++
		}
	}
}

// violates reports whether picking m breaks constraint i: the skew (the
// count of m's domain after picking, less the smallest count) would pass
// maxSkew. A member without the key cannot be placed in any domain.
func (sp *spread) violates(i int, m Member) bool {
	c := sp.constraints[i]
	v, ok := m.Labels[c.TopologyKey]
	if !ok {
		return true
	}
	maxSkew := 1
	if c.MaxSkew != nil {
		maxSkew = int(*c.MaxSkew)
	}
	lowest := math.MaxInt
	for _, n := range sp.counts[i] {
		lowest = min(lowest, n)
	}
	return sp.counts[i][v]+1-lowest > maxSkew
}

func (sp *spread) hardBlocked(m Member) bool {
	for i, c := range sp.constraints {
		if c.WhenUnsatisfiable != placementv1.ScheduleAnyway && sp.violates(i, m) {
			return true
		}
	}
	return false
}

func (sp *spread) softBlocked(m Member) bool {
	for i, c := range sp.constraints {
		if c.WhenUnsatisfiable == placementv1.ScheduleAnyway && sp.violates(i, m) {
			return true
		}
	}
	return false
}

// choose returns the best-ranked candidate that keeps every DoNotSchedule
// constraint, preferring one that also keeps the ScheduleAnyway ones; -1
// when none keeps the hard constraints.
func (sp *spread) choose(ranked []candidate) int {
	fallback := -1
	for i, c := range ranked {
		if sp.hardBlocked(c.Member) {
			continue
		}
		if !sp.softBlocked(c.Member) {
			return i
		}
		if fallback < 0 {
			fallback = i
		}
	}
	return fallback
}
