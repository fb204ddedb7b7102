package localcluster

import (
	"context"
	"time"

	"k8s.io/client-go/discovery"
	"k8s.io/client-go/rest"
)

// Health is a cluster's state as seen now.
type Health struct {
	EtcdRunning      bool
	APIServerRunning bool
	// KwokRunning is false for a cluster without nodes.
	KwokRunning bool
	// Ready says /readyz succeeded.
	Ready bool
	// ServerVersion is what /version reports; empty when unreachable.
	ServerVersion string
	// Problem says why the cluster is not ready; empty when it is.
	Problem string
}

// Health checks the cluster's processes and asks its API server for
// /readyz and /version, within timeout.
func (c *Cluster) Health(ctx context.Context, timeout time.Duration) Health {
	s := c.State()
	h := Health{
		EtcdRunning:      s.Etcd.Alive(),
		APIServerRunning: s.APIServer.Alive(),
		KwokRunning:      s.Kwok != nil && s.Kwok.Alive(),
	}
	switch {
	case !h.EtcdRunning:
		h.Problem = "etcd is not running"
	case !h.APIServerRunning:
		h.Problem = "kube-apiserver is not running"
	case s.Nodes > 0 && !h.KwokRunning:
		h.Problem = "kwok is not running"
	}
	if !h.APIServerRunning {
		return h
	}
	cfg, err := c.RESTConfig()
	if err != nil {
		h.Problem = err.Error()
		return h
	}
	cfg = rest.CopyConfig(cfg)
	cfg.Timeout = timeout
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	httpClient, err := rest.HTTPClientFor(cfg)
	if err != nil {
		h.Problem = err.Error()
		return h
	}
	if err := httpOK(ctx, httpClient, cfg.Host+"/readyz"); err != nil {
		if h.Problem == "" {
			h.Problem = err.Error()
		}
	} else {
		h.Ready = true
	}
	if dc, err := discovery.NewDiscoveryClientForConfig(cfg); err == nil {
		if v, err := dc.ServerVersion(); err == nil {
			h.ServerVersion = v.GitVersion
		}
	}
	return h
}
