// Package localcluster runs one local Kubernetes cluster out of real parts:
// an etcd process, a kube-apiserver process over it and, for clusters with
// nodes, a kwok process that keeps simulated nodes and pods alive. All of it
// binds to 127.0.0.1 and lives in one directory; the processes are detached,
// so a cluster outlives the program that started it and can be found again
// from that directory (Attach).
package localcluster

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/client-go/rest"

	"github.com/flotilla-dev/flotilla/internal/localcluster/process"
	"github.com/flotilla-dev/flotilla/internal/toolchain"
)

// DefaultNodes is how many nodes a cluster gets when Options.Nodes is unset
// by callers that want the default (localfleet).
const DefaultNodes = 3

// stopGrace is how long a process gets to exit on SIGTERM before SIGKILL.
const stopGrace = 10 * time.Second

// Options describe a cluster to start.
type Options struct {
	// Name names the cluster in its kubeconfig and prefixes its node names;
	// a DNS label.
	Name string
	// Dir holds everything of the cluster: keys, etcd data, logs, state. It
	// must not hold another cluster.
	Dir string
	// KubernetesVersion as users write it ("1.36", "v1.36.3"); empty means
	// the oldest supported.
	KubernetesVersion string
	// Nodes is the number of kwok nodes; zero starts no kwok.
	Nodes int
	// NodeImage labels the nodes (NodeImageLabel); empty means the
	// InitialNodeImage of the cluster's version.
	NodeImage string
	// NodeLabels are added to every node's labels.
	NodeLabels map[string]string
	// Pods is the number of simulated pods, spread over the nodes.
	Pods int
	// RuntimeConfig is the API server's --runtime-config (e.g.
	// "networking.k8s.io/v1beta1=true" turns on a beta API that is off by
	// default); empty passes none.
	RuntimeConfig string
	// Toolchain finds the binaries; nil means toolchain.Default().
	Toolchain *toolchain.Toolchain
}

// Ports are the TCP ports of a cluster on 127.0.0.1.
type Ports struct {
	APIServer  int `json:"apiServer"`
	EtcdClient int `json:"etcdClient"`
	EtcdPeer   int `json:"etcdPeer"`
}

// State is what is recorded about a running cluster, in Dir/cluster.json.
type State struct {
	Name string `json:"name"`
	Dir  string `json:"dir"`
	// KubernetesVersion is the version of the kube-apiserver binary last
	// started successfully, e.g. "v1.36.3".
	KubernetesVersion string `json:"kubernetesVersion"`
	// Server is the API server's URL.
	Server    string          `json:"server"`
	Ports     Ports           `json:"ports"`
	Nodes     int             `json:"nodes"`
	Pods      int             `json:"pods,omitempty"`
	Etcd      process.Record  `json:"etcd"`
	APIServer process.Record  `json:"apiServer"`
	Kwok      *process.Record `json:"kwok,omitempty"`
	// ControllerManager runs the namespace controller; nil for a cluster
	// started before it was part of local clusters.
	ControllerManager *process.Record `json:"controllerManager,omitempty"`
	// RuntimeConfig is Options.RuntimeConfig, kept for restarts.
	RuntimeConfig string `json:"runtimeConfig,omitempty"`
}

// Cluster is a started (or re-attached) local cluster. Its methods are safe
// for concurrent use; two programs changing the same cluster at once are not.
type Cluster struct {
	toolchain toolchain.Toolchain

	mu    sync.Mutex
	state State
}

// StateFile is where a cluster in dir records its State.
func StateFile(dir string) string { return filepath.Join(dir, "cluster.json") }

// Start starts a cluster and returns once its API server is ready and its
// nodes and pods, if any, are Ready and Running. On error, whatever was
// started is stopped again.
func Start(ctx context.Context, opts Options) (_ *Cluster, err error) {
	if errs := validation.IsDNS1123Label(opts.Name); len(errs) > 0 {
		return nil, fmt.Errorf("cluster name %q: %s", opts.Name, strings.Join(errs, "; "))
	}
	if opts.Nodes < 0 || opts.Pods < 0 {
		return nil, fmt.Errorf("cluster %s: node and pod counts cannot be negative", opts.Name)
	}
	if opts.Pods > 0 && opts.Nodes == 0 {
		return nil, fmt.Errorf("cluster %s: simulated pods need nodes to run on", opts.Name)
	}
	tc := toolchain.Default()
	if opts.Toolchain != nil {
		tc = *opts.Toolchain
	}
	if opts.KubernetesVersion == "" {
		opts.KubernetesVersion = tc.OldestKubernetes()
	}
	version, apiServerBin, err := tc.KubeAPIServer(opts.KubernetesVersion)
	if err != nil {
		return nil, err
	}
	etcdBin, err := tc.Etcd()
	if err != nil {
		return nil, err
	}
	controllerManagerBin, err := tc.KubeControllerManager()
	if err != nil {
		return nil, err
	}
	kwokBin := ""
	if opts.Nodes > 0 {
		if kwokBin, err = tc.Kwok(); err != nil {
			return nil, err
		}
	}
	dir, err := filepath.Abs(opts.Dir)
	if err != nil {
		return nil, err
	}
	if _, err := os.Stat(StateFile(dir)); err == nil {
		return nil, fmt.Errorf("%s already holds a cluster: stop it and remove the directory first", dir)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}

	c := &Cluster{toolchain: tc, state: State{
		Name: opts.Name, Dir: dir, KubernetesVersion: version, Nodes: opts.Nodes, Pods: opts.Pods,
		RuntimeConfig: opts.RuntimeConfig,
	}}
	defer func() {
		if err != nil {
			err = errors.Join(err, c.Stop())
		}
	}()
	if err := c.pki().generate(opts.Name); err != nil {
		return nil, fmt.Errorf("cluster %s: generating certificates: %w", opts.Name, err)
	}
	if err := c.startEtcd(ctx, etcdBin); err != nil {
		return nil, fmt.Errorf("cluster %s: %w", opts.Name, err)
	}
	if err := c.startAPIServer(ctx, apiServerBin, true); err != nil {
		return nil, fmt.Errorf("cluster %s: %w", opts.Name, err)
	}
	if err := c.startControllerManager(ctx, controllerManagerBin); err != nil {
		return nil, fmt.Errorf("cluster %s: %w", opts.Name, err)
	}
	if opts.Nodes > 0 {
		image := opts.NodeImage
		if image == "" {
			image = InitialNodeImage(version)
		}
		if err := c.startNodes(ctx, kwokBin, image, opts.NodeLabels); err != nil {
			return nil, fmt.Errorf("cluster %s: %w", opts.Name, err)
		}
	}
	return c, nil
}

// Attach finds the cluster recorded in dir, to stop it or check on it from
// another program than the one that started it.
func Attach(dir string) (*Cluster, error) {
	data, err := os.ReadFile(StateFile(dir))
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("no local cluster recorded in %s", dir)
		}
		return nil, err
	}
	c := &Cluster{toolchain: toolchain.Default()}
	if err := json.Unmarshal(data, &c.state); err != nil {
		return nil, fmt.Errorf("reading %s: %w", StateFile(dir), err)
	}
	return c, nil
}

// State returns a copy of what is recorded about the cluster.
func (c *Cluster) State() State {
	c.mu.Lock()
	defer c.mu.Unlock()
	s := c.state
	if s.Kwok != nil {
		kwok := *s.Kwok
		s.Kwok = &kwok
	}
	return s
}

// Name is the cluster's name.
func (c *Cluster) Name() string { return c.State().Name }

// Dir is the cluster's directory.
func (c *Cluster) Dir() string { return c.State().Dir }

// KubernetesVersion is the version of the running kube-apiserver binary.
func (c *Cluster) KubernetesVersion() string { return c.State().KubernetesVersion }

// KubeconfigPath is the cluster's admin kubeconfig (group system:masters),
// every credential inline.
func (c *Cluster) KubeconfigPath() string { return filepath.Join(c.Dir(), "admin.kubeconfig") }

// Kubeconfig returns the content of KubeconfigPath.
func (c *Cluster) Kubeconfig() ([]byte, error) { return os.ReadFile(c.KubeconfigPath()) }

// RESTConfig returns an admin client configuration for the cluster.
func (c *Cluster) RESTConfig() (*rest.Config, error) {
	data, err := c.Kubeconfig()
	if err != nil {
		return nil, err
	}
	return restConfigFrom(data)
}

// Stop stops kwok, then the API server, then etcd: an API server whose etcd
// is gone hangs in its graceful shutdown. Stopping a stopped cluster does
// nothing. The directory stays; removing it is the caller's choice.
func (c *Cluster) Stop() error {
	s := c.State()
	var errs []error
	if s.Kwok != nil {
		errs = append(errs, s.Kwok.Stop(stopGrace))
	}
	if s.ControllerManager != nil {
		errs = append(errs, s.ControllerManager.Stop(stopGrace))
	}
	apiServerGrace := stopGrace
	if !s.Etcd.Alive() {
		// Its graceful shutdown would hang on the missing etcd.
		apiServerGrace = 0
	}
	// The API server before its etcd, in this order.
	errs = append(errs, s.APIServer.Stop(apiServerGrace), s.Etcd.Stop(stopGrace))
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("stopping cluster %s: %w", s.Name, err)
	}
	return nil
}

// StopAPIServer stops only the API server, as if the control plane died:
// etcd and the simulated nodes keep running.
func (c *Cluster) StopAPIServer() error {
	s := c.State()
	return s.APIServer.Stop(stopGrace)
}

// StopEtcd stops only etcd, as if the datastore died under a running API
// server (fault rehearsals); StartEtcd brings it back.
func (c *Cluster) StopEtcd() error {
	return c.State().Etcd.Stop(stopGrace)
}

// StartEtcd starts etcd again, on its ports and over its data, after
// StopEtcd. It does nothing if etcd runs.
func (c *Cluster) StartEtcd(ctx context.Context) error {
	if c.State().Etcd.Alive() {
		return nil
	}
	bin, err := c.toolchain.Etcd()
	if err != nil {
		return err
	}
	if err := c.startServer(ctx, "etcd", bin, c.etcdArgs(), nil, c.etcdReady); err != nil {
		return fmt.Errorf("cluster %s: %w", c.Name(), err)
	}
	return nil
}

// RestartAPIServer stops the API server if it runs and starts the
// kube-apiserver of version over the same etcd data, on the same port and
// certificates, so that kubeconfigs keep working: a control-plane upgrade.
// An empty version restarts the current one.
func (c *Cluster) RestartAPIServer(ctx context.Context, version string) error {
	if version == "" {
		version = c.KubernetesVersion()
	}
	fullVersion, bin, err := c.toolchain.KubeAPIServer(version)
	if err != nil {
		return err
	}
	if err := c.StopAPIServer(); err != nil {
		return err
	}
	if err := c.startAPIServer(ctx, bin, false); err != nil {
		return fmt.Errorf("cluster %s: %w", c.Name(), err)
	}
	// Only now: after a failed start, the recorded version must still differ
	// from the target, so that a retried upgrade restarts the server again.
	return c.update(func(s *State) { s.KubernetesVersion = fullVersion })
}

func (c *Cluster) pki() pki { return pki{dir: filepath.Join(c.Dir(), "pki")} }

func (c *Cluster) logPath(component string) string {
	return filepath.Join(c.Dir(), component+".log")
}

// update changes the state and records it, so that a crash after any step
// leaves behind what is needed to clean up.
func (c *Cluster) update(change func(*State)) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	change(&c.state)
	data, err := json.MarshalIndent(c.state, "", "  ")
	if err != nil {
		return err
	}
	path := StateFile(c.state.Dir)
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, append(data, '\n'), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

func (c *Cluster) writeAdminKubeconfig() error {
	certPEM, keyPEM, err := c.pki().clientCert("flotilla-admin", []string{AdminGroup})
	if err != nil {
		return err
	}
	caPEM, err := os.ReadFile(c.pki().caCert())
	if err != nil {
		return err
	}
	s := c.State()
	data, err := kubeconfig(s.Name, s.Server, caPEM, certPEM, keyPEM, "flotilla-admin")
	if err != nil {
		return err
	}
	return os.WriteFile(c.KubeconfigPath(), data, 0o600)
}
