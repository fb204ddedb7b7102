package clusterapi

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	fleetv1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/internal/upgrade"
)

// TestLive reads a real Cluster on a real management cluster, when
// FLOTILLA_LIVE_CAPI=<management kubeconfig file>:<namespace>/<cluster> is
// set (FLOTILLA_LIVE_CAPI_IMAGE_VARIABLE names the class's image variable,
// if it has one). It only reads: it never calls Start.
func TestLive(t *testing.T) {
	spec := os.Getenv("FLOTILLA_LIVE_CAPI")
	if spec == "" {
		t.Skip("FLOTILLA_LIVE_CAPI is not set (<management kubeconfig>:<namespace>/<cluster>): the live Cluster API test reads a real Cluster; see docs/clusterapi.md")
	}
	i := strings.LastIndex(spec, ":")
	ns, name, ok := strings.Cut(spec[i+1:], "/")
	if i < 0 || !ok || ns == "" || name == "" {
		t.Fatalf("FLOTILLA_LIVE_CAPI=%q: want <management kubeconfig>:<namespace>/<cluster>", spec)
	}
	kubeconfig, err := os.ReadFile(spec[:i])
	if err != nil {
		t.Fatal(err)
	}
	p := &Provider{secrets: func(context.Context, fleetv1.SecretKeyReference) ([]byte, error) { return kubeconfig, nil }}
	m := upgrade.Member{Name: name, Provider: fleetv1.ProviderSpec{Type: fleetv1.ProviderClusterAPI, ClusterAPI: &fleetv1.ClusterAPIProvider{
		Namespace: ns, Name: name, NodeImageVariable: os.Getenv("FLOTILLA_LIVE_CAPI_IMAGE_VARIABLE"),
	}}}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	view, err := p.Describe(ctx, m)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("view: %+v", view)
	versions, err := p.AvailableVersions(ctx, m)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("available versions (nil: the class lists none): %v", versions)
	images, err := p.NodeImages(ctx, m, view.ControlPlaneVersion)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("node images: %v", images)
	// The upgrade to the version the Cluster asks for now: Succeeded on a
	// settled Cluster, Running while Cluster API rolls it.
	o, err := p.Progress(ctx, "live", m, upgrade.Target{Type: fleetv1.UpgradeFull, KubernetesVersion: view.ControlPlaneVersion})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("progress at the control plane's own version: %s %s", o.Phase, o.Message)
	if o.Phase == upgrade.PhaseNotStarted {
		t.Errorf("the Cluster does not ask for its own control plane's version %s: %s", view.ControlPlaneVersion, o.Message)
	}
	if _, err := p.FetchKubeconfig(ctx, m, false); err != nil {
		t.Errorf("the workload kubeconfig: %v", err)
	}
}
