package cli

import (
	"context"
	"reflect"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	fleetv1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/internal/rollout"
)

func runIn(desired fleetv1.UpdateRunDesiredState, state fleetv1.State) *fleetv1.UpdateRun {
	r := &fleetv1.UpdateRun{ObjectMeta: metav1.ObjectMeta{Name: "r1"}, Spec: fleetv1.UpdateRunSpec{State: desired}}
	r.Status.State = state
	return r
}

// The CLI asks the engine which transitions are legal: a run that is
// Stopping because it was asked to stop may be started again (the engine
// un-stops it), and what the engine refuses the CLI refuses with its reason.
func TestStartAndStopFollowTheEnginesTransitions(t *testing.T) {
	for _, tc := range []struct {
		verb    string
		run     *fleetv1.UpdateRun
		refused string // "" when the command goes through
		want    fleetv1.UpdateRunDesiredState
	}{
		{"start", runIn(fleetv1.RunStopped, fleetv1.StateStopping), "", fleetv1.RunStarted},
		{"start", runIn(fleetv1.RunStopped, fleetv1.StateStopped), "", fleetv1.RunStarted},
		{"start", runIn(fleetv1.RunStarted, fleetv1.StateFailed), "", fleetv1.RunStarted},
		{"start", runIn(fleetv1.RunNotStarted, ""), "", fleetv1.RunStarted},
		{"start", runIn(fleetv1.RunStarted, fleetv1.StateCompleted), "cannot start a run that is Completed", fleetv1.RunStarted},
		{"start", runIn(fleetv1.RunStarted, fleetv1.StateRunning), "already started", fleetv1.RunStarted},
		{"stop", runIn(fleetv1.RunStarted, fleetv1.StateRunning), "", fleetv1.RunStopped},
		{"stop", runIn(fleetv1.RunNotStarted, fleetv1.StateNotStarted), "cannot stop a run that is NotStarted", fleetv1.RunNotStarted},
		{"stop", runIn(fleetv1.RunStarted, fleetv1.StateFailed), "cannot stop a run that is Failed", fleetv1.RunStarted},
		{"stop", runIn(fleetv1.RunStarted, fleetv1.StateCompleted), "cannot stop a run that is Completed", fleetv1.RunStarted},
		{"stop", runIn(fleetv1.RunStopped, fleetv1.StateStopped), "already Stopped", fleetv1.RunStopped},
	} {
		name := tc.verb + " " + string(tc.run.Spec.State) + "/" + string(tc.run.Status.State)
		hub := fakeHub(tc.run)
		_, _, err := runCLI(hub, "updaterun", tc.verb, "r1")
		switch {
		case tc.refused == "" && err != nil:
			t.Errorf("%s: %v", name, err)
		case tc.refused != "" && (err == nil || !strings.Contains(err.Error(), tc.refused)):
			t.Errorf("%s: %v, want it refused with %q", name, err, tc.refused)
		}
		if tc.refused != "" && strings.HasPrefix(tc.refused, "cannot") {
			state := tc.run.Status.State
			if engine := rollout.CheckTransition(state, desiredOf(tc.verb)); engine == nil || !strings.Contains(err.Error(), engine.Error()) {
				t.Errorf("%s: %v, want the engine's reason %v", name, err, engine)
			}
		}
		got, err := runKind.get(context.Background(), hub, "r1")
		if err != nil {
			t.Fatal(err)
		}
		if got.Spec.State != tc.want {
			t.Errorf("%s: spec.state %s, want %s", name, got.Spec.State, tc.want)
		}
	}
}

func desiredOf(verb string) fleetv1.UpdateRunDesiredState {
	if verb == "start" {
		return fleetv1.RunStarted
	}
	return fleetv1.RunStopped
}

func strategyNamed(name string, stages ...fleetv1.UpdateStage) *fleetv1.UpdateStrategy {
	return &fleetv1.UpdateStrategy{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: fleetv1.UpdateStrategySpec{Stages: stages}}
}

// skip and plan read the run's strategy as the controller does
// (runinput.Strategy): the named strategy, else the default single stage.
func TestSkipAndPlanFollowTheRunsStrategy(t *testing.T) {
	named := runIn(fleetv1.RunNotStarted, "")
	named.Name, named.Spec.UpdateStrategyName = "named", "three"
	named.Spec.ManagedClusterUpdate.Upgrade = fleetv1.UpgradeSpec{Type: fleetv1.UpgradeControlPlaneOnly, KubernetesVersion: "1.37.2"}
	plain := named.DeepCopy()
	plain.Name, plain.Spec.UpdateStrategyName = "plain", ""
	hub := fakeHub(named, plain, member("dev-1", "dev"), member("prod-1", "prod"),
		strategyNamed("three", fleetv1.UpdateStage{Name: "s1", Groups: []fleetv1.UpdateGroup{{Name: "dev"}}},
			fleetv1.UpdateStage{Name: "s2", Groups: []fleetv1.UpdateGroup{{Name: "prod"}}}))

	for _, tc := range []struct {
		run, target, refused string
	}{
		{"named", "Stage:s2", ""},
		{"named", "Group:dev", ""},
		{"named", "Stage:nope", `update run "named" has no stage named "nope"`},
		{"plain", "Stage:all", ""},
		{"plain", "Group:dev", `update run "plain" has no group named "dev"`},
	} {
		_, _, err := runCLI(hub, "updaterun", "skip", tc.run, "--targets", tc.target)
		if (tc.refused == "") != (err == nil) || (err != nil && err.Error() != tc.refused) {
			t.Errorf("skip %s %s: %v, want %q", tc.run, tc.target, err, tc.refused)
		}
	}

	out, _, err := runCLI(hub, "updaterun", "plan", "named")
	if err != nil {
		t.Fatalf("plan: %v", err)
	}
	for _, want := range []string{"1. stage s1", "group dev", "dev-1", "2. stage s2", "prod-1"} {
		if !strings.Contains(out, want) {
			t.Errorf("the plan misses %q:\n%s", want, out)
		}
	}
}

func TestParseNodeImageSelection(t *testing.T) {
	for _, tc := range []struct {
		selection string
		custom    []string
		want      *fleetv1.NodeImageSelection
		wantErr   string
	}{
		{selection: "", want: nil},
		{selection: "Consistent", want: &fleetv1.NodeImageSelection{Type: fleetv1.NodeImageConsistent}},
		{selection: "Custom", custom: []string{"img-1", " img-2 "}, want: &fleetv1.NodeImageSelection{
			Type: fleetv1.NodeImageCustom, CustomNodeImageVersions: []fleetv1.NodeImageVersion{{Version: "img-1"}, {Version: "img-2"}}}},
		{selection: "Custom", wantErr: "needs --custom-node-image-versions"},
		{selection: "Latest", custom: []string{"img-1"}, wantErr: "needs --node-image-selection Custom, not Latest"},
		{selection: "", custom: []string{"img-1"}, wantErr: "needs --node-image-selection Custom"},
		{selection: "Newest", wantErr: `must be Latest, Consistent or Custom, not "Newest"`},
	} {
		got, err := parseNodeImageSelection(tc.selection, tc.custom)
		if tc.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("parseNodeImageSelection(%q, %q) err = %v, want %q", tc.selection, tc.custom, err, tc.wantErr)
			}
			continue
		}
		if err != nil || !reflect.DeepEqual(got, tc.want) {
			t.Errorf("parseNodeImageSelection(%q, %q) = %+v, %v; want %+v", tc.selection, tc.custom, got, err, tc.want)
		}
	}
}
