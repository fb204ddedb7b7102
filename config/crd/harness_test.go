package crd_test

import (
	"context"
	"fmt"
	"os"
	"sync"
	"testing"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/flotilla-dev/flotilla/config/crd"
	"github.com/flotilla-dev/flotilla/internal/crdinstall"
	"github.com/flotilla-dev/flotilla/internal/fleetscheme"
	"github.com/flotilla-dev/flotilla/internal/localcluster"
	"github.com/flotilla-dev/flotilla/internal/toolchain"
)

// shared is the API server the tests of this package share; TestMain stops it.
var shared struct {
	once    sync.Once
	cluster *localcluster.Cluster
	client  client.Client
	err     error
}

func TestMain(m *testing.M) {
	code := m.Run()
	if shared.cluster != nil {
		if err := shared.cluster.Stop(); err != nil {
			fmt.Fprintln(os.Stderr, "stopping the test API server:", err)
			code = 1
		}
		_ = os.RemoveAll(shared.cluster.Dir())
	}
	os.Exit(code)
}

// hubClient returns a client for a real kube-apiserver with the fleet CRDs
// installed, started on first use.
func hubClient(t *testing.T) client.Client {
	t.Helper()
	if missing := toolchain.Default().Missing(); len(missing) > 0 {
		if os.Getenv("CI") == "true" {
			t.Fatalf("tool binaries missing: %v (make tools)", missing)
		}
		t.Skipf("tool binaries missing (make tools): %v", missing)
	}
	shared.once.Do(func() { shared.client, shared.err = startHub() })
	if shared.err != nil {
		t.Fatal(shared.err)
	}
	return shared.client
}

func startHub() (client.Client, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	dir, err := os.MkdirTemp("", "flotilla-crd-test-")
	if err != nil {
		return nil, err
	}
	cluster, err := localcluster.Start(ctx, localcluster.Options{
		Name: "crd-validation", Dir: dir, KubernetesVersion: toolchain.Default().NewestKubernetes(),
	})
	if err != nil {
		return nil, err
	}
	shared.cluster = cluster
	cfg, err := cluster.RESTConfig()
	if err != nil {
		return nil, err
	}
	c, err := client.New(cfg, client.Options{Scheme: fleetscheme.New()})
	if err != nil {
		return nil, err
	}
	crds, err := crd.All()
	if err != nil {
		return nil, err
	}
	return c, crdinstall.Apply(ctx, c, crds, time.Minute)
}
