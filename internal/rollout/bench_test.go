package rollout

import (
	"fmt"
	"testing"
	"time"

	fleetv1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
)

// tenStageFleet is n members in 10 stages of 2 groups, each group upgrading
// 10% of its members at a time, with a health check after each member.
func tenStageFleet(tb testing.TB, n int) *sim {
	var spec fleetv1.UpdateStrategySpec
	var members []*fakeMember
	for s := 0; s < 10; s++ {
		st := fleetv1.UpdateStage{Name: fmt.Sprintf("stage-%d", s)}
		for g := 0; g < 2; g++ {
			name := fmt.Sprintf("stage-%d-group-%d", s, g)
			st.Groups = append(st.Groups, fleetv1.UpdateGroup{Name: name, MaxConcurrency: percent("10%")})
			for i := 0; i < n/20; i++ {
				m := member(fmt.Sprintf("%s-member-%04d", name, i), name)
				m.upgradeTakes = time.Minute
				members = append(members, m)
			}
		}
		spec.Stages = append(spec.Stages, st)
	}
	spec.HealthChecks = []fleetv1.HealthCheck{check("nodes", fleetv1.RunAfterMember)}
	s := newSim(tb, spec, members...)
	s.noInvariants = true
	return s
}

// midRun is the input of a step in the middle of a run: stage 6 of 10 is
// running and a batch of its members has just finished upgrading, so the
// step records them, starts their checks and starts nothing else until
// they pass. The checks then pass and the next batch starts.
func midRun(b *testing.B, n int) Input {
	s := tenStageFleet(b, n)
	for i := 0; i < 100000; i++ {
		r := s.step()
		if r.Status.CurrentStage == "stage-5" && len(r.Actions.StartUpgrades) > 0 {
			s.in.Now = s.in.Now.Add(time.Minute)
			in := s.in
			in.Observed = s.observe()
			return in
		}
		if len(r.Transitions) == 0 && r.Actions.Empty() {
			s.in.Now = s.nextEvent()
		}
	}
	b.Fatal("the run never reached stage-5")
	return Input{}
}

func benchmarkStep(b *testing.B, n int) {
	in := midRun(b, n)
	if r := Step(in); len(r.Transitions) == 0 {
		b.Fatal("the benchmarked step does nothing")
	}
	b.ReportAllocs()
	for b.Loop() {
		Step(in)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(n), "ns/member")
}

func BenchmarkStep100(b *testing.B)   { benchmarkStep(b, 100) }
func BenchmarkStep1000(b *testing.B)  { benchmarkStep(b, 1000) }
func BenchmarkStep10000(b *testing.B) { benchmarkStep(b, 10000) }

// BenchmarkRun1000 runs a whole 1,000-member, 10-stage run with an instant
// provider and instant checks, and reports the engine's time per member
// handed off (one finishing, the next starting in the same step).
func BenchmarkRun1000(b *testing.B) {
	for b.Loop() {
		b.StopTimer()
		s := tenStageFleet(b, 1000)
		for _, m := range s.fleet {
			m.upgradeTakes = 0
		}
		b.StartTimer()
		var engine time.Duration
		for s.in.Status.State != fleetv1.StateCompleted {
			s.in.Observed = s.observe()
			start := time.Now()
			r := Step(s.in)
			engine += time.Since(start)
			b.StopTimer()
			s.applyActions(r)
			s.in.Status = r.Status
			b.StartTimer()
		}
		b.ReportMetric(float64(engine.Nanoseconds())/1000, "engine-ns/member")
	}
}
