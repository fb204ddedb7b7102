package upgrade

import (
	"reflect"
	"strings"
	"testing"

	fleetv1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
)

func linux(versions ...string) []NodeImage {
	out := make([]NodeImage, len(versions))
	for i, v := range versions {
		out[i] = NodeImage{OS: "linux", Version: v}
	}
	return out
}

func custom(versions ...string) fleetv1.NodeImageSelection {
	sel := fleetv1.NodeImageSelection{Type: fleetv1.NodeImageCustom}
	for _, v := range versions {
		sel.CustomNodeImageVersions = append(sel.CustomNodeImageVersions, fleetv1.NodeImageVersion{Version: v})
	}
	return sel
}

func TestSelectNodeImages(t *testing.T) {
	latest := fleetv1.NodeImageSelection{Type: fleetv1.NodeImageLatest}
	consistent := fleetv1.NodeImageSelection{Type: fleetv1.NodeImageConsistent}
	mixed := append(linux("ubuntu-1", "ubuntu-2"), NodeImage{OS: "windows", Version: "win-1"}, NodeImage{OS: "windows", Version: "win-2"})
	chosen := []fleetv1.ChosenNodeImage{
		{OS: "linux", KubernetesVersion: "v1.37.2", Version: "ubuntu-1"},
		{OS: "windows", KubernetesVersion: "v1.37.2", Version: "win-1"},
	}
	for _, tc := range []struct {
		name    string
		sel     fleetv1.NodeImageSelection
		oses    []string
		offered []NodeImage
		chosen  []fleetv1.ChosenNodeImage
		want    []NodeImage
		wantErr string
	}{
		{name: "Latest takes the newest image offered", sel: latest, oses: []string{"linux"}, offered: linux("ubuntu-1", "ubuntu-2"),
			want: linux("ubuntu-2")},
		{name: "Latest picks one image per OS of the member's pools", sel: latest, oses: []string{"linux", "windows"}, offered: mixed,
			want: []NodeImage{{"linux", "ubuntu-2"}, {"windows", "win-2"}}},
		{name: "a member with unknown pools gets an image for every OS offered", sel: latest, offered: mixed,
			want: []NodeImage{{"linux", "ubuntu-2"}, {"windows", "win-2"}}},
		{name: "a pool whose OS is offered nothing fails the member", sel: latest, oses: []string{"windows"}, offered: linux("ubuntu-1"),
			wantErr: "offers no node image for windows nodes on v1.37.2"},
		{name: "Consistent takes what the run chose, not the newest", sel: consistent, oses: []string{"linux", "windows"}, offered: mixed, chosen: chosen,
			want: []NodeImage{{"linux", "ubuntu-1"}, {"windows", "win-1"}}},
		{name: "Consistent matches the chosen version with or without its v", sel: consistent, oses: []string{"linux"}, offered: linux("ubuntu-1", "ubuntu-2"),
			chosen: []fleetv1.ChosenNodeImage{{OS: "linux", KubernetesVersion: "1.37.2", Version: "ubuntu-1"}}, want: linux("ubuntu-1")},
		{name: "Consistent fails a member on a version the run chose nothing for", sel: consistent, oses: []string{"linux"}, offered: linux("ubuntu-1"),
			chosen: []fleetv1.ChosenNodeImage{{OS: "linux", KubernetesVersion: "v1.36.3", Version: "ubuntu-1"}}, wantErr: "chose no node image for linux nodes on v1.37.2"},
		{name: "Consistent fails a member not offered the chosen image", sel: consistent, oses: []string{"linux"}, offered: linux("ubuntu-2"), chosen: chosen,
			wantErr: "the node image ubuntu-1 the run chose for linux nodes on v1.37.2 is not offered to this member (it is offered ubuntu-2)"},
		{name: "Custom takes the listed image the member is offered", sel: custom("ubuntu-1"), oses: []string{"linux"}, offered: linux("ubuntu-1", "ubuntu-2"),
			want: linux("ubuntu-1")},
		{name: "Custom takes the newest of several listed for the same OS", sel: custom("ubuntu-2", "ubuntu-1"), oses: []string{"linux"}, offered: linux("ubuntu-1", "ubuntu-2", "ubuntu-3"),
			want: linux("ubuntu-2")},
		{name: "Custom gives each OS its own listed image", sel: custom("win-1", "ubuntu-1"), oses: []string{"linux", "windows"}, offered: mixed,
			want: []NodeImage{{"linux", "ubuntu-1"}, {"windows", "win-1"}}},
		{name: "Custom ignores listed images for OSes the member lacks", sel: custom("ubuntu-1", "win-1"), oses: []string{"linux"}, offered: mixed,
			want: linux("ubuntu-1")},
		{name: "Custom fails a member that can take none of the listed images", sel: custom("ubuntu-9"), oses: []string{"linux"}, offered: linux("ubuntu-1", "ubuntu-2"),
			wantErr: "none of the custom node images ubuntu-9 is offered for linux nodes on v1.37.2 (the member is offered ubuntu-1, ubuntu-2)"},
		{name: "Custom fails a member with a pool no listed image fits", sel: custom("ubuntu-1"), oses: []string{"linux", "windows"}, offered: mixed,
			wantErr: "for windows nodes"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := SelectNodeImages(tc.sel, "v1.37.2", tc.oses, tc.offered, tc.chosen)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want one containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil || !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("SelectNodeImages = %v, %v; want %v", got, err, tc.want)
			}
		})
	}
}

func TestConsistentNodeImages(t *testing.T) {
	for _, tc := range []struct {
		name    string
		members []MemberOffer
		want    []fleetv1.ChosenNodeImage
	}{
		{name: "members of one version share its newest image",
			members: []MemberOffer{
				{KubernetesVersion: "v1.37.2", OSes: []string{"linux"}, Offered: linux("a-1", "a-2")},
				{KubernetesVersion: "v1.37.2", OSes: []string{"linux"}, Offered: linux("a-1", "a-2")},
			},
			want: []fleetv1.ChosenNodeImage{{OS: "linux", KubernetesVersion: "v1.37.2", Version: "a-2"}}},
		{name: "a member offered less holds the others back to the newest they all have",
			members: []MemberOffer{
				{KubernetesVersion: "v1.37.2", OSes: []string{"linux"}, Offered: linux("a-1", "a-2", "a-3")},
				{KubernetesVersion: "v1.37.2", OSes: []string{"linux"}, Offered: linux("a-1", "a-2")},
			},
			want: []fleetv1.ChosenNodeImage{{OS: "linux", KubernetesVersion: "v1.37.2", Version: "a-2"}}},
		{name: "each OS and version gets its own choice",
			members: []MemberOffer{
				{KubernetesVersion: "v1.37.2", OSes: []string{"windows", "linux"}, Offered: append(linux("a-1"), NodeImage{"windows", "w-1"})},
				{KubernetesVersion: "v1.36.3", OSes: []string{"linux"}, Offered: linux("b-1", "b-2")},
			},
			want: []fleetv1.ChosenNodeImage{
				{OS: "linux", KubernetesVersion: "v1.36.3", Version: "b-2"},
				{OS: "linux", KubernetesVersion: "v1.37.2", Version: "a-1"},
				{OS: "windows", KubernetesVersion: "v1.37.2", Version: "w-1"},
			}},
		{name: "members that share no image get no choice",
			members: []MemberOffer{
				{KubernetesVersion: "v1.37.2", OSes: []string{"linux"}, Offered: linux("a-1")},
				{KubernetesVersion: "v1.37.2", OSes: []string{"linux"}, Offered: linux("c-1")},
			}},
		{name: "a member with unknown pools counts for every OS it is offered",
			members: []MemberOffer{{KubernetesVersion: "v1.37.2", Offered: linux("a-1", "a-2")}},
			want:    []fleetv1.ChosenNodeImage{{OS: "linux", KubernetesVersion: "v1.37.2", Version: "a-2"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := ConsistentNodeImages(tc.members); !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("ConsistentNodeImages = %+v, want %+v", got, tc.want)
			}
		})
	}
}
