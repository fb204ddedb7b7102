package cli

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"

	"github.com/spf13/cobra"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/restmapper"

	"github.com/flotilla-dev/flotilla/internal/hubaccess"
)

// applyFieldManager owns what operators apply to the hub through flotilla.
const applyFieldManager = "flotilla-cli"

func newApplyCommand(g *globalOptions) *cobra.Command {
	var files []string
	cmd := &cobra.Command{
		Use:   "apply -f FILE [-f FILE...]",
		Short: "Apply manifests to the hub: placements, overrides, and the resources they place",
		Long: `Apply Kubernetes manifests (YAML or JSON, several documents per file, '-' for
standard input) to the hub with server-side apply. Use it for
ClusterResourcePlacements, overrides and the hub resources they select, as
'kubectl apply' would. Every object is first checked by the hub with a dry
run: if one is refused, nothing is applied.`,
		Example: `  flotilla apply -f examples/placement/fintech.yaml`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if len(files) == 0 {
				return fmt.Errorf("-f is required")
			}
			var objs []*unstructured.Unstructured
			for _, f := range files {
				read, err := readManifests(f, cmd.InOrStdin())
				if err != nil {
					return err
				}
				objs = append(objs, read...)
			}
			if len(objs) == 0 {
				return fmt.Errorf("no objects in %v", files)
			}
			// Namespaces and CRDs first, so that what lives in them applies.
			sort.SliceStable(objs, func(i, j int) bool { return applyRank(objs[i]) < applyRank(objs[j]) })

			path, err := hubaccess.KubeconfigPath(g.hubKubeconfig)
			if err != nil {
				return err
			}
			cfg, err := hubaccess.RESTConfig(path)
			if err != nil {
				return err
			}
			dc, err := discovery.NewDiscoveryClientForConfig(cfg)
			if err != nil {
				return err
			}
			mapper := restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(dc))
			dyn, err := dynamic.NewForConfig(cfg)
			if err != nil {
				return err
			}
			// Namespaces this batch creates: what lives in them can only be
			// checked once they exist.
			newNamespaces := map[string]bool{}
			for _, o := range objs {
				if o.GroupVersionKind().GroupKind().String() == "Namespace" {
					newNamespaces[o.GetName()] = true
				}
			}
			apply := func(o *unstructured.Unstructured, dryRun bool) (string, error) {
				gvk := o.GroupVersionKind()
				m, err := mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
				if err != nil && dryRun && applyRank(o) > 1 {
					// Its CRD may be in this very batch: checked when applied.
					return "", nil
				}
				if err != nil {
					mapper.Reset()
					if m, err = mapper.RESTMapping(gvk.GroupKind(), gvk.Version); err != nil {
						return "", fmt.Errorf("%s %s: unknown kind: %w", gvk.Kind, o.GetName(), err)
					}
				}
				ri := dyn.Resource(m.Resource).(dynamic.ResourceInterface)
				if m.Scope.Name() == meta.RESTScopeNameNamespace {
					if o.GetNamespace() == "" {
						o.SetNamespace("default")
					}
					if dryRun && newNamespaces[o.GetNamespace()] {
						nsMapping, err := mapper.RESTMapping(schema.GroupKind{Kind: "Namespace"}, "v1")
						if err != nil {
							return "", err
						}
						if _, err := dyn.Resource(nsMapping.Resource).Get(cmd.Context(), o.GetNamespace(), metav1.GetOptions{}); apierrors.IsNotFound(err) {
							return "", nil
						}
					}
					ri = dyn.Resource(m.Resource).Namespace(o.GetNamespace())
				}
				data, err := o.MarshalJSON()
				if err != nil {
					return "", err
				}
				opts := metav1.PatchOptions{FieldManager: applyFieldManager, Force: ptrTo(true)}
				if dryRun {
					opts.DryRun = []string{metav1.DryRunAll}
				}
				before, _ := ri.Get(cmd.Context(), o.GetName(), metav1.GetOptions{})
				after, err := ri.Patch(cmd.Context(), o.GetName(), types.ApplyPatchType, data, opts)
				if err != nil {
					return "", fmt.Errorf("%s %s: %w", gvk.Kind, qualifiedName(o), err)
				}
				switch {
				case before == nil:
					return "created", nil
				case before.GetResourceVersion() == after.GetResourceVersion():
					return "unchanged", nil
				}
				return "configured", nil
			}
			var errs []error
			for _, o := range objs {
				if _, err := apply(o, true); err != nil {
					errs = append(errs, err)
				}
			}
			if len(errs) > 0 {
				return fmt.Errorf("nothing applied: the hub refused:\n%w", errors.Join(errs...))
			}
			w := cmd.OutOrStdout()
			for _, o := range objs {
				verb, err := apply(o, false)
				if err != nil {
					return err
				}
				fmt.Fprintf(w, "%s/%s %s\n", kindLabel(o), qualifiedName(o), verb)
			}
			return nil
		},
	}
	cmd.Flags().StringArrayVarP(&files, "filename", "f", nil, "manifest file, or - for standard input")
	return cmd
}

func ptrTo[T any](v T) *T { return &v }

// applyRank orders Namespaces, then CRDs, then the rest, then placements:
// a placement created last finds its resources and overrides in place, so
// its first rollout is already the right one.
func applyRank(o *unstructured.Unstructured) int {
	switch o.GroupVersionKind().GroupKind().String() {
	case "Namespace":
		return 0
	case "CustomResourceDefinition.apiextensions.k8s.io":
		return 1
	case "ClusterResourcePlacement.placement.kubernetes-fleet.io":
		return 3
	}
	return 2
}

func kindLabel(o *unstructured.Unstructured) string {
	gk := o.GroupVersionKind().GroupKind()
	if gk.Group == "" {
		return lower(gk.Kind)
	}
	return lower(gk.Kind) + "." + gk.Group
}

func lower(s string) string { return string(bytes.ToLower([]byte(s))) }

func qualifiedName(o *unstructured.Unstructured) string {
	if o.GetNamespace() != "" {
		return o.GetNamespace() + "/" + o.GetName()
	}
	return o.GetName()
}

// readManifests decodes every document of a YAML or JSON file.
func readManifests(path string, stdin io.Reader) ([]*unstructured.Unstructured, error) {
	var r io.Reader = stdin
	if path != "-" {
		f, err := os.Open(path)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		r = f
	}
	dec := utilyaml.NewYAMLOrJSONDecoder(bufio.NewReader(r), 4096)
	var out []*unstructured.Unstructured
	for i := 1; ; i++ {
		obj := map[string]any{}
		if err := dec.Decode(&obj); err != nil {
			if errors.Is(err, io.EOF) {
				return out, nil
			}
			return nil, fmt.Errorf("%s: document %d: %w", path, i, err)
		}
		if len(obj) == 0 {
			continue
		}
		u := &unstructured.Unstructured{Object: obj}
		if u.GetAPIVersion() == "" || u.GetKind() == "" || u.GetName() == "" {
			return nil, fmt.Errorf("%s: document %d needs apiVersion, kind and metadata.name", path, i)
		}
		out = append(out, u)
	}
}
