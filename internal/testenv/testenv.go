// Package testenv starts real Kubernetes API servers for integration tests:
// a hub, optionally with the fleet's CRDs installed, and optionally member
// clusters beside it, each a kube-apiserver with its own etcd from the
// binaries `make tools` builds. Everything a test starts is stopped and
// removed when the test ends, also when it fails.
//
// Integration tests skip under `go test -short` and fail, naming
// `make tools`, when a binary they need is not built: a package that ran
// nothing must never report "ok" by accident.
//
// It is test support: only _test.go files import it.
package testenv

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/flotilla-dev/flotilla/config/crd"
	"github.com/flotilla-dev/flotilla/internal/crdinstall"
	"github.com/flotilla-dev/flotilla/internal/fleetscheme"
	"github.com/flotilla-dev/flotilla/internal/localcluster"
	"github.com/flotilla-dev/flotilla/internal/toolchain"
)

// HubName names the hub cluster.
const HubName = "hub"

// startTimeout bounds starting every cluster and installing the CRDs; on a
// loaded 2-core machine a kube-apiserver takes a few seconds to be ready.
const startTimeout = 3 * time.Minute

// CRDFilter picks which of the fleet's CRDs (config/crd) a hub gets.
type CRDFilter func(*apiextensionsv1.CustomResourceDefinition) bool

// AllCRDs installs every fleet CRD, as `flotilla hub` does at start.
func AllCRDs(*apiextensionsv1.CustomResourceDefinition) bool { return true }

// CRDsNamed installs only the named CRDs ("works.fleet.flotilla.dev"):
// fewer CRDs, a faster start.
func CRDsNamed(names ...string) CRDFilter {
	return func(c *apiextensionsv1.CustomResourceDefinition) bool { return slices.Contains(names, c.Name) }
}

// Options describe the clusters a test needs.
type Options struct {
	// CRDs picks the fleet CRDs to install on the hub; nil installs none.
	CRDs CRDFilter
	// Members names member clusters to start beside the hub (DNS labels,
	// not "hub"). They are plain API servers: nothing is installed on them.
	Members []string
	// HubVersion is the hub's Kubernetes version ("1.37"); empty means the
	// newest supported, as local fleets run hubs.
	HubVersion string
	// MemberVersion is the members' Kubernetes version; empty means the
	// oldest supported, as local fleets start members.
	MemberVersion string
	// MemberRuntimeConfig is the members' --runtime-config (a beta API
	// turned on); empty passes none.
	MemberRuntimeConfig string
}

// Env is what Start started.
type Env struct {
	Hub *Cluster
	// Members are in the order of Options.Members.
	Members []*Cluster
}

// Member returns the member cluster of that name, or nil.
func (e *Env) Member(name string) *Cluster {
	for _, m := range e.Members {
		if m.Name() == name {
			return m
		}
	}
	return nil
}

// Cluster is one running API server and clients for it, all with admin
// rights. The embedded local cluster stops or restarts the API server
// (a hub outage, a control-plane upgrade) and issues restricted identities.
type Cluster struct {
	*localcluster.Cluster
	// Config is an admin client configuration.
	Config *rest.Config
	// Client is a controller-runtime client with the fleet's scheme.
	Client client.Client
	// Kube is a typed client.
	Kube kubernetes.Interface
}

// UserConfig returns a client configuration that authenticates as user in
// groups, with only the rights RBAC gives them.
func (c *Cluster) UserConfig(t testing.TB, user string, groups ...string) *rest.Config {
	t.Helper()
	kubeconfig, err := c.UserKubeconfig(user, groups...)
	if err != nil {
		t.Fatalf("kubeconfig for %s on %s: %v", user, c.Name(), err)
	}
	cfg, err := clientcmd.RESTConfigFromKubeConfig(kubeconfig)
	if err != nil {
		t.Fatalf("kubeconfig for %s on %s: %v", user, c.Name(), err)
	}
	return cfg
}

// Start starts a hub and the members of opts in parallel, installs the
// chosen CRDs on the hub and returns once every API server serves. When the
// test ends, every cluster is stopped and its directory removed. Under
// -short it skips the test; when a binary is missing it fails it.
func Start(t testing.TB, opts Options) *Env {
	t.Helper()
	specs := requireSpecs(t, opts)
	// Directories first: their removal is registered before any Stop, so it
	// runs after every cluster has stopped.
	for i := range specs {
		specs[i].Dir = t.TempDir()
	}
	env, err := start(specs, opts.CRDs, func(c *localcluster.Cluster) {
		t.Cleanup(func() {
			if err := c.Stop(); err != nil {
				t.Errorf("stopping test cluster %s: %v", c.Name(), err)
			}
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	return env
}

// requireSpecs returns the clusters opts describe, or ends the test by the
// tools rule: skipped under -short, failed when a binary is missing.
func requireSpecs(t testing.TB, opts Options) []localcluster.Options {
	t.Helper()
	tc := toolchain.Default()
	specs, err := clusterSpecs(tc, opts)
	if err != nil {
		t.Fatal(err)
	}
	requireBinaries(t, tc, specs)
	return specs
}

// start starts the clusters of specs, the hub first, and installs the CRDs
// keep picks on the hub. Each cluster that started is handed to started,
// one at a time and also when something else fails, so that it is stopped
// again.
func start(specs []localcluster.Options, keep CRDFilter, started func(*localcluster.Cluster)) (*Env, error) {
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	clusters, err := startAll(ctx, specs, started)
	if err != nil {
		return nil, err
	}
	env := &Env{Hub: clusters[0], Members: clusters[1:]}
	if keep != nil {
		if err := installCRDs(ctx, env.Hub.Client, keep); err != nil {
			return nil, err
		}
	}
	return env, nil
}

// clusterSpecs are the clusters opts describe, the hub first.
func clusterSpecs(tc toolchain.Toolchain, opts Options) ([]localcluster.Options, error) {
	hubVersion := opts.HubVersion
	if hubVersion == "" {
		hubVersion = tc.NewestKubernetes()
	}
	memberVersion := opts.MemberVersion
	if memberVersion == "" {
		memberVersion = tc.OldestKubernetes()
	}
	specs := []localcluster.Options{{Name: HubName, KubernetesVersion: hubVersion}}
	seen := map[string]bool{HubName: true}
	for _, name := range opts.Members {
		if seen[name] {
			return nil, fmt.Errorf("testenv: cluster name %q used twice (the hub is %q)", name, HubName)
		}
		seen[name] = true
		specs = append(specs, localcluster.Options{Name: name, KubernetesVersion: memberVersion, RuntimeConfig: opts.MemberRuntimeConfig})
	}
	return specs, nil
}

// startAll starts the clusters in parallel and calls started, for one
// cluster at a time, with each that started.
func startAll(ctx context.Context, specs []localcluster.Options, started func(*localcluster.Cluster)) ([]*Cluster, error) {
	clusters := make([]*Cluster, len(specs))
	errs := make([]error, len(specs))
	var wg sync.WaitGroup
	var mu sync.Mutex
	for i, spec := range specs {
		wg.Go(func() {
			lc, err := localcluster.Start(ctx, spec)
			if err != nil {
				errs[i] = fmt.Errorf("starting test cluster %s: %w", spec.Name, err)
				return
			}
			mu.Lock()
			started(lc)
			mu.Unlock()
			clusters[i], errs[i] = clientsFor(lc)
		})
	}
	wg.Wait()
	return clusters, errors.Join(errs...)
}

func clientsFor(lc *localcluster.Cluster) (*Cluster, error) {
	cfg, err := lc.RESTConfig()
	if err != nil {
		return nil, fmt.Errorf("test cluster %s: %w", lc.Name(), err)
	}
	c, err := client.New(cfg, client.Options{Scheme: fleetscheme.New()})
	if err != nil {
		return nil, fmt.Errorf("test cluster %s: %w", lc.Name(), err)
	}
	kube, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("test cluster %s: %w", lc.Name(), err)
	}
	return &Cluster{Cluster: lc, Config: cfg, Client: c, Kube: kube}, nil
}

func installCRDs(ctx context.Context, c client.Client, keep CRDFilter) error {
	all, err := crd.All()
	if err != nil {
		return err
	}
	var crds []*apiextensionsv1.CustomResourceDefinition
	for _, d := range all {
		if keep(d) {
			crds = append(crds, d)
		}
	}
	if len(crds) == 0 {
		return errors.New("testenv: the CRD filter matches none of the fleet's CRDs")
	}
	return crdinstall.Apply(ctx, c, crds, time.Minute)
}
