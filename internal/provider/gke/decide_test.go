package gke

import (
	"slices"
	"strings"
	"testing"
	"time"

	"cloud.google.com/go/container/apiv1/containerpb"
	"google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/genproto/googleapis/type/timeofday"
	"google.golang.org/protobuf/types/known/durationpb"

	fleetv1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/internal/upgrade"
)

func TestSameVersion(t *testing.T) {
	for _, tc := range []struct {
		have, want string
		same       bool
	}{
		{"1.37.2-gke.1200", "v1.37.2-gke.1200", true},
		{"1.37.2-gke.1100", "1.37.2-gke.1200", false},
		{"1.37.2-gke.1200", "1.37.2", true},
		{"1.37.2-gke.1200", "1.37", true},
		{"1.36.3-gke.1200", "1.37", false},
		{"1.37", "1.37.2-gke.1200", false},
	} {
		if got := sameVersion(tc.have, tc.want); got != tc.same {
			t.Errorf("sameVersion(%s, %s) = %v", tc.have, tc.want, got)
		}
	}
}

func TestUpgradeTargetsFollowGKEsRules(t *testing.T) {
	offered := []string{"1.38.1-gke.10", "1.37.2-gke.1200", "1.37.2-gke.1100", "1.36.4-gke.50", "1.36.3-gke.1500", "1.36.3-gke.900", "1.35.9-gke.1", "bogus"}
	for _, tc := range []struct {
		current string
		want    []string
	}{
		{"1.36.3-gke.1000", []string{"1.36.3-gke.1000", "1.36.3-gke.1500", "1.36.4-gke.50", "1.37.2-gke.1100", "1.37.2-gke.1200"}},
		{"1.37.2-gke.1200", []string{"1.37.2-gke.1200", "1.38.1-gke.10"}},
		// No longer offered, it is still where the member is.
		{"1.34.1-gke.7", []string{"1.34.1-gke.7", "1.35.9-gke.1"}},
		{"garbage", nil},
	} {
		if got := upgradeTargets(tc.current, offered); !slices.Equal(got, tc.want) {
			t.Errorf("upgradeTargets(%s) = %v, want %v", tc.current, got, tc.want)
		}
	}
	if got := upgradableVersions("1.37.2-gke.1200", offered); !slices.Equal(got, []string{"1.38.1-gke.10"}) {
		t.Errorf("upgradableVersions = %v", got)
	}
}

func TestMasterVersionsOfAReleaseChannel(t *testing.T) {
	cfg := &containerpb.ServerConfig{
		ValidMasterVersions: []string{"1.37.2-gke.1200", "1.36.3-gke.1000"},
		Channels: []*containerpb.ServerConfig_ReleaseChannelConfig{
			{Channel: containerpb.ReleaseChannel_STABLE, ValidVersions: []string{"1.36.3-gke.1000"}},
			{Channel: containerpb.ReleaseChannel_RAPID, ValidVersions: []string{"1.37.2-gke.1200"}},
		},
	}
	stable := &containerpb.Cluster{ReleaseChannel: &containerpb.ReleaseChannel{Channel: containerpb.ReleaseChannel_STABLE}}
	if got := masterVersions(stable, cfg); !slices.Equal(got, []string{"1.36.3-gke.1000"}) {
		t.Errorf("a STABLE cluster is offered %v", got)
	}
	if got := masterVersions(&containerpb.Cluster{}, cfg); !slices.Equal(got, cfg.ValidMasterVersions) {
		t.Errorf("a cluster without a channel is offered %v", got)
	}
}

func TestNodeVersionsAreNoNewerThanTheControlPlane(t *testing.T) {
	offered := []string{"1.37.2-gke.1300", "1.37.2-gke.1200", "1.37.2-gke.1100", "1.37.1-gke.900", "1.36.3-gke.1000"}
	masters := []string{"1.37.2-gke.1200", "1.37.2-gke.1100", "1.36.3-gke.1000"}
	for _, tc := range []struct {
		kube, current string
		want          []string
	}{
		{"v1.37.2-gke.1200", "1.36.3-gke.1000", []string{"1.37.2-gke.1100", "1.37.2-gke.1200"}},
		// A version without a build is limited by the newest master build.
		{"1.37.2", "1.36.3-gke.1000", []string{"1.37.2-gke.1100", "1.37.2-gke.1200"}},
		{"1.37", "1.36.3-gke.1000", []string{"1.37.1-gke.900", "1.37.2-gke.1100", "1.37.2-gke.1200"}},
		{"v1.36.3-gke.1000", "1.36.3-gke.1000", []string{"1.36.3-gke.1000"}},
	} {
		limit := nodeLimit(tc.kube, tc.current, masters)
		if got := nodeVersions(tc.kube, limit, offered); !slices.Equal(got, tc.want) {
			t.Errorf("nodeVersions(%s, limit %s) = %v, want %v", tc.kube, limit, got, tc.want)
		}
	}
}

func TestImageTypesMapToTheOSTheHubKeysImagesBy(t *testing.T) {
	for imageType, os := range map[string]string{
		"COS_CONTAINERD": "cos", "cos": "cos", "UBUNTU_CONTAINERD": "ubuntu", "WINDOWS_LTSC_CONTAINERD": "windows",
		"WINDOWS_SAC": "windows", "": "cos", "CUSTOM_CONTAINERD": "custom_containerd",
	} {
		if got := imageOS(imageType); got != os {
			t.Errorf("imageOS(%q) = %q, want %q", imageType, got, os)
		}
	}
	pools := []*containerpb.NodePool{
		{Config: &containerpb.NodeConfig{ImageType: "UBUNTU_CONTAINERD"}},
		{Config: &containerpb.NodeConfig{ImageType: "COS_CONTAINERD"}},
		{Config: &containerpb.NodeConfig{ImageType: "COS_CONTAINERD"}},
	}
	got := nodeImages(pools, []string{"1.37.2-gke.1100", "1.37.2-gke.1200"})
	want := []upgrade.NodeImage{{OS: "cos", Version: "1.37.2-gke.1100"}, {OS: "cos", Version: "1.37.2-gke.1200"}, {OS: "ubuntu", Version: "1.37.2-gke.1100"}, {OS: "ubuntu", Version: "1.37.2-gke.1200"}}
	if !slices.Equal(got, want) {
		t.Errorf("nodeImages = %v, want %v", got, want)
	}
}

func testCluster(master string, pools ...string) *containerpb.Cluster {
	c := &containerpb.Cluster{Name: "c1", CurrentMasterVersion: master, Status: containerpb.Cluster_RUNNING}
	for i, v := range pools {
		imageType := "COS_CONTAINERD"
		if i == 1 {
			imageType = "UBUNTU_CONTAINERD"
		}
		c.NodePools = append(c.NodePools, &containerpb.NodePool{Name: "p" + string(rune('a'+i)), Version: v, Config: &containerpb.NodeConfig{ImageType: imageType}})
	}
	return c
}

func testOp(typ containerpb.Operation_Type, pool string, st containerpb.Operation_Status, errMessage string, end time.Time) *containerpb.Operation {
	op := &containerpb.Operation{Name: "operation-1", OperationType: typ, Status: st, TargetLink: "https://container.googleapis.com/v1/projects/p/locations/l/clusters/c1",
		StartTime: end.Add(-time.Minute).Format(time.RFC3339Nano)}
	if pool != "" {
		op.TargetLink += "/nodePools/" + pool
	}
	if st == containerpb.Operation_DONE {
		op.EndTime = end.Format(time.RFC3339Nano)
	}
	if errMessage != "" {
		op.Error = &status.Status{Code: 13, Message: errMessage}
	}
	return op
}

func TestDecide(t *testing.T) {
	attempt := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	after, before := attempt.Add(10*time.Minute), attempt.Add(-time.Hour)
	full := upgrade.Target{Type: fleetv1.UpgradeFull, KubernetesVersion: "v1.37.2-gke.1200"}
	fullImages := full
	fullImages.NodeImages = []upgrade.NodeImage{{OS: "cos", Version: "1.37.2-gke.1100"}}
	cpOnly := upgrade.Target{Type: fleetv1.UpgradeControlPlaneOnly, KubernetesVersion: "v1.37.2-gke.1200"}
	images := upgrade.Target{Type: fleetv1.UpgradeNodeImageOnly, NodeImages: []upgrade.NodeImage{{OS: "cos", Version: "1.36.3-gke.1500"}, {OS: "ubuntu", Version: "1.36.3-gke.1500"}}}
	for _, tc := range []struct {
		name    string
		cluster *containerpb.Cluster
		ops     []*containerpb.Operation
		target  upgrade.Target
		send    string // step.String(), "" for none
		phase   upgrade.Phase
		message string
	}{
		{name: "full starts with the control plane", cluster: testCluster("1.36.3-gke.1000", "1.36.3-gke.1000", "1.36.3-gke.1000"), target: full,
			send: "control plane to 1.37.2-gke.1200", phase: upgrade.PhaseNotStarted, message: "3 steps left"},
		{name: "then the first pool not at the target", cluster: testCluster("1.37.2-gke.1200", "1.37.2-gke.1200", "1.36.3-gke.1000"), target: full,
			ops:  []*containerpb.Operation{testOp(containerpb.Operation_UPGRADE_NODES, "pa", containerpb.Operation_DONE, "", after)},
			send: "node pool pb to 1.37.2-gke.1200", phase: upgrade.PhaseRunning, message: "the last step"},
		{name: "a pool takes the image selected for its OS", cluster: testCluster("1.37.2-gke.1200", "1.36.3-gke.1000", "1.36.3-gke.1000"), target: fullImages,
			send: "node pool pa to 1.37.2-gke.1100", phase: upgrade.PhaseNotStarted},
		{name: "nothing while an operation runs", cluster: testCluster("1.36.3-gke.1000", "1.36.3-gke.1000"), target: full,
			ops:   []*containerpb.Operation{testOp(containerpb.Operation_UPGRADE_MASTER, "", containerpb.Operation_RUNNING, "", after)},
			phase: upgrade.PhaseRunning, message: "GKE is running UPGRADE_MASTER operation-1 (RUNNING)"},
		{name: "nothing while someone else's operation on a pool runs", cluster: testCluster("1.36.3-gke.1000", "1.36.3-gke.1000"), target: full,
			ops:   []*containerpb.Operation{testOp(containerpb.Operation_SET_NODE_POOL_SIZE, "pa", containerpb.Operation_PENDING, "", after)},
			phase: upgrade.PhaseRunning, message: "SET_NODE_POOL_SIZE operation-1 (PENDING) on node pool pa"},
		{name: "at the target", cluster: testCluster("1.37.2-gke.1200", "1.37.2-gke.1200", "1.37.2-gke.1200"), target: full,
			phase: upgrade.PhaseSucceeded, message: "control plane at 1.37.2-gke.1200 and every node pool at its target (pa 1.37.2-gke.1200, pb 1.37.2-gke.1200)"},
		{name: "this attempt's failure is reported, not re-sent", cluster: testCluster("1.37.2-gke.1200", "1.36.3-gke.1000"), target: full,
			ops:   []*containerpb.Operation{testOp(containerpb.Operation_UPGRADE_NODES, "pa", containerpb.Operation_DONE, "PDB blocks drain", after)},
			phase: upgrade.PhaseFailed, message: "GKE UPGRADE_NODES operation-1 (DONE) on node pool pa failed: PDB blocks drain"},
		{name: "an earlier attempt's failure is history", cluster: testCluster("1.36.3-gke.1000", "1.36.3-gke.1000"), target: full,
			ops:  []*containerpb.Operation{testOp(containerpb.Operation_UPGRADE_MASTER, "", containerpb.Operation_DONE, "quota", before)},
			send: "control plane to 1.37.2-gke.1200", phase: upgrade.PhaseNotStarted},
		{name: "another resource's failure is not this step's", cluster: testCluster("1.36.3-gke.1000", "1.36.3-gke.1000"), target: full,
			ops:  []*containerpb.Operation{testOp(containerpb.Operation_UPGRADE_NODES, "pa", containerpb.Operation_DONE, "drain", after)},
			send: "control plane to 1.37.2-gke.1200", phase: upgrade.PhaseRunning},
		{name: "an earlier attempt's operations do not make this one started", cluster: testCluster("1.37.2-gke.1200", "1.36.3-gke.1000"), target: full,
			ops:  []*containerpb.Operation{testOp(containerpb.Operation_UPGRADE_MASTER, "", containerpb.Operation_DONE, "", before)},
			send: "node pool pa to 1.37.2-gke.1200", phase: upgrade.PhaseNotStarted},
		{name: "a failed non-upgrade operation is not the upgrade's", cluster: testCluster("1.36.3-gke.1000", "1.36.3-gke.1000"), target: full,
			ops:  []*containerpb.Operation{testOp(containerpb.Operation_UPDATE_CLUSTER, "", containerpb.Operation_DONE, "logging", after)},
			send: "control plane to 1.37.2-gke.1200", phase: upgrade.PhaseNotStarted},
		{name: "control plane only leaves pools behind", cluster: testCluster("1.37.2-gke.1200", "1.36.3-gke.1000"), target: cpOnly,
			phase: upgrade.PhaseSucceeded, message: "control plane at 1.37.2-gke.1200"},
		{name: "control plane only sends UpdateMaster", cluster: testCluster("1.36.3-gke.1000", "1.36.3-gke.1000"), target: cpOnly,
			send: "control plane to 1.37.2-gke.1200", phase: upgrade.PhaseNotStarted},
		{name: "node image only: pools to their OS's image", cluster: testCluster("1.36.3-gke.1500", "1.36.3-gke.1500", "1.36.3-gke.1000"), target: images,
			send: "node pool pb to 1.36.3-gke.1500", phase: upgrade.PhaseNotStarted},
		{name: "a pool whose OS got no image fails, nothing sent", cluster: testCluster("1.36.3-gke.1500", "1.36.3-gke.1500", "1.36.3-gke.1000"),
			target: upgrade.Target{Type: fleetv1.UpgradeNodeImageOnly, NodeImages: images.NodeImages[:1]},
			phase:  upgrade.PhaseFailed, message: "no node image was selected for node pool pb (ubuntu nodes)"},
		{name: "node image only, on the images", cluster: testCluster("1.36.3-gke.1500", "1.36.3-gke.1500", "1.36.3-gke.1500"), target: images,
			phase: upgrade.PhaseSucceeded, message: "every node pool on its selected image"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := decide(tc.cluster, tc.ops, tc.target, attempt)
			send := ""
			if d.send != nil {
				send = d.send.String()
			}
			if send != tc.send || d.progress.Phase != tc.phase || !strings.Contains(d.progress.Message, tc.message) {
				t.Errorf("decide = send %q, %s %q; want send %q, %s containing %q", send, d.progress.Phase, d.progress.Message, tc.send, tc.phase, tc.message)
			}
		})
	}
}

func TestPlanKeepsEachPoolsImageType(t *testing.T) {
	steps, err := plan(testCluster("1.37.2-gke.1200", "1.36.3-gke.1000", "1.36.3-gke.1000"), upgrade.Target{Type: fleetv1.UpgradeFull, KubernetesVersion: "1.37.2-gke.1200"})
	if err != nil {
		t.Fatal(err)
	}
	want := []step{{pool: "pa", version: "1.37.2-gke.1200", imageType: "COS_CONTAINERD"}, {pool: "pb", version: "1.37.2-gke.1200", imageType: "UBUNTU_CONTAINERD"}}
	if !slices.Equal(steps, want) {
		t.Errorf("plan = %+v, want %+v", steps, want)
	}
	if _, err := plan(testCluster("1.36.3-gke.1000"), upgrade.Target{Type: fleetv1.UpgradeFull}); err == nil {
		t.Error("a Full upgrade without a version planned")
	}
}

func TestAttemptStartReadsTheControllersOperationID(t *testing.T) {
	for id, want := range map[string]int64{
		"run-1_gke-1-1764590400":    1764590400 - 1,
		"run-1_gke-1-1764590400-a3": 1764590400 - 1,
		"run_member-with-dashes-17": 17 - 1,
		"no-time-here":              0,
		"plain":                     0,
	} {
		got := attemptStart(id)
		if (want == 0 && !got.IsZero()) || (want != 0 && got.Unix() != want) {
			t.Errorf("attemptStart(%q) = %v, want unix %d", id, got, want)
		}
	}
}

func TestOperationProgressFromGKEsMetrics(t *testing.T) {
	op := &containerpb.Operation{Progress: &containerpb.OperationProgress{Metrics: []*containerpb.OperationProgress_Metric{
		{Name: "NODES_TOTAL", Value: &containerpb.OperationProgress_Metric_IntValue{IntValue: 4}},
		{Name: "NODES_DONE", Value: &containerpb.OperationProgress_Metric_IntValue{IntValue: 1}},
	}}}
	if got := opPercent(op); got != 25 {
		t.Errorf("opPercent = %d", got)
	}
	if got := opPercent(&containerpb.Operation{}); got != -1 {
		t.Errorf("opPercent without metrics = %d", got)
	}
	if got := opError(&containerpb.Operation{Error: &status.Status{Code: 8}}); got != "error code 8" {
		t.Errorf("opError = %q", got)
	}
}

func TestWindowsReadGKEsMaintenancePolicy(t *testing.T) {
	mp := &containerpb.MaintenancePolicy{Window: &containerpb.MaintenanceWindow{
		Policy: &containerpb.MaintenanceWindow_RecurringMaintenanceWindow{RecurringMaintenanceWindow: &containerpb.RecurringMaintenanceWindow{
			Recurrence: "FREQ=WEEKLY;BYDAY=SA,SU", WindowStartTime: &timeofday.TimeOfDay{Hours: 2}, WindowDuration: durationpb.New(6 * time.Hour),
		}},
		MaintenanceExclusions: map[string]*containerpb.TimeWindow{"freeze": {}},
	}}
	want := []upgrade.MaintenanceWindow{
		{Name: "recurringMaintenanceWindow", Schedule: "FREQ=WEEKLY;BYDAY=SA,SU at 02:00 UTC for 6h0m0s"},
		{Name: "maintenanceExclusion/freeze", Schedule: "? to ? (NO_UPGRADES)", Exclusion: true},
	}
	if got := windows(mp); !slices.Equal(got, want) {
		t.Errorf("windows = %+v, want %+v", got, want)
	}
	if got := windows(nil); got != nil {
		t.Errorf("windows(nil) = %v", got)
	}
}
