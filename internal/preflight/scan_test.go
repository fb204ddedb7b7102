package preflight_test

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"

	"github.com/flotilla-dev/flotilla/internal/preflight"
	"github.com/flotilla-dev/flotilla/internal/testenv"
)

// BetaAPI is a beta API that Kubernetes 1.36 serves when asked to and
// 1.37 removes (per the lifecycle data).
const BetaAPI = "networking.k8s.io/v1beta1=true"

// cidrManifest is a ServiceCIDR written through the beta API.
const cidrManifest = `apiVersion: networking.k8s.io/v1beta1
kind: ServiceCIDR
metadata:
  name: %s
spec:
  cidrs: [%q]
`

// UsesOfTheBetaAPI sets up a 1.36 member that uses the beta API the way
// clusters do: an object applied with kubectl through it (and read back
// through it), and a Helm release whose chart uses it.
func UsesOfTheBetaAPI(t *testing.T, m *testenv.Cluster) {
	t.Helper()
	kubectl := testenv.CachedTool(t, "kubectl", "KUBECTL_VERSION")
	helm := testenv.CachedTool(t, "helm", "HELM_VERSION")
	kubeconfig := m.KubeconfigPath()
	run := func(stdin []byte, name string, args ...string) {
		t.Helper()
		cmd := exec.Command(name, args...)
		cmd.Stdin = bytes.NewReader(stdin)
		cmd.Env = append(os.Environ(), "HOME="+t.TempDir())
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("%s %v: %v\n%s", filepath.Base(name), args, err, out)
		}
	}
	run([]byte(fmt.Sprintf(cidrManifest, "applied-cidr", "10.250.1.0/24")), kubectl, "--kubeconfig", kubeconfig, "apply", "-f", "-")
	run(nil, kubectl, "--kubeconfig", kubeconfig, "get", "servicecidrs.v1beta1.networking.k8s.io", "applied-cidr")

	chart := t.TempDir()
	write := func(name, content string) {
		t.Helper()
		if err := os.MkdirAll(filepath.Dir(filepath.Join(chart, name)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(chart, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("Chart.yaml", "apiVersion: v2\nname: net\nversion: 0.1.0\n")
	write("templates/cidr.yaml", fmt.Sprintf(cidrManifest, "chart-cidr", "10.250.2.0/24"))
	run(nil, helm, "--kubeconfig", kubeconfig, "install", "net", chart, "--namespace", "default", "--wait=false")
}

func TestScanFindsRequestsAppliedObjectsAndHelmReleasesOfARemovedAPI(t *testing.T) {
	env := testenv.Start(t, testenv.Options{Members: []string{"old"}, MemberVersion: "1.36", MemberRuntimeConfig: BetaAPI})
	m := env.Member("old")
	UsesOfTheBetaAPI(t, m)

	rep, err := preflight.Scan(t.Context(), m.Config, "v1.36.3", "v1.37.2")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, f := range rep.Findings {
		got = append(got, string(f.Source)+" "+f.Kind+" "+f.Object()+" "+f.APIVersion)
		if f.RemovedIn != "1.37" || f.Replacement != "networking.k8s.io/v1" {
			t.Errorf("%s: removed in %q, replacement %q", f, f.RemovedIn, f.Replacement)
		}
	}
	for _, want := range []string{
		"HelmRelease ServiceCIDR chart-cidr networking.k8s.io/v1beta1",
		"LastApplied ServiceCIDR applied-cidr networking.k8s.io/v1beta1",
		"Requests servicecidrs  networking.k8s.io/v1beta1",
	} {
		if !slices.Contains(got, want) {
			t.Errorf("no finding %q in %q", want, got)
		}
	}

	same, err := preflight.Scan(t.Context(), m.Config, "v1.36.3", "v1.36.4")
	if err != nil {
		t.Fatal(err)
	}
	if len(same.Findings) != 0 || len(same.Removed) != 0 {
		t.Errorf("a patch upgrade found %v", same.Findings)
	}
}
