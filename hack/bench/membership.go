package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	"sigs.k8s.io/controller-runtime/pkg/client"

	fleetv1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/internal/enrollment"
)

// joinTarget is DESIGN.md §8's target for a member joining (Karmada's p99
// is 6.9 s).
const joinTarget = 2 * time.Second

// unreachablePeriods is issue 2's bound: a member that stops answering is
// Unreachable within 3 heartbeat periods.
const unreachablePeriods = 3

// runJoin enrolls new members one at a time into a running fleet and times
// each until the hub reports it Healthy.
func runJoin(ctx context.Context, b *bench) []Row {
	const what = "member joins → Healthy"
	target := "p99 < " + secs(joinTarget)
	f, err := b.sharedFleet(ctx)
	if err != nil {
		return []Row{skipped("join", what, target, err.Error())}
	}
	var joins, enrolls sample
	for i := 1; i <= b.opts.joins; i++ {
		took, enroll, err := b.joinOnce(ctx, f, i)
		if err != nil {
			return []Row{skipped("join", what, target, fmt.Sprintf("join %d: %v", i, err))}
		}
		b.logf("join: %d/%d: Healthy after %s (enrolment call %s)", i, b.opts.joins, dur(took), dur(enroll))
		joins = append(joins, took)
		enrolls = append(enrolls, enroll)
	}
	figures := joins.figures()
	figures["enroll_p50_s"] = enrolls.median().Seconds()
	return []Row{{
		What:     what,
		Target:   target,
		Measured: joins.spread(),
		How: fmt.Sprintf("from calling enrollment.Enroll (what `flotilla member create` does: check the kubeconfig reaches the member, "+
			"store it in a Secret, create the MemberCluster; p50 %s of the total) until the hub's watch delivers Healthy=True; "+
			"each member a new local cluster with %d kwok nodes, started beforehand (not timed); `flotilla hub` as a subprocess; "+
			"heartbeat period %d s (the first probe does not wait for it); %d join(s) one after another",
			dur(enrolls.median()), b.opts.joinNodes, b.opts.joinHeartbeatS, len(joins)),
		N:       len(joins),
		Verdict: verdict(joins.quantile(0.99) < joinTarget),
		Figures: figures,
	}}
}

// joinOnce starts a cluster, enrolls it and waits for Healthy=True; then it
// removes the member and stops the cluster, so joins do not pile up.
func (b *bench) joinOnce(ctx context.Context, f *sharedFleet, i int) (took, enroll time.Duration, err error) {
	name := fmt.Sprintf("join-%d", i)
	c, err := b.startCluster(ctx, name, b.tc.OldestKubernetes(), b.opts.joinNodes)
	if err != nil {
		return 0, 0, err
	}
	defer b.stopCluster(c)
	kubeconfig, err := c.Kubeconfig()
	if err != nil {
		return 0, 0, err
	}
	healthy, err := watchCondition(ctx, f.hub, name, fleetv1.MemberHealthy, metav1.ConditionTrue)
	if err != nil {
		return 0, 0, err
	}
	start := time.Now()
	_, err = enrollment.Enroll(ctx, f.hub, enrollment.Request{
		Name: name, Kubeconfig: kubeconfig, UpdateGroup: "joined", HeartbeatPeriodSeconds: int32(b.opts.joinHeartbeatS),
	})
	enroll = time.Since(start)
	if err != nil {
		healthy.stop()
		return 0, 0, err
	}
	// Removed before its cluster stops, so the hub never probes it dead.
	defer func() {
		if rmErr := enrollment.Remove(context.WithoutCancel(ctx), f.hub, name); rmErr != nil {
			b.warn("removing member %s: %v", name, rmErr)
		}
	}()
	at, err := healthy.wait(30 * time.Second)
	if err != nil {
		return 0, 0, fmt.Errorf("member %s never turned Healthy: %w", name, err)
	}
	return at.Sub(start), enroll, nil
}

// runUnreachable stops the API server of a fleet member and times how long
// the hub takes to mark it Unreachable, then restarts it and times the
// recovery.
func runUnreachable(ctx context.Context, b *bench) []Row {
	const what, whatBack = "member stops answering → Reachable=False", "member answers again → Reachable=True"
	target := fmt.Sprintf("≤ %d heartbeat periods", unreachablePeriods)
	f, err := b.sharedFleet(ctx)
	if err != nil {
		return []Row{skipped("unreachable", what, target, err.Error())}
	}
	name := f.state.Members[0].Name
	m := &fleetv1.MemberCluster{}
	if err := f.hub.Get(ctx, client.ObjectKey{Name: name}, m); err != nil {
		return []Row{skipped("unreachable", what, target, err.Error())}
	}
	period := 15 * time.Second // the API's default
	if m.Spec.HeartbeatPeriodSeconds > 0 {
		period = time.Duration(m.Spec.HeartbeatPeriodSeconds) * time.Second
	}
	limit := unreachablePeriods*period + 10*time.Second

	var down, back sample
	for i := 1; i <= b.opts.outages; i++ {
		d, r, err := b.outage(ctx, f, name, limit)
		if err != nil {
			return []Row{skipped("unreachable", what, target, fmt.Sprintf("outage %d: %v", i, err))}
		}
		b.logf("unreachable: %d/%d: Reachable=False after %s, back to True %s after the restart", i, b.opts.outages, dur(d), dur(r))
		down = append(down, d)
		back = append(back, r)
	}
	periods := func(d time.Duration) string { return fmt.Sprintf("%.2f", d.Seconds()/period.Seconds()) }
	downFigures := down.figures()
	downFigures["heartbeat_s"] = period.Seconds()
	return []Row{
		{
			What:   what,
			Target: target,
			Measured: fmt.Sprintf("p50 %s, max %s = %s periods of %s",
				dur(down.median()), dur(down.max()), periods(down.max()), secs(period)),
			How: fmt.Sprintf("member %s of a local fleet (`flotilla hub` subprocess, heartbeat period %s): from sending the member's kube-apiserver SIGTERM "+
				"(localcluster StopAPIServer) until the hub's watch delivers Reachable=False; the probe after the stop fails at once, "+
				"so the wait is the rest of the heartbeat period: expect 0 to 1 period; %d outage(s), each followed by a restart",
				name, secs(period), len(down)),
			N:       len(down),
			Verdict: verdict(down.max() <= unreachablePeriods*period),
			Figures: downFigures,
		},
		{
			What:     whatBack,
			Measured: fmt.Sprintf("p50 %s, max %s", dur(back.median()), dur(back.max())),
			How:      "from the restarted kube-apiserver being ready (localcluster RestartAPIServer returned) until the hub's watch delivers Reachable=True; same outages",
			N:        len(back),
			Figures:  back.figures(),
		},
	}
}

// outage stops the member's API server, waits for Reachable=False, restarts
// it and waits for Reachable=True.
func (b *bench) outage(ctx context.Context, f *sharedFleet, name string, limit time.Duration) (down, back time.Duration, err error) {
	// Start from a reachable member, so that each outage is seen afresh.
	reachable, err := watchCondition(ctx, f.hub, name, fleetv1.MemberReachable, metav1.ConditionTrue)
	if err != nil {
		return 0, 0, err
	}
	if _, err := reachable.wait(limit); err != nil {
		return 0, 0, fmt.Errorf("member %s is not Reachable to begin with: %w", name, err)
	}
	unreachable, err := watchCondition(ctx, f.hub, name, fleetv1.MemberReachable, metav1.ConditionFalse)
	if err != nil {
		return 0, 0, err
	}
	start := time.Now()
	if err := f.member.StopAPIServer(); err != nil {
		unreachable.stop()
		return 0, 0, err
	}
	at, err := unreachable.wait(limit)
	if err != nil {
		return 0, 0, errors.Join(fmt.Errorf("member %s was not marked unreachable: %w", name, err), f.member.RestartAPIServer(ctx, ""))
	}
	down = at.Sub(start)

	reachable, err = watchCondition(ctx, f.hub, name, fleetv1.MemberReachable, metav1.ConditionTrue)
	if err != nil {
		return 0, 0, errors.Join(err, f.member.RestartAPIServer(ctx, ""))
	}
	if err := f.member.RestartAPIServer(ctx, ""); err != nil {
		reachable.stop()
		return 0, 0, fmt.Errorf("restarting the API server of %s: %w", name, err)
	}
	ready := time.Now()
	at, err = reachable.wait(limit)
	if err != nil {
		return 0, 0, fmt.Errorf("member %s did not become reachable again: %w", name, err)
	}
	return down, max(0, at.Sub(ready)), nil
}

// conditionWatch notes when a MemberCluster's condition takes a status, as
// the hub's watch stream delivers it: what anyone watching the fleet sees.
type conditionWatch struct {
	done chan struct{}
	at   time.Time
	err  error
	stop func()
}

// watchCondition starts watching before the caller acts, so that no change
// is missed; the watch's first event is the member's current state.
func watchCondition(ctx context.Context, c client.WithWatch, member, condType string, want metav1.ConditionStatus) (*conditionWatch, error) {
	cw, err := watchUntil(ctx, c, &fleetv1.MemberClusterList{}, []client.ListOption{client.MatchingFields{"metadata.name": member}},
		func(obj runtime.Object) bool {
			m, ok := obj.(*fleetv1.MemberCluster)
			return ok && meta.IsStatusConditionPresentAndEqual(m.Status.Conditions, condType, want)
		})
	if err != nil {
		return nil, fmt.Errorf("watching member %s: %w", member, err)
	}
	return cw, nil
}

// watchUntil watches the objects of list that opts select and notes when
// an event first satisfies done, which sees every event in order.
func watchUntil(ctx context.Context, c client.WithWatch, list client.ObjectList, opts []client.ListOption, done func(runtime.Object) bool) (*conditionWatch, error) {
	ctx, cancel := context.WithCancel(ctx)
	w, err := c.Watch(ctx, list, opts...)
	if err != nil {
		cancel()
		return nil, err
	}
	cw := &conditionWatch{done: make(chan struct{}), stop: func() { w.Stop(); cancel() }}
	go func() {
		defer close(cw.done)
		for ev := range w.ResultChan() {
			if ev.Type == watch.Error {
				cw.err = apierrors.FromObject(ev.Object)
				return
			}
			if done(ev.Object) {
				cw.at = time.Now()
				return
			}
		}
		cw.err = errors.New("the watch ended")
	}()
	return cw, nil
}

// wait returns when the condition was seen, and stops the watch.
func (cw *conditionWatch) wait(timeout time.Duration) (time.Time, error) {
	defer cw.stop()
	select {
	case <-cw.done:
		return cw.at, cw.err
	case <-time.After(timeout):
		return time.Time{}, fmt.Errorf("not within %s", timeout)
	}
}
