package rollout

import (
	"errors"
	"slices"
	"strings"
	"testing"

	fleetv1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
)

func TestResolve(t *testing.T) {
	members := []Member{
		{Name: "dev-2", UpdateGroup: "dev"},
		{Name: "dev-1", UpdateGroup: "dev"},
		{Name: "eu-1", UpdateGroup: "canary", Labels: map[string]string{"region": "eu"}},
		{Name: "edge-1", Labels: map[string]string{"tier": "edge"}},
		{Name: "edge-2", Labels: map[string]string{"tier": "edge", "region": "us"}},
		{Name: "lost", UpdateGroup: "nowhere"},
		{Name: "loner"},
	}
	spec := strategyOf(
		stage("one", group("dev")),
		stage("two", group("canary"), fleetv1.UpdateGroup{Name: "us", MemberSelector: selector("region", "us")}),
		fleetv1.UpdateStage{Name: "edge", MemberSelector: selector("tier", "edge")},
	)
	// edge-2 matches both "us" and the edge stage: a conflict.
	_, err := Resolve(spec, members)
	var conflict *MembershipConflictError
	if !errors.As(err, &conflict) || conflict.Member != "edge-2" {
		t.Fatalf("got %v, want a conflict on edge-2", err)
	}
	if !strings.Contains(err.Error(), "member edge-2 is in two groups, us and edge") {
		t.Fatalf("message %q", err)
	}

	members[4].Labels["region"] = "ap"
	res, err := Resolve(spec, members)
	if err != nil {
		t.Fatal(err)
	}
	want := []ResolvedStage{
		{Name: "one", Groups: []ResolvedGroup{{Name: "dev", Members: []string{"dev-1", "dev-2"}}}},
		{Name: "two", Groups: []ResolvedGroup{{Name: "canary", Members: []string{"eu-1"}}, {Name: "us"}}},
		{Name: "edge", Groups: []ResolvedGroup{{Name: "edge", Implicit: true, Members: []string{"edge-1", "edge-2"}}}},
	}
	for i := range want {
		got := res.Stages[i]
		if got.Name != want[i].Name || len(got.Groups) != len(want[i].Groups) {
			t.Fatalf("stage %d = %+v, want %+v", i, got, want[i])
		}
		for j := range want[i].Groups {
			g, w := got.Groups[j], want[i].Groups[j]
			if g.Name != w.Name || g.Implicit != w.Implicit || !slices.Equal(g.Members, w.Members) {
				t.Errorf("stage %s group %d = %+v, want %+v", got.Name, j, g, w)
			}
		}
	}
	if len(res.Untouched) != 2 || res.Untouched[0].Name != "loner" || res.Untouched[1].Name != "lost" {
		t.Fatalf("untouched = %+v", res.Untouched)
	}
	if !strings.Contains(res.Untouched[1].Reason, "update group nowhere is not in the strategy") {
		t.Errorf("reason %q", res.Untouched[1].Reason)
	}
}

func TestResolveSelectorOverridesUpdateGroup(t *testing.T) {
	// A group with a selector takes the members its selector matches, not
	// the members that name it as their update group.
	spec := strategyOf(stage("s", fleetv1.UpdateGroup{Name: "g", MemberSelector: selector("pick", "yes")}))
	res, err := Resolve(spec, []Member{{Name: "named", UpdateGroup: "g"}, {Name: "picked", Labels: map[string]string{"pick": "yes"}}})
	if err != nil {
		t.Fatal(err)
	}
	if got := res.Stages[0].Groups[0].Members; !slices.Equal(got, []string{"picked"}) {
		t.Fatalf("members %v, want [picked]", got)
	}
}

func TestResolveBadSelector(t *testing.T) {
	bad := selector()
	bad.MatchLabels["not a label!"] = "x"
	_, err := Resolve(strategyOf(stage("s", fleetv1.UpdateGroup{Name: "g", MemberSelector: bad})), nil)
	if err == nil {
		t.Fatal("a bad selector was accepted")
	}
}
