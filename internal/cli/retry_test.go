package cli

import (
	"context"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	fleetv1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
)

func failedRun(state fleetv1.State, members map[string]fleetv1.State) *fleetv1.UpdateRun {
	g := fleetv1.GroupProgress{Name: "prod"}
	for name, st := range members {
		g.Members = append(g.Members, fleetv1.MemberProgress{Name: name, Progress: fleetv1.Progress{State: st}})
	}
	return &fleetv1.UpdateRun{
		ObjectMeta: metav1.ObjectMeta{Name: "r", Annotations: map[string]string{fleetv1.RetryMembersAnnotation: "old"}},
		Spec:       fleetv1.UpdateRunSpec{State: fleetv1.RunStarted},
		Status: fleetv1.UpdateRunStatus{Progress: fleetv1.Progress{State: state},
			Stages: []fleetv1.StageProgress{{Name: "prod", Groups: []fleetv1.GroupProgress{g}}}},
	}
}

func TestRetryNamesTheFailedMembersOrSaysWhyNot(t *testing.T) {
	for _, tc := range []struct {
		run         *fleetv1.UpdateRun
		args        []string
		wantErr     string
		wantMembers string
	}{
		{run: failedRun(fleetv1.StateFailed, map[string]fleetv1.State{"a": fleetv1.StateCompleted, "b": fleetv1.StateFailed, "c": fleetv1.StateFailed}),
			args: []string{"--members", "b"}, wantMembers: "b"},
		{run: failedRun(fleetv1.StateFailed, map[string]fleetv1.State{"b": fleetv1.StateFailed}), wantMembers: ""},
		{run: failedRun(fleetv1.StateFailed, map[string]fleetv1.State{"a": fleetv1.StateCompleted, "b": fleetv1.StateFailed}),
			args: []string{"--members", "a"}, wantErr: `member "a" has not failed in update run "r": retry takes failed members (b)`},
		{run: failedRun(fleetv1.StateRunning, map[string]fleetv1.State{"b": fleetv1.StateFailed}), wantErr: "only a Failed or Stopped run"},
		{run: failedRun(fleetv1.StateFailed, map[string]fleetv1.State{"a": fleetv1.StateCompleted}), wantErr: "has no failed member"},
	} {
		t.Run(strings.Join(tc.args, " ")+tc.wantErr, func(t *testing.T) {
			hub := fakeHub(tc.run)
			_, _, err := runCLI(hub, append([]string{"updaterun", "retry", "r"}, tc.args...)...)
			got := &fleetv1.UpdateRun{}
			if getErr := hub.Get(context.Background(), client.ObjectKey{Name: "r"}, got); getErr != nil {
				t.Fatal(getErr)
			}
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want %q", err, tc.wantErr)
				}
				if got.Annotations[fleetv1.StartRequestAnnotation] != "" {
					t.Error("a refused retry wrote a start request")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.Annotations[fleetv1.StartRequestAnnotation] == "" || got.Annotations[fleetv1.RetryMembersAnnotation] != tc.wantMembers {
				t.Errorf("annotations %v, want a start request and retry-members %q", got.Annotations, tc.wantMembers)
			}
		})
	}
}

func TestShowListsMembersThatJoinedAfterTheRunStarted(t *testing.T) {
	run := failedRun(fleetv1.StateRunning, map[string]fleetv1.State{"a": fleetv1.StateRunning})
	run.Status.StrategySnapshot = &fleetv1.UpdateStrategySpec{Stages: []fleetv1.UpdateStage{{Name: "prod", Groups: []fleetv1.UpdateGroup{{Name: "prod"}}}}}
	hub := fakeHub(run, member("a", "prod"), member("b", "prod"), member("c", "dev"))
	out, _, err := runCLI(hub, "updaterun", "show", "r")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "Joined after start (the run keeps the members it started with; not upgraded by it): b\n") {
		t.Errorf("show does not list b as joined after start:\n%s", out)
	}
}
