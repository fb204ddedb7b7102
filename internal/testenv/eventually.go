package testenv

import (
	"fmt"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
)

// Polling starts fast, so that what the tests time (a drift revert, a
// placement applied) is measured closely, and slows down to spare a busy
// machine when the wait is long.
const (
	firstPoll = 10 * time.Millisecond
	maxPoll   = 100 * time.Millisecond
)

// Eventually calls check until it returns nil and returns how long that
// took. When timeout passes first, it fails the test with what and check's
// last error. Call it from the test's goroutine.
func Eventually(t testing.TB, timeout time.Duration, what string, check func() error) time.Duration {
	t.Helper()
	start := time.Now()
	deadline := start.Add(timeout)
	for poll := firstPoll; ; poll = min(2*poll, maxPoll) {
		err := check()
		if err == nil {
			return time.Since(start)
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s: %v", what, timeout, err)
			return time.Since(start)
		}
		time.Sleep(poll)
	}
}

// Gone is a check for Eventually that an object was deleted: err, from
// reading it, is NotFound. Reading it is an error of its own kind when the
// object is still there.
func Gone(what string, err error) error {
	switch {
	case apierrors.IsNotFound(err):
		return nil
	case err == nil:
		return fmt.Errorf("%s still there", what)
	default:
		return fmt.Errorf("reading %s: %w", what, err)
	}
}
