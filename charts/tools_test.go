// Package charts_test tests the Helm charts: lint, rendering with default
// and non-default values, server-side dry run of what they render against a
// real kube-apiserver, the operator roles' permission matrix, and the hub
// and the agent running under their charts' ServiceAccounts.
package charts_test

import (
	"bytes"
	"errors"
	"io"
	"os/exec"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"

	"github.com/flotilla-dev/flotilla/internal/testenv"
)

const (
	hubChart   = "flotilla-hub"
	agentChart = "flotilla-agent"
	fleetNS    = "flotilla-system"
)

func helmBin(t *testing.T) string    { return testenv.CachedTool(t, "helm", "HELM_VERSION") }
func kubectlBin(t *testing.T) string { return testenv.CachedTool(t, "kubectl", "KUBECTL_VERSION") }

// run runs a command and returns its stdout; stderr goes into the error.
func run(t *testing.T, stdin []byte, name string, args ...string) (string, error) {
	t.Helper()
	return runCommand(stdin, name, args...)
}

func runCommand(stdin []byte, name string, args ...string) (string, error) {
	cmd := exec.Command(name, args...)
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.String(), errors.New(strings.TrimSpace(stderr.String()) + ": " + err.Error())
	}
	return stdout.String(), nil
}

// render runs helm template for a chart in flotilla-system, the release
// named as the chart.
func render(t *testing.T, chart string, args ...string) (string, error) {
	t.Helper()
	return renderRelease(t, chart, chart, args...)
}

func renderRelease(t *testing.T, release, chart string, args ...string) (string, error) {
	t.Helper()
	full := append([]string{"template", release, chart, "--namespace", fleetNS}, args...)
	return run(t, nil, helmBin(t), full...)
}

func mustRender(t *testing.T, chart string, args ...string) []*unstructured.Unstructured {
	t.Helper()
	out, err := render(t, chart, args...)
	if err != nil {
		t.Fatalf("helm template %s %v: %v", chart, args, err)
	}
	return decode(t, out)
}

// decode splits rendered YAML into objects.
func decode(t *testing.T, manifests string) []*unstructured.Unstructured {
	t.Helper()
	dec := utilyaml.NewYAMLOrJSONDecoder(strings.NewReader(manifests), 4096)
	var objs []*unstructured.Unstructured
	for {
		u := &unstructured.Unstructured{}
		if err := dec.Decode(&u.Object); err != nil {
			if errors.Is(err, io.EOF) {
				return objs
			}
			t.Fatalf("decoding rendered manifests: %v", err)
		}
		if len(u.Object) > 0 {
			objs = append(objs, u)
		}
	}
}

// find returns the one object of kind and name (and fails without it).
func find(t *testing.T, objs []*unstructured.Unstructured, kind, name string) *unstructured.Unstructured {
	t.Helper()
	if o := lookup(objs, kind, name); o != nil {
		return o
	}
	t.Fatalf("no %s %s rendered; got %v", kind, name, names(objs))
	return nil
}

func lookup(objs []*unstructured.Unstructured, kind, name string) *unstructured.Unstructured {
	for _, o := range objs {
		if o.GetKind() == kind && o.GetName() == name {
			return o
		}
	}
	return nil
}

func names(objs []*unstructured.Unstructured) []string {
	out := make([]string, 0, len(objs))
	for _, o := range objs {
		out = append(out, o.GetKind()+"/"+o.GetName())
	}
	return out
}
