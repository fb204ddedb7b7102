package rollout

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	fleetv1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
)

// seedStagesJSON is the operator's --stages JSON, verbatim.
const seedStagesJSON = `[
    {"name": "stage-internal", "groups": [{"name": "group-dev-clusters"}], "afterStageWaitInSeconds": 14400},
    {"name": "stage-canary-prod", "groups": [{"name": "group-prod-canary-eu"}, {"name": "group-prod-canary-us"}], "afterStageWaitInSeconds": 86400},
    {"name": "stage-primary-final", "groups": [{"name": "group-prod-primary-eu"}, {"name": "group-prod-primary-us"}]}
  ]`

func TestSeedStagesParseAndValidate(t *testing.T) {
	var spec fleetv1.UpdateStrategySpec
	if err := json.Unmarshal([]byte(`{"stages": `+seedStagesJSON+`}`), &spec); err != nil {
		t.Fatal(err)
	}
	if ps := ValidateStrategy(spec, nil); len(ps) != 0 {
		t.Fatalf("the seed's strategy has problems: %v", ps)
	}
}

func TestAzureStringCountsParseAndValidate(t *testing.T) {
	const azure = `{"stages": [{"name": "canary", "maxConcurrency": "2", "maxAllowedFailures": "25%",
		"groups": [{"name": "eu", "maxConcurrency": "3", "maxAllowedFailures": "1"}]}]}`
	var spec fleetv1.UpdateStrategySpec
	if err := json.Unmarshal([]byte(azure), &spec); err != nil {
		t.Fatal(err)
	}
	if ps := ValidateStrategy(spec, nil); len(ps) != 0 {
		t.Fatalf("Azure's string counts are refused: %v", ps)
	}
}

func TestValidateStrategy(t *testing.T) {
	mt := func(d time.Duration) *metav1.Time { v := metav1.NewTime(t0.Add(d)); return &v }
	withStage := func(f func(*fleetv1.UpdateStage)) fleetv1.UpdateStrategySpec {
		s := strategyOf(stage("s", group("g")))
		f(&s.Stages[0])
		return s
	}
	with := func(f func(*fleetv1.UpdateStrategySpec)) fleetv1.UpdateStrategySpec {
		s := strategyOf(stage("s", group("g")))
		f(&s)
		return s
	}
	for _, tc := range []struct {
		name string
		spec fleetv1.UpdateStrategySpec
		want string // "" means valid
	}{
		{"valid", strategyOf(stage("s", group("g"))), ""},
		{"no stages", strategyOf(), "needs at least one stage"},
		{"a stage twice", strategyOf(stage("s", group("a")), stage("s", group("b"))), "stage s is also stages[0]"},
		{"a group in two stages", strategyOf(stage("s", group("g")), stage("t", group("g"))), "group g is also in stage s"},
		{"a group twice in a stage", strategyOf(stage("s", group("g"), group("g"))), "group g is also in stage s"},
		{"an implicit group named like a group", strategyOf(stage("g", group("x")), fleetv1.UpdateStage{Name: "t", MemberSelector: selector("a", "b")}, stage("u", group("t"))), "group t is also in stage t"},
		{"bad stage name", strategyOf(stage("Stage One", group("g"))), `stage name "Stage One" must be a DNS label`},
		{"groups and a selector", withStage(func(s *fleetv1.UpdateStage) { s.MemberSelector = selector("a", "b") }), "groups or a memberSelector, not both"},
		{"neither groups nor a selector", strategyOf(fleetv1.UpdateStage{Name: "s"}), "needs groups or a memberSelector"},
		{"bad selector", withStage(func(s *fleetv1.UpdateStage) { s.Groups[0].MemberSelector = selector("bad key!", "x") }), "stages[0].groups[0].memberSelector"},
		{"zero concurrency", withStage(func(s *fleetv1.UpdateStage) { s.Groups[0].MaxConcurrency = count(0) }), "maxConcurrency must be a count of at least 1"},
		{"bad percentage", withStage(func(s *fleetv1.UpdateStage) { s.MaxConcurrency = percent("120%") }), "stages[0].maxConcurrency"},
		{"negative budget", withStage(func(s *fleetv1.UpdateStage) { s.MaxAllowedFailures = count(-1) }), "maxAllowedFailures"},
		{"negative wait", withStage(func(s *fleetv1.UpdateStage) { s.AfterStageWaitInSeconds = -1 }), "afterStageWaitInSeconds"},
		{"scheduled gate without schedule", withStage(func(s *fleetv1.UpdateStage) { s.BeforeGates = []fleetv1.GateConfig{{Type: fleetv1.GateScheduledStart}} }), "needs a schedule"},
		{"bad schedule", withStage(func(s *fleetv1.UpdateStage) { s.AfterGates = []fleetv1.GateConfig{scheduled("7:00")} }), `time "7:00" is not HH:mm`},
		{"approval with a schedule", withStage(func(s *fleetv1.UpdateStage) {
			s.Groups[0].BeforeGates = []fleetv1.GateConfig{{Type: fleetv1.GateApproval, Schedule: &fleetv1.GateSchedule{StartTime: "10:00"}}}
		}), "takes no schedule"},
		{"too many gates", withStage(func(s *fleetv1.UpdateStage) { s.BeforeGates = make([]fleetv1.GateConfig, 5) }), "at most 4 gates"},
		{"command check without command", with(func(s *fleetv1.UpdateStrategySpec) {
			s.HealthChecks = []fleetv1.HealthCheck{{Name: "c", Type: fleetv1.CheckCommand}}
		}), "command is required"},
		{"http settings on a nodes check", with(func(s *fleetv1.UpdateStrategySpec) {
			s.HealthChecks = []fleetv1.HealthCheck{{Name: "c", Type: fleetv1.CheckNodesReady, HTTP: &fleetv1.HTTPCheck{URL: "http://x"}}}
		}), "http is required for an HTTP check and not allowed"},
		{"bad URL", with(func(s *fleetv1.UpdateStrategySpec) {
			s.HealthChecks = []fleetv1.HealthCheck{{Name: "c", Type: fleetv1.CheckHTTP, HTTP: &fleetv1.HTTPCheck{URL: "ftp://x"}}}
		}), "not an http:// or https:// URL"},
		{"namespaces on a workloads check", with(func(s *fleetv1.UpdateStrategySpec) {
			s.HealthChecks = []fleetv1.HealthCheck{{Name: "c", Type: fleetv1.CheckWorkloadsAvailable, Namespaces: []string{"x"}}}
		}), "namespaces"},
		{"a check twice", with(func(s *fleetv1.UpdateStrategySpec) {
			s.HealthChecks = []fleetv1.HealthCheck{check("c", ""), check("c", fleetv1.RunAfterStage)}
		}), "check c is defined twice"},
		{"bad runAfter", with(func(s *fleetv1.UpdateStrategySpec) { s.HealthChecks = []fleetv1.HealthCheck{check("c", "Run")} }), "not Member, Group or Stage"},
		{"maintenance window without duration", with(func(s *fleetv1.UpdateStrategySpec) {
			s.MaintenanceWindows = []fleetv1.MaintenanceWindow{{WeeklyWindow: fleetv1.WeeklyWindow{StartTime: "22:00"}}}
		}), "needs startTime and a durationMinutes"},
		{"maintenance window bad offset", with(func(s *fleetv1.UpdateStrategySpec) {
			s.MaintenanceWindows = []fleetv1.MaintenanceWindow{{WeeklyWindow: fleetv1.WeeklyWindow{StartTime: "22:00", DurationMinutes: 60, UTCOffset: "CET"}}}
		}), `UTC offset "CET"`},
		{"maintenance window bad day", with(func(s *fleetv1.UpdateStrategySpec) {
			s.MaintenanceWindows = []fleetv1.MaintenanceWindow{{WeeklyWindow: fleetv1.WeeklyWindow{StartTime: "22:00", DurationMinutes: 60, DaysOfWeek: []string{"Mon"}}}}
		}), `"Mon" is not a day`},
		{"freeze window both forms", with(func(s *fleetv1.UpdateStrategySpec) {
			s.FreezeWindows = []fleetv1.FreezeWindow{{WeeklyWindow: fleetv1.WeeklyWindow{StartTime: "00:00", DurationMinutes: 60}, From: mt(0), Until: mt(time.Hour)}}
		}), "either weekly"},
		{"freeze window ends first", with(func(s *fleetv1.UpdateStrategySpec) {
			s.FreezeWindows = []fleetv1.FreezeWindow{{From: mt(time.Hour), Until: mt(0)}}
		}), "until: must be after from"},
		{"freeze window half one-off", with(func(s *fleetv1.UpdateStrategySpec) { s.FreezeWindows = []fleetv1.FreezeWindow{{From: mt(0)}} }), "needs both from and until"},
		{"negative timeout", with(func(s *fleetv1.UpdateStrategySpec) { s.MemberUpgradeTimeoutSeconds = -5 }), "memberUpgradeTimeoutSeconds"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ps := ValidateStrategy(tc.spec, nil)
			err := ps.Err()
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("refused a valid strategy: %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("got %v, want an error containing %q", err, tc.want)
			}
		})
	}
}

func TestValidateStrategyMembership(t *testing.T) {
	spec := strategyOf(stage("s", group("a"), fleetv1.UpdateGroup{Name: "eu", MemberSelector: selector("region", "eu")}, group("empty")))
	members := []Member{
		{Name: "m1", UpdateGroup: "a"},
		{Name: "m2", UpdateGroup: "a", Labels: map[string]string{"region": "eu"}},
		{Name: "m3", UpdateGroup: "typo"},
	}
	ps := ValidateStrategy(spec, members)
	if err := ps.Err(); err == nil || !strings.Contains(err.Error(), "member m2 is in two groups, a and eu") {
		t.Fatalf("errors: %v", err)
	}
	members[1].Labels = nil
	ps = ValidateStrategy(spec, members)
	if err := ps.Err(); err != nil {
		t.Fatalf("errors: %v", err)
	}
	warnings := ps.Warnings()
	if len(warnings) != 3 {
		t.Fatalf("warnings %v, want eu and empty without members and m3's unknown group", warnings)
	}
	all := strings.Join([]string{warnings[0].String(), warnings[1].String(), warnings[2].String()}, "\n")
	for _, want := range []string{"warning: stage s: group eu has no members", "group empty has no members", "member m3 is in update group typo, which the strategy does not name"} {
		if !strings.Contains(all, want) {
			t.Errorf("warnings %q lack %q", all, want)
		}
	}
}

func TestValidateSkipTargets(t *testing.T) {
	spec := strategyOf(stage("s", group("a")), fleetv1.UpdateStage{Name: "edge", MemberSelector: selector("t", "e")})
	ps := ValidateSkipTargets(spec, []Member{{Name: "m1"}}, []fleetv1.SkipTarget{
		{Type: fleetv1.SkipStage, Name: "s"}, {Type: fleetv1.SkipGroup, Name: "edge"}, {Type: fleetv1.SkipMember, Name: "m1"}, {Type: fleetv1.SkipAfterStageWait, Name: "edge"},
		{Type: fleetv1.SkipStage, Name: "nope"}, {Type: fleetv1.SkipGroup, Name: "b"}, {Type: fleetv1.SkipMember, Name: "m9"}, {Type: "Cluster", Name: "x"},
	})
	if len(ps) != 4 || !strings.Contains(ps.Err().Error(), "skip[4]: no stage is named nope") || !strings.Contains(ps[3].Message, `"Cluster"`) {
		t.Fatalf("problems: %v", ps)
	}
}
