package rollout

import (
	"fmt"
	"strconv"
	"strings"

	"k8s.io/apimachinery/pkg/util/intstr"
)

// quantity reads a count or a percentage of total. Percentages round down
// for concurrency and up for failure budgets (roundUp). A count may be
// written as a decimal string ("2"), as Azure's --stages JSON writes it.
func quantity(v *intstr.IntOrString, total int, roundUp bool) (int, error) {
	if v.Type == intstr.Int {
		if v.IntVal < 0 {
			return 0, fmt.Errorf("%d is negative", v.IntVal)
		}
		return int(v.IntVal), nil
	}
	if isDecimalCount(v.StrVal) {
		return strconv.Atoi(v.StrVal)
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

// isDecimalCount reports whether s is a count written as a string: digits
// only, no sign, no leading zero (but "0" itself), at most four characters
// as the CRD allows.
func isDecimalCount(s string) bool {
	if s == "" || len(s) > 4 || (len(s) > 1 && s[0] == '0') {
		return false
	}
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}

// isCount reports whether v is a count rather than a percentage.
func isCount(v *intstr.IntOrString) bool {
	return v.Type == intstr.Int || isDecimalCount(v.StrVal)
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
	if isCount(v) && n < 1 {
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
