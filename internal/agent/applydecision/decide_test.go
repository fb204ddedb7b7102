package applydecision

import (
	"fmt"
	"reflect"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	placementv1 "github.com/flotilla-dev/flotilla/api/placement/v1"
	fleetv1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/internal/conditions"
)

const (
	workName  = "w"
	placement = "p"
	subject   = "ConfigMap fintech/c"
	gen       = int64(3)
)

func configMap(value string, labels, annotations map[string]any) *unstructured.Unstructured {
	meta := map[string]any{"name": "c", "namespace": "fintech"}
	if labels != nil {
		meta["labels"] = labels
	}
	if annotations != nil {
		meta["annotations"] = annotations
	}
	return &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta, "data": map[string]any{"a": value},
	}}
}

func hubManifest() *unstructured.Unstructured {
	return configMap("1", map[string]any{"app": "web"}, nil)
}

// onMember is what the member's API server adds to an object it holds.
func onMember(u *unstructured.Unstructured) *unstructured.Unstructured {
	u = u.DeepCopy()
	u.SetUID("uid-1")
	u.SetResourceVersion("42")
	u.SetManagedFields([]metav1.ManagedFieldsEntry{{Manager: "someone"}})
	u.Object["immutable"] = false
	return u
}

// placedBy is the member's copy of the manifest as the agent applied it for
// work, with data set to value.
func placedBy(work, value string) *unstructured.Unstructured {
	u := onMember(Desired(hubManifest(), work, placement))
	if err := unstructured.SetNestedField(u.Object, value, "data", "a"); err != nil {
		panic(err)
	}
	return u
}

// The states the member's object can be in.
type liveState string

const (
	absent           liveState = "absent"
	unownedSame      liveState = "unowned, same as the manifest"
	unownedDifferent liveState = "unowned, different"
	oursInSync       liveState = "placed by this Work, in sync"
	oursDrifted      liveState = "placed by this Work, changed on the member"
	oursOtherHeld    liveState = "placed by another Work the agent holds"
	oursOtherGone    liveState = "placed by a Work the agent no longer holds"
)

var liveStates = []liveState{absent, unownedSame, unownedDifferent, oursInSync, oursDrifted, oursOtherHeld, oursOtherGone}

func (s liveState) object() (live *unstructured.Unstructured, ownerHeld bool) {
	switch s {
	case unownedSame:
		return onMember(hubManifest()), false
	case unownedDifferent:
		return onMember(configMap("2", map[string]any{"app": "web"}, nil)), false
	case oursInSync:
		return placedBy(workName, "1"), true
	case oursDrifted:
		return placedBy(workName, "2"), true
	case oursOtherHeld:
		return placedBy("other", "1"), true
	case oursOtherGone:
		return placedBy("other", "1"), false
	}
	return nil, false
}

func (s liveState) ours() bool {
	switch s {
	case oursInSync, oursDrifted, oursOtherHeld, oursOtherGone:
		return true
	}
	return false
}

// What the agent recorded last.
type lastState string

const (
	noRecord      lastState = "nothing recorded"
	appliedNow    lastState = "applied at this generation"
	driftedNow    lastState = "drift reported at this generation"
	failedNow     lastState = "apply failed at this generation"
	appliedBefore lastState = "applied at an older generation"
)

var lastStates = []lastState{noRecord, appliedNow, driftedNow, failedNow, appliedBefore}

func (s lastState) status() *fleetv1.ManifestStatus {
	record := func(g int64, c conditions.Condition) *fleetv1.ManifestStatus {
		m := &fleetv1.ManifestStatus{ObservedGeneration: g}
		conditions.Set(&m.Conditions, c, g, metav1.Now())
		return m
	}
	switch s {
	case appliedNow:
		return record(gen, conditions.True(fleetv1.WorkApplied, fleetv1.WorkReasonApplied, "applied"))
	case driftedNow:
		return record(gen, conditions.False(fleetv1.WorkApplied, fleetv1.WorkReasonDrifted, "drifted"))
	case failedNow:
		return record(gen, conditions.False(fleetv1.WorkApplied, fleetv1.WorkReasonApplyFailed, "failed"))
	case appliedBefore:
		return record(gen-1, conditions.True(fleetv1.WorkApplied, fleetv1.WorkReasonApplied, "applied"))
	}
	return nil
}

var (
	types       = []placementv1.ApplyStrategyType{"", placementv1.ApplyStrategyTypeClientSideApply, placementv1.ApplyStrategyTypeServerSideApply, placementv1.ApplyStrategyTypeReportDiff}
	takeOvers   = []placementv1.WhenToTakeOverType{"", placementv1.WhenToTakeOverTypeAlways, placementv1.WhenToTakeOverTypeIfNoDiff, placementv1.WhenToTakeOverTypeNever}
	whenToApply = []placementv1.WhenToApplyType{"", placementv1.WhenToApplyTypeAlways, placementv1.WhenToApplyTypeIfNotDrifted}
	comparisons = []placementv1.ComparisonOptionType{"", placementv1.ComparisonOptionTypePartialComparison, placementv1.ComparisonOptionTypeFullComparison}
)

// rule is one line of the agent's apply rules: the first rule that matches
// a case decides it. An empty field matches anything.
type rule struct {
	reportDiff  bool
	live        []liveState
	takeOver    placementv1.WhenToTakeOverType
	lastApplied bool // the last record shows the manifest applied (or drifted) at this generation
	ifNotDrift  bool
	// full: only under comparisonOption FullComparison, where the field
	// the member's API server defaults (onMember) is a difference too.
	full bool
	want Action
}

// rules are the apply rules written as a table; the agent's documentation
// and Fleet's apply strategy say the same.
var rules = []rule{
	{reportDiff: true, want: ReportDiff},
	{live: []liveState{absent}, want: Create},
	{live: []liveState{unownedSame, unownedDifferent}, takeOver: placementv1.WhenToTakeOverTypeNever, want: RefuseTakeOver},
	{live: []liveState{unownedDifferent}, takeOver: placementv1.WhenToTakeOverTypeIfNoDiff, want: RefuseTakeOver},
	{live: []liveState{unownedSame}, takeOver: placementv1.WhenToTakeOverTypeIfNoDiff, full: true, want: RefuseTakeOver},
	{live: []liveState{unownedSame, unownedDifferent}, want: TakeOver},
	{live: []liveState{oursOtherHeld}, want: ReportConflict},
	{live: []liveState{oursInSync}, full: true, lastApplied: true, ifNotDrift: true, want: ReportDrift},
	{live: []liveState{oursInSync}, full: true, lastApplied: true, want: LeaveAlone},
	{live: []liveState{oursInSync}, full: true, want: Apply},
	{live: []liveState{oursInSync}, want: LeaveAlone},
	{live: []liveState{oursDrifted, oursOtherGone}, lastApplied: true, ifNotDrift: true, want: ReportDrift},
	{live: []liveState{oursDrifted, oursOtherGone}, lastApplied: true, want: RevertDrift},
	{live: []liveState{oursDrifted, oursOtherGone}, want: Apply},
}

type testCase struct {
	strategy placementv1.ApplyStrategy
	live     liveState
	last     lastState
}

func (c testCase) String() string {
	return fmt.Sprintf("%s/%s/%s/%s, member object %s, %s",
		c.strategy.Type, c.strategy.WhenToTakeOver, c.strategy.WhenToApply, c.strategy.ComparisonOption, c.live, c.last)
}

func (c testCase) input() Input {
	live, held := c.live.object()
	return Input{
		Work: workName, Placement: placement, Generation: gen, Strategy: c.strategy,
		Manifest: hubManifest(), Subject: subject, Live: live, OwnerHeld: held, Last: c.last.status(),
	}
}

func (r rule) matches(c testCase) bool {
	s := WithDefaults(&c.strategy)
	if isReportDiff := s.Type == placementv1.ApplyStrategyTypeReportDiff; r.reportDiff || isReportDiff {
		return r.reportDiff == isReportDiff
	}
	if len(r.live) > 0 && !contains(r.live, c.live) {
		return false
	}
	if r.takeOver != "" && r.takeOver != s.WhenToTakeOver {
		return false
	}
	if r.full && s.ComparisonOption != placementv1.ComparisonOptionTypeFullComparison {
		return false
	}
	if r.lastApplied && c.last != appliedNow && c.last != driftedNow {
		return false
	}
	return !r.ifNotDrift || s.WhenToApply == placementv1.WhenToApplyTypeIfNotDrifted
}

func contains[T comparable](list []T, v T) bool {
	for _, x := range list {
		if x == v {
			return true
		}
	}
	return false
}

func allCases() []testCase {
	var out []testCase
	for _, typ := range types {
		for _, to := range takeOvers {
			for _, wa := range whenToApply {
				for _, co := range comparisons {
					for _, live := range liveStates {
						for _, last := range lastStates {
							out = append(out, testCase{
								strategy: placementv1.ApplyStrategy{Type: typ, WhenToTakeOver: to, WhenToApply: wa, ComparisonOption: co},
								live:     live, last: last,
							})
						}
					}
				}
			}
		}
	}
	return out
}

func TestDecideFollowsTheRulesInEveryCombination(t *testing.T) {
	used := make([]int, len(rules))
	for _, c := range allCases() {
		want := Action("")
		for i, r := range rules {
			if r.matches(c) {
				want = r.want
				used[i]++
				break
			}
		}
		if want == "" {
			t.Fatalf("%s: no rule covers it", c)
		}
		d := Decide(c.input())
		if d.Action != want {
			t.Errorf("%s: %s, want %s", c, d.Action, want)
			continue
		}
		checkShape(t, c, d)
	}
	for i, n := range used {
		if n == 0 {
			t.Errorf("rule %d (%s) decides no case", i, rules[i].want)
		}
	}
}

// checkShape checks what comes with each action.
func checkShape(t *testing.T, c testCase, d Decision) {
	t.Helper()
	if d.Action.Writes() != (d.Object != nil) {
		t.Errorf("%s: %s with object %v", c, d.Action, d.Object != nil)
	}
	wantPlaced := map[Action]bool{LeaveAlone: true, ReportDrift: true, Apply: true, RevertDrift: true, ReportDiff: c.live.ours()}[d.Action]
	if d.Placed != wantPlaced {
		t.Errorf("%s: %s placed %v, want %v", c, d.Action, d.Placed, wantPlaced)
	}
	wantType, wantStatus := fleetv1.WorkApplied, metav1.ConditionFalse
	switch {
	case d.Action == ReportDiff:
		wantType, wantStatus = fleetv1.WorkDiffReported, metav1.ConditionTrue
	case d.Action.Writes() || d.Action == LeaveAlone:
		wantStatus = metav1.ConditionTrue
	}
	if d.Condition.Type != wantType || d.Condition.Status != wantStatus || d.Condition.Reason == "" || d.Condition.Message == "" {
		t.Errorf("%s: %s with condition %+v", c, d.Action, d.Condition)
	}
	// ReportDiff compares the manifest as the hub has it, without the
	// agent's marks: only a missing object or other data differ.
	// Under a full comparison the field the member defaults differs too.
	full := WithDefaults(&c.strategy).ComparisonOption == placementv1.ComparisonOptionTypeFullComparison
	wantDiffs := d.Action == ReportDiff && (contains([]liveState{absent, unownedDifferent, oursDrifted}, c.live) || full) ||
		d.Action == RefuseTakeOver && c.strategy.WhenToTakeOver == placementv1.WhenToTakeOverTypeIfNoDiff
	if (len(d.Diffs) > 0) != wantDiffs {
		t.Errorf("%s: %s with diffs %+v", c, d.Action, d.Diffs)
	}
	// A full comparison reports what no apply changes beside leaving it.
	if (len(d.Drifts) > 0) != (d.Action == ReportDrift || full && d.Action == LeaveAlone) {
		t.Errorf("%s: %s with drifts %+v", c, d.Action, d.Drifts)
	}
}

func TestDecideReports(t *testing.T) {
	ifNoDiff := placementv1.ApplyStrategy{WhenToTakeOver: placementv1.WhenToTakeOverTypeIfNoDiff}
	for _, tc := range []struct {
		name string
		c    testCase
		want Decision
	}{
		{
			name: "ReportDiff names an object missing on the member as one diff",
			c:    testCase{strategy: placementv1.ApplyStrategy{Type: placementv1.ApplyStrategyTypeReportDiff}, live: absent},
			want: Decision{Action: ReportDiff,
				Condition: conditions.True(fleetv1.WorkDiffReported, fleetv1.WorkReasonDiffFound, "1 fields differ from the hub's manifest"),
				Diffs:     []placementv1.PatchDetail{{Path: "", ValueInMember: NotFoundOnMember, ValueInHub: subject}}},
		},
		{
			name: "ReportDiff compares only what the manifest sets",
			c:    testCase{strategy: placementv1.ApplyStrategy{Type: placementv1.ApplyStrategyTypeReportDiff}, live: unownedSame},
			want: Decision{Action: ReportDiff,
				Condition: conditions.True(fleetv1.WorkDiffReported, fleetv1.WorkReasonNoDiffFound, "the member's object matches the hub's manifest")},
		},
		{
			name: "ReportDiff keeps tracking an object the agent placed",
			c:    testCase{strategy: placementv1.ApplyStrategy{Type: placementv1.ApplyStrategyTypeReportDiff}, live: oursDrifted, last: appliedNow},
			want: Decision{Action: ReportDiff, Placed: true,
				Condition: conditions.True(fleetv1.WorkDiffReported, fleetv1.WorkReasonDiffFound, "1 fields differ from the hub's manifest"),
				Diffs:     []placementv1.PatchDetail{{Path: "/data/a", ValueInMember: "2", ValueInHub: "1"}}},
		},
		{
			name: "Never leaves an unowned object alone",
			c:    testCase{strategy: placementv1.ApplyStrategy{WhenToTakeOver: placementv1.WhenToTakeOverTypeNever}, live: unownedSame},
			want: Decision{Action: RefuseTakeOver, Condition: conditions.False(fleetv1.WorkApplied, fleetv1.WorkReasonNotTakenOver,
				"ConfigMap fintech/c exists on the member and was not placed by the fleet; whenToTakeOver is Never")},
		},
		{
			name: "IfNoDiff refuses a different object and says how it differs",
			c:    testCase{strategy: ifNoDiff, live: unownedDifferent},
			want: Decision{Action: RefuseTakeOver,
				Condition: conditions.False(fleetv1.WorkApplied, fleetv1.WorkReasonNotTakenOver,
					"ConfigMap fintech/c exists on the member with 1 fields that differ from the manifest; whenToTakeOver is IfNoDiff"),
				Diffs: []placementv1.PatchDetail{{Path: "/data/a", ValueInMember: "2", ValueInHub: "1"}}},
		},
		{
			name: "another Work's object is not touched",
			c:    testCase{live: oursOtherHeld, last: appliedNow},
			want: Decision{Action: ReportConflict, Condition: conditions.False(fleetv1.WorkApplied, fleetv1.WorkReasonConflict,
				"ConfigMap fintech/c is placed by Work other")},
		},
		{
			name: "IfNotDrifted reports what changed on the member",
			c:    testCase{strategy: placementv1.ApplyStrategy{WhenToApply: placementv1.WhenToApplyTypeIfNotDrifted}, live: oursDrifted, last: driftedNow},
			want: Decision{Action: ReportDrift, Placed: true,
				Condition: conditions.False(fleetv1.WorkApplied, fleetv1.WorkReasonDrifted,
					"1 fields were changed on the member; whenToApply is IfNotDrifted, so they are not overwritten"),
				Drifts: []placementv1.PatchDetail{{Path: "/data/a", ValueInMember: "2", ValueInHub: "1"}}},
		},
		{
			name: "an object in sync is left alone",
			c:    testCase{live: oursInSync, last: appliedBefore},
			want: Decision{Action: LeaveAlone, Placed: true, Condition: conditions.True(fleetv1.WorkApplied, fleetv1.WorkReasonApplied, "applied")},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := Decide(tc.c.input()); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got  %+v\nwant %+v", got, tc.want)
			}
		})
	}
}

func TestDecideWritesTheManifestMarkedAsPlaced(t *testing.T) {
	for _, live := range []liveState{absent, unownedSame, oursDrifted, oursOtherGone} {
		c := testCase{live: live, last: appliedNow}
		d := Decide(c.input())
		if !d.Action.Writes() {
			t.Fatalf("%s: %s", c, d.Action)
		}
		want := hubManifest()
		want.SetLabels(map[string]string{"app": "web", fleetv1.ManagedByLabel: fleetv1.ManagedByAgent, fleetv1.PlacementLabel: placement})
		want.SetAnnotations(map[string]string{fleetv1.WorkAnnotation: workName})
		if !reflect.DeepEqual(d.Object, want) {
			t.Errorf("%s: writes %v, want %v", c, d.Object.Object, want.Object)
		}
	}
}

func TestDesiredDropsWhatTheServerOwns(t *testing.T) {
	m := onMember(hubManifest())
	m.Object["status"] = map[string]any{"phase": "x"}
	m.SetGeneration(4)
	m.SetCreationTimestamp(metav1.Now())
	got := Desired(m, workName, placement)
	for _, f := range []string{"uid", "resourceVersion", "managedFields", "generation", "creationTimestamp"} {
		if _, found, _ := unstructured.NestedFieldNoCopy(got.Object, "metadata", f); found {
			t.Errorf("metadata.%s kept", f)
		}
	}
	if _, found := got.Object["status"]; found {
		t.Error("status kept")
	}
	if m.GetLabels()[fleetv1.ManagedByLabel] != "" || m.GetUID() == "" {
		t.Error("the manifest itself was changed")
	}
}

func TestWithDefaults(t *testing.T) {
	want := placementv1.ApplyStrategy{
		Type: placementv1.ApplyStrategyTypeClientSideApply, ComparisonOption: placementv1.ComparisonOptionTypePartialComparison,
		WhenToApply: placementv1.WhenToApplyTypeAlways, WhenToTakeOver: placementv1.WhenToTakeOverTypeAlways,
	}
	if got := WithDefaults(nil); got != want {
		t.Errorf("nil: %+v", got)
	}
	set := placementv1.ApplyStrategy{
		Type: placementv1.ApplyStrategyTypeReportDiff, ComparisonOption: placementv1.ComparisonOptionTypeFullComparison,
		WhenToApply: placementv1.WhenToApplyTypeIfNotDrifted, WhenToTakeOver: placementv1.WhenToTakeOverTypeNever,
	}
	if got := WithDefaults(&set); got != set {
		t.Errorf("set fields changed: %+v", got)
	}
}

func TestCoOwnedObjectsAndForcedApplies(t *testing.T) {
	coOwned := onMember(configMap("1", map[string]any{"app": "web"}, nil))
	coOwned.SetOwnerReferences([]metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "Deployment", Name: "web", UID: "u"}})
	in := func(s placementv1.ApplyStrategy, live *unstructured.Unstructured) Input {
		return Input{Work: workName, Placement: placement, Generation: gen, Strategy: s, Manifest: hubManifest(), Subject: subject, Live: live}
	}
	d := Decide(in(placementv1.ApplyStrategy{}, coOwned))
	if d.Action != RefuseTakeOver || !strings.Contains(d.Condition.Message, "also owned by Deployment web") || d.Action.Writes() {
		t.Errorf("co-owned without allowCoOwnership: %s %q", d.Action, d.Condition.Message)
	}
	if d := Decide(in(placementv1.ApplyStrategy{AllowCoOwnership: true}, coOwned)); d.Action != TakeOver {
		t.Errorf("co-owned with allowCoOwnership: %s %q", d.Action, d.Condition.Message)
	}
	for _, tc := range []struct {
		strategy placementv1.ApplyStrategy
		force    bool
	}{
		{placementv1.ApplyStrategy{}, true},
		{placementv1.ApplyStrategy{Type: placementv1.ApplyStrategyTypeClientSideApply}, true},
		{placementv1.ApplyStrategy{Type: placementv1.ApplyStrategyTypeServerSideApply}, false},
		{placementv1.ApplyStrategy{Type: placementv1.ApplyStrategyTypeServerSideApply, ServerSideApplyConfig: &placementv1.ServerSideApplyConfig{ForceConflicts: true}}, true},
	} {
		d := Decide(in(tc.strategy, nil))
		if d.Action != Create || d.ForceConflicts != tc.force {
			t.Errorf("%+v: %s, force %v; want Create, force %v", tc.strategy, d.Action, d.ForceConflicts, tc.force)
		}
	}
}
