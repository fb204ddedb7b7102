package e2e

import (
	"reflect"
	"strings"
	"testing"
	"time"

	fleetv1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
)

// nodeImages lists the node-image labels of a member's nodes, as kubectl sees them.
func (f *fleet) nodeImages(member string) []string {
	f.t.Helper()
	out := f.kubectl(member, "get", "nodes", "-o", `jsonpath={range .items[*]}{.metadata.labels.flotilla\.dev/node-image}{"\n"}{end}`)
	return strings.Fields(out)
}

func allAre(images []string, want string) bool {
	for _, img := range images {
		if img != want {
			return false
		}
	}
	return len(images) > 0
}

// TestNodeImageOnlyConsistentRollsEveryMember runs a NodeImageOnly run with
// Consistent selection on a fresh local fleet, whose nodes run the older of
// the catalogue's two images: the run records the newer image per Kubernetes
// version when it starts, and every member's nodes end on it.
func TestNodeImageOnlyConsistentRollsEveryMember(t *testing.T) {
	f := upFleet(t, `
hub: {kubernetesVersion: "1.37"}
members:
- {name: old-1, kubernetesVersion: "1.36", updateGroup: first}
- {name: new-1, kubernetesVersion: "1.37", updateGroup: first}
- {name: new-2, kubernetesVersion: "1.37", updateGroup: second}
`)
	f.waitHealthy("old-1", "new-1", "new-2")
	if got := f.nodeImages("new-1"); !allAre(got, "flotilla-node-v1.37.2-202611.1") {
		t.Fatalf("a fresh member's nodes run %v, want the catalogue's older image", got)
	}
	if show := f.must("member", "show", "-n", "new-1"); !strings.Contains(show, "pool default (linux): 3 nodes, kubelet v1.37.2 (3), image flotilla-node-v1.37.2-202611.1 (3)") {
		t.Errorf("member show lacks the member's pool:\n%s", show)
	}

	stages := `[{"name": "one", "groups": [{"name": "first"}]}, {"name": "two", "groups": [{"name": "second"}]}]`
	plan := f.must("updaterun", "create", "-n", "images", "--upgrade-type", "NodeImageOnly", "--node-image-selection", "Consistent", "--stages", stages)
	for _, want := range []string{
		"node images: Consistent, chosen when the run starts; as of now:",
		"linux nodes on v1.36.3: flotilla-node-v1.36.3-202612.1",
		"linux nodes on v1.37.2: flotilla-node-v1.37.2-202612.1",
		"Summary: 3 to upgrade",
	} {
		if !strings.Contains(plan, want) {
			t.Errorf("plan lacks %q:\n%s", want, plan)
		}
	}
	f.must("updaterun", "start", "-n", "images")
	f.must("updaterun", "wait", "-n", "images", "--timeout", "3m")

	run := f.getRun("images")
	want := []fleetv1.ChosenNodeImage{
		{OS: "linux", KubernetesVersion: "v1.36.3", Version: "flotilla-node-v1.36.3-202612.1"},
		{OS: "linux", KubernetesVersion: "v1.37.2", Version: "flotilla-node-v1.37.2-202612.1"},
	}
	if !reflect.DeepEqual(run.Status.NodeImages, want) {
		t.Errorf("status.nodeImages = %+v, want %+v", run.Status.NodeImages, want)
	}
	show := f.must("updaterun", "show", "-n", "images")
	for _, want := range []string{"node images: Consistent, chosen when the run started:", "linux nodes on v1.37.2: flotilla-node-v1.37.2-202612.1"} {
		if !strings.Contains(show, want) {
			t.Errorf("updaterun show lacks %q:\n%s", want, show)
		}
	}
	for member, image := range map[string]string{
		"old-1": "flotilla-node-v1.36.3-202612.1",
		"new-1": "flotilla-node-v1.37.2-202612.1",
		"new-2": "flotilla-node-v1.37.2-202612.1",
	} {
		if p := run.Status.MemberProgress(member); p.State != fleetv1.StateCompleted {
			t.Errorf("%s: %s %q, want Completed", member, p.State, p.Message)
		}
		if got := f.nodeImages(member); !allAre(got, image) {
			t.Errorf("%s's nodes run %v, want %s", member, got, image)
		}
		if n := f.upgradeAttempts("images", member); n != 1 {
			t.Errorf("%s upgraded %d times, want once", member, n)
		}
	}
	f.eventually(20*time.Second, "member show reports the new image", func() (bool, string) {
		show := f.must("member", "show", "-n", "new-2")
		return strings.Contains(show, "image flotilla-node-v1.37.2-202612.1: 3"), show
	})
}

// TestCustomNodeImageAMemberCannotTakeFailsItFirst gives a Custom run an
// image for v1.37.2 nodes: the v1.37 member takes it; the v1.36 member
// cannot, so the plan refuses it, and the run fails it with the reason
// without starting an upgrade of it.
func TestCustomNodeImageAMemberCannotTakeFailsItFirst(t *testing.T) {
	f := upFleet(t, `
hub: {kubernetesVersion: "1.37"}
members:
- {name: new-1, kubernetesVersion: "1.37", updateGroup: first}
- {name: old-1, kubernetesVersion: "1.36", updateGroup: second}
`)
	f.waitHealthy("new-1", "old-1")
	stages := `[{"name": "one", "groups": [{"name": "first"}]}, {"name": "two", "groups": [{"name": "second"}]}]`
	create := []string{"updaterun", "create", "-n", "pinned", "--upgrade-type", "NodeImageOnly", "--node-image-selection", "Custom",
		"--custom-node-image-versions", "flotilla-node-v1.37.2-202612.1", "--stages", stages}
	reason := "none of the custom node images flotilla-node-v1.37.2-202612.1 is offered for linux nodes on v1.36.3"
	if msg := f.mustFail(create...); !strings.Contains(msg, "refusing to create the run: old-1: "+reason) {
		t.Fatalf("create without --force: %s", msg)
	}
	f.must(append(create, "--force")...)
	if plan := f.must("updaterun", "plan", "-n", "pinned"); !strings.Contains(plan, "Refuse: "+reason) ||
		!strings.Contains(plan, "node images: Custom: flotilla-node-v1.37.2-202612.1") {
		t.Errorf("plan does not refuse old-1 with the reason:\n%s", plan)
	}
	f.must("updaterun", "start", "-n", "pinned")
	if _, errOut, err := f.run("updaterun", "wait", "-n", "pinned", "--timeout", "3m"); err == nil || !strings.Contains(errOut, "Failed") {
		t.Fatalf("wait on a run with a refused member: err=%v\n%s", err, errOut)
	}
	run := f.getRun("pinned")
	if p := run.Status.MemberProgress("new-1"); p.State != fleetv1.StateCompleted {
		t.Errorf("new-1: %s %q, want Completed", p.State, p.Message)
	}
	if got := f.nodeImages("new-1"); !allAre(got, "flotilla-node-v1.37.2-202612.1") {
		t.Errorf("new-1's nodes run %v, want the custom image", got)
	}
	old := run.Status.MemberProgress("old-1")
	if old.State != fleetv1.StateFailed || !strings.Contains(old.Message, reason) {
		t.Errorf("old-1: %s %q, want Failed with %q", old.State, old.Message, reason)
	}
	if n := f.upgradeAttempts("pinned", "old-1"); n != 0 {
		t.Errorf("old-1's upgrade was started %d times, want never", n)
	}
	if got := f.nodeImages("old-1"); !allAre(got, "flotilla-node-v1.36.3-202611.1") {
		t.Errorf("old-1's nodes run %v, want them untouched", got)
	}
}
