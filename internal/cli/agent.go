package cli

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"
	"go.uber.org/zap/zapcore"
	"k8s.io/client-go/rest"
	"k8s.io/klog/v2"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	"github.com/flotilla-dev/flotilla/internal/agent"
	"github.com/flotilla-dev/flotilla/internal/enrollment"
)

func newAgentCommand(global *globalOptions) *cobra.Command {
	var (
		opts             agent.Options
		memberKubeconfig string
		memberContext    string
		verbose          bool
	)
	cmd := &cobra.Command{
		Use:   "agent --member-name NAME --hub-kubeconfig FILE --member-kubeconfig FILE",
		Short: "Run the member agent of a hubful fleet beside one member cluster",
		Long: `Run the member agent. It dials the hub (the hub never dials the member), pulls
the Works of its own hub namespace flotilla-member-<name>, applies them to the
member with server-side apply, corrects drift as soon as a watch reports it,
reports status back and heartbeats the member's MemberCluster status.

Every Work it sees is saved in --state-dir: while the hub is unreachable, also
after a restart, the agent keeps enforcing what it last saw, and it resumes
syncing on its own when the hub returns.`,
		Example: `  flotilla agent --member-name dev-1 --hub-kubeconfig ~/.kube/hub-agent-dev-1 --member-kubeconfig ~/.kube/dev-1`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if opts.MemberName == "" {
				return errors.New("--member-name is required")
			}
			if opts.HeartbeatPeriod <= 0 {
				return fmt.Errorf("--heartbeat-period must be positive, got %s", opts.HeartbeatPeriod)
			}
			if opts.StateDir == "" {
				home, err := os.UserHomeDir()
				if err != nil {
					return fmt.Errorf("--state-dir is required: %w", err)
				}
				opts.StateDir = filepath.Join(home, ".flotilla", "agent", opts.MemberName)
			}
			hubPath, err := global.kubeconfigPath()
			if err != nil {
				return err
			}
			if opts.Hub, opts.HubCredentials, err = agent.LoadHubConfig(hubPath, "", opts.StateDir); err != nil {
				return err
			}
			if opts.Member, err = memberConfig(memberKubeconfig, memberContext); err != nil {
				return err
			}
			if err := opts.Validate(); err != nil {
				return err
			}
			level := zapcore.InfoLevel
			if verbose {
				level = zapcore.DebugLevel
			}
			logger := zap.New(zap.Level(level))
			ctrl.SetLogger(logger)
			// client-go's reflectors log through klog; keep one log stream.
			klog.SetLogger(logger)
			ctx := ctrl.LoggerInto(cmd.Context(), ctrl.Log.WithName("agent"))
			return agent.Run(ctx, opts)
		},
	}
	f := cmd.Flags()
	f.StringVar(&opts.MemberName, "member-name", "", "name of the MemberCluster this agent speaks for")
	f.StringVar(&memberKubeconfig, "member-kubeconfig", "", "kubeconfig of the member cluster's API server (default: the in-cluster config, for an agent running on its member)")
	f.StringVar(&memberContext, "member-context", "", "context of --member-kubeconfig (default: its current context)")
	f.StringVar(&opts.StateDir, "state-dir", "", "directory keeping the Works last seen (default $HOME/.flotilla/agent/<member-name>)")
	f.DurationVar(&opts.HeartbeatPeriod, "heartbeat-period", agent.DefaultHeartbeatPeriod, "how often the member is probed and its MemberCluster status written (a shorter spec.heartbeatPeriodSeconds wins)")
	f.StringVar(&opts.HealthAddress, "health-address", "127.0.0.1:0", `address for /healthz, /readyz and /metrics ("0" turns it off)`)
	f.BoolVarP(&verbose, "verbose", "v", false, "debug logging")
	return cmd
}

// memberConfig is the member's API server: from a kubeconfig file, or, for
// an agent that runs on its member, the in-cluster configuration.
func memberConfig(path, context string) (*rest.Config, error) {
	if path == "" {
		cfg, err := rest.InClusterConfig()
		if err != nil {
			return nil, fmt.Errorf("--member-kubeconfig is required outside the member cluster: %w", err)
		}
		return cfg, nil
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading the member kubeconfig: %w", err)
	}
	cfg, err := enrollment.RESTConfig(data, context)
	if err != nil {
		return nil, fmt.Errorf("member kubeconfig %s: %w", path, err)
	}
	return cfg, nil
}
