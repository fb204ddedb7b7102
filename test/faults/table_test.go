package faults

import (
	"fmt"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// result is one row of the table: one fault at one injection point.
type result struct {
	scenario string
	injected string
	outcome  string
	// touched lists the members whose upgrade (or, for placements, whose
	// objects) the fleet changed after the fault, or says none.
	touched string
	// recovered is how long the fleet took to be right again, and from when.
	recovered string
	lost      string
	// failed is set when the test asserting the row failed.
	failed bool
}

// scenarioOrder is the table's order: the list of scenarios.
var scenarioOrder = []string{
	"member API server SIGKILLed, kept down",
	"member goes bad after its upgrade",
	"hub API server down",
	"hub controller SIGKILLed and restarted",
	"agent SIGKILLed and restarted while its hub is down",
	"member partitioned from the hub",
	"member etcd stopped under its API server",
}

var (
	resultsMu sync.Mutex
	results   []result
)

// record adds a row to the table once the (sub)test ends, marking it
// failed if the test failed, so that the table never shows a row that did
// not hold as if it had.
func record(t *testing.T, r *result) {
	t.Helper()
	t.Cleanup(func() {
		r.failed = t.Failed()
		resultsMu.Lock()
		defer resultsMu.Unlock()
		results = append(results, *r)
	})
}

func touchedText(members []string) string {
	if len(members) == 0 {
		return "none"
	}
	return strings.Join(members, ", ")
}

// resultsTable renders the rows as a Markdown table, with the mode and the
// machine.
func resultsTable(wall time.Duration) string {
	resultsMu.Lock()
	defer resultsMu.Unlock()
	var b strings.Builder
	mode := "short form (go test ./test/faults)"
	if full() {
		mode = "full form (make faults)"
	}
	fmt.Fprintf(&b, "\nfault injection, %s: %d rows in %s on %d CPUs\n\n", mode, len(results), wall.Round(time.Second), runtime.NumCPU())
	b.WriteString("| scenario | injected when | outcome | members touched after the fault | time to recover | lost |\n")
	b.WriteString("| --- | --- | --- | --- | --- | --- |\n")
	rows := slices.Clone(results)
	slices.SortStableFunc(rows, func(a, b result) int {
		return slices.Index(scenarioOrder, a.scenario) - slices.Index(scenarioOrder, b.scenario)
	})
	for _, r := range rows {
		outcome := r.outcome
		if r.failed {
			outcome = "**FAILED**: " + outcome
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s |\n", cell(r.scenario), cell(r.injected), cell(outcome), cell(r.touched), cell(r.recovered), cell(r.lost))
	}
	return b.String()
}

func cell(s string) string {
	if s == "" {
		return "–"
	}
	return strings.ReplaceAll(s, "|", "\\|")
}
