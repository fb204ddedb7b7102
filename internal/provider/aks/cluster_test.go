package aks

import (
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/containerservice/armcontainerservice/v6"

	fleetv1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/internal/upgrade"
)

func onVersion(state, version, current string, pools ...pool) cluster {
	return cluster{State: state, Version: version, Current: current, Pools: pools}
}

var (
	poolOld    = pool{Name: "np1", OS: "Ubuntu", Version: "1.36.3", Current: "1.36.3", Image: "img-1", LatestImage: "img-2", State: "Succeeded"}
	poolNew    = pool{Name: "np1", OS: "Ubuntu", Version: "1.37.2", Current: "1.37.2", Image: "img-2", LatestImage: "img-2", State: "Succeeded"}
	poolBusy   = pool{Name: "np1", OS: "Ubuntu", Version: "1.37.2", Current: "1.36.3", Image: "img-1", LatestImage: "img-2", State: "Upgrading"}
	poolFailed = pool{Name: "np1", OS: "Ubuntu", Version: "1.36.3", Current: "1.36.3", Image: "img-1", LatestImage: "img-2", State: "Failed"}
	poolImaged = pool{Name: "np1", OS: "Ubuntu", Version: "1.36.3", Current: "1.36.3", Image: "img-2", LatestImage: "img-2", State: "Succeeded"}
)

var (
	full    = upgrade.Target{Type: fleetv1.UpgradeFull, KubernetesVersion: "v1.37.2"}
	cpOnly  = upgrade.Target{Type: fleetv1.UpgradeControlPlaneOnly, KubernetesVersion: "v1.37.2"}
	imgOnly = upgrade.Target{Type: fleetv1.UpgradeNodeImageOnly, NodeImages: []upgrade.NodeImage{{OS: "Ubuntu", Version: "img-2"}}}
)

func TestNextRequest(t *testing.T) {
	for _, tc := range []struct {
		name    string
		c       cluster
		t       upgrade.Target
		sent    bool
		want    requestKind
		all     bool
		pools   []string
		wantErr string
	}{
		{name: "full from old", c: onVersion("Succeeded", "1.36.3", "1.36.3", poolOld), t: full, want: requestCluster, all: true},
		{name: "full upgrading toward it", c: onVersion("Upgrading", "1.37.2", "1.36.3", poolBusy), t: full, want: requestNone},
		{name: "full upgrading toward it, restarted hub", c: onVersion("Upgrading", "1.37.2", "1.37.2", poolBusy), t: full, want: requestNone},
		{name: "full at target", c: onVersion("Succeeded", "1.37.2", "1.37.2", poolNew), t: full, want: requestNone},
		{name: "full: control plane there, pool behind", c: onVersion("Succeeded", "1.37.2", "1.37.2", poolOld), t: full, want: requestCluster, all: true},
		{name: "full at versions, image behind, target image", c: onVersion("Succeeded", "1.37.2", "1.37.2", pool{Name: "np1", OS: "Ubuntu", Version: "1.37.2", Current: "1.37.2", Image: "img-1", LatestImage: "img-2", State: "Succeeded"}), t: upgrade.Target{Type: fleetv1.UpgradeFull, KubernetesVersion: "v1.37.2", NodeImage: "img-2"}, want: requestNodeImage, pools: []string{"np1"}},
		{name: "failed, asked by this hub", c: onVersion("Failed", "1.37.2", "1.36.3", poolFailed), t: full, sent: true, want: requestNone},
		{name: "failed, new attempt", c: onVersion("Failed", "1.37.2", "1.36.3", poolFailed), t: full, want: requestCluster, all: true},
		{name: "busy with another operation", c: onVersion("Updating", "1.36.3", "1.36.3", poolOld), t: full, want: requestNone},
		{name: "control plane only", c: onVersion("Succeeded", "1.36.3", "1.36.3", poolOld), t: cpOnly, want: requestCluster},
		{name: "control plane only, at target with old pools", c: onVersion("Succeeded", "1.37.2", "1.37.2", poolOld), t: cpOnly, want: requestNone},
		{name: "node image", c: onVersion("Succeeded", "1.36.3", "1.36.3", poolOld), t: imgOnly, want: requestNodeImage, pools: []string{"np1"}},
		{name: "node image upgrading", c: onVersion("Succeeded", "1.36.3", "1.36.3", pool{Name: "np1", OS: "Ubuntu", Image: "img-1", LatestImage: "img-2", State: "UpgradingNodeImageVersion"}), t: imgOnly, want: requestNone},
		{name: "node image at latest", c: onVersion("Succeeded", "1.36.3", "1.36.3", poolImaged), t: imgOnly, want: requestNone},
		{name: "node image not the latest", c: onVersion("Succeeded", "1.36.3", "1.36.3", poolOld), t: upgrade.Target{Type: fleetv1.UpgradeNodeImageOnly, NodeImages: []upgrade.NodeImage{{OS: "Ubuntu", Version: "img-0"}}}, wantErr: "only to its latest node image, which is img-2"},
		{name: "node image of another OS is no constraint", c: onVersion("Succeeded", "1.36.3", "1.36.3", poolOld), t: upgrade.Target{Type: fleetv1.UpgradeNodeImageOnly, NodeImages: []upgrade.NodeImage{{OS: "Windows2022", Version: "w-1"}}}, want: requestNodeImage, pools: []string{"np1"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := nextRequest(tc.c, tc.t, tc.sent)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.Kind != tc.want || got.AllPools != tc.all || strings.Join(got.Pools, ",") != strings.Join(tc.pools, ",") {
				t.Errorf("got %+v", got)
			}
			if got.Kind == requestCluster && got.Version != "1.37.2" {
				t.Errorf("version %q, want ARM's spelling 1.37.2", got.Version)
			}
		})
	}
}

func TestProgressOf(t *testing.T) {
	for _, tc := range []struct {
		name string
		c    cluster
		t    upgrade.Target
		want upgrade.Phase
		msg  string
	}{
		{name: "not asked", c: onVersion("Succeeded", "1.36.3", "1.36.3", poolOld), t: full, want: upgrade.PhaseNotStarted},
		{name: "upgrading", c: onVersion("Upgrading", "1.37.2", "1.36.3", poolBusy), t: full, want: upgrade.PhaseRunning, msg: "AKS cluster is Upgrading (control plane 1.36.3 → 1.37.2; pools np1 1.36.3 → 1.37.2 image img-1 (Upgrading))"},
		{name: "succeeded", c: onVersion("Succeeded", "1.37.2", "1.37.2", poolNew), t: full, want: upgrade.PhaseSucceeded, msg: "AKS reports the target"},
		{name: "failed", c: onVersion("Failed", "1.37.2", "1.36.3", poolFailed), t: full, want: upgrade.PhaseFailed, msg: "AKS cluster is Failed"},
		{name: "pool failed", c: onVersion("Succeeded", "1.37.2", "1.37.2", poolFailed), t: full, want: upgrade.PhaseFailed, msg: "AKS pool np1 is Failed"},
		{name: "canceled", c: onVersion("Canceled", "1.37.2", "1.36.3", poolOld), t: full, want: upgrade.PhaseFailed, msg: "Canceled"},
		{name: "control plane only done, pools old", c: onVersion("Succeeded", "1.37.2", "1.37.2", poolOld), t: cpOnly, want: upgrade.PhaseSucceeded},
		{name: "full: control plane done, pools not asked", c: onVersion("Succeeded", "1.37.2", "1.37.2", poolOld), t: full, want: upgrade.PhaseNotStarted},
		{name: "node image running", c: onVersion("Succeeded", "1.36.3", "1.36.3", pool{Name: "np1", Image: "img-1", LatestImage: "img-2", State: "UpgradingNodeImageVersion"}), t: imgOnly, want: upgrade.PhaseRunning, msg: "AKS pool np1 is UpgradingNodeImageVersion"},
		{name: "node image done", c: onVersion("Succeeded", "1.36.3", "1.36.3", poolImaged), t: imgOnly, want: upgrade.PhaseSucceeded},
		{name: "node image not asked", c: onVersion("Succeeded", "1.36.3", "1.36.3", poolOld), t: imgOnly, want: upgrade.PhaseNotStarted},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := progressOf(tc.c, tc.t)
			if got.Phase != tc.want || !strings.Contains(got.Message, tc.msg) {
				t.Errorf("got %+v, want %s with %q", got, tc.want, tc.msg)
			}
		})
	}
}

func TestClusterUpdateKeepsUpgradeSettings(t *testing.T) {
	mc := &armcontainerservice.ManagedCluster{Properties: &armcontainerservice.ManagedClusterProperties{
		KubernetesVersion: to.Ptr("1.36.3"),
		AgentPoolProfiles: []*armcontainerservice.ManagedClusterAgentPoolProfile{
			{Name: to.Ptr("np1"), OrchestratorVersion: to.Ptr("1.36.3"), UpgradeSettings: &armcontainerservice.AgentPoolUpgradeSettings{MaxSurge: to.Ptr("33%"), DrainTimeoutInMinutes: to.Ptr[int32](45)}},
		},
	}}
	for _, all := range []bool{true, false} {
		out := clusterUpdate(mc, request{Kind: requestCluster, Version: "1.37.2", AllPools: all})
		ap := out.Properties.AgentPoolProfiles[0]
		wantPool := map[bool]string{true: "1.37.2", false: "1.36.3"}[all]
		if *out.Properties.KubernetesVersion != "1.37.2" || *ap.OrchestratorVersion != wantPool || *ap.UpgradeSettings.MaxSurge != "33%" || *ap.UpgradeSettings.DrainTimeoutInMinutes != 45 {
			t.Errorf("all=%v: %s, pool %s, %+v", all, *out.Properties.KubernetesVersion, *ap.OrchestratorVersion, ap.UpgradeSettings)
		}
	}
	if *mc.Properties.KubernetesVersion != "1.36.3" || *mc.Properties.AgentPoolProfiles[0].OrchestratorVersion != "1.36.3" {
		t.Error("clusterUpdate changed the cluster it was given")
	}
}

func TestUpgradeVersionsAndImages(t *testing.T) {
	profile := &armcontainerservice.ManagedClusterUpgradeProfileProperties{ControlPlaneProfile: &armcontainerservice.ManagedClusterPoolUpgradeProfile{
		KubernetesVersion: to.Ptr("1.36.3"),
		Upgrades:          []*armcontainerservice.ManagedClusterPoolUpgradeProfileUpgradesItem{{KubernetesVersion: to.Ptr("1.37.0")}, {KubernetesVersion: to.Ptr("1.37.2"), IsPreview: to.Ptr(true)}},
	}}
	if got := strings.Join(upgradeVersions(profile), ","); got != "v1.36.3,v1.37.0,v1.37.2" {
		t.Errorf("upgradeVersions %s", got)
	}
	if got := upgradeVersions(nil); got == nil || len(got) != 0 {
		t.Errorf("no profile: %v, want an empty list (nothing offered), not nil (anything)", got)
	}
	images := offeredImages([]pool{{OS: "Ubuntu", LatestImage: "u-2"}, {OS: "AzureLinux", LatestImage: "a-1"}, {OS: "Ubuntu", LatestImage: "u-2"}, {OS: "Ubuntu", LatestImage: "u-gen1-2"}, {OS: "Windows2022"}})
	want := []upgrade.NodeImage{{OS: "AzureLinux", Version: "a-1"}, {OS: "Ubuntu", Version: "u-2"}, {OS: "Ubuntu", Version: "u-gen1-2"}}
	if len(images) != len(want) {
		t.Fatalf("offeredImages %v", images)
	}
	for i := range want {
		if images[i] != want[i] {
			t.Errorf("offeredImages %v, want %v", images, want)
		}
	}
}

func TestWindows(t *testing.T) {
	day := func(s string) *time.Time { d, _ := time.Parse(time.DateOnly, s); return &d }
	at := func(s string) *time.Time { d, _ := time.Parse(time.RFC3339, s); return &d }
	for _, tc := range []struct {
		name string
		mc   armcontainerservice.MaintenanceConfiguration
		want []upgrade.MaintenanceWindow
	}{
		{
			name: "weekly auto-upgrade with a blackout",
			mc: armcontainerservice.MaintenanceConfiguration{Name: to.Ptr("aksManagedAutoUpgradeSchedule"), Properties: &armcontainerservice.MaintenanceConfigurationProperties{MaintenanceWindow: &armcontainerservice.MaintenanceWindow{
				Schedule:  &armcontainerservice.Schedule{Weekly: &armcontainerservice.WeeklySchedule{DayOfWeek: to.Ptr(armcontainerservice.WeekDaySaturday), IntervalWeeks: to.Ptr[int32](2)}},
				StartTime: to.Ptr("22:00"), UTCOffset: to.Ptr("+02:00"), DurationHours: to.Ptr[int32](6), StartDate: day("2026-01-03"),
				NotAllowedDates: []*armcontainerservice.DateSpan{{Start: day("2026-12-20"), End: day("2027-01-03")}},
			}}},
			want: []upgrade.MaintenanceWindow{
				{Name: "aksManagedAutoUpgradeSchedule", Schedule: "every 2 weeks on Saturday, 22:00 +02:00 for 6h, from 2026-01-03"},
				{Name: "aksManagedAutoUpgradeSchedule/notAllowedDates", Schedule: "2026-12-20 to 2027-01-03", Exclusion: true},
			},
		},
		{
			name: "relative monthly node OS",
			mc: armcontainerservice.MaintenanceConfiguration{Name: to.Ptr("aksManagedNodeOSUpgradeSchedule"), Properties: &armcontainerservice.MaintenanceConfigurationProperties{MaintenanceWindow: &armcontainerservice.MaintenanceWindow{
				Schedule:      &armcontainerservice.Schedule{RelativeMonthly: &armcontainerservice.RelativeMonthlySchedule{DayOfWeek: to.Ptr(armcontainerservice.WeekDayMonday), WeekIndex: to.Ptr(armcontainerservice.TypeFirst), IntervalMonths: to.Ptr[int32](1)}},
				DurationHours: to.Ptr[int32](4),
			}}},
			want: []upgrade.MaintenanceWindow{{Name: "aksManagedNodeOSUpgradeSchedule", Schedule: "First Monday of every month, 00:00 +00:00 for 4h"}},
		},
		{
			name: "absolute monthly and daily",
			mc: armcontainerservice.MaintenanceConfiguration{Name: to.Ptr("aksManagedNodeOSUpgradeSchedule"), Properties: &armcontainerservice.MaintenanceConfigurationProperties{MaintenanceWindow: &armcontainerservice.MaintenanceWindow{
				Schedule: &armcontainerservice.Schedule{AbsoluteMonthly: &armcontainerservice.AbsoluteMonthlySchedule{DayOfMonth: to.Ptr[int32](15), IntervalMonths: to.Ptr[int32](3)}}, StartTime: to.Ptr("01:30"), DurationHours: to.Ptr[int32](8),
			}}},
			want: []upgrade.MaintenanceWindow{{Name: "aksManagedNodeOSUpgradeSchedule", Schedule: "day 15 of every 3 months, 01:30 +00:00 for 8h"}},
		},
		{
			name: "default",
			mc: armcontainerservice.MaintenanceConfiguration{Name: to.Ptr("default"), Properties: &armcontainerservice.MaintenanceConfigurationProperties{
				TimeInWeek:     []*armcontainerservice.TimeInWeek{{Day: to.Ptr(armcontainerservice.WeekDaySunday), HourSlots: []*int32{to.Ptr[int32](1), to.Ptr[int32](2)}}},
				NotAllowedTime: []*armcontainerservice.TimeSpan{{Start: at("2026-12-24T00:00:00Z"), End: at("2026-12-26T12:00:00Z")}},
			}},
			want: []upgrade.MaintenanceWindow{
				{Name: "default", Schedule: "Sunday 01:00-02:00, 02:00-03:00 UTC"},
				{Name: "default/notAllowedTime", Schedule: "2026-12-24T00:00:00Z to 2026-12-26T12:00:00Z", Exclusion: true},
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := windowsOf(&tc.mc)
			if len(got) != len(tc.want) {
				t.Fatalf("got %+v", got)
			}
			for i := range got {
				if got[i] != tc.want[i] {
					t.Errorf("got %+v, want %+v", got[i], tc.want[i])
				}
			}
		})
	}
}

func TestARMMessage(t *testing.T) {
	body := `{"error":{"code":"UpgradeFailed","message":"Drain of node aks-np1-1 did not complete: pods blocked by PodDisruptionBudget"}}`
	withBody := &azcore.ResponseError{ErrorCode: "UpgradeFailed", StatusCode: 400, RawResponse: &http.Response{Body: io.NopCloser(strings.NewReader(body))}}
	for _, tc := range []struct {
		err  error
		want string
	}{
		{withBody, "UpgradeFailed: Drain of node aks-np1-1 did not complete: pods blocked by PodDisruptionBudget"},
		{&azcore.ResponseError{ErrorCode: "QuotaExceeded", StatusCode: 409}, "QuotaExceeded"},
		{&azcore.ResponseError{StatusCode: 500}, "HTTP 500"},
		{errors.New("dial tcp: timeout"), "dial tcp: timeout"},
	} {
		if got := armMessage(tc.err); got != tc.want {
			t.Errorf("armMessage = %q, want %q", got, tc.want)
		}
	}
}

func TestParseID(t *testing.T) {
	id, err := parseID("/subscriptions/sub-1/resourceGroups/rg-eu/providers/Microsoft.ContainerService/managedClusters/aks-eu-1")
	if err != nil || id.subscription != "sub-1" || id.resourceGroup != "rg-eu" || id.name != "aks-eu-1" {
		t.Errorf("parseID: %+v, %v", id, err)
	}
	if _, err := parseID("/subscriptions/sub-1/resourceGroups/rg-eu/providers/Microsoft.Compute/virtualMachines/vm"); err == nil {
		t.Error("a VM's ID was taken for a managed cluster")
	}
}
