package e2e

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"

	fleetv1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
)

// TestAutoUpgradeProfiles: on a local fleet of v1.36 members (the local
// provider offers v1.36.3 and v1.37.2), a TargetKubernetesVersion 1.37
// profile with autoStart generates a run to v1.37.2 that starts by itself
// and completes; a NodeImage profile generates a NodeImageOnly run to the
// newer local image; a Stable profile (N-1 = 1.36) finds nothing to do; a
// disabled profile generates nothing; generate-update-run refuses a second
// run for the same target.
func TestAutoUpgradeProfiles(t *testing.T) {
	f := upFleet(t, `
hub: {kubernetesVersion: "1.37"}
members:
- {name: m-1, kubernetesVersion: "1.36", updateGroup: all}
- {name: m-2, kubernetesVersion: "1.36", updateGroup: all}
`)
	f.waitHealthy("m-1", "m-2")

	f.must("autoupgradeprofile", "create", "-n", "off", "--channel", "Rapid", "--disabled")
	f.must("autoupgradeprofile", "create", "-n", "stable", "--channel", "Stable")
	profile := func(name string) fleetv1.AutoUpgradeProfile {
		var p fleetv1.AutoUpgradeProfile
		f.json(&p, "autoupgradeprofile", "show", "-n", name)
		return p
	}
	// Fresh local nodes run the older of the catalogue's two images.
	f.must("autoupgradeprofile", "create", "-n", "images", "--channel", "NodeImage", "--node-image-selection", "Consistent")
	var imagesRun string
	f.eventually(60*time.Second, "images generates a NodeImageOnly run", func() (bool, string) {
		p := profile("images")
		imagesRun = p.Status.GeneratedUpdateRun
		return strings.HasPrefix(imagesRun, "images-nodeimage-"), fmt.Sprintf("%+v", p.Status)
	})
	if p := profile("images"); strings.Join(p.Status.LastTriggerUpgradeVersions, ",") != "flotilla-node-v1.36.3-202612.1" {
		t.Errorf("images targets %v, want the newer v1.36.3 image", p.Status.LastTriggerUpgradeVersions)
	}
	if r := f.getRun(imagesRun); r.Spec.ManagedClusterUpdate.Upgrade.Type != fleetv1.UpgradeNodeImageOnly || r.Spec.State != fleetv1.RunNotStarted {
		t.Errorf("images run spec = %+v", r.Spec)
	}
	f.must("autoupgradeprofile", "create", "-n", "to-1-37", "--channel", "TargetKubernetesVersion", "--target-kubernetes-version", "1.37", "--auto-start")

	f.eventually(60*time.Second, "to-1-37 generates its run", func() (bool, string) {
		p := profile("to-1-37")
		return p.Status.GeneratedUpdateRun == "to-1-37-1-37-2", p.Status.GeneratedUpdateRun + " " + p.Status.LastTriggerError
	})
	f.must("updaterun", "wait", "-n", "to-1-37-1-37-2", "--timeout", "5m")
	run := f.getRun("to-1-37-1-37-2")
	if run.Spec.State != fleetv1.RunStarted || run.Spec.ManagedClusterUpdate.Upgrade.KubernetesVersion != "v1.37.2" {
		t.Errorf("generated run spec = %+v", run.Spec)
	}
	for _, m := range []string{"m-1", "m-2"} {
		if p := run.Status.MemberProgress(m); p.State != fleetv1.StateCompleted {
			t.Errorf("%s: %s %q, want Completed", m, p.State, p.Message)
		}
	}
	f.eventually(60*time.Second, "members report v1.37.2", func() (bool, string) {
		st := f.status()
		return st["m-1"].Version == "v1.37.2" && st["m-2"].Version == "v1.37.2", st["m-1"].Version + " " + st["m-2"].Version
	})

	f.eventually(30*time.Second, "the Stable profile finds 1.36 up to date", func() (bool, string) {
		c := meta.FindStatusCondition(profile("stable").Status.Conditions, fleetv1.ProfileReady)
		if c == nil {
			return false, "no Ready condition"
		}
		return c.Reason == "UpToDate" && strings.Contains(c.Message, "1.36.3"), c.Reason + ": " + c.Message
	})
	off := profile("off")
	if c := meta.FindStatusCondition(off.Status.Conditions, fleetv1.ProfileReady); c == nil || c.Reason != "Disabled" || off.Status.GeneratedUpdateRun != "" {
		t.Errorf("disabled profile status = %+v", off.Status)
	}
	var runs []fleetv1.UpdateRun
	f.json(&runs, "updaterun", "list")
	if len(runs) != 2 {
		t.Errorf("%d runs, want to-1-37-1-37-2 and %s (which waits NotStarted)", len(runs), imagesRun)
	}
	if out := f.mustFail("autoupgradeprofile", "generate-update-run", "-n", "to-1-37"); !strings.Contains(out, "up to date") {
		t.Errorf("generate-update-run after the upgrade: %s", out)
	}
}
