package autoupgrade

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	fleetv1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/internal/controller/updaterun"
	"github.com/flotilla-dev/flotilla/internal/memberaccess"
	"github.com/flotilla-dev/flotilla/internal/testenv"
	"github.com/flotilla-dev/flotilla/internal/upgrade"
)

const waitFor = 30 * time.Second

// offered is what the members' Exec provider offers: the newest minor is
// 1.37, so Stable is 1.36 and its newest patch v1.36.5.
var offered = []string{"v1.36.3", "v1.36.5", "v1.37.0", "v1.37.2"}

func TestProfilesGenerateRuns(t *testing.T) {
	env := testenv.Start(t, testenv.Options{CRDs: testenv.AllCRDs})
	c := env.Hub.Client
	ctx := t.Context()
	for name, version := range map[string]string{"a": "v1.36.3", "b": "v1.36.1"} {
		m := &fleetv1.MemberCluster{
			ObjectMeta: metav1.ObjectMeta{Name: name},
			Spec: fleetv1.MemberClusterSpec{
				Access: fleetv1.MemberAccess{Mode: fleetv1.AccessAgent},
				Provider: &fleetv1.ProviderSpec{Type: fleetv1.ProviderExec, Exec: &fleetv1.ExecProvider{
					Command: []string{"false"}, AvailableVersions: offered,
				}},
			},
		}
		if err := c.Create(ctx, m); err != nil {
			t.Fatal(err)
		}
		m.Status.KubernetesVersion = version
		if err := c.Status().Update(ctx, m); err != nil {
			t.Fatal(err)
		}
	}
	stateDir := t.TempDir()
	providers := upgrade.NewProviders(stateDir, map[fleetv1.ProviderType]upgrade.Factory{fleetv1.ProviderExec: upgrade.Exec})
	env.Hub.RunManager(t, func(mgr ctrl.Manager) error {
		if err := (&Reconciler{Client: mgr.GetClient(), Recorder: mgr.GetEventRecorder("autoupgrade-test"), Providers: providers}).SetupWithManager(mgr); err != nil {
			return err
		}
		return (&updaterun.Reconciler{
			Client: mgr.GetClient(), Recorder: mgr.GetEventRecorder("updaterun-test"),
			Members: &memberaccess.Clients{Hub: mgr.GetClient()}, Providers: providers, WorkDir: t.TempDir(),
		}).SetupWithManager(mgr)
	})

	create := func(name string, spec fleetv1.AutoUpgradeProfileSpec) {
		t.Helper()
		if err := c.Create(ctx, &fleetv1.AutoUpgradeProfile{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: spec}); err != nil {
			t.Fatal(err)
		}
	}
	create("tkv", fleetv1.AutoUpgradeProfileSpec{Channel: fleetv1.ChannelTargetKubernetesVersion, TargetKubernetesVersion: "1.37"})
	create("stable", fleetv1.AutoUpgradeProfileSpec{Channel: fleetv1.ChannelStable, LongTermSupport: true,
		NodeImageSelection: &fleetv1.NodeImageSelection{Type: fleetv1.NodeImageConsistent}})
	create("off", fleetv1.AutoUpgradeProfileSpec{Channel: fleetv1.ChannelRapid, Disabled: true})
	create("auto", fleetv1.AutoUpgradeProfileSpec{Channel: fleetv1.ChannelRapid, AutoStart: true})

	profile := func(name string) *fleetv1.AutoUpgradeProfile {
		t.Helper()
		p := &fleetv1.AutoUpgradeProfile{}
		if err := c.Get(ctx, client.ObjectKey{Name: name}, p); err != nil {
			t.Fatal(err)
		}
		return p
	}
	runsOf := func(name string) []fleetv1.UpdateRun {
		t.Helper()
		runs := &fleetv1.UpdateRunList{}
		if err := c.List(ctx, runs, client.MatchingLabels{fleetv1.AutoUpgradeProfileLabel: name}); err != nil {
			t.Fatal(err)
		}
		return runs.Items
	}
	generated := func(name, run string) *fleetv1.UpdateRun {
		t.Helper()
		testenv.Eventually(t, waitFor, name+" generates "+run, func() error {
			p := profile(name)
			if p.Status.GeneratedUpdateRun != run || p.Status.LastTriggerStatus != fleetv1.TriggerSucceeded {
				return fmt.Errorf("status %+v", p.Status)
			}
			return nil
		})
		r := &fleetv1.UpdateRun{}
		if err := c.Get(ctx, client.ObjectKey{Name: run}, r); err != nil {
			t.Fatal(err)
		}
		if len(r.OwnerReferences) != 1 || r.OwnerReferences[0].Name != name || r.OwnerReferences[0].UID != profile(name).UID {
			t.Errorf("run %s is owned by %+v, want profile %s", run, r.OwnerReferences, name)
		}
		return r
	}

	t.Run("TargetKubernetesVersion generates a run to the newest patch of the minor, waiting NotStarted", func(t *testing.T) {
		r := generated("tkv", "tkv-1-37-2")
		up := r.Spec.ManagedClusterUpdate.Upgrade
		if up.Type != fleetv1.UpgradeFull || up.KubernetesVersion != "v1.37.2" || r.Spec.State != fleetv1.RunNotStarted || r.Spec.Strategy == nil {
			t.Errorf("run spec = %+v", r.Spec)
		}
		p := profile("tkv")
		if p.Status.LastTriggeredAt == nil || strings.Join(p.Status.LastTriggerUpgradeVersions, ",") != "v1.37.2" || p.Status.LastTriggerError != "" {
			t.Errorf("status = %+v", p.Status)
		}
		if cond := meta.FindStatusCondition(p.Status.Conditions, fleetv1.ProfileReady); cond == nil || cond.Status != metav1.ConditionTrue {
			t.Errorf("Ready = %+v", cond)
		}
	})

	t.Run("Stable picks the newest patch of N-1", func(t *testing.T) {
		r := generated("stable", "stable-1-36-5")
		if r.Spec.ManagedClusterUpdate.Upgrade.KubernetesVersion != "v1.36.5" || r.Spec.ManagedClusterUpdate.NodeImageSelection.Type != fleetv1.NodeImageConsistent {
			t.Errorf("managedClusterUpdate = %+v", r.Spec.ManagedClusterUpdate)
		}
		cond := meta.FindStatusCondition(profile("stable").Status.Conditions, fleetv1.ProfileLongTermSupport)
		if cond == nil || cond.Status != metav1.ConditionFalse || !strings.Contains(cond.Message, "long-term-support") {
			t.Errorf("LongTermSupport = %+v: a profile asking for LTS must say it is not honoured", cond)
		}
	})

	t.Run("autoStart starts the run", func(t *testing.T) {
		r := generated("auto", "auto-1-37-2")
		if r.Spec.State != fleetv1.RunStarted {
			t.Errorf("state = %s, want Started", r.Spec.State)
		}
		testenv.Eventually(t, waitFor, "the update-run controller starts auto-1-37-2", func() error {
			if err := c.Get(ctx, client.ObjectKey{Name: r.Name}, r); err != nil {
				return err
			}
			if r.Status.StartTime == nil {
				return fmt.Errorf("run state %q, not started", r.Status.State)
			}
			return nil
		})
	})

	t.Run("a disabled profile generates nothing", func(t *testing.T) {
		testenv.Eventually(t, waitFor, "off is evaluated", func() error {
			p := profile("off")
			if cond := meta.FindStatusCondition(p.Status.Conditions, fleetv1.ProfileReady); cond == nil || cond.Reason != "Disabled" {
				return fmt.Errorf("status %+v", p.Status)
			}
			return nil
		})
		if p := profile("off"); p.Status.LastTriggerStatus != fleetv1.TriggerSkipped || p.Status.GeneratedUpdateRun != "" {
			t.Errorf("status = %+v", p.Status)
		}
		if runs := runsOf("off"); len(runs) != 0 {
			t.Errorf("a disabled profile generated %d runs", len(runs))
		}
	})

	t.Run("evaluating again does not generate a second run for the same target", func(t *testing.T) {
		p := profile("tkv")
		p.Annotations = map[string]string{fleetv1.GenerateRequestAnnotation: "again"}
		if err := c.Update(ctx, p); err != nil {
			t.Fatal(err)
		}
		testenv.Eventually(t, waitFor, "tkv acts on the request", func() error {
			if got := profile("tkv").Status.LastGenerateRequest; got != "again" {
				return fmt.Errorf("lastGenerateRequest %q", got)
			}
			return nil
		})
		p = profile("tkv")
		if runs := runsOf("tkv"); len(runs) != 1 {
			t.Errorf("tkv has %d runs, want 1", len(runs))
		}
		cond := meta.FindStatusCondition(p.Status.Conditions, fleetv1.ProfileReady)
		if p.Status.LastTriggerStatus != fleetv1.TriggerSucceeded || p.Status.GeneratedUpdateRun != "tkv-1-37-2" || cond == nil || !strings.Contains(cond.Message, "exists already") {
			t.Errorf("status = %+v", p.Status)
		}
	})

	t.Run("a generated run is deleted with its profile's owner reference", func(t *testing.T) {
		r := &fleetv1.UpdateRun{}
		if err := c.Get(ctx, client.ObjectKey{Name: "stable-1-36-5"}, r); err != nil {
			t.Fatal(err)
		}
		if r.OwnerReferences[0].Kind != "AutoUpgradeProfile" || r.OwnerReferences[0].APIVersion != fleetv1.GroupVersion.String() {
			t.Errorf("owner reference = %+v", r.OwnerReferences[0])
		}
	})
}

func TestProfileValidation(t *testing.T) {
	env := testenv.Start(t, testenv.Options{CRDs: testenv.CRDsNamed("autoupgradeprofiles.fleet.flotilla.dev")})
	for _, tt := range []struct {
		name    string
		spec    fleetv1.AutoUpgradeProfileSpec
		message string
	}{
		{"tkv-without-version", fleetv1.AutoUpgradeProfileSpec{Channel: fleetv1.ChannelTargetKubernetesVersion}, "targetKubernetesVersion is required"},
		{"rapid-with-version", fleetv1.AutoUpgradeProfileSpec{Channel: fleetv1.ChannelRapid, TargetKubernetesVersion: "1.37"}, "not allowed with any other channel"},
		{"full-version", fleetv1.AutoUpgradeProfileSpec{Channel: fleetv1.ChannelTargetKubernetesVersion, TargetKubernetesVersion: "1.37.2"}, "targetKubernetesVersion"},
		{"custom-images", fleetv1.AutoUpgradeProfileSpec{Channel: fleetv1.ChannelNodeImage, NodeImageSelection: &fleetv1.NodeImageSelection{
			Type: fleetv1.NodeImageCustom, CustomNodeImageVersions: []fleetv1.NodeImageVersion{{Version: "x"}}}}, "Latest or Consistent"},
		{"unknown-channel", fleetv1.AutoUpgradeProfileSpec{Channel: "Nightly"}, "channel"},
		{strings.Repeat("n", 41), fleetv1.AutoUpgradeProfileSpec{Channel: fleetv1.ChannelRapid}, "at most 40 characters"},
	} {
		err := env.Hub.Client.Create(t.Context(), &fleetv1.AutoUpgradeProfile{ObjectMeta: metav1.ObjectMeta{Name: tt.name}, Spec: tt.spec})
		if err == nil || !strings.Contains(err.Error(), tt.message) {
			t.Errorf("%s: err = %v, want it to say %q", tt.name, err, tt.message)
		}
	}
	ok := &fleetv1.AutoUpgradeProfile{ObjectMeta: metav1.ObjectMeta{Name: "ok"}, Spec: fleetv1.AutoUpgradeProfileSpec{
		Channel: fleetv1.ChannelTargetKubernetesVersion, TargetKubernetesVersion: "1.37"}}
	if err := env.Hub.Client.Create(t.Context(), ok); err != nil {
		t.Errorf("a valid profile is refused: %v", err)
	}
}

// TestAProfileMovesTheFleetOneMinorAtATime: members two minors behind a
// TargetKubernetesVersion profile get a run to the next minor first; once
// that run has finished and the members report the new minor, the profile
// generates the run to the target.
func TestAProfileMovesTheFleetOneMinorAtATime(t *testing.T) {
	env := testenv.Start(t, testenv.Options{CRDs: testenv.AllCRDs})
	c := env.Hub.Client
	ctx := t.Context()
	catalogue := []string{"v1.35.4", "v1.36.2", "v1.36.5", "v1.37.1"}
	setVersion := func(m *fleetv1.MemberCluster, v string) {
		t.Helper()
		m.Status.KubernetesVersion = v
		if err := c.Status().Update(ctx, m); err != nil {
			t.Fatal(err)
		}
	}
	m := &fleetv1.MemberCluster{
		ObjectMeta: metav1.ObjectMeta{Name: "old"},
		Spec: fleetv1.MemberClusterSpec{Access: fleetv1.MemberAccess{Mode: fleetv1.AccessAgent},
			Provider: &fleetv1.ProviderSpec{Type: fleetv1.ProviderExec, Exec: &fleetv1.ExecProvider{Command: []string{"false"}, AvailableVersions: catalogue}}},
	}
	if err := c.Create(ctx, m); err != nil {
		t.Fatal(err)
	}
	setVersion(m, "v1.35.4")
	providers := upgrade.NewProviders(t.TempDir(), map[fleetv1.ProviderType]upgrade.Factory{fleetv1.ProviderExec: upgrade.Exec})
	env.Hub.RunManager(t, func(mgr ctrl.Manager) error {
		return (&Reconciler{Client: mgr.GetClient(), Recorder: mgr.GetEventRecorder("autoupgrade-test"), Providers: providers}).SetupWithManager(mgr)
	})
	if err := c.Create(ctx, &fleetv1.AutoUpgradeProfile{ObjectMeta: metav1.ObjectMeta{Name: "hop"},
		Spec: fleetv1.AutoUpgradeProfileSpec{Channel: fleetv1.ChannelTargetKubernetesVersion, TargetKubernetesVersion: "1.37"}}); err != nil {
		t.Fatal(err)
	}
	waitRun := func(name string) *fleetv1.UpdateRun {
		t.Helper()
		r := &fleetv1.UpdateRun{}
		testenv.Eventually(t, waitFor, "run "+name, func() error { return c.Get(ctx, client.ObjectKey{Name: name}, r) })
		return r
	}
	first := waitRun("hop-1-36-5")
	testenv.Eventually(t, waitFor, "the profile says why it stopped at 1.36", func() error {
		cond := meta.FindStatusCondition(profileNamed(t, c, "hop").Status.Conditions, fleetv1.ProfileReady)
		if cond == nil || !strings.Contains(cond.Message, "old on 1.35, more than one minor behind 1.37: this run moves them to 1.36 first") {
			return fmt.Errorf("Ready = %+v", cond)
		}
		return nil
	})

	// The first run finishes (as the update-run controller would record it)
	// and the member reports 1.36.5: the next run goes to 1.37.
	first.Status.State = fleetv1.StateCompleted
	if err := c.Status().Update(ctx, first); err != nil {
		t.Fatal(err)
	}
	if err := c.Get(ctx, client.ObjectKey{Name: "old"}, m); err != nil {
		t.Fatal(err)
	}
	setVersion(m, "v1.36.5")
	second := waitRun("hop-1-37-1")
	if second.Spec.ManagedClusterUpdate.Upgrade.KubernetesVersion != "v1.37.1" {
		t.Errorf("second run = %+v", second.Spec.ManagedClusterUpdate)
	}
	if p := profileNamed(t, c, "hop"); p.Status.GeneratedUpdateRun != "hop-1-37-1" || strings.Join(p.Status.LastTriggerUpgradeVersions, ",") != "v1.37.1" {
		t.Errorf("status = %+v", p.Status)
	}
}

func profileNamed(t *testing.T, c client.Client, name string) *fleetv1.AutoUpgradeProfile {
	t.Helper()
	p := &fleetv1.AutoUpgradeProfile{}
	if err := c.Get(t.Context(), client.ObjectKey{Name: name}, p); err != nil {
		t.Fatal(err)
	}
	return p
}
