package eks

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	fleetv1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/internal/rollout"
	"github.com/flotilla-dev/flotilla/internal/upgrade"
)

// snapshot is what EKS says of one cluster at one moment: the cluster, its
// managed node groups and their recent updates. Every decision of the
// provider is a pure function of a snapshot.
type snapshot struct {
	Cluster    cluster
	Nodegroups []nodegroup
	Updates    []update
}

type cluster struct {
	Name string
	// Version is EKS's Kubernetes version, a minor: "1.37".
	Version string
	// PlatformVersion is EKS's revision of that minor ("eks.5"): EKS
	// moves the patch and the platform version itself.
	PlatformVersion string
	// Status is ACTIVE, UPDATING, CREATING, DELETING, FAILED or PENDING.
	Status string
}

type nodegroup struct {
	Name    string
	Version string
	// Release is the AMI release version of an EKS optimized AMI
	// ("1.37.2-20261115"); empty for a custom AMI.
	Release string
	AMIType string
	Status  string
	Desired int32
	// MaxUnavailable, MaxUnavailablePercentage and UpdateStrategy are the
	// group's updateConfig, which EKS applies to a version update as set.
	MaxUnavailable           int32
	MaxUnavailablePercentage int32
	UpdateStrategy           string
}

// update is one EKS update (DescribeUpdate) of the cluster or, with
// Nodegroup set, of a node group.
type update struct {
	ID        string
	Nodegroup string
	Type      string
	Status    string
	CreatedAt time.Time
	// Params are the update's parameters by type (Version, ReleaseVersion, ...).
	Params map[string]string
	Errors []string
}

// Update statuses and the update type this provider starts.
const (
	statusInProgress = "InProgress"
	statusFailed     = "Failed"
	statusCancelled  = "Cancelled"
	statusSuccessful = "Successful"
	versionUpdate    = "VersionUpdate"
	clusterActive    = "ACTIVE"
	clusterUpdating  = "UPDATING"
	customAMI        = "CUSTOM"
)

// request is an update the provider is to send: the control plane's
// version (Nodegroup empty) or a node group's version or release.
type request struct {
	Nodegroup string
	// Version is the EKS minor to move to; empty leaves a node group's
	// version as it is.
	Version string
	// Release is the node group's AMI release version; empty lets EKS
	// pick the latest for the version.
	Release string
}

func (r request) String() string {
	if r.Nodegroup == "" {
		return "the control plane to " + r.Version
	}
	switch {
	case r.Version != "" && r.Release != "":
		return fmt.Sprintf("node group %s to %s (release %s)", r.Nodegroup, r.Version, r.Release)
	case r.Version != "":
		return fmt.Sprintf("node group %s to %s (EKS's latest release)", r.Nodegroup, r.Version)
	}
	return fmt.Sprintf("node group %s to release %s", r.Nodegroup, r.Release)
}

// decision is what a snapshot means for an upgrade: its phase and message
// for Progress, and the request Start is to send (nil: nothing to send).
type decision struct {
	Phase   upgrade.Phase
	Message string
	Next    *request
	// StartedAt is when the operation's first update was made.
	StartedAt time.Time
}

// operationSlack is how far before the operation's recorded start an
// update may have been created and still count as the operation's: the
// hub's clock and AWS's disagree a little.
const operationSlack = time.Minute

// decide is the whole upgrade logic: given what EKS reports, the target
// and when the operation started (since; zero counts every update), what
// stands and what to send next. It is level-triggered: one update at a
// time, nothing while any update is in progress, never an update again
// after one of the operation's failed, nothing at all once the cluster is
// at the target. Full updates the control plane, then each managed node
// group in name order; ControlPlaneOnly the control plane; NodeImageOnly
// each node group's release.
func decide(s snapshot, t upgrade.Target, since time.Time) decision {
	d := decision{StartedAt: operationStart(s.Updates, since)}
	for _, u := range latestPerResource(s.Updates) {
		if u.Status == statusInProgress {
			d.Phase, d.Message = upgrade.PhaseRunning, "EKS update "+u.ID+" ("+describeUpdate(u)+") is in progress"
			return d
		}
	}
	for _, u := range latestPerResource(s.Updates) {
		if (u.Status == statusFailed || u.Status == statusCancelled) && counts(u, since) {
			d.Phase, d.Message = upgrade.PhaseFailed, failureMessage(u)
			return d
		}
	}
	switch s.Cluster.Status {
	case clusterActive:
	case clusterUpdating:
		d.Phase, d.Message = upgrade.PhaseRunning, "the cluster is UPDATING"
		return d
	default:
		d.Phase, d.Message = upgrade.PhaseFailed, "the cluster's status is "+orUnknown(s.Cluster.Status)
		return d
	}
	reqs, err := pending(s, t)
	if err != nil {
		d.Phase, d.Message = upgrade.PhaseFailed, err.Error()
		return d
	}
	if len(reqs) == 0 {
		d.Phase, d.Message = upgrade.PhaseSucceeded, atTargetMessage(s, t)
		return d
	}
	d.Phase, d.Next = upgrade.PhaseRunning, &reqs[0]
	d.Message = "updating " + reqs[0].String()
	if rest := len(reqs) - 1; rest > 0 {
		d.Message += fmt.Sprintf(", then %d more", rest)
	}
	return d
}

// pending are the updates that would bring the cluster to the target, in
// the order they are to be made; an error when the target cannot be
// reached by EKS updates at all, found before anything is sent.
func pending(s snapshot, t upgrade.Target) ([]request, error) {
	var out []request
	var minor string
	if t.Type == fleetv1.UpgradeFull || t.Type == fleetv1.UpgradeControlPlaneOnly {
		var err error
		if minor, err = eksVersion(t.KubernetesVersion); err != nil {
			return nil, err
		}
		switch cmpMinor(s.Cluster.Version, minor) {
		case 1:
			return nil, fmt.Errorf("the control plane runs %s, newer than the target %s", s.Cluster.Version, minor)
		case -1:
			out = append(out, request{Version: minor})
		}
	}
	if t.Type == fleetv1.UpgradeControlPlaneOnly {
		return out, nil
	}
	groups := slices.Clone(s.Nodegroups)
	slices.SortFunc(groups, func(a, b nodegroup) int { return strings.Compare(a.Name, b.Name) })
	for _, g := range groups {
		want, err := wantedRelease(g, t, s.Nodegroups)
		if err != nil {
			return nil, err
		}
		r := request{Nodegroup: g.Name}
		if t.Type == fleetv1.UpgradeFull && cmpMinor(g.Version, minor) != 0 {
			if g.AMIType == customAMI {
				return nil, fmt.Errorf("node group %s runs a custom AMI (amiType CUSTOM) on %s: EKS updates its version only through a new launch template version with a %s AMI, which Flotilla does not make; update it, then run again", g.Name, g.Version, minor)
			}
			r.Version = minor
		}
		if want != "" && want != g.Release {
			r.Release = want
		}
		if r.Version != "" || r.Release != "" {
			out = append(out, r)
		}
	}
	return out, nil
}

// wantedRelease is the AMI release a node group is to run: the target's
// image for its OS, when that image is a release of the group's AMI family.
// EKS lists no releases, so a release's family is known only from the
// groups that run it; a NodeImageOnly upgrade that would give a group an
// image of another family fails instead. Full upgrades of such a group
// leave the release to EKS (its latest for the version).
func wantedRelease(g nodegroup, t upgrade.Target, all []nodegroup) (string, error) {
	want := imageFor(t, amiOS(g.AMIType))
	if want == "" || want == g.Release {
		return want, nil
	}
	if g.AMIType == customAMI {
		if t.Type == fleetv1.UpgradeNodeImageOnly {
			return "", fmt.Errorf("node group %s runs a custom AMI (amiType CUSTOM): EKS cannot give it release %s", g.Name, want)
		}
		return "", nil
	}
	for _, other := range all {
		if other.Release == want && amiFamily(other.AMIType) == amiFamily(g.AMIType) {
			return want, nil
		}
	}
	if t.Type == fleetv1.UpgradeNodeImageOnly {
		return "", fmt.Errorf("node group %s (%s) cannot take release %s: no %s node group runs it, and EKS lists no releases to check it against", g.Name, g.AMIType, want, amiFamily(g.AMIType))
	}
	return "", nil
}

// imageFor is the target's node image for nodes of os.
func imageFor(t upgrade.Target, os string) string {
	for _, img := range t.NodeImages {
		if img.OS == os {
			return img.Version
		}
	}
	if len(t.NodeImages) == 0 {
		return t.NodeImage
	}
	return ""
}

// latestPerResource is each resource's (the cluster's, each node group's)
// newest version update: an older failure that a later update replaced no
// longer stands.
func latestPerResource(updates []update) []update {
	latest := map[string]update{}
	for _, u := range updates {
		if u.Type != versionUpdate {
			if u.Status == statusInProgress {
				// Another kind of update in progress (config, add-on) also
				// keeps EKS from taking a version update now.
				latest["other:"+u.ID] = u
			}
			continue
		}
		if cur, ok := latest[u.Nodegroup]; !ok || u.CreatedAt.After(cur.CreatedAt) {
			latest[u.Nodegroup] = u
		}
	}
	keys := make([]string, 0, len(latest))
	for k := range latest {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	out := make([]update, len(keys))
	for i, k := range keys {
		out[i] = latest[k]
	}
	return out
}

// counts reports whether an update belongs to the operation that started
// at since.
func counts(u update, since time.Time) bool {
	return since.IsZero() || !u.CreatedAt.Before(since.Add(-operationSlack))
}

// operationStart is when the operation's first version update was made.
func operationStart(updates []update, since time.Time) time.Time {
	var first time.Time
	for _, u := range updates {
		if u.Type == versionUpdate && !since.IsZero() && counts(u, since) && (first.IsZero() || u.CreatedAt.Before(first)) {
			first = u.CreatedAt
		}
	}
	return first
}

func describeUpdate(u update) string {
	what := "the control plane"
	if u.Nodegroup != "" {
		what = "node group " + u.Nodegroup
	}
	var to []string
	if v := u.Params["Version"]; v != "" {
		to = append(to, v)
	}
	if r := u.Params["ReleaseVersion"]; r != "" {
		to = append(to, "release "+r)
	}
	if u.Type != versionUpdate {
		return u.Type + " of " + what
	}
	if len(to) == 0 {
		return what
	}
	return what + " to " + strings.Join(to, ", ")
}

// failureMessage is a failed update as EKS reports it, its errors verbatim.
func failureMessage(u update) string {
	msg := fmt.Sprintf("EKS update %s (%s) %s", u.ID, describeUpdate(u), strings.ToLower(u.Status))
	if len(u.Errors) > 0 {
		msg += ": " + strings.Join(u.Errors, "; ")
	}
	return msg
}

func atTargetMessage(s snapshot, t upgrade.Target) string {
	switch t.Type {
	case fleetv1.UpgradeControlPlaneOnly:
		return fmt.Sprintf("EKS reports the control plane at %s (platform %s)", s.Cluster.Version, orUnknown(s.Cluster.PlatformVersion))
	case fleetv1.UpgradeNodeImageOnly:
		return fmt.Sprintf("EKS reports %d node groups on their target releases", len(s.Nodegroups))
	}
	return fmt.Sprintf("EKS reports the control plane and %d node groups at %s", len(s.Nodegroups), s.Cluster.Version)
}

// eksVersion is the EKS version a Flotilla target names: EKS versions are
// minors, so v1.37.2 and 1.37 are both EKS "1.37". EKS picks the patch.
func eksVersion(v string) (string, error) {
	p, err := rollout.ParseVersion(v)
	if err != nil {
		return "", fmt.Errorf("target version: %w", err)
	}
	return fmt.Sprintf("%d.%d", p.Major, p.Minor), nil
}

// cmpMinor compares two EKS versions by minor; an unreadable one is older.
func cmpMinor(a, b string) int {
	pa, errA := rollout.ParseVersion(a)
	pb, errB := rollout.ParseVersion(b)
	switch {
	case errA != nil && errB != nil:
		return 0
	case errA != nil:
		return -1
	case errB != nil:
		return 1
	}
	pa.HasPatch, pb.HasPatch = false, false
	return pa.Compare(pb)
}

// nextMinor is the minor after an EKS version ("1.36" → "1.37").
func nextMinor(v string) (string, bool) {
	p, err := rollout.ParseVersion(v)
	if err != nil {
		return "", false
	}
	return fmt.Sprintf("%d.%d", p.Major, p.Minor+1), true
}

// clusterVersion is one entry of DescribeClusterVersions.
type clusterVersion struct {
	Version string
	// Patch is EKS's kubernetesPatchVersion ("1.37.2"), where it says.
	Patch         string
	VersionStatus string
	Default       bool
}

// offeredVersions are the versions a cluster on current can be upgraded
// to, as Flotilla spells them: EKS moves the control plane one minor at a
// time, so the next minor, and the current one (a Full upgrade to it
// brings the node groups up to the control plane), each where the region
// offers it and still supports it. A version is its patch where EKS
// reports one (v1.37.2), else the bare minor (v1.37).
func offeredVersions(current string, catalogue []clusterVersion) []string {
	wanted := []string{current}
	if next, ok := nextMinor(current); ok {
		wanted = append(wanted, next)
	}
	var out []string
	for _, w := range wanted {
		for _, c := range catalogue {
			if cmpMinor(c.Version, w) != 0 || c.VersionStatus == "UNSUPPORTED" {
				continue
			}
			v := c.Version
			if c.Patch != "" && rollout.SameVersion(c.Patch, c.Version) {
				v = c.Patch
			}
			out = append(out, upgrade.NormalizeVersion(v))
			break
		}
	}
	return out
}

// amiOS is the operating system of a node group's nodes, as the hub
// observes it (their kubernetes.io/os label): node images are keyed by it.
func amiOS(amiType string) string {
	if strings.HasPrefix(amiType, "WINDOWS_") {
		return "windows"
	}
	return "linux"
}

// amiFamily is the image family of an AMI type: releases of one family
// do not fit another.
func amiFamily(amiType string) string {
	switch {
	case strings.HasPrefix(amiType, "AL2023_"):
		return "AL2023"
	case strings.HasPrefix(amiType, "AL2_"):
		return "AL2"
	case strings.HasPrefix(amiType, "BOTTLEROCKET_"):
		return "Bottlerocket"
	case strings.HasPrefix(amiType, "WINDOWS_"):
		return "Windows"
	}
	return amiType
}

// offeredImages are the node images EKS shows for a Kubernetes version:
// the releases that the cluster's node groups on that minor run, per OS,
// oldest first. EKS's API lists no available AMI releases (the newest is
// published outside it), so these are what the cluster itself proves
// exists.
func offeredImages(groups []nodegroup, kubernetesVersion string) []upgrade.NodeImage {
	minor, err := eksVersion(kubernetesVersion)
	if err != nil {
		return nil
	}
	var out []upgrade.NodeImage
	for _, g := range groups {
		img := upgrade.NodeImage{OS: amiOS(g.AMIType), Version: g.Release}
		if g.Release == "" || cmpMinor(g.Version, minor) != 0 || slices.Contains(out, img) {
			continue
		}
		out = append(out, img)
	}
	slices.SortFunc(out, func(a, b upgrade.NodeImage) int {
		if c := strings.Compare(a.OS, b.OS); c != 0 {
			return c
		}
		return compareRelease(a.Version, b.Version)
	})
	return out
}

// compareRelease orders AMI release versions: "1.37.2-20261115" by its
// Kubernetes version, then its build date (or, for Bottlerocket, its
// commit, which orders nothing but keeps the order stable).
func compareRelease(a, b string) int {
	av, as, _ := strings.Cut(a, "-")
	bv, bs, _ := strings.Cut(b, "-")
	pa, errA := rollout.ParseVersion(av)
	pb, errB := rollout.ParseVersion(bv)
	if errA == nil && errB == nil {
		if c := pa.Compare(pb); c != 0 {
			return c
		}
	}
	return strings.Compare(as, bs)
}

// operationSince is when an operation started, read from its id: the
// controller names an attempt "<run>_<member>-<unix seconds>[-a<attempt>]"
// (updaterun.operationID). Zero when the id says nothing.
func operationSince(id string) time.Time {
	parts := strings.Split(id, "-")
	if n := len(parts); n > 1 && strings.HasPrefix(parts[n-1], "a") {
		if _, err := strconv.Atoi(parts[n-1][1:]); err == nil {
			parts = parts[:n-1]
		}
	}
	sec, err := strconv.ParseInt(parts[len(parts)-1], 10, 64)
	if err != nil || sec <= 0 {
		return time.Time{}
	}
	return time.Unix(sec, 0)
}

func orUnknown(s string) string {
	if s == "" {
		return "unknown"
	}
	return s
}
