package localfleet

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/flotilla-dev/flotilla/internal/localcluster"
	"github.com/flotilla-dev/flotilla/internal/localcluster/process"
)

// ErrNoFleet says that no local fleet is recorded where one was looked for.
var ErrNoFleet = errors.New("no local fleet")

// State records what `up` started, in Layout.StateFile().
type State struct {
	Name string `json:"name"`
	Dir  string `json:"dir"`
	// StartedAt is when `up` began; Ready is set once it finished.
	StartedAt time.Time       `json:"startedAt"`
	Ready     bool            `json:"ready"`
	Hub       ClusterRecord   `json:"hub"`
	Members   []ClusterRecord `json:"members"`
	// HubManager is the `flotilla hub` process; nil when not started.
	HubManager *HubManagerRecord `json:"hubManager,omitempty"`
	// Agents are the member agents of a hubful fleet, by member name.
	Agents map[string]*AgentRecord `json:"agents,omitempty"`
}

// AgentRecord is one member agent process.
type AgentRecord struct {
	process.Record
	HealthAddress string `json:"healthAddress"`
}

// ClusterRecord is one cluster of the fleet.
type ClusterRecord struct {
	Name string `json:"name"`
	// Dir is the cluster's directory; its cluster.json is the current
	// truth (an upgrade restarts the API server), Cluster a copy from `up`.
	Dir         string              `json:"dir"`
	Kubeconfig  string              `json:"kubeconfig"`
	UpdateGroup string              `json:"updateGroup,omitempty"`
	Labels      map[string]string   `json:"labels,omitempty"`
	Cluster     *localcluster.State `json:"cluster,omitempty"`
}

// HubManagerRecord is the hub controller manager process and its addresses.
type HubManagerRecord struct {
	process.Record
	MetricsAddress string `json:"metricsAddress"`
	HealthAddress  string `json:"healthAddress"`
}

// clusters lists the hub, then the members.
func (s State) clusters() []ClusterRecord {
	return append([]ClusterRecord{s.Hub}, s.Members...)
}

// ReadState returns the recorded state of the fleet at l, or an error
// wrapping ErrNoFleet.
func ReadState(l Layout) (State, error) {
	data, err := os.ReadFile(l.StateFile())
	if errors.Is(err, fs.ErrNotExist) {
		return State{}, fmt.Errorf("%w %q in %s: start one with `flotilla local up`", ErrNoFleet, l.Name, l.StateDir)
	}
	if err != nil {
		return State{}, err
	}
	var s State
	if err := json.Unmarshal(data, &s); err != nil {
		return State{}, fmt.Errorf("reading %s: %w", l.StateFile(), err)
	}
	return s, nil
}

func writeState(l Layout, s State) error {
	data, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return err
	}
	tmp := l.StateFile() + ".tmp"
	if err := os.MkdirAll(filepath.Dir(tmp), 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(tmp, append(data, '\n'), 0o644); err != nil {
		return err
	}
	// Atomic, so that a kill mid-write never leaves a state `down` cannot read.
	return os.Rename(tmp, l.StateFile())
}
