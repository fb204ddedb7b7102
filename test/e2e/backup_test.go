package e2e

import (
	"encoding/base64"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	fleetv1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/internal/localcluster"
	"github.com/flotilla-dev/flotilla/internal/localfleet"
)

// drillFleet is a hubful fleet in two update groups: canary goes first and
// holds the fintech placement, prod-1 holds it too and waits behind an
// approval, prod-2 is placed nothing.
const drillFleet = `
hubful: true
hub: {kubernetesVersion: "1.37"}
members:
- {name: canary, kubernetesVersion: "1.36", labels: {region: prod, compliance: pci}, updateGroup: canary, nodes: 1}
- {name: prod-1, kubernetesVersion: "1.36", labels: {region: prod, compliance: pci}, updateGroup: prod, nodes: 1}
- {name: prod-2, kubernetesVersion: "1.36", labels: {region: prod}, updateGroup: prod, nodes: 1}
`

const drillPassphrase = "quarterly drill"

// placedObjects are what the fintech placements put on a member, as kubectl
// names them.
var placedObjects = [][]string{
	{"namespace", "fintech"},
	{"resourcequota", "platform-quota", "-n", "fintech"},
	{"clusterrole", "fintech-readonly"},
	{"secret", "payment-api-key", "-n", "fintech"},
}

// drillSecretKey is the data of the Secret the drill places: the hub keeps
// it out of snapshots and Works, so the backup must carry it on its own.
const drillSecretKey = "drill-api-key-value"

// TestBackupAndRestoreDrill is the recovery drill operators run quarterly:
// back the hub up in the middle of a staged run, destroy it (its manager,
// API server and etcd data, its PKI too), bring up a fresh hub at a new
// address, restore, re-issue the agents' credentials and start `flotilla
// hub`. The run goes on from where it was without upgrading a completed
// member again, and the members keep what was placed on them: the same
// objects (UIDs), never written again (resourceVersions).
func TestBackupAndRestoreDrill(t *testing.T) {
	f := upFleet(t, drillFleet)
	members := []string{"canary", "prod-1", "prod-2"}
	placed := []string{"canary", "prod-1"}
	f.waitAgentsConnected(members...)
	f.must("apply", "-f", filepath.Join(repoRoot, "examples", "placement", "fintech.yaml"))
	f.hubKubectl("create", "secret", "generic", "payment-api-key", "-n", "fintech", "--from-literal=key="+drillSecretKey)
	f.waitSecretPlaced(placed)
	f.waitPlacementApplied("payment-service-placement", 2)
	f.waitPlacementApplied("fintech-governance", 2)

	f.must("updaterun", "create", "-n", "drill", "--upgrade-type", "ControlPlaneOnly", "--kubernetes-version", "1.37", "--start",
		"--stages", `[{"name": "canary", "groups": [{"name": "canary"}]},
		  {"name": "prod", "groups": [{"name": "prod"}], "beforeGates": [{"type": "Approval", "displayName": "canary looks good"}]}]`)
	gate := f.waitPendingGate()
	before := f.getRun("drill")
	if p := before.Status.MemberProgress("canary"); p.State != fleetv1.StateCompleted {
		t.Fatalf("canary is %s when the gate waits, want Completed", p.State)
	}
	for _, m := range []string{"prod-1", "prod-2"} {
		if p := before.Status.MemberProgress(m); p.State != fleetv1.StateNotStarted {
			t.Fatalf("%s is %s before the gate opened, want NotStarted", m, p.State)
		}
	}
	versions := map[string]objectVersion{}
	for _, m := range placed {
		for _, obj := range placedObjects {
			versions[m+" "+strings.Join(obj, " ")] = f.objectVersion(m, obj...)
		}
	}
	snapshotsBefore := f.hubNames("resourcesnapshots.fleet.flotilla.dev")

	// The backup, encrypted to a passphrase as a CronJob would take it.
	backupFile := filepath.Join(t.TempDir(), "fleet.json.age")
	f.env = append(f.env, "FLOTILLA_BACKUP_PASSPHRASE="+drillPassphrase)
	out := f.must("hub", "backup", "-o", backupFile)
	info, err := os.Stat(backupFile)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%s (%d bytes)", strings.TrimSpace(out), info.Size())

	// The hub is destroyed: its manager, its API server and etcd, and
	// every file of it, etcd data and certificates included.
	state, err := localfleet.ReadState(localfleet.Layout{StateDir: f.stateDir, Name: f.name})
	if err != nil {
		t.Fatal(err)
	}
	if err := syscall.Kill(state.HubManager.PID, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	oldHub, err := localcluster.Attach(f.dir("hub"))
	if err != nil {
		t.Fatal(err)
	}
	oldServer := oldHub.State().Server
	if err := oldHub.Stop(); err != nil {
		t.Fatal(err)
	}
	if err := os.RemoveAll(f.dir("hub")); err != nil {
		t.Fatal(err)
	}
	for _, m := range placed {
		if !f.memberHas(m, "resourcequota", "platform-quota", "-n", "fintech") {
			t.Errorf("%s lost the quota when the hub went", m)
		}
	}

	// A fresh hub where the old one was: new etcd, new CA, new address.
	hub, err := localcluster.Start(t.Context(), localcluster.Options{Name: f.name + "-hub", Dir: f.dir("hub"), KubernetesVersion: "1.37"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = hub.Stop() })
	kubeconfig, err := hub.Kubeconfig()
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(f.dir("hub.kubeconfig"), kubeconfig, 0o600); err != nil {
		t.Fatal(err)
	}
	t.Logf("fresh hub at %s (the old one was at %s)", hub.State().Server, oldServer)

	restoreStart := time.Now()
	out = f.must("hub", "restore", "-f", backupFile)
	t.Logf("%s in %s", strings.TrimSpace(out), time.Since(restoreStart).Round(10*time.Millisecond))
	if msg := f.mustFail("hub", "restore", "-f", backupFile); !strings.Contains(msg, "exist on the hub") {
		t.Errorf("a second restore: %s", msg)
	}
	restored := f.getRun("drill")
	if restored.Status.State != before.Status.State || stageProgress(restored, "canary").State != fleetv1.StateCompleted {
		t.Fatalf("restored run is %s with stage canary %s, want %s and Completed", restored.Status.State, stageProgress(restored, "canary").State, before.Status.State)
	}

	// The operator approves on the restored hub; `flotilla hub` then
	// starts over the restored state with an empty state directory, as a
	// new pod would.
	f.must("gate", "approve", gate)
	hubStart := time.Now()
	f.startHubManager(f.dir("hub-manager-restored"))

	// The agents' tokens were bound to the old hub's ServiceAccounts: each
	// member is joined again, and its agent restarted on the new hub's
	// address and CA with the state directory it had.
	for _, m := range members {
		f.must("member", "join", "-n", m, "--agent-kubeconfig-out", f.dir("members", m+".agent-hub.kubeconfig"),
			"--agent-values-out", f.dir("members", m+".agent-values.yaml"))
		if err := state.Agents[m].Stop(10 * time.Second); err != nil {
			t.Fatal(err)
		}
		f.startAgent(m)
	}

	f.eventually(2*time.Minute, "the prod stage under way", func() (bool, string) {
		run := f.getRun("drill")
		st := stageProgress(run, "prod")
		return st.State == fleetv1.StateRunning || st.State == fleetv1.StateCompleted, fmt.Sprintf("run %s, stage prod %s", run.Status.State, st.State)
	})
	t.Logf("the run moved on %s after `flotilla hub` started on the restored hub", time.Since(hubStart).Round(10*time.Millisecond))
	f.must("updaterun", "wait", "-n", "drill", "--timeout", "2m")
	t.Logf("the run completed %s after `flotilla hub` started", time.Since(hubStart).Round(10*time.Millisecond))

	after := f.getRun("drill")
	if after.Status.State != fleetv1.StateCompleted {
		t.Fatalf("run %s: %s", after.Status.State, after.Status.Message)
	}
	canaryBefore := before.Status.MemberProgress("canary")
	if p := after.Status.MemberProgress("canary"); p.State != fleetv1.StateCompleted || !p.StartTime.Equal(canaryBefore.StartTime) {
		t.Errorf("canary is %s, started %v; before the backup it was Completed, started %v", p.State, p.StartTime, canaryBefore.StartTime)
	}
	wantAttempts := map[string][2]int{"canary": {1, 0}, "prod-1": {0, 1}, "prod-2": {0, 1}}
	for m, want := range wantAttempts {
		old := countAttempts(t, f.dir("hub-manager"), "drill", m)
		fresh := countAttempts(t, f.dir("hub-manager-restored"), "drill", m)
		if old != want[0] || fresh != want[1] {
			t.Errorf("%s upgraded %d times by the old hub and %d by the restored one, want %d and %d", m, old, fresh, want[0], want[1])
		}
	}

	// The agents are back: heartbeats from them reach the restored hub
	// (its status said Connected already, as restored).
	f.eventually(60*time.Second, "heartbeats from every agent on the restored hub", func() (bool, string) {
		for _, m := range members {
			var mc fleetv1.MemberCluster
			f.json(&mc, "member", "show", "-n", m)
			if hb := mc.Status.AgentLastHeartbeatTime; hb == nil || hb.Before(&metav1.Time{Time: hubStart.Truncate(time.Second)}) {
				return false, fmt.Sprintf("%s: last heartbeat %v", m, hb)
			}
		}
		return true, ""
	})
	f.waitAgentsConnected(members...)
	// And the members kept what was placed, untouched.
	f.waitPlacementApplied("payment-service-placement", 2)
	f.waitPlacementApplied("fintech-governance", 2)
	for key, was := range versions {
		parts := strings.SplitN(key, " ", 2)
		if now := f.objectVersion(parts[0], strings.Fields(parts[1])...); now != was {
			t.Errorf("%s on %s: uid/resourceVersion %v before the backup, %v now: recreated or rewritten", parts[1], parts[0], was, now)
		}
	}
	if f.memberHas("prod-2", "namespace", "fintech") {
		t.Error("prod-2, not selected, got the fintech namespace")
	}
	if now := f.hubNames("resourcesnapshots.fleet.flotilla.dev"); now != snapshotsBefore {
		t.Errorf("resource snapshots %q before the backup, %q after the restore: the selection changed", snapshotsBefore, now)
	}

	// The restored hub places: a change made there reaches the members.
	f.hubKubectl("patch", "resourcequota", "platform-quota", "-n", "fintech", "--type=merge", "-p", `{"spec":{"hard":{"pods":"600"}}}`)
	took := f.eventually(60*time.Second, "the quota changed on the restored hub reaching the members", func() (bool, string) {
		for _, m := range placed {
			if got := f.kubectl(m, "get", "resourcequota", "platform-quota", "-n", "fintech", "-o", "jsonpath={.spec.hard.pods}"); got != "600" {
				return false, m + ": pods " + got
			}
		}
		return true, ""
	})
	t.Logf("a change on the restored hub reached both members in %s", took.Round(10*time.Millisecond))
	f.waitSecretPlaced(placed)
}

// waitSecretPlaced waits for the drill's Secret, data included, on members.
func (f *fleet) waitSecretPlaced(members []string) {
	f.t.Helper()
	want := base64.StdEncoding.EncodeToString([]byte(drillSecretKey))
	f.eventually(60*time.Second, "the Secret with its data on the members", func() (bool, string) {
		for _, m := range members {
			out, err := f.kubectlErr(m, "get", "secret", "payment-api-key", "-n", "fintech", "-o", "jsonpath={.data.key}")
			if err != nil || out != want {
				return false, fmt.Sprintf("%s: %q %v", m, out, err)
			}
		}
		return true, ""
	})
}

// objectVersion is an object's identity and the version of its content.
type objectVersion struct{ UID, ResourceVersion string }

func (f *fleet) objectVersion(member string, obj ...string) objectVersion {
	f.t.Helper()
	out := f.kubectl(member, append(append([]string{"get"}, obj...), "-o", "jsonpath={.metadata.uid} {.metadata.resourceVersion}")...)
	uid, rv, _ := strings.Cut(out, " ")
	return objectVersion{uid, rv}
}

// hubNames lists the names of a resource on the hub, space-separated.
func (f *fleet) hubNames(resource string) string {
	f.t.Helper()
	return f.hubKubectl("get", resource, "-A", "-o", "jsonpath={.items[*].metadata.name}")
}

// hubKubectl runs kubectl as the hub's admin.
func (f *fleet) hubKubectl(args ...string) string {
	f.t.Helper()
	cmd := exec.Command("kubectl", append([]string{"--kubeconfig", f.dir("hub.kubeconfig")}, args...)...)
	cmd.Env = f.env
	out, err := cmd.CombinedOutput()
	if err != nil {
		f.t.Fatalf("kubectl %s on the hub: %v\n%s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out))
}

// waitAgentsConnected waits until every named member's agent reports.
func (f *fleet) waitAgentsConnected(names ...string) {
	f.t.Helper()
	f.eventually(90*time.Second, "agents connected", func() (bool, string) {
		var st struct {
			Members []struct {
				Name  string `json:"name"`
				Agent string `json:"agent"`
			} `json:"members"`
		}
		f.json(&st, "status")
		agents := map[string]string{}
		for _, m := range st.Members {
			agents[m.Name] = m.Agent
		}
		for _, n := range names {
			if agents[n] != "Connected" {
				return false, fmt.Sprintf("%s: agent %q", n, agents[n])
			}
		}
		return true, ""
	})
}

// waitPendingGate waits for exactly one Pending gate and returns its name.
func (f *fleet) waitPendingGate() string {
	f.t.Helper()
	var name string
	f.eventually(90*time.Second, "a Pending gate", func() (bool, string) {
		var gates []fleetv1.Gate
		f.json(&gates, "gate", "list", "--state", "Pending")
		if len(gates) == 1 {
			name = gates[0].Name
			return true, ""
		}
		return false, fmt.Sprintf("%d pending gates", len(gates))
	})
	return name
}

// startHubManager runs `flotilla hub` on the fleet's hub, with stateDir,
// until the test ends.
func (f *fleet) startHubManager(stateDir string) {
	f.t.Helper()
	f.startProcess("hub-manager-restored.log", "hub", "--kubeconfig", f.dir("hub.kubeconfig"), "--state-dir", stateDir,
		"--metrics-bind-address", "0", "--health-probe-bind-address", "0", "--allow-exec")
}

// startAgent runs a member's agent as `local up` does, on the kubeconfig
// and state directory the layout names, until the test ends.
func (f *fleet) startAgent(member string) {
	f.t.Helper()
	l := localfleet.Layout{StateDir: f.stateDir, Name: f.name}
	f.startProcess(filepath.Join("agents", member+".log"), "agent", "--member-name", member,
		"--hub-kubeconfig", l.AgentHubKubeconfig(member), "--member-kubeconfig", l.MemberKubeconfig(member),
		"--state-dir", l.AgentStateDir(member), "--heartbeat-period", "5s", "--health-address", "0")
}

// startProcess starts flotilla with args, appending its output to log in
// the fleet's directory, and stops it when the test ends.
func (f *fleet) startProcess(log string, args ...string) {
	f.t.Helper()
	out, err := os.OpenFile(f.dir(log), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		f.t.Fatal(err)
	}
	cmd := exec.Command(flotilla, args...)
	cmd.Env = f.env
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		f.t.Fatal(err)
	}
	f.t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
		_ = out.Close()
	})
}

// countAttempts counts the upgrade operations a hub with stateDir started
// for a member in a run.
func countAttempts(t *testing.T, stateDir, run, member string) int {
	t.Helper()
	entries, err := filepath.Glob(filepath.Join(stateDir, "operations", run+"_"+member+"-*"))
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, e := range entries {
		if !strings.HasSuffix(e, ".env") {
			n++
		}
	}
	return n
}
