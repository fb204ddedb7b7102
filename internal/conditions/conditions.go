// Package conditions sets metav1.Conditions the one way every Flotilla
// controller and the agent do: stamped with the object's generation, with
// the transition time moved only when the status flips.
package conditions

import (
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Condition is what a caller decides; Set adds the bookkeeping.
type Condition struct {
	Type    string
	Status  metav1.ConditionStatus
	Reason  string
	Message string
}

// True is a condition whose status is True.
func True(condType, reason, message string) Condition {
	return Condition{Type: condType, Status: metav1.ConditionTrue, Reason: reason, Message: message}
}

// False is a condition whose status is False.
func False(condType, reason, message string) Condition {
	return Condition{Type: condType, Status: metav1.ConditionFalse, Reason: reason, Message: message}
}

// Unknown is a condition whose status is Unknown.
func Unknown(condType, reason, message string) Condition {
	return Condition{Type: condType, Status: metav1.ConditionUnknown, Reason: reason, Message: message}
}

// Of is True when ok, else False.
func Of(condType string, ok bool, reason, message string) Condition {
	if ok {
		return True(condType, reason, message)
	}
	return False(condType, reason, message)
}

// Set records c in conds for an object at generation, and reports whether
// the status flipped (or the condition is new), which is when callers emit
// an Event. A condition with nothing new is left untouched, so an unchanged
// status stays byte-for-byte the same and no write is needed.
func Set(conds *[]metav1.Condition, c Condition, generation int64, now metav1.Time) (flipped bool) {
	if c.Reason == "" {
		// The API server refuses a condition without a reason.
		c.Reason = string(c.Status)
	}
	old := meta.FindStatusCondition(*conds, c.Type)
	if old != nil && old.Status == c.Status && old.Reason == c.Reason && old.Message == c.Message && old.ObservedGeneration == generation {
		return false
	}
	flipped = old == nil || old.Status != c.Status
	meta.SetStatusCondition(conds, metav1.Condition{
		Type: c.Type, Status: c.Status, Reason: c.Reason, Message: c.Message,
		ObservedGeneration: generation, LastTransitionTime: now,
	})
	return flipped
}

// IsTrue reports whether conds has condType with status True.
func IsTrue(conds []metav1.Condition, condType string) bool {
	return meta.IsStatusConditionTrue(conds, condType)
}
