package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"

	placementv1 "github.com/flotilla-dev/flotilla/api/placement/v1"
	"github.com/flotilla-dev/flotilla/internal/localcluster"
)

// TestPlacement walks the hubful issue through the CLI: the seed's
// placement reaches exactly the matching members, manual changes there are
// reverted, a member relabelled out of the selection loses the resources,
// the hub going away removes nothing and drift is still corrected, PickN
// spreads over a label with a per-member override, and deleting a placement
// removes what it placed.
func TestPlacement(t *testing.T) {
	config, err := os.ReadFile(filepath.Join(repoRoot, "examples", "hubful-fleet.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	f := upFleet(t, string(config))
	members := []string{"dev-1", "prod-eu-1", "prod-us-1", "prod-eu-2"}
	f.eventually(60*time.Second, "agents connected", func() (bool, string) {
		var st struct {
			Members []struct {
				Name  string `json:"name"`
				Agent string `json:"agent"`
			} `json:"members"`
		}
		f.json(&st, "status")
		for _, m := range st.Members {
			if m.Agent != "Connected" {
				return false, fmt.Sprintf("%s: agent %q", m.Name, m.Agent)
			}
		}
		return len(st.Members) == len(members), fmt.Sprintf("%d members", len(st.Members))
	})

	// The seed's manifests and placement, applied as written.
	f.must("apply", "-f", filepath.Join(repoRoot, "examples", "placement", "fintech.yaml"))
	took := f.waitPlacementApplied("payment-service-placement", 2)
	t.Logf("payment-service-placement applied on 2 members %s after apply", took.Round(10*time.Millisecond))
	f.waitPlacementApplied("fintech-governance", 2)
	for _, m := range members {
		want := m == "prod-eu-1" || m == "prod-us-1"
		for _, obj := range [][]string{{"namespace", "fintech"}, {"resourcequota", "platform-quota", "-n", "fintech"}, {"clusterrole", "fintech-readonly"}} {
			if got := f.memberHas(m, obj...); got != want {
				t.Errorf("%s has %v: %v, want %v", m, obj, got, want)
			}
		}
	}

	// A manual change on a member is reverted, and a deleted object comes back.
	f.kubectl("prod-eu-1", "patch", "resourcequota", "platform-quota", "-n", "fintech", "--type=merge", "-p", `{"spec":{"hard":{"pods":"1"}}}`)
	took = f.eventually(10*time.Second, "quota drift reverted", func() (bool, string) {
		got := f.kubectl("prod-eu-1", "get", "resourcequota", "platform-quota", "-n", "fintech", "-o", "jsonpath={.spec.hard.pods}")
		return got == "500", got
	})
	t.Logf("manual edit of the quota reverted in %s", took.Round(10*time.Millisecond))
	f.kubectl("prod-us-1", "delete", "clusterrole", "fintech-readonly")
	took = f.eventually(10*time.Second, "deleted ClusterRole restored", func() (bool, string) {
		return f.memberHas("prod-us-1", "clusterrole", "fintech-readonly"), "missing"
	})
	t.Logf("deleted ClusterRole restored in %s", took.Round(10*time.Millisecond))

	// The placement's status says where it is, in the CLI too.
	show := f.must("placement", "show", "-n", "payment-service-placement")
	for _, want := range []string{"Namespace fintech", "ResourceQuota fintech/platform-quota", "prod-eu-1", "prod-us-1"} {
		if !strings.Contains(show, want) {
			t.Errorf("placement show lacks %q:\n%s", want, show)
		}
	}

	// The hub goes away: members keep everything and drift is still corrected.
	st := f.localStatus()
	hubPID := st.pid("e2e-hub", "kube-apiserver")
	if hubPID == 0 {
		t.Fatal("no kube-apiserver pid for the hub in local status")
	}
	if err := syscall.Kill(hubPID, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	time.Sleep(2 * time.Second)
	f.kubectl("prod-eu-1", "patch", "resourcequota", "platform-quota", "-n", "fintech", "--type=merge", "-p", `{"spec":{"hard":{"pods":"2"}}}`)
	f.eventually(10*time.Second, "drift reverted with the hub down", func() (bool, string) {
		got := f.kubectl("prod-eu-1", "get", "resourcequota", "platform-quota", "-n", "fintech", "-o", "jsonpath={.spec.hard.pods}")
		return got == "500", got
	})
	for _, m := range []string{"prod-eu-1", "prod-us-1"} {
		if !f.memberHas(m, "resourcequota", "platform-quota", "-n", "fintech") {
			t.Errorf("%s lost the quota while the hub was down", m)
		}
	}
	hub, err := localcluster.Attach(f.dir("hub"))
	if err != nil {
		t.Fatal(err)
	}
	if err := hub.RestartAPIServer(t.Context(), ""); err != nil {
		t.Fatal(err)
	}

	// A member relabelled out of the selection loses what was placed there.
	f.must("member", "update", "-n", "prod-us-1", "--labels", "env=prod,region=prod,geo=us")
	f.eventually(30*time.Second, "prod-us-1 loses the fintech resources", func() (bool, string) {
		return !f.memberHas("prod-us-1", "resourcequota", "platform-quota", "-n", "fintech") &&
			!f.memberHas("prod-us-1", "clusterrole", "fintech-readonly"), "still there"
	})
	f.waitPlacementApplied("payment-service-placement", 1)

	// PickN over prod members, spread over geo, with a per-member override.
	f.must("apply", "-f", filepath.Join(repoRoot, "examples", "placement", "pickn-spread.yaml"))
	f.waitPlacementApplied("web", 2)
	p := f.placement("web")
	geos := map[string]bool{}
	for _, s := range p.Status.PlacementStatuses {
		if s.ClusterName == "" {
			continue
		}
		if s.ClusterName == "dev-1" {
			t.Errorf("PickN picked dev-1, which is not prod")
		}
		geo := map[string]string{"prod-eu-1": "europe", "prod-eu-2": "europe", "prod-us-1": "us"}[s.ClusterName]
		geos[geo] = true
		f.eventually(15*time.Second, s.ClusterName+": web-config overridden with the member's name", func() (bool, string) {
			got := f.kubectl(s.ClusterName, "get", "configmap", "web-config", "-n", "web", "-o", "jsonpath={.data.cluster}")
			return got == s.ClusterName, got
		})
	}
	if !geos["europe"] || !geos["us"] {
		t.Errorf("PickN 2 with spread over geo picked %v, want one in europe and one in us", geos)
	}

	// Deleting a placement removes what it placed.
	f.must("placement", "delete", "-n", "fintech-governance")
	f.eventually(30*time.Second, "ClusterRole removed from prod-eu-1", func() (bool, string) {
		return !f.memberHas("prod-eu-1", "clusterrole", "fintech-readonly"), "still there"
	})
	f.eventually(30*time.Second, "placement gone", func() (bool, string) {
		_, _, err := f.run("placement", "show", "-n", "fintech-governance")
		return err != nil, "still listed"
	})

	// A member that leaves loses what placements put there and stays in
	// the fleet, hubless; a join with labels for a known member is refused.
	if msg := f.mustFail("member", "join", "-n", "prod-eu-1", "--labels", "tier=gold"); !strings.Contains(msg, "already in the fleet") {
		t.Errorf("join with labels of a known member: %s", msg)
	}
	f.must("member", "leave", "-n", "prod-eu-1")
	if f.memberHas("prod-eu-1", "resourcequota", "platform-quota", "-n", "fintech") {
		t.Error("prod-eu-1 kept the quota after leaving")
	}
	if row, ok := f.status()["prod-eu-1"]; !ok || row.Health != "Healthy" {
		t.Errorf("prod-eu-1 after leaving: %+v, want it still in the fleet and Healthy", row)
	}
	f.waitPlacementApplied("payment-service-placement", 0)
}

// placement is `placement show -o json`.
func (f *fleet) placement(name string) placementv1.ClusterResourcePlacement {
	f.t.Helper()
	var p placementv1.ClusterResourcePlacement
	f.json(&p, "placement", "show", "-n", name)
	return p
}

// waitPlacementApplied waits until the placement is Applied on exactly n members.
func (f *fleet) waitPlacementApplied(name string, n int) time.Duration {
	f.t.Helper()
	return f.eventually(60*time.Second, name+" applied on "+fmt.Sprint(n)+" members", func() (bool, string) {
		p := f.placement(name)
		applied, picked := 0, 0
		for _, s := range p.Status.PlacementStatuses {
			if s.ClusterName == "" {
				continue
			}
			picked++
			if meta.IsStatusConditionTrue(s.Conditions, placementv1.ResourcesAppliedConditionType) {
				applied++
			}
		}
		c := meta.FindStatusCondition(p.Status.Conditions, placementv1.ClusterResourcePlacementAppliedConditionType)
		ok := c != nil && c.Status == "True" && c.ObservedGeneration == p.Generation && applied == n && picked == n
		data, _ := json.Marshal(p.Status.Conditions)
		return ok, fmt.Sprintf("%d/%d applied; conditions %s", applied, picked, data)
	})
}

// kubectl runs the cached kubectl against a member, as an operator would.
func (f *fleet) kubectl(member string, args ...string) string {
	f.t.Helper()
	out, err := f.kubectlErr(member, args...)
	if err != nil {
		f.t.Fatalf("kubectl %s on %s: %v\n%s", strings.Join(args, " "), member, err, out)
	}
	return out
}

func (f *fleet) kubectlErr(member string, args ...string) (string, error) {
	cmd := exec.Command("kubectl", append([]string{"--kubeconfig", f.dir("members", member+".kubeconfig")}, args...)...)
	cmd.Env = f.env
	out, err := cmd.CombinedOutput()
	return strings.TrimSpace(string(out)), err
}

// memberHas says whether the object exists on the member (and is not being deleted).
func (f *fleet) memberHas(member string, obj ...string) bool {
	f.t.Helper()
	out, err := f.kubectlErr(member, append([]string{"get"}, append(obj, "-o", "jsonpath={.metadata.deletionTimestamp}")...)...)
	if err != nil {
		if strings.Contains(out, "NotFound") || strings.Contains(out, "not found") {
			return false
		}
		f.t.Fatalf("kubectl get %v on %s: %v\n%s", obj, member, err, out)
	}
	return out == ""
}
