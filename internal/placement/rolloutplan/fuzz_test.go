package rolloutplan

import (
	"fmt"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"

	placementv1 "github.com/flotilla-dev/flotilla/api/placement/v1"
	fleetv1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
)

// entropy hands out small decisions from fuzz input; once it runs dry every
// decision is 0, so any input decodes to a finite scenario.
type entropy struct{ data []byte }

func (e *entropy) intn(n int) int {
	if n <= 1 || len(e.data) == 0 {
		return 0
	}
	b := e.data[0]
	e.data = e.data[1:]
	return int(b) % n
}

func (e *entropy) chance(percent int) bool { return e.intn(100) < percent }

func (e *entropy) maxUnavailable() *intstr.IntOrString {
	switch e.intn(5) {
	case 1:
		return ptr.To(intstr.FromInt32(int32(e.intn(5))))
	case 2:
		return ptr.To(intstr.FromString(fmt.Sprintf("%d%%", e.intn(101))))
	case 3:
		return ptr.To(intstr.FromString("bogus"))
	}
	return nil
}

func (e *entropy) subset(all []string) []string {
	var out []string
	for _, m := range all {
		if e.chance(60) {
			out = append(out, m)
		}
	}
	return out
}

// fuzzWorld builds a fleet, a strategy and a hub that may already hold
// bindings from earlier (stale, duplicated, being removed, pruned).
func fuzzWorld(t *testing.T, e *entropy) *world {
	all := names("m", e.intn(11))
	strategy := placementv1.RolloutStrategy{Type: placementv1.RollingUpdateRolloutStrategyType}
	if e.chance(15) {
		strategy.Type = placementv1.ExternalRolloutStrategyType
	}
	if e.chance(80) {
		strategy.RollingUpdate = &placementv1.RollingUpdateConfig{MaxUnavailable: e.maxUnavailable()}
		if e.chance(50) {
			strategy.RollingUpdate.UnavailablePeriodSeconds = ptr.To(10 * e.intn(31))
		}
	}
	w := newWorld(t, strategy, e.subset(all)...)
	w.history = int32(1 + e.intn(5))
	w.latest = int32(e.intn(4))
	for _, m := range all {
		if w.agents[m] == nil {
			w.agents[m] = &agent{}
		}
		a := w.agents[m]
		a.applyTakes = time.Duration(e.intn(4)) * 10 * time.Second
		a.availableTakes = time.Duration(e.intn(4)-1) * 10 * time.Second
		a.removeTakes = time.Duration(e.intn(3)) * 5 * time.Second
	}
	states := []fleetv1.BindingState{fleetv1.BindingBound, fleetv1.BindingBound, fleetv1.BindingScheduled, fleetv1.BindingUnscheduled}
	for i := e.intn(6); i > 0; i-- {
		if len(all) == 0 {
			break
		}
		m := all[e.intn(len(all))]
		b := &Binding{Name: fmt.Sprintf("%s-old%d", m, i), Member: m, State: states[e.intn(len(states))],
			SnapshotIndex: int32(e.intn(int(w.latest) + 1)), Reason: "earlier"}
		w.bindings[b.Name] = b
		if w.works[m] == nil {
			w.works[m] = &simWork{snapshot: b.SnapshotIndex, writtenAt: w.now.Add(-time.Hour)}
		}
	}
	return w
}

// FuzzRollout runs random rollouts (new snapshots, members picked and
// dropped, agents breaking and healing, the budget changing) and checks
// after every step that plans are deterministic, place every picked member,
// move available members only within maxUnavailable and never under
// External, and remove exactly the members no longer picked; and that once
// the world calms down every picked member ends on the newest snapshot, and
// nothing is left for members that are not picked.
func FuzzRollout(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte{10, 2, 70, 1, 2, 1, 3, 0, 0, 1, 2, 3, 1, 0, 2, 5, 9, 14, 0, 1, 2, 1, 1, 0})
	f.Add([]byte("rolling updates within maxUnavailable, members coming and going"))
	f.Add([]byte{255, 254, 253, 0, 0, 0, 128, 64, 32, 16, 8, 4, 2, 1, 99, 98, 97, 96, 95, 94, 93})
	f.Fuzz(func(t *testing.T, data []byte) {
		e := &entropy{data: data}
		w := fuzzWorld(t, e)
		all := names("m", len(w.agents))
		for i := e.intn(10); i > 0; i-- {
			w.settle(w.now.Add(time.Duration(e.intn(120))*time.Second), 5000)
			switch e.intn(7) {
			case 0, 1:
				w.latest += int32(1 + e.intn(3))
			case 2:
				w.pick(e.subset(all)...)
			case 3:
				if len(all) > 0 {
					w.agents[all[e.intn(len(all))]].brokenFrom = w.now
				}
			case 4:
				if len(all) > 0 {
					w.agents[all[e.intn(len(all))]].brokenFrom = time.Time{}
				}
			case 5:
				if w.strategy.RollingUpdate != nil {
					w.strategy.RollingUpdate.MaxUnavailable = e.maxUnavailable()
				}
			case 6:
				// Nothing happens; time passes.
			}
		}
		for _, a := range w.agents {
			a.brokenFrom = time.Time{}
		}
		if !w.settle(time.Time{}, 5000) {
			t.Fatalf("no rest:\n%s", w.describe())
		}
		w.checkConverged()
	})
}
