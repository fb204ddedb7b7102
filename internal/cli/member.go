package cli

import (
	"fmt"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/validation"
	"sigs.k8s.io/controller-runtime/pkg/client"

	fleetv1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/internal/enrollment"
)

func newMemberCommand(g *globalOptions) *cobra.Command {
	cmd := &cobra.Command{
		Use:     "member",
		Aliases: []string{"members"},
		Short:   "Add, inspect, change and remove the fleet's member clusters",
	}
	cmd.AddCommand(
		newMemberCreateCommand(g),
		newMemberListCommand(g),
		newMemberShowCommand(g),
		newMemberUpdateCommand(g),
		newMemberDeleteCommand(g),
		newMemberJoinCommand(g),
		newMemberLeaveCommand(g),
	)
	return cmd
}

// parseLabels reads "k=v,k2=v2" and checks each key and value.
func parseLabels(s string) (map[string]string, error) {
	if strings.TrimSpace(s) == "" {
		return nil, nil
	}
	out := map[string]string{}
	for _, pair := range strings.Split(s, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(pair), "=")
		if !ok || k == "" {
			return nil, fmt.Errorf("--labels: invalid label %q: want key=value", pair)
		}
		if errs := validation.IsQualifiedName(k); len(errs) > 0 {
			return nil, fmt.Errorf("--labels: invalid label key %q: %s", k, strings.Join(errs, "; "))
		}
		if errs := validation.IsValidLabelValue(v); len(errs) > 0 {
			return nil, fmt.Errorf("--labels: invalid label value %q for %s: %s", v, k, strings.Join(errs, "; "))
		}
		out[k] = v
	}
	return out, nil
}

func validateGroupName(group string) error {
	if group == "" {
		return nil
	}
	if errs := validation.IsDNS1123Label(group); len(errs) > 0 {
		return fmt.Errorf("--update-group: invalid update group %q: %s", group, strings.Join(errs, "; "))
	}
	return nil
}

func newMemberCreateCommand(g *globalOptions) *cobra.Command {
	var (
		kubeconfig, kubeContext, group, labelList string
		heartbeat                                 int32
		allowExecCredential                       bool
		data                                      []byte
		lbls                                      map[string]string
		pf                                        providerFlags
		provider                                  *fleetv1.ProviderSpec
	)
	cmd := &cobra.Command{
		Use:   "create NAME (--kubeconfig FILE | --provider P ...) [--context C] [--update-group G] [--labels k=v,...]",
		Short: "Add a cluster to the fleet",
		Long: `Add a cluster to the fleet. Its kubeconfig is checked against the cluster's API
server, then stored as a Secret on the hub; the hub probes the member with it.
Nothing is created if the kubeconfig is invalid or the cluster unreachable.

--provider chooses how the member is upgraded (docs/providers.md). A provider
that can fetch credentials from its cloud (aks; cluster-api, from the
management cluster) does so when --kubeconfig is not given.`,
		Example: `  flotilla member create -n dev-1 --kubeconfig ~/.kube/dev-1 --update-group group-dev-clusters --labels env=dev,region=westeurope
  flotilla member create -n aks-eus-1 --provider aks --resource-id /subscriptions/SUB/resourceGroups/rg-fleet/providers/Microsoft.ContainerService/managedClusters/aks-eus-1
  flotilla member create -n eks-1 --provider eks --cluster prod-1 --region us-east-1 --kubeconfig ~/.kube/eks-1
  flotilla member create -n gke-1 --provider gke --project my-project --location europe-west1 --cluster prod-1 --kubeconfig ~/.kube/gke-1
  flotilla member create -n capi-dev-1 --provider cluster-api --management-kubeconfig ~/.kube/management --cluster dev-1 --cluster-namespace clusters --node-image-variable imageName`,
		PreRunE: func(cmd *cobra.Command, _ []string) error {
			var err error
			if provider, err = pf.spec(cmd.Flags()); err != nil {
				return err
			}
			if kubeconfig == "" && provider == nil {
				return fmt.Errorf("--kubeconfig is required (or --provider with a provider that fetches credentials)")
			}
			if err := validateGroupName(group); err != nil {
				return err
			}
			if lbls, err = parseLabels(labelList); err != nil {
				return err
			}
			if kubeconfig != "" {
				if data, err = os.ReadFile(kubeconfig); err != nil {
					return fmt.Errorf("reading kubeconfig: %w", err)
				}
			}
			return nil
		},
	}
	memberKind.onName(g, cmd, func(cmd *cobra.Command, hub client.WithWatch, name string) error {
		if data == nil {
			var err error
			if data, err = fetchKubeconfig(cmd.Context(), hub, name, provider, pf.adminCredential, pf.managementContent); err != nil {
				return err
			}
		}
		member, err := enrollment.Enroll(cmd.Context(), hub, enrollment.Request{
			Name: name, Kubeconfig: data, Context: kubeContext,
			UpdateGroup: group, Labels: lbls, HeartbeatPeriodSeconds: heartbeat,
			AllowExecCredential: allowExecCredential,
			Provider:            provider, ManagementKubeconfig: pf.managementContent,
		})
		if err != nil {
			return err
		}
		return renderMembers(cmd, g.output, []fleetv1.MemberCluster{*member})
	})
	cmd.Flags().StringVar(&kubeconfig, "kubeconfig", "", "kubeconfig file that reaches the member's API server")
	cmd.Flags().StringVar(&kubeContext, "context", "", "kubeconfig context to use (default: its current context)")
	cmd.Flags().StringVar(&group, "update-group", "", "update group the member belongs to")
	cmd.Flags().StringVar(&labelList, "labels", "", "labels, as key=value pairs separated by commas")
	cmd.Flags().Int32Var(&heartbeat, "heartbeat-period-seconds", 0, "how often the hub probes the member (default 15)")
	cmd.Flags().BoolVar(&allowExecCredential, "allow-exec-credential", false, "store a kubeconfig whose user runs an exec credential plugin: the hub runs it (only with flotilla hub --allow-exec; see docs/upgrades.md)")
	pf.register(cmd.Flags())
	return cmd
}

func newMemberListCommand(g *globalOptions) *cobra.Command {
	var (
		selectorFlag, group string
		opts                []client.ListOption
	)
	cmd := &cobra.Command{
		Use:   "list [--selector k=v] [--update-group G]",
		Short: "List the fleet's members",
		Args:  cobra.NoArgs,
		PreRunE: func(*cobra.Command, []string) error {
			if selectorFlag == "" {
				return nil
			}
			sel, err := labels.Parse(selectorFlag)
			if err != nil {
				return fmt.Errorf("invalid --selector: %w", err)
			}
			opts = []client.ListOption{client.MatchingLabelsSelector{Selector: sel}}
			return nil
		},
		RunE: onHub(g, func(cmd *cobra.Command, hub client.WithWatch) error {
			list := &fleetv1.MemberClusterList{}
			if err := hub.List(cmd.Context(), list, opts...); err != nil {
				return fmt.Errorf("listing members: %w", err)
			}
			items := list.Items[:0]
			for _, m := range list.Items {
				if group == "" || m.Spec.UpdateGroup == group {
					items = append(items, m)
				}
			}
			return renderMembers(cmd, g.output, items)
		}),
	}
	cmd.Flags().StringVarP(&selectorFlag, "selector", "l", "", "label selector, e.g. region=westeurope")
	cmd.Flags().StringVar(&group, "update-group", "", "only members of this update group")
	return cmd
}

func renderMembers(cmd *cobra.Command, format string, members []fleetv1.MemberCluster) error {
	sort.Slice(members, func(i, j int) bool { return members[i].Name < members[j].Name })
	for i := range members {
		members[i].APIVersion, members[i].Kind = fleetv1.GroupVersion.String(), "MemberCluster"
		members[i].ManagedFields = nil
	}
	var data any = members
	if len(members) == 1 && cmd.Name() != "list" {
		data = members[0]
	}
	return render(cmd.OutOrStdout(), format, data, func() *table {
		t := &table{headers: []string{"NAME", "GROUP", "LABELS", "VERSION", "HEALTH", "AGE"}}
		for _, m := range members {
			t.add(m.Name, orDash(m.Spec.UpdateGroup), orDash(labels.Set(m.Labels).String()),
				orDash(m.Status.KubernetesVersion), health(&m), age(m.CreationTimestamp))
		}
		return t
	})
}

// health summarises a member's conditions in one word, with the reason when
// it is not healthy.
func health(m *fleetv1.MemberCluster) string {
	reachable := meta.FindStatusCondition(m.Status.Conditions, fleetv1.MemberReachable)
	healthy := meta.FindStatusCondition(m.Status.Conditions, fleetv1.MemberHealthy)
	switch {
	case reachable == nil:
		return "Unknown"
	case reachable.Status != "True":
		return "Unreachable"
	case healthy != nil && healthy.Status == "True":
		return "Healthy"
	case healthy != nil:
		return "Unhealthy (" + healthy.Reason + ")"
	}
	return "Unknown"
}

func newMemberShowCommand(g *globalOptions) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "show NAME",
		Short: "Show one member: versions, nodes, pods, conditions",
	}
	return memberKind.onObject(g, cmd, func(cmd *cobra.Command, hub client.WithWatch, m *fleetv1.MemberCluster) error {
		view, viewErr := providerView(cmd, hub, m)
		if g.output != "table" {
			if view == nil {
				return renderMembers(cmd, g.output, []fleetv1.MemberCluster{*m})
			}
			m.APIVersion, m.Kind, m.ManagedFields = fleetv1.GroupVersion.String(), "MemberCluster", nil
			return render(cmd.OutOrStdout(), g.output, memberWithView{MemberCluster: m, ProviderView: view}, nil)
		}
		if err := describeMember(cmd, m); err != nil {
			return err
		}
		switch {
		case viewErr != nil:
			fmt.Fprintf(cmd.OutOrStdout(), "Provider view:   unavailable: %v\n", viewErr)
		case view != nil:
			fmt.Fprintf(cmd.OutOrStdout(), "Provider view (%s):\n", m.Spec.Provider.Type)
			return describeProviderView(cmd, view)
		}
		return nil
	})
}

func describeMember(cmd *cobra.Command, m *fleetv1.MemberCluster) error {
	w := cmd.OutOrStdout()
	st := m.Status
	fmt.Fprintf(w, "Name:            %s\n", m.Name)
	fmt.Fprintf(w, "Update group:    %s\n", orDash(m.Spec.UpdateGroup))
	fmt.Fprintf(w, "Labels:          %s\n", orDash(labels.Set(m.Labels).String()))
	fmt.Fprintf(w, "Access:          %s\n", m.Spec.Access.Mode)
	if m.Spec.Provider != nil {
		fmt.Fprintf(w, "Provider:        %s\n", m.Spec.Provider.Type)
	}
	fmt.Fprintf(w, "Health:          %s\n", health(m))
	fmt.Fprintf(w, "Version:         %s\n", orDash(st.KubernetesVersion))
	fmt.Fprintf(w, "Nodes:           %d/%d ready\n", st.Nodes.Ready, st.Nodes.Total)
	for _, v := range st.Nodes.KubeletVersions {
		fmt.Fprintf(w, "  kubelet %s: %d\n", v.Version, v.Count)
	}
	for _, v := range st.Nodes.NodeImages {
		fmt.Fprintf(w, "  image %s: %d\n", v.Version, v.Count)
	}
	for _, p := range st.Nodes.Pools {
		fmt.Fprintf(w, "  pool %s (%s): %d nodes, kubelet %s, image %s\n", p.Name, p.OS, p.Total, versionCounts(p.KubeletVersions), versionCounts(p.NodeImages))
	}
	fmt.Fprintf(w, "Failed pods:     %d\n", st.FailedPods)
	if st.LastHeartbeatTime != nil {
		fmt.Fprintf(w, "Last heartbeat:  %s (%s ago)\n", st.LastHeartbeatTime.UTC().Format(time.RFC3339), age(*st.LastHeartbeatTime))
	}
	fmt.Fprintln(w, "Conditions:")
	t := &table{headers: []string{"  TYPE", "STATUS", "REASON", "SINCE", "MESSAGE"}}
	for _, c := range st.Conditions {
		t.add("  "+c.Type, string(c.Status), c.Reason, age(c.LastTransitionTime), c.Message)
	}
	return t.write(w)
}

func newMemberUpdateCommand(g *globalOptions) *cobra.Command {
	var (
		group, labelList string
		heartbeat        int32
		lbls             map[string]string
		pf               providerFlags
		provider         *fleetv1.ProviderSpec
	)
	cmd := &cobra.Command{
		Use:   "update NAME [--update-group G] [--labels k=v,...] [--provider P ...]",
		Short: "Change a member's update group, labels, heartbeat period or provider",
		Long: `Change a member's update group, labels, heartbeat period or upgrade provider.
--labels replaces the member's labels; --update-group "" takes it out of its
group; --provider replaces the provider and all its settings.`,
		PreRunE: func(cmd *cobra.Command, _ []string) error {
			flags := cmd.Flags()
			if !flags.Changed("update-group") && !flags.Changed("labels") && !flags.Changed("heartbeat-period-seconds") && !pf.changed(flags) {
				return fmt.Errorf("nothing to update: pass --update-group, --labels, --heartbeat-period-seconds or --provider")
			}
			if err := validateGroupName(group); err != nil {
				return err
			}
			var err error
			if provider, err = pf.spec(flags); err != nil {
				return err
			}
			if flags.Changed("admin-credential") {
				return fmt.Errorf("--admin-credential is only for member create, which fetches the credentials")
			}
			lbls, err = parseLabels(labelList)
			return err
		},
	}
	memberKind.onObject(g, cmd, func(cmd *cobra.Command, hub client.WithWatch, m *fleetv1.MemberCluster) error {
		flags := cmd.Flags()
		if provider != nil {
			if provider.ClusterAPI != nil {
				ref, err := enrollment.StoreManagementKubeconfig(cmd.Context(), hub, m, pf.managementContent)
				if err != nil {
					return err
				}
				provider.ClusterAPI.ManagementKubeconfigSecretRef = ref
			}
			m.Spec.Provider = provider
		}
		if flags.Changed("update-group") {
			m.Spec.UpdateGroup = group
		}
		if flags.Changed("labels") {
			m.Labels = lbls
		}
		if flags.Changed("heartbeat-period-seconds") {
			m.Spec.HeartbeatPeriodSeconds = heartbeat
		}
		if err := hub.Update(cmd.Context(), m); err != nil {
			return fmt.Errorf("updating member %q: %w", m.Name, err)
		}
		return renderMembers(cmd, g.output, []fleetv1.MemberCluster{*m})
	})
	cmd.Flags().StringVar(&group, "update-group", "", "new update group")
	cmd.Flags().StringVar(&labelList, "labels", "", "new labels (replace the old ones), key=value pairs separated by commas")
	cmd.Flags().Int32Var(&heartbeat, "heartbeat-period-seconds", 0, "how often the hub probes the member")
	pf.register(cmd.Flags())
	return cmd
}

func newMemberDeleteCommand(g *globalOptions) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "delete NAME",
		Short: "Remove a member from the fleet (the cluster itself is untouched)",
	}
	return memberKind.onName(g, cmd, func(cmd *cobra.Command, hub client.WithWatch, name string) error {
		if err := enrollment.Remove(cmd.Context(), hub, name); err != nil {
			return err
		}
		fmt.Fprintf(cmd.OutOrStdout(), "member %q removed from the fleet\n", name)
		return nil
	})
}

// versionCounts writes versions with their node counts, e.g. "v1.37.2 (2), v1.36.3 (1)".
func versionCounts(vs []fleetv1.VersionCount) string {
	if len(vs) == 0 {
		return "-"
	}
	parts := make([]string, len(vs))
	for i, v := range vs {
		parts[i] = fmt.Sprintf("%s (%d)", v.Version, v.Count)
	}
	return strings.Join(parts, ", ")
}
