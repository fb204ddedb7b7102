package conditions_test

import (
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/flotilla-dev/flotilla/internal/conditions"
)

func TestSetStampsGenerationAndMovesTheTransitionTimeOnlyOnAFlip(t *testing.T) {
	t0 := metav1.NewTime(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	t1 := metav1.NewTime(t0.Add(time.Minute))
	var conds []metav1.Condition

	if !conditions.Set(&conds, conditions.True("Ready", "Probed", "ok"), 1, t0) {
		t.Fatal("a new condition is a flip")
	}
	if conditions.Set(&conds, conditions.True("Ready", "Probed", "still ok"), 2, t1) {
		t.Fatal("a new message at the same status is not a flip")
	}
	c := conds[0]
	if c.ObservedGeneration != 2 || c.Message != "still ok" || !c.LastTransitionTime.Equal(&t0) {
		t.Fatalf("after a message change: %+v", c)
	}
	if !conditions.Set(&conds, conditions.False("Ready", "ProbeFailed", "down"), 2, t1) {
		t.Fatal("True to False is a flip")
	}
	if !conds[0].LastTransitionTime.Equal(&t1) {
		t.Fatalf("transition time not moved: %+v", conds[0])
	}
}

func TestSetDefaultsAnEmptyReason(t *testing.T) {
	var conds []metav1.Condition
	conditions.Set(&conds, conditions.Unknown("Ready", "", ""), 0, metav1.Now())
	if conds[0].Reason != "Unknown" {
		t.Fatalf("reason = %q", conds[0].Reason)
	}
}

func TestSetLeavesAnUnchangedConditionAlone(t *testing.T) {
	t0 := metav1.Now()
	var conds []metav1.Condition
	conditions.Set(&conds, conditions.Of("Ready", true, "Probed", "ok"), 3, t0)
	before := conds[0]
	conditions.Set(&conds, conditions.Of("Ready", true, "Probed", "ok"), 3, metav1.NewTime(t0.Add(time.Hour)))
	if conds[0] != before {
		t.Fatalf("changed: %+v vs %+v", conds[0], before)
	}
}
