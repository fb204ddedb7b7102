package rollout

import (
	"fmt"
	"time"

	fleetv1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
)

type checksOutcome int

const (
	checksRunning checksOutcome = iota
	checksPassed
	checksFailed
)

// checkReportGrace is how long past the checks' own timeouts the engine
// waits for their result before it fails them as unreported.
const checkReportGrace = time.Minute

// checksDeadline bounds a run of checks: each may settle and then retry up
// to its timeout, run one after another at worst.
func checksDeadline(checks []fleetv1.HealthCheck) time.Duration {
	total := checkReportGrace
	for _, c := range checks {
		timeout := c.TimeoutSeconds
		if timeout <= 0 {
			timeout = 300 // the API's default
		}
		total += time.Duration(timeout+max(c.SettleSeconds, 0)) * time.Second
	}
	return total
}

// advanceChecks drives one run of health checks through its progress: start
// it (RunChecks), then wait for the controller's result.
func (s *stepper) advanceChecks(r ref, scope Scope, p *fleetv1.Progress, checks []fleetv1.HealthCheck, members []string) checksOutcome {
	switch p.State {
	case fleetv1.StateCompleted, fleetv1.StateSkipped:
		return checksPassed
	case fleetv1.StateFailed:
		return checksFailed
	case fleetv1.StateRunning:
	default:
		if len(members) == 0 {
			s.set(r, p, fleetv1.StateSkipped, "no upgraded member to check")
			return checksPassed
		}
		s.set(r, p, fleetv1.StateRunning, "running")
		s.requestChecks(scope, checks, members)
		s.wake(p.StartTime.Add(checksDeadline(checks)))
		return checksRunning
	}

	result, reported := s.in.Observed.Checks[scope]
	switch {
	case reported && result.State == CheckPassed:
		s.set(r, p, fleetv1.StateCompleted, orDefault(result.Message, "passed"))
		return checksPassed
	case reported && result.State == CheckFailed:
		s.set(r, p, fleetv1.StateFailed, orDefault(result.Message, "failed"))
		return checksFailed
	}
	deadline := s.now
	if p.StartTime != nil {
		deadline = p.StartTime.Add(checksDeadline(checks))
	}
	if !s.now.Before(deadline) {
		s.set(r, p, fleetv1.StateFailed, fmt.Sprintf("no result within %s", checksDeadline(checks)))
		return checksFailed
	}
	s.wake(deadline)
	if !reported {
		// The controller lost track (e.g. it restarted): ask again; it runs
		// at most one run per scope.
		s.requestChecks(scope, checks, members)
	} else if result.Message != "" {
		p.Message = result.Message
	}
	return checksRunning
}

func (s *stepper) requestChecks(scope Scope, checks []fleetv1.HealthCheck, members []string) {
	s.actions.RunChecks = append(s.actions.RunChecks, RunChecks{Scope: scope, Members: members, Checks: checks})
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}
