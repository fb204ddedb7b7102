package clusterapi

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	clusterv1 "sigs.k8s.io/cluster-api/api/core/v1beta2"
	"sigs.k8s.io/controller-runtime/pkg/client"

	fleetv1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/internal/testenv"
	"github.com/flotilla-dev/flotilla/internal/upgrade"
)

const (
	fromVersion = "v1.36.3"
	toVersion   = "v1.37.2"
	fromImage   = "capi-ubuntu-2404-v1.36.3"
	toImage     = "capi-ubuntu-2404-v1.37.2"
)

// TestUpgradeOnRealCRDs drives the provider against Cluster API's real
// CRDs on a real API server, with the test playing Cluster API's
// controllers: a Full upgrade with a node image, sent once however often
// Start is called (also by a new provider, as after a hub restart); a
// failure the topology controller reports; ControlPlaneOnly, which holds
// the workers; and the refusals.
func TestUpgradeOnRealCRDs(t *testing.T) {
	mgmt := startManagement(t)
	md := newModel(t, mgmt)
	ctx := context.Background()
	mgmt.class(t, "quick-start", []string{"v1.35.4", fromVersion, toVersion}, []string{fromImage, toImage})
	mgmt.class(t, "no-images", nil, nil)
	mgmt.workload(t, "alpha", "quick-start", fromVersion, fromImage, []byte("workload kubeconfig of alpha"))
	mgmt.workload(t, "beta", "quick-start", fromVersion, fromImage, nil)
	mgmt.workload(t, "gamma", "quick-start", fromVersion, fromImage, nil)
	mgmt.workload(t, "plain", "no-images", fromVersion, "", nil)
	p := md.provider()

	alpha := member("alpha", imageVariable)
	t.Run("available versions and images come from the ClusterClass", func(t *testing.T) {
		versions, err := p.AvailableVersions(ctx, alpha)
		if err != nil {
			t.Fatal(err)
		}
		if want := []string{fromVersion, toVersion}; !slices.Equal(versions, want) {
			t.Fatalf("available versions = %v, want %v (the class's kubernetesVersions from the Cluster's own)", versions, want)
		}
		images, err := p.NodeImages(ctx, alpha, toVersion)
		if err != nil {
			t.Fatal(err)
		}
		if want := []upgrade.NodeImage{{OS: NodeOS, Version: fromImage}, {OS: NodeOS, Version: toImage}}; !slices.Equal(images, want) {
			t.Fatalf("node images = %v, want %v", images, want)
		}
		if versions, err := p.AvailableVersions(ctx, member("plain", "")); err != nil || versions != nil {
			t.Fatalf("a class without kubernetesVersions offers %v, %v; want nil (any)", versions, err)
		}
		if _, err := p.NodeImages(ctx, member("plain", imageVariable), toVersion); err == nil || !strings.Contains(err.Error(), `defines no variable "imageName"`) {
			t.Fatalf("node images of a class without the variable: %v, want a refusal naming it", err)
		}
	})

	full := upgrade.Target{Type: fleetv1.UpgradeFull, KubernetesVersion: toVersion, NodeImage: toImage, NodeImages: []upgrade.NodeImage{{OS: NodeOS, Version: toImage}}}
	t.Run("a Full upgrade is requested once and followed to the end", func(t *testing.T) {
		if pr, err := p.Progress(ctx, "op", alpha, full); err != nil || pr.Phase != upgrade.PhaseNotStarted {
			t.Fatalf("progress before Start = %+v, %v; want NotStarted", pr, err)
		}
		md.Hold("alpha")
		for range 3 {
			if err := p.Start(ctx, "op", alpha, full); err != nil {
				t.Fatal(err)
			}
		}
		progressUntil(t, p, alpha, full, upgrade.PhaseRunning)
		// A restarted hub builds a new provider and calls Start again.
		restarted, err := md.factory(&alpha.Provider, upgrade.FactoryEnv{})
		if err != nil {
			t.Fatal(err)
		}
		if err := restarted.Start(ctx, "op", alpha, full); err != nil {
			t.Fatal(err)
		}
		if n := md.UpgradeRequests("alpha"); n != 1 {
			t.Fatalf("%d upgrade requests, want 1", n)
		}
		testenv.Eventually(t, 30*time.Second, "the view of the held upgrade", func() error {
			view, err := p.Describe(ctx, alpha)
			if err != nil {
				return err
			}
			if !strings.Contains(view.Operation, "ClusterUpgrading") || view.ControlPlaneVersion != fromVersion {
				return fmt.Errorf("view while held = %+v, want the control plane at %s and the topology's ClusterUpgrading", view, fromVersion)
			}
			return nil
		})
		md.Release("alpha")
		done := progressUntil(t, p, alpha, full, upgrade.PhaseSucceeded)
		if !strings.Contains(done.Message, toImage) {
			t.Fatalf("success message %q names no image", done.Message)
		}
		if v := md.Versions("alpha"); v.ControlPlane != toVersion || !slices.Equal(v.Kubelets, []string{toVersion}) || !slices.Equal(v.NodeImages, []string{toImage}) {
			t.Fatalf("versions after the upgrade = %+v", v)
		}
		if err := p.Start(ctx, "op", alpha, full); err != nil {
			t.Fatal(err)
		}
		if n := md.UpgradeRequests("alpha"); n != 1 {
			t.Fatalf("%d upgrade requests after Start on a member at the target, want 1", n)
		}
		view, err := p.Describe(ctx, alpha)
		if err != nil {
			t.Fatal(err)
		}
		want := upgrade.PoolView{Name: "md-0", KubernetesVersion: toVersion, NodeImageVersion: toImage, LatestNodeImageVersion: toImage, Count: 2, State: "Running"}
		if view.ControlPlaneVersion != toVersion || view.Operation != "" || len(view.Pools) != 1 || view.Pools[0] != want || view.State != "Provisioned" {
			t.Fatalf("view after the upgrade = %+v, want control plane %s and pool %+v", view, toVersion, want)
		}
	})

	t.Run("a failure the topology controller reports fails the member with its message", func(t *testing.T) {
		beta := member("beta", imageVariable)
		md.FailUpgrade("beta", "version skew: MachineDeployment md-0 would be two minors behind")
		if err := p.Start(ctx, "op", beta, full); err != nil {
			t.Fatal(err)
		}
		failed := progressUntil(t, p, beta, full, upgrade.PhaseFailed)
		if !strings.Contains(failed.Message, "version skew") || !strings.Contains(failed.Message, "ReconcileFailed") {
			t.Fatalf("failure message %q, want Cluster API's", failed.Message)
		}
	})

	t.Run("ControlPlaneOnly holds the workers and a Full upgrade releases them", func(t *testing.T) {
		gamma := member("gamma", imageVariable)
		cpOnly := upgrade.Target{Type: fleetv1.UpgradeControlPlaneOnly, KubernetesVersion: toVersion}
		if err := p.Start(ctx, "op", gamma, cpOnly); err != nil {
			t.Fatal(err)
		}
		progressUntil(t, p, gamma, cpOnly, upgrade.PhaseSucceeded)
		if v := md.Versions("gamma"); v.ControlPlane != toVersion || !slices.Equal(v.Kubelets, []string{fromVersion}) {
			t.Fatalf("versions after ControlPlaneOnly = %+v, want the control plane at %s and the workers at %s", v, toVersion, fromVersion)
		}
		c := &clusterv1.Cluster{}
		if err := mgmt.c.Get(ctx, client.ObjectKey{Namespace: testNamespace, Name: "gamma"}, c); err != nil {
			t.Fatal(err)
		}
		if got := c.Spec.Topology.Workers.MachineDeployments[0].Metadata.Annotations[clusterv1.ClusterTopologyHoldUpgradeSequenceAnnotation]; got != HeldByFlotilla {
			t.Fatalf("hold annotation = %q", got)
		}
		fullNoImage := upgrade.Target{Type: fleetv1.UpgradeFull, KubernetesVersion: toVersion}
		if err := p.Start(ctx, "op", gamma, fullNoImage); err != nil {
			t.Fatal(err)
		}
		progressUntil(t, p, gamma, fullNoImage, upgrade.PhaseSucceeded)
		if v := md.Versions("gamma"); !slices.Equal(v.Kubelets, []string{toVersion}) {
			t.Fatalf("workers after the Full upgrade = %v, want %s", v.Kubelets, toVersion)
		}
	})

	t.Run("NodeImageOnly sets the image variable and rolls the workers on their version", func(t *testing.T) {
		gamma := member("gamma", imageVariable)
		imageOnly := upgrade.Target{Type: fleetv1.UpgradeNodeImageOnly, NodeImage: toImage, NodeImages: []upgrade.NodeImage{{OS: NodeOS, Version: toImage}}}
		before := md.UpgradeRequests("gamma")
		if pr, err := p.Progress(ctx, "op", gamma, imageOnly); err != nil || pr.Phase != upgrade.PhaseNotStarted {
			t.Fatalf("progress before Start = %+v, %v; want NotStarted", pr, err)
		}
		for range 2 {
			if err := p.Start(ctx, "op", gamma, imageOnly); err != nil {
				t.Fatal(err)
			}
		}
		progressUntil(t, p, gamma, imageOnly, upgrade.PhaseSucceeded)
		if n := md.UpgradeRequests("gamma") - before; n != 1 {
			t.Fatalf("%d requests for the image upgrade, want 1", n)
		}
		if v := md.Versions("gamma"); !slices.Equal(v.NodeImages, []string{toImage}) || !slices.Equal(v.Kubelets, []string{toVersion}) {
			t.Fatalf("versions after NodeImageOnly = %+v, want image %s on %s", v, toImage, toVersion)
		}
	})

	t.Run("an image upgrade is refused where the class defines no image variable", func(t *testing.T) {
		imageOnly := upgrade.Target{Type: fleetv1.UpgradeNodeImageOnly, NodeImage: toImage}
		err := p.Start(ctx, "op", member("plain", imageVariable), imageOnly)
		if err == nil || !strings.Contains(err.Error(), `ClusterClass clusters/no-images defines no variable "imageName"`) {
			t.Fatalf("Start = %v, want a refusal naming the class and the variable", err)
		}
		if n := md.UpgradeRequests("plain"); n != 0 {
			t.Fatalf("%d requests for a refused upgrade", n)
		}
	})

	t.Run("the RBAC of docs/clusterapi.md is enough", func(t *testing.T) { testRBAC(t, mgmt, md) })

	t.Run("the workload kubeconfig is read from <cluster>-kubeconfig", func(t *testing.T) {
		data, err := p.FetchKubeconfig(ctx, alpha, false)
		if err != nil || string(data) != "workload kubeconfig of alpha" {
			t.Fatalf("FetchKubeconfig = %q, %v", data, err)
		}
		if _, err := p.FetchKubeconfig(ctx, member("beta", ""), false); err == nil || !strings.Contains(err.Error(), "clusters/beta-kubeconfig") {
			t.Fatalf("FetchKubeconfig without the Secret = %v, want it named", err)
		}
	})
}
