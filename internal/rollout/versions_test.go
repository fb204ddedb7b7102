package rollout

import (
	"errors"
	"strings"
	"testing"

	fleetv1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
)

func TestParseVersion(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Version
		bad  bool
	}{
		{in: "1.37", want: Version{1, 37, 0, false}},
		{in: "v1.37.2", want: Version{1, 37, 2, true}},
		{in: "1.37.2", want: Version{1, 37, 2, true}},
		{in: "v1.29.4-eks-1a2b3c", want: Version{1, 29, 4, true}},
		{in: "v1.28.3+k3s1", want: Version{1, 28, 3, true}},
		{in: " v1.30.0 ", want: Version{1, 30, 0, true}},
		{in: "1", bad: true},
		{in: "1.x", bad: true},
		{in: "1.37.2.1", bad: true},
		{in: "v", bad: true},
		{in: "", bad: true},
		{in: "1..2", bad: true},
		{in: "01.37", bad: true},
		{in: "1.-3", bad: true},
	} {
		got, err := ParseVersion(tc.in)
		if (err != nil) != tc.bad || (!tc.bad && got != tc.want) {
			t.Errorf("ParseVersion(%q) = %+v, %v; want %+v, bad=%v", tc.in, got, err, tc.want, tc.bad)
		}
	}
	if got := (Version{1, 37, 0, false}).String(); got != "1.37" {
		t.Errorf("String() = %q", got)
	}
}

func TestCheckVersionChange(t *testing.T) {
	for _, tc := range []struct {
		current, target string
		want            error
		says            string
	}{
		{"v1.36.3", "1.37.2", nil, ""},
		{"v1.36.3", "1.37", nil, ""},
		{"v1.37.2", "1.37", nil, ""},   // same minor: nothing or a patch
		{"v1.37.0", "1.37.2", nil, ""}, // patch upgrade
		{"v1.37.2", "1.37.2", nil, ""},
		{"v1.37.2", "1.37.1", ErrDowngrade, "newer than the target 1.37.1"},
		{"v1.37.2", "1.36", ErrDowngrade, "the control plane runs 1.37.2"},
		{"v1.35.4", "1.37.2", ErrMinorJump, "upgrade to 1.36 first"},
		{"v1.36.3", "2.0", ErrMajorChange, "not supported"},
	} {
		err := CheckVersionChange(tc.current, tc.target)
		if !errors.Is(err, tc.want) || (tc.want == nil) != (err == nil) {
			t.Errorf("CheckVersionChange(%s, %s) = %v, want %v", tc.current, tc.target, err, tc.want)
			continue
		}
		if err != nil && !strings.Contains(err.Error(), tc.says) {
			t.Errorf("CheckVersionChange(%s, %s) says %q, want %q in it", tc.current, tc.target, err, tc.says)
		}
	}
	if err := CheckVersionChange("garbage", "1.37"); err == nil {
		t.Error("an unreadable current version was accepted")
	}
	if err := CheckUpgrade(fleetv1.UpgradeNodeImageOnly, "v1.37.2", ""); err != nil {
		t.Errorf("a node-image upgrade was refused: %v", err)
	}
	if err := CheckUpgrade(fleetv1.UpgradeControlPlaneOnly, "v1.35.0", "1.37"); !errors.Is(err, ErrMinorJump) {
		t.Errorf("a control-plane jump was allowed: %v", err)
	}
}

func TestSameVersion(t *testing.T) {
	for _, tc := range []struct {
		have, want string
		same       bool
	}{
		{"v1.37.2", "1.37.2", true},
		{"v1.37.2", "1.37", true},
		{"v1.37.2", "1.37.3", false},
		{"v1.36.2", "1.37", false},
		{"weird", "weird", true},
	} {
		if got := SameVersion(tc.have, tc.want); got != tc.same {
			t.Errorf("SameVersion(%s, %s) = %v", tc.have, tc.want, got)
		}
	}
}
