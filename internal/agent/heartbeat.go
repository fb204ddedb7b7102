package agent

import (
	"context"
	"fmt"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	fleetv1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/internal/clusterprobe"
)

// Heartbeat condition reasons, in the style of the hub's membership
// controller.
const (
	ReasonAgentJoined       = "AgentJoined"
	ReasonHeartbeatReceived = "HeartbeatReceived"
	ReasonProbeFailed       = "ProbeFailed"
)

// heartbeatLoop heartbeats once at start, then every period. A failed
// heartbeat (hub down) is logged and tried again at the next tick.
func (a *Agent) heartbeatLoop(ctx context.Context) {
	ticker := time.NewTicker(a.opts.HeartbeatPeriod)
	defer ticker.Stop()
	failing := false
	for {
		err := a.heartbeat(ctx)
		switch {
		case ctx.Err() != nil:
			return
		case err != nil && !failing:
			a.log.Info("heartbeat failed; retrying every period", "error", err.Error())
		case err == nil && failing:
			a.log.Info("heartbeat delivered again")
		}
		failing = err != nil
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
		}
	}
}

// heartbeat probes the member and writes the MemberCluster's status.
func (a *Agent) heartbeat(ctx context.Context) error {
	probeCtx, cancel := context.WithTimeout(ctx, min(a.opts.HeartbeatPeriod, 10*time.Second))
	obs, probeErr := clusterprobe.Probe(probeCtx, a.memberKube)
	cancel()

	mc := &fleetv1.MemberCluster{}
	if err := a.hub.Get(ctx, client.ObjectKey{Name: a.opts.MemberName}, mc); err != nil {
		return fmt.Errorf("reading MemberCluster %s: %w", a.opts.MemberName, err)
	}
	orig := mc.DeepCopy()
	now := metav1.NewTime(a.now())
	status := &mc.Status
	status.LastHeartbeatTime = &now
	set := func(condType string, ok bool, reason, msg string) {
		setCondition(&status.Conditions, condType, ok, reason, msg, mc.Generation, now)
	}
	set(fleetv1.MemberJoined, true, ReasonAgentJoined, "the member agent reports heartbeats")
	if probeErr != nil {
		set(fleetv1.MemberReachable, false, ReasonProbeFailed, "the agent cannot probe its member's API server: "+probeErr.Error())
		set(fleetv1.MemberHealthy, false, "Unreachable", "the member cannot be probed: "+probeErr.Error())
	} else {
		status.KubernetesVersion = obs.KubernetesVersion
		status.Nodes = obs.Nodes
		status.FailedPods = obs.FailedPods
		status.ResourceUsage = obs.ResourceUsage
		status.Properties = obs.Properties
		set(fleetv1.MemberReachable, true, ReasonHeartbeatReceived, "the member agent's heartbeat arrived")
		ok, reason, msg := obs.Healthy()
		set(fleetv1.MemberHealthy, ok, reason, msg)
	}
	// Optimistic locking: the hub's membership controller writes this
	// status too (HeartbeatMissed), and neither may undo the other.
	if err := a.hub.Status().Patch(ctx, mc, client.MergeFromWithOptions(orig, client.MergeFromWithOptimisticLock{})); err != nil {
		return fmt.Errorf("writing MemberCluster %s status: %w", a.opts.MemberName, err)
	}
	if c := meta.FindStatusCondition(orig.Status.Conditions, fleetv1.MemberJoined); c == nil || c.Status != metav1.ConditionTrue {
		a.log.Info("joined the fleet: heartbeats are arriving on the hub")
	}
	return nil
}
