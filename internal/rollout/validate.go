package rollout

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	fleetv1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
)

// Problem is one finding about a strategy.
type Problem struct {
	// Field is the path of what is wrong, e.g. stages[1].groups[0].
	Field   string
	Message string
	// Warning marks something allowed that is probably not what the operator
	// meant, such as a group no member is in.
	Warning bool
}

func (p Problem) String() string {
	prefix := ""
	if p.Warning {
		prefix = "warning: "
	}
	if p.Field == "" {
		return prefix + p.Message
	}
	return prefix + p.Field + ": " + p.Message
}

// Problems are the findings of ValidateStrategy.
type Problems []Problem

// Err joins the problems that are not warnings, or is nil when there are none.
func (ps Problems) Err() error {
	var errs []error
	for _, p := range ps {
		if !p.Warning {
			errs = append(errs, errors.New(p.String()))
		}
	}
	return errors.Join(errs...)
}

// Under returns the problems with prefix put before each field, so that a
// caller validating a strategy inside another object names the whole path
// (Under("spec.strategy") turns stages[0].name into spec.strategy.stages[0].name).
func (ps Problems) Under(prefix string) Problems {
	out := make(Problems, len(ps))
	for i, p := range ps {
		switch {
		case p.Field == "":
			p.Field = prefix
		case strings.HasPrefix(p.Field, "["):
			p.Field = prefix + p.Field
		default:
			p.Field = prefix + "." + p.Field
		}
		out[i] = p
	}
	return out
}

// Warnings are the problems that do not stop a run.
func (ps Problems) Warnings() Problems {
	var out Problems
	for _, p := range ps {
		if p.Warning {
			out = append(out, p)
		}
	}
	return out
}

var dnsLabel = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`)

// httpURL is the CRD's rule for an HTTP check's URL.
var httpURL = regexp.MustCompile(`^https?://[^/]+`)

// ValidateStrategy checks a strategy beyond what the CRD schema can: names
// unique across stages and groups, limits and schedules that parse, checks
// with the settings their type needs, windows that make sense. With members
// (nil skips this) it also checks membership: a member two groups claim is
// an error; a group with no member, or a member whose update group the
// strategy does not name, is a warning.
func ValidateStrategy(spec fleetv1.UpdateStrategySpec, members []Member) Problems {
	v := &validator{}
	v.stages(spec)
	v.healthChecks(spec.HealthChecks)
	v.windows(spec)
	if spec.MemberUpgradeTimeoutSeconds < 0 {
		v.fail("memberUpgradeTimeoutSeconds", "must not be negative")
	}
	if members != nil && v.problems.Err() == nil {
		v.membership(spec, members)
	}
	return v.problems
}

type validator struct {
	problems Problems
}

func (v *validator) fail(field, format string, args ...any) {
	v.problems = append(v.problems, Problem{Field: field, Message: fmt.Sprintf(format, args...)})
}

func (v *validator) warn(field, format string, args ...any) {
	v.problems = append(v.problems, Problem{Field: field, Message: fmt.Sprintf(format, args...), Warning: true})
}

func (v *validator) name(field, kind, name string) {
	if len(name) > 63 || !dnsLabel.MatchString(name) {
		v.fail(field, "%s name %q must be a DNS label: at most 63 lower-case letters, digits and '-'", kind, name)
	}
}

func (v *validator) stages(spec fleetv1.UpdateStrategySpec) {
	if len(spec.Stages) == 0 {
		v.fail("stages", "a strategy needs at least one stage")
	}
	stageAt := map[string]int{}
	groupAt := map[string]string{}
	for i, stage := range spec.Stages {
		field := fmt.Sprintf("stages[%d]", i)
		v.name(field+".name", "stage", stage.Name)
		if j, dup := stageAt[stage.Name]; dup {
			v.fail(field+".name", "stage %s is also stages[%d]", stage.Name, j)
		}
		stageAt[stage.Name] = i
		switch {
		case len(stage.Groups) > 0 && stage.MemberSelector != nil:
			v.fail(field, "a stage takes groups or a memberSelector, not both")
		case len(stage.Groups) == 0 && stage.MemberSelector == nil:
			v.fail(field, "a stage needs groups or a memberSelector")
		}
		v.selector(field+".memberSelector", stage.MemberSelector)
		if stage.AfterStageWaitInSeconds < 0 || stage.AfterStageWaitInSeconds > 604800 {
			v.fail(field+".afterStageWaitInSeconds", "must be from 0 to 604800 (a week)")
		}
		v.limits(field, stage.MaxConcurrency, stage.MaxAllowedFailures)
		v.gates(field+".beforeGates", stage.BeforeGates)
		v.gates(field+".afterGates", stage.AfterGates)
		for j, g := range stageGroups(stage) {
			gfield := fmt.Sprintf("%s.groups[%d]", field, j)
			if len(stage.Groups) == 0 {
				gfield = field // its implicit group: the stage's name, selector and limits, checked above
			}
			if other, dup := groupAt[g.Name]; dup {
				v.fail(gfield+".name", "group %s is also in %s: a group may appear only once", g.Name, other)
			}
			groupAt[g.Name] = "stage " + stage.Name
			if len(stage.Groups) == 0 {
				continue
			}
			v.name(gfield+".name", "group", g.Name)
			v.selector(gfield+".memberSelector", g.MemberSelector)
			v.limits(gfield, g.MaxConcurrency, g.MaxAllowedFailures)
			v.gates(gfield+".beforeGates", g.BeforeGates)
			v.gates(gfield+".afterGates", g.AfterGates)
		}
	}
}

// The shapes the CRD's CEL rules allow for maxConcurrency and
// maxAllowedFailures written as strings, so that what this check accepts the
// API server does too.
var (
	concurrencyShape = regexp.MustCompile(`^(100|[1-9]\d?)%$|^[1-9]\d{0,3}$`)
	failuresShape    = regexp.MustCompile(`^(100|[1-9]?\d)%$|^(0|[1-9]\d{0,3})$`)
)

// limits checks a stage's or group's maxConcurrency and maxAllowedFailures
// as the CRD does, then as the engine reads them.
func (v *validator) limits(field string, concurrency, failures *intstr.IntOrString) {
	switch {
	case concurrency == nil:
	case concurrency.Type == intstr.Int && concurrency.IntVal < 1,
		concurrency.Type == intstr.String && !concurrencyShape.MatchString(concurrency.StrVal):
		v.fail(field+".maxConcurrency", "maxConcurrency must be a count of at least 1 (2 or \"2\") or a percentage from 1%% to 100%%, not %s", concurrency.String())
	default:
		if _, err := maxInFlight(concurrency, 100, 1); err != nil {
			v.fail(field+".maxConcurrency", "%v", err)
		}
	}
	switch {
	case failures == nil:
	case failures.Type == intstr.Int && failures.IntVal < 0,
		failures.Type == intstr.String && !failuresShape.MatchString(failures.StrVal):
		v.fail(field+".maxAllowedFailures", "maxAllowedFailures must be a count of at least 0 (2 or \"2\") or a percentage from 0%% to 100%%, not %s", failures.String())
	default:
		if _, err := budgetOf(failures, 100); err != nil {
			v.fail(field+".maxAllowedFailures", "%v", err)
		}
	}
}

func (v *validator) selector(field string, ls *metav1.LabelSelector) {
	if ls == nil {
		return
	}
	if _, err := metav1.LabelSelectorAsSelector(ls); err != nil {
		v.fail(field, "%v", err)
	}
}

func (v *validator) gates(field string, gates []fleetv1.GateConfig) {
	if len(gates) > 4 {
		v.fail(field, "at most 4 gates")
	}
	for i, g := range gates {
		gfield := fmt.Sprintf("%s[%d]", field, i)
		switch g.Type {
		case fleetv1.GateApproval:
			if g.Schedule != nil {
				v.fail(gfield, "an Approval gate takes no schedule")
			}
		case fleetv1.GateScheduledStart:
			if g.Schedule == nil {
				v.fail(gfield, "a ScheduledStart gate needs a schedule")
			} else if _, err := NextScheduledStart(*g.Schedule, time.Time{}); err != nil {
				v.fail(gfield+".schedule", "%v", err)
			}
		default:
			v.fail(gfield+".type", "%q is not Approval or ScheduledStart", g.Type)
		}
	}
}

func (v *validator) healthChecks(checks []fleetv1.HealthCheck) {
	seen := map[string]bool{}
	for i, c := range checks {
		field := fmt.Sprintf("healthChecks[%d]", i)
		v.name(field+".name", "check", c.Name)
		if seen[c.Name] {
			v.fail(field+".name", "check %s is defined twice", c.Name)
		}
		seen[c.Name] = true
		switch c.RunAfter {
		case "", fleetv1.RunAfterMember, fleetv1.RunAfterGroup, fleetv1.RunAfterStage:
		default:
			v.fail(field+".runAfter", "%q is not Member, Group or Stage", c.RunAfter)
		}
		switch c.Type {
		case fleetv1.CheckNodesReady, fleetv1.CheckNoFailedPods, fleetv1.CheckWorkloadsAvailable, fleetv1.CheckPVCsBound, fleetv1.CheckCommand, fleetv1.CheckHTTP:
		default:
			v.fail(field+".type", "%q is not a check type (NodesReady, NoFailedPods, WorkloadsAvailable, PVCsBound, Command, HTTP)", c.Type)
		}
		if (c.Type == fleetv1.CheckCommand) != (len(c.Command) > 0) {
			v.fail(field+".command", "command is required for a Command check and not allowed for other types")
		}
		if (c.Type == fleetv1.CheckHTTP) != (c.HTTP != nil) {
			v.fail(field+".http", "http is required for an HTTP check and not allowed for other types")
		}
		if c.HTTP != nil {
			if !httpURL.MatchString(c.HTTP.URL) {
				v.fail(field+".http.url", "%q is not an http:// or https:// URL with a host", c.HTTP.URL)
			}
			if s := c.HTTP.ExpectedStatus; s != 0 && (s < 100 || s > 599) {
				v.fail(field+".http.expectedStatus", "%d is not an HTTP status code", s)
			}
		}
		if c.Workloads != nil {
			if c.Type != fleetv1.CheckWorkloadsAvailable {
				v.fail(field+".workloads", "only allowed for a WorkloadsAvailable check")
			}
			switch c.Workloads.Kind {
			case "", "Deployment", "StatefulSet", "DaemonSet":
			default:
				v.fail(field+".workloads.kind", "%q is not Deployment, StatefulSet or DaemonSet", c.Workloads.Kind)
			}
			v.selector(field+".workloads.labelSelector", c.Workloads.LabelSelector)
		}
		if len(c.Namespaces) > 0 && c.Type != fleetv1.CheckNoFailedPods && c.Type != fleetv1.CheckPVCsBound {
			v.fail(field+".namespaces", "only allowed for a NoFailedPods or PVCsBound check")
		}
		if c.TimeoutSeconds < 0 {
			v.fail(field+".timeoutSeconds", "must not be negative")
		}
		if c.SettleSeconds < 0 {
			v.fail(field+".settleSeconds", "must not be negative")
		}
	}
}

func (v *validator) windows(spec fleetv1.UpdateStrategySpec) {
	for i, w := range spec.MaintenanceWindows {
		field := fmt.Sprintf("maintenanceWindows[%d]", i)
		if w.StartTime == "" || w.DurationMinutes <= 0 {
			v.fail(field, "a maintenance window needs startTime and a durationMinutes of at least 1")
			continue
		}
		v.weekly(field, w.WeeklyWindow)
		v.selector(field+".memberSelector", w.MemberSelector)
	}
	for i, w := range spec.FreezeWindows {
		field := fmt.Sprintf("freezeWindows[%d]", i)
		weekly := w.StartTime != "" || w.DurationMinutes != 0
		oneOff := w.From != nil || w.Until != nil
		switch {
		case weekly == oneOff:
			v.fail(field, "a freeze window is either weekly (startTime, durationMinutes) or one-off (from, until)")
		case weekly && (w.StartTime == "" || w.DurationMinutes <= 0):
			v.fail(field, "a weekly freeze window needs startTime and a durationMinutes of at least 1")
		case weekly:
			v.weekly(field, w.WeeklyWindow)
		case w.From == nil || w.Until == nil:
			v.fail(field, "a one-off freeze window needs both from and until")
		case !w.Until.After(w.From.Time):
			v.fail(field+".until", "must be after from")
		case len(w.DaysOfWeek) > 0 || w.UTCOffset != "":
			v.fail(field, "daysOfWeek and utcOffset only apply to a weekly freeze window")
		}
		v.selector(field+".memberSelector", w.MemberSelector)
	}
}

func (v *validator) weekly(field string, w fleetv1.WeeklyWindow) {
	if _, err := parseWeekly(w.DaysOfWeek, w.StartTime, time.Duration(w.DurationMinutes)*time.Minute, w.UTCOffset); err != nil {
		v.fail(field, "%v", err)
	}
}

func (v *validator) membership(spec fleetv1.UpdateStrategySpec, members []Member) {
	res, conflicts, err := resolve(spec, members)
	if err != nil {
		v.fail("stages", "%v", err)
		return
	}
	for _, c := range conflicts {
		v.fail("members", "%v", c)
	}
	named := map[string]bool{}
	for _, stage := range res.Stages {
		for _, g := range stage.Groups {
			named[g.Name] = true
			if len(g.Members) == 0 {
				v.warn("stage "+stage.Name, "group %s has no members", g.Name)
			}
		}
	}
	// A member picked by a selector is covered whatever its update group.
	untouched := map[string]bool{}
	for _, u := range res.Untouched {
		untouched[u.Name] = true
	}
	for _, m := range members {
		if untouched[m.Name] && m.UpdateGroup != "" && !named[m.UpdateGroup] {
			v.warn("members", "member %s is in update group %s, which the strategy does not name: the run will not touch it", m.Name, m.UpdateGroup)
		}
	}
}

// ValidateSkipTargets reports skip targets that name nothing in the
// strategy (or, with members, no member), so that the CLI can refuse them.
func ValidateSkipTargets(spec fleetv1.UpdateStrategySpec, members []Member, targets []fleetv1.SkipTarget) Problems {
	stages, groups, names := map[string]bool{}, map[string]bool{}, map[string]bool{}
	for _, s := range spec.Stages {
		stages[s.Name] = true
		for _, g := range stageGroups(s) {
			groups[g.Name] = true
		}
	}
	for _, m := range members {
		names[m.Name] = true
	}
	var ps Problems
	for i, t := range targets {
		field := fmt.Sprintf("skip[%d]", i)
		switch t.Type {
		case fleetv1.SkipStage, fleetv1.SkipAfterStageWait:
			if !stages[t.Name] {
				ps = append(ps, Problem{Field: field, Message: fmt.Sprintf("no stage is named %s", t.Name)})
			}
		case fleetv1.SkipGroup:
			if !groups[t.Name] {
				ps = append(ps, Problem{Field: field, Message: fmt.Sprintf("no group is named %s", t.Name)})
			}
		case fleetv1.SkipMember:
			if members != nil && !names[t.Name] {
				ps = append(ps, Problem{Field: field, Message: fmt.Sprintf("no member is named %s", t.Name)})
			}
		default:
			ps = append(ps, Problem{Field: field, Message: fmt.Sprintf("%q is not Member, Group, Stage or AfterStageWait", t.Type)})
		}
	}
	return ps
}
