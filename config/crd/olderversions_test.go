package crd_test

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"github.com/flotilla-dev/flotilla/internal/testenv"
)

// Manifests written at the placement API's older versions, as KubeFleet's
// examples and docs write them (v1beta1; v1alpha1 for overrides), apply
// with kubectl unchanged and are stored with nothing pruned: read back
// through v1, the storage version, every field they set is there.
func TestManifestsAtOlderPlacementVersionsApplyUnchanged(t *testing.T) {
	env := hub.Env(t)
	kubectl := testenv.CachedTool(t, "kubectl", "KUBECTL_VERSION")
	files, err := filepath.Glob("testdata/olderversions/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no manifests: %v", err)
	}
	for _, file := range files {
		t.Run(filepath.Base(file), func(t *testing.T) {
			data, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			var written map[string]any
			if err := yaml.Unmarshal(data, &written); err != nil {
				t.Fatal(err)
			}
			cmd := exec.Command(kubectl, "--kubeconfig", env.Hub.KubeconfigPath(), "apply", "-f", file)
			cmd.Env = append(os.Environ(), "HOME="+t.TempDir())
			var out bytes.Buffer
			cmd.Stdout, cmd.Stderr = &out, &out
			if err := cmd.Run(); err != nil {
				t.Fatalf("kubectl apply -f %s: %v\n%s", file, err, out.String())
			}
			obj := &unstructured.Unstructured{Object: written}
			gvk := obj.GroupVersionKind()
			for _, version := range []string{"v1", gvk.Version} {
				stored := &unstructured.Unstructured{}
				stored.SetGroupVersionKind(schema.GroupVersionKind{Group: gvk.Group, Version: version, Kind: gvk.Kind})
				if err := hubClient(t).Get(t.Context(), client.ObjectKey{Namespace: obj.GetNamespace(), Name: obj.GetName()}, stored); err != nil {
					t.Fatalf("reading it back through %s: %v", version, err)
				}
				if missing := notIn(written["spec"], stored.Object["spec"], "spec"); len(missing) > 0 {
					t.Errorf("read back through %s, the stored object lacks %s", version, strings.Join(missing, ", "))
				}
			}
		})
	}
}

// notIn lists the paths of want that got does not hold with the same value.
func notIn(want, got any, path string) []string {
	switch w := want.(type) {
	case map[string]any:
		g, ok := got.(map[string]any)
		if !ok {
			return []string{path}
		}
		var out []string
		for k, v := range w {
			out = append(out, notIn(v, g[k], path+"."+k)...)
		}
		return out
	case []any:
		g, ok := got.([]any)
		if !ok || len(g) != len(w) {
			return []string{path}
		}
		var out []string
		for i := range w {
			out = append(out, notIn(w[i], g[i], fmt.Sprintf("%s[%d]", path, i))...)
		}
		return out
	default:
		// Numbers decode as float64 from YAML and int64 from the API.
		if fmt.Sprint(want) != fmt.Sprint(got) || (got == nil) != (want == nil) {
			return []string{path}
		}
		return nil
	}
}
