package applydecision

import (
	"encoding/json"
	"reflect"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	placementv1 "github.com/flotilla-dev/flotilla/api/placement/v1"
	fleetv1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/internal/conditions"
)

// fuzzObject turns fuzz bytes into an object as the agent would hold it: a
// JSON object with a metadata map and a name (decoding refuses anything
// else before a decision is asked for). ok is false for other bytes.
func fuzzObject(data []byte) (*unstructured.Unstructured, bool) {
	var obj map[string]any
	if err := json.Unmarshal(data, &obj); err != nil || obj == nil {
		return nil, false
	}
	if _, ok := obj["metadata"].(map[string]any); !ok {
		obj["metadata"] = map[string]any{}
	}
	u := &unstructured.Unstructured{Object: obj}
	if u.GetName() == "" {
		u.SetName("x")
	}
	return u, true
}

// Ways the member's object can be owned, picked by the fuzzer.
const (
	liveAbsent = iota
	liveUnowned
	liveOursThisWork
	liveOursOtherWork
	liveOursNoAnnotation
	liveAsGiven
	liveOwnerKinds
)

// Last records, picked by the fuzzer.
var fuzzLast = []func(g int64) *fleetv1.ManifestStatus{
	func(int64) *fleetv1.ManifestStatus { return nil },
	func(g int64) *fleetv1.ManifestStatus {
		return recorded(g, conditions.True(fleetv1.WorkApplied, fleetv1.WorkReasonApplied, "applied"))
	},
	func(g int64) *fleetv1.ManifestStatus {
		return recorded(g, conditions.False(fleetv1.WorkApplied, fleetv1.WorkReasonDrifted, "drifted"))
	},
	func(g int64) *fleetv1.ManifestStatus {
		return recorded(g, conditions.False(fleetv1.WorkApplied, fleetv1.WorkReasonApplyFailed, "failed"))
	},
	func(g int64) *fleetv1.ManifestStatus {
		return recorded(g-1, conditions.True(fleetv1.WorkApplied, fleetv1.WorkReasonApplied, "applied"))
	},
	func(g int64) *fleetv1.ManifestStatus {
		return recorded(g, conditions.False(fleetv1.WorkApplied, fleetv1.WorkReasonConflict, "conflict"))
	},
}

func recorded(g int64, c conditions.Condition) *fleetv1.ManifestStatus {
	m := &fleetv1.ManifestStatus{ObservedGeneration: g}
	conditions.Set(&m.Conditions, c, g, metav1.Now())
	return m
}

func pick[T any](list []T, i uint8) T { return list[int(i)%len(list)] }

// FuzzDecide checks the promises of the apply rules on any manifest and
// member object: the agent never writes over another live Work's object,
// never writes under ReportDiff, never touches an unowned object when
// whenToTakeOver says Never (or IfNoDiff and it differs), never overwrites
// a drift under IfNotDrifted, and always says why.
func FuzzDecide(f *testing.F) {
	f.Add([]byte(`{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"c","namespace":"n"},"data":{"a":"1"}}`),
		[]byte(`{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"c","namespace":"n"},"data":{"a":"2"}}`),
		uint8(0), uint8(0), uint8(0), uint8(0), uint8(liveOursThisWork), uint8(1), false, int64(3))
	f.Fuzz(func(t *testing.T, manifestData, liveData []byte, typ, takeOver, whenToApplyIdx, comparison, liveKind, last uint8, ownerHeld bool, generation int64) {
		manifest, ok := fuzzObject(manifestData)
		if !ok {
			return
		}
		live, ok := fuzzObject(liveData)
		if !ok {
			return
		}
		switch liveKind % liveOwnerKinds {
		case liveAbsent:
			live = nil
		case liveUnowned:
			labels := live.GetLabels()
			delete(labels, fleetv1.ManagedByLabel)
			live.SetLabels(labels)
		case liveOursThisWork, liveOursOtherWork, liveOursNoAnnotation:
			labels := live.GetLabels()
			if labels == nil {
				labels = map[string]string{}
			}
			labels[fleetv1.ManagedByLabel] = fleetv1.ManagedByAgent
			live.SetLabels(labels)
			annotations := live.GetAnnotations()
			if annotations == nil {
				annotations = map[string]string{}
			}
			switch liveKind % liveOwnerKinds {
			case liveOursThisWork:
				annotations[fleetv1.WorkAnnotation] = workName
			case liveOursOtherWork:
				annotations[fleetv1.WorkAnnotation] = "other"
			default:
				delete(annotations, fleetv1.WorkAnnotation)
			}
			live.SetAnnotations(annotations)
		}
		in := Input{
			Work: workName, Placement: placement, Generation: generation,
			Strategy: placementv1.ApplyStrategy{
				Type: pick(types, typ), WhenToTakeOver: pick(takeOvers, takeOver),
				WhenToApply: pick(whenToApply, whenToApplyIdx), ComparisonOption: pick(comparisons, comparison),
			},
			Manifest: manifest, Subject: subject, Live: live, OwnerHeld: ownerHeld,
			Last: pick(fuzzLast, last)(generation),
		}
		manifestBefore, liveBefore := manifest.DeepCopy(), live.DeepCopy()

		d := Decide(in)

		if !reflect.DeepEqual(manifest, manifestBefore) || !reflect.DeepEqual(live, liveBefore) {
			t.Fatal("Decide changed its input")
		}
		if again := Decide(in); !reflect.DeepEqual(again, d) {
			t.Fatalf("Decide is not deterministic: %+v, then %+v", d, again)
		}
		strategy := WithDefaults(&in.Strategy)
		ours := live != nil && live.GetLabels()[fleetv1.ManagedByLabel] == fleetv1.ManagedByAgent
		owner := ""
		if live != nil {
			owner = live.GetAnnotations()[fleetv1.WorkAnnotation]
		}

		if d.Action.Writes() != (d.Object != nil) {
			t.Fatalf("%s with object %v", d.Action, d.Object)
		}
		if strategy.Type == placementv1.ApplyStrategyTypeReportDiff && d.Action != ReportDiff {
			t.Fatalf("ReportDiff strategy: %s", d.Action)
		}
		if ours && owner != "" && owner != workName && ownerHeld && d.Action.Writes() {
			t.Fatalf("%s over an object of Work %s, which the agent holds", d.Action, owner)
		}
		if live != nil && !ours {
			if strategy.WhenToTakeOver == placementv1.WhenToTakeOverTypeNever && (d.Action.Writes() || d.Placed) {
				t.Fatalf("whenToTakeOver Never: %s (placed %v) on an unowned object", d.Action, d.Placed)
			}
			if strategy.WhenToTakeOver == placementv1.WhenToTakeOverTypeIfNoDiff && len(compareManifest(manifest.Object, live.Object)) > 0 && d.Action.Writes() {
				t.Fatalf("whenToTakeOver IfNoDiff: %s on an object that differs", d.Action)
			}
		}
		if live == nil && strategy.Type != placementv1.ApplyStrategyTypeReportDiff && d.Action != Create {
			t.Fatalf("no object on the member: %s", d.Action)
		}
		if strategy.WhenToApply == placementv1.WhenToApplyTypeIfNotDrifted && ours && owner == workName &&
			appliedAtGeneration(in.Last, generation) && d.Action.Writes() {
			t.Fatalf("whenToApply IfNotDrifted: %s over a drift", d.Action)
		}
		if d.Placed && !ours {
			t.Fatalf("%s says placed for an object the agent did not place", d.Action)
		}
		if d.Action == LeaveAlone && len(compareManifest(Desired(manifest, workName, placement).Object, live.Object)) > 0 {
			t.Fatal("left alone an object that differs from the manifest")
		}
		if d.Action == ReportDrift && len(d.Drifts) == 0 {
			t.Fatal("a drift reported without what drifted")
		}
		if d.Object != nil {
			if d.Object.GetLabels()[fleetv1.ManagedByLabel] != fleetv1.ManagedByAgent || d.Object.GetLabels()[fleetv1.PlacementLabel] != placement ||
				d.Object.GetAnnotations()[fleetv1.WorkAnnotation] != workName {
				t.Fatalf("writes an object without the agent's marks: %v", d.Object.Object)
			}
			if _, found := d.Object.Object["status"]; found || d.Object.GetResourceVersion() != "" {
				t.Fatalf("writes status or a resourceVersion: %v", d.Object.Object)
			}
		}
		wantType := fleetv1.WorkApplied
		if strategy.Type == placementv1.ApplyStrategyTypeReportDiff {
			wantType = fleetv1.WorkDiffReported
		}
		if d.Condition.Type != wantType || d.Condition.Reason == "" || d.Condition.Message == "" {
			t.Fatalf("%s reported as %+v", d.Action, d.Condition)
		}
	})
}
