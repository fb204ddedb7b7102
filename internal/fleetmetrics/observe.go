package fleetmetrics

import (
	"errors"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	fleetv1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
)

var (
	upgradeBuckets = []float64{30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 14400}
	waitBuckets    = []float64{1, 10, 60, 300, 900, 3600, 4 * 3600, 24 * 3600}
	placeBuckets   = []float64{0.5, 1, 2, 5, 10, 30, 60, 120, 300, 600}

	memberUpgradeDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    MemberUpgradeDuration,
		Help:    "Seconds from a member's start to its end in an update run, by how it ended (Completed or Failed).",
		Buckets: upgradeBuckets,
	}, []string{"result"})
	stageDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    StageDuration,
		Help:    "Seconds from a stage's start to its end in an update run, by how it ended (Completed or Failed).",
		Buckets: upgradeBuckets,
	}, []string{"result"})
	gateWait = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    GateWait,
		Help:    "Seconds a gate of an update run waited before it was passed, by gate type.",
		Buckets: waitBuckets,
	}, []string{"type"})
	healthChecks = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: HealthChecks,
		Help: "Health-check rounds of update runs that ended, by scope (Member, Group, Stage) and result (Completed or Failed).",
	}, []string{"scope", "result"})
	placementLatency = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    PlacementLatency,
		Help:    "Seconds from a resource snapshot's creation to its Work's condition (Applied, Available) turning True on a member.",
		Buckets: placeBuckets,
	}, []string{"member", "condition"})
)

// Register adds the hub's histograms and counters and a Collector to reg
// (controller-runtime's metrics.Registry in the hub); registering the
// histograms again is not an error, so that a process may run hubs one
// after another.
func Register(reg prometheus.Registerer, c *Collector) error {
	for _, m := range []prometheus.Collector{memberUpgradeDuration, stageDuration, gateWait, healthChecks, placementLatency} {
		if err := reg.Register(m); err != nil && !errors.As(err, &prometheus.AlreadyRegisteredError{}) {
			return err
		}
	}
	if c == nil {
		return nil
	}
	err := reg.Register(c)
	if are := (prometheus.AlreadyRegisteredError{}); errors.As(err, &are) {
		// An earlier hub of this process: its cache is gone.
		reg.Unregister(are.ExistingCollector)
		err = reg.Register(c)
	}
	return err
}

// Observation is one value for a histogram (or, for a counter, an
// increment by Value).
type Observation struct {
	Name        string
	LabelValues []string
	Value       float64
}

// Observe records observations.
func Observe(obs []Observation) {
	for _, o := range obs {
		switch o.Name {
		case MemberUpgradeDuration:
			memberUpgradeDuration.WithLabelValues(o.LabelValues...).Observe(o.Value)
		case StageDuration:
			stageDuration.WithLabelValues(o.LabelValues...).Observe(o.Value)
		case GateWait:
			gateWait.WithLabelValues(o.LabelValues...).Observe(o.Value)
		case HealthChecks:
			healthChecks.WithLabelValues(o.LabelValues...).Add(o.Value)
		case PlacementLatency:
			placementLatency.WithLabelValues(o.LabelValues...).Observe(o.Value)
		}
	}
}

// RunObservations are what changed from before to after, one step of an
// update run: members and stages that ended, gates passed, health-check
// rounds that ended. A state that did not change observes nothing, so a
// step written twice counts once.
func RunObservations(before, after *fleetv1.UpdateRunStatus) []Observation {
	var out []Observation
	oldStages := map[string]*fleetv1.StageProgress{}
	for i := range before.Stages {
		oldStages[before.Stages[i].Name] = &before.Stages[i]
	}
	for i := range after.Stages {
		s := &after.Stages[i]
		os := oldStages[s.Name]
		if os == nil {
			os = &fleetv1.StageProgress{}
		}
		out = appendEnded(out, StageDuration, os.Progress, s.Progress)
		out = appendGates(out, os.BeforeGates, s.BeforeGates)
		out = appendGates(out, os.AfterGates, s.AfterGates)
		out = appendChecks(out, "Stage", os.HealthChecks, s.HealthChecks)
		oldGroups := map[string]*fleetv1.GroupProgress{}
		for j := range os.Groups {
			oldGroups[os.Groups[j].Name] = &os.Groups[j]
		}
		for j := range s.Groups {
			g := &s.Groups[j]
			og := oldGroups[g.Name]
			if og == nil {
				og = &fleetv1.GroupProgress{}
			}
			out = appendGates(out, og.BeforeGates, g.BeforeGates)
			out = appendGates(out, og.AfterGates, g.AfterGates)
			out = appendChecks(out, "Group", og.HealthChecks, g.HealthChecks)
			oldMembers := map[string]*fleetv1.MemberProgress{}
			for k := range og.Members {
				oldMembers[og.Members[k].Name] = &og.Members[k]
			}
			for k := range g.Members {
				m := &g.Members[k]
				om := oldMembers[m.Name]
				if om == nil {
					om = &fleetv1.MemberProgress{}
				}
				out = appendEnded(out, MemberUpgradeDuration, om.Progress, m.Progress)
				out = appendChecks(out, "Member", om.HealthChecks, m.HealthChecks)
			}
		}
	}
	return out
}

func ended(s fleetv1.State) bool { return s == fleetv1.StateCompleted || s == fleetv1.StateFailed }

// appendEnded observes the duration of a progress that just ended.
func appendEnded(out []Observation, name string, before, after fleetv1.Progress) []Observation {
	if !ended(after.State) || before.State == after.State || after.StartTime == nil || after.CompletedTime == nil {
		return out
	}
	return append(out, Observation{name, []string{string(after.State)}, max(after.CompletedTime.Sub(after.StartTime.Time).Seconds(), 0)})
}

func appendGates(out []Observation, before, after []fleetv1.GateProgress) []Observation {
	old := map[string]fleetv1.State{}
	for _, g := range before {
		old[g.Name] = g.State
	}
	for _, g := range after {
		if g.State != fleetv1.StateCompleted || old[g.Name] == g.State || g.StartTime == nil || g.CompletedTime == nil {
			continue
		}
		out = append(out, Observation{GateWait, []string{string(g.Type)}, max(g.CompletedTime.Sub(g.StartTime.Time).Seconds(), 0)})
	}
	return out
}

func appendChecks(out []Observation, scope string, before, after *fleetv1.Progress) []Observation {
	if after == nil || !ended(after.State) || before != nil && before.State == after.State {
		return out
	}
	return append(out, Observation{HealthChecks, []string{scope, string(after.State)}, 1})
}

// PlacementObservations are the latencies from snapshot's creation to
// work's Applied and Available conditions turning True on member, for a
// Work that holds that snapshot and whose conditions are of its current
// generation.
func PlacementObservations(member string, snapshot *fleetv1.ResourceSnapshot, work *fleetv1.Work) []Observation {
	if snapshot == nil || work == nil || work.Spec.ResourceSnapshotName != snapshot.Name {
		return nil
	}
	var out []Observation
	for _, t := range []string{fleetv1.WorkApplied, fleetv1.WorkAvailable} {
		c := meta.FindStatusCondition(work.Status.Conditions, t)
		if c == nil || c.Status != metav1.ConditionTrue || c.ObservedGeneration != work.Generation {
			continue
		}
		out = append(out, Observation{PlacementLatency, []string{member, t},
			max(c.LastTransitionTime.Sub(snapshot.CreationTimestamp.Time).Seconds(), 0)})
	}
	return out
}

// PlacementObserver records PlacementObservations once per Work, snapshot
// and condition. A condition that turned True before the observer was made
// (before a hub restart) is not observed again.
type PlacementObserver struct {
	since time.Time
	mu    sync.Mutex
	// seen is, per Work, the snapshot last observed and its conditions
	// observed.
	seen map[types.UID]placementSeen
}

type placementSeen struct {
	snapshot   string
	conditions map[string]bool
}

// NewPlacementObserver is an observer of the conditions that turn True from
// now on.
func NewPlacementObserver(now time.Time) *PlacementObserver {
	return &PlacementObserver{since: now.Truncate(time.Second), seen: map[types.UID]placementSeen{}}
}

// Observe records the latencies of work on member not recorded yet.
func (p *PlacementObserver) Observe(member string, snapshot *fleetv1.ResourceSnapshot, work *fleetv1.Work) {
	if p == nil {
		return
	}
	obs := PlacementObservations(member, snapshot, work)
	if len(obs) == 0 {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	s := p.seen[work.UID]
	if s.snapshot != snapshot.Name {
		s = placementSeen{snapshot: snapshot.Name, conditions: map[string]bool{}}
		p.seen[work.UID] = s
	}
	for _, o := range obs {
		cond := o.LabelValues[1]
		if s.conditions[cond] {
			continue
		}
		s.conditions[cond] = true
		c := meta.FindStatusCondition(work.Status.Conditions, cond)
		if c.LastTransitionTime.Time.Before(p.since) {
			continue
		}
		Observe([]Observation{o})
	}
}
