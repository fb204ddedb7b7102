package rollout

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	fleetv1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
)

// Version is a Kubernetes version: 1.37 or 1.37.2, as users and API servers
// write it (v1.37.2, 1.37.2-eks-1a2b, v1.37.2+k3s1).
type Version struct {
	Major, Minor, Patch int
	// HasPatch is false for a minor-only version such as 1.37, which stands
	// for any patch of that minor.
	HasPatch bool
}

// ParseVersion reads a version, ignoring a leading v and any pre-release or
// build suffix after the patch.
func ParseVersion(s string) (Version, error) {
	core := strings.TrimPrefix(strings.TrimSpace(s), "v")
	if i := strings.IndexAny(core, "-+"); i >= 0 {
		core = core[:i]
	}
	parts := strings.Split(core, ".")
	if len(parts) < 2 || len(parts) > 3 {
		return Version{}, fmt.Errorf("version %q is not like 1.37 or v1.37.2", s)
	}
	var nums [3]int
	for i, p := range parts {
		n, err := strconv.Atoi(p)
		if err != nil || n < 0 || p == "" || (len(p) > 1 && p[0] == '0') {
			return Version{}, fmt.Errorf("version %q is not like 1.37 or v1.37.2", s)
		}
		nums[i] = n
	}
	return Version{Major: nums[0], Minor: nums[1], Patch: nums[2], HasPatch: len(parts) == 3}, nil
}

func (v Version) String() string {
	if v.HasPatch {
		return fmt.Sprintf("%d.%d.%d", v.Major, v.Minor, v.Patch)
	}
	return fmt.Sprintf("%d.%d", v.Major, v.Minor)
}

// Compare orders two versions; patches count only when both have one, so
// 1.37 equals 1.37.2.
func (v Version) Compare(o Version) int {
	switch {
	case v.Major != o.Major:
		return cmpInt(v.Major, o.Major)
	case v.Minor != o.Minor:
		return cmpInt(v.Minor, o.Minor)
	case v.HasPatch && o.HasPatch:
		return cmpInt(v.Patch, o.Patch)
	}
	return 0
}

func cmpInt(a, b int) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

var (
	// ErrDowngrade: the target is older than what the member runs.
	ErrDowngrade = errors.New("downgrade")
	// ErrMinorJump: the control plane would skip a minor version, which
	// Kubernetes does not support.
	ErrMinorJump = errors.New("more than one minor version")
	// ErrMajorChange: the target has another major version.
	ErrMajorChange = errors.New("major version change")
)

// CheckVersionChange says whether a control plane at current may be upgraded
// to target: not a downgrade, and at most one minor version up. The error
// wraps ErrDowngrade, ErrMinorJump or ErrMajorChange and reads as a reason.
func CheckVersionChange(current, target string) error {
	from, err := ParseVersion(current)
	if err != nil {
		return fmt.Errorf("current version: %w", err)
	}
	to, err := ParseVersion(target)
	if err != nil {
		return fmt.Errorf("target version: %w", err)
	}
	switch {
	case from.Major != to.Major:
		return fmt.Errorf("%w: %s to %s is not supported", ErrMajorChange, from, to)
	case to.Compare(from) < 0:
		return fmt.Errorf("%w: the control plane runs %s, newer than the target %s", ErrDowngrade, from, to)
	case to.Minor-from.Minor > 1:
		return fmt.Errorf("%w: the control plane runs %s and cannot jump to %s; upgrade to %d.%d first", ErrMinorJump, from, to, from.Major, from.Minor+1)
	}
	return nil
}

// CheckUpgrade applies version safety to one member for an upgrade type:
// Full and ControlPlaneOnly upgrades move the control plane, so they are
// checked; NodeImageOnly keeps the Kubernetes version. A non-nil error is
// what the controller puts in MemberObservation.Blocked.
func CheckUpgrade(upgrade fleetv1.UpgradeType, controlPlaneVersion, target string) error {
	if upgrade == fleetv1.UpgradeNodeImageOnly {
		return nil
	}
	return CheckVersionChange(controlPlaneVersion, target)
}

// SameVersion reports whether a member's version is the target: a target
// without a patch matches every patch of its minor.
func SameVersion(have, want string) bool {
	h, err1 := ParseVersion(have)
	w, err2 := ParseVersion(want)
	if err1 != nil || err2 != nil {
		return strings.TrimPrefix(have, "v") == strings.TrimPrefix(want, "v")
	}
	return h.Compare(w) == 0
}
