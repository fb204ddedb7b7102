package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	fleetv1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/config/crd"
	"github.com/flotilla-dev/flotilla/internal/crdinstall"
	"github.com/flotilla-dev/flotilla/internal/enrollment"
	"github.com/flotilla-dev/flotilla/internal/fleetscheme"
	"github.com/flotilla-dev/flotilla/internal/localcluster"
	"github.com/flotilla-dev/flotilla/internal/localfleet"
	"github.com/flotilla-dev/flotilla/internal/toolchain"
)

// bench is what the scenarios share: options, the toolchain, the work
// directory, the flotilla binary and the shared local fleet.
type bench struct {
	opts     options
	tc       toolchain.Toolchain
	work     string
	start    time.Time
	warnings []string

	flotillaOnce sync.Once
	flotillaPath string
	flotillaErr  error

	fleet    *sharedFleet
	fleetErr error
}

func newBench(opts options) (*bench, error) {
	tc := toolchain.Default()
	if missing := tc.Missing(); len(missing) > 0 {
		return nil, fmt.Errorf("tool binaries not built (%s): run `make tools` first", strings.Join(missing, ", "))
	}
	work, err := os.MkdirTemp("", "flotilla-bench-")
	if err != nil {
		return nil, err
	}
	b := &bench{opts: opts, tc: tc, work: work, start: time.Now()}
	b.logf("work directory %s", work)
	return b, nil
}

// logf reports progress on stderr; stdout carries only the report.
func (b *bench) logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "[%6.1fs] %s\n", time.Since(b.start).Seconds(), fmt.Sprintf(format, args...))
}

// warn records a problem that does not invalidate a figure (a failed
// clean-up, say), for the report.
func (b *bench) warn(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	b.logf("warning: %s", msg)
	b.warnings = append(b.warnings, msg)
}

// close stops the shared fleet and any local cluster still recorded under
// the work directory, then removes the directory unless -keep.
func (b *bench) close() {
	b.closeFleet()
	// Scenarios stop their own clusters; this catches what a failure left.
	_ = filepath.WalkDir(b.work, func(path string, d fs.DirEntry, walkErr error) error {
		if walkErr != nil || d.IsDir() || d.Name() != filepath.Base(localcluster.StateFile("")) {
			return nil //nolint:nilerr // an entry that cannot be read holds no cluster of ours: the walk goes on
		}
		if c, err := localcluster.Attach(filepath.Dir(path)); err == nil {
			if err := c.Stop(); err != nil {
				b.warn("stopping the cluster in %s: %v", filepath.Dir(path), err)
			}
		}
		return nil
	})
	if b.opts.keep {
		b.logf("work directory kept: %s", b.work)
		return
	}
	if err := os.RemoveAll(b.work); err != nil {
		b.warn("removing %s: %v", b.work, err)
	}
}

// flotilla returns the flotilla binary: -flotilla if it exists, else one
// built into the work directory.
func (b *bench) flotilla(ctx context.Context) (string, error) {
	b.flotillaOnce.Do(func() {
		if info, err := os.Stat(b.opts.flotilla); err == nil && !info.IsDir() {
			b.flotillaPath, b.flotillaErr = filepath.Abs(b.opts.flotilla)
			return
		}
		out := filepath.Join(b.work, "flotilla")
		b.logf("%s not found: building flotilla into %s", b.opts.flotilla, out)
		build := exec.CommandContext(ctx, "go", "build", "-o", out, "./cmd/flotilla")
		if output, err := build.CombinedOutput(); err != nil {
			b.flotillaErr = fmt.Errorf("building flotilla (run from the repository root, or `make build`): %w\n%s", err, output)
			return
		}
		b.flotillaPath = out
	})
	return b.flotillaPath, b.flotillaErr
}

// startCluster starts a local cluster in the work directory.
func (b *bench) startCluster(ctx context.Context, name, version string, nodes int) (*localcluster.Cluster, error) {
	return localcluster.Start(ctx, localcluster.Options{
		Name: name, Dir: filepath.Join(b.work, "clusters", name), KubernetesVersion: version, Nodes: nodes, Toolchain: &b.tc,
	})
}

// stopCluster stops a cluster and removes its directory unless -keep.
func (b *bench) stopCluster(c *localcluster.Cluster) {
	if c == nil {
		return
	}
	if err := c.Stop(); err != nil {
		b.warn("%v", err)
		return
	}
	if !b.opts.keep {
		_ = os.RemoveAll(c.Dir())
	}
}

// startClusters starts several clusters in parallel; on failure it stops
// those that started.
func (b *bench) startClusters(ctx context.Context, specs ...clusterSpec) ([]*localcluster.Cluster, error) {
	out := make([]*localcluster.Cluster, len(specs))
	g, gctx := errgroup.WithContext(ctx)
	for i, s := range specs {
		g.Go(func() error {
			c, err := b.startCluster(gctx, s.name, s.version, s.nodes)
			out[i] = c
			return err
		})
	}
	if err := g.Wait(); err != nil {
		for _, c := range out {
			b.stopCluster(c)
		}
		return nil, err
	}
	return out, nil
}

type clusterSpec struct {
	name, version string
	nodes         int
}

// newHubClient is a client for the hub that is not throttled: seeding
// thousands of objects at the client-side default of a few QPS would take
// minutes.
func newHubClient(cfg *rest.Config) (client.WithWatch, error) {
	cfg = rest.CopyConfig(cfg)
	cfg.QPS, cfg.Burst = 1000, 2000
	return client.NewWithWatch(cfg, client.Options{Scheme: fleetscheme.New()})
}

// installFleetAPI installs the fleet CRDs and the credentials namespace, as
// the hub manager does at start.
func installFleetAPI(ctx context.Context, c client.Client) error {
	crds, err := crd.All()
	if err != nil {
		return err
	}
	if err := crdinstall.Apply(ctx, c, crds, time.Minute); err != nil {
		return err
	}
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: enrollment.Namespace}}
	if err := c.Create(ctx, ns); err != nil && !apierrors.IsAlreadyExists(err) {
		return err
	}
	return nil
}

// memberSeed is a MemberCluster to create directly, without enrollment's
// reachability check: benchmarks create a thousand that reach the same few
// real clusters.
type memberSeed struct {
	name, group string
	kubeconfig  []byte
	provider    *fleetv1.ProviderSpec
	heartbeat   int32
	// status, when set, is written after the member is created.
	status *fleetv1.MemberClusterStatus
}

// seedMembers creates each member's kubeconfig Secret and MemberCluster
// (as enrollment.Enroll does), and its status if given, with a few
// requests in flight at a time.
func seedMembers(ctx context.Context, c client.Client, seeds []memberSeed) error {
	g, ctx := errgroup.WithContext(ctx)
	g.SetLimit(16)
	for _, s := range seeds {
		g.Go(func() error { return seedMember(ctx, c, s) })
	}
	return g.Wait()
}

func seedMember(ctx context.Context, c client.Client, s memberSeed) error {
	secret := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{
			Name: enrollment.SecretName(s.name), Namespace: enrollment.Namespace,
			Labels: map[string]string{enrollment.MemberLabel: s.name},
		},
		Data: map[string][]byte{enrollment.KubeconfigKey: s.kubeconfig},
	}
	if err := c.Create(ctx, secret); err != nil {
		return fmt.Errorf("creating Secret %s: %w", secret.Name, err)
	}
	m := &fleetv1.MemberCluster{
		ObjectMeta: metav1.ObjectMeta{Name: s.name},
		Spec: fleetv1.MemberClusterSpec{
			UpdateGroup: s.group,
			Access: fleetv1.MemberAccess{
				Mode: fleetv1.AccessKubeconfig,
				KubeconfigSecretRef: &fleetv1.SecretKeyReference{
					Namespace: enrollment.Namespace, Name: secret.Name, Key: enrollment.KubeconfigKey,
				},
			},
			Provider:               s.provider,
			HeartbeatPeriodSeconds: s.heartbeat,
		},
	}
	if err := c.Create(ctx, m); err != nil {
		return fmt.Errorf("creating MemberCluster %s: %w", s.name, err)
	}
	if s.status == nil {
		return nil
	}
	m.Status = *s.status.DeepCopy()
	if err := c.Status().Update(ctx, m); err != nil {
		return fmt.Errorf("writing the status of MemberCluster %s: %w", s.name, err)
	}
	return nil
}

// waitHTTPOK polls url until it answers 200, or gives up after timeout.
func waitHTTPOK(ctx context.Context, url string, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var last error
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, http.NoBody)
		if err != nil {
			return err
		}
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			err = fmt.Errorf("%s", resp.Status)
		}
		last = err
		select {
		case <-ctx.Done():
			return fmt.Errorf("GET %s: %w (last: %w)", url, ctx.Err(), last)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// sharedFleet is a local fleet (hub, hub manager as a subprocess, one
// member) for the scenarios that need a running fleet; it comes up once.
type sharedFleet struct {
	layout localfleet.Layout
	state  localfleet.State
	hub    client.WithWatch
	member *localcluster.Cluster
}

func (b *bench) sharedFleet(ctx context.Context) (*sharedFleet, error) {
	if b.fleet != nil || b.fleetErr != nil {
		return b.fleet, b.fleetErr
	}
	b.fleet, b.fleetErr = b.upSharedFleet(ctx)
	return b.fleet, b.fleetErr
}

func (b *bench) upSharedFleet(ctx context.Context) (*sharedFleet, error) {
	bin, err := b.flotilla(ctx)
	if err != nil {
		return nil, err
	}
	f := &sharedFleet{layout: localfleet.Layout{StateDir: filepath.Join(b.work, "fleets"), Name: "bench"}}
	b.logf("bringing up a local fleet: hub and 1 member")
	f.state, err = localfleet.Up(ctx, localfleet.Options{
		Layout: f.layout, Config: localfleet.MembersConfig(1), HubExecutable: bin, Toolchain: &b.tc,
	})
	if err != nil {
		return nil, err
	}
	fail := func(err error) (*sharedFleet, error) {
		return nil, errors.Join(err, localfleet.Down(f.layout, nil))
	}
	hubCluster, err := localcluster.Attach(f.state.Hub.Dir)
	if err != nil {
		return fail(err)
	}
	hubCfg, err := hubCluster.RESTConfig()
	if err != nil {
		return fail(err)
	}
	if f.hub, err = newHubClient(hubCfg); err != nil {
		return fail(err)
	}
	if f.member, err = localcluster.Attach(f.state.Members[0].Dir); err != nil {
		return fail(err)
	}
	return f, nil
}

func (b *bench) closeFleet() {
	if b.fleet == nil {
		return
	}
	b.logf("taking the local fleet down")
	if err := localfleet.Down(b.fleet.layout, nil); err != nil {
		b.warn("taking the local fleet down: %v", err)
	}
	b.fleet = nil
}
