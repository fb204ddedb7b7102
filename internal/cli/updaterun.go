package cli

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/spf13/cobra"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	fleetv1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/internal/rollout"
	"github.com/flotilla-dev/flotilla/internal/runinput"
)

func newUpdateRunCommand(g *globalOptions) *cobra.Command {
	cmd := &cobra.Command{
		Use:     "updaterun",
		Aliases: []string{"updateruns", "run"},
		Short:   "Staged upgrades of the fleet: create, start, stop, skip, watch",
	}
	cmd.AddCommand(
		newRunCreateCommand(g), newRunStartCommand(g), newRunRetryCommand(g), newRunStopCommand(g), newRunSkipCommand(g),
		newRunListCommand(g), newRunShowCommand(g), newRunDeleteCommand(g), newRunWaitCommand(g),
		newRunWatchCommand(g), newRunPlanCommand(g),
	)
	return cmd
}

func newRunCreateCommand(g *globalOptions) *cobra.Command {
	var (
		upgradeType, version, strategyName, stages, nodeImage string
		customImages                                          []string
		start, force                                          bool
		spec                                                  fleetv1.UpdateRunSpec
	)
	cmd := &cobra.Command{
		Use:   "create NAME --upgrade-type Full|ControlPlaneOnly|NodeImageOnly [--kubernetes-version V] [--update-strategy-name S | --stages JSON]",
		Short: "Create an update run (it does not start until `updaterun start`)",
		Example: `  flotilla updaterun create -n k8s-1-37-rollout --upgrade-type Full --kubernetes-version 1.37.2 --update-strategy-name staged-rollout
  flotilla updaterun create -n node-images --upgrade-type NodeImageOnly --node-image-selection Consistent --stages @stages.json
  flotilla updaterun create -n pinned-images --upgrade-type NodeImageOnly --node-image-selection Custom --custom-node-image-versions flotilla-node-v1.37.2-202611.1 --stages @stages.json`,
		PreRunE: func(*cobra.Command, []string) error {
			spec = fleetv1.UpdateRunSpec{
				UpdateStrategyName: strategyName,
				ManagedClusterUpdate: fleetv1.ManagedClusterUpdate{
					Upgrade: fleetv1.UpgradeSpec{Type: fleetv1.UpgradeType(upgradeType), KubernetesVersion: version},
				},
				State: fleetv1.RunNotStarted,
			}
			switch spec.ManagedClusterUpdate.Upgrade.Type {
			case fleetv1.UpgradeFull, fleetv1.UpgradeControlPlaneOnly:
				if version == "" {
					return fmt.Errorf("--kubernetes-version is required for a %s upgrade", upgradeType)
				}
			case fleetv1.UpgradeNodeImageOnly:
				if version != "" {
					return fmt.Errorf("--kubernetes-version must not be set for a NodeImageOnly upgrade")
				}
			default:
				return fmt.Errorf("--upgrade-type must be Full, ControlPlaneOnly or NodeImageOnly")
			}
			sel, err := parseNodeImageSelection(nodeImage, customImages)
			if err != nil {
				return err
			}
			spec.ManagedClusterUpdate.NodeImageSelection = sel
			if strategyName != "" && stages != "" {
				return fmt.Errorf("pass --update-strategy-name or --stages, not both")
			}
			if stages != "" {
				var err error
				spec.Strategy, err = parseStrategy(stages)
				return err
			}
			return nil
		},
	}
	runKind.onName(g, cmd, func(cmd *cobra.Command, hub client.WithWatch, name string) error {
		strategy := spec.Strategy
		if strategyName != "" {
			s, err := strategyKind.get(cmd.Context(), hub, strategyName)
			if err != nil {
				return err
			}
			strategy = &s.Spec
		}
		members := &fleetv1.MemberClusterList{}
		if err := hub.List(cmd.Context(), members); err != nil {
			return fmt.Errorf("listing members: %w", err)
		}
		if strategy != nil {
			if empty := emptyGroups(strategy.Stages, members.Items); len(empty) > 0 {
				return fmt.Errorf("the strategy's groups %s have no members: assign members with `flotilla member update --update-group`", strings.Join(empty, ", "))
			}
		}
		run := &fleetv1.UpdateRun{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: *spec.DeepCopy()}
		plan, req, notes, err := makePlan(cmd.Context(), hub, run)
		if err != nil {
			return fmt.Errorf("the run cannot be planned: %w", err)
		}
		if err := plan.Problems.Err(); err != nil {
			return fmt.Errorf("the strategy cannot run: %w", err)
		}
		if refused := refusals(plan); len(refused) > 0 && !force {
			if g.output == "table" {
				drawPlan(cmd.ErrOrStderr(), run, plan, req, notes)
			}
			return fmt.Errorf("refusing to create the run: %s (pass --force to create it anyway; refused members fail when reached)", strings.Join(refused, "; "))
		}
		if start {
			run.Spec.State = fleetv1.RunStarted
		}
		if err := hub.Create(cmd.Context(), run); err != nil {
			if apierrors.IsAlreadyExists(err) {
				return fmt.Errorf("update run %q already exists", name)
			}
			return fmt.Errorf("creating update run %q: %w", name, err)
		}
		if g.output != "table" {
			return renderRuns(cmd, g.output, []fleetv1.UpdateRun{*run})
		}
		drawPlan(cmd.OutOrStdout(), run, plan, req, notes)
		fmt.Fprintf(cmd.OutOrStdout(), "update run %q created", name)
		if !start {
			fmt.Fprintf(cmd.OutOrStdout(), "; start it with: flotilla updaterun start -n %s", name)
		}
		fmt.Fprintln(cmd.OutOrStdout())
		return nil
	})
	f := cmd.Flags()
	f.StringVar(&upgradeType, "upgrade-type", "", "Full, ControlPlaneOnly or NodeImageOnly")
	f.StringVar(&version, "kubernetes-version", "", "target Kubernetes version, e.g. 1.37.2 (Full and ControlPlaneOnly)")
	f.StringVar(&strategyName, "update-strategy-name", "", "update strategy to follow")
	f.StringVar(&stages, "stages", "", `inline strategy: a JSON list of stages or Azure's {"stages": [...]}, or a whole strategy spec (JSON or YAML); inline, or a FILE (also @FILE)`)
	f.StringVar(&nodeImage, "node-image-selection", "", "Latest (each member's newest image when its nodes upgrade; the default), Consistent (the images chosen when the run starts, the same for all members) or Custom")
	f.StringSliceVar(&customImages, "custom-node-image-versions", nil, "node images of a Custom selection, comma-separated; each node pool gets the one its provider offers for it")
	f.BoolVar(&start, "start", false, "start the run right away")
	f.BoolVar(&force, "force", false, "create the run even if the plan refuses some members (a downgrade, a minor-version jump)")
	return cmd
}

func newRunStartCommand(g *globalOptions) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "start NAME",
		Short: "Start an update run, or resume one that is Stopping, Stopped or Failed from where it was",
	}
	return runKind.onObject(g, cmd, func(cmd *cobra.Command, hub client.WithWatch, run *fleetv1.UpdateRun) error {
		if err := rollout.CheckTransition(run.Status.State, fleetv1.RunStarted); err != nil {
			return fmt.Errorf("update run %q: %w", run.Name, err)
		}
		// Legal but pointless: a run on its way needs no second start. (A
		// Stopping run that was asked to stop may start again; one Stopping
		// on a failure resumes once Failed.)
		if run.Spec.State == fleetv1.RunStarted && run.Status.State != fleetv1.StateFailed && run.Status.State != fleetv1.StateStopped {
			return fmt.Errorf("update run %q is already started (%s)", run.Name, runState(run))
		}
		// A new start request lets a Failed run, whose spec.state is already
		// Started, resume.
		patch := client.MergeFrom(run.DeepCopy())
		run.Spec.State = fleetv1.RunStarted
		if run.Annotations == nil {
			run.Annotations = map[string]string{}
		}
		run.Annotations[fleetv1.StartRequestAnnotation] = time.Now().UTC().Format(time.RFC3339Nano)
		// A plain start retries every failed member, whatever an earlier
		// retry named.
		delete(run.Annotations, fleetv1.RetryMembersAnnotation)
		if err := hub.Patch(cmd.Context(), run, patch); err != nil {
			return fmt.Errorf("starting run %q: %w", run.Name, err)
		}
		fmt.Fprintf(cmd.OutOrStdout(), "update run %q started; follow it with: flotilla updaterun watch -n %s\n", run.Name, run.Name)
		return nil
	})
}

func newRunStopCommand(g *globalOptions) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "stop NAME",
		Short: "Stop an update run: upgrades in flight finish, nothing new starts",
	}
	return runKind.onObject(g, cmd, func(cmd *cobra.Command, hub client.WithWatch, run *fleetv1.UpdateRun) error {
		if err := rollout.CheckTransition(run.Status.State, fleetv1.RunStopped); err != nil {
			return fmt.Errorf("update run %q: %w", run.Name, err)
		}
		if run.Status.State == fleetv1.StateStopped {
			return fmt.Errorf("update run %q is already Stopped", run.Name)
		}
		patch := client.MergeFrom(run.DeepCopy())
		run.Spec.State = fleetv1.RunStopped
		if err := hub.Patch(cmd.Context(), run, patch); err != nil {
			return fmt.Errorf("stopping run %q: %w", run.Name, err)
		}
		fmt.Fprintf(cmd.OutOrStdout(), "update run %q stopping: upgrades in flight finish first\n", run.Name)
		return nil
	})
}

// parseNodeImageSelection reads --node-image-selection and
// --custom-node-image-versions; nil means the default, Latest.
func parseNodeImageSelection(selection string, custom []string) (*fleetv1.NodeImageSelection, error) {
	sel := fleetv1.NodeImageSelectionType(selection)
	switch sel {
	case "":
		if len(custom) > 0 {
			return nil, fmt.Errorf("--custom-node-image-versions needs --node-image-selection Custom")
		}
		return nil, nil
	case fleetv1.NodeImageLatest, fleetv1.NodeImageConsistent:
		if len(custom) > 0 {
			return nil, fmt.Errorf("--custom-node-image-versions needs --node-image-selection Custom, not %s", sel)
		}
		return &fleetv1.NodeImageSelection{Type: sel}, nil
	case fleetv1.NodeImageCustom:
		out := &fleetv1.NodeImageSelection{Type: sel}
		for _, c := range custom {
			if c = strings.TrimSpace(c); c != "" {
				out.CustomNodeImageVersions = append(out.CustomNodeImageVersions, fleetv1.NodeImageVersion{Version: c})
			}
		}
		if len(out.CustomNodeImageVersions) == 0 {
			return nil, fmt.Errorf("--node-image-selection Custom needs --custom-node-image-versions IMAGE[,IMAGE...]")
		}
		return out, nil
	}
	return nil, fmt.Errorf("--node-image-selection must be Latest, Consistent or Custom, not %q", selection)
}

// parseSkipTargets reads "Stage:x Group:y Member:z AfterStageWait:s".
func parseSkipTargets(args []string) ([]fleetv1.SkipTarget, error) {
	var out []fleetv1.SkipTarget
	for _, a := range args {
		for _, item := range strings.Split(a, ",") {
			kind, name, ok := strings.Cut(strings.TrimSpace(item), ":")
			t := fleetv1.SkipTargetType(kind)
			switch t {
			case fleetv1.SkipMember, fleetv1.SkipGroup, fleetv1.SkipStage, fleetv1.SkipAfterStageWait:
			default:
				ok = false
			}
			if !ok || name == "" {
				return nil, fmt.Errorf("--targets: invalid skip target %q: want Member:NAME, Group:NAME, Stage:NAME or AfterStageWait:STAGE", item)
			}
			out = append(out, fleetv1.SkipTarget{Type: t, Name: name})
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("--targets is required")
	}
	return out, nil
}

// knownTarget checks that a skip target names something in the run's strategy.
func knownTarget(run *fleetv1.UpdateRun, strategy *fleetv1.UpdateStrategySpec, t fleetv1.SkipTarget) bool {
	if t.Type == fleetv1.SkipMember {
		for _, st := range run.Status.Stages {
			for _, gr := range st.Groups {
				for _, m := range gr.Members {
					if m.Name == t.Name {
						return true
					}
				}
			}
		}
		return len(run.Status.Stages) == 0 // not resolved yet: the controller reports unknown members
	}
	for _, st := range strategy.Stages {
		if (t.Type == fleetv1.SkipStage || t.Type == fleetv1.SkipAfterStageWait) && st.Name == t.Name {
			return true
		}
		for _, gr := range st.Groups {
			if t.Type == fleetv1.SkipGroup && gr.Name == t.Name {
				return true
			}
		}
	}
	return false
}

func newRunSkipCommand(g *globalOptions) *cobra.Command {
	var (
		targets []string
		parsed  []fleetv1.SkipTarget
	)
	cmd := &cobra.Command{
		Use:     "skip NAME --targets Stage:x Group:y ...",
		Short:   "Skip members, groups, stages or after-stage waits of an update run",
		Example: `  flotilla updaterun skip -n k8s-1-37-rollout --targets Stage:stage-canary-prod AfterStageWait:stage-internal`,
		// Arguments after NAME are more targets.
		Args: cobra.ArbitraryArgs,
		PreRunE: func(cmd *cobra.Command, args []string) error {
			var err error
			parsed, err = parseSkipTargets(append(targets, argsAfterName(cmd, args)...))
			return err
		},
	}
	runKind.onObject(g, cmd, func(cmd *cobra.Command, hub client.WithWatch, run *fleetv1.UpdateRun) error {
		if run.Status.State == fleetv1.StateCompleted {
			return fmt.Errorf("update run %q is Completed: nothing left to skip", run.Name)
		}
		strategy, err := runinput.Strategy(cmd.Context(), hub, run)
		if err != nil {
			return fmt.Errorf("update run %q: %w", run.Name, err)
		}
		patch := client.MergeFrom(run.DeepCopy())
		for _, t := range parsed {
			if !knownTarget(run, strategy, t) {
				return fmt.Errorf("update run %q has no %s named %q", run.Name, strings.ToLower(string(t.Type)), t.Name)
			}
			if !containsTarget(run.Spec.Skip, t) {
				run.Spec.Skip = append(run.Spec.Skip, t)
			}
		}
		if err := hub.Patch(cmd.Context(), run, patch); err != nil {
			return fmt.Errorf("updating run %q: %w", run.Name, err)
		}
		fmt.Fprintf(cmd.OutOrStdout(), "update run %q will skip %d target(s)\n", run.Name, len(parsed))
		return nil
	})
	cmd.Flags().StringSliceVar(&targets, "targets", nil, "what to skip: Member:NAME, Group:NAME, Stage:NAME, AfterStageWait:STAGE")
	return cmd
}

func containsTarget(list []fleetv1.SkipTarget, t fleetv1.SkipTarget) bool {
	for _, x := range list {
		if x == t {
			return true
		}
	}
	return false
}

func renderRuns(cmd *cobra.Command, format string, runs []fleetv1.UpdateRun) error {
	sort.Slice(runs, func(i, j int) bool { return runs[i].CreationTimestamp.Before(&runs[j].CreationTimestamp) })
	for i := range runs {
		runs[i].APIVersion, runs[i].Kind, runs[i].ManagedFields = fleetv1.GroupVersion.String(), "UpdateRun", nil
	}
	var data any = runs
	if len(runs) == 1 && cmd.Name() != "list" {
		data = runs[0]
	}
	return render(cmd.OutOrStdout(), format, data, func() *table {
		t := &table{headers: []string{"NAME", "STATE", "UPGRADE", "VERSION", "STRATEGY", "PROGRESS", "CURRENT STAGE", "AGE"}}
		for _, r := range runs {
			strategy := r.Spec.UpdateStrategyName
			if strategy == "" && r.Spec.Strategy != nil {
				strategy = "(inline)"
			}
			t.add(r.Name, orDash(runState(&r)), string(r.Spec.ManagedClusterUpdate.Upgrade.Type),
				orDash(r.Spec.ManagedClusterUpdate.Upgrade.KubernetesVersion), orDash(strategy),
				fmt.Sprintf("%d/%d", r.Status.MembersDone, r.Status.MembersTotal), orDash(r.Status.CurrentStage), age(r.CreationTimestamp))
		}
		return t
	})
}

// runState is the observed state, or NotStarted before the controller saw the run.
func runState(r *fleetv1.UpdateRun) string {
	if r.Status.State == "" {
		return string(fleetv1.StateNotStarted)
	}
	return string(r.Status.State)
}

func newRunListCommand(g *globalOptions) *cobra.Command {
	return &cobra.Command{
		Use:   "list",
		Short: "List update runs with their state and progress",
		Args:  cobra.NoArgs,
		RunE: onHub(g, func(cmd *cobra.Command, hub client.WithWatch) error {
			list := &fleetv1.UpdateRunList{}
			if err := hub.List(cmd.Context(), list); err != nil {
				return fmt.Errorf("listing update runs: %w", err)
			}
			return renderRuns(cmd, g.output, list.Items)
		}),
	}
}

func newRunShowCommand(g *globalOptions) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "show NAME",
		Short: "Show an update run as a tree: stages, groups, members, gates and waits",
	}
	return runKind.onObject(g, cmd, func(cmd *cobra.Command, hub client.WithWatch, run *fleetv1.UpdateRun) error {
		if g.output != "table" {
			return renderRuns(cmd, g.output, []fleetv1.UpdateRun{*run})
		}
		drawRun(cmd.OutOrStdout(), run, time.Now())
		joined, err := joinedAfterStart(cmd.Context(), hub, run)
		if err != nil {
			return err
		}
		if len(joined) > 0 {
			fmt.Fprintf(cmd.OutOrStdout(), "Joined after start (the run keeps the members it started with; not upgraded by it): %s\n", strings.Join(joined, ", "))
		}
		return nil
	})
}

// joinedAfterStart lists the members the run's strategy would pick now but
// the run did not start with: a run's members are fixed when it starts.
func joinedAfterStart(ctx context.Context, hub client.Client, run *fleetv1.UpdateRun) ([]string, error) {
	if len(run.Status.Stages) == 0 || run.Status.StrategySnapshot == nil {
		return nil, nil
	}
	list := &fleetv1.MemberClusterList{}
	if err := hub.List(ctx, list); err != nil {
		return nil, fmt.Errorf("listing members: %w", err)
	}
	res, err := rollout.Resolve(*run.Status.StrategySnapshot, runinput.Members(list.Items))
	if err != nil {
		return nil, nil //nolint:nilerr // a strategy that no longer resolves has no newcomers to show; the run's own status says the rest
	}
	inRun := map[string]bool{}
	for _, st := range run.Status.Stages {
		for _, g := range st.Groups {
			for _, m := range g.Members {
				inRun[m.Name] = true
			}
		}
	}
	var out []string
	for _, st := range res.Stages {
		for _, g := range st.Groups {
			for _, m := range g.Members {
				if !inRun[m] {
					out = append(out, m)
				}
			}
		}
	}
	slices.Sort(out)
	return out, nil
}

func newRunDeleteCommand(g *globalOptions) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "delete NAME",
		Short: "Delete an update run (refused while it is Running or Stopping)",
	}
	return runKind.onObject(g, cmd, func(cmd *cobra.Command, hub client.WithWatch, run *fleetv1.UpdateRun) error {
		switch run.Status.State {
		case fleetv1.StateRunning, fleetv1.StateStopping:
			return fmt.Errorf("update run %q is %s: stop it first (flotilla updaterun stop -n %s)", run.Name, run.Status.State, run.Name)
		}
		if err := hub.Delete(cmd.Context(), run); err != nil {
			return fmt.Errorf("deleting update run %q: %w", run.Name, client.IgnoreNotFound(err))
		}
		fmt.Fprintf(cmd.OutOrStdout(), "update run %q deleted\n", run.Name)
		return nil
	})
}

func newRunWaitCommand(g *globalOptions) *cobra.Command {
	var timeout time.Duration
	cmd := &cobra.Command{
		Use:   "wait NAME [--timeout D]",
		Short: "Wait until an update run ends; exit 0 only if it Completed",
	}
	runKind.onName(g, cmd, func(cmd *cobra.Command, hub client.WithWatch, name string) error {
		last := ""
		err := follow(cmd.Context(), hub, name, timeout, func(r *fleetv1.UpdateRun) {
			line := fmt.Sprintf("%s: %s, %d/%d members done", name, runState(r), r.Status.MembersDone, r.Status.MembersTotal)
			if r.Status.CurrentStage != "" {
				line += ", stage " + r.Status.CurrentStage
			}
			if line != last {
				fmt.Fprintf(cmd.ErrOrStderr(), "%s %s\n", time.Now().Format("15:04:05"), line)
				last = line
			}
		})
		if err == nil {
			fmt.Fprintf(cmd.OutOrStdout(), "update run %q Completed\n", name)
		}
		return err
	})
	cmd.Flags().DurationVar(&timeout, "timeout", 0, "give up after this long (e.g. 30m); 0 waits forever")
	return cmd
}

func newRunWatchCommand(g *globalOptions) *cobra.Command {
	var timeout time.Duration
	cmd := &cobra.Command{
		Use:   "watch NAME",
		Short: "Draw an update run's tree live until it ends",
	}
	runKind.onName(g, cmd, func(cmd *cobra.Command, hub client.WithWatch, name string) error {
		out := cmd.OutOrStdout()
		tty := isTerminal(out)
		return follow(cmd.Context(), hub, name, timeout, func(r *fleetv1.UpdateRun) {
			if tty {
				fmt.Fprint(out, "\033[H\033[2J")
			} else {
				fmt.Fprintln(out, strings.Repeat("-", 60))
			}
			drawRun(out, r, time.Now())
		})
	})
	cmd.Flags().DurationVar(&timeout, "timeout", 0, "stop watching after this long; 0 watches until the run ends")
	return cmd
}

func newRunRetryCommand(g *globalOptions) *cobra.Command {
	var only []string
	cmd := &cobra.Command{
		Use:   "retry NAME [--members a,b]",
		Short: "Try the failed members of a Failed or Stopped run again, with the same settings",
		Long: `Try the failed members of a Failed or Stopped update run again, with the
run's own strategy, target and node images; completed and skipped members are
not touched. --members retries only the named failed members: the others stay
Failed and count against the budget once those are done, so a fail-fast group
still fails if any of them is left. Each member keeps its earlier attempts in
status.stages[].groups[].members[].previousAttempts.`,
		Example: `  flotilla updaterun retry -n upgrade-1-37
  flotilla updaterun retry -n upgrade-1-37 --members aks-eus-2,aks-weu-1`,
	}
	cmd.Flags().StringSliceVar(&only, "members", nil, "retry only these failed members (comma-separated)")
	return runKind.onObject(g, cmd, func(cmd *cobra.Command, hub client.WithWatch, run *fleetv1.UpdateRun) error {
		if run.Status.State != fleetv1.StateFailed && run.Status.State != fleetv1.StateStopped {
			return fmt.Errorf("update run %q is %s: only a Failed or Stopped run has members to retry", run.Name, runState(run))
		}
		failed := map[string]bool{}
		for _, st := range run.Status.Stages {
			for _, gr := range st.Groups {
				for _, m := range gr.Members {
					if m.State == fleetv1.StateFailed {
						failed[m.Name] = true
					}
				}
			}
		}
		if len(failed) == 0 && run.Status.State == fleetv1.StateFailed {
			return fmt.Errorf("update run %q has no failed member to retry (it failed on a gate or check: start it again with flotilla updaterun start)", run.Name)
		}
		for _, name := range only {
			if !failed[name] {
				return fmt.Errorf("member %q has not failed in update run %q: retry takes failed members (%s)", name, run.Name, orDash(strings.Join(slices.Sorted(maps.Keys(failed)), ", ")))
			}
		}
		patch := client.MergeFrom(run.DeepCopy())
		run.Spec.State = fleetv1.RunStarted
		if run.Annotations == nil {
			run.Annotations = map[string]string{}
		}
		run.Annotations[fleetv1.StartRequestAnnotation] = time.Now().UTC().Format(time.RFC3339Nano)
		if len(only) > 0 {
			run.Annotations[fleetv1.RetryMembersAnnotation] = strings.Join(only, ",")
		} else {
			delete(run.Annotations, fleetv1.RetryMembersAnnotation)
		}
		if err := hub.Patch(cmd.Context(), run, patch); err != nil {
			return fmt.Errorf("retrying run %q: %w", run.Name, err)
		}
		what := "every failed member"
		if len(only) > 0 {
			what = strings.Join(only, ", ")
		}
		fmt.Fprintf(cmd.OutOrStdout(), "update run %q: retrying %s; follow it with: flotilla updaterun watch -n %s\n", run.Name, what, run.Name)
		return nil
	})
}
