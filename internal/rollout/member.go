package rollout

import (
	"fmt"

	fleetv1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
)

// advanceMember follows a Running member: its upgrade, then its health
// checks. A member is in flight, and holds a concurrency slot, until both
// are over.
func (s *stepper) advanceMember(g *groupNode, m *fleetv1.MemberProgress) {
	r := memberRef(g, m)
	if m.HealthChecks == nil {
		obs := s.in.Observed.Members[m.Name].Upgrade
		if !obs.StartedAt.IsZero() && m.StartTime != nil && obs.StartedAt.Before(m.StartTime.Time) {
			obs = UpgradeObservation{} // a report on an earlier attempt
		}
		if obs.State == UpgradeUnknown && s.in.Observed.Members[m.Name].AtTarget {
			// No word from the provider (it may have lost its record), but
			// the member runs the target: the upgrade is evidently done.
			obs.State = UpgradeSucceeded
		}
		switch obs.State {
		case UpgradeSucceeded:
			if len(s.memberChecks) == 0 {
				s.set(r, &m.Progress, fleetv1.StateCompleted, "upgraded to "+m.TargetVersion)
				return
			}
			m.HealthChecks = &fleetv1.Progress{State: fleetv1.StateNotStarted}
		case UpgradeFailed:
			s.set(r, &m.Progress, fleetv1.StateFailed, "upgrade failed: "+orUnknown(obs.Message))
			return
		case UpgradeInterrupted:
			// The attempt died with the hub instance that ran it; the
			// provider says another is safe. It gets a fresh start time, so
			// its timeout and operation are its own.
			from := ""
			if m.Operation != nil {
				from = fmt.Sprintf(" (attempt %d, started by hub instance %s)", m.Operation.Attempt, m.Operation.HubInstance)
			}
			now := s.timestamp()
			m.StartTime = now
			s.beginAttempt(g, m)
			m.Operation.RerunsInterrupted = true
			m.Message = fmt.Sprintf("re-running the upgrade to %s: the hub that ran it failed over%s", m.TargetVersion, from)
			return
		default:
			if s.upgradeTimeout > 0 && m.StartTime != nil {
				deadline := m.StartTime.Add(s.upgradeTimeout)
				if !s.now.Before(deadline) {
					reason := fmt.Sprintf("upgrade did not finish within %s", s.upgradeTimeout)
					s.set(r, &m.Progress, fleetv1.StateFailed, reason)
					s.actions.CancelUpgrades = append(s.actions.CancelUpgrades, CancelUpgrade{Member: m.Name, Reason: reason})
					return
				}
				s.wake(deadline)
			}
			if obs.Message != "" {
				m.Message = obs.Message
			}
			return
		}
	}
	scope := Scope{Level: LevelMember, Stage: g.stage.name, Group: g.name, Member: m.Name}
	checksRef := ref{kind: KindHealthChecks, stage: g.stage.name, group: g.name, name: m.Name}
	switch s.advanceChecks(checksRef, scope, m.HealthChecks, s.memberChecks, []string{m.Name}) {
	case checksPassed:
		s.set(r, &m.Progress, fleetv1.StateCompleted, "upgraded to "+m.TargetVersion+"; health checks passed")
	case checksFailed:
		s.set(r, &m.Progress, fleetv1.StateFailed, "health checks failed: "+m.HealthChecks.Message)
	default:
		m.Message = "upgraded; running health checks"
	}
}

func orUnknown(s string) string {
	if s == "" {
		return "no reason given"
	}
	return s
}
