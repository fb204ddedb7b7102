package localfleet

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/flotilla-dev/flotilla/internal/localcluster"
	"github.com/flotilla-dev/flotilla/internal/localcluster/process"
	"github.com/flotilla-dev/flotilla/internal/toolchain"
)

// Down stops everything the fleet at l started, the hub manager first, and
// removes its directory. It is idempotent: a fleet that is not there, or
// whose processes are gone, is fine. A directory that holds no fleet state
// is left alone rather than removed.
func Down(l Layout, progressOut io.Writer) error {
	l, err := absLayout(l)
	if err != nil {
		return err
	}
	p := newProgress(progressOut)
	state, err := ReadState(l)
	if errors.Is(err, ErrNoFleet) {
		if _, statErr := os.Stat(l.Dir()); statErr == nil {
			return fmt.Errorf("%s holds no local fleet state (%s): not removing it", l.Dir(), filepath.Base(l.StateFile()))
		}
		p.printf("no local fleet %q in %s: nothing to stop", l.Name, l.StateDir)
		return nil
	}
	if err != nil {
		return err
	}
	if err := stopFleet(state); err != nil {
		return err
	}
	p.printf("stopped local fleet %q", l.Name)
	if err := os.RemoveAll(l.Dir()); err != nil {
		return fmt.Errorf("removing %s: %w", l.Dir(), err)
	}
	p.printf("removed %s", l.Dir())
	return nil
}

// stopFleet stops the hub manager and the upgrades it started, then every
// cluster (in parallel; each stops its API server before its etcd), then
// sweeps for any process of the fleet that a crash left unrecorded.
func stopFleet(s State) error {
	var errs []error
	flotillaBinaries := map[string]bool{}
	if exe, err := os.Executable(); err == nil {
		flotillaBinaries[exe] = true
	}
	if s.HubManager != nil {
		flotillaBinaries[s.HubManager.Path] = true
		// Before the hub's API server, so that it does not spend its last
		// seconds failing against it, and before the members, so that it
		// starts no upgrade of them.
		if err := s.HubManager.Stop(10 * time.Second); err != nil {
			errs = append(errs, fmt.Errorf("hub manager: %w", err))
		}
	}
	// Agents next: a member going away under a running agent only fills
	// its log with errors.
	for _, a := range s.Agents {
		flotillaBinaries[a.Path] = true
		if err := a.Stop(10 * time.Second); err != nil {
			errs = append(errs, fmt.Errorf("agent: %w", err))
		}
	}
	// Upgrades run as detached `flotilla local upgrade-member` processes,
	// under the shell the upgrade package wraps them in; stopped first, they
	// restart no API server behind our back.
	errs = append(errs, stopStrays(s.Dir, func(argv []string) bool {
		return flotillaBinaries[argv[0]] || (argv[0] == "/bin/sh" && slices.Contains(argv, "flotilla-upgrade"))
	}))

	var (
		wg sync.WaitGroup
		mu sync.Mutex
	)
	toolDirs := map[string]bool{toolchain.Default().BinDir(): true}
	for _, dir := range clusterDirs(s) {
		wg.Go(func() {
			bins, err := stopCluster(dir)
			mu.Lock()
			defer mu.Unlock()
			errs = append(errs, err)
			for _, b := range bins {
				if b != "" {
					toolDirs[filepath.Dir(b)] = true
				}
			}
		})
	}
	wg.Wait()

	errs = append(errs, stopStrays(s.Dir, func(argv []string) bool {
		return toolDirs[filepath.Dir(argv[0])]
	}))
	return errors.Join(errs...)
}

// stopStrays stops the processes that mention the fleet's directory and
// that match accepts.
func stopStrays(fleetDir string, match func(argv []string) bool) error {
	if fleetDir == "" {
		return nil
	}
	var errs []error
	for _, p := range process.Find(fleetDir, match) {
		errs = append(errs, p.Stop(10*time.Second))
	}
	return errors.Join(errs...)
}

// clusterDirs lists the directories that may hold the fleet's clusters: the
// recorded ones and, should the record be behind, any found on disk.
func clusterDirs(s State) []string {
	seen := map[string]bool{}
	var dirs []string
	add := func(dir string) {
		if dir != "" && !seen[dir] {
			seen[dir] = true
			dirs = append(dirs, dir)
		}
	}
	for _, c := range s.clusters() {
		add(c.Dir)
	}
	if s.Dir != "" {
		add(filepath.Join(s.Dir, "hub"))
		found, _ := filepath.Glob(localcluster.StateFile(filepath.Join(s.Dir, "members", "*")))
		for _, f := range found {
			add(filepath.Dir(f))
		}
	}
	return dirs
}

// stopCluster stops the cluster in dir, if one was started there, and
// returns the binaries it ran.
func stopCluster(dir string) ([]string, error) {
	if _, err := os.Stat(localcluster.StateFile(dir)); errors.Is(err, os.ErrNotExist) {
		return nil, nil // never started
	}
	c, err := localcluster.Attach(dir)
	if err != nil {
		return nil, err
	}
	st := c.State()
	return []string{st.Etcd.Path, st.APIServer.Path}, c.Stop()
}
