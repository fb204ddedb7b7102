package cli

import (
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"github.com/flotilla-dev/flotilla/internal/enrollment"
)

// joinResult is what `member join` reports.
type joinResult struct {
	Member         string `json:"member"`
	CreatedMember  bool   `json:"createdMember"`
	AgentNamespace string `json:"agentNamespace"`
	HubKubeconfig  string `json:"agentHubKubeconfig"`
	AgentCommand   string `json:"agentCommand"`
	// HelmValues is the agent chart's values file for this member (it holds
	// the agent's hub credentials), HelmCommand the install that uses it.
	HelmValues  string `json:"helmValues"`
	HelmCommand string `json:"helmCommand"`
}

// agentChartValues are the values of charts/flotilla-agent that join knows.
type agentChartValues struct {
	MemberName string `json:"memberName"`
	Hub        struct {
		Kubeconfig string `json:"kubeconfig"`
	} `json:"hub"`
}

// writeAgentValues writes the agent chart's values for a member, readable
// by the owner only: they hold the agent's token.
func writeAgentValues(path, member string, hubKubeconfig []byte) error {
	v := agentChartValues{MemberName: member}
	v.Hub.Kubeconfig = string(hubKubeconfig)
	data, err := yaml.Marshal(v)
	if err != nil {
		return err
	}
	header := "# Values of charts/flotilla-agent for member " + member + ", written by `flotilla member join`.\n# They hold the agent's hub token: keep this file as you keep credentials.\n"
	return os.WriteFile(path, append([]byte(header), data...), 0o600)
}

// helmInstallCommand is the agent chart's install on the member.
func helmInstallCommand(valuesPath, memberContext string) string {
	c := "helm install flotilla-agent charts/flotilla-agent --namespace flotilla-system --create-namespace --values " + valuesPath
	if memberContext != "" {
		c += " --kube-context " + memberContext
	}
	return c + " --set image.repository=REGISTRY/flotilla --set image.tag=TAG"
}

func newMemberJoinCommand(g *globalOptions) *cobra.Command {
	var (
		memberKubeconfig, memberContext, group, labelList, out, valuesOut string
		memberData                                                        []byte
		lbls                                                              map[string]string
	)
	cmd := &cobra.Command{
		Use:   "join NAME [--member-kubeconfig FILE] [--agent-kubeconfig-out FILE]",
		Short: "Make a member hubful: set up its agent's identity on the hub and print how to run the agent",
		Long: `Make a member hubful. On the hub this creates the member's namespace
(flotilla-member-NAME, which holds its Work), a service account for its agent
that may read only that namespace and write only its own MemberCluster status,
and a token for it, written as a kubeconfig to --agent-kubeconfig-out. Then run
the agent beside the member with the printed command: it dials the hub, never
the reverse.

A member already in the fleet (hubless) keeps its stored credentials, so staged
upgrades keep working; a cluster not yet in the fleet is added in Agent mode,
after --member-kubeconfig is checked against its API server (that kubeconfig
stays with the agent, not on the hub). Joining again issues a fresh token.`,
		Example: `  flotilla member join -n prod-eu-1 --member-kubeconfig ~/.kube/prod-eu-1 --labels region=prod,compliance=pci
  flotilla agent --member-name prod-eu-1 --hub-kubeconfig prod-eu-1.agent-hub.kubeconfig --member-kubeconfig ~/.kube/prod-eu-1`,
		PreRunE: func(cmd *cobra.Command, args []string) error {
			if err := validateGroupName(group); err != nil {
				return err
			}
			var err error
			if lbls, err = parseLabels(labelList); err != nil {
				return err
			}
			if memberKubeconfig != "" {
				if memberData, err = os.ReadFile(memberKubeconfig); err != nil {
					return fmt.Errorf("reading the member's kubeconfig: %w", err)
				}
			}
			name, _ := nameAndArgs(cmd, args)
			if out == "" {
				out = name + ".agent-hub.kubeconfig"
			}
			if valuesOut == "" {
				valuesOut = name + ".agent-values.yaml"
			}
			if _, err := os.Stat(filepath.Dir(out)); err != nil {
				return fmt.Errorf("--agent-kubeconfig-out: %w", err)
			}
			if _, err := os.Stat(filepath.Dir(valuesOut)); err != nil {
				return fmt.Errorf("--agent-values-out: %w", err)
			}
			return nil
		},
	}
	memberKind.onName(g, cmd, func(cmd *cobra.Command, hub client.WithWatch, name string) error {
		hubConfig, err := g.restConfig()
		if err != nil {
			return err
		}
		joined, err := enrollment.Join(cmd.Context(), hub, enrollment.JoinRequest{
			Name: name, MemberKubeconfig: memberData, MemberContext: memberContext,
			UpdateGroup: group, Labels: lbls, HubConfig: hubConfig,
		})
		if err != nil {
			return err
		}
		if err := os.WriteFile(out, joined.HubKubeconfig, 0o600); err != nil {
			return fmt.Errorf("writing the agent's hub kubeconfig: %w", err)
		}
		if err := writeAgentValues(valuesOut, name, joined.HubKubeconfig); err != nil {
			return fmt.Errorf("writing the agent chart's values: %w", err)
		}
		abs, _ := filepath.Abs(out)
		valuesAbs, _ := filepath.Abs(valuesOut)
		memberArg := memberKubeconfig
		if memberArg == "" {
			memberArg = "<the member's kubeconfig>"
		}
		res := joinResult{
			Member: name, CreatedMember: joined.CreatedMember, AgentNamespace: joined.AgentNamespace,
			HubKubeconfig: abs,
			AgentCommand:  fmt.Sprintf("flotilla agent --member-name %s --hub-kubeconfig %s --member-kubeconfig %s", name, abs, memberArg),
			HelmValues:    valuesAbs,
			HelmCommand:   helmInstallCommand(valuesAbs, memberContext),
		}
		if g.output != "table" {
			return render(cmd.OutOrStdout(), g.output, res, nil)
		}
		w := cmd.OutOrStdout()
		verb := "joined"
		if joined.CreatedMember {
			verb = "added to the fleet in Agent mode and joined"
		}
		fmt.Fprintf(w, "member %q %s; its Works live in hub namespace %s\n", name, verb, joined.AgentNamespace)
		fmt.Fprintf(w, "agent's hub kubeconfig: %s\n\nInstall the agent on the member (its chart's values, with the agent's token, are in %s):\n  %s\n\nor run it beside the member:\n  %s\n", abs, valuesAbs, res.HelmCommand, res.AgentCommand)
		return nil
	})
	cmd.Flags().StringVar(&memberKubeconfig, "member-kubeconfig", "", "kubeconfig of the member, to add a cluster the fleet does not know yet")
	cmd.Flags().StringVar(&memberContext, "context", "", "context of --member-kubeconfig")
	cmd.Flags().StringVar(&group, "update-group", "", "update group, for a member added by this command")
	cmd.Flags().StringVar(&labelList, "labels", "", "labels, for a member added by this command: key=value pairs separated by commas")
	cmd.Flags().StringVar(&out, "agent-kubeconfig-out", "", "where to write the agent's hub kubeconfig (default NAME.agent-hub.kubeconfig)")
	cmd.Flags().StringVar(&valuesOut, "agent-values-out", "", "where to write the agent chart's values for the member (default NAME.agent-values.yaml)")
	return cmd
}

func newMemberLeaveCommand(g *globalOptions) *cobra.Command {
	var wait time.Duration
	cmd := &cobra.Command{
		Use:   "leave NAME",
		Short: "Take a member out of every placement, let its agent remove what it placed, and revoke the agent",
		Long: `Take a member out of every placement. Its agent removes what placements put on
the member (up to --wait), then the agent's hub identity is revoked. A member in
Agent mode leaves the fleet; a member the hub also reaches with stored
credentials stays in it, hubless.`,
	}
	memberKind.onName(g, cmd, func(cmd *cobra.Command, hub client.WithWatch, name string) error {
		left, err := enrollment.Leave(cmd.Context(), hub, enrollment.LeaveRequest{Name: name, Wait: wait})
		if err != nil {
			return err
		}
		w := cmd.OutOrStdout()
		if len(left.Abandoned) > 0 {
			fmt.Fprintf(cmd.ErrOrStderr(), "warning: the agent did not clean up within %s; what these Works placed stays on the member: %v\n", wait, left.Abandoned)
		}
		if left.DeletedMember {
			fmt.Fprintf(w, "member %q left the fleet\n", name)
		} else {
			fmt.Fprintf(w, "member %q left placement; it stays in the fleet, hubless\n", name)
		}
		return nil
	})
	cmd.Flags().DurationVar(&wait, "wait", time.Minute, "how long the agent gets to remove what it placed")
	return cmd
}
