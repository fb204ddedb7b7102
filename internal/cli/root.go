// Package cli is the flotilla command line: the operator verbs (member,
// status, ...), `local` for local fleets, and the long-running `hub`.
package cli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/flotilla-dev/flotilla/internal/fleetscheme"
	"github.com/flotilla-dev/flotilla/internal/hubaccess"
)

// globalOptions are the flags every command shares, and how commands reach
// the hub.
type globalOptions struct {
	hubKubeconfig string
	output        string
	// connect opens a client for the hub; unit tests put a fake hub here.
	connect func(g *globalOptions) (client.WithWatch, error)
}

// hub connects to the fleet's hub.
func (g *globalOptions) hub() (client.WithWatch, error) { return g.connect(g) }

// kubeconfigPath is the hub's kubeconfig: --hub-kubeconfig, then
// $FLOTILLA_HUB_KUBECONFIG, then the running local fleet's.
func (g *globalOptions) kubeconfigPath() (string, error) {
	return hubaccess.KubeconfigPath(g.hubKubeconfig)
}

// restConfig is the hub's client configuration, for what needs more than a
// controller-runtime client (apply's discovery, the agent).
func (g *globalOptions) restConfig() (*rest.Config, error) {
	path, err := g.kubeconfigPath()
	if err != nil {
		return nil, err
	}
	return hubaccess.RESTConfig(path)
}

// connectHub is how commands reach a real hub; the client also watches, for
// `updaterun watch` and `wait`.
func connectHub(g *globalOptions) (client.WithWatch, error) {
	cfg, err := g.restConfig()
	if err != nil {
		return nil, err
	}
	c, err := client.NewWithWatch(cfg, client.Options{Scheme: fleetscheme.New()})
	if err != nil {
		return nil, fmt.Errorf("connecting to the hub at %s: %w", cfg.Host, err)
	}
	return c, nil
}

// Execute runs the flotilla command line and returns the process exit code.
func Execute() int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	root := NewRootCommand()
	if err := root.ExecuteContext(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "Error:", err)
		var exit exitCodeError
		if errors.As(err, &exit) {
			return exit.code
		}
		return 1
	}
	return 0
}

// exitCodeError carries a specific exit code out of a command.
type exitCodeError struct {
	err  error
	code int
}

func (e exitCodeError) Error() string { return e.err.Error() }
func (e exitCodeError) Unwrap() error { return e.err }

// NewRootCommand builds the whole command tree.
func NewRootCommand() *cobra.Command {
	return newRootCommand(&globalOptions{connect: connectHub})
}

func newRootCommand(opts *globalOptions) *cobra.Command {
	root := &cobra.Command{
		Use:   "flotilla",
		Short: "Fleet manager for Kubernetes: staged upgrades, placement and fleet status",
		Long: `Flotilla runs many Kubernetes clusters as one fleet.

The operator commands talk to the fleet's hub, found from --hub-kubeconfig,
then $FLOTILLA_HUB_KUBECONFIG, then the running local fleet (flotilla local up).
A command on one object takes its name as an argument or with --name (-n).`,
		SilenceUsage:  true,
		SilenceErrors: true,
		// -o is checked once, before any command does its work.
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error {
			if cmd.Annotations[outputIsFile] == "true" {
				return nil
			}
			return validateOutput(opts.output)
		},
	}
	root.PersistentFlags().StringVar(&opts.hubKubeconfig, "hub-kubeconfig", "", "kubeconfig of the fleet's hub (default: $FLOTILLA_HUB_KUBECONFIG, then the running local fleet)")
	root.PersistentFlags().StringVarP(&opts.output, "output", "o", "table", "output format: table, json or yaml")

	root.AddCommand(
		newMemberCommand(opts),
		newStatusCommand(opts),
		newUpdateStrategyCommand(opts),
		newUpdateRunCommand(opts),
		newAutoUpgradeProfileCommand(opts),
		newGateCommand(opts),
		newPreflightCommand(opts),
		newPlacementCommand(opts),
		newQueryCommand(opts),
		newCostCommand(opts),
		newApplyCommand(opts),
		newLocalCommand(),
		newHubCommand(opts),
		newAgentCommand(opts),
		newVersionCommand(opts),
	)
	return root
}
