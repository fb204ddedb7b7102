package localcluster

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"k8s.io/client-go/rest"

	"github.com/flotilla-dev/flotilla/internal/localcluster/process"
)

const (
	// serviceCIDR is the cluster's service IP range, and kubernetesServiceIP
	// the first address in it, which the `kubernetes` Service gets.
	serviceCIDR         = "10.96.0.0/16"
	kubernetesServiceIP = "10.96.0.1"

	// readyTimeout bounds the wait for one server to become ready.
	readyTimeout = 90 * time.Second
	// portAttempts is how often a server is started on fresh ports when
	// another process took one of them first.
	portAttempts = 3
)

// errPortTaken means a server could not bind its port.
var errPortTaken = errors.New("port already in use")

// startEtcd starts etcd on free ports and waits until it serves.
func (c *Cluster) startEtcd(ctx context.Context, bin string) error {
	var err error
	for range portAttempts {
		var ports []int
		if ports, err = FreePorts(2); err != nil {
			return err
		}
		if err := c.update(func(s *State) { s.Ports.EtcdClient, s.Ports.EtcdPeer = ports[0], ports[1] }); err != nil {
			return err
		}
		if err = c.startServer(ctx, "etcd", bin, c.etcdArgs(), nil, c.etcdReady); !errors.Is(err, errPortTaken) {
			return err
		}
	}
	return err
}

func (c *Cluster) etcdArgs() []string {
	s := c.State()
	return []string{
		"--name=" + s.Name,
		"--data-dir=" + filepath.Join(s.Dir, "etcd"),
		"--listen-client-url=" + etcdURL(s.Ports.EtcdClient),
		"--listen-peer-url=" + etcdURL(s.Ports.EtcdPeer),
	}
}

func etcdURL(port int) string { return "http://127.0.0.1:" + strconv.Itoa(port) }

func (c *Cluster) etcdReady(ctx context.Context) error {
	return httpOK(ctx, http.DefaultClient, etcdURL(c.State().Ports.EtcdClient)+"/health")
}

// startAPIServer starts kube-apiserver from bin over the cluster's etcd and
// waits until /readyz succeeds. A fresh start picks a free port (retrying if
// it is taken) and writes the admin kubeconfig for it; a restart keeps the
// port, so that kubeconfigs stay valid.
func (c *Cluster) startAPIServer(ctx context.Context, bin string, fresh bool) error {
	attempts := 1
	if fresh {
		attempts = portAttempts
	}
	var err error
	for range attempts {
		if fresh {
			var ports []int
			if ports, err = FreePorts(1); err != nil {
				return err
			}
			err = c.update(func(s *State) {
				s.Ports.APIServer = ports[0]
				s.Server = "https://127.0.0.1:" + strconv.Itoa(ports[0])
			})
			if err != nil {
				return err
			}
			if err = c.writeAdminKubeconfig(); err != nil {
				return fmt.Errorf("writing the admin kubeconfig: %w", err)
			}
		}
		// Collecting garbage sooner costs little on an idle server and keeps
		// it about 35 MB (13%) smaller: fleets run several.
		env := []string{"GOGC=50"}
		if err = c.startServer(ctx, "kube-apiserver", bin, c.apiServerArgs(), env, c.apiServerReady); !errors.Is(err, errPortTaken) {
			return err
		}
	}
	return err
}

func (c *Cluster) apiServerArgs() []string {
	s := c.State()
	p := c.pki()
	args := []string{
		"--etcd-servers=" + etcdURL(s.Ports.EtcdClient),
		"--bind-address=127.0.0.1",
		"--advertise-address=127.0.0.1",
		"--secure-port=" + strconv.Itoa(s.Ports.APIServer),
		"--cert-dir=" + p.dir,
		"--tls-cert-file=" + p.servingCert(),
		"--tls-private-key-file=" + p.servingKey(),
		"--client-ca-file=" + p.caCert(),
		"--service-account-issuer=https://kubernetes.default.svc.cluster.local",
		"--service-account-key-file=" + p.serviceAccountKey(),
		"--service-account-signing-key-file=" + p.serviceAccountKey(),
		"--service-cluster-ip-range=" + serviceCIDR,
		"--authorization-mode=RBAC",
		// No controller-manager creates the default ServiceAccounts that this
		// plugin insists on, so pods would be refused.
		"--disable-admission-plugins=ServiceAccount",
		"--allow-privileged=true",
		// One API server per cluster and few clients: skip the machinery
		// that only pays off with many of either, and start faster.
		"--endpoint-reconciler-type=none",
		"--enable-priority-and-fairness=false",
		"--profiling=false",
		"--event-ttl=15m",
		// End open watches (kwok's, controllers') on SIGTERM; otherwise the
		// server waits for them to time out before it exits.
		"--shutdown-watch-termination-grace-period=2s",
	}
	if s.RuntimeConfig != "" {
		args = append(args, "--runtime-config="+s.RuntimeConfig)
	}
	return args
}

// startControllerManager runs kube-controller-manager with only the
// namespace controller: a deleted namespace is emptied and removed, as on
// any conformant cluster. Nothing waits for it to be ready; it serves no
// port, and it reconnects by itself when the API server restarts.
func (c *Cluster) startControllerManager(ctx context.Context, bin string) error {
	args := []string{
		"--kubeconfig=" + c.KubeconfigPath(),
		"--controllers=namespace",
		"--leader-elect=false",
		"--secure-port=0",
		"--concurrent-namespace-syncs=2",
	}
	return c.startServer(ctx, "kube-controller-manager", bin, args, nil, func(context.Context) error { return nil })
}

func (c *Cluster) apiServerReady(ctx context.Context) error {
	cfg, err := c.RESTConfig()
	if err != nil {
		return err
	}
	httpClient, err := rest.HTTPClientFor(cfg)
	if err != nil {
		return err
	}
	return httpOK(ctx, httpClient, cfg.Host+"/readyz")
}

// startServer starts one of the cluster's server processes, records it, and
// polls ready until it succeeds, the process exits, or time runs out.
func (c *Cluster) startServer(ctx context.Context, component, bin string, args, env []string, ready func(context.Context) error) error {
	s := c.State()
	logPath := c.logPath(component)
	logStart := fileSize(logPath)
	rec, err := process.Start(process.Spec{Path: bin, Args: args, Owner: s.Dir, Log: logPath, Env: env})
	if err != nil {
		return err
	}
	if err := c.update(func(s *State) { s.setRecord(component, rec) }); err != nil {
		return errors.Join(err, rec.Stop(stopGrace))
	}

	ctx, cancel := context.WithTimeout(ctx, readyTimeout)
	defer cancel()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		pollCtx, pollCancel := context.WithTimeout(ctx, 2*time.Second)
		lastErr := ready(pollCtx)
		pollCancel()
		if lastErr == nil {
			return nil
		}
		select {
		case <-rec.Exited():
			return exitError(component, rec, logStart)
		case <-ctx.Done():
			stopErr := rec.Stop(stopGrace)
			return errors.Join(fmt.Errorf("%s not ready (log: %s): %w; last check: %w", component, logPath, ctx.Err(), lastErr), stopErr)
		case <-tick.C:
			if !rec.Alive() {
				return exitError(component, rec, logStart)
			}
		}
	}
}

func (s *State) setRecord(component string, rec process.Record) {
	switch component {
	case "etcd":
		s.Etcd = rec
	case "kube-apiserver":
		s.APIServer = rec
	case "kwok":
		s.Kwok = &rec
	case "kube-controller-manager":
		s.ControllerManager = &rec
	}
}

// exitError explains an early exit with the end of what the process logged
// since it started, and flags a port clash so that callers can retry.
func exitError(component string, rec process.Record, logStart int64) error {
	output := logSince(rec.Log, logStart)
	lines := strings.Split(strings.TrimSpace(output), "\n")
	if len(lines) > 15 {
		lines = lines[len(lines)-15:]
	}
	tail := strings.Join(lines, "\n")
	err := fmt.Errorf("%s exited during start-up (log: %s):\n%s", component, rec.Log, tail)
	if strings.Contains(output, "address already in use") {
		return fmt.Errorf("%w: %w", errPortTaken, err)
	}
	return err
}

func httpOK(ctx context.Context, client *http.Client, url string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, http.NoBody)
	if err != nil {
		return err
	}
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s: %s", url, resp.Status, strings.TrimSpace(string(body)))
	}
	return nil
}

func fileSize(path string) int64 {
	info, err := os.Stat(path)
	if err != nil {
		return 0
	}
	return info.Size()
}

func logSince(path string, offset int64) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	if _, err := f.Seek(offset, io.SeekStart); err != nil {
		return ""
	}
	data, _ := io.ReadAll(f)
	return string(data)
}
