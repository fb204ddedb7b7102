package testenv

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/flotilla-dev/flotilla"
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

// CachedTool returns the path of a tool that hack/tools.sh builds into the
// tool cache at the version hack/versions.env gives under versionKey
// (kubectl with KUBECTL_VERSION, helm with HELM_VERSION). Without it the
// test fails (under -short it is skipped): a test that ran nothing must
// not pass.
func CachedTool(t testing.TB, name, versionKey string) string {
	t.Helper()
	if testing.Short() {
		t.Skipf("needs %s from the tool cache (not in -short mode)", name)
	}
	version, ok := toolVersion(flotilla.ToolVersions, versionKey)
	if !ok {
		t.Fatalf("hack/versions.env sets no %s", versionKey)
	}
	path := filepath.Join(toolchain.DefaultCacheDir(), "bin", name+"-"+version)
	if info, err := os.Stat(path); err != nil || info.Mode()&0o111 == 0 {
		t.Fatalf("%s is not built (no executable at %s): run `make tools` (or hack/tools.sh %s)", name, path, name)
	}
	return path
}

// toolVersion reads one KEY=VALUE of hack/versions.env (toolchain parses
// only the local-fleet tools).
func toolVersion(versions, key string) (string, bool) {
	sc := bufio.NewScanner(strings.NewReader(versions))
	for sc.Scan() {
		k, v, ok := strings.Cut(strings.TrimSpace(sc.Text()), "=")
		if ok && k == key {
			return strings.Trim(v, `"'`), true
		}
	}
	return "", false
}
