package localfleet

import (
	"os"
	"path/filepath"
)

// DefaultName is the name of a local fleet when none is given.
const DefaultName = "flotilla"

// DefaultStateDir is where local fleets keep their files: $HOME/.flotilla/local.
func DefaultStateDir() string {
	home, err := os.UserHomeDir()
	if err != nil {
		home = os.TempDir()
	}
	return filepath.Join(home, ".flotilla", "local")
}

// Layout is where one local fleet's files live.
type Layout struct {
	StateDir string
	Name     string
}

// Dir is the fleet's own directory.
func (l Layout) Dir() string { return filepath.Join(l.StateDir, l.Name) }

// HubKubeconfig is the path of the hub's admin kubeconfig.
func (l Layout) HubKubeconfig() string { return filepath.Join(l.Dir(), "hub.kubeconfig") }

// MemberKubeconfig is the path of a member's admin kubeconfig.
func (l Layout) MemberKubeconfig(member string) string {
	return filepath.Join(l.Dir(), "members", member+".kubeconfig")
}

// StateFile records what the fleet started, for `down` and `status`.
func (l Layout) StateFile() string { return filepath.Join(l.Dir(), "state.json") }

// HubDir holds the hub's local cluster.
func (l Layout) HubDir() string { return filepath.Join(l.Dir(), "hub") }

// MemberDir holds a member's local cluster.
func (l Layout) MemberDir(member string) string { return filepath.Join(l.Dir(), "members", member) }

// HubManagerLog receives the output of the hub controller manager.
func (l Layout) HubManagerLog() string { return filepath.Join(l.Dir(), "hub-manager.log") }

// AgentHubKubeconfig is the kubeconfig a member's agent uses for the hub:
// the agent's own restricted identity, not the hub admin's.
func (l Layout) AgentHubKubeconfig(member string) string {
	return filepath.Join(l.Dir(), "members", member+".agent-hub.kubeconfig")
}

// AgentStateDir is a member agent's --state-dir.
func (l Layout) AgentStateDir(member string) string {
	return filepath.Join(l.Dir(), "agents", member)
}

// AgentLog receives the output of a member's agent.
func (l Layout) AgentLog(member string) string {
	return filepath.Join(l.Dir(), "agents", member+".log")
}

// HubManagerStateDir is the hub controller manager's --state-dir: its
// upgrade operations and check files.
func (l Layout) HubManagerStateDir() string { return filepath.Join(l.Dir(), "hub-manager") }
