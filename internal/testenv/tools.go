package testenv

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/flotilla-dev/flotilla/internal/localcluster"
	"github.com/flotilla-dev/flotilla/internal/toolchain"
)

// The rule for tests that need the tool binaries: `go test -short` is the
// explicit way to run only unit tests, and skips them; otherwise a missing
// binary fails the test, naming `make tools`. Skipping instead would let
// `go test ./...` print "ok" for packages that checked nothing.

// ShortSkipMessage is why integration and end-to-end tests skip under -short.
const ShortSkipMessage = "skipped with -short: needs real API servers (run without -short after `make tools`)"

// RequireTools skips the test under -short and fails it when any binary of
// a whole local fleet (`flotilla local up`) is not built.
func RequireTools(t testing.TB) {
	t.Helper()
	if testing.Short() {
		t.Skip(ShortSkipMessage)
	}
	if err := ToolsError(toolchain.Default().Missing()); err != nil {
		t.Fatal(err)
	}
}

// ToolsError says which binaries are missing and how to build them; nil
// when none is. For TestMain functions, which have no testing.TB.
func ToolsError(missing []string) error {
	if len(missing) == 0 {
		return nil
	}
	return fmt.Errorf("tool binaries not built: %s\n"+
		"run `make tools` (about 20 minutes once, cached in $%s or ~/.cache/flotilla), "+
		"or `go test -short` to run only the unit tests",
		strings.Join(missing, ", "), toolchain.CacheEnv)
}

// requireBinaries applies the rule to what starting specs needs.
func requireBinaries(t testing.TB, tc toolchain.Toolchain, specs []localcluster.Options) {
	t.Helper()
	if testing.Short() {
		t.Skip(ShortSkipMessage)
	}
	if err := ToolsError(missingFor(tc, specs)); err != nil {
		t.Fatal(err)
	}
}

// missingFor lists the paths of the binaries that starting specs needs and
// that are not built: each kube-apiserver version, etcd, the controller
// manager, and kwok for clusters with nodes.
func missingFor(tc toolchain.Toolchain, specs []localcluster.Options) []string {
	var missing []string
	note := func(err error) {
		var m *toolchain.MissingError
		if errors.As(err, &m) && !slices.Contains(missing, m.Path) {
			missing = append(missing, m.Path)
		}
	}
	nodes := false
	for _, s := range specs {
		_, _, err := tc.KubeAPIServer(s.KubernetesVersion)
		note(err)
		nodes = nodes || s.Nodes > 0
	}
	_, err := tc.Etcd()
	note(err)
	_, err = tc.KubeControllerManager()
	note(err)
	if nodes {
		_, err = tc.Kwok()
		note(err)
	}
	return missing
}
