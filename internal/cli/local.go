package cli

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/flotilla-dev/flotilla/internal/hubaccess"
	"github.com/flotilla-dev/flotilla/internal/localfleet"
)

func newLocalCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "local",
		Short: "Local fleets of real Kubernetes API servers, for demos, tests and rehearsals",
		Long: `A local fleet is a hub and members that are real kube-apiserver and etcd
processes on this machine, with kwok simulating the members' nodes. It runs in
the background until 'flotilla local down'. The binaries come from 'make tools'.`,
	}
	cmd.AddCommand(newLocalUpCommand(), newLocalDownCommand(), newLocalStatusCommand(), newLocalUpgradeMemberCommand(), newLocalFaultCommand())
	return cmd
}

// fleetFlags locate a local fleet.
type fleetFlags struct{ name, stateDir string }

func (f *fleetFlags) register(cmd *cobra.Command) {
	cmd.Flags().StringVarP(&f.name, "name", "n", localfleet.DefaultName, "name of the local fleet")
	cmd.Flags().StringVar(&f.stateDir, "state-dir", "", "directory that holds local fleets (default $HOME/.flotilla/local)")
}

func (f *fleetFlags) layout() localfleet.Layout {
	dir := f.stateDir
	if dir == "" {
		dir = localfleet.DefaultStateDir()
	}
	return localfleet.Layout{StateDir: dir, Name: f.name}
}

// args repeats the flags that differ from the defaults, for hints.
func (f *fleetFlags) args() string {
	var s string
	if f.name != localfleet.DefaultName {
		s += " --name " + f.name
	}
	if f.stateDir != "" && f.stateDir != localfleet.DefaultStateDir() {
		s += " --state-dir " + f.stateDir
	}
	return s
}

func newLocalUpCommand() *cobra.Command {
	var (
		fleet        fleetFlags
		configFile   string
		members      int
		noHubManager bool
		hubful       bool
		timeout      time.Duration
	)
	cmd := &cobra.Command{
		Use:   "up [--config FILE | --members N]",
		Short: "Start a local fleet and leave it running in the background",
		Long: `Start a hub and members, each a real kube-apiserver over its own etcd, the
members with kwok nodes; register the members with the hub and start the hub
controllers. Returns once everything is ready. A fleet of the same name that is
still there (after a crash, say) is removed first.

The config file declares the members:

  hub: {kubernetesVersion: "1.37"}
  members:
  - name: dev-1
    kubernetesVersion: "1.36"
    labels: {env: dev, region: westeurope}
    updateGroup: group-dev-clusters
    nodes: 3
    pods: 5
    nodeImage: flotilla-node-v1.36.3-202612.1   # default: the older local image
    runtimeConfig: networking.k8s.io/v1beta1=true   # the API server's --runtime-config (default none)

Local nodes start on the older of the two node images the local catalogue has
for their Kubernetes version (flotilla-node-VERSION-202611.1, then -202612.1),
so that a NodeImageOnly run has a newer image to roll them to.

With --hubful (or "hubful: true" in the config) every member also gets a
member agent that dials the hub with its own restricted identity, so that
ClusterResourcePlacements reach it.

Without it, --members N makes member-1..N in the update group "default". The
hub runs the newest supported Kubernetes minor and members the oldest, unless
the config says otherwise.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg := localfleet.MembersConfig(members)
			if configFile != "" {
				var err error
				if cfg, err = localfleet.LoadConfig(configFile); err != nil {
					return err
				}
			} else if members < 0 {
				return fmt.Errorf("--members cannot be negative")
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), timeout)
			defer cancel()
			start := time.Now()
			state, err := localfleet.Up(ctx, localfleet.Options{
				Layout:       fleet.layout(),
				Config:       cfg,
				Progress:     cmd.ErrOrStderr(),
				NoHubManager: noHubManager,
				Hubful:       hubful,
			})
			if err != nil {
				return err
			}
			printUpSummary(cmd.OutOrStdout(), state, time.Since(start), &fleet)
			return nil
		},
	}
	fleet.register(cmd)
	cmd.Flags().StringVar(&configFile, "config", "", "YAML file that declares the hub and the members")
	cmd.Flags().IntVar(&members, "members", 3, "number of members, when there is no --config")
	cmd.Flags().BoolVar(&noHubManager, "no-hub-manager", false, "do not start the hub controller manager (run 'flotilla hub' yourself)")
	cmd.Flags().BoolVar(&hubful, "hubful", false, "join every member with a member agent, for placement (also 'hubful: true' in the config)")
	cmd.Flags().DurationVar(&timeout, "timeout", 5*time.Minute, "give up if the fleet is not ready by then")
	cmd.MarkFlagsMutuallyExclusive("config", "members")
	return cmd
}

func printUpSummary(w io.Writer, s localfleet.State, took time.Duration, fleet *fleetFlags) {
	fmt.Fprintf(w, "\nLocal fleet %q is up in %s. Its files are in %s.\n\n", s.Name, took.Round(100*time.Millisecond), s.Dir)
	t := &table{headers: []string{"CLUSTER", "ROLE", "VERSION", "SERVER", "KUBECONFIG"}}
	row := func(c localfleet.ClusterRecord, role string) {
		version, server := "-", "-"
		if c.Cluster != nil {
			version, server = c.Cluster.KubernetesVersion, c.Cluster.Server
		}
		t.add(c.Name, role, version, server, c.Kubeconfig)
	}
	row(s.Hub, localfleet.RoleHub)
	for _, m := range s.Members {
		row(m, localfleet.RoleMember)
	}
	_ = t.write(w)
	if s.HubManager != nil {
		fmt.Fprintf(w, "\nHub manager: pid %d, log %s\n", s.HubManager.PID, s.HubManager.Log)
	} else {
		fmt.Fprintf(w, "\nHub manager not started; run it with:\n  flotilla hub --kubeconfig %s\n", s.Hub.Kubeconfig)
	}
	fmt.Fprintf(w, "\nUse it:\n  export %s=%s\n  flotilla status\n", hubaccess.EnvKubeconfig, s.Hub.Kubeconfig)
	if len(s.Members) > 0 {
		fmt.Fprintf(w, "  kubectl --kubeconfig %s get nodes\n", s.Members[0].Kubeconfig)
	}
	fmt.Fprintf(w, "Stop it:\n  flotilla local down%s\n", fleet.args())
}

func newLocalDownCommand() *cobra.Command {
	var fleet fleetFlags
	cmd := &cobra.Command{
		Use:   "down",
		Short: "Stop everything a local fleet runs and remove its files",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return localfleet.Down(fleet.layout(), cmd.ErrOrStderr())
		},
	}
	fleet.register(cmd)
	return cmd
}

func newLocalStatusCommand() *cobra.Command {
	var fleet fleetFlags
	cmd := &cobra.Command{
		Use:   "status",
		Short: "The clusters of a local fleet: versions, ports, processes and health",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			format := "table"
			if f := cmd.Flag("output"); f != nil {
				format = f.Value.String()
			}
			st, err := localfleet.Status(cmd.Context(), fleet.layout())
			if err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			if format == "table" {
				fmt.Fprintf(w, "Local fleet %q in %s, up since %s\n", st.Name, st.Dir, st.StartedAt.Local().Format(time.DateTime))
				if m := st.HubManager; m != nil {
					fmt.Fprintf(w, "Hub manager: pid %d, %s (log %s)\n\n", m.PID, runningOrStopped(m.Running), m.Log)
				} else {
					fmt.Fprintf(w, "Hub manager: not started by 'local up'\n\n")
				}
			}
			return render(w, format, st, func() *table {
				t := &table{headers: []string{"NAME", "ROLE", "GROUP", "VERSION", "API PORT", "ETCD PORT", "NODES", "PIDS", "HEALTH"}}
				for _, c := range st.Clusters {
					t.add(c.Name, c.Role, orDash(c.UpdateGroup), orDash(c.Version),
						portString(c.Ports.APIServer), portString(c.Ports.EtcdClient),
						strconv.Itoa(c.Nodes), pidList(c.Processes), clusterHealth(c))
				}
				return t
			})
		},
	}
	fleet.register(cmd)
	return cmd
}

func runningOrStopped(running bool) string {
	if running {
		return "running"
	}
	return "stopped"
}

func portString(port int) string {
	if port == 0 {
		return "-"
	}
	return strconv.Itoa(port)
}

// pidList shows the PIDs of etcd, kube-apiserver and kwok, "-" for a
// process that is not running.
func pidList(ps []localfleet.ProcessStatus) string {
	parts := make([]string, len(ps))
	for i, p := range ps {
		parts[i] = "-"
		if p.Running {
			parts[i] = strconv.Itoa(p.PID)
		}
	}
	return orDash(strings.Join(parts, "/"))
}

func clusterHealth(c localfleet.ClusterStatus) string {
	if c.Ready {
		return "Ready"
	}
	return "NotReady: " + c.Problem
}
