package localfleet

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/flotilla-dev/flotilla/internal/localcluster"
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

// stopFleet stops the hub manager, then every cluster (in parallel; each
// stops its API server before its etcd).
func stopFleet(s State) error {
	var errs []error
	if s.HubManager != nil {
		// Before the hub's API server, so that it does not spend its last
		// seconds failing against it.
		if err := s.HubManager.Stop(10 * time.Second); err != nil {
			errs = append(errs, fmt.Errorf("hub manager: %w", err))
		}
	}
	var (
		wg sync.WaitGroup
		mu sync.Mutex
	)
	for _, dir := range clusterDirs(s) {
		wg.Go(func() {
			err := stopCluster(dir)
			mu.Lock()
			errs = append(errs, err)
			mu.Unlock()
		})
	}
	wg.Wait()
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

func stopCluster(dir string) error {
	if _, err := os.Stat(localcluster.StateFile(dir)); errors.Is(err, os.ErrNotExist) {
		return nil // never started
	}
	c, err := localcluster.Attach(dir)
	if err != nil {
		return err
	}
	return c.Stop()
}
