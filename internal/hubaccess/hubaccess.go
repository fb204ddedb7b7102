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
	"github.com/flotilla-dev/flotilla/internal/localfleet"
)

// EnvKubeconfig names the environment variable that points to the hub's kubeconfig.
const EnvKubeconfig = "FLOTILLA_HUB_KUBECONFIG"

// ErrNoHub says that no hub could be found.
var ErrNoHub = errors.New("no hub found: pass --hub-kubeconfig, set " + EnvKubeconfig + ", or start a local fleet with `flotilla local up`")

// KubeconfigPath returns the hub kubeconfig to use: the flag's value, then
// $FLOTILLA_HUB_KUBECONFIG, then the default local fleet's hub if it exists.
func KubeconfigPath(flagValue string) (string, error) {
	if flagValue != "" {
		return flagValue, nil
	}
	if env := os.Getenv(EnvKubeconfig); env != "" {
		return env, nil
	}
	local := localfleet.Layout{StateDir: localfleet.DefaultStateDir(), Name: localfleet.DefaultName}.HubKubeconfig()
	if _, err := os.Stat(local); err == nil {
		return local, nil
	}
	return "", ErrNoHub
}

// RESTConfig loads the hub's client config from kubeconfig path.
func RESTConfig(path string) (*rest.Config, error) {
	cfg, err := clientcmd.BuildConfigFromFlags("", path)
	if err != nil {
		return nil, fmt.Errorf("loading hub kubeconfig %s: %w", path, err)
	}
	cfg.QPS, cfg.Burst = 50, 100
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
