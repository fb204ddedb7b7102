package rollout

import (
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	fleetv1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
)

// entropy hands out small decisions from fuzz input; once it runs dry every
// decision is 0, so any input decodes to a finite scenario.
type entropy struct {
	data []byte
}

func (e *entropy) byte() byte {
	if len(e.data) == 0 {
		return 0
	}
	b := e.data[0]
	e.data = e.data[1:]
	return b
}

func (e *entropy) intn(n int) int {
	if n <= 1 {
		return 0
	}
	return int(e.byte()) % n
}

func (e *entropy) chance(percent int) bool { return e.intn(100) < percent }

func (e *entropy) concurrency() *intstr.IntOrString {
	switch e.intn(4) {
	case 1:
		return count(1 + e.intn(4))
	case 2:
		return percent(fmt.Sprintf("%d%%", 1+e.intn(100)))
	}
	return nil
}

func (e *entropy) budget() *intstr.IntOrString {
	switch e.intn(5) {
	case 1:
		return count(e.intn(3))
	case 2:
		return percent(fmt.Sprintf("%d%%", e.intn(101)))
	}
	return nil
}

func (e *entropy) gates() []fleetv1.GateConfig {
	var gates []fleetv1.GateConfig
	for i := e.intn(4) - 1; i > 0; i-- {
		if e.chance(50) {
			gates = append(gates, approval())
		} else {
			gates = append(gates, scheduled(fmt.Sprintf("%02d:%02d", e.intn(24), 15*e.intn(4))))
		}
	}
	return gates
}

// scenario builds a strategy, a fleet and a fake provider's behaviour.
func scenario(t testing.TB, e *entropy) *sim {
	var spec fleetv1.UpdateStrategySpec
	var groups []string
	selectorStages := map[string]bool{}
	for si := 0; si < 1+e.intn(4); si++ {
		st := fleetv1.UpdateStage{Name: fmt.Sprintf("s%d", si), MaxConcurrency: e.concurrency(), MaxAllowedFailures: e.budget(), BeforeGates: e.gates(), AfterGates: e.gates()}
		if e.chance(40) {
			st.AfterStageWaitInSeconds = int32(60 * (1 + e.intn(60)))
		}
		if e.chance(20) {
			st.MemberSelector = selector("stage", st.Name)
			selectorStages[st.Name] = true
			groups = append(groups, st.Name)
		} else {
			for gi := 0; gi < 1+e.intn(3); gi++ {
				g := fleetv1.UpdateGroup{Name: fmt.Sprintf("s%dg%d", si, gi), MaxConcurrency: e.concurrency(), MaxAllowedFailures: e.budget(), BeforeGates: e.gates(), AfterGates: e.gates()}
				st.Groups = append(st.Groups, g)
				groups = append(groups, g.Name)
			}
		}
		spec.Stages = append(spec.Stages, st)
	}
	for _, level := range []fleetv1.HealthCheckRunAfter{fleetv1.RunAfterMember, fleetv1.RunAfterGroup, fleetv1.RunAfterStage} {
		if e.chance(25) {
			spec.HealthChecks = append(spec.HealthChecks, check("c-"+string(level), level))
		}
	}
	if e.chance(15) {
		spec.MaintenanceWindows = []fleetv1.MaintenanceWindow{{WeeklyWindow: fleetv1.WeeklyWindow{StartTime: fmt.Sprintf("%02d:00", e.intn(24)), DurationMinutes: int32(30 + e.intn(240))}, MemberSelector: selector("window", "yes")}}
	}
	if e.chance(15) {
		from := metav1.NewTime(t0.Add(time.Duration(e.intn(120)) * time.Minute))
		until := metav1.NewTime(from.Add(time.Duration(1+e.intn(240)) * time.Minute))
		spec.FreezeWindows = []fleetv1.FreezeWindow{{Name: "freeze", From: &from, Until: &until}}
	}
	if e.chance(20) {
		spec.MemberUpgradeTimeoutSeconds = int32(300 + 60*e.intn(30))
	}

	var members []*fakeMember
	for i := 0; i < e.intn(21); i++ {
		target := groups[e.intn(len(groups))]
		m := member(fmt.Sprintf("m%02d", i), "")
		if selectorStages[target] {
			m.Labels["stage"] = target
		} else {
			m.UpdateGroup = target
		}
		if e.chance(10) {
			m.UpdateGroup = "nowhere"
		}
		if e.chance(30) {
			m.Labels["window"] = "yes"
		}
		m.upgradeTakes = time.Duration(e.intn(4)*10) * time.Minute
		switch e.intn(20) {
		case 0, 1:
			m.failUpgrade = "boom"
		case 2:
			m.version = "1.37.2"
		case 3:
			m.blocked = "refused by the fuzzer"
		case 4:
			m.failChecks = "check failed"
		}
		members = append(members, m)
	}
	s := newSim(t, spec, members...)
	s.checksTake = time.Duration(e.intn(3)) * time.Minute
	if e.chance(10) {
		s.failChecks = func(sc Scope) string {
			if sc.Level != LevelMember && len(sc.Group)%2 == 0 {
				return "group or stage check failed"
			}
			return ""
		}
	}
	return s
}

// FuzzEngine runs random strategies over random fleets, with random
// operator actions (stop, start, skip, approve, resume), and checks after
// every step that no member is upgraded twice, no stage starts before the
// one before it and its wait and gates are done, and no cap is exceeded;
// and that every run ends.
func FuzzEngine(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte{3, 2, 1, 1, 7, 9, 4, 3, 200, 13, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15})
	f.Add([]byte("staged rollouts across the fleet, gated and checked"))
	f.Add([]byte{255, 255, 255, 0, 0, 0, 128, 64, 32, 16, 8, 4, 2, 1, 99, 98, 97, 96, 95, 94, 93, 92, 91, 90})
	f.Fuzz(func(t *testing.T, data []byte) {
		e := &entropy{data: data}
		s := scenario(t, e)
		driveToEnd(t, s, e)
	})
}

func driveToEnd(t *testing.T, s *sim, e *entropy) {
	approved := map[string]bool{}
	s.approve = func(name string) bool { return approved[name] }
	failuresOf := map[string]int{}
	resumes := 0
	for step := 0; ; step++ {
		if step > 3000 {
			t.Fatalf("the run did not end in 3000 steps:\n%s", describe(s.in.Status))
		}
		// Operator actions, now and then.
		switch e.intn(40) {
		case 1:
			s.in.Desired = fleetv1.RunStopped
		case 2, 3:
			s.in.Desired = fleetv1.RunStarted
		case 4:
			s.in.Skip = append(s.in.Skip, randomSkip(e, s))
		}
		r := s.step()
		for _, tr := range r.Transitions {
			if tr.Kind == KindMember && tr.To == fleetv1.StateFailed {
				failuresOf[tr.Path[lastSlash(tr.Path)+1:]]++
			}
		}
		for name, m := range s.fleet {
			if m.upgrades > 1+failuresOf[name] {
				t.Fatalf("member %s upgraded %d times after %d failures", name, m.upgrades, failuresOf[name])
			}
		}
		switch r.Status.State {
		case fleetv1.StateCompleted:
			checkFinished(t, s)
			return
		case fleetv1.StateStopped:
			s.in.Desired = fleetv1.RunStarted
			continue
		case fleetv1.StateFailed:
			if resumes >= 2 || e.chance(30) {
				return
			}
			resumes++
			for _, m := range s.fleet {
				m.failUpgrade, m.failChecks, m.blocked = "", "", ""
			}
			s.failChecks = nil
			s.in.Desired = fleetv1.RunStarted
			s.in.StartRequest = fmt.Sprint("resume-", resumes)
			continue
		case fleetv1.StateNotStarted:
			if s.in.Desired != fleetv1.RunStarted {
				s.in.Desired = fleetv1.RunStarted
				continue
			}
			t.Fatalf("a run asked to start did not:\n%s", describe(r.Status))
		}
		if len(r.Transitions) > 0 || !r.Actions.Empty() {
			continue
		}
		if s.in.Desired != fleetv1.RunStarted && r.Status.State == fleetv1.StateRunning {
			t.Fatal("a run asked to stop is still Running")
		}
		next := s.nextEvent()
		pending := pendingApprovals(s, approved)
		if len(pending) > 0 && (next.IsZero() || e.chance(50)) {
			for _, name := range pending {
				approved[name] = true
			}
			continue
		}
		if next.IsZero() {
			if s.anythingInstantPending() {
				continue
			}
			t.Fatalf("the run is stuck:\n%s", describe(r.Status))
		}
		s.in.Now = next
	}
}

func lastSlash(path string) int {
	for i := len(path) - 1; i >= 0; i-- {
		if path[i] == '/' {
			return i
		}
	}
	return -1
}

func pendingApprovals(s *sim, approved map[string]bool) []string {
	var names []string
	for name, state := range s.gates {
		if state == fleetv1.GatePending && !approved[name] {
			names = append(names, name)
		}
	}
	return names
}

func randomSkip(e *entropy, s *sim) fleetv1.SkipTarget {
	st := s.in.Strategy.Stages[e.intn(len(s.in.Strategy.Stages))]
	switch e.intn(4) {
	case 0:
		return fleetv1.SkipTarget{Type: fleetv1.SkipStage, Name: st.Name}
	case 1:
		return fleetv1.SkipTarget{Type: fleetv1.SkipAfterStageWait, Name: st.Name}
	case 2:
		gs := stageGroups(st)
		return fleetv1.SkipTarget{Type: fleetv1.SkipGroup, Name: gs[e.intn(len(gs))].Name}
	}
	return fleetv1.SkipTarget{Type: fleetv1.SkipMember, Name: fmt.Sprintf("m%02d", e.intn(20))}
}

// checkFinished checks a Completed run: every stage and group done, every
// member done or failed within its budget, nothing in flight.
func checkFinished(t *testing.T, s *sim) {
	st := s.in.Status
	for _, stage := range st.Stages {
		if !done(stage.State) {
			t.Fatalf("run Completed with stage %s %s:\n%s", stage.Name, stage.State, describe(st))
		}
		for _, g := range stage.Groups {
			if !done(g.State) {
				t.Fatalf("run Completed with group %s %s:\n%s", g.Name, g.State, describe(st))
			}
			for _, m := range g.Members {
				if !done(m.State) && m.State != fleetv1.StateFailed {
					t.Fatalf("run Completed with member %s %s:\n%s", m.Name, m.State, describe(st))
				}
			}
		}
	}
	for name, m := range s.fleet {
		if m.upgrading {
			t.Fatalf("run Completed with %s still upgrading", name)
		}
	}
}

// FuzzValidateStrategy feeds strategies (as JSON) to ValidateStrategy: it
// must not panic, must be deterministic, and whatever it accepts the engine
// must be able to resolve, plan and step.
func FuzzValidateStrategy(f *testing.F) {
	f.Add(`{"stages": ` + seedStagesJSON + `}`)
	f.Add(`{"stages": [{"name": "a", "groups": [{"name": "g", "maxConcurrency": "50%", "maxAllowedFailures": 1, "beforeGates": [{"type": "Approval"}]}], "afterStageWaitInSeconds": 60, "afterGates": [{"type": "ScheduledStart", "schedule": {"daysOfWeek": ["Tuesday"], "startTime": "09:30", "utcOffset": "+01:00"}}]}, {"name": "b", "memberSelector": {"matchLabels": {"tier": "edge"}}, "maxConcurrency": 2}], "memberUpgradeTimeoutSeconds": 600}`)
	f.Add(`{"stages": [{"name": "a", "groups": [{"name": "g"}]}], "healthChecks": [{"name": "c", "type": "Command", "command": ["x"], "runAfter": "Stage"}, {"name": "h", "type": "HTTP", "http": {"url": "http://x"}}], "maintenanceWindows": [{"startTime": "22:00", "durationMinutes": 240, "utcOffset": "-05:00", "daysOfWeek": ["Friday"]}], "freezeWindows": [{"from": "2026-11-27T00:00:00Z", "until": "2026-12-01T00:00:00Z"}, {"startTime": "00:00", "durationMinutes": 60}]}`)
	f.Add(`{"stages": [{"name": "a", "groups": [{"name": "g"}, {"name": "g"}]}, {"name": "a"}]}`)
	f.Fuzz(func(t *testing.T, doc string) {
		var spec fleetv1.UpdateStrategySpec
		if err := json.Unmarshal([]byte(doc), &spec); err != nil {
			return
		}
		if len(spec.Stages) > 50 {
			return // the API allows 20; keep each input quick
		}
		members := []Member{
			{Name: "m1", UpdateGroup: "g"},
			{Name: "m2", UpdateGroup: "group-dev-clusters"},
			{Name: "m3", Labels: map[string]string{"tier": "edge"}},
			{Name: "m4", UpdateGroup: "a", Labels: map[string]string{"window": "yes"}},
		}
		first := ValidateStrategy(spec, members)
		if second := ValidateStrategy(spec, members); !reflect.DeepEqual(first, second) {
			t.Fatalf("not deterministic: %v then %v", first, second)
		}
		if first.Err() != nil {
			checkProblemsNameFields(t, spec, first)
			return
		}
		if _, err := Resolve(spec, members); err != nil {
			t.Fatalf("valid, but Resolve fails: %v", err)
		}
		if _, err := compileWindows(spec); err != nil {
			t.Fatalf("valid, but its windows do not compile: %v", err)
		}
		in := Input{RunName: "fuzz", Strategy: spec, Target: "1.37.2", Members: members, Desired: fleetv1.RunStarted, Now: t0}
		if _, err := MakePlan(in); err != nil {
			t.Fatalf("valid, but MakePlan fails: %v", err)
		}
		for i := 0; i < 5; i++ {
			r := Step(in)
			if strings.HasPrefix(r.Status.Message, "cannot run") {
				t.Fatalf("valid, but the engine cannot run it: %s", r.Status.Message)
			}
			in.Status = r.Status
			in.Now = in.Now.Add(time.Hour)
		}
	})
}

// checkProblemsNameFields checks that every error names the field it is
// about, as a path that leads into the strategy: its parent must exist in
// the strategy as JSON (the last step may be a field that is missing).
func checkProblemsNameFields(t *testing.T, spec fleetv1.UpdateStrategySpec, problems Problems) {
	t.Helper()
	raw, err := json.Marshal(spec)
	if err != nil {
		t.Fatal(err)
	}
	var doc any
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		if p.Warning {
			continue
		}
		if p.Field == "" {
			t.Fatalf("an error names no field: %q", p.Message)
		}
		if !strings.HasPrefix(p.String(), p.Field+": ") {
			t.Fatalf("the message %q does not start with its field %s", p, p.Field)
		}
		if p.Field == "members" {
			continue // two groups claim a member: about the fleet, not one field
		}
		if !parentResolves(doc, p.Field) {
			t.Fatalf("the field %s of %q is not a path into the strategy %s", p.Field, p, raw)
		}
	}
}

// parentResolves reports whether everything but the last step of a path
// such as stages[1].groups[0].name leads somewhere in doc.
func parentResolves(doc any, path string) bool {
	steps := pathSteps(path)
	for _, step := range steps[:len(steps)-1] {
		switch node := doc.(type) {
		case map[string]any:
			next, ok := node[step]
			if !ok {
				return false
			}
			doc = next
		case []any:
			var i int
			if _, err := fmt.Sscanf(step, "[%d]", &i); err != nil || i < 0 || i >= len(node) {
				return false
			}
			doc = node[i]
		default:
			return false
		}
	}
	return true
}

// pathSteps splits stages[1].name into stages, [1] and name.
func pathSteps(path string) []string {
	var steps []string
	for _, part := range strings.Split(path, ".") {
		for {
			i := strings.Index(part, "[")
			if i < 0 {
				break
			}
			if i > 0 {
				steps = append(steps, part[:i])
			}
			j := strings.Index(part, "]")
			if j < i {
				return append(steps, part)
			}
			steps = append(steps, part[i:j+1])
			part = part[j+1:]
		}
		if part != "" {
			steps = append(steps, part)
		}
	}
	return steps
}
