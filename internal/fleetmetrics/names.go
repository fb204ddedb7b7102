// Package fleetmetrics defines the Prometheus metrics of the hub: gauges read
// from the fleet's objects at scrape time (Collector), so that they are
// always what the API server holds and a deleted object's series vanish, and
// histograms and counters observed where the controllers see a transition
// (Observer). The mapping from objects to samples is pure (Samples).
package fleetmetrics

// The hub's metric names. Names lists them all; the monitoring files in
// deploy/monitoring may name no other Flotilla metric.
const (
	MemberInfo           = "flotilla_member_info"
	MemberNodes          = "flotilla_member_nodes"
	MemberNodesReady     = "flotilla_member_nodes_ready"
	MemberFailedPods     = "flotilla_member_failed_pods"
	MemberReachable      = "flotilla_member_reachable"
	MemberHealthy        = "flotilla_member_healthy"
	MemberAgentConnected = "flotilla_member_agent_connected"
	MemberHeartbeatAge   = "flotilla_member_heartbeat_age_seconds"
	MemberWorks          = "flotilla_member_works"

	RunState   = "flotilla_updaterun_state"
	RunMembers = "flotilla_updaterun_members"

	MemberUpgradeDuration = "flotilla_updaterun_member_upgrade_duration_seconds"
	StageDuration         = "flotilla_updaterun_stage_duration_seconds"
	GateWait              = "flotilla_updaterun_gate_wait_seconds"
	HealthChecks          = "flotilla_updaterun_health_checks_total"

	PlacementLatency = "flotilla_placement_latency_seconds"
	PlacementDrifted = "flotilla_placement_drifted_manifests"
	PlacementFailed  = "flotilla_placement_failed_manifests"
)

// The agent's metric names (internal/agent serves them).
const (
	AgentApplyDuration    = "flotilla_agent_apply_duration_seconds"
	AgentDriftCorrections = "flotilla_agent_drift_corrections_total"
	AgentWorks            = "flotilla_agent_works"
	AgentHubReachable     = "flotilla_agent_hub_reachable"
	AgentHubSyncAge       = "flotilla_agent_last_hub_sync_age_seconds"
)

// Names are every metric Flotilla exports, hub and agent.
var Names = []string{
	MemberInfo, MemberNodes, MemberNodesReady, MemberFailedPods, MemberReachable, MemberHealthy,
	MemberAgentConnected, MemberHeartbeatAge, MemberWorks,
	RunState, RunMembers, MemberUpgradeDuration, StageDuration, GateWait, HealthChecks,
	PlacementLatency, PlacementDrifted, PlacementFailed,
	AgentApplyDuration, AgentDriftCorrections, AgentWorks, AgentHubReachable, AgentHubSyncAge,
}
