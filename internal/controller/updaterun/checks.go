package updaterun

import (
	"context"
	"strings"
	"sync"

	ctrl "sigs.k8s.io/controller-runtime"
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

// checkJob is one set of health checks to run.
type checkJob struct {
	key     checkKey
	action  rollout.RunChecks
	resolve checkTarget
	wake    *fleetv1.UpdateRun
}

// checkRunner runs health checks in the background and keeps their results
// until the run asks again; it wakes the run's reconcile when one finishes.
// It is a manager Runnable: checks run under the context the manager gives
// it, and stop with the manager (or when leadership is lost).
type checkRunner struct {
	mu      sync.Mutex
	results map[checkKey]rollout.CheckResult
	jobs    chan checkJob
	wake    chan<- event.GenericEvent
}

func newCheckRunner(wake chan<- event.GenericEvent) *checkRunner {
	return &checkRunner{results: map[checkKey]rollout.CheckResult{}, jobs: make(chan checkJob, 256), wake: wake}
}

// target resolves a member to run checks against.
type checkTarget func(ctx context.Context, member string) (healthcheck.Target, error)

// Start runs queued checks until ctx ends, then waits for those running.
func (c *checkRunner) Start(ctx context.Context) error {
	var wg sync.WaitGroup
	defer wg.Wait()
	for {
		select {
		case <-ctx.Done():
			return nil
		case j := <-c.jobs:
			wg.Go(func() { c.run(ctx, j) })
		}
	}
}

// start queues the checks of one action unless they already run or ran.
func (c *checkRunner) start(run *fleetv1.UpdateRun, a rollout.RunChecks, resolve checkTarget) {
	key := checkKey{run: run.Name, scope: a.Scope}
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.results[key]; ok {
		return
	}
	select {
	case c.jobs <- checkJob{key: key, action: a, resolve: resolve, wake: run.DeepCopy()}:
		c.results[key] = rollout.CheckResult{State: rollout.CheckRunning}
	default:
		// Queue full: nothing is recorded, so the next step asks again.
	}
}

func (c *checkRunner) run(ctx context.Context, j checkJob) {
	result := rollout.CheckResult{State: rollout.CheckPassed}
	var passed []string
	for _, member := range j.action.Members {
		t, err := j.resolve(ctx, member)
		if err != nil {
			result = rollout.CheckResult{State: rollout.CheckFailed, Message: member + ": " + err.Error()}
			break
		}
		t.Stage = j.action.Scope.Stage
		results := healthcheck.RunAll(ctx, j.action.Checks, t)
		// A scope with no checks passes (RunAll returns no results).
		if len(results) == 0 {
			passed = append(passed, member)
			continue
		}
		if last := results[len(results)-1]; !last.Passed {
			result = rollout.CheckResult{State: rollout.CheckFailed, Message: member + ": " + last.Summary()}
			break
		}
		passed = append(passed, member)
	}
	if result.State == rollout.CheckPassed {
		result.Message = "checks passed on " + strings.Join(passed, ", ")
	}
	c.mu.Lock()
	if ctx.Err() != nil {
		// The hub is stopping: forget the run so that it is redone.
		delete(c.results, j.key)
	} else {
		c.results[j.key] = result
	}
	c.mu.Unlock()
	if ctx.Err() != nil {
		return
	}
	ctrl.LoggerFrom(ctx).V(1).Info("health checks finished", "run", j.key.run, "scope", j.key.scope, "state", result.State)
	select {
	case c.wake <- event.GenericEvent{Object: j.wake}:
	default:
	}
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
