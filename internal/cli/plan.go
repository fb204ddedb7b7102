package cli

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"sigs.k8s.io/controller-runtime/pkg/client"

	fleetv1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/internal/memberaccess"
	"github.com/flotilla-dev/flotilla/internal/preflight"
	"github.com/flotilla-dev/flotilla/internal/rollout"
	"github.com/flotilla-dev/flotilla/internal/runinput"
	"github.com/flotilla-dev/flotilla/internal/upgrade"
)

// assessmentProviders resolve targets the way the hub does; they never
// start anything, so they need no state directory, and an executable that
// cannot be found does not matter. They read the Secrets provider settings
// name from hub.
func assessmentProviders(hub client.Reader) upgrade.Providers {
	exe, _ := os.Executable()
	return upgrade.NewProviders("", upgradeProviders(exe)).WithSecrets(upgrade.SecretsFrom(hub))
}

// makePlan lays out what run will do to the fleet as it is now.
// It also returns what the run asks of each member, node images included,
// and notes of the pre-flight scan per member.
func makePlan(ctx context.Context, hub client.Client, run *fleetv1.UpdateRun) (rollout.Plan, upgrade.Request, map[string]string, error) {
	strategy, err := runinput.Strategy(ctx, hub, run)
	if err != nil {
		return rollout.Plan{}, upgrade.Request{}, nil, err
	}
	list := &fleetv1.MemberClusterList{}
	if err := hub.List(ctx, list); err != nil {
		return rollout.Plan{}, upgrade.Request{}, nil, fmt.Errorf("listing members: %w", err)
	}
	providers := assessmentProviders(hub)
	req := planRequest(ctx, providers, run, list.Items)
	obs := rollout.Observations{Members: map[string]rollout.MemberObservation{}}
	for i := range list.Items {
		m := &list.Items[i]
		_, obs.Members[m.Name] = upgrade.Assess(ctx, providers, req, m)
	}
	target := upgrade.RunTarget(ctx, providers, req, list.Items)
	notes := planPreflight(ctx, hub, run, strategy.Preflight, target, list.Items, obs)
	plan, err := rollout.MakePlan(rollout.Input{
		RunName: run.Name, Strategy: *strategy, Target: target, Members: runinput.Members(list.Items),
		Desired: run.Spec.State, Skip: run.Spec.Skip, Status: run.Status, Observed: obs, Now: time.Now(),
	})
	return plan, req, notes, err
}

// planPreflight runs the pre-flight scan on each member the run would move
// to a new minor and has not started on, as the hub will just before it
// starts them: under Block a member with findings is refused in the plan;
// under Warn, and where this CLI cannot scan a member, a note says so.
func planPreflight(ctx context.Context, hub client.Client, run *fleetv1.UpdateRun, policy fleetv1.PreflightPolicy, target string,
	members []fleetv1.MemberCluster, obs rollout.Observations) map[string]string {
	notes := map[string]string{}
	if policy == fleetv1.PreflightOff || run.Spec.ManagedClusterUpdate.Upgrade.Type == fleetv1.UpgradeNodeImageOnly {
		return notes
	}
	started := map[string]bool{}
	for _, st := range run.Status.Stages {
		for _, g := range st.Groups {
			for _, m := range g.Members {
				started[m.Name] = m.State != "" && m.State != fleetv1.StateNotStarted && m.State != fleetv1.StatePending
			}
		}
	}
	access := &memberaccess.Clients{Hub: hub}
	for i := range members {
		m := &members[i]
		o := obs.Members[m.Name]
		if o.AtTarget || o.Blocked != "" || started[m.Name] || !preflight.MovesMinor(m.Status.KubernetesVersion, target) {
			continue
		}
		res := scanMember(ctx, access, m, target)
		switch {
		case res.Error != "":
			notes[m.Name] = "pre-flight scan not run from this CLI: " + res.Error
		case len(res.Findings) > 0 && policy == fleetv1.PreflightWarn:
			notes[m.Name] = "pre-flight (Warn, upgraded anyway): " + preflight.Summary(res.Findings)
		case len(res.Findings) > 0:
			o.Blocked = "refused by the pre-flight scan: " + preflight.Summary(res.Findings)
			obs.Members[m.Name] = o
		default:
			notes[m.Name] = "pre-flight: no use of an API " + target + " removes"
		}
	}
	return notes
}

// planRequest is what the run asks of its members; for a Consistent run
// not started yet, with the images it would choose if it started now.
func planRequest(ctx context.Context, providers upgrade.Providers, run *fleetv1.UpdateRun, members []fleetv1.MemberCluster) upgrade.Request {
	req := upgrade.RequestOf(run)
	if req.Selection.Type == fleetv1.NodeImageConsistent && len(req.Chosen) == 0 {
		req.Chosen = upgrade.ConsistentImages(ctx, providers, req, members)
	}
	return req
}

// drawPlan writes a plan as an ordered outline.
func drawPlan(w io.Writer, run *fleetv1.UpdateRun, plan rollout.Plan, req upgrade.Request, notes map[string]string) {
	up := run.Spec.ManagedClusterUpdate.Upgrade
	fmt.Fprintf(w, "Plan for update run %s: %s upgrade", run.Name, up.Type)
	if up.KubernetesVersion != "" {
		fmt.Fprintf(w, " to %s", up.KubernetesVersion)
	}
	fmt.Fprintln(w)
	if up.Type != fleetv1.UpgradeControlPlaneOnly {
		drawNodeImageSelection(w, req, len(run.Status.NodeImages) > 0)
	}
	counts := map[rollout.MemberAction]int{}
	for i, st := range plan.Stages {
		fmt.Fprintf(w, "%d. stage %s%s\n", i+1, st.Name, planNote(st.Skip))
		planGates(w, "   ", "before", st.BeforeGates)
		for _, g := range st.Groups {
			label := "group " + g.Name
			if g.Implicit {
				label = "members"
			}
			limits := fmt.Sprintf("up to %d at once", g.MaxConcurrency)
			if g.MaxAllowedFailures > 0 {
				limits += fmt.Sprintf(", %d failures allowed", g.MaxAllowedFailures)
			}
			fmt.Fprintf(w, "   %s (%s)%s\n", label, limits, planNote(g.Skip))
			planGates(w, "     ", "before", g.BeforeGates)
			for _, m := range g.Members {
				counts[m.Action]++
				line := fmt.Sprintf("     - %-20s %s → %s  %s", m.Name, orDash(m.CurrentVersion), orDash(m.TargetVersion), m.Action)
				if m.Reason != "" {
					line += ": " + m.Reason
				}
				if len(m.HealthChecks) > 0 && m.Action == rollout.PlanUpgrade {
					line += "  (then checks " + strings.Join(m.HealthChecks, ", ") + ")"
				}
				fmt.Fprintln(w, line)
				if note := notes[m.Name]; note != "" {
					fmt.Fprintf(w, "         %s\n", note)
				}
			}
			if len(g.HealthChecks) > 0 {
				fmt.Fprintf(w, "     then group checks: %s\n", strings.Join(g.HealthChecks, ", "))
			}
			planGates(w, "     ", "after", g.AfterGates)
		}
		if len(st.HealthChecks) > 0 {
			fmt.Fprintf(w, "   then stage checks: %s\n", strings.Join(st.HealthChecks, ", "))
		}
		planGates(w, "   ", "after", st.AfterGates)
		if st.AfterStageWait > 0 {
			fmt.Fprintf(w, "   then wait %s%s\n", st.AfterStageWait, planNote(st.SkipAfterStageWait))
		}
	}
	for _, u := range plan.Untouched {
		fmt.Fprintf(w, "not in any stage (left alone): %s\n", untouchedText(u))
	}
	for _, p := range plan.Problems {
		fmt.Fprintf(w, "%s\n", p)
	}
	fmt.Fprintf(w, "Summary: %d to upgrade, %d to skip, %d refused, %d already done, %d untouched\n",
		counts[rollout.PlanUpgrade], counts[rollout.PlanSkip], counts[rollout.PlanRefuse], counts[rollout.PlanDone], len(plan.Untouched))
}

func planNote(skip string) string {
	if skip == "" {
		return ""
	}
	return "  [" + skip + "]"
}

func planGates(w io.Writer, indent, when string, gates []rollout.GatePlan) {
	for _, g := range gates {
		text := fmt.Sprintf("%s%s gate: %s", indent, when, g.Type)
		if g.DisplayName != "" {
			text += fmt.Sprintf(" %q", g.DisplayName)
		}
		if g.Schedule != "" {
			text += " at " + g.Schedule
		}
		if g.State != "" && g.State != fleetv1.StateNotStarted {
			text += " (" + string(g.State) + ")"
		}
		fmt.Fprintln(w, text)
	}
}

func newRunPlanCommand(g *globalOptions) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "plan NAME",
		Short: "Show what an update run will do, member by member, before (or while) it runs",
	}
	return runKind.onObject(g, cmd, func(cmd *cobra.Command, hub client.WithWatch, run *fleetv1.UpdateRun) error {
		plan, req, notes, err := makePlan(cmd.Context(), hub, run)
		if err != nil {
			return err
		}
		if g.output != "table" {
			return render(cmd.OutOrStdout(), g.output, planOutput{Plan: plan, NodeImageSelection: req.Selection, NodeImages: req.Chosen, Preflight: notes}, nil)
		}
		drawPlan(cmd.OutOrStdout(), run, plan, req, notes)
		return nil
	})
}

func untouchedText(u rollout.UntouchedMember) string {
	if u.Reason == "" {
		return u.Name
	}
	return u.Name + " (" + u.Reason + ")"
}

// refusals lists the members a plan refuses to upgrade.
func refusals(plan rollout.Plan) []string {
	var out []string
	for _, st := range plan.Stages {
		for _, g := range st.Groups {
			for _, m := range g.Members {
				if m.Action == rollout.PlanRefuse {
					out = append(out, m.Name+": "+m.Reason)
				}
			}
		}
	}
	return out
}

// drawNodeImageSelection says how the run picks node images and, for a
// Consistent run, which ones (chosen when it started, or that it would
// choose if it started now).
func drawNodeImageSelection(w io.Writer, req upgrade.Request, recorded bool) {
	sel := req.Selection
	switch sel.Type {
	case fleetv1.NodeImageConsistent:
		when := "chosen when the run starts; as of now"
		if recorded {
			when = "chosen when the run started"
		}
		fmt.Fprintf(w, "node images: Consistent, %s:\n", when)
		for _, c := range req.Chosen {
			fmt.Fprintf(w, "   %s nodes on %s: %s\n", c.OS, c.KubernetesVersion, c.Version)
		}
		if len(req.Chosen) == 0 {
			fmt.Fprintln(w, "   none: no image is offered to all the members")
		}
	case fleetv1.NodeImageCustom:
		names := make([]string, len(sel.CustomNodeImageVersions))
		for i, c := range sel.CustomNodeImageVersions {
			names[i] = c.Version
		}
		fmt.Fprintf(w, "node images: Custom: %s\n", strings.Join(names, ", "))
	default:
		fmt.Fprintln(w, "node images: Latest (each member's newest when its nodes upgrade)")
	}
}

// planOutput is `updaterun plan -o json|yaml`: the plan, the node images
// the run asks for (a Consistent run's chosen images, as of now if it has
// not started) and the pre-flight notes per member.
type planOutput struct {
	rollout.Plan
	NodeImageSelection fleetv1.NodeImageSelection `json:"nodeImageSelection"`
	NodeImages         []fleetv1.ChosenNodeImage  `json:"nodeImages,omitempty"`
	Preflight          map[string]string          `json:"preflight,omitempty"`
}
