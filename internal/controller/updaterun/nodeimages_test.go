package updaterun

import (
	"context"
	"fmt"
	"path/filepath"
	"reflect"
	"sync"
	"testing"

	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	fleetv1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/internal/memberaccess"
	"github.com/flotilla-dev/flotilla/internal/testenv"
	"github.com/flotilla-dev/flotilla/internal/upgrade"
)

// catalogue is a provider's list of node images that a test can extend
// while a run is in flight, as a cloud publishes a new image.
type catalogue struct {
	mu     sync.Mutex
	images []string
}

func (c *catalogue) set(images ...string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.images = images
}

func (c *catalogue) offered(upgrade.Member, string) []upgrade.NodeImage {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []upgrade.NodeImage
	for _, img := range c.images {
		out = append(out, upgrade.NodeImage{OS: "linux", Version: img})
	}
	return out
}

// startControllerWithImages runs the controller with an Exec provider that
// offers the catalogue's images; its command fails, so a member that would
// be upgraded fails, and one at the target is skipped.
func (h *testHub) startControllerWithImages(t *testing.T, stateDir string, images *catalogue) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	execWithImages := func(spec *fleetv1.ProviderSpec, env upgrade.FactoryEnv) (upgrade.Provider, error) {
		p, err := upgrade.Exec(spec, env)
		if err != nil {
			return nil, err
		}
		p.(*upgrade.CommandProvider).Images = images.offered
		return p, nil
	}
	h.cluster.RunManagerUntil(t, ctx, func(mgr ctrl.Manager) error {
		return (&Reconciler{
			Client:    mgr.GetClient(),
			Recorder:  mgr.GetEventRecorder("updaterun-test"),
			Members:   &memberaccess.Clients{Hub: mgr.GetClient()},
			Providers: upgrade.NewProviders(stateDir, map[fleetv1.ProviderType]upgrade.Factory{fleetv1.ProviderExec: execWithImages}),
			WorkDir:   filepath.Join(stateDir, "checks"),
		}).SetupWithManager(mgr)
	})
	return cancel
}

// memberOnImage is a member whose status says its nodes run image on v1.37.2.
func (h *testHub) memberOnImage(t *testing.T, name, group, image string) {
	t.Helper()
	h.memberAt(t, name, group, "v1.37.2")
	m := &fleetv1.MemberCluster{}
	if err := h.c.Get(t.Context(), client.ObjectKey{Name: name}, m); err != nil {
		t.Fatal(err)
	}
	images := []fleetv1.VersionCount{{Version: image, Count: 2}}
	m.Status.Nodes = fleetv1.NodeSummary{Total: 2, Ready: 2, NodeImages: images,
		KubeletVersions: []fleetv1.VersionCount{{Version: "v1.37.2", Count: 2}},
		Pools:           []fleetv1.NodePoolSummary{{Name: "default", OS: "linux", Total: 2, NodeImages: images}}}
	if err := h.c.Status().Update(t.Context(), m); err != nil {
		t.Fatal(err)
	}
}

// A Consistent run chooses its images in the step that starts it and keeps
// them: an image published while it waits at a gate, and a hub restart,
// change nothing, so members on the chosen image are skipped, not rolled to
// the newer one.
func TestAConsistentRunKeepsTheImagesItChoseWhenItStarted(t *testing.T) {
	h := startBareHub(t)
	images := &catalogue{}
	images.set("img-1", "img-2")
	stateDir := t.TempDir()
	stop := h.startControllerWithImages(t, stateDir, images)
	h.memberOnImage(t, "prod-1", "prod", "img-2")
	h.memberOnImage(t, "prod-2", "prod", "img-2")

	run := gatedRun("images", "")
	run.Spec.ManagedClusterUpdate = fleetv1.ManagedClusterUpdate{
		Upgrade:            fleetv1.UpgradeSpec{Type: fleetv1.UpgradeNodeImageOnly},
		NodeImageSelection: &fleetv1.NodeImageSelection{Type: fleetv1.NodeImageConsistent},
	}
	if err := h.c.Create(t.Context(), run); err != nil {
		t.Fatal(err)
	}
	gate := h.pendingGate(t, "images")
	want := []fleetv1.ChosenNodeImage{{OS: "linux", KubernetesVersion: "v1.37.2", Version: "img-2"}}
	if got := h.run(t, "images").Status.NodeImages; !reflect.DeepEqual(got, want) {
		t.Fatalf("status.nodeImages = %+v, want %+v", got, want)
	}

	images.set("img-1", "img-2", "img-3")
	stop()
	h.startControllerWithImages(t, stateDir, images)
	patch := client.MergeFrom(gate.DeepCopy())
	gate.Spec.State = fleetv1.GateCompleted
	if err := h.c.Patch(t.Context(), gate, patch); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, waitFor, "the run completes", func() error {
		r := h.run(t, "images")
		if r.Status.State != fleetv1.StateCompleted {
			return fmt.Errorf("state %s: %s", r.Status.State, r.Status.Message)
		}
		return nil
	})
	r := h.run(t, "images")
	if !reflect.DeepEqual(r.Status.NodeImages, want) {
		t.Errorf("status.nodeImages changed to %+v, want %+v", r.Status.NodeImages, want)
	}
	for _, m := range []string{"prod-1", "prod-2"} {
		if p := h.memberState(t, "images", m); p.State != fleetv1.StateSkipped {
			t.Errorf("%s: %s %q, want Skipped: it runs the image chosen at the start", m, p.State, p.Message)
		}
	}
}
