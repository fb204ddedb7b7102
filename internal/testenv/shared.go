package testenv

import (
	"errors"
	"fmt"
	"os"
	"sync"
	"testing"

	"github.com/flotilla-dev/flotilla/internal/localcluster"
)

// Shared is one environment for all the tests of a package, for tests that
// only add objects of their own to it (CRD validation, say): one start
// instead of one per test. The first test that asks starts it; it stops
// when Run, which the package's TestMain calls, returns:
//
//	var hub = testenv.NewShared(testenv.Options{CRDs: testenv.AllCRDs})
//
//	func TestMain(m *testing.M) { os.Exit(hub.Run(m)) }
//
// Tests that change what others see (a controller running, an API server
// stopped) use Start instead.
type Shared struct {
	opts Options

	mu       sync.Mutex
	running  bool
	env      *Env
	err      error
	clusters []*localcluster.Cluster
	dirs     []string
}

// NewShared describes a shared environment; nothing starts yet.
func NewShared(opts Options) *Shared { return &Shared{opts: opts} }

// Run runs the package's tests, then stops the environment and removes its
// directories. A TestMain passes its result to os.Exit.
func (s *Shared) Run(m *testing.M) int {
	s.mu.Lock()
	s.running = true
	s.mu.Unlock()
	code := m.Run()
	if err := s.stop(); err != nil {
		fmt.Fprintln(os.Stderr, "testenv:", err)
		code = max(code, 1)
	}
	return code
}

// Env returns the environment, started on first use. Like Start, it skips
// t under -short and fails it when a binary is missing; when the start
// failed, every test that asks fails with the same error.
func (s *Shared) Env(t testing.TB) *Env {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.running {
		t.Fatal("testenv: a Shared environment needs the package's TestMain to call its Run, which stops it")
	}
	specs := requireSpecs(t, s.opts)
	if s.env == nil && s.err == nil {
		s.env, s.err = s.start(specs)
	}
	if s.err != nil {
		t.Fatal(s.err)
	}
	return s.env
}

func (s *Shared) start(specs []localcluster.Options) (*Env, error) {
	for i := range specs {
		dir, err := os.MkdirTemp("", "flotilla-testenv-"+specs[i].Name+"-")
		if err != nil {
			return nil, err
		}
		s.dirs = append(s.dirs, dir)
		specs[i].Dir = dir
	}
	return start(specs, s.opts.CRDs, func(c *localcluster.Cluster) { s.clusters = append(s.clusters, c) })
}

func (s *Shared) stop() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	var errs []error
	for _, c := range s.clusters {
		if err := c.Stop(); err != nil {
			errs = append(errs, fmt.Errorf("stopping test cluster %s: %w", c.Name(), err))
		}
	}
	for _, dir := range s.dirs {
		errs = append(errs, os.RemoveAll(dir))
	}
	s.clusters, s.dirs, s.env = nil, nil, nil
	return errors.Join(errs...)
}
