package rollout

import (
	"fmt"
	"strconv"
	"strings"

	"k8s.io/apimachinery/pkg/util/intstr"
)

// quantity reads a count or a percentage of total. Percentages round down
// for concurrency and up for failure budgets (roundUp).
func quantity(v *intstr.IntOrString, total int, roundUp bool) (int, error) {
	if v.Type == intstr.Int {
		if v.IntVal < 0 {
			return 0, fmt.Errorf("%d is negative", v.IntVal)
		}
		return int(v.IntVal), nil
	}
	digits, ok := strings.CutSuffix(v.StrVal, "%")
	percent, err := strconv.Atoi(digits)
	if !ok || err != nil || percent < 0 || percent > 100 {
		return 0, fmt.Errorf("%q is neither a count nor a percentage from 0%% to 100%%", v.StrVal)
	}
	scaled := percent * total
	if roundUp {
		return (scaled + 99) / 100, nil
	}
	return scaled / 100, nil
}

// maxInFlight is a maxConcurrency of total members: rounded down, at least
// 1; def when unset.
func maxInFlight(v *intstr.IntOrString, total, def int) (int, error) {
	if v == nil {
		return def, nil
	}
	n, err := quantity(v, total, false)
	if err != nil {
		return 0, fmt.Errorf("maxConcurrency: %w", err)
	}
	if v.Type == intstr.Int && n < 1 {
		return 0, fmt.Errorf("maxConcurrency: %d is less than 1", n)
	}
	return max(n, 1), nil
}

// failureBudget is how many failed members a group or stage tolerates. A
// budget that is not set tolerates any number: fail-fast comes from the
// rule that, when neither the group nor its stage sets one, none is allowed.
type failureBudget struct {
	set     bool
	allowed int
}

func budgetOf(v *intstr.IntOrString, total int) (failureBudget, error) {
	if v == nil {
		return failureBudget{}, nil
	}
	n, err := quantity(v, total, true)
	if err != nil {
		return failureBudget{}, fmt.Errorf("maxAllowedFailures: %w", err)
	}
	return failureBudget{set: true, allowed: n}, nil
}

func (b failureBudget) exceededBy(failed int) bool {
	return b.set && failed > b.allowed
}
