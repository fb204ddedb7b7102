package testenv

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
)

// BuildFlotilla builds the flotilla binary of the module at repoRoot into a
// temporary directory, for suites that drive the CLI as an operator would;
// remove deletes it.
func BuildFlotilla(repoRoot string) (path string, remove func(), err error) {
	dir, err := os.MkdirTemp("", "flotilla-bin-")
	if err != nil {
		return "", nil, err
	}
	remove = func() { _ = os.RemoveAll(dir) }
	path = filepath.Join(dir, "flotilla")
	build := exec.Command("go", "build", "-o", path, "./cmd/flotilla")
	build.Dir = repoRoot
	if out, err := build.CombinedOutput(); err != nil {
		remove()
		return "", nil, fmt.Errorf("building flotilla: %w\n%s", err, out)
	}
	return path, remove, nil
}
