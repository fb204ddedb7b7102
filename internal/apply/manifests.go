package apply

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
)

// Read decodes every document of a YAML or JSON file; path "-" reads stdin.
func Read(path string, stdin io.Reader) ([]*unstructured.Unstructured, error) {
	if path == "-" {
		return Decode(stdin, path)
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return Decode(f, path)
}

// Decode splits r into its YAML or JSON documents, skipping empty ones;
// source names r in errors. Every object needs apiVersion, kind and a name.
func Decode(r io.Reader, source string) ([]*unstructured.Unstructured, error) {
	dec := utilyaml.NewYAMLOrJSONDecoder(bufio.NewReader(r), 4096)
	var out []*unstructured.Unstructured
	for i := 1; ; i++ {
		obj := map[string]any{}
		if err := dec.Decode(&obj); err != nil {
			if errors.Is(err, io.EOF) {
				return out, nil
			}
			return nil, fmt.Errorf("%s: document %d: %w", source, i, err)
		}
		if len(obj) == 0 {
			continue
		}
		u := &unstructured.Unstructured{Object: obj}
		if u.GetAPIVersion() == "" || u.GetKind() == "" || u.GetName() == "" {
			return nil, fmt.Errorf("%s: document %d needs apiVersion, kind and metadata.name", source, i)
		}
		out = append(out, u)
	}
}

// Order sorts objects into the order they are applied in, keeping the
// order of the files otherwise: Namespaces, then CRDs, so that what lives in
// them applies; then the rest; then placements, so that a placement created
// last finds its resources and overrides in place and its first rollout is
// already the right one.
func Order(objs []*unstructured.Unstructured) {
	sort.SliceStable(objs, func(i, j int) bool { return rank(objs[i]) < rank(objs[j]) })
}

const (
	rankNamespace = iota
	rankCRD
	rankOther
	rankPlacement
)

func rank(o *unstructured.Unstructured) int {
	switch o.GroupVersionKind().GroupKind().String() {
	case "Namespace":
		return rankNamespace
	case "CustomResourceDefinition.apiextensions.k8s.io":
		return rankCRD
	case "ClusterResourcePlacement.placement.kubernetes-fleet.io":
		return rankPlacement
	}
	return rankOther
}
