package faults

import (
	"fmt"
	"math/rand/v2"
	"os"
	"testing"
	"time"

	fleetv1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
)

// TestHubControllerKilledAtRandomPoints SIGKILLs the hub controller
// manager at random points of a run (20 in full mode) and starts it again
// each time with the same state directory, as a supervisor would. The run
// completes, every member is upgraded exactly once (one operation, one
// control-plane restart onto the target), and ends on the target.
func TestHubControllerKilledAtRandomPoints(t *testing.T) {
	concurrentInShortForm(t)
	kills := pick(20, 3)
	names := pick([]string{"m-1", "m-2", "m-3", "m-4", "m-5", "m-6"}, []string{"m-1", "m-2", "m-3"})
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv("FLOTILLA_FAULTS_SEED"); s != "" {
		_, _ = fmt.Sscan(s, &seed)
	}
	rng := rand.New(rand.NewPCG(seed, seed))
	t.Logf("random points from seed %d (FLOTILLA_FAULTS_SEED=%d repeats them)", seed, seed)

	row := &result{scenario: "hub controller SIGKILLed and restarted", injected: fmt.Sprintf("%d random points of a %d-member run (seed %d)", kills, len(names), seed)}
	record(t, row)
	var specs []string
	for i, m := range names {
		specs = append(specs, fmt.Sprintf("%s:g%d", m, i%2))
	}
	f := upFleet(t, members(false, specs...))
	f.startRun("fault", `{"stages": [
	  {"name": "one", "groups": [{"name": "g0"}]},
	  {"name": "two", "groups": [{"name": "g1"}]}
	], "healthChecks": [{"name": "nodes-ready", "type": "NodesReady", "settleSeconds": 1, "timeoutSeconds": 30}]}`)

	hub := f.hubManager()
	first := time.Time{}
	done := 0
	var last time.Time
	for done < kills {
		// Anywhere from the new process's start-up to well into its work.
		time.Sleep(time.Duration(200+rng.IntN(2800)) * time.Millisecond)
		if s := f.run("fault").Status.State; s == fleetv1.StateCompleted {
			break
		}
		hub.kill(t)
		last = time.Now()
		if first.IsZero() {
			first = last
		}
		done++
		t.Logf("kill %d at %s: %s", done, last.Format(time.StampMilli), summaryLine(f.run("fault")))
		hub = f.restart(hub)
	}
	if done < kills {
		row.injected = fmt.Sprintf("%d random points of a %d-member run (seed %d; it finished before the %d planned)", done, len(names), seed, kills)
	}
	run := f.waitFinished("fault", 5*time.Minute)
	row.outcome = fmt.Sprintf("run %s after %d kills", run.Status.State, done)
	row.recovered = sinceText(time.Since(last)) + " (last restart → run Completed)"
	row.touched = touchedText(f.touchedAfter("fault", first, names...)) + " (the run goes on, as it should)"
	if run.Status.State != fleetv1.StateCompleted {
		t.Fatalf("run %s: %s", run.Status.State, summaryLine(run))
	}
	dups, why := f.duplicateUpgrades("fault", names...)
	row.lost = fmt.Sprintf("nothing; %d duplicate upgrades", dups)
	if dups != 0 {
		t.Errorf("%d duplicate upgrade(s): %s", dups, why)
	}
	for _, m := range names {
		if n := len(f.upgradeOps("fault", m)); n != 1 {
			t.Errorf("%s: %d upgrade operations, want 1", m, n)
		}
		if v := f.memberVersion(m); v != "v1.37.2" {
			t.Errorf("%s is on %q, want v1.37.2", m, v)
		}
	}
}
