package cli

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/spf13/cobra"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	fleetv1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/internal/autoupgrade"
)

// profileNameMax leaves room in the names of a profile's runs for the
// target (the API refuses longer names too).
const profileNameMax = 40

var profileKind = objectKind[*fleetv1.AutoUpgradeProfile]{
	noun: "auto-upgrade profile", newObject: func() *fleetv1.AutoUpgradeProfile { return &fleetv1.AutoUpgradeProfile{} },
	dnsLabel: true, maxNameLength: profileNameMax,
	whyMaxLength: func(string) string { return "so that the names of its runs, which add the target, fit in a label" },
}

func newAutoUpgradeProfileCommand(g *globalOptions) *cobra.Command {
	cmd := &cobra.Command{
		Use:     "autoupgradeprofile",
		Aliases: []string{"autoupgradeprofiles", "aup"},
		Short:   "Create, inspect and delete auto-upgrade profiles: update runs generated when a channel's version appears",
	}
	cmd.AddCommand(newProfileCreateCommand(g), newProfileListCommand(g), newProfileShowCommand(g),
		newProfileDeleteCommand(g), newProfileGenerateCommand(g))
	return cmd
}

func newProfileCreateCommand(g *globalOptions) *cobra.Command {
	var (
		channel, target, strategy, nodeImages string
		autoStart, disabled, lts              bool
		spec                                  fleetv1.AutoUpgradeProfileSpec
	)
	cmd := &cobra.Command{
		Use:   "create NAME --channel Stable|Rapid|NodeImage|TargetKubernetesVersion",
		Short: "Create an auto-upgrade profile, as `az fleet autoupgradeprofile create` does",
		Example: `  flotilla autoupgradeprofile create -n stable --channel Stable --update-strategy staged
  flotilla autoupgradeprofile create -n to-1-37 --channel TargetKubernetesVersion --target-kubernetes-version 1.37 --auto-start
  flotilla autoupgradeprofile create -n images --channel NodeImage --node-image-selection Consistent`,
		PreRunE: func(*cobra.Command, []string) error {
			var err error
			spec, err = profileSpec(channel, target, strategy, nodeImages)
			spec.AutoStart, spec.Disabled, spec.LongTermSupport = autoStart, disabled, lts
			return err
		},
	}
	profileKind.onName(g, cmd, func(cmd *cobra.Command, hub client.WithWatch, name string) error {
		p := &fleetv1.AutoUpgradeProfile{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: spec}
		if spec.UpdateStrategyName != "" {
			if _, err := strategyKind.get(cmd.Context(), hub, spec.UpdateStrategyName); err != nil {
				return err
			}
		}
		if err := hub.Create(cmd.Context(), p); err != nil {
			if apierrors.IsAlreadyExists(err) {
				return fmt.Errorf("auto-upgrade profile %q already exists", name)
			}
			return fmt.Errorf("creating auto-upgrade profile %q: %w", name, err)
		}
		if lts {
			fmt.Fprintln(cmd.ErrOrStderr(), "Note: no upgrade provider lists long-term-support versions separately; the channel picks from the versions the providers offer")
		}
		return renderProfiles(cmd, g.output, []fleetv1.AutoUpgradeProfile{*p})
	})
	f := cmd.Flags()
	f.StringVar(&channel, "channel", "", "Stable (newest patch of the minor before the newest offered), Rapid (newest patch of the newest minor), NodeImage (node images only) or TargetKubernetesVersion")
	f.StringVar(&target, "target-kubernetes-version", "", "the minor a TargetKubernetesVersion profile keeps members on, e.g. 1.37 (never past it)")
	f.StringVar(&strategy, "update-strategy", "", "update strategy the generated runs follow (default: one stage with every member)")
	f.StringVar(&nodeImages, "node-image-selection", "", "Latest (default) or Consistent")
	f.BoolVar(&autoStart, "auto-start", false, "start the generated runs (default: they wait NotStarted for `flotilla updaterun start`)")
	f.BoolVar(&disabled, "disabled", false, "create the profile disabled: it generates nothing until enabled or asked with generate-update-run")
	f.BoolVar(&lts, "long-term-support", false, "ask for long-term-support versions (recorded; no provider lists them separately yet)")
	return cmd
}

// profileSpec checks the flags of `create` as the API will, so that a bad
// profile is refused before the hub is asked.
func profileSpec(channel, target, strategy, nodeImages string) (fleetv1.AutoUpgradeProfileSpec, error) {
	spec := fleetv1.AutoUpgradeProfileSpec{Channel: fleetv1.UpgradeChannel(channel), TargetKubernetesVersion: target, UpdateStrategyName: strategy}
	switch spec.Channel {
	case fleetv1.ChannelTargetKubernetesVersion:
		if target == "" {
			return spec, fmt.Errorf("--channel TargetKubernetesVersion needs --target-kubernetes-version MINOR (e.g. 1.37)")
		}
		if v := strings.TrimPrefix(target, "v"); strings.Count(v, ".") != 1 {
			return spec, fmt.Errorf("--target-kubernetes-version is a minor such as 1.37, not %q", target)
		}
	case fleetv1.ChannelStable, fleetv1.ChannelRapid, fleetv1.ChannelNodeImage:
		if target != "" {
			return spec, fmt.Errorf("--target-kubernetes-version goes with --channel TargetKubernetesVersion, not %s", channel)
		}
	case "":
		return spec, fmt.Errorf("--channel is required: Stable, Rapid, NodeImage or TargetKubernetesVersion")
	default:
		return spec, fmt.Errorf("--channel must be Stable, Rapid, NodeImage or TargetKubernetesVersion, not %q", channel)
	}
	switch sel := fleetv1.NodeImageSelectionType(nodeImages); sel {
	case "":
	case fleetv1.NodeImageLatest, fleetv1.NodeImageConsistent:
		spec.NodeImageSelection = &fleetv1.NodeImageSelection{Type: sel}
	default:
		return spec, fmt.Errorf("--node-image-selection must be Latest or Consistent, not %q", nodeImages)
	}
	return spec, nil
}

func renderProfiles(cmd *cobra.Command, format string, items []fleetv1.AutoUpgradeProfile) error {
	sort.Slice(items, func(i, j int) bool { return items[i].Name < items[j].Name })
	for i := range items {
		items[i].APIVersion, items[i].Kind, items[i].ManagedFields = fleetv1.GroupVersion.String(), "AutoUpgradeProfile", nil
	}
	var data any = items
	if len(items) == 1 && cmd.Name() != "list" {
		data = items[0]
	}
	return render(cmd.OutOrStdout(), format, data, func() *table {
		t := &table{headers: []string{"NAME", "CHANNEL", "TARGET", "STRATEGY", "AUTO-START", "DISABLED", "LAST TRIGGER", "RUN", "AGE"}}
		for _, p := range items {
			t.add(p.Name, string(p.Spec.Channel), orDash(p.Spec.TargetKubernetesVersion), orDash(p.Spec.UpdateStrategyName),
				fmt.Sprint(p.Spec.AutoStart), fmt.Sprint(p.Spec.Disabled), orDash(string(p.Status.LastTriggerStatus)),
				orDash(p.Status.GeneratedUpdateRun), age(p.CreationTimestamp))
		}
		return t
	})
}

func newProfileListCommand(g *globalOptions) *cobra.Command {
	return &cobra.Command{
		Use:   "list",
		Short: "List auto-upgrade profiles with what they last generated",
		Args:  cobra.NoArgs,
		RunE: onHub(g, func(cmd *cobra.Command, hub client.WithWatch) error {
			list := &fleetv1.AutoUpgradeProfileList{}
			if err := hub.List(cmd.Context(), list); err != nil {
				return fmt.Errorf("listing auto-upgrade profiles: %w", err)
			}
			return renderProfiles(cmd, g.output, list.Items)
		}),
	}
}

func newProfileShowCommand(g *globalOptions) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "show NAME",
		Short: "Show an auto-upgrade profile: its channel, what it last generated and why",
	}
	return profileKind.onObject(g, cmd, func(cmd *cobra.Command, _ client.WithWatch, p *fleetv1.AutoUpgradeProfile) error {
		if g.output != "table" {
			return renderProfiles(cmd, g.output, []fleetv1.AutoUpgradeProfile{*p})
		}
		w := cmd.OutOrStdout()
		channel := string(p.Spec.Channel)
		if p.Spec.TargetKubernetesVersion != "" {
			channel += " " + p.Spec.TargetKubernetesVersion
		}
		fmt.Fprintf(w, "Auto-upgrade profile %s\n", p.Name)
		fmt.Fprintf(w, "  channel:              %s\n", channel)
		fmt.Fprintf(w, "  update strategy:      %s\n", orDefault(p.Spec.UpdateStrategyName, "(one stage, every member)"))
		if p.Spec.NodeImageSelection != nil {
			fmt.Fprintf(w, "  node image selection: %s\n", p.Spec.NodeImageSelection.Type)
		}
		fmt.Fprintf(w, "  auto-start:           %v\n  disabled:             %v\n", p.Spec.AutoStart, p.Spec.Disabled)
		if p.Spec.LongTermSupport {
			fmt.Fprintln(w, "  long-term support:    asked (no provider lists LTS versions separately)")
		}
		st := p.Status
		if st.LastTriggerStatus != "" {
			at := "-"
			if st.LastTriggeredAt != nil {
				at = st.LastTriggeredAt.UTC().Format(time.RFC3339)
			}
			fmt.Fprintf(w, "  last trigger:         %s at %s\n", st.LastTriggerStatus, at)
		}
		if st.GeneratedUpdateRun != "" {
			fmt.Fprintf(w, "  generated run:        %s (%s)\n", st.GeneratedUpdateRun, strings.Join(st.LastTriggerUpgradeVersions, ", "))
		}
		if st.LastTriggerError != "" {
			fmt.Fprintf(w, "  error:                %s\n", st.LastTriggerError)
		}
		if c := meta.FindStatusCondition(st.Conditions, fleetv1.ProfileReady); c != nil {
			fmt.Fprintf(w, "  %s:%s%s\n", c.Reason, strings.Repeat(" ", max(1, 22-len(c.Reason))), c.Message)
		}
		return nil
	})
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

func newProfileDeleteCommand(g *globalOptions) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "delete NAME",
		Short: "Delete an auto-upgrade profile (its runs are owned by it: a hub with a garbage collector deletes them; local hubs keep them)",
	}
	return profileKind.onName(g, cmd, func(cmd *cobra.Command, hub client.WithWatch, name string) error {
		p := &fleetv1.AutoUpgradeProfile{ObjectMeta: metav1.ObjectMeta{Name: name}}
		if err := hub.Delete(cmd.Context(), p); err != nil {
			if apierrors.IsNotFound(err) {
				return fmt.Errorf("auto-upgrade profile %q not found", name)
			}
			return err
		}
		fmt.Fprintf(cmd.OutOrStdout(), "auto-upgrade profile %q deleted\n", name)
		return nil
	})
}

func newProfileGenerateCommand(g *globalOptions) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "generate-update-run NAME",
		Short: "Generate the profile's update run now, whatever the schedule, even when the profile is disabled",
		Long: `Generate the profile's update run now. The CLI decides as the hub's controller does (the members'
versions as the hub last observed them, the versions their providers offer), creates the run and
prints it with what the plan says; the profile's status records it at the controller's next look.
Nothing is generated, and the command fails saying why, when every member is up to date, the run
for the target exists already, or a run the profile generated earlier has not finished.`,
	}
	return profileKind.onObject(g, cmd, func(cmd *cobra.Command, hub client.WithWatch, p *fleetv1.AutoUpgradeProfile) error {
		ctx := cmd.Context()
		in, err := autoupgrade.Gather(ctx, hub, assessmentProviders(hub), p, true)
		if err != nil {
			return err
		}
		d := autoupgrade.Decide(in)
		if !d.Generate {
			return fmt.Errorf("no update run generated: %s", d.Reason)
		}
		run := autoupgrade.Run(p, d)
		if err := hub.Create(ctx, run); err != nil {
			return fmt.Errorf("creating update run %s: %w", run.Name, err)
		}
		// Have the controller look now and record the run in the status.
		stamp := fmt.Sprintf(`{"metadata":{"annotations":{%q:%q}}}`, fleetv1.GenerateRequestAnnotation, time.Now().UTC().Format(time.RFC3339Nano))
		if err := hub.Patch(ctx, p, client.RawPatch(types.MergePatchType, []byte(stamp))); err != nil {
			fmt.Fprintf(cmd.ErrOrStderr(), "Warning: the run is created, but the profile could not be marked for the controller: %v\n", err)
		}
		if g.output != "table" {
			return renderRuns(cmd, g.output, []fleetv1.UpdateRun{*run})
		}
		w := cmd.OutOrStdout()
		fmt.Fprintf(w, "update run %s generated: %s\n", run.Name, d.Reason)
		for _, n := range d.Notes {
			fmt.Fprintf(w, "  %s\n", n)
		}
		if run.Spec.State == fleetv1.RunNotStarted {
			fmt.Fprintf(w, "it waits NotStarted: flotilla updaterun plan %s, then flotilla updaterun start %s\n", run.Name, run.Name)
		}
		return nil
	})
}
