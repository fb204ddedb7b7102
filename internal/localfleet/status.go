package localfleet

import (
	"context"
	"sync"
	"time"

	"github.com/flotilla-dev/flotilla/internal/localcluster"
	"github.com/flotilla-dev/flotilla/internal/localcluster/process"
)

// Roles of the clusters of a fleet.
const (
	RoleHub    = "hub"
	RoleMember = "member"
)

// FleetStatus is a local fleet as seen now.
type FleetStatus struct {
	Name          string         `json:"name"`
	Dir           string         `json:"dir"`
	StartedAt     time.Time      `json:"startedAt"`
	HubKubeconfig string         `json:"hubKubeconfig"`
	HubManager    *ProcessStatus `json:"hubManager,omitempty"`
	// Clusters lists the hub, then the members.
	Clusters []ClusterStatus `json:"clusters"`
}

// ClusterStatus is one cluster of the fleet as seen now.
type ClusterStatus struct {
	Name        string `json:"name"`
	Role        string `json:"role"`
	UpdateGroup string `json:"updateGroup,omitempty"`
	// Version is what the API server's /version says; when it does not
	// answer, the version last started.
	Version    string             `json:"version"`
	Server     string             `json:"server"`
	Ports      localcluster.Ports `json:"ports"`
	Nodes      int                `json:"nodes"`
	Processes  []ProcessStatus    `json:"processes"`
	Ready      bool               `json:"ready"`
	Problem    string             `json:"problem,omitempty"`
	Kubeconfig string             `json:"kubeconfig"`
}

// ProcessStatus is one process of the fleet.
type ProcessStatus struct {
	Name    string `json:"name"`
	PID     int    `json:"pid"`
	Running bool   `json:"running"`
	Log     string `json:"log"`
}

// statusTimeout bounds the health check of one cluster.
const statusTimeout = 3 * time.Second

// Status checks every cluster of the fleet at l, in parallel.
func Status(ctx context.Context, l Layout) (FleetStatus, error) {
	l, err := absLayout(l)
	if err != nil {
		return FleetStatus{}, err
	}
	s, err := ReadState(l)
	if err != nil {
		return FleetStatus{}, err
	}
	fs := FleetStatus{Name: s.Name, Dir: s.Dir, StartedAt: s.StartedAt, HubKubeconfig: s.Hub.Kubeconfig}
	if s.HubManager != nil {
		ps := processStatus("hub-manager", s.HubManager.Record)
		fs.HubManager = &ps
	}
	records := s.clusters()
	fs.Clusters = make([]ClusterStatus, len(records))
	var wg sync.WaitGroup
	for i, rec := range records {
		role := RoleMember
		if i == 0 {
			role = RoleHub
		}
		wg.Go(func() {
			fs.Clusters[i] = clusterStatus(ctx, rec, role)
			if a := s.Agents[rec.Name]; a != nil && role == RoleMember {
				fs.Clusters[i].Processes = append(fs.Clusters[i].Processes, processStatus("agent", a.Record))
			}
		})
	}
	wg.Wait()
	return fs, nil
}

func clusterStatus(ctx context.Context, rec ClusterRecord, role string) ClusterStatus {
	cs := ClusterStatus{Name: rec.Name, Role: role, UpdateGroup: rec.UpdateGroup, Kubeconfig: rec.Kubeconfig}
	c, err := localcluster.Attach(rec.Dir)
	if err != nil {
		cs.Problem = "not started: " + err.Error()
		return cs
	}
	st := c.State()
	cs.Version, cs.Server, cs.Ports, cs.Nodes = st.KubernetesVersion, st.Server, st.Ports, st.Nodes
	cs.Processes = []ProcessStatus{
		processStatus("etcd", st.Etcd),
		processStatus("kube-apiserver", st.APIServer),
	}
	if st.Kwok != nil {
		cs.Processes = append(cs.Processes, processStatus("kwok", *st.Kwok))
	}
	if st.ControllerManager != nil {
		cs.Processes = append(cs.Processes, processStatus("kube-controller-manager", *st.ControllerManager))
	}
	h := c.Health(ctx, statusTimeout)
	cs.Ready = h.Ready && h.Problem == ""
	cs.Problem = h.Problem
	if h.ServerVersion != "" {
		cs.Version = h.ServerVersion
	}
	return cs
}

func processStatus(name string, r process.Record) ProcessStatus {
	return ProcessStatus{Name: name, PID: r.PID, Running: r.Alive(), Log: r.Log}
}
