package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	fleetv1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/internal/localcluster"
	"github.com/flotilla-dev/flotilla/internal/localfleet"
	"github.com/flotilla-dev/flotilla/internal/notify"
)

// TestAStrategysWebhookHearsTheRunAndAnUnreachableMemberIsSkipped runs a
// two-stage upgrade on a local fleet whose second member's API server is
// down, under a strategy (applied with flotilla apply) that skips
// unreachable members and names a signed webhook: the first member is
// upgraded, the second skipped with the probe's reason, the run completes,
// and the webhook gets the transitions it asked for, each signed.
func TestAStrategysWebhookHearsTheRunAndAnUnreachableMemberIsSkipped(t *testing.T) {
	var mu sync.Mutex
	var heard []string
	receiver := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if !notify.Verify(body, []byte("e2e-hook-key"), r.Header.Get(notify.SignatureHeader)) {
			http.Error(w, "bad signature", http.StatusUnauthorized)
			return
		}
		var e notify.Event
		if err := json.Unmarshal(body, &e); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		mu.Lock()
		heard = append(heard, e.Type+" "+e.Path)
		mu.Unlock()
	}))
	defer receiver.Close()

	f := upFleet(t, `
hub: {kubernetesVersion: "1.37"}
members:
- {name: up, kubernetesVersion: "1.36", updateGroup: first}
- {name: down, kubernetesVersion: "1.36", updateGroup: second}
`)
	f.waitHealthy("up", "down")
	l := localfleet.Layout{StateDir: f.stateDir, Name: f.name}
	down, err := localcluster.Attach(l.MemberDir("down"))
	if err != nil {
		t.Fatal(err)
	}
	if err := down.StopAPIServer(); err != nil {
		t.Fatal(err)
	}
	f.eventually(time.Minute, "the hub finds member down unreachable", func() (bool, string) {
		h := f.status()["down"].Health
		return h != "Healthy", h
	})

	f.hubKubectl("create", "secret", "generic", "e2e-hook", "-n", "flotilla-system", "--from-literal=secret=e2e-hook-key")
	strategy := filepath.Join(t.TempDir(), "strategy.yaml")
	if err := os.WriteFile(strategy, []byte(fmt.Sprintf(`apiVersion: fleet.flotilla.dev/v1alpha1
kind: UpdateStrategy
metadata:
  name: told
spec:
  onUnreachableMember: Skip
  notifications:
  - url: %s
    events: [StageCompleted, MemberSkipped, RunCompleted]
    secretRef: {name: e2e-hook}
  stages:
  - name: one
    groups: [{name: first}]
  - name: two
    groups: [{name: second}]
`, receiver.URL)), 0o644); err != nil {
		t.Fatal(err)
	}
	f.must("apply", "-f", strategy)
	f.must("updaterun", "create", "-n", "told", "--upgrade-type", "ControlPlaneOnly", "--kubernetes-version", "1.37",
		"--update-strategy-name", "told", "--start")
	f.eventually(3*time.Minute, "the run completes", func() (bool, string) {
		r := f.getRun("told")
		return r.Status.State == fleetv1.StateCompleted, string(r.Status.State) + ": " + r.Status.Message
	})
	run := f.getRun("told")
	if p := run.Status.MemberProgress("down"); p.State != fleetv1.StateSkipped || !strings.Contains(p.Message, "unreachable at its turn") {
		t.Errorf("down: %s %q, want Skipped as unreachable", p.State, p.Message)
	}
	if p := run.Status.MemberProgress("up"); p.State != fleetv1.StateCompleted {
		t.Errorf("up: %s %q, want Completed", p.State, p.Message)
	}
	want := []string{"StageCompleted one", "MemberSkipped two/second/down", "StageCompleted two", "RunCompleted told"}
	f.eventually(30*time.Second, "the webhook hears the run", func() (bool, string) {
		mu.Lock()
		defer mu.Unlock()
		for _, w := range want {
			if !slices.Contains(heard, w) {
				return false, strings.Join(heard, "; ")
			}
		}
		return true, ""
	})
}
