package rollout

import (
	"testing"

	"k8s.io/apimachinery/pkg/util/intstr"
)

func TestMaxInFlight(t *testing.T) {
	for _, tc := range []struct {
		v     *intstr.IntOrString
		total int
		want  int
		bad   bool
	}{
		{nil, 10, 1, false},
		{count(3), 10, 3, false},
		{count(30), 10, 30, false},
		{count(0), 10, 0, true},
		{percent("50%"), 10, 5, false},
		{percent("25%"), 10, 2, false}, // 2.5 rounds down
		{percent("5%"), 10, 1, false},  // 0.5 rounds down to 0, then at least 1
		{percent("100%"), 7, 7, false},
		{percent("1%"), 0, 1, false},
		{percent("150%"), 10, 0, true},
		{percent("half"), 10, 0, true},
		{percent("3"), 10, 3, false}, // Azure writes counts as strings
		{percent("12"), 10, 12, false},
		{percent("0"), 10, 0, true},
		{percent("03"), 10, 0, true},
		{percent("-3"), 10, 0, true},
		{percent("3.5"), 10, 0, true},
	} {
		got, err := maxInFlight(tc.v, tc.total, 1)
		if (err != nil) != tc.bad || (!tc.bad && got != tc.want) {
			t.Errorf("maxInFlight(%v, %d) = %d, %v; want %d, bad=%v", tc.v, tc.total, got, err, tc.want, tc.bad)
		}
	}
}

func TestFailureBudget(t *testing.T) {
	for _, tc := range []struct {
		v     *intstr.IntOrString
		total int
		want  failureBudget
		bad   bool
	}{
		{nil, 10, failureBudget{}, false},
		{count(0), 10, failureBudget{set: true}, false},
		{count(2), 10, failureBudget{set: true, allowed: 2}, false},
		{percent("10%"), 10, failureBudget{set: true, allowed: 1}, false},
		{percent("10%"), 15, failureBudget{set: true, allowed: 2}, false}, // 1.5 rounds up
		{percent("1%"), 3, failureBudget{set: true, allowed: 1}, false},   // 0.03 rounds up
		{percent("0%"), 10, failureBudget{set: true}, false},
		{count(-1), 10, failureBudget{}, true},
		{percent("2"), 10, failureBudget{set: true, allowed: 2}, false}, // Azure's string count
		{percent("0"), 10, failureBudget{set: true}, false},
		{percent("-2"), 10, failureBudget{}, true},
	} {
		got, err := budgetOf(tc.v, tc.total)
		if (err != nil) != tc.bad || (!tc.bad && got != tc.want) {
			t.Errorf("budgetOf(%v, %d) = %+v, %v; want %+v, bad=%v", tc.v, tc.total, got, err, tc.want, tc.bad)
		}
	}
	if (failureBudget{}).exceededBy(100) {
		t.Error("an unset budget was exceeded")
	}
	if !(failureBudget{set: true, allowed: 1}).exceededBy(2) || (failureBudget{set: true, allowed: 1}).exceededBy(1) {
		t.Error("a budget of 1 must tolerate 1 failure and not 2")
	}
}
