package main

import (
	"context"
	"fmt"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/util/intstr"

	fleetv1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/internal/rollout"
)

// linearSlack is how much the cost per member may grow from the smallest
// to the largest size and still count as linear: caches and the garbage
// collector cost more on bigger inputs.
const linearSlack = 2.0

// runEngine times rollout.Step on a mid-run input at each size, in this
// process, with testing.Benchmark.
func runEngine(ctx context.Context, b *bench) []Row {
	sizes, _ := b.opts.sizes() // validated with the flags
	type result struct {
		n         int
		perStep   time.Duration
		perMember float64 // ns
		allocs    int64
		bytes     int64
	}
	var results []result
	var rows []Row
	for _, n := range sizes {
		if ctx.Err() != nil {
			rows = append(rows, skipped("engine", fmt.Sprintf("engine step, %s members", count(n)), "", "interrupted"))
			continue
		}
		in, err := midRunInput(n)
		if err != nil {
			rows = append(rows, skipped("engine", fmt.Sprintf("engine step, %s members", count(n)), "", err.Error()))
			continue
		}
		res := testing.Benchmark(func(tb *testing.B) {
			tb.ReportAllocs()
			for tb.Loop() {
				rollout.Step(in)
			}
		})
		if res.N == 0 {
			rows = append(rows, skipped("engine", fmt.Sprintf("engine step, %s members", count(n)), "", "the benchmark did not run"))
			continue
		}
		r := result{n: n, perStep: time.Duration(res.NsPerOp()), allocs: res.AllocsPerOp(), bytes: res.AllocedBytesPerOp()}
		r.perMember = float64(res.NsPerOp()) / float64(n)
		results = append(results, r)
		b.logf("engine: %d members: %s per step (%d runs)", n, dur(r.perStep), res.N)
		rows = append(rows, Row{
			What:     fmt.Sprintf("engine step, %s members, mid-run", count(n)),
			Measured: fmt.Sprintf("%s per step, %.0f ns per member, %d allocs", dur(r.perStep), r.perMember, r.allocs),
			How: fmt.Sprintf("rollout.Step in this process (testing.Benchmark, %d steps) on %d members in 10 stages × 2 groups, maxConcurrency 10%% per group: "+
				"stage 6 is running and its batch in flight has just been reported upgraded, so the step completes it and starts the next", res.N, n),
			N:       res.N,
			Figures: map[string]float64{"step_ns": float64(res.NsPerOp()), "ns_per_member": r.perMember, "allocs": float64(r.allocs), "bytes": float64(r.bytes)},
		})
	}
	if len(results) >= 2 {
		lo, hi := results[0], results[len(results)-1]
		growth := hi.perMember / lo.perMember
		rows = append(rows, Row{
			What:   fmt.Sprintf("engine step cost growth, %s → %s members", count(lo.n), count(hi.n)),
			Target: "≤ linear",
			Measured: fmt.Sprintf("%.0f× the members: step ×%.1f, cost per member ×%.2f",
				float64(hi.n)/float64(lo.n), float64(hi.perStep)/float64(lo.perStep), growth),
			How:     fmt.Sprintf("cost per member at the largest size over that at the smallest; counted linear up to ×%.1f", linearSlack),
			Verdict: verdict(growth <= linearSlack),
			Figures: map[string]float64{"per_member_growth": growth},
		})
	}
	return rows
}

// midRunInput drives a run of n members with an instant upgrade until
// the sixth of ten stages has a batch in flight, and returns the input of
// the step that sees that batch finished.
func midRunInput(n int) (rollout.Input, error) {
	const stages, groups, from, to = 10, 2, "v1.36.3", "v1.37.2"
	tenPercent := intstr.FromString("10%")
	in := rollout.Input{
		RunName: "engine",
		Target:  to,
		Desired: fleetv1.RunStarted,
		Now:     time.Date(2026, 1, 5, 9, 0, 0, 0, time.UTC),
	}
	var groupNames []string
	for s := range stages {
		stage := fleetv1.UpdateStage{Name: fmt.Sprintf("stage-%02d", s+1)}
		for g := range groups {
			name := fmt.Sprintf("stage-%02d-group-%d", s+1, g+1)
			stage.Groups = append(stage.Groups, fleetv1.UpdateGroup{Name: name, MaxConcurrency: &tenPercent})
			groupNames = append(groupNames, name)
		}
		in.Strategy.Stages = append(in.Strategy.Stages, stage)
	}
	for i := range n {
		// Contiguous blocks, so that every group has n/20 members.
		group := groupNames[i*len(groupNames)/n]
		in.Members = append(in.Members, rollout.Member{Name: fmt.Sprintf("member-%05d", i+1), UpdateGroup: group})
	}
	mid := in.Strategy.Stages[stages/2].Name

	for range 100000 {
		in.Observed = instantUpgrades(in.Members, in.Status, from)
		if in.Status.CurrentStage == mid && running(in.Status) > 0 {
			if r := rollout.Step(in); len(r.Transitions) == 0 || len(r.Actions.StartUpgrades) == 0 {
				return in, fmt.Errorf("the mid-run step at %d members does nothing", n)
			}
			return in, nil
		}
		r := rollout.Step(in)
		if r.Status.State == fleetv1.StateCompleted || r.Status.State == fleetv1.StateFailed {
			break
		}
		in.Status = r.Status
		in.Now = in.Now.Add(time.Second)
	}
	return in, fmt.Errorf("the run of %d members never reached %s with upgrades in flight", n, mid)
}

// instantUpgrades reports every member on from, and every Running one
// upgraded.
func instantUpgrades(members []rollout.Member, st fleetv1.UpdateRunStatus, from string) rollout.Observations {
	obs := rollout.Observations{Members: make(map[string]rollout.MemberObservation, len(members))}
	for _, m := range members {
		obs.Members[m.Name] = rollout.MemberObservation{Version: from}
	}
	for _, stage := range st.Stages {
		for _, g := range stage.Groups {
			for _, m := range g.Members {
				if m.State == fleetv1.StateRunning {
					obs.Members[m.Name] = rollout.MemberObservation{Version: from, Upgrade: rollout.UpgradeObservation{State: rollout.UpgradeSucceeded}}
				}
			}
		}
	}
	return obs
}

func running(st fleetv1.UpdateRunStatus) int {
	n := 0
	for _, stage := range st.Stages {
		for _, g := range stage.Groups {
			for _, m := range g.Members {
				if m.State == fleetv1.StateRunning {
					n++
				}
			}
		}
	}
	return n
}
