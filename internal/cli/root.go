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
)

// globalOptions are the flags every command shares.
type globalOptions struct {
	hubKubeconfig string
	output        string
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
	opts := &globalOptions{}
	root := &cobra.Command{
		Use:   "flotilla",
		Short: "Fleet manager for Kubernetes: staged upgrades, placement and fleet status",
		Long: `Flotilla runs many Kubernetes clusters as one fleet.

The operator commands talk to the fleet's hub, found from --hub-kubeconfig,
then $FLOTILLA_HUB_KUBECONFIG, then the running local fleet (flotilla local up).`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.PersistentFlags().StringVar(&opts.hubKubeconfig, "hub-kubeconfig", "", "kubeconfig of the fleet's hub (default: $FLOTILLA_HUB_KUBECONFIG, then the running local fleet)")
	root.PersistentFlags().StringVarP(&opts.output, "output", "o", "table", "output format: table, json or yaml")

	root.AddCommand(
		newMemberCommand(opts),
		newStatusCommand(opts),
		newUpdateStrategyCommand(opts),
		newUpdateRunCommand(opts),
		newGateCommand(opts),
		newPlacementCommand(opts),
		newApplyCommand(opts),
		newLocalCommand(),
		newHubCommand(),
		newAgentCommand(opts),
		newVersionCommand(opts),
	)
	return root
}
