package rollout

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"

	fleetv1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
)

// maxObjectName is the longest name of a cluster-scoped object (a DNS
// subdomain).
const maxObjectName = 253

// GateName is the name of the Gate object for a run's gate: <run>-<stage>
// [-<group>]-before|after-<index>-<hash>, lower-cased. The hash is of the
// parts themselves, so names whose dashes line up differently (run "app",
// stage "eu-1" and run "app-eu", stage "1") never meet; a name that would be
// too long is cut before the hash, so it stays unique and stable.
func GateName(run, stage, group string, timing fleetv1.GateTiming, index int) string {
	parts := []string{run, stage}
	if group != "" {
		parts = append(parts, group)
	}
	parts = append(parts, strings.ToLower(string(timing)), fmt.Sprint(index))
	readable := strings.Trim(strings.ToLower(strings.Join(parts, "-")), "-.")
	sum := sha256.Sum256([]byte(strings.Join([]string{run, stage, group, string(timing), fmt.Sprint(index)}, "\x00")))
	suffix := hex.EncodeToString(sum[:4])
	if len(readable)+1+len(suffix) > maxObjectName {
		readable = strings.TrimRight(readable[:maxObjectName-len(suffix)-1], "-.")
	}
	return readable + "-" + suffix
}

// gateSet is the gates guarding one point of a run, with their config.
type gateSet struct {
	progress []fleetv1.GateProgress
	configs  []fleetv1.GateConfig
	stage    string
	group    string
	timing   fleetv1.GateTiming
}

// buildGates lines recorded gate progress up with the configured gates, by
// name; a gate with no record starts NotStarted.
func buildGates(run, stage, group string, timing fleetv1.GateTiming, configs []fleetv1.GateConfig, recorded []fleetv1.GateProgress) []fleetv1.GateProgress {
	if len(configs) == 0 {
		return nil
	}
	out := make([]fleetv1.GateProgress, len(configs))
	for i, c := range configs {
		name := GateName(run, stage, group, timing, i)
		out[i] = fleetv1.GateProgress{Name: name, Type: c.Type, DisplayName: c.DisplayName, Progress: fleetv1.Progress{State: fleetv1.StateNotStarted}}
		if i < len(recorded) && recorded[i].Name == name {
			out[i].Progress = recorded[i].Progress
		}
	}
	return out
}

// passGates advances the gates guarding one point of the run and returns
// what is still awaited, or "" once every gate is Completed or Skipped. The
// gates of a point are all reached at once and wait side by side. An
// Approval gate completes when its Gate object does; a ScheduledStart gate
// when its slot arrives (or when someone completes its object early).
func (s *stepper) passGates(gs *gateSet) string {
	var waiting []string
	for i := range gs.progress {
		g := &gs.progress[i]
		if done(g.State) {
			continue
		}
		r := ref{kind: KindGate, stage: gs.stage, group: gs.group, name: g.Name}
		if g.State != fleetv1.StatePending {
			s.set(r, &g.Progress, fleetv1.StatePending, "")
		}
		switch s.in.Observed.Gates[g.Name] {
		case fleetv1.GateCompleted:
			s.set(r, &g.Progress, fleetv1.StateCompleted, "completed on its Gate object")
			continue
		case fleetv1.GateSkipped:
			s.set(r, &g.Progress, fleetv1.StateSkipped, "skipped on its Gate object")
			continue
		}
		cfg := gs.configs[i]
		if cfg.Type != fleetv1.GateScheduledStart {
			g.Message = "waiting for approval: flotilla gate approve " + g.Name
			waiting = append(waiting, "approval of gate "+g.Name)
			continue
		}
		if cfg.Schedule == nil {
			g.Message = "no schedule: complete the Gate object to pass it"
			waiting = append(waiting, "gate "+g.Name)
			continue
		}
		slot, err := NextScheduledStart(*cfg.Schedule, g.StartTime.Time)
		if err != nil {
			g.Message = err.Error() + ": complete the Gate object to pass it"
			waiting = append(waiting, "gate "+g.Name)
			continue
		}
		if !s.now.Before(slot) {
			s.set(r, &g.Progress, fleetv1.StateCompleted, "scheduled start "+formatTime(slot)+" reached")
			continue
		}
		s.wake(slot)
		g.Message = "opens at " + formatTime(slot)
		waiting = append(waiting, "gate "+g.Name+" (opens at "+formatTime(slot)+")")
	}
	return strings.Join(waiting, ", ")
}

// syncGates asks the controller to make Gate objects match the status: a
// Pending gate needs an object; a gate the engine completed (a schedule) or
// skipped needs its object to say so.
func (s *stepper) syncGates() {
	sync := func(gs *gateSet) {
		for i := range gs.progress {
			g := &gs.progress[i]
			observed, exists := s.in.Observed.Gates[g.Name]
			var want fleetv1.GateState
			switch {
			case g.State == fleetv1.StatePending && !exists:
				want = fleetv1.GatePending
			case g.State == fleetv1.StateCompleted && observed == fleetv1.GatePending:
				want = fleetv1.GateCompleted
			case g.State == fleetv1.StateSkipped && observed == fleetv1.GatePending:
				want = fleetv1.GateSkipped
			default:
				continue
			}
			cfg := gs.configs[i]
			s.actions.Gates = append(s.actions.Gates, EnsureGate{
				Name: g.Name, Type: cfg.Type, DisplayName: cfg.DisplayName, Stage: gs.stage, Group: gs.group,
				Timing: gs.timing, Schedule: cfg.Schedule, State: want,
			})
		}
	}
	for _, n := range s.stages {
		sync(&n.before)
		for _, g := range n.groups {
			sync(&g.before)
			sync(&g.after)
		}
		sync(&n.after)
	}
}
