package cli

import (
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"
	"go.uber.org/zap/zapcore"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	"github.com/flotilla-dev/flotilla/internal/hub"
	"github.com/flotilla-dev/flotilla/internal/hubaccess"
	"github.com/flotilla-dev/flotilla/internal/toolchain"
)

func newHubCommand(global *globalOptions) *cobra.Command {
	var (
		kubeconfig string
		opts       hub.Options
		verbose    bool
	)
	cmd := &cobra.Command{
		Use:   "hub --kubeconfig FILE",
		Short: "Run the hub's controllers (membership, update runs, gates, placement, ...)",
		Long: `Run the hub's controller manager against the hub's API server. It installs or
upgrades the fleet CRDs at start, then runs the controllers under leader
election, serving /metrics and /healthz, /readyz.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			level := zapcore.InfoLevel
			if verbose {
				level = zapcore.DebugLevel
			}
			ctrl.SetLogger(zap.New(zap.Level(level)))
			cfg, err := hubRESTConfig(kubeconfig)
			if err != nil {
				return err
			}
			if opts.StateDir == "" {
				home, err := os.UserHomeDir()
				if err != nil {
					return fmt.Errorf("--state-dir is required: %w", err)
				}
				opts.StateDir = filepath.Join(home, ".flotilla", "hub")
			}
			executable, err := os.Executable()
			if err != nil {
				return err
			}
			opts.UpgradeProviders = upgradeProviders(executable)
			// Health-check scripts and upgrade commands find the kubectl and
			// jq that `make tools` built, when the machine has none of its own.
			if dir := filepath.Join(toolchain.Default().CacheDir, "path"); dirExists(dir) {
				_ = os.Setenv("PATH", os.Getenv("PATH")+string(os.PathListSeparator)+dir)
			}
			ctx := ctrl.LoggerInto(cmd.Context(), ctrl.Log.WithName("hub"))
			return hub.Run(ctx, cfg, opts)
		},
	}
	cmd.Flags().StringVar(&kubeconfig, "kubeconfig", "", "kubeconfig of the hub's API server (default: $FLOTILLA_HUB_KUBECONFIG, then the in-cluster config in a pod, then the running local fleet)")
	cmd.Flags().StringVar(&opts.MetricsAddress, "metrics-bind-address", ":8080", `address for /metrics ("0" turns it off)`)
	cmd.Flags().StringVar(&opts.HealthAddress, "health-probe-bind-address", ":8081", `address for /healthz and /readyz ("0" turns it off)`)
	cmd.Flags().BoolVar(&opts.LeaderElection, "leader-elect", true, "elect a leader so that only one hub replica acts")
	cmd.Flags().DurationVar(&opts.LeaseDuration, "leader-elect-lease-duration", 15*time.Second, "how long a leader's lease lasts: a standby takes over at most this long after the leader dies")
	cmd.Flags().DurationVar(&opts.RenewDeadline, "leader-elect-renew-deadline", 10*time.Second, "how long the leader tries to renew its lease before it gives up leading")
	cmd.Flags().DurationVar(&opts.RetryPeriod, "leader-elect-retry-period", 2*time.Second, "how often replicas try to take or renew the lease")
	cmd.Flags().StringVar(&opts.Instance, "instance", os.Getenv("POD_NAME"), "name of this hub process in its leader-election Lease and in the upgrade attempts it records (default: $POD_NAME, else the host name and a random suffix)")
	cmd.Flags().IntVar(&opts.MaxConcurrentProbes, "max-concurrent-probes", 32, "members probed at once")
	cmd.Flags().StringVar(&opts.StateDir, "state-dir", "", "directory for upgrade operations and check files (default $HOME/.flotilla/hub)")
	cmd.Flags().BoolVar(&opts.EnablePlacement, "enable-placement", true, "run the ClusterResourcePlacement controller (hubful fleets)")
	cmd.Flags().DurationVar(&opts.UnreachableGracePeriod, "unreachable-grace-period", 5*time.Minute, "how long a PickN placement keeps an unreachable member before picking another")
	cmd.Flags().DurationVar(&opts.AutoUpgradeInterval, "auto-upgrade-interval", 10*time.Minute, "how often auto-upgrade profiles are evaluated when nothing changes (they are also evaluated when they, a member's version or one of their runs change)")
	cmd.Flags().BoolVar(&opts.AllowExec, "allow-exec", false, "run the programs operators write into fleet objects: Exec upgrade providers, Command health checks and exec credential plugins of stored kubeconfigs (only while the hub's admission policy is in force; local fleets turn it on; see docs/upgrades.md)")
	cmd.Flags().BoolVarP(&verbose, "verbose", "v", false, "debug logging")
	cmd.AddCommand(newHubBackupCommand(global), newHubRestoreCommand(global))
	return cmd
}

// hubRESTConfig is the hub's API server: --kubeconfig, then
// $FLOTILLA_HUB_KUBECONFIG, then the in-cluster configuration when the hub
// runs in a pod, then the running local fleet.
func hubRESTConfig(kubeconfig string) (*rest.Config, error) {
	if kubeconfig == "" && os.Getenv(hubaccess.EnvKubeconfig) == "" {
		if cfg, err := rest.InClusterConfig(); err == nil {
			cfg.QPS, cfg.Burst = hubaccess.QPS, hubaccess.Burst
			return cfg, nil
		}
	}
	path, err := hubaccess.KubeconfigPath(kubeconfig)
	if err != nil {
		return nil, fmt.Errorf("--kubeconfig is required: %w", err)
	}
	return hubaccess.RESTConfig(path)
}

func dirExists(path string) bool {
	info, err := os.Stat(path)
	return err == nil && info.IsDir()
}
