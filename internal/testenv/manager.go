package testenv

import (
	"context"
	"testing"
	"time"

	"github.com/go-logr/logr/testr"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/config"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/flotilla-dev/flotilla/internal/fleetscheme"
)

// managerStopTimeout bounds how long a test waits for its manager to stop.
const managerStopTimeout = 30 * time.Second

// RunManager runs a controller-runtime manager against the cluster, with the
// controllers setup registers, until the test ends. It returns once the
// manager's cache has synced, so that what a test times is the controllers,
// not the start. The manager logs to the test, serves no metrics or health
// probes, and may register a controller name another test's manager in the
// same package used.
func (c *Cluster) RunManager(t testing.TB, setup func(ctrl.Manager) error) ctrl.Manager {
	t.Helper()
	return c.RunManagerUntil(t, context.Background(), setup)
}

// RunManagerUntil is RunManager for a manager that stops when ctx ends, or
// when the test does: a hub process dying mid-test.
func (c *Cluster) RunManagerUntil(t testing.TB, until context.Context, setup func(ctrl.Manager) error) ctrl.Manager {
	t.Helper()
	mgr, err := ctrl.NewManager(c.Config, ctrl.Options{
		Scheme:                 fleetscheme.New(),
		Logger:                 testr.NewWithInterface(t, testr.Options{LogTimestamp: true}),
		Metrics:                metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress: "0",
		Controller:             config.Controller{SkipNameValidation: ptr.To(true)},
	})
	if err != nil {
		t.Fatalf("manager on %s: %v", c.Name(), err)
	}
	if err := setup(mgr); err != nil {
		t.Fatalf("setting up the manager on %s: %v", c.Name(), err)
	}
	ctx, stop := context.WithCancel(until)
	done := make(chan error, 1)
	go func() { done <- mgr.Start(ctx) }()
	t.Cleanup(func() {
		stop()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("manager on %s: %v", c.Name(), err)
			}
		case <-time.After(managerStopTimeout):
			t.Errorf("manager on %s did not stop within %s", c.Name(), managerStopTimeout)
		}
	})
	syncCtx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if !mgr.GetCache().WaitForCacheSync(syncCtx) {
		t.Fatalf("the manager's cache on %s did not sync", c.Name())
	}
	return mgr
}
