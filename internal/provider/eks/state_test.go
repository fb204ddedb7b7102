package eks

import (
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	fleetv1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/internal/upgrade"
)

var t0 = time.Date(2026, 12, 1, 15, 0, 0, 0, time.UTC)

func al2023(name, version, release string) nodegroup {
	return nodegroup{Name: name, Version: version, Release: release, AMIType: "AL2023_x86_64_STANDARD", Status: "ACTIVE"}
}

func TestDecide(t *testing.T) {
	active136 := cluster{Name: "c", Version: "1.36", PlatformVersion: "eks.7", Status: clusterActive}
	active137 := cluster{Name: "c", Version: "1.37", PlatformVersion: "eks.2", Status: clusterActive}
	groups136 := []nodegroup{al2023("system", "1.36", "1.36.3-20261101"), al2023("apps", "1.36", "1.36.3-20261101")}
	groups137 := []nodegroup{al2023("system", "1.37", "1.37.2-20261115"), al2023("apps", "1.37", "1.37.2-20261115")}
	fullTo137 := upgrade.Target{Type: fleetv1.UpgradeFull, KubernetesVersion: "v1.37.2"}
	cpTo137 := upgrade.Target{Type: fleetv1.UpgradeControlPlaneOnly, KubernetesVersion: "v1.37.2"}
	images := func(r string) upgrade.Target {
		return upgrade.Target{Type: fleetv1.UpgradeNodeImageOnly, NodeImages: []upgrade.NodeImage{{OS: "linux", Version: r}}}
	}
	cpUpdate := func(status string, at time.Time, errs ...string) update {
		return update{ID: "u-cp", Type: versionUpdate, Status: status, CreatedAt: at, Params: map[string]string{"Version": "1.37"}, Errors: errs}
	}
	for _, tc := range []struct {
		name   string
		s      snapshot
		t      upgrade.Target
		since  time.Time
		phase  upgrade.Phase
		next   *request
		inMsg  string
		starts time.Time
	}{
		{
			name: "full: the control plane first", s: snapshot{Cluster: active136, Nodegroups: groups136}, t: fullTo137,
			phase: upgrade.PhaseRunning, next: &request{Version: "1.37"}, inMsg: "updating the control plane to 1.37, then 2 more",
		},
		{
			name: "an update in progress: nothing to send", s: snapshot{Cluster: active136, Nodegroups: groups136, Updates: []update{cpUpdate(statusInProgress, t0)}},
			t: fullTo137, since: t0, phase: upgrade.PhaseRunning, inMsg: "EKS update u-cp (the control plane to 1.37) is in progress", starts: t0,
		},
		{
			name: "full: then the node groups in name order", s: snapshot{Cluster: active137, Nodegroups: groups136, Updates: []update{cpUpdate(statusSuccessful, t0)}},
			t: fullTo137, since: t0, phase: upgrade.PhaseRunning, next: &request{Nodegroup: "apps", Version: "1.37"}, inMsg: "node group apps to 1.37 (EKS's latest release), then 1 more", starts: t0,
		},
		{
			name: "full with a node image: version and release", s: snapshot{Cluster: active137, Nodegroups: append([]nodegroup{al2023("apps", "1.36", "1.36.3-20261101")}, al2023("system", "1.37", "1.37.2-20261115"))},
			t:     upgrade.Target{Type: fleetv1.UpgradeFull, KubernetesVersion: "v1.37.2", NodeImages: []upgrade.NodeImage{{OS: "linux", Version: "1.37.2-20261115"}}},
			phase: upgrade.PhaseRunning, next: &request{Nodegroup: "apps", Version: "1.37", Release: "1.37.2-20261115"},
		},
		{
			name: "full: at the target", s: snapshot{Cluster: active137, Nodegroups: groups137}, t: fullTo137,
			phase: upgrade.PhaseSucceeded, inMsg: "control plane and 2 node groups at 1.37",
		},
		{
			name: "control plane only: the node groups stay", s: snapshot{Cluster: active137, Nodegroups: groups136}, t: cpTo137,
			phase: upgrade.PhaseSucceeded, inMsg: "control plane at 1.37 (platform eks.2)",
		},
		{
			name: "this operation's update failed: EKS's errors, nothing sent", s: snapshot{Cluster: active136, Nodegroups: groups136, Updates: []update{cpUpdate(statusFailed, t0, "Unknown: upgrade failed [cluster]")}},
			t: fullTo137, since: t0, phase: upgrade.PhaseFailed, inMsg: "EKS update u-cp (the control plane to 1.37) failed: Unknown: upgrade failed [cluster]",
		},
		{
			name: "an older operation's failure is not this one's", s: snapshot{Cluster: active136, Nodegroups: groups136, Updates: []update{cpUpdate(statusFailed, t0.Add(-time.Hour))}},
			t: fullTo137, since: t0, phase: upgrade.PhaseRunning, next: &request{Version: "1.37"},
		},
		{
			name: "a failure a later update replaced no longer stands", s: snapshot{Cluster: active137, Nodegroups: groups137, Updates: []update{
				{ID: "u1", Nodegroup: "apps", Type: versionUpdate, Status: statusFailed, CreatedAt: t0},
				{ID: "u2", Nodegroup: "apps", Type: versionUpdate, Status: statusSuccessful, CreatedAt: t0.Add(time.Minute)},
			}},
			t: fullTo137, since: t0, phase: upgrade.PhaseSucceeded, starts: t0,
		},
		{
			name: "an id without a start time: every failure counts", s: snapshot{Cluster: active136, Updates: []update{cpUpdate(statusFailed, t0.Add(-time.Hour))}},
			t: fullTo137, phase: upgrade.PhaseFailed,
		},
		{
			name: "another kind of update in progress waits too", s: snapshot{Cluster: active136, Updates: []update{{ID: "cfg", Type: "ConfigUpdate", Status: statusInProgress, CreatedAt: t0}}},
			t: fullTo137, since: t0, phase: upgrade.PhaseRunning, inMsg: "ConfigUpdate of the control plane",
		},
		{
			name: "a cluster UPDATING without a listed update waits", s: snapshot{Cluster: cluster{Version: "1.36", Status: clusterUpdating}},
			t: fullTo137, phase: upgrade.PhaseRunning, inMsg: "UPDATING",
		},
		{
			name: "a FAILED cluster fails the upgrade", s: snapshot{Cluster: cluster{Version: "1.36", Status: "FAILED"}},
			t: fullTo137, phase: upgrade.PhaseFailed, inMsg: "status is FAILED",
		},
		{
			name: "a control plane newer than the target", s: snapshot{Cluster: cluster{Version: "1.38", Status: clusterActive}},
			t: fullTo137, phase: upgrade.PhaseFailed, inMsg: "newer than the target",
		},
		{
			name: "full: a custom AMI group fails before anything is sent", s: snapshot{Cluster: active136, Nodegroups: []nodegroup{{Name: "gpu", Version: "1.36", AMIType: customAMI, Status: "ACTIVE"}}},
			t: fullTo137, phase: upgrade.PhaseFailed, inMsg: "custom AMI (amiType CUSTOM)",
		},
		{
			name: "node image only: the group behind gets the release", s: snapshot{Cluster: active137, Nodegroups: []nodegroup{al2023("apps", "1.37", "1.37.2-20261101"), al2023("system", "1.37", "1.37.2-20261115")}},
			t: images("1.37.2-20261115"), phase: upgrade.PhaseRunning, next: &request{Nodegroup: "apps", Release: "1.37.2-20261115"}, inMsg: "node group apps to release 1.37.2-20261115",
		},
		{
			name: "node image only: every group on it", s: snapshot{Cluster: active137, Nodegroups: groups137},
			t: images("1.37.2-20261115"), phase: upgrade.PhaseSucceeded, inMsg: "2 node groups on their target releases",
		},
		{
			name: "node image only: a release of another AMI family fails first", s: snapshot{Cluster: active137, Nodegroups: []nodegroup{
				al2023("apps", "1.37", "1.37.2-20261115"),
				{Name: "br", Version: "1.37", Release: "1.50.0-abc", AMIType: "BOTTLEROCKET_x86_64", Status: "ACTIVE"},
			}},
			t: images("1.37.2-20261115"), phase: upgrade.PhaseFailed, inMsg: "node group br (BOTTLEROCKET_x86_64) cannot take release 1.37.2-20261115",
		},
		{
			name: "node image only: windows groups keep theirs when only linux images are asked for", s: snapshot{Cluster: active137, Nodegroups: []nodegroup{
				al2023("apps", "1.37", "1.37.2-20261115"),
				{Name: "win", Version: "1.37", Release: "2026.11.15", AMIType: "WINDOWS_CORE_2022_x86_64", Status: "ACTIVE"},
			}},
			t: images("1.37.2-20261115"), phase: upgrade.PhaseSucceeded,
		},
		{
			name: "an unreadable target", s: snapshot{Cluster: active136}, t: upgrade.Target{Type: fleetv1.UpgradeFull, KubernetesVersion: "latest"}, phase: upgrade.PhaseFailed, inMsg: "target version",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := decide(tc.s, tc.t, tc.since)
			if d.Phase != tc.phase {
				t.Errorf("phase = %s (%s), want %s", d.Phase, d.Message, tc.phase)
			}
			if !reflect.DeepEqual(d.Next, tc.next) {
				t.Errorf("next = %v, want %v", d.Next, tc.next)
			}
			if !strings.Contains(d.Message, tc.inMsg) {
				t.Errorf("message = %q, want it to say %q", d.Message, tc.inMsg)
			}
			if !d.StartedAt.Equal(tc.starts) && !tc.starts.IsZero() {
				t.Errorf("started at = %v, want %v", d.StartedAt, tc.starts)
			}
		})
	}
}

func TestEKSVersionIsTheMinor(t *testing.T) {
	for in, want := range map[string]string{"v1.37.2": "1.37", "1.37": "1.37", "v1.37.2-eks-3f1c2e0": "1.37", "1.36.0": "1.36"} {
		if got, err := eksVersion(in); err != nil || got != want {
			t.Errorf("eksVersion(%q) = %q, %v, want %q", in, got, err, want)
		}
	}
	if _, err := eksVersion("stable"); err == nil {
		t.Error("eksVersion accepted stable")
	}
}

func TestOfferedVersions(t *testing.T) {
	catalogue := []clusterVersion{
		{Version: "1.35", Patch: "1.35.6", VersionStatus: "EXTENDED_SUPPORT"},
		{Version: "1.36", Patch: "1.36.3", VersionStatus: "STANDARD_SUPPORT"},
		{Version: "1.37", Patch: "1.37.2", VersionStatus: "STANDARD_SUPPORT", Default: true},
		{Version: "1.38", VersionStatus: "STANDARD_SUPPORT"},
		{Version: "1.33", Patch: "1.33.9", VersionStatus: "UNSUPPORTED"},
		{Version: "1.34", Patch: "1.34.1", VersionStatus: "EXTENDED_SUPPORT"},
	}
	for _, tc := range []struct{ current, want string }{
		{"1.36", "[v1.36.3 v1.37.2]"},
		{"1.37", "[v1.37.2 v1.38]"}, // no patch reported: the bare minor
		{"1.38", "[v1.38]"},         // nothing newer in the region
		{"1.32", "[]"},              // 1.33 unsupported, 1.32 not listed
		{"1.34", "[v1.34.1 v1.35.6]"},
	} {
		if got := fmt.Sprint(offeredVersions(tc.current, catalogue)); got != tc.want {
			t.Errorf("offered from %s = %s, want %s", tc.current, got, tc.want)
		}
	}
}

func TestOfferedImagesAreTheGroupsReleasesOnTheVersion(t *testing.T) {
	groups := []nodegroup{
		al2023("a", "1.37", "1.37.2-20261115"),
		al2023("b", "1.37", "1.37.2-20261101"),
		al2023("c", "1.37", "1.37.10-20260901"),
		al2023("d", "1.36", "1.36.3-20261101"),
		al2023("e", "1.37", "1.37.2-20261115"),
		{Name: "w", Version: "1.37", Release: "2026.11.15", AMIType: "WINDOWS_FULL_2022_x86_64"},
		{Name: "custom", Version: "1.37", AMIType: customAMI},
	}
	got := fmt.Sprint(offeredImages(groups, "v1.37.2"))
	want := "[{linux 1.37.2-20261101} {linux 1.37.2-20261115} {linux 1.37.10-20260901} {windows 2026.11.15}]"
	if got != want {
		t.Errorf("offered = %s, want %s", got, want)
	}
	if got := offeredImages(groups, "v1.38.0"); len(got) != 0 {
		t.Errorf("offered on 1.38 = %v, want none: no group runs 1.38", got)
	}
}

func TestAMIOSAndFamily(t *testing.T) {
	for amiType, want := range map[string]string{
		"AL2023_x86_64_STANDARD": "linux/AL2023", "AL2_x86_64_GPU": "linux/AL2", "BOTTLEROCKET_ARM_64_NVIDIA": "linux/Bottlerocket",
		"WINDOWS_CORE_2025_x86_64": "windows/Windows", "CUSTOM": "linux/CUSTOM",
	} {
		if got := amiOS(amiType) + "/" + amiFamily(amiType); got != want {
			t.Errorf("%s = %s, want %s", amiType, got, want)
		}
	}
}

func TestOperationSinceReadsTheControllersOperationID(t *testing.T) {
	for id, want := range map[string]int64{
		"nightly_alpha-1796137200":      1796137200,
		"nightly_alpha-1796137200-a3":   1796137200,
		"run-with-dashes_m-1796137200":  1796137200,
		"nightly_alpha":                 0,
		"nightly_alpha-a2":              0,
		"nightly_alpha-1796137200-axyz": 0,
	} {
		got := operationSince(id)
		if (want == 0) != got.IsZero() || (want != 0 && got.Unix() != want) {
			t.Errorf("operationSince(%q) = %v, want %d", id, got, want)
		}
	}
}

func TestUpdateConfigIsMaxUnavailable(t *testing.T) {
	for _, tc := range []struct {
		g    nodegroup
		want string
	}{
		{nodegroup{MaxUnavailable: 2}, "maxUnavailable 2"},
		{nodegroup{MaxUnavailablePercentage: 33, UpdateStrategy: "MINIMAL"}, "maxUnavailable 33%, strategy MINIMAL"},
		{nodegroup{}, ""},
	} {
		if got := updateConfig(tc.g); got != tc.want {
			t.Errorf("updateConfig(%+v) = %q, want %q", tc.g, got, tc.want)
		}
	}
}

func TestRequestTokensAreStablePerOperationAndRequest(t *testing.T) {
	a := requestToken("run_m-1", request{Version: "1.37"})
	if a != requestToken("run_m-1", request{Version: "1.37"}) {
		t.Error("the same request got two tokens")
	}
	if a == requestToken("run_m-1-a2", request{Version: "1.37"}) || a == requestToken("run_m-1", request{Nodegroup: "apps", Version: "1.37"}) {
		t.Error("different requests share a token")
	}
}
