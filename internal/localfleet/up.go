package localfleet

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	fleetv1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/config/crd"
	"github.com/flotilla-dev/flotilla/internal/crdinstall"
	"github.com/flotilla-dev/flotilla/internal/enrollment"
	"github.com/flotilla-dev/flotilla/internal/fleetscheme"
	"github.com/flotilla-dev/flotilla/internal/localcluster"
	"github.com/flotilla-dev/flotilla/internal/localcluster/process"
	"github.com/flotilla-dev/flotilla/internal/toolchain"
)

const (
	// heartbeatPeriodSeconds is short so that a stopped member turns
	// Unreachable within seconds in demos and tests.
	heartbeatPeriodSeconds = 5
	// regionLabel, set on a member, becomes its nodes' topology region.
	regionLabel = "region"
	// hubManagerReadyTimeout bounds the wait for `flotilla hub` to serve /readyz.
	hubManagerReadyTimeout = time.Minute
)

// Options configure Up.
type Options struct {
	Layout Layout
	Config Config
	// Progress receives one line per step, with the time since Up began;
	// nil discards them.
	Progress io.Writer
	// NoHubManager leaves the hub controller manager to the caller (tests
	// run it in-process). Up still installs the fleet CRDs and enrolls the
	// members.
	NoHubManager bool
	// HubExecutable is the flotilla binary that runs `hub`; empty means this
	// program (os.Executable).
	HubExecutable string
	// Toolchain finds the binaries; nil means toolchain.Default().
	Toolchain *toolchain.Toolchain
	// Hubful joins every member with an agent (also set by Config.Hubful).
	Hubful bool
	// AgentExecutable is the flotilla binary that runs `agent`; empty means
	// HubExecutable, then this program.
	AgentExecutable string
}

// Up starts a local fleet: the hub and every member in parallel, each a real
// kube-apiserver over its own etcd, the members with kwok nodes; then the
// hub controller manager, the fleet CRDs and the members' enrollment. It
// returns once all of it is ready, leaving the processes running in the
// background. A fleet already recorded at the layout (a previous run, a
// crash) is stopped and removed first. If Up fails, it stops what it
// started and keeps the directory for its logs.
func Up(ctx context.Context, opts Options) (State, error) {
	tc := toolchain.Default()
	if opts.Toolchain != nil {
		tc = *opts.Toolchain
	}
	layout, err := absLayout(opts.Layout)
	if err != nil {
		return State{}, err
	}
	cfg, err := opts.Config.Resolve(tc)
	if err != nil {
		return State{}, err
	}
	if err := checkBinaries(tc, cfg); err != nil {
		return State{}, err
	}
	hubExe := opts.HubExecutable
	if hubExe == "" && !opts.NoHubManager {
		if hubExe, err = os.Executable(); err != nil {
			return State{}, fmt.Errorf("finding the flotilla binary to run the hub manager: %w", err)
		}
	}

	p := newProgress(opts.Progress)
	if _, err := os.Stat(layout.StateFile()); err == nil {
		p.printf("cleaning up the previous local fleet %q", layout.Name)
		if err := Down(layout, io.Discard); err != nil {
			return State{}, fmt.Errorf("cleaning up the previous local fleet: %w", err)
		}
	} else if entries, err := os.ReadDir(layout.Dir()); err == nil && len(entries) > 0 {
		return State{}, fmt.Errorf("%s exists and holds no local fleet: remove it or choose another --name or --state-dir", layout.Dir())
	}

	u := &upRun{layout: layout, cfg: cfg, tc: tc, progress: p, hubExe: hubExe, crdsReady: make(chan struct{})}
	if opts.Hubful || cfg.Hubful {
		u.agentExe = opts.AgentExecutable
		if u.agentExe == "" {
			u.agentExe = hubExe
		}
		if u.agentExe == "" {
			if u.agentExe, err = os.Executable(); err != nil {
				return State{}, fmt.Errorf("finding the flotilla binary to run the agents: %w", err)
			}
		}
	}
	u.state = State{
		Name:      layout.Name,
		Dir:       layout.Dir(),
		StartedAt: time.Now().UTC(),
		Hub:       ClusterRecord{Name: hubClusterName(layout), Dir: layout.HubDir(), Kubeconfig: layout.HubKubeconfig()},
	}
	for _, m := range cfg.Members {
		u.state.Members = append(u.state.Members, ClusterRecord{
			Name: m.Name, Dir: layout.MemberDir(m.Name), Kubeconfig: layout.MemberKubeconfig(m.Name),
			UpdateGroup: m.UpdateGroup, Labels: m.Labels,
		})
	}
	if err := os.MkdirAll(filepath.Join(layout.Dir(), "members"), 0o755); err != nil {
		return State{}, err
	}
	// Recorded before anything starts, so that `down` finds whatever a
	// crash leaves behind.
	if err := u.update(func(*State) {}); err != nil {
		return State{}, err
	}
	kind := "hubless"
	if u.agentExe != "" {
		kind = "hubful"
	}
	p.printf("starting %s local fleet %q in %s: hub on Kubernetes %s, %d member(s)",
		kind, layout.Name, layout.Dir(), cfg.Hub.KubernetesVersion, len(cfg.Members))

	if err := u.run(ctx); err != nil {
		stopErr := stopFleet(u.snapshot())
		return State{}, errors.Join(fmt.Errorf("local fleet %q did not come up (logs in %s): %w", layout.Name, layout.Dir(), err), stopErr)
	}
	if err := u.update(func(s *State) { s.Ready = true }); err != nil {
		return State{}, err
	}
	p.printf("local fleet %q is up", layout.Name)
	return u.snapshot(), nil
}

// upRun is one run of Up.
type upRun struct {
	layout   Layout
	cfg      Config
	tc       toolchain.Toolchain
	progress *progress
	hubExe   string
	// agentExe runs the member agents; empty for a hubless fleet.
	agentExe string
	// hubConfig is the hub admin's client config, set before crdsReady.
	hubConfig *rest.Config

	// crdsReady is closed once the hub serves the fleet CRDs; hubClient is
	// set before.
	crdsReady chan struct{}
	hubClient client.Client

	mu    sync.Mutex
	state State
}

func (u *upRun) run(ctx context.Context) error {
	g, ctx := errgroup.WithContext(ctx)
	g.Go(func() error { return u.startHub(ctx) })
	for _, m := range u.cfg.Members {
		g.Go(func() error { return u.startMember(ctx, m) })
	}
	return g.Wait()
}

// startHub starts the hub cluster, the hub manager, and installs the CRDs.
// Installing them here, and not only in the manager, lets the members
// enroll without waiting for the manager, and without one at all.
func (u *upRun) startHub(ctx context.Context) error {
	name := hubClusterName(u.layout)
	hub, err := localcluster.Start(ctx, localcluster.Options{
		Name: name, Dir: u.layout.HubDir(), KubernetesVersion: u.cfg.Hub.KubernetesVersion, Toolchain: &u.tc,
	})
	if err != nil {
		return fmt.Errorf("hub: %w", err)
	}
	if err := u.recordCluster(hub, u.layout.HubKubeconfig(), func(s *State) *ClusterRecord { return &s.Hub }); err != nil {
		return err
	}
	u.progress.printf("hub ready: Kubernetes %s at %s", hub.KubernetesVersion(), hub.State().Server)

	var manager *HubManagerRecord
	if u.hubExe != "" {
		if manager, err = u.startHubManager(); err != nil {
			return err
		}
		u.progress.printf("hub manager started (pid %d, log %s)", manager.PID, manager.Log)
	}

	cfg, err := hub.RESTConfig()
	if err != nil {
		return err
	}
	hubClient, err := client.New(cfg, client.Options{Scheme: fleetscheme.New()})
	if err != nil {
		return err
	}
	crds, err := crd.All()
	if err != nil {
		return err
	}
	if err := crdinstall.Apply(ctx, hubClient, crds, time.Minute); err != nil {
		return fmt.Errorf("hub: %w", err)
	}
	u.hubClient = hubClient
	u.hubConfig = cfg
	close(u.crdsReady)
	u.progress.printf("fleet CRDs established on the hub")

	if manager != nil {
		if err := waitHubManager(ctx, manager); err != nil {
			return err
		}
		u.progress.printf("hub manager ready")
	}
	return nil
}

func (u *upRun) startHubManager() (*HubManagerRecord, error) {
	ports, err := localcluster.FreePorts(2)
	if err != nil {
		return nil, err
	}
	metrics := fmt.Sprintf("127.0.0.1:%d", ports[0])
	health := fmt.Sprintf("127.0.0.1:%d", ports[1])
	rec, err := process.Start(process.Spec{
		Path: u.hubExe,
		Args: []string{"hub",
			"--kubeconfig", u.layout.HubKubeconfig(),
			"--metrics-bind-address", metrics,
			"--health-probe-bind-address", health,
			"--state-dir", u.layout.HubManagerStateDir(),
			// One manager per local fleet: without an election it rides out
			// the hub's API server going away (rehearsals of hub failure)
			// instead of exiting when it cannot renew its lease.
			"--leader-elect=false",
			// Local fleets are for demos and rehearsals with the operator's
			// own scripts (the demo's Command check): the hub runs them.
			"--allow-exec",
		},
		Owner: u.layout.Dir(),
		Log:   u.layout.HubManagerLog(),
	})
	if err != nil {
		return nil, fmt.Errorf("starting the hub manager: %w", err)
	}
	manager := &HubManagerRecord{Record: rec, MetricsAddress: metrics, HealthAddress: health}
	if err := u.update(func(s *State) { s.HubManager = manager }); err != nil {
		return nil, errors.Join(err, rec.Stop(10*time.Second))
	}
	return manager, nil
}

// waitHubManager waits until the manager serves /readyz, failing early if it
// exits.
func waitHubManager(ctx context.Context, m *HubManagerRecord) error {
	return waitReady(ctx, m.HealthAddress, m.Exited(), m.Log, m.LogTail, "the hub manager")
}

// waitReady waits until a process of ours serves /readyz at address,
// failing early if it exits.
func waitReady(ctx context.Context, address string, exited <-chan struct{}, log string, logTail func(int) string, what string) error {
	ctx, cancel := context.WithTimeout(ctx, hubManagerReadyTimeout)
	defer cancel()
	url := "http://" + address + "/readyz"
	var lastErr error
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
			err = fmt.Errorf("GET %s: %s", url, resp.Status)
		}
		lastErr = err
		select {
		case <-exited:
			return fmt.Errorf("%s exited (log %s):\n%s", what, log, logTail(15))
		case <-ctx.Done():
			return fmt.Errorf("%s is not ready (log %s): %w; last check: %w", what, log, ctx.Err(), lastErr)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func (u *upRun) startMember(ctx context.Context, m MemberConfig) error {
	var nodeLabels map[string]string
	if region := m.Labels[regionLabel]; region != "" {
		nodeLabels = map[string]string{"topology.kubernetes.io/region": region}
	}
	c, err := localcluster.Start(ctx, localcluster.Options{
		Name: m.Name, Dir: u.layout.MemberDir(m.Name), KubernetesVersion: m.KubernetesVersion,
		Nodes: *m.Nodes, Pods: m.Pods, NodeImage: m.NodeImage, NodeLabels: nodeLabels, RuntimeConfig: m.RuntimeConfig, Toolchain: &u.tc,
	})
	if err != nil {
		return err // it names the cluster, which is named after the member
	}
	err = u.recordCluster(c, u.layout.MemberKubeconfig(m.Name), func(s *State) *ClusterRecord {
		for i := range s.Members {
			if s.Members[i].Name == m.Name {
				return &s.Members[i]
			}
		}
		panic("member " + m.Name + " not in the state") // Up records every member first
	})
	if err != nil {
		return err
	}
	u.progress.printf("member %s ready: Kubernetes %s, %d node(s) Ready", m.Name, c.KubernetesVersion(), *m.Nodes)

	select {
	case <-u.crdsReady:
	case <-ctx.Done():
		return ctx.Err()
	}
	kubeconfig, err := c.Kubeconfig()
	if err != nil {
		return err
	}
	_, err = enrollment.Enroll(ctx, u.hubClient, enrollment.Request{
		Name:        m.Name,
		Kubeconfig:  kubeconfig,
		UpdateGroup: m.UpdateGroup,
		Labels:      m.Labels,
		Provider: &fleetv1.ProviderSpec{
			Type:  fleetv1.ProviderLocal,
			Local: &fleetv1.LocalProvider{ClusterDir: c.Dir()},
		},
		HeartbeatPeriodSeconds: heartbeatPeriodSeconds,
	})
	if err != nil {
		return fmt.Errorf("enrolling member %s: %w", m.Name, err)
	}
	group := m.UpdateGroup
	if group == "" {
		group = "none"
	}
	u.progress.printf("member %s enrolled (update group %s)", m.Name, group)
	if u.agentExe == "" {
		return nil
	}
	return u.startAgent(ctx, m)
}

// startAgent joins a member (its hub namespace, identity and RBAC) and runs
// its agent, which dials the hub with that identity only.
func (u *upRun) startAgent(ctx context.Context, m MemberConfig) error {
	joined, err := enrollment.Join(ctx, u.hubClient, enrollment.JoinRequest{Name: m.Name, HubConfig: u.hubConfig})
	if err != nil {
		return fmt.Errorf("joining member %s: %w", m.Name, err)
	}
	hubKubeconfig := u.layout.AgentHubKubeconfig(m.Name)
	if err := os.WriteFile(hubKubeconfig, joined.HubKubeconfig, 0o600); err != nil {
		return err
	}
	if err := os.MkdirAll(u.layout.AgentStateDir(m.Name), 0o700); err != nil {
		return err
	}
	ports, err := localcluster.FreePorts(1)
	if err != nil {
		return err
	}
	health := fmt.Sprintf("127.0.0.1:%d", ports[0])
	rec, err := process.Start(process.Spec{
		Path: u.agentExe,
		Args: []string{"agent",
			"--member-name", m.Name,
			"--hub-kubeconfig", hubKubeconfig,
			"--member-kubeconfig", u.layout.MemberKubeconfig(m.Name),
			"--state-dir", u.layout.AgentStateDir(m.Name),
			"--heartbeat-period", fmt.Sprintf("%ds", heartbeatPeriodSeconds),
			"--health-address", health,
		},
		Owner: u.layout.Dir(),
		Log:   u.layout.AgentLog(m.Name),
	})
	if err != nil {
		return fmt.Errorf("starting the agent of %s: %w", m.Name, err)
	}
	agent := &AgentRecord{Record: rec, HealthAddress: health}
	if err := u.update(func(s *State) {
		if s.Agents == nil {
			s.Agents = map[string]*AgentRecord{}
		}
		s.Agents[m.Name] = agent
	}); err != nil {
		return errors.Join(err, rec.Stop(10*time.Second))
	}
	if err := waitReady(ctx, health, rec.Exited(), rec.Log, rec.LogTail, "the agent of "+m.Name); err != nil {
		return err
	}
	u.progress.printf("member %s joined: agent running (pid %d, log %s)", m.Name, rec.PID, rec.Log)
	return nil
}

// recordCluster writes the cluster's kubeconfig where the layout says and
// records its state.
func (u *upRun) recordCluster(c *localcluster.Cluster, kubeconfigPath string, record func(*State) *ClusterRecord) error {
	data, err := c.Kubeconfig()
	if err != nil {
		return err
	}
	if err := os.WriteFile(kubeconfigPath, data, 0o600); err != nil {
		return err
	}
	cs := c.State()
	return u.update(func(s *State) { record(s).Cluster = &cs })
}

func (u *upRun) update(change func(*State)) error {
	u.mu.Lock()
	defer u.mu.Unlock()
	change(&u.state)
	return writeState(u.layout, u.state)
}

func (u *upRun) snapshot() State {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.state
}

// hubClusterName names the hub in its kubeconfig: "<fleet>-hub", so that
// the hubs of several fleets can share a kubeconfig.
func hubClusterName(l Layout) string { return l.Name + "-hub" }

// absLayout validates a layout and makes its state directory absolute: the
// directory goes into process arguments, where it identifies our processes.
func absLayout(l Layout) (Layout, error) {
	if l.Name == "" {
		l.Name = DefaultName
	}
	if l.StateDir == "" {
		l.StateDir = DefaultStateDir()
	}
	// The hub's cluster name, "<name>-hub", must be a DNS label too.
	if msgs := validation.IsDNS1123Label(l.Name + "-hub"); len(msgs) > 0 || strings.Contains(l.Name, ".") {
		return Layout{}, fmt.Errorf("invalid local fleet name %q: use at most 59 lower-case letters, digits and '-'", l.Name)
	}
	dir, err := filepath.Abs(l.StateDir)
	if err != nil {
		return Layout{}, err
	}
	l.StateDir = dir
	return l, nil
}

// checkBinaries fails before anything starts if a binary is missing.
func checkBinaries(tc toolchain.Toolchain, cfg Config) error {
	if _, _, err := tc.KubeAPIServer(cfg.Hub.KubernetesVersion); err != nil {
		return err
	}
	if _, err := tc.Etcd(); err != nil {
		return err
	}
	for _, m := range cfg.Members {
		if _, _, err := tc.KubeAPIServer(m.KubernetesVersion); err != nil {
			return err
		}
		if *m.Nodes > 0 {
			if _, err := tc.Kwok(); err != nil {
				return err
			}
		}
	}
	return nil
}

// progress prints one line per step with the time since the start.
type progress struct {
	mu    sync.Mutex
	w     io.Writer
	start time.Time
}

func newProgress(w io.Writer) *progress {
	if w == nil {
		w = io.Discard
	}
	return &progress{w: w, start: time.Now()}
}

func (p *progress) printf(format string, args ...any) {
	p.mu.Lock()
	defer p.mu.Unlock()
	fmt.Fprintf(p.w, "[%5.1fs] %s\n", time.Since(p.start).Seconds(), fmt.Sprintf(format, args...))
}
