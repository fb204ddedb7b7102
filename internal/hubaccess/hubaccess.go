// Package hubaccess finds the fleet's hub and connects to it.
package hubaccess

import (
	"errors"
	"fmt"
	"os"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/flotilla-dev/flotilla/internal/fleetscheme"
)

// EnvKubeconfig names the environment variable that points to the hub's kubeconfig.
const EnvKubeconfig = "FLOTILLA_HUB_KUBECONFIG"

// ErrNoHub says that no hub could be found.
var ErrNoHub = errors.New("no hub found: pass --hub-kubeconfig, set " + EnvKubeconfig + ", or start a local fleet with `flotilla local up`")

// Fallback, when set, finds a hub kubeconfig when neither the flag nor the
// environment names one: the CLI sets it to the running local fleet's hub,
// so that this package, which the agent uses too, needs no local-fleet code.
// It is set once, before any command runs.
var Fallback func() (kubeconfig string, ok bool)

// KubeconfigPath returns the hub kubeconfig to use: the flag's value, then
// $FLOTILLA_HUB_KUBECONFIG, then the Fallback's.
func KubeconfigPath(flagValue string) (string, error) {
	if flagValue != "" {
		return flagValue, nil
	}
	if env := os.Getenv(EnvKubeconfig); env != "" {
		return env, nil
	}
	if Fallback != nil {
		if path, ok := Fallback(); ok {
			return path, nil
		}
	}
	return "", ErrNoHub
}

// QPS and Burst bound the hub clients' request rate: well above client-go's
// defaults, which throttle a hub driving hundreds of members.
const (
	QPS   = 50
	Burst = 100
)

// RESTConfig loads the hub's client config from kubeconfig path.
func RESTConfig(path string) (*rest.Config, error) {
	cfg, err := clientcmd.BuildConfigFromFlags("", path)
	if err != nil {
		return nil, fmt.Errorf("loading hub kubeconfig %s: %w", path, err)
	}
	cfg.QPS, cfg.Burst = QPS, Burst
	return cfg, nil
}

// Connect returns a client for the hub found from flagValue.
func Connect(flagValue string) (client.Client, error) {
	path, err := KubeconfigPath(flagValue)
	if err != nil {
		return nil, err
	}
	cfg, err := RESTConfig(path)
	if err != nil {
		return nil, err
	}
	c, err := client.New(cfg, client.Options{Scheme: fleetscheme.New()})
	if err != nil {
		return nil, fmt.Errorf("connecting to the hub at %s: %w", cfg.Host, err)
	}
	return c, nil
}
