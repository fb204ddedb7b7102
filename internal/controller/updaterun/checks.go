package updaterun

import (
	"context"
	"strings"
	"sync"

	"sigs.k8s.io/controller-runtime/pkg/event"

	fleetv1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/internal/healthcheck"
	"github.com/flotilla-dev/flotilla/internal/rollout"
)

// checkKey names one run of health checks of one update run.
type checkKey struct {
	run   string
	scope rollout.Scope
}

// checkRunner runs health checks in the background and keeps their results
// until the run asks again; it wakes the run's reconcile when one finishes.
type checkRunner struct {
	mu      sync.Mutex
	results map[checkKey]rollout.CheckResult
	wake    chan<- event.GenericEvent
}

func newCheckRunner(wake chan<- event.GenericEvent) *checkRunner {
	return &checkRunner{results: map[checkKey]rollout.CheckResult{}, wake: wake}
}

// target resolves a member to run checks against.
type checkTarget func(ctx context.Context, member string) (healthcheck.Target, error)

// start runs the checks of one action unless they already run or ran.
func (c *checkRunner) start(ctx context.Context, run *fleetv1.UpdateRun, a rollout.RunChecks, resolve checkTarget) {
	key := checkKey{run: run.Name, scope: a.Scope}
	c.mu.Lock()
	if _, ok := c.results[key]; ok {
		c.mu.Unlock()
		return
	}
	c.results[key] = rollout.CheckResult{State: rollout.CheckRunning}
	c.mu.Unlock()

	wakeObj := run.DeepCopy()
	go func() {
		result := rollout.CheckResult{State: rollout.CheckPassed}
		var passed []string
		for _, member := range a.Members {
			t, err := resolve(ctx, member)
			if err != nil {
				result = rollout.CheckResult{State: rollout.CheckFailed, Message: member + ": " + err.Error()}
				break
			}
			t.Stage = a.Scope.Stage
			results := healthcheck.RunAll(ctx, a.Checks, t)
			if last := results[len(results)-1]; !last.Passed {
				result = rollout.CheckResult{State: rollout.CheckFailed, Message: member + ": " + last.Summary()}
				break
			}
			passed = append(passed, member)
		}
		if result.State == rollout.CheckPassed {
			result.Message = "checks passed on " + strings.Join(passed, ", ")
		}
		if ctx.Err() != nil {
			// The hub is stopping: forget the run so that it is redone.
			c.mu.Lock()
			delete(c.results, key)
			c.mu.Unlock()
			return
		}
		c.mu.Lock()
		c.results[key] = result
		c.mu.Unlock()
		select {
		case c.wake <- event.GenericEvent{Object: wakeObj}:
		default:
		}
	}()
}

// observed returns what is known of the run's checks.
func (c *checkRunner) observed(run string) map[rollout.Scope]rollout.CheckResult {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := map[rollout.Scope]rollout.CheckResult{}
	for k, v := range c.results {
		if k.run == run {
			out[k.scope] = v
		}
	}
	return out
}

// running reports whether any check of the run is in flight.
func (c *checkRunner) running(run string) bool {
	for _, r := range c.observed(run) {
		if r.State == rollout.CheckRunning {
			return true
		}
	}
	return false
}

// forget drops a run's results, e.g. when it is deleted or resumed.
func (c *checkRunner) forget(run string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for k := range c.results {
		if k.run == run {
			delete(c.results, k)
		}
	}
}
