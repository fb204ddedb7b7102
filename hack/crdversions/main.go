// Command crdversions adds to the generated placement CRDs the older API
// versions Fleet users still write (KubeFleet's examples and docs use
// placement.kubernetes-fleet.io/v1beta1, and v1alpha1 for overrides), as
// further served versions of the same CRDs with the v1 schema. The schemas
// are identical, so the API server converts between them by changing
// apiVersion alone (conversion strategy None), nothing is pruned, and v1
// stays the storage version. `make generate` runs it after controller-gen.
package main

import (
	"fmt"
	"os"
	"path/filepath"

	"sigs.k8s.io/yaml"
)

// olderVersions are the versions each CRD (by file) also serves.
var olderVersions = map[string][]string{
	"placement.kubernetes-fleet.io_clusterresourceplacements.yaml": {"v1beta1"},
	"placement.kubernetes-fleet.io_clusterresourceoverrides.yaml":  {"v1alpha1", "v1beta1"},
	"placement.kubernetes-fleet.io_resourceoverrides.yaml":         {"v1alpha1", "v1beta1"},
}

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: crdversions DIR (the generated CRDs)")
		os.Exit(2)
	}
	for file, versions := range olderVersions {
		if err := addVersions(filepath.Join(os.Args[1], file), versions); err != nil {
			fmt.Fprintln(os.Stderr, "crdversions:", err)
			os.Exit(1)
		}
	}
}

func addVersions(path string, names []string) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	var crd map[string]any
	if err := yaml.Unmarshal(data, &crd); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	spec, _ := crd["spec"].(map[string]any)
	versions, _ := spec["versions"].([]any)
	var storage map[string]any
	for _, v := range versions {
		if m, ok := v.(map[string]any); ok && m["name"] == "v1" && m["storage"] == true {
			storage = m
		}
	}
	if storage == nil || len(versions) != 1 {
		return fmt.Errorf("%s: want exactly one version, v1, the storage version, as controller-gen writes it", path)
	}
	for _, name := range names {
		older := map[string]any{}
		for k, v := range storage {
			older[k] = v
		}
		older["name"] = name
		older["storage"] = false
		versions = append(versions, older)
	}
	spec["versions"] = versions
	out, err := yaml.Marshal(crd)
	if err != nil {
		return err
	}
	return os.WriteFile(path, append([]byte("---\n"), out...), 0o644)
}
