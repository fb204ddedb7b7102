package cli

import (
	"context"
	"fmt"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"sigs.k8s.io/controller-runtime/pkg/client"

	fleetv1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
)

// rewatchPause is how long follow waits before watching again after a watch
// that ended with nothing in it, so that a hub closing every watch is not
// asked again in a tight loop.
const rewatchPause = time.Second

// terminal reports whether a run has reached a state it leaves only on request.
func terminal(r *fleetv1.UpdateRun) bool {
	switch r.Status.State {
	case fleetv1.StateCompleted, fleetv1.StateFailed, fleetv1.StateStopped:
		return r.Status.ObservedGeneration == r.Generation
	}
	return false
}

// follow watches the run until it reaches a terminal state, calling
// onChange with every new version of it, and returns an error unless it
// Completed (exit code 2 when it ended otherwise). When the hub closes the
// watch, as API servers do from time to time, the run is read afresh and
// watched again from there, so no change is missed.
func follow(ctx context.Context, hub client.WithWatch, name string, timeout time.Duration, onChange func(*fleetv1.UpdateRun)) error {
	if timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}
	var last *fleetv1.UpdateRun
	// see takes one version of the run and says whether following is over.
	see := func(run *fleetv1.UpdateRun) (bool, error) {
		if last == nil || run.ResourceVersion != last.ResourceVersion {
			onChange(run)
		}
		last = run
		if !terminal(run) {
			return false, nil
		}
		if run.Status.State != fleetv1.StateCompleted {
			return true, exitCodeError{err: fmt.Errorf("update run %q ended %s: %s", name, run.Status.State, run.Status.Message), code: 2}
		}
		return true, nil
	}
	gaveUp := func() error {
		if last == nil {
			return fmt.Errorf("update run %q did not finish within %s", name, timeout)
		}
		return fmt.Errorf("update run %q did not finish within %s (now %s)", name, timeout, runState(last))
	}
	for {
		run, err := runKind.get(ctx, hub, name)
		if err != nil {
			if ctx.Err() != nil {
				return gaveUp()
			}
			return err
		}
		if done, err := see(run); done {
			return err
		}
		w, err := hub.Watch(ctx, &fleetv1.UpdateRunList{},
			client.MatchingFields{"metadata.name": name},
			&client.ListOptions{Raw: &metav1.ListOptions{ResourceVersion: run.ResourceVersion}})
		if err != nil {
			if ctx.Err() != nil {
				return gaveUp()
			}
			return fmt.Errorf("watching update run %q: %w", name, err)
		}
		events, done, err := followWatch(ctx, w, name, see)
		w.Stop()
		if done {
			return err
		}
		pause := time.Duration(0)
		if events == 0 {
			pause = rewatchPause
		}
		select {
		case <-ctx.Done():
			return gaveUp()
		case <-time.After(pause):
		}
	}
}

// followWatch hands see the versions of the run that w reports until see
// says it is over, the run is deleted, or the watch ends (closed, or an
// error such as a resource version too old to watch from). events counts
// the versions seen.
func followWatch(ctx context.Context, w watch.Interface, name string, see func(*fleetv1.UpdateRun) (bool, error)) (events int, done bool, err error) {
	for {
		select {
		case <-ctx.Done():
			return events, false, nil
		case ev, open := <-w.ResultChan():
			if !open {
				return events, false, nil
			}
			run, isRun := ev.Object.(*fleetv1.UpdateRun)
			switch {
			case ev.Type == watch.Error:
				return events, false, nil
			case !isRun || run.Name != name:
			case ev.Type == watch.Deleted:
				return events, true, fmt.Errorf("update run %q was deleted", name)
			case ev.Type == watch.Added || ev.Type == watch.Modified:
				events++
				if done, err := see(run); done {
					return events, true, err
				}
			}
		}
	}
}
