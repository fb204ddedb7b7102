package rollout

import (
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/util/validation"

	fleetv1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
)

func TestGateName(t *testing.T) {
	for _, tc := range []struct {
		run, stage, group string
		timing            fleetv1.GateTiming
		index             int
		want              string
	}{
		{"k8s-1-29-rollout", "stage-primary-final", "", fleetv1.GateBefore, 0, "k8s-1-29-rollout-stage-primary-final-before-0-"},
		{"run", "canary", "eu", fleetv1.GateAfter, 1, "run-canary-eu-after-1-"},
		{"Run.One", "s", "", fleetv1.GateAfter, 3, "run.one-s-after-3-"},
		{"", "s", "", fleetv1.GateBefore, 0, "s-before-0-"},
	} {
		got := GateName(tc.run, tc.stage, tc.group, tc.timing, tc.index)
		if !strings.HasPrefix(got, tc.want) || len(got) != len(tc.want)+8 {
			t.Errorf("GateName = %q, want %q and an 8-digit hash", got, tc.want)
		}
	}
	long := strings.Repeat("r", 200)
	stageName := strings.Repeat("s", 63)
	a := GateName(long, stageName, "group-a", fleetv1.GateBefore, 0)
	b := GateName(long, stageName, "group-b", fleetv1.GateBefore, 0)
	if a == b {
		t.Fatal("long names collide")
	}
	for _, name := range []string{a, b} {
		if errs := validation.IsDNS1123Subdomain(name); len(errs) > 0 {
			t.Errorf("%q is not a valid object name: %v", name, errs)
		}
	}
	if GateName(long, stageName, "group-a", fleetv1.GateBefore, 0) != a {
		t.Fatal("GateName is not stable")
	}
}

func TestGateNamesOfDifferentRunsNeverCollide(t *testing.T) {
	for _, pair := range [][2][3]string{
		{{"app", "eu-1", ""}, {"app-eu", "1", ""}},
		{{"r", "s", "g-a"}, {"r", "s-g", "a"}},
		{{"r", "s-before-0", ""}, {"r-s", "before-0", ""}},
	} {
		a := GateName(pair[0][0], pair[0][1], pair[0][2], fleetv1.GateBefore, 0)
		b := GateName(pair[1][0], pair[1][1], pair[1][2], fleetv1.GateBefore, 0)
		if a == b {
			t.Errorf("%v and %v both name gate %q", pair[0], pair[1], a)
		}
	}
}
