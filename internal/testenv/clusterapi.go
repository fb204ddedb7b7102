package testenv

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"sigs.k8s.io/yaml"
)

// capiModule is the module whose API types this package builds with.
const capiModule = "sigs.k8s.io/cluster-api/api"

// capiCRDFiles are the CRDs the provider touches, by path in the
// sigs.k8s.io/cluster-api module.
var capiCRDFiles = []string{
	"core/config/crd/bases/cluster.x-k8s.io_clusters.yaml",
	"core/config/crd/bases/cluster.x-k8s.io_clusterclasses.yaml",
	"core/config/crd/bases/cluster.x-k8s.io_machinedeployments.yaml",
	"core/config/crd/bases/cluster.x-k8s.io_machinepools.yaml",
	"controlplane/kubeadm/config/crd/bases/controlplane.cluster.x-k8s.io_kubeadmcontrolplanes.yaml",
}

// ClusterAPICRDs are Cluster API's own CRDs of the Cluster API provider's
// tests (Cluster, ClusterClass, MachineDeployment, MachinePool,
// KubeadmControlPlane): the YAMLs of config/crd/bases in the
// sigs.k8s.io/cluster-api module of the release whose API module
// (sigs.k8s.io/cluster-api/api) go.mod names. The go command fetches that
// module into the module cache when it is not there (CI has the Go module
// proxy); nothing is copied into this repository. It runs in a test's
// package directory, inside this module.
func ClusterAPICRDs(t testing.TB) []*apiextensionsv1.CustomResourceDefinition {
	t.Helper()
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("the go command fetches Cluster API's CRDs: %v", err)
	}
	// The version go.mod builds this package with.
	out, err := exec.Command(goBin, "list", "-m", "-f", "{{.Version}}", capiModule).Output()
	if err != nil {
		t.Fatalf("go list -m %s: %v", capiModule, err)
	}
	version := strings.TrimSpace(string(out))
	// Outside this module, so that go.mod and go.sum stay as they are.
	cmd := exec.Command(goBin, "mod", "download", "-json", "sigs.k8s.io/cluster-api@"+version)
	cmd.Dir = t.TempDir()
	out, err = cmd.Output()
	if err != nil {
		t.Fatalf("go mod download sigs.k8s.io/cluster-api@%s: %v\n%s", version, err, out)
	}
	var mod struct{ Dir, Error string }
	if err := json.Unmarshal(out, &mod); err != nil || mod.Dir == "" {
		t.Fatalf("go mod download sigs.k8s.io/cluster-api@%s: %s %v", version, mod.Error, err)
	}
	var crds []*apiextensionsv1.CustomResourceDefinition
	for _, f := range capiCRDFiles {
		data, err := os.ReadFile(filepath.Join(mod.Dir, f))
		if err != nil {
			t.Fatal(err)
		}
		crd := &apiextensionsv1.CustomResourceDefinition{}
		if err := yaml.Unmarshal(data, crd); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		crds = append(crds, crd)
	}
	return crds
}
