package rollout

import (
	"errors"
	"testing"

	fleetv1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
)

func TestCheckTransition(t *testing.T) {
	legal := map[fleetv1.State][]fleetv1.UpdateRunDesiredState{
		fleetv1.StateNotStarted: {fleetv1.RunNotStarted, fleetv1.RunStarted},
		fleetv1.StateRunning:    {fleetv1.RunStarted, fleetv1.RunStopped},
		fleetv1.StateStopping:   {fleetv1.RunStarted, fleetv1.RunStopped},
		fleetv1.StateStopped:    {fleetv1.RunStarted, fleetv1.RunStopped},
		fleetv1.StateFailed:     {fleetv1.RunStarted},
		fleetv1.StateCompleted:  {},
	}
	all := []fleetv1.UpdateRunDesiredState{fleetv1.RunNotStarted, fleetv1.RunStarted, fleetv1.RunStopped}
	for state, allowed := range legal {
		for _, desired := range all {
			err := CheckTransition(state, desired)
			want := false
			for _, a := range allowed {
				want = want || a == desired
			}
			if (err == nil) != want {
				t.Errorf("CheckTransition(%s, %s) = %v, want allowed=%v", state, desired, err, want)
			}
			if err != nil && !errors.Is(err, ErrIllegalTransition) {
				t.Errorf("CheckTransition(%s, %s) = %v, want it to wrap ErrIllegalTransition", state, desired, err)
			}
		}
	}
	err := CheckTransition(fleetv1.StateCompleted, fleetv1.RunStarted)
	if err == nil || err.Error() != "illegal transition: cannot start a run that is Completed: it is finished; create a new run" {
		t.Errorf("message: %v", err)
	}
}
