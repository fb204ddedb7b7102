package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/flotilla-dev/flotilla/internal/localcluster"
)

const twoGroups = `
hub: {kubernetesVersion: "1.37"}
members:
- name: dev-1
  kubernetesVersion: "1.36"
  labels: {env: dev, region: westeurope}
  updateGroup: group-dev-clusters
- name: prod-eu-1
  kubernetesVersion: "1.36"
  labels: {env: prod, region: westeurope}
  updateGroup: group-prod
- name: prod-us-1
  kubernetesVersion: "1.36"
  labels: {env: prod, region: eastus}
  updateGroup: group-prod
`

// TestMembership walks the foundation issue's "done when": a fleet of three
// healthy members on the older minor, bad enrollments refused, and a member
// whose API server stops turning Unreachable within three heartbeats.
func TestMembership(t *testing.T) {
	f := upFleet(t, twoGroups)
	f.waitHealthy("dev-1", "prod-eu-1", "prod-us-1")
	for name, row := range f.status() {
		if row.Version != "v1.36.3" || row.Nodes != 3 || row.ReadyNodes != 3 || row.FailedPods != 0 {
			t.Errorf("%s: %+v, want v1.36.3 with 3/3 nodes and no failed pods", name, row)
		}
	}

	// Bad input is refused and creates nothing.
	notKubeconfig := filepath.Join(t.TempDir(), "not-a-kubeconfig")
	if err := os.WriteFile(notKubeconfig, []byte("hello"), 0o600); err != nil {
		t.Fatal(err)
	}
	if msg := f.mustFail("member", "create", "-n", "bad", "--kubeconfig", notKubeconfig); !strings.Contains(msg, "invalid kubeconfig") {
		t.Errorf("invalid kubeconfig: %s", msg)
	}
	dev1 := f.dir("members", "dev-1.kubeconfig")
	if msg := f.mustFail("member", "create", "-n", "dev-1", "--kubeconfig", dev1); !strings.Contains(msg, "already exists") {
		t.Errorf("duplicate member: %s", msg)
	}
	unreachable := filepath.Join(t.TempDir(), "unreachable.kubeconfig")
	data, err := os.ReadFile(dev1)
	if err != nil {
		t.Fatal(err)
	}
	st := f.localStatus()
	port := fmt.Sprint(st.port("dev-1"))
	if err := os.WriteFile(unreachable, []byte(strings.ReplaceAll(string(data), ":"+port, ":1")), 0o600); err != nil {
		t.Fatal(err)
	}
	if msg := f.mustFail("member", "create", "-n", "lost", "--kubeconfig", unreachable); !strings.Contains(msg, "cannot reach") {
		t.Errorf("unreachable member: %s", msg)
	}
	if msg := f.mustFail("member", "create", "-n", "Bad_Name", "--kubeconfig", dev1); !strings.Contains(msg, "invalid member name") {
		t.Errorf("bad name: %s", msg)
	}
	if got := len(f.status()); got != 3 {
		t.Errorf("%d members after refused creates, want 3", got)
	}

	// The same cluster can join under a second name, with labels and a group.
	f.must("member", "create", "-n", "dev-1-again", "--kubeconfig", dev1, "--update-group", "group-extra", "--labels", "env=dev,tier=gold")
	f.waitHealthy("dev-1-again")
	f.must("member", "update", "-n", "dev-1-again", "--update-group", "group-other")
	if row := f.status()["dev-1-again"]; row.Group != "group-other" {
		t.Errorf("after update: group %q, want group-other", row.Group)
	}
	f.must("member", "delete", "-n", "dev-1-again")
	if _, ok := f.status()["dev-1-again"]; ok {
		t.Error("deleted member still listed")
	}

	// Stop one member's API server by hand: it turns Unreachable within
	// three heartbeat periods (5 s each in local fleets), the others stay Healthy.
	pid := st.pid("prod-us-1", "kube-apiserver")
	if pid == 0 {
		t.Fatalf("no kube-apiserver pid for prod-us-1 in local status")
	}
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	took := f.eventually(15*time.Second, "prod-us-1 Unreachable", func() (bool, string) {
		row := f.status()["prod-us-1"]
		return row.Health == "Unreachable", row.Health
	})
	t.Logf("prod-us-1 turned Unreachable %s after its API server was killed", took.Round(100*time.Millisecond))
	if st := f.status(); st["dev-1"].Health != "Healthy" || st["prod-eu-1"].Health != "Healthy" {
		t.Errorf("other members affected: %+v", st)
	}

	// It recovers when its API server is back.
	c, err := localcluster.Attach(f.dir("members", "prod-us-1"))
	if err != nil {
		t.Fatal(err)
	}
	if err := c.RestartAPIServer(t.Context(), ""); err != nil {
		t.Fatal(err)
	}
	f.waitHealthy("prod-us-1")
}

// localStatus is `flotilla local status -o json`.
type localStatus struct {
	HubManager *struct {
		PID int `json:"pid"`
	} `json:"hubManager"`
	Clusters []struct {
		Name  string `json:"name"`
		Ports struct {
			APIServer int `json:"apiServer"`
		} `json:"ports"`
		Processes []struct {
			Name string `json:"name"`
			PID  int    `json:"pid"`
		} `json:"processes"`
	} `json:"clusters"`
}

func (f *fleet) localStatus() localStatus {
	f.t.Helper()
	out := f.must("local", "status", "--name", f.name, "--state-dir", f.stateDir, "-o", "json")
	var st localStatus
	if err := json.Unmarshal([]byte(out), &st); err != nil {
		f.t.Fatalf("local status: %v\n%s", err, out)
	}
	return st
}

func (s localStatus) port(cluster string) int {
	for _, c := range s.Clusters {
		if c.Name == cluster {
			return c.Ports.APIServer
		}
	}
	return 0
}

func (s localStatus) pid(cluster, process string) int {
	for _, c := range s.Clusters {
		if c.Name != cluster {
			continue
		}
		for _, p := range c.Processes {
			if p.Name == process {
				return p.PID
			}
		}
	}
	return 0
}
