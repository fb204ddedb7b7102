// Package memberaccess gives hub controllers clients for member clusters,
// built from the kubeconfig Secrets stored on the hub and reused until a
// Secret changes.
package memberaccess

import (
	"context"
	"fmt"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/controller-runtime/pkg/client"

	fleetv1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/internal/enrollment"
	"github.com/flotilla-dev/flotilla/internal/hubexec"
)

// RequestTimeout bounds each request to a member, so a hung member holds a
// worker for at most this long.
const RequestTimeout = 5 * time.Second

// Member is a way into one member cluster.
type Member struct {
	// Kubeconfig is the stored kubeconfig, for programs run against the member.
	Kubeconfig []byte
	Client     kubernetes.Interface
	// Host is the member API server's address.
	Host string
}

// Clients hands out member clients. The zero value is not usable: set Hub.
type Clients struct {
	// Hub reads the kubeconfig Secrets.
	Hub client.Reader
	// Programs decides whether a kubeconfig whose user has an exec
	// credential plugin may be used: client-go runs that plugin on the hub.
	// Nil refuses them.
	Programs hubexec.Permitter

	mu     sync.Mutex
	byName map[string]cached
}

type cached struct {
	stamp  string
	member *Member
	// plugin names the exec credential plugin the client runs, if any.
	plugin string
}

// For returns a client for the member, reusing the cached one while its
// Secret and context are unchanged.
func (c *Clients) For(ctx context.Context, m *fleetv1.MemberCluster) (*Member, error) {
	ref := m.Spec.Access.KubeconfigSecretRef
	if m.Spec.Access.Mode == fleetv1.AccessAgent || ref == nil {
		return nil, fmt.Errorf("member %s has no kubeconfig the hub can use (access mode %s)", m.Name, m.Spec.Access.Mode)
	}
	secret := &corev1.Secret{}
	if err := c.Hub.Get(ctx, client.ObjectKey{Namespace: ref.Namespace, Name: ref.Name}, secret); err != nil {
		return nil, fmt.Errorf("reading Secret %s/%s: %w", ref.Namespace, ref.Name, err)
	}
	stamp := string(secret.UID) + "/" + secret.ResourceVersion + "/" + m.Spec.Access.Context
	c.mu.Lock()
	if e, ok := c.byName[m.Name]; ok && e.stamp == stamp {
		c.mu.Unlock()
		// Asked each time: the hub's permission can change under a cached client.
		if err := c.permitPlugin(ctx, m.Name, e.plugin); err != nil {
			return nil, err
		}
		return e.member, nil
	}
	c.mu.Unlock()

	key := ref.Key
	if key == "" {
		key = enrollment.KubeconfigKey
	}
	data, ok := secret.Data[key]
	if !ok {
		return nil, fmt.Errorf("the Secret %s/%s has no key %q", ref.Namespace, ref.Name, key)
	}
	cfg, err := enrollment.RESTConfig(data, m.Spec.Access.Context)
	if err != nil {
		return nil, err
	}
	var plugin string
	if cfg.ExecProvider != nil {
		plugin = cfg.ExecProvider.Command
	}
	if err := c.permitPlugin(ctx, m.Name, plugin); err != nil {
		return nil, err
	}
	cfg.Timeout = RequestTimeout
	cfg.QPS, cfg.Burst = 20, 40
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, err
	}
	member := &Member{Kubeconfig: data, Client: cs, Host: cfg.Host}
	c.mu.Lock()
	if c.byName == nil {
		c.byName = map[string]cached{}
	}
	c.byName[m.Name] = cached{stamp: stamp, member: member, plugin: plugin}
	c.mu.Unlock()
	return member, nil
}

// permitPlugin asks whether the exec credential plugin of a member's
// kubeconfig may run; a kubeconfig without one ("") needs no permission.
func (c *Clients) permitPlugin(ctx context.Context, member, plugin string) error {
	if plugin == "" {
		return nil
	}
	what := fmt.Sprintf("the kubeconfig of member %s has an exec credential plugin (%s), which", member, plugin)
	if c.Programs == nil {
		return &hubexec.RefusedError{What: what, Reason: hubexec.ReasonExecNotAllowed}
	}
	return c.Programs.Permit(ctx, what)
}

// Forget drops a member's cached client.
func (c *Clients) Forget(name string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.byName, name)
}
