package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	fleetv1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
)

// TestPreflightBlocksTheMemberThatUsesARemovedAPIAndRetryTriesItAgain runs
// the pre-flight scan as an operator meets it on a local fleet: two 1.36
// members serving networking.k8s.io/v1beta1 (which 1.37 removes), one with a
// ServiceCIDR applied through it. `flotilla preflight` and the plan list it,
// `updaterun create` refuses the run until --force, the run blocks that
// member before touching it and upgrades the other, and `updaterun retry`
// tries the blocked member again, keeping its first attempt.
func TestPreflightBlocksTheMemberThatUsesARemovedAPIAndRetryTriesItAgain(t *testing.T) {
	f := upFleet(t, `
hub: {kubernetesVersion: "1.37"}
members:
- {name: legacy, kubernetesVersion: "1.36", updateGroup: prod, runtimeConfig: "networking.k8s.io/v1beta1=true"}
- {name: modern, kubernetesVersion: "1.36", updateGroup: prod, runtimeConfig: "networking.k8s.io/v1beta1=true"}
`)
	f.waitHealthy("legacy", "modern")
	manifest := filepath.Join(t.TempDir(), "cidr.yaml")
	if err := os.WriteFile(manifest, []byte("apiVersion: networking.k8s.io/v1beta1\nkind: ServiceCIDR\nmetadata:\n  name: legacy-cidr\nspec:\n  cidrs: [\"10.250.9.0/24\"]\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	f.kubectl("legacy", "apply", "-f", manifest)

	out, _, err := f.run("preflight", "--kubernetes-version", "1.37")
	if err == nil || !strings.Contains(out, "legacy") || !strings.Contains(out, "legacy-cidr") || !strings.Contains(out, "networking.k8s.io/v1beta1") {
		t.Fatalf("flotilla preflight: %v\n%s", err, out)
	}
	stages := `[{"name": "prod", "groups": [{"name": "prod", "maxConcurrency": 2}]}]`
	refused := f.mustFail("updaterun", "create", "-n", "to-137", "--upgrade-type", "ControlPlaneOnly", "--kubernetes-version", "1.37", "--stages", stages)
	if !strings.Contains(refused, "refused by the pre-flight scan") {
		t.Fatalf("updaterun create did not refuse the run for the pre-flight findings:\n%s", refused)
	}
	f.must("updaterun", "create", "-n", "to-137", "--upgrade-type", "ControlPlaneOnly", "--kubernetes-version", "1.37", "--stages", stages, "--force", "--start")
	f.eventually(3*time.Minute, "the run ends", func() (bool, string) {
		r := f.getRun("to-137")
		return r.Status.State == fleetv1.StateFailed || r.Status.State == fleetv1.StateCompleted, string(r.Status.State)
	})
	run := f.getRun("to-137")
	states := map[string]fleetv1.MemberProgress{}
	for _, g := range stageProgress(run, "prod").Groups {
		for _, m := range g.Members {
			states[m.Name] = m
		}
	}
	if p := states["legacy"]; p.State != fleetv1.StateFailed || !strings.Contains(p.Message, "ServiceCIDR legacy-cidr networking.k8s.io/v1beta1") || f.upgradeAttempts("to-137", "legacy") != 0 {
		t.Errorf("legacy: %s %q, %d upgrade attempts; want Failed by the pre-flight scan, untouched", p.State, p.Message, f.upgradeAttempts("to-137", "legacy"))
	}
	if p := states["modern"]; p.State != fleetv1.StateCompleted {
		t.Errorf("modern: %s %q, want Completed", p.State, p.Message)
	}
	f.eventually(30*time.Second, "modern on v1.37.2", func() (bool, string) {
		v := f.status()["modern"].Version
		return v == "v1.37.2", v
	})

	f.must("updaterun", "retry", "-n", "to-137", "--members", "legacy")
	f.eventually(3*time.Minute, "the retry ends", func() (bool, string) {
		r := f.getRun("to-137")
		for _, g := range stageProgress(r, "prod").Groups {
			for _, m := range g.Members {
				if m.Name == "legacy" && len(m.PreviousAttempts) == 1 && m.State == fleetv1.StateFailed {
					return true, ""
				}
			}
		}
		return false, string(r.Status.State)
	})
	if v := f.status()["legacy"].Version; v != "v1.36.3" {
		t.Errorf("legacy runs %s, want v1.36.3: the pre-flight scan keeps blocking it", v)
	}
}
