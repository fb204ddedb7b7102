package agent

import (
	"context"
	"fmt"
	"time"

	"github.com/go-logr/logr"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	fleetv1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/internal/clusterprobe"
	"github.com/flotilla-dev/flotilla/internal/conditions"
	"github.com/flotilla-dev/flotilla/internal/statuspatch"
)

// heartbeatConflictRetry is how soon a heartbeat that lost a write race
// to the hub is sent again.
const heartbeatConflictRetry = 200 * time.Millisecond

// heartbeatLoop heartbeats once at start, then every period. A failed
// heartbeat (hub down) is logged and tried again at the next tick. When the
// MemberCluster asks for more frequent heartbeats than --heartbeat-period,
// its spec wins: the hub counts missed heartbeats by its spec.
func (a *Agent) heartbeatLoop(ctx context.Context) {
	log := logr.FromContextOrDiscard(ctx)
	failing := false
	period := a.opts.HeartbeatPeriod
	timer := time.NewTimer(period)
	defer timer.Stop()
	for {
		specPeriod, err := a.heartbeat(ctx)
		conflict := apierrors.IsConflict(err)
		// A conflict is an answer too: the hub is there.
		a.metrics.hubAnswered(err == nil || conflict, err == nil, a.now())
		switch {
		case ctx.Err() != nil:
			return
		case err != nil && !failing && !conflict:
			log.Info("heartbeat failed; retrying every period", "error", err.Error())
		case err == nil && failing:
			log.Info("heartbeat delivered again")
		}
		failing = err != nil && !conflict
		next := a.opts.HeartbeatPeriod
		if specPeriod > 0 && specPeriod < next {
			next = specPeriod
		}
		if next != period {
			log.Info("heartbeat period follows the MemberCluster's spec", "period", next)
			period = next
		}
		if conflict {
			// The hub wrote the status meanwhile: heartbeat again at once
			// rather than a period late.
			timer.Reset(heartbeatConflictRetry)
		} else {
			timer.Reset(period)
		}
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
		}
	}
}

// heartbeat probes the member and writes the MemberCluster's status. It
// returns the heartbeat period the MemberCluster's spec asks for.
func (a *Agent) heartbeat(ctx context.Context) (time.Duration, error) {
	mc := &fleetv1.MemberCluster{}
	if err := a.hub.Get(ctx, client.ObjectKey{Name: a.opts.MemberName}, mc); err != nil {
		return 0, fmt.Errorf("reading MemberCluster %s: %w", a.opts.MemberName, err)
	}
	specPeriod := time.Duration(mc.Spec.HeartbeatPeriodSeconds) * time.Second
	// Optimistic locking: the hub's membership controller writes this
	// status too (HeartbeatMissed), and neither may undo the other.
	patch := statuspatch.New(a.hub, mc, statuspatch.WithOptimisticLock())
	wasConnected := conditions.IsTrue(mc.Status.Conditions, fleetv1.MemberAgentConnected)
	now := metav1.NewTime(a.now())
	status := &mc.Status
	status.AgentLastHeartbeatTime = &now
	conditions.Set(&status.Conditions, conditions.True(fleetv1.MemberAgentConnected, fleetv1.ReasonHeartbeatReceived,
		"the member agent's heartbeat arrived"), mc.Generation, now)
	// A member the hub also reaches with stored credentials (a hubless
	// fleet that became hubful) is probed by the hub: the agent then only
	// says that it is there.
	if mc.Spec.Access.Mode == fleetv1.AccessAgent {
		probeCtx, cancel := context.WithTimeout(ctx, min(a.opts.HeartbeatPeriod, 10*time.Second))
		obs, probeErr := clusterprobe.Probe(probeCtx, a.memberKube)
		cancel()
		conditions.Set(&status.Conditions, conditions.True(fleetv1.MemberJoined, fleetv1.ReasonAgentJoined,
			"the member agent reports heartbeats"), mc.Generation, now)
		if probeErr != nil {
			// The heartbeat arrived all the same: only the member is unwell.
			status.LastHeartbeatTime = &now
			clusterprobe.RecordUnreachable(status, mc.Generation, now, fleetv1.ReasonProbeFailed,
				"the agent cannot probe its member's API server: "+probeErr.Error())
		} else {
			obs.Record(status, mc.Generation, now, fleetv1.ReasonHeartbeatReceived, "the member agent's heartbeat arrived")
		}
	}
	if err := patch.Patch(ctx, mc); err != nil {
		return specPeriod, fmt.Errorf("writing MemberCluster %s status: %w", a.opts.MemberName, err)
	}
	if !wasConnected {
		logr.FromContextOrDiscard(ctx).Info("joined the fleet: heartbeats are arriving on the hub")
	}
	return specPeriod, nil
}
