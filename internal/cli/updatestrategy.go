package cli

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"sort"
	"strings"

	"github.com/spf13/cobra"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	fleetv1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/internal/rollout"
)

func newUpdateStrategyCommand(g *globalOptions) *cobra.Command {
	cmd := &cobra.Command{
		Use:     "updatestrategy",
		Aliases: []string{"updatestrategies", "strategy"},
		Short:   "Create, inspect and delete staged-upgrade strategies",
	}
	cmd.AddCommand(newStrategyCreateCommand(g), newStrategyListCommand(g), newStrategyShowCommand(g), newStrategyDeleteCommand(g))
	return cmd
}

// parseStrategy reads --stages: JSON or YAML inline, or from a file named by
// the value itself (as `az fleet updatestrategy create --stages` takes) or
// after a leading @. A list is Azure Fleet Manager's stages and an object
// with "stages" is Azure's file, so `az fleet` input works unchanged; the
// object may also be a whole strategy spec, with Flotilla's additions
// (health checks, windows, timeouts) beside its stages, or an UpdateStrategy
// manifest.
func parseStrategy(arg string) (*fleetv1.UpdateStrategySpec, error) {
	data, source, err := readStagesArg(arg)
	if err != nil {
		return nil, err
	}
	if data, err = yaml.YAMLToJSON(data); err != nil {
		return nil, fmt.Errorf("invalid --stages: %w", err)
	}
	trimmed := bytes.TrimSpace(data)
	if len(trimmed) > 0 && trimmed[0] != '[' && trimmed[0] != '{' && !bytes.Equal(trimmed, []byte("null")) {
		if source == "" {
			return nil, fmt.Errorf("--stages: %q is neither a file nor JSON/YAML stages", arg)
		}
		return nil, fmt.Errorf("--stages: %s holds no JSON/YAML stages", source)
	}
	spec := &fleetv1.UpdateStrategySpec{}
	// A whole UpdateStrategy manifest, as for kubectl apply, gives its spec.
	var manifest struct {
		Kind string          `json:"kind"`
		Spec json.RawMessage `json:"spec"`
	}
	if json.Unmarshal(trimmed, &manifest) == nil && manifest.Kind == "UpdateStrategy" && len(manifest.Spec) > 0 {
		trimmed = manifest.Spec
	}
	var target any = spec
	if len(trimmed) > 0 && trimmed[0] == '[' {
		target = &spec.Stages
	}
	dec := json.NewDecoder(bytes.NewReader(trimmed))
	dec.DisallowUnknownFields()
	if err := dec.Decode(target); err != nil {
		return nil, fmt.Errorf("invalid --stages: %w", err)
	}
	if len(spec.Stages) == 0 {
		return nil, fmt.Errorf("--stages has no stages")
	}
	// Checked here as the hub will check it, so that a bad strategy is
	// refused before anything is written, with the field it is about.
	if err := rollout.ValidateStrategy(*spec, nil).Err(); err != nil {
		return nil, fmt.Errorf("invalid --stages:\n%w", err)
	}
	return spec, nil
}

// readStagesArg returns what --stages holds and, when it came from a file,
// the file's name: @FILE is always a file; a value that is not inline JSON
// and names an existing file is that file.
func readStagesArg(arg string) (data []byte, source string, err error) {
	if path, ok := strings.CutPrefix(arg, "@"); ok {
		if data, err = os.ReadFile(path); err != nil {
			return nil, "", fmt.Errorf("reading --stages file: %w", err)
		}
		return data, path, nil
	}
	if inline := strings.TrimSpace(arg); inline == "" || inline[0] == '[' || inline[0] == '{' {
		return []byte(arg), "", nil
	}
	if info, err := os.Stat(arg); err == nil && info.Mode().IsRegular() {
		if data, err = os.ReadFile(arg); err != nil {
			return nil, "", fmt.Errorf("reading --stages file: %w", err)
		}
		return data, arg, nil
	}
	return []byte(arg), "", nil
}

// emptyGroups lists the strategy's groups that no member belongs to.
func emptyGroups(stages []fleetv1.UpdateStage, members []fleetv1.MemberCluster) []string {
	have := map[string]bool{}
	for _, m := range members {
		have[m.Spec.UpdateGroup] = true
	}
	var empty []string
	for _, s := range stages {
		for _, gr := range s.Groups {
			if gr.MemberSelector == nil && !have[gr.Name] {
				empty = append(empty, s.Name+"/"+gr.Name)
			}
		}
	}
	return empty
}

func newStrategyCreateCommand(g *globalOptions) *cobra.Command {
	var (
		stages string
		parsed *fleetv1.UpdateStrategySpec
	)
	cmd := &cobra.Command{
		Use:   "create NAME --stages JSON|FILE",
		Short: "Create an update strategy from stages in Azure Fleet Manager's JSON shape",
		Example: `  flotilla updatestrategy create -n staged-k8s-1-29 --stages '[
    {"name": "stage-internal", "groups": [{"name": "group-dev-clusters"}], "afterStageWaitInSeconds": 14400},
    {"name": "stage-canary-prod", "groups": [{"name": "group-prod-canary-eu"}, {"name": "group-prod-canary-us"}], "afterStageWaitInSeconds": 86400},
    {"name": "stage-primary-final", "groups": [{"name": "group-prod-primary-eu"}, {"name": "group-prod-primary-us"}]}
  ]'
  flotilla updatestrategy create -n staged-k8s-1-29 --stages stages.json`,
		PreRunE: func(*cobra.Command, []string) error {
			var err error
			parsed, err = parseStrategy(stages)
			return err
		},
	}
	strategyKind.onName(g, cmd, func(cmd *cobra.Command, hub client.WithWatch, name string) error {
		s := &fleetv1.UpdateStrategy{
			ObjectMeta: metav1.ObjectMeta{Name: name},
			Spec:       *parsed,
		}
		if err := hub.Create(cmd.Context(), s); err != nil {
			if apierrors.IsAlreadyExists(err) {
				return fmt.Errorf("update strategy %q already exists", name)
			}
			return fmt.Errorf("creating update strategy %q: %w", name, err)
		}
		members := &fleetv1.MemberClusterList{}
		if err := hub.List(cmd.Context(), members); err == nil {
			for _, eg := range emptyGroups(parsed.Stages, members.Items) {
				fmt.Fprintf(cmd.ErrOrStderr(), "Warning: no member is in group %s yet (flotilla member update --update-group)\n", eg)
			}
		}
		return renderStrategies(cmd, g.output, []fleetv1.UpdateStrategy{*s})
	})
	cmd.Flags().StringVar(&stages, "stages", "", `stages as a JSON list or Azure's {"stages": [...]}, or a whole strategy spec (JSON or YAML); inline, or a FILE (also @FILE)`)
	return cmd
}

func renderStrategies(cmd *cobra.Command, format string, items []fleetv1.UpdateStrategy) error {
	sort.Slice(items, func(i, j int) bool { return items[i].Name < items[j].Name })
	for i := range items {
		items[i].APIVersion, items[i].Kind = fleetv1.GroupVersion.String(), "UpdateStrategy"
		items[i].ManagedFields = nil
	}
	var data any = items
	if len(items) == 1 && cmd.Name() != "list" {
		data = items[0]
	}
	return render(cmd.OutOrStdout(), format, data, func() *table {
		t := &table{headers: []string{"NAME", "STAGES", "GROUPS", "AGE"}}
		for _, s := range items {
			var stages, groups []string
			for _, st := range s.Spec.Stages {
				stages = append(stages, st.Name)
				for _, gr := range st.Groups {
					groups = append(groups, gr.Name)
				}
			}
			t.add(s.Name, strings.Join(stages, " → "), orDash(strings.Join(groups, ",")), age(s.CreationTimestamp))
		}
		return t
	})
}

func newStrategyListCommand(g *globalOptions) *cobra.Command {
	return &cobra.Command{
		Use:   "list",
		Short: "List update strategies",
		Args:  cobra.NoArgs,
		RunE: onHub(g, func(cmd *cobra.Command, hub client.WithWatch) error {
			list := &fleetv1.UpdateStrategyList{}
			if err := hub.List(cmd.Context(), list); err != nil {
				return fmt.Errorf("listing update strategies: %w", err)
			}
			return renderStrategies(cmd, g.output, list.Items)
		}),
	}
}

func newStrategyShowCommand(g *globalOptions) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "show NAME",
		Short: "Show an update strategy's stages, groups, waits and gates",
	}
	return strategyKind.onObject(g, cmd, func(cmd *cobra.Command, _ client.WithWatch, s *fleetv1.UpdateStrategy) error {
		if g.output != "table" {
			return renderStrategies(cmd, g.output, []fleetv1.UpdateStrategy{*s})
		}
		w := cmd.OutOrStdout()
		fmt.Fprintf(w, "Update strategy %s\n", s.Name)
		for i, st := range s.Spec.Stages {
			fmt.Fprintf(w, "%d. stage %s%s\n", i+1, st.Name, stageExtras(st))
			for _, gr := range st.Groups {
				fmt.Fprintf(w, "     group %s%s\n", gr.Name, groupExtras(gr))
			}
		}
		return nil
	})
}

func stageExtras(st fleetv1.UpdateStage) string {
	var parts []string
	if st.MaxConcurrency != nil {
		parts = append(parts, "maxConcurrency "+st.MaxConcurrency.String())
	}
	if st.MaxAllowedFailures != nil {
		parts = append(parts, "maxAllowedFailures "+st.MaxAllowedFailures.String())
	}
	if st.MemberSelector != nil {
		parts = append(parts, "members "+metav1.FormatLabelSelector(st.MemberSelector))
	}
	parts = append(parts, gateList("before", st.BeforeGates)...)
	parts = append(parts, gateList("after", st.AfterGates)...)
	if st.AfterStageWaitInSeconds > 0 {
		parts = append(parts, fmt.Sprintf("then wait %ds", st.AfterStageWaitInSeconds))
	}
	if len(parts) == 0 {
		return ""
	}
	return "  (" + strings.Join(parts, ", ") + ")"
}

func groupExtras(gr fleetv1.UpdateGroup) string {
	var parts []string
	if gr.MaxConcurrency != nil {
		parts = append(parts, "maxConcurrency "+gr.MaxConcurrency.String())
	}
	if gr.MaxAllowedFailures != nil {
		parts = append(parts, "maxAllowedFailures "+gr.MaxAllowedFailures.String())
	}
	if gr.MemberSelector != nil {
		parts = append(parts, "members "+metav1.FormatLabelSelector(gr.MemberSelector))
	}
	parts = append(parts, gateList("before", gr.BeforeGates)...)
	parts = append(parts, gateList("after", gr.AfterGates)...)
	if len(parts) == 0 {
		return ""
	}
	return "  (" + strings.Join(parts, ", ") + ")"
}

func gateList(when string, gates []fleetv1.GateConfig) []string {
	var out []string
	for _, gt := range gates {
		s := when + ": " + string(gt.Type)
		if gt.DisplayName != "" {
			s += " " + fmt.Sprintf("%q", gt.DisplayName)
		}
		if gt.Schedule != nil {
			s += " at " + gt.Schedule.StartTime + gt.Schedule.UTCOffset
			if len(gt.Schedule.DaysOfWeek) > 0 {
				s += " on " + strings.Join(gt.Schedule.DaysOfWeek, ",")
			}
		}
		out = append(out, s)
	}
	return out
}

func newStrategyDeleteCommand(g *globalOptions) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "delete NAME",
		Short: "Delete an update strategy (runs that started from it keep their snapshot)",
	}
	return strategyKind.onName(g, cmd, func(cmd *cobra.Command, hub client.WithWatch, name string) error {
		s := &fleetv1.UpdateStrategy{ObjectMeta: metav1.ObjectMeta{Name: name}}
		if err := hub.Delete(cmd.Context(), s); err != nil {
			if apierrors.IsNotFound(err) {
				return fmt.Errorf("update strategy %q not found", name)
			}
			return err
		}
		fmt.Fprintf(cmd.OutOrStdout(), "update strategy %q deleted\n", name)
		return nil
	})
}
