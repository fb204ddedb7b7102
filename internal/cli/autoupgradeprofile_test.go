package cli

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	fleetv1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
)

func execMember(name, version string, offered ...string) *fleetv1.MemberCluster {
	return &fleetv1.MemberCluster{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: fleetv1.MemberClusterSpec{Provider: &fleetv1.ProviderSpec{Type: fleetv1.ProviderExec,
			Exec: &fleetv1.ExecProvider{Command: []string{"true"}, AvailableVersions: offered}}},
		Status: fleetv1.MemberClusterStatus{KubernetesVersion: version},
	}
}

func TestAutoUpgradeProfileCreateRefusesBadFlags(t *testing.T) {
	for args, want := range map[string]string{
		"-n p":                                   "--channel is required",
		"-n p --channel Nightly":                 `--channel must be Stable, Rapid, NodeImage or TargetKubernetesVersion, not "Nightly"`,
		"-n p --channel TargetKubernetesVersion": "needs --target-kubernetes-version",
		"-n p --channel TargetKubernetesVersion --target-kubernetes-version 1.37.2": "a minor such as 1.37",
		"-n p --channel Rapid --target-kubernetes-version 1.37":                     "goes with --channel TargetKubernetesVersion",
		"-n p --channel NodeImage --node-image-selection Custom":                    "Latest or Consistent",
		"-n " + strings.Repeat("p", 41) + " --channel Rapid":                        "at most 40 characters",
		"-n p --channel Rapid --update-strategy missing":                            `update strategy "missing" not found`,
	} {
		_, _, err := runCLI(fakeHub(), append([]string{"autoupgradeprofile", "create"}, strings.Fields(args)...)...)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("create %s: %v, want %q", args, err, want)
		}
	}
}

func TestAutoUpgradeProfileLifecycle(t *testing.T) {
	hub := fakeHub(execMember("a", "v1.36.3", "v1.36.5", "v1.37.0", "v1.37.2"), execMember("b", "v1.38.0", "v1.38.0"))
	ctx := context.Background()
	out, stderr, err := runCLI(hub, "autoupgradeprofile", "create", "-n", "to-1-37", "--channel", "TargetKubernetesVersion",
		"--target-kubernetes-version", "1.37", "--node-image-selection", "Consistent", "--auto-start", "--long-term-support")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "to-1-37") || !strings.Contains(stderr, "long-term-support") {
		t.Errorf("create printed %q / %q", out, stderr)
	}
	p := &fleetv1.AutoUpgradeProfile{}
	if err := hub.Get(ctx, client.ObjectKey{Name: "to-1-37"}, p); err != nil {
		t.Fatal(err)
	}
	if p.Spec.Channel != fleetv1.ChannelTargetKubernetesVersion || p.Spec.TargetKubernetesVersion != "1.37" || !p.Spec.AutoStart ||
		!p.Spec.LongTermSupport || p.Spec.NodeImageSelection.Type != fleetv1.NodeImageConsistent || p.Spec.Disabled {
		t.Errorf("spec = %+v", p.Spec)
	}
	if _, _, err := runCLI(hub, "autoupgradeprofile", "create", "-n", "to-1-37", "--channel", "Rapid"); err == nil || !strings.Contains(err.Error(), "already exists") {
		t.Errorf("a second create: %v", err)
	}

	out, _, err = runCLI(hub, "autoupgradeprofile", "generate-update-run", "-n", "to-1-37")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "update run to-1-37-1-37-2 generated") || !strings.Contains(out, "b: skipped, it runs v1.38.0, past 1.37.2") {
		t.Errorf("generate-update-run printed:\n%s", out)
	}
	run := &fleetv1.UpdateRun{}
	if err := hub.Get(ctx, client.ObjectKey{Name: "to-1-37-1-37-2"}, run); err != nil {
		t.Fatal(err)
	}
	if run.Spec.State != fleetv1.RunStarted || run.Spec.ManagedClusterUpdate.Upgrade.KubernetesVersion != "v1.37.2" ||
		len(run.Spec.Skip) != 1 || run.Spec.Skip[0].Name != "b" || run.Labels[fleetv1.AutoUpgradeProfileLabel] != "to-1-37" {
		t.Errorf("run = %+v", run)
	}
	if err := hub.Get(ctx, client.ObjectKey{Name: "to-1-37"}, p); err != nil {
		t.Fatal(err)
	}
	if p.Annotations[fleetv1.GenerateRequestAnnotation] == "" {
		t.Error("generate-update-run did not ask the controller to record the run")
	}
	// The same target again: refused, saying why.
	if _, _, err := runCLI(hub, "autoupgradeprofile", "generate-update-run", "to-1-37"); err == nil || !strings.Contains(err.Error(), "exists already") {
		t.Errorf("a second generate-update-run: %v", err)
	}

	out, _, err = runCLI(hub, "autoupgradeprofile", "list")
	if err != nil || !strings.Contains(out, "TargetKubernetesVersion") || !strings.Contains(out, "1.37") {
		t.Errorf("list: %v\n%s", err, out)
	}
	out, _, err = runCLI(hub, "autoupgradeprofile", "show", "to-1-37", "-o", "json")
	if err != nil {
		t.Fatal(err)
	}
	var shown fleetv1.AutoUpgradeProfile
	if err := json.Unmarshal([]byte(out), &shown); err != nil || shown.Kind != "AutoUpgradeProfile" || shown.Spec.TargetKubernetesVersion != "1.37" {
		t.Errorf("show -o json: %v\n%s", err, out)
	}
	out, _, err = runCLI(hub, "autoupgradeprofile", "show", "to-1-37")
	if err != nil || !strings.Contains(out, "channel:              TargetKubernetesVersion 1.37") {
		t.Errorf("show: %v\n%s", err, out)
	}
	if _, _, err := runCLI(hub, "autoupgradeprofile", "delete", "to-1-37"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := runCLI(hub, "autoupgradeprofile", "show", "to-1-37"); err == nil || !strings.Contains(err.Error(), `auto-upgrade profile "to-1-37" not found`) {
		t.Errorf("show after delete: %v", err)
	}
}

func TestGenerateUpdateRunSaysWhyNothingIsDue(t *testing.T) {
	hub := fakeHub(execMember("a", "v1.37.2", "v1.37.2"),
		&fleetv1.AutoUpgradeProfile{ObjectMeta: metav1.ObjectMeta{Name: "rapid"}, Spec: fleetv1.AutoUpgradeProfileSpec{Channel: fleetv1.ChannelRapid, Disabled: true}})
	_, _, err := runCLI(hub, "autoupgradeprofile", "generate-update-run", "rapid")
	if err == nil || !strings.Contains(err.Error(), "no update run generated: up to date") {
		t.Errorf("generate-update-run: %v", err)
	}
}
