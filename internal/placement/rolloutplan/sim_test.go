package rolloutplan

import (
	"fmt"
	"reflect"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"

	placementv1 "github.com/flotilla-dev/flotilla/api/placement/v1"
	fleetv1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
)

// agent is how a simulated member's agent behaves.
type agent struct {
	// applyTakes is how long after a Work is written it reports Applied.
	applyTakes time.Duration
	// availableTakes is how long after Applied it reports Available;
	// negative: never (the resources have no availability signal).
	availableTakes time.Duration
	// removeTakes is how long after a Work is deleted its finalizer goes.
	removeTakes time.Duration
	// brokenFrom, when set, is when the agent stopped applying: a Work
	// written since is never applied until it is healed (zeroed).
	brokenFrom time.Time
}

// stuck says whether the agent will not apply a Work written at writtenAt.
func (a *agent) stuck(writtenAt time.Time) bool {
	return !a.brokenFrom.IsZero() && !writtenAt.Before(a.brokenFrom)
}

// simWork is one member's Work on the simulated hub.
type simWork struct {
	snapshot  int32
	writtenAt time.Time
	deleting  bool
	deletedAt time.Time
}

// world is a simulated hub and fleet: the placement's bindings and Works,
// the agents applying them, the scheduler's picks and the snapshots. step
// does what the controller does: observe, Make, carry out the plan, and
// checks the invariants around it.
type world struct {
	t        testing.TB
	now      time.Time
	strategy placementv1.RolloutStrategy
	latest   int32
	// history is how many snapshots are kept (revisionHistoryLimit).
	history  int32
	picked   []string
	bindings map[string]*Binding // by name
	works    map[string]*simWork // by member
	agents   map[string]*agent
	created  int

	steps int
	last  Plan
	// maxUnavailableSeen is the most picked members seen unavailable
	// right after a step.
	maxUnavailableSeen int
}

func newWorld(t testing.TB, strategy placementv1.RolloutStrategy, members ...string) *world {
	w := &world{t: t, now: t0, strategy: strategy, history: 10,
		bindings: map[string]*Binding{}, works: map[string]*simWork{}, agents: map[string]*agent{}}
	for _, m := range members {
		w.agents[m] = &agent{}
	}
	w.pick(members...)
	return w
}

func (w *world) pick(members ...string) {
	w.picked = slices.Clone(members)
	sort.Strings(w.picked)
	for _, m := range members {
		if w.agents[m] == nil {
			w.agents[m] = &agent{}
		}
	}
}

func (w *world) snapshotExists(i int32) bool {
	return i >= 0 && i <= w.latest && i > w.latest-w.history
}

// report is what member m's Work says now.
func (w *world) report(m string) (Work, bool) {
	sw, ok := w.works[m]
	if !ok {
		return Work{}, false
	}
	out := Work{SnapshotIndex: sw.snapshot}
	if !w.snapshotExists(sw.snapshot) {
		out.SnapshotIndex = NoSnapshot
	}
	a := w.agents[m]
	if a.stuck(sw.writtenAt) {
		return out, true
	}
	appliedAt := sw.writtenAt.Add(a.applyTakes)
	if !w.now.Before(appliedAt) {
		out.Applied = Condition{Status: metav1.ConditionTrue, Since: appliedAt}
		if a.availableTakes >= 0 {
			if at := appliedAt.Add(a.availableTakes); !w.now.Before(at) {
				out.Available = Condition{Status: metav1.ConditionTrue, Since: at}
			}
		}
	}
	return out, true
}

// finishRemovals lets Works whose agent finished cleaning up go.
func (w *world) finishRemovals() {
	for m, sw := range w.works {
		if sw.deleting && !w.now.Before(sw.deletedAt.Add(w.agents[m].removeTakes)) {
			delete(w.works, m)
		}
	}
}

// observe gathers the Input the controller would.
func (w *world) observe() Input {
	w.finishRemovals()
	in := Input{Strategy: w.strategy, LatestIndex: w.latest, Now: w.now, Works: map[string]Work{}}
	for _, m := range w.picked {
		in.Picked = append(in.Picked, Pick{Member: m, Reason: "picked"})
	}
	names := make([]string, 0, len(w.bindings))
	for n := range w.bindings {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		b := *w.bindings[n]
		if !w.snapshotExists(b.SnapshotIndex) {
			b.SnapshotIndex = NoSnapshot
		}
		in.Bindings = append(in.Bindings, b)
	}
	for m := range w.works {
		if r, ok := w.report(m); ok {
			in.Works[m] = r
		}
	}
	return in
}

// bindingOf is the binding the plan keeps for member m.
func bindingOf(in Input, m string) (Binding, bool) {
	var found Binding
	ok := false
	for _, b := range in.Bindings {
		if b.Member == m && (!ok || b.Name < found.Name) {
			found, ok = b, true
		}
	}
	return found, ok
}

// step runs one reconcile and reports whether it wrote anything.
func (w *world) step() (wrote bool) {
	w.t.Helper()
	in := w.observe()
	plan := Make(in)
	w.steps++
	w.checkPlan(in, plan)
	wrote = w.carryOut(plan)
	w.last = plan
	unavailable := 0
	for _, m := range w.picked {
		if !w.available(m) {
			unavailable++
		}
	}
	w.maxUnavailableSeen = max(w.maxUnavailableSeen, unavailable)
	return wrote
}

// available says whether member m is available in the world: its Work
// holds its binding's snapshot and reports so.
func (w *world) available(m string) bool {
	in := w.observe()
	b, ok := bindingOf(in, m)
	if !ok {
		return false
	}
	r, ok := in.Works[m]
	if !ok {
		return false
	}
	avail, _ := available(b.SnapshotIndex, r, true, UnavailablePeriod(w.strategy), w.now)
	return avail
}

// carryOut does what the controller does with a plan, and reports whether
// it wrote anything.
func (w *world) carryOut(p Plan) (wrote bool) {
	for _, name := range p.Duplicates {
		delete(w.bindings, name)
		wrote = true
	}
	for _, t := range p.Targets {
		if t.Op != Keep {
			wrote = true
		}
		var b *Binding
		switch t.Op {
		case Create:
			w.created++
			b = &Binding{Name: fmt.Sprintf("%s.%d", t.Member, w.created), Member: t.Member}
			w.bindings[b.Name] = b
		default:
			b = w.bindings[t.Name]
		}
		b.State, b.SnapshotIndex, b.Reason, b.Score = t.State, t.SnapshotIndex, t.Reason, t.Score
		// The controller writes the Work for the binding's snapshot at once;
		// one still being removed is recreated once it is gone.
		sw := w.works[t.Member]
		switch {
		case sw == nil:
			w.works[t.Member] = &simWork{snapshot: t.SnapshotIndex, writtenAt: w.now}
			wrote = true
		case sw.deleting:
		case sw.snapshot != t.SnapshotIndex:
			sw.snapshot, sw.writtenAt = t.SnapshotIndex, w.now
			wrote = true
		}
	}
	for _, r := range p.Removals {
		b := w.bindings[r.Name]
		if r.MarkUnscheduled {
			b.State = fleetv1.BindingUnscheduled
			wrote = true
		}
		sw := w.works[r.Member]
		if sw != nil && !sw.deleting {
			sw.deleting, sw.deletedAt = true, w.now
			wrote = true
		}
		w.finishRemovals()
		if w.works[r.Member] == nil {
			delete(w.bindings, r.Name)
			wrote = true
		}
	}
	return wrote
}

// checkPlan checks what every plan must keep.
func (w *world) checkPlan(in Input, p Plan) {
	w.t.Helper()
	fail := func(format string, args ...any) {
		w.t.Helper()
		w.t.Fatalf("step %d at %s: "+format+"\ninput %+v\nplan %+v", append(append([]any{w.steps, w.now.Sub(t0)}, args...), in, p)...)
	}
	// Deterministic, and blind to the order bindings are listed in.
	if again := Make(in); !reflect.DeepEqual(again, p) {
		fail("not deterministic: %+v", again)
	}
	reversed := in
	reversed.Bindings = slices.Clone(in.Bindings)
	slices.Reverse(reversed.Bindings)
	if r := Make(reversed); !reflect.DeepEqual(r, p) {
		fail("depends on the order of bindings: %+v", r)
	}

	if len(p.Targets) != len(in.Picked) {
		fail("%d targets for %d picked members", len(p.Targets), len(in.Picked))
	}
	period := UnavailablePeriod(in.Strategy)
	budget := MaxUnavailable(in.Strategy, len(in.Picked))
	unavailable, movedAvailable := 0, 0
	for i, t := range p.Targets {
		pick := in.Picked[i]
		if t.Member != pick.Member || t.State != fleetv1.BindingBound || t.Reason != pick.Reason || t.Score != pick.Score {
			fail("target %+v for pick %+v", t, pick)
		}
		b, has := bindingOf(in, t.Member)
		switch {
		case !has && t.Op != Create:
			fail("%s has no binding, yet %s", t.Member, t.Op)
		case has && (t.Op == Create || t.Name != b.Name):
			fail("%s has binding %s, yet %s %q", t.Member, b.Name, t.Op, t.Name)
		case t.SnapshotIndex != in.LatestIndex && (!has || t.SnapshotIndex != b.SnapshotIndex):
			fail("%s moves to snapshot %d, neither the newest nor its own", t.Member, t.SnapshotIndex)
		case t.Op == Keep && (b.State != t.State || b.SnapshotIndex != t.SnapshotIndex || b.Reason != t.Reason || b.Score != t.Score):
			fail("%s kept, but its binding %+v differs", t.Member, b)
		}
		// Where the member stands before any move within the budget.
		settled := has && b.State == fleetv1.BindingBound && b.SnapshotIndex != NoSnapshot
		from := in.LatestIndex
		if settled {
			from = b.SnapshotIndex
		}
		r, hasWork := in.Works[t.Member]
		avail, _ := available(from, r, hasWork, period, in.Now)
		moved := settled && t.SnapshotIndex != b.SnapshotIndex
		if moved && in.Strategy.Type == placementv1.ExternalRolloutStrategyType {
			fail("External, yet %s moved from snapshot %d", t.Member, b.SnapshotIndex)
		}
		switch {
		case moved && avail:
			movedAvailable++
		case !avail:
			unavailable++
		}
	}
	if movedAvailable > 0 && unavailable+movedAvailable > budget {
		fail("%d available members moved with %d unavailable already, budget %d", movedAvailable, unavailable, budget)
	}

	picked := map[string]bool{}
	for _, pk := range in.Picked {
		picked[pk.Member] = true
	}
	var wantRemovals []string
	seen := map[string]bool{}
	for _, b := range in.Bindings {
		if !picked[b.Member] && !seen[b.Member] {
			seen[b.Member] = true
			wantRemovals = append(wantRemovals, b.Member)
		}
	}
	sort.Strings(wantRemovals)
	var gotRemovals []string
	for _, r := range p.Removals {
		gotRemovals = append(gotRemovals, r.Member)
		if b, _ := bindingOf(in, r.Member); b.Name != r.Name || r.MarkUnscheduled != (b.State != fleetv1.BindingUnscheduled) {
			fail("removal %+v of binding %+v", r, b)
		}
	}
	if !slices.Equal(gotRemovals, wantRemovals) {
		fail("removes %v, want %v", gotRemovals, wantRemovals)
	}
	if len(p.Duplicates)+len(seen)+len(p.Targets)-countCreates(p) != len(in.Bindings) {
		fail("%d duplicates of %d bindings", len(p.Duplicates), len(in.Bindings))
	}

	if p.RecheckAfter < 0 {
		fail("RecheckAfter %s", p.RecheckAfter)
	}
	if p.RecheckAfter > 0 {
		due := false
		for _, t := range p.Targets {
			if r, ok := in.Works[t.Member]; ok && r.Applied.Status == metav1.ConditionTrue &&
				r.Applied.Since.Add(period).Equal(in.Now.Add(p.RecheckAfter)) {
				due = true
			}
		}
		if !due {
			fail("RecheckAfter %s, but no applied member becomes available then", p.RecheckAfter)
		}
	}
}

func countCreates(p Plan) int {
	n := 0
	for _, t := range p.Targets {
		if t.Op == Create {
			n++
		}
	}
	return n
}

// nextEvent is the earliest time the world changes by itself, or the plan
// asked to look again.
func (w *world) nextEvent() time.Time {
	var next time.Time
	consider := func(t time.Time) {
		if t.After(w.now) && (next.IsZero() || t.Before(next)) {
			next = t
		}
	}
	if w.last.RecheckAfter > 0 {
		consider(w.now.Add(w.last.RecheckAfter))
	}
	for m, sw := range w.works {
		a := w.agents[m]
		if sw.deleting {
			consider(sw.deletedAt.Add(a.removeTakes))
			continue
		}
		if a.stuck(sw.writtenAt) {
			continue
		}
		applied := sw.writtenAt.Add(a.applyTakes)
		consider(applied)
		if a.availableTakes >= 0 {
			consider(applied.Add(a.availableTakes))
		}
	}
	return next
}

// settle steps, moving the clock to the next event whenever a step writes
// nothing, until nothing is left to happen before until (zero: ever).
// It reports whether the world came to rest.
func (w *world) settle(until time.Time, maxSteps int) bool {
	w.t.Helper()
	for i := 0; i < maxSteps; i++ {
		if w.step() {
			continue
		}
		next := w.nextEvent()
		if next.IsZero() || (!until.IsZero() && next.After(until)) {
			if !until.IsZero() {
				w.now = until
			}
			return next.IsZero()
		}
		w.now = next
	}
	w.t.Fatalf("no rest in %d steps:\n%s", maxSteps, w.describe())
	return false
}

// checkConverged checks the world at rest: every picked member holds the
// newest snapshot (or, with External, a snapshot it was given) on its one
// binding and is available; no member that is not picked keeps anything.
func (w *world) checkConverged() {
	w.t.Helper()
	picked := map[string]bool{}
	for _, m := range w.picked {
		picked[m] = true
	}
	per := map[string]int{}
	for _, b := range w.bindings {
		per[b.Member]++
		switch {
		case !picked[b.Member]:
			w.t.Fatalf("binding %s of unpicked member %s left:\n%s", b.Name, b.Member, w.describe())
		case b.State != fleetv1.BindingBound:
			w.t.Fatalf("binding %s is %s:\n%s", b.Name, b.State, w.describe())
		case w.strategy.Type != placementv1.ExternalRolloutStrategyType && b.SnapshotIndex != w.latest:
			w.t.Fatalf("binding %s at snapshot %d, newest %d:\n%s", b.Name, b.SnapshotIndex, w.latest, w.describe())
		case !w.snapshotExists(b.SnapshotIndex):
			w.t.Fatalf("binding %s at pruned snapshot %d:\n%s", b.Name, b.SnapshotIndex, w.describe())
		}
	}
	for _, m := range w.picked {
		if per[m] != 1 {
			w.t.Fatalf("%s has %d bindings:\n%s", m, per[m], w.describe())
		}
		if !w.available(m) {
			w.t.Fatalf("%s not available at rest:\n%s", m, w.describe())
		}
	}
	for m := range w.works {
		if !picked[m] {
			w.t.Fatalf("Work of unpicked member %s left:\n%s", m, w.describe())
		}
	}
	if len(w.last.Removals) > 0 || len(w.last.Duplicates) > 0 || countCreates(w.last) > 0 {
		w.t.Fatalf("at rest, yet the plan has work: %+v", w.last)
	}
	for _, t := range w.last.Targets {
		if t.Op != Keep {
			w.t.Fatalf("at rest, yet the plan changes %s: %+v", t.Member, t)
		}
	}
}

func (w *world) describe() string {
	var b strings.Builder
	fmt.Fprintf(&b, "at %s, newest snapshot %d, picked %v, strategy %+v\n", w.now.Sub(t0), w.latest, w.picked, w.strategy.RollingUpdate)
	var names []string
	for n := range w.bindings {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		bd := w.bindings[n]
		fmt.Fprintf(&b, "  binding %s: %s %s @%d\n", n, bd.Member, bd.State, bd.SnapshotIndex)
	}
	var members []string
	for m := range w.works {
		members = append(members, m)
	}
	sort.Strings(members)
	for _, m := range members {
		r, _ := w.report(m)
		fmt.Fprintf(&b, "  work %s: @%d deleting=%v applied=%s available=%s\n", m, w.works[m].snapshot, w.works[m].deleting, r.Applied.Status, r.Available.Status)
	}
	return b.String()
}

func names(prefix string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("%s-%02d", prefix, i)
	}
	return out
}

func TestSimulatedRolloutNeverExceedsMaxUnavailable(t *testing.T) {
	for _, tc := range []struct {
		name           string
		members        int
		maxUnavailable *intstr.IntOrString
		agent          agent
		want           int
	}{
		{"3 of 10 at a time, available after 30 s", 10, ptr.To(intstr.FromInt32(3)), agent{applyTakes: 10 * time.Second, availableTakes: 20 * time.Second}, 3},
		{"the default 25% of 8", 8, nil, agent{applyTakes: time.Second, availableTakes: time.Second}, 2},
		{"no availability signal: the unavailable period", 5, ptr.To(intstr.FromString("40%")), agent{applyTakes: 5 * time.Second, availableTakes: -1}, 2},
		{"one member alone", 1, ptr.To(intstr.FromInt32(1)), agent{availableTakes: time.Second}, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld(t, rolling(tc.maxUnavailable), names("m", tc.members)...)
			for _, a := range w.agents {
				*a = tc.agent
			}
			w.settle(time.Time{}, 1000)
			w.checkConverged()
			w.maxUnavailableSeen = 0
			w.latest++
			start := w.now
			w.settle(time.Time{}, 1000)
			w.checkConverged()
			if w.maxUnavailableSeen != tc.want {
				t.Errorf("at most %d members unavailable at once, want exactly %d", w.maxUnavailableSeen, tc.want)
			}
			t.Logf("rolled out in %s of fake time, %d steps", w.now.Sub(start), w.steps)
		})
	}
}

func TestSimulatedRolloutWaitsForTheUnavailablePeriod(t *testing.T) {
	s := rolling(ptr.To(intstr.FromInt32(1)))
	s.RollingUpdate.UnavailablePeriodSeconds = ptr.To(300)
	w := newWorld(t, s, names("m", 3)...)
	for _, a := range w.agents {
		*a = agent{applyTakes: time.Second, availableTakes: -1}
	}
	w.settle(time.Time{}, 100)
	w.latest++
	start := w.now
	w.settle(time.Time{}, 100)
	w.checkConverged()
	// One at a time: apply (1 s) then 300 s each.
	if got, want := w.now.Sub(start), 3*301*time.Second; got != want {
		t.Fatalf("rollout took %s, want %s", got, want)
	}
}

func TestSimulatedNewSnapshotMidRollout(t *testing.T) {
	w := newWorld(t, rolling(ptr.To(intstr.FromInt32(2))), names("m", 6)...)
	for _, a := range w.agents {
		*a = agent{applyTakes: 10 * time.Second, availableTakes: 10 * time.Second}
	}
	w.settle(time.Time{}, 100)
	w.maxUnavailableSeen = 0
	w.latest++
	w.settle(w.now.Add(25*time.Second), 100)
	w.latest++
	w.latest++
	w.settle(time.Time{}, 1000)
	w.checkConverged()
	if w.maxUnavailableSeen > 2 {
		t.Fatalf("%d unavailable at once", w.maxUnavailableSeen)
	}
}

func TestSimulatedBrokenAgentHoldsTheRollout(t *testing.T) {
	w := newWorld(t, rolling(ptr.To(intstr.FromInt32(1))), names("m", 3)...)
	for _, a := range w.agents {
		*a = agent{availableTakes: time.Second}
	}
	w.settle(time.Time{}, 100)
	w.agents["m-00"].brokenFrom = w.now
	w.latest++
	if !w.settle(w.now.Add(time.Hour), 100) {
		t.Fatal("the world did not come to rest")
	}
	for _, m := range []string{"m-01", "m-02"} {
		if b, _ := bindingOf(w.observe(), m); b.SnapshotIndex != 0 {
			t.Fatalf("%s moved while m-00 is stuck:\n%s", m, w.describe())
		}
	}
	w.agents["m-00"].brokenFrom = time.Time{}
	w.settle(time.Time{}, 100)
	w.checkConverged()
}

func TestSimulatedMembersComeAndGo(t *testing.T) {
	w := newWorld(t, rolling(ptr.To(intstr.FromInt32(1))), "a", "b", "c")
	for _, a := range w.agents {
		*a = agent{applyTakes: time.Second, availableTakes: time.Second, removeTakes: 5 * time.Second}
	}
	w.settle(time.Time{}, 100)
	w.checkConverged()
	w.pick("b", "c", "d")
	w.agents["d"].availableTakes = time.Second
	w.settle(w.now.Add(2*time.Second), 100) // a's Work is still being removed
	w.pick("a", "b", "c", "d")              // and a is picked again
	w.latest++
	w.settle(time.Time{}, 1000)
	w.checkConverged()
}

func TestSimulatedExternalLeavesMembersWhereTheyAre(t *testing.T) {
	w := newWorld(t, placementv1.RolloutStrategy{Type: placementv1.ExternalRolloutStrategyType}, "a", "b")
	w.history = 2
	w.settle(time.Time{}, 100)
	w.latest++
	w.pick("a", "b", "c")
	w.settle(time.Time{}, 100)
	w.checkConverged()
	got := map[string]int32{}
	for _, b := range w.bindings {
		got[b.Member] = b.SnapshotIndex
	}
	if want := map[string]int32{"a": 0, "b": 0, "c": 1}; !reflect.DeepEqual(got, want) {
		t.Fatalf("snapshots %v, want %v", got, want)
	}
	// Snapshot 0 is pruned: its members move to the newest.
	w.latest++
	w.settle(time.Time{}, 100)
	w.checkConverged()
	for _, b := range w.bindings {
		if b.Member != "c" && b.SnapshotIndex != 2 {
			t.Fatalf("%s still at pruned snapshot %d", b.Member, b.SnapshotIndex)
		}
	}
}

func TestSimulatedDuplicateBindingsAreDeleted(t *testing.T) {
	w := newWorld(t, rolling(nil), "a")
	w.bindings["a-old"] = &Binding{Name: "a-old", Member: "a", State: fleetv1.BindingBound, SnapshotIndex: 0, Reason: "picked"}
	w.bindings["a-new"] = &Binding{Name: "a-new", Member: "a", State: fleetv1.BindingBound, SnapshotIndex: 0, Reason: "picked"}
	w.settle(time.Time{}, 100)
	w.checkConverged()
	if _, ok := w.bindings["a-new"]; !ok {
		t.Fatalf("kept the wrong binding:\n%s", w.describe())
	}
}
