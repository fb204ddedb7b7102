package rollout

import (
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	fleetv1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
)

// ref locates a node of the status tree; its path is only built when a
// transition is recorded, to keep steps cheap.
type ref struct {
	kind               NodeKind
	stage, group, name string
}

func (r ref) path() string {
	parts := make([]string, 0, 3)
	for _, p := range []string{r.stage, r.group, r.name} {
		if p != "" {
			parts = append(parts, p)
		}
	}
	return strings.Join(parts, "/")
}

func stageRef(n *stageNode) ref { return ref{kind: KindStage, stage: n.name} }
func groupRef(g *groupNode) ref { return ref{kind: KindGroup, stage: g.stage.name, group: g.name} }
func memberRef(g *groupNode, m *fleetv1.MemberProgress) ref {
	return ref{kind: KindMember, stage: g.stage.name, group: g.name, name: m.Name}
}

// stateOf reads a state, treating an empty one as NotStarted.
func stateOf(p *fleetv1.Progress) fleetv1.State {
	if p.State == "" {
		return fleetv1.StateNotStarted
	}
	return p.State
}

// finished reports a state a node does not leave on its own.
func finished(s fleetv1.State) bool {
	switch s {
	case fleetv1.StateCompleted, fleetv1.StateSkipped, fleetv1.StateFailed, fleetv1.StateStopped:
		return true
	}
	return false
}

// done reports a state that lets what follows proceed.
func done(s fleetv1.State) bool {
	return s == fleetv1.StateCompleted || s == fleetv1.StateSkipped
}

// notYetStarted reports a state of a node that has not begun its work.
func notYetStarted(s fleetv1.State) bool {
	return s == "" || s == fleetv1.StateNotStarted || s == fleetv1.StatePending
}

// timestamp is the step's time as recorded in status: whole seconds in UTC,
// exactly what survives a round trip through the API server, so that a
// status fed back in computes the same deadlines.
func (s *stepper) timestamp() *metav1.Time {
	t := metav1.NewTime(s.now.UTC().Truncate(time.Second))
	return &t
}

// set moves a node to a state with a message, stamping its start (on
// Running, or Pending for a gate) and completion (on a finished state), and
// records the transition.
func (s *stepper) set(r ref, p *fleetv1.Progress, state fleetv1.State, message string) {
	from := stateOf(p)
	p.Message = message
	if (state == fleetv1.StateRunning || (state == fleetv1.StatePending && r.kind == KindGate)) && p.StartTime == nil {
		p.StartTime = s.timestamp()
	}
	switch {
	case finished(state) && (p.CompletedTime == nil || !finished(from)):
		p.CompletedTime = s.timestamp()
	case !finished(state):
		p.CompletedTime = nil
	}
	if from == state {
		return
	}
	p.State = state
	s.transitions = append(s.transitions, Transition{Kind: r.kind, Path: r.path(), From: from, To: state, Message: message})
}

// wake notes a future time at which the clock alone changes something.
func (s *stepper) wake(t time.Time) {
	if !t.After(s.now) {
		return
	}
	if s.next.IsZero() || t.Before(s.next) {
		s.next = t
	}
}
