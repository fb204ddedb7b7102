// Package autoupgrade decides the update run an AutoUpgradeProfile
// generates: from the profile's channel, the versions the members run (as
// the hub last observed them) and what their providers offer, which target
// is due, which members it moves and which it leaves alone, or why no run
// is due. Decide and Run do no I/O; Gather reads their input from the hub
// and the providers for the controller and the CLI alike.
package autoupgrade

import (
	"fmt"
	"hash/fnv"
	"slices"
	"sort"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	fleetv1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/internal/rollout"
	"github.com/flotilla-dev/flotilla/internal/runinput"
)

// Member is what the decision knows of one member the run would cover.
type Member struct {
	Name string
	// Excluded, when set, is why the run leaves the member alone (it has
	// no upgrade provider): it is skipped and plays no part in the choice.
	Excluded string
	// Version is the member's control-plane version as the hub last
	// observed it; empty when it was never observed.
	Version string
	// Offered are the Kubernetes versions the member's provider offers it;
	// nil when the provider lists none (it takes any version).
	Offered []string
	// OfferError is why the provider could not be asked, if it could not.
	OfferError string
	// NodeImages are the node images the member's nodes run now.
	NodeImages []string
	// NewestImages are the newest node images its provider offers for its
	// current version, one per OS of its nodes (NodeImage channel only).
	NewestImages []string
}

// Input is everything the decision needs.
type Input struct {
	Profile string
	Spec    fleetv1.AutoUpgradeProfileSpec
	Members []Member
	// Forced is an operator's `generate-update-run`: a disabled profile
	// still generates.
	Forced bool
	// RunExists reports whether an UpdateRun of that name exists.
	RunExists func(name string) bool
	// Unfinished names a run this profile generated that has not finished
	// (NotStarted, Running, Stopping): no second one is generated beside it.
	Unfinished string
}

// Decision is the run to generate, or why there is none.
type Decision struct {
	// Generate is true when a run is due: RunName, Upgrade, Versions and
	// Skip describe it.
	Generate bool
	RunName  string
	Upgrade  fleetv1.UpgradeSpec
	// Versions are the run's target: the Kubernetes version, or the node
	// images of a NodeImage run.
	Versions []string
	// Skip are the members the run leaves alone (past the target: never a
	// downgrade; never observed), sorted.
	Skip []string
	// Status is Succeeded when a run is due, else Skipped (nothing to do)
	// or Failed (a run may be due but cannot be decided safely).
	Status fleetv1.TriggerStatus
	// Reason says why there is no run, or sums up the run.
	Reason string
	// Waiting names the profile's unfinished run that holds back the run
	// that is due.
	Waiting string
	// Notes are what the plan says besides: members held back a minor,
	// members skipped and why.
	Notes []string
}

func skipped(format string, a ...any) Decision {
	return Decision{Status: fleetv1.TriggerSkipped, Reason: fmt.Sprintf(format, a...)}
}

func failed(format string, a ...any) Decision {
	return Decision{Status: fleetv1.TriggerFailed, Reason: fmt.Sprintf(format, a...)}
}

// Decide is the run the profile generates now, or why none.
func Decide(in Input) Decision {
	if in.Spec.Disabled && !in.Forced {
		return skipped("the profile is disabled")
	}
	var excluded, notes []string
	considered := make([]Member, 0, len(in.Members))
	for _, m := range in.Members {
		if m.Excluded != "" {
			excluded = append(excluded, m.Name)
			notes = append(notes, fmt.Sprintf("%s: skipped, %s", m.Name, m.Excluded))
			continue
		}
		considered = append(considered, m)
	}
	if len(considered) == 0 {
		return skipped("no member to upgrade (%d left out)", len(excluded))
	}
	in.Members = considered
	var d Decision
	if in.Spec.Channel == fleetv1.ChannelNodeImage {
		d = decideNodeImage(in)
	} else {
		d = decideKubernetes(in)
	}
	if !d.Generate {
		return d
	}
	d.Skip = append(d.Skip, excluded...)
	sort.Strings(d.Skip)
	d.Notes = append(notes, d.Notes...)
	if in.RunExists != nil && in.RunExists(d.RunName) {
		return Decision{Status: fleetv1.TriggerSkipped, RunName: d.RunName, Versions: d.Versions, Notes: d.Notes,
			Reason: fmt.Sprintf("update run %s for %s exists already: a profile generates one run per target", d.RunName, strings.Join(d.Versions, ", "))}
	}
	if in.Unfinished != "" {
		return Decision{Status: fleetv1.TriggerSkipped, Versions: d.Versions, Waiting: in.Unfinished,
			Reason: fmt.Sprintf("update run %s, generated earlier, has not finished: the run for %s waits until it has", in.Unfinished, strings.Join(d.Versions, ", "))}
	}
	d.Status = fleetv1.TriggerSucceeded
	return d
}

// observed is a member whose version parses.
type observed struct {
	Member
	v rollout.Version
}

func decideKubernetes(in Input) Decision {
	for _, m := range in.Members {
		if m.OfferError != "" {
			return failed("cannot read the versions member %s's provider offers: %s", m.Name, m.OfferError)
		}
	}
	catalogue := offeredVersions(in.Members)
	if len(catalogue) == 0 {
		return failed("no member's provider lists the versions it offers (spec.provider ... availableVersions): channel %s has nothing to choose from", in.Spec.Channel)
	}
	newest := catalogue[len(catalogue)-1]
	var want rollout.Version // the minor the channel asks for
	switch in.Spec.Channel {
	case fleetv1.ChannelRapid:
		want = rollout.Version{Major: newest.Major, Minor: newest.Minor}
	case fleetv1.ChannelStable:
		want = rollout.Version{Major: newest.Major, Minor: newest.Minor - 1}
		if len(patchesOf(catalogue, want)) == 0 {
			return skipped("channel Stable is the minor before the newest offered (%d.%d): the providers offer no %s", newest.Major, newest.Minor, want)
		}
	case fleetv1.ChannelTargetKubernetesVersion:
		v, err := rollout.ParseVersion(in.Spec.TargetKubernetesVersion)
		if err != nil {
			return failed("targetKubernetesVersion: %v", err)
		}
		want = rollout.Version{Major: v.Major, Minor: v.Minor}
	default:
		return failed("unknown channel %q", in.Spec.Channel)
	}

	var members []observed
	var d Decision
	for _, m := range in.Members {
		v, err := rollout.ParseVersion(m.Version)
		if m.Version == "" || err != nil || !v.HasPatch {
			d.Skip = append(d.Skip, m.Name)
			d.Notes = append(d.Notes, fmt.Sprintf("%s: skipped, its version has not been observed yet", m.Name))
			continue
		}
		members = append(members, observed{Member: m, v: v})
	}
	if len(members) == 0 {
		return skipped("no member's version has been observed yet")
	}
	lowest := members[0].v
	for _, m := range members[1:] {
		if m.v.Compare(lowest) < 0 {
			lowest = m.v
		}
	}
	if lowest.Major != want.Major {
		return failed("the members run %d.x and channel %s asks for %s: a major version change is not supported", lowest.Major, in.Spec.Channel, want)
	}
	minor := want
	if want.Minor > lowest.Minor+1 {
		// Never a minor skip: the fleet moves one minor at a time.
		minor = rollout.Version{Major: lowest.Major, Minor: lowest.Minor + 1}
		var behind []string
		for _, m := range members {
			if m.v.Minor < minor.Minor {
				behind = append(behind, m.Name)
			}
		}
		d.Notes = append(d.Notes, fmt.Sprintf("%s on %d.%d, more than one minor behind %s: this run moves them to %s first (Kubernetes upgrades one minor at a time); a later run takes the fleet on to %s",
			strings.Join(behind, ", "), lowest.Major, lowest.Minor, want, minor, want))
	}
	candidates := patchesOf(catalogue, minor)
	if len(candidates) == 0 {
		if minor != want {
			return failed("no provider offers %s, which the members on %d.%d need before %s (no minor skip)", minor, lowest.Major, lowest.Minor, want)
		}
		return skipped("no provider offers %s", minor)
	}
	var notOffered []string
	for i := len(candidates) - 1; i >= 0; i-- {
		p := candidates[i]
		var moving []observed
		for _, m := range members {
			if m.v.Compare(p) < 0 {
				moving = append(moving, m)
			}
		}
		if len(moving) == 0 {
			msg := fmt.Sprintf("up to date: every member is at or past %s", p)
			if len(notOffered) > 0 {
				msg += " (" + strings.Join(notOffered, "; ") + ")"
			}
			return skipped("%s", msg)
		}
		var missing []string
		for _, m := range moving {
			if m.Offered != nil && !offers(m.Offered, p) {
				missing = append(missing, m.Name)
			}
		}
		if len(missing) > 0 {
			notOffered = append(notOffered, fmt.Sprintf("%s is not offered to %s", p, strings.Join(missing, ", ")))
			continue
		}
		for _, m := range members {
			if m.v.Compare(p) > 0 {
				d.Skip = append(d.Skip, m.Name)
				d.Notes = append(d.Notes, fmt.Sprintf("%s: skipped, it runs %s, past %s (never a downgrade)", m.Name, m.Version, p))
			}
		}
		if len(notOffered) > 0 {
			d.Notes = append(d.Notes, "the newest patch every member is offered: "+strings.Join(notOffered, "; "))
		}
		target := "v" + p.String()
		sort.Strings(d.Skip)
		d.Generate = true
		d.RunName = RunName(in.Profile, strings.ReplaceAll(p.String(), ".", "-"))
		d.Upgrade = fleetv1.UpgradeSpec{Type: fleetv1.UpgradeFull, KubernetesVersion: target}
		d.Versions = []string{target}
		d.Reason = fmt.Sprintf("channel %s: %d member(s) to %s", in.Spec.Channel, len(moving), target)
		return d
	}
	return failed("no %s patch newer than the members' is offered to all of them: %s", minor, strings.Join(notOffered, "; "))
}

func decideNodeImage(in Input) Decision {
	var d Decision
	var behind int
	targets := map[string]bool{}
	for _, m := range in.Members {
		switch {
		case m.OfferError != "":
			return failed("cannot read the node images member %s's provider offers: %s", m.Name, m.OfferError)
		case len(m.NewestImages) == 0:
			d.Notes = append(d.Notes, fmt.Sprintf("%s: its provider offers no node images", m.Name))
			continue
		case len(m.NodeImages) == 0:
			d.Notes = append(d.Notes, fmt.Sprintf("%s: its node images have not been observed yet", m.Name))
			continue
		}
		current := true
		for _, img := range m.NodeImages {
			if !slices.Contains(m.NewestImages, img) {
				current = false
			}
		}
		if current {
			continue
		}
		behind++
		for _, img := range m.NewestImages {
			targets[img] = true
		}
	}
	if behind == 0 {
		msg := "up to date: every member runs the newest node images its provider offers"
		if len(d.Notes) > 0 {
			msg += " (" + strings.Join(d.Notes, "; ") + ")"
		}
		return skipped("%s", msg)
	}
	versions := make([]string, 0, len(targets))
	for img := range targets {
		versions = append(versions, img)
	}
	sort.Strings(versions)
	h := fnv.New32a()
	h.Write([]byte(strings.Join(versions, "\n")))
	d.Generate = true
	d.RunName = RunName(in.Profile, fmt.Sprintf("nodeimage-%08x", h.Sum32()))
	d.Upgrade = fleetv1.UpgradeSpec{Type: fleetv1.UpgradeNodeImageOnly}
	d.Versions = versions
	d.Reason = fmt.Sprintf("channel NodeImage: %d member(s) to %s", behind, strings.Join(versions, ", "))
	return d
}

// RunName names the run a profile generates for a target, e.g.
// nightly-1-37-2: the same target always gets the same name, so a profile
// never generates two runs for it. Names stay DNS labels of at most 63
// characters (the run's name is a label value on its gates).
func RunName(profile, target string) string {
	name := strings.Trim(sanitize(profile+"-"+target), "-")
	if len(name) <= 63 {
		return name
	}
	h := fnv.New32a()
	h.Write([]byte(name))
	suffix := fmt.Sprintf("-%08x", h.Sum32())
	return strings.TrimRight(name[:63-len(suffix)], "-") + suffix
}

func sanitize(s string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(s) {
		if (r >= 'a' && r <= 'z') || (r >= '0' && r <= '9') || r == '-' {
			b.WriteRune(r)
		} else {
			b.WriteByte('-')
		}
	}
	return b.String()
}

// offeredVersions is the union of the full versions the members' providers
// offer, oldest first.
func offeredVersions(members []Member) []rollout.Version {
	seen := map[rollout.Version]bool{}
	var out []rollout.Version
	for _, m := range members {
		for _, s := range m.Offered {
			v, err := rollout.ParseVersion(s)
			if err != nil || !v.HasPatch || seen[v] {
				continue
			}
			seen[v] = true
			out = append(out, v)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Compare(out[j]) < 0 })
	return out
}

// patchesOf are the catalogue's versions of one minor, oldest first.
func patchesOf(catalogue []rollout.Version, minor rollout.Version) []rollout.Version {
	var out []rollout.Version
	for _, v := range catalogue {
		if v.Major == minor.Major && v.Minor == minor.Minor {
			out = append(out, v)
		}
	}
	return out
}

func offers(offered []string, v rollout.Version) bool {
	for _, s := range offered {
		if o, err := rollout.ParseVersion(s); err == nil && o.HasPatch && o.Compare(v) == 0 {
			return true
		}
	}
	return false
}

// Run is the UpdateRun a profile generates for a decision that is due:
// named after the target, labelled with and owned by the profile, following
// the profile's strategy (none: one stage with every member), Started when
// the profile auto-starts its runs, else NotStarted for an operator.
func Run(p *fleetv1.AutoUpgradeProfile, d Decision) *fleetv1.UpdateRun {
	run := &fleetv1.UpdateRun{
		ObjectMeta: metav1.ObjectMeta{
			Name:   d.RunName,
			Labels: map[string]string{fleetv1.AutoUpgradeProfileLabel: p.Name},
			OwnerReferences: []metav1.OwnerReference{{
				APIVersion: fleetv1.GroupVersion.String(), Kind: "AutoUpgradeProfile",
				Name: p.Name, UID: p.UID,
			}},
		},
		Spec: fleetv1.UpdateRunSpec{
			UpdateStrategyName:   p.Spec.UpdateStrategyName,
			ManagedClusterUpdate: fleetv1.ManagedClusterUpdate{Upgrade: d.Upgrade},
			State:                fleetv1.RunNotStarted,
		},
	}
	if p.Spec.UpdateStrategyName == "" {
		run.Spec.Strategy = runinput.DefaultStrategy()
	}
	if sel := p.Spec.NodeImageSelection; sel != nil && sel.Type != "" {
		run.Spec.ManagedClusterUpdate.NodeImageSelection = &fleetv1.NodeImageSelection{Type: sel.Type}
	}
	if p.Spec.AutoStart {
		run.Spec.State = fleetv1.RunStarted
	}
	for _, m := range d.Skip {
		if len(run.Spec.Skip) == maxSkip {
			break
		}
		run.Spec.Skip = append(run.Spec.Skip, fleetv1.SkipTarget{Type: fleetv1.SkipMember, Name: m})
	}
	return run
}

// maxSkip is the API's bound on an UpdateRun's spec.skip.
const maxSkip = 100
