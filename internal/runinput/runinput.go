// Package runinput turns the hub's objects into what the staged-rollout
// engine takes for an update run: the strategy the run follows and the
// members it may touch. The UpdateRun controller and the CLI's plan both
// call it, so they never disagree about which strategy a run follows.
package runinput

import (
	"context"
	"fmt"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	fleetv1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/internal/rollout"
)

// DefaultStrategy is what a run without a strategy follows: every member,
// one at a time, in one stage.
func DefaultStrategy() *fleetv1.UpdateStrategySpec {
	return &fleetv1.UpdateStrategySpec{Stages: []fleetv1.UpdateStage{{
		Name: "all", MemberSelector: &metav1.LabelSelector{},
	}}}
}

// Strategy is the strategy a run follows: the snapshot taken when it
// started, else its inline strategy, else the UpdateStrategy it names, else
// the default single stage.
func Strategy(ctx context.Context, hub client.Reader, run *fleetv1.UpdateRun) (*fleetv1.UpdateStrategySpec, error) {
	switch {
	case run.Status.StrategySnapshot != nil:
		return run.Status.StrategySnapshot, nil
	case run.Spec.Strategy != nil:
		return run.Spec.Strategy, nil
	case run.Spec.UpdateStrategyName != "":
		s := &fleetv1.UpdateStrategy{}
		if err := hub.Get(ctx, client.ObjectKey{Name: run.Spec.UpdateStrategyName}, s); err != nil {
			if apierrors.IsNotFound(err) {
				return nil, fmt.Errorf("update strategy %q not found", run.Spec.UpdateStrategyName)
			}
			return nil, fmt.Errorf("reading update strategy %q: %w", run.Spec.UpdateStrategyName, err)
		}
		return &s.Spec, nil
	}
	return DefaultStrategy(), nil
}

// Validate checks the strategy a run that has not started would follow,
// with the fields named as the operator wrote them: spec.strategy.… for an
// inline strategy, the UpdateStrategy's spec.… for a named one. A run that
// has started keeps the tree it recorded, so it is not checked again.
func Validate(run *fleetv1.UpdateRun, strategy *fleetv1.UpdateStrategySpec) error {
	if run.Status.StartTime != nil || len(run.Status.Stages) > 0 {
		return nil
	}
	switch {
	case run.Spec.Strategy != nil:
		return rollout.ValidateStrategy(*strategy, nil).Under("spec.strategy").Err()
	case run.Spec.UpdateStrategyName != "":
		if err := rollout.ValidateStrategy(*strategy, nil).Under("spec").Err(); err != nil {
			return fmt.Errorf("update strategy %s is invalid: %w", run.Spec.UpdateStrategyName, err)
		}
	}
	// The default strategy is valid.
	return nil
}

// Members converts MemberClusters to the engine's members.
func Members(items []fleetv1.MemberCluster) []rollout.Member {
	out := make([]rollout.Member, 0, len(items))
	for i := range items {
		m := &items[i]
		out = append(out, rollout.Member{Name: m.Name, Labels: m.Labels, UpdateGroup: m.Spec.UpdateGroup})
	}
	return out
}
