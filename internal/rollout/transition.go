package rollout

import (
	"errors"
	"fmt"

	fleetv1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
)

// ErrIllegalTransition is what CheckTransition's errors wrap.
var ErrIllegalTransition = errors.New("illegal transition")

// CheckTransition says whether an operator may ask a run that is in state
// current for desired, so that the CLI can refuse before changing anything.
// Asking for the state a run is already heading to is allowed (a no-op).
func CheckTransition(current fleetv1.State, desired fleetv1.UpdateRunDesiredState) error {
	if current == "" {
		current = fleetv1.StateNotStarted
	}
	illegal := func(why string) error {
		return fmt.Errorf("%w: cannot %s a run that is %s: %s", ErrIllegalTransition, verb(desired), current, why)
	}
	switch desired {
	case fleetv1.RunStarted:
		if current == fleetv1.StateCompleted {
			return illegal("it is finished; create a new run")
		}
	case fleetv1.RunStopped:
		switch current {
		case fleetv1.StateNotStarted:
			return illegal("it has not started")
		case fleetv1.StateCompleted:
			return illegal("it is finished")
		case fleetv1.StateFailed:
			return illegal("it has already stopped on a failure")
		}
	case fleetv1.RunNotStarted:
		if current != fleetv1.StateNotStarted {
			return illegal("a run cannot be un-started; stop it instead")
		}
	default:
		return fmt.Errorf("%w: unknown desired state %q", ErrIllegalTransition, desired)
	}
	return nil
}

func verb(d fleetv1.UpdateRunDesiredState) string {
	switch d {
	case fleetv1.RunStarted:
		return "start"
	case fleetv1.RunStopped:
		return "stop"
	}
	return "set to " + string(d)
}
