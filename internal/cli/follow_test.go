package cli

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"sigs.k8s.io/controller-runtime/pkg/client"

	fleetv1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
)

// closingHub tells when a watch opens, and ends every watch after its first
// event, as an API server may end a watch at any time.
type closingHub struct {
	client.WithWatch
	opened chan struct{}
}

func (h *closingHub) Watch(ctx context.Context, list client.ObjectList, opts ...client.ListOption) (watch.Interface, error) {
	inner, err := h.WithWatch.Watch(ctx, list, opts...)
	if err != nil {
		return nil, err
	}
	out := make(chan watch.Event)
	w := watch.NewProxyWatcher(out)
	go func() {
		defer inner.Stop()
		defer close(out)
		select {
		case ev, ok := <-inner.ResultChan():
			if ok {
				select {
				case out <- ev:
				case <-w.StopChan():
				}
			}
		case <-w.StopChan():
		}
	}()
	h.opened <- struct{}{}
	return w, nil
}

func runningRun() *fleetv1.UpdateRun {
	r := &fleetv1.UpdateRun{ObjectMeta: metav1.ObjectMeta{Name: "r1", Generation: 1}}
	r.Status = fleetv1.UpdateRunStatus{Progress: fleetv1.Progress{State: fleetv1.StateRunning}, ObservedGeneration: 1, MembersTotal: 2}
	return r
}

// setStatus moves the run on as the controller would.
func setStatus(t *testing.T, hub client.Client, state fleetv1.State, done int32) {
	t.Helper()
	run, err := runKind.get(context.Background(), hub, "r1")
	if err != nil {
		t.Fatal(err)
	}
	run.Status.State, run.Status.MembersDone = state, done
	if err := hub.Status().Update(context.Background(), run); err != nil {
		t.Fatal(err)
	}
}

type cliResult struct {
	stdout, stderr string
	err            error
}

func TestWaitFollowsTheRunThroughAClosedWatchUntilItCompletes(t *testing.T) {
	hub := &closingHub{WithWatch: fakeHub(runningRun()), opened: make(chan struct{})}
	result := make(chan cliResult)
	go func() {
		out, errOut, err := runCLI(hub, "updaterun", "wait", "r1", "--timeout", "30s")
		result <- cliResult{out, errOut, err}
	}()
	<-hub.opened
	setStatus(t, hub, fleetv1.StateRunning, 1) // the watch ends after this
	<-hub.opened                               // and is opened again
	setStatus(t, hub, fleetv1.StateCompleted, 2)
	r := <-result
	if r.err != nil {
		t.Fatalf("wait: %v\n%s", r.err, r.stderr)
	}
	if r.stdout != "update run \"r1\" Completed\n" {
		t.Errorf("stdout %q", r.stdout)
	}
	for _, want := range []string{"r1: Running, 0/2 members done", "r1: Running, 1/2 members done", "r1: Completed, 2/2 members done"} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("progress misses %q:\n%s", want, r.stderr)
		}
	}
}

func TestWaitExitsWithTwoWhenTheRunFails(t *testing.T) {
	hub := &closingHub{WithWatch: fakeHub(runningRun()), opened: make(chan struct{}, 10)}
	result := make(chan cliResult)
	go func() {
		out, errOut, err := runCLI(hub, "updaterun", "wait", "r1")
		result <- cliResult{out, errOut, err}
	}()
	<-hub.opened
	setStatus(t, hub, fleetv1.StateFailed, 1)
	r := <-result
	var exit exitCodeError
	if !errors.As(r.err, &exit) || exit.code != 2 || !strings.Contains(r.err.Error(), `update run "r1" ended Failed`) {
		t.Errorf("wait on a failed run: %v", r.err)
	}
}

func TestWatchDrawsEveryChangeAndGivesUpAfterItsTimeout(t *testing.T) {
	hub := &closingHub{WithWatch: fakeHub(runningRun()), opened: make(chan struct{}, 10)}
	start := time.Now()
	out, _, err := runCLI(hub, "updaterun", "watch", "r1", "--timeout", "300ms")
	if err == nil || err.Error() != `update run "r1" did not finish within 300ms (now Running)` {
		t.Errorf("watch: %v", err)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("watch gave up after %s", took)
	}
	if !strings.Contains(out, "Update run r1: Running") {
		t.Errorf("the run was not drawn:\n%s", out)
	}
}

func TestWaitSaysWhenTheRunIsNotThere(t *testing.T) {
	_, _, err := runCLI(fakeHub(), "updaterun", "wait", "nope")
	if err == nil || err.Error() != `update run "nope" not found` {
		t.Errorf("wait: %v", err)
	}
}
