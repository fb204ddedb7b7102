package autoupgrade

import (
	"reflect"
	"strings"
	"testing"

	fleetv1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
)

var catalogue = []string{"v1.36.1", "v1.36.4", "v1.37.0", "v1.37.2", "v1.38.1"}

func member(name, version string, offered ...string) Member {
	return Member{Name: name, Version: version, Offered: offered}
}

func TestDecideKubernetes(t *testing.T) {
	rapid := fleetv1.AutoUpgradeProfileSpec{Channel: fleetv1.ChannelRapid}
	stable := fleetv1.AutoUpgradeProfileSpec{Channel: fleetv1.ChannelStable}
	target := func(minor string) fleetv1.AutoUpgradeProfileSpec {
		return fleetv1.AutoUpgradeProfileSpec{Channel: fleetv1.ChannelTargetKubernetesVersion, TargetKubernetesVersion: minor}
	}
	tests := []struct {
		name    string
		spec    fleetv1.AutoUpgradeProfileSpec
		members []Member
		forced  bool
		// want: the run's target, or "" for none.
		want      string
		status    fleetv1.TriggerStatus
		skip      []string
		reasonHas string
		noteHas   string
	}{
		{name: "target minor: newest patch of it", spec: target("1.37"),
			members: []Member{member("a", "v1.36.4", catalogue...), member("b", "v1.36.1", catalogue...)},
			want:    "v1.37.2", status: fleetv1.TriggerSucceeded},
		{name: "target minor written with v", spec: target("v1.37"),
			members: []Member{member("a", "v1.36.4", catalogue...)},
			want:    "v1.37.2", status: fleetv1.TriggerSucceeded},
		{name: "target never past the named minor", spec: target("1.36"),
			members: []Member{member("a", "v1.36.1", catalogue...)},
			want:    "v1.36.4", status: fleetv1.TriggerSucceeded},
		{name: "target: members past it are skipped, never downgraded", spec: target("1.37"),
			members: []Member{member("a", "v1.36.4", catalogue...), member("c", "v1.38.1", catalogue...)},
			want:    "v1.37.2", status: fleetv1.TriggerSucceeded, skip: []string{"c"}, noteHas: "never a downgrade"},
		{name: "target: every member past it", spec: target("1.37"),
			members: []Member{member("c", "v1.38.1", catalogue...)},
			status:  fleetv1.TriggerSkipped, reasonHas: "up to date"},
		{name: "target: already at newest patch", spec: target("1.37"),
			members: []Member{member("a", "v1.37.2", catalogue...)},
			status:  fleetv1.TriggerSkipped, reasonHas: "at or past 1.37.2"},
		{name: "target: patch upgrade within the minor", spec: target("1.37"),
			members: []Member{member("a", "v1.37.0", catalogue...)},
			want:    "v1.37.2", status: fleetv1.TriggerSucceeded},
		{name: "target: minor nobody offers", spec: target("1.39"),
			members: []Member{member("a", "v1.38.1", catalogue...)},
			status:  fleetv1.TriggerSkipped, reasonHas: "no provider offers 1.39"},
		{name: "rapid: newest patch of newest minor", spec: rapid,
			members: []Member{member("a", "v1.37.2", catalogue...)},
			want:    "v1.38.1", status: fleetv1.TriggerSucceeded},
		{name: "stable: newest patch of N-1", spec: stable,
			members: []Member{member("a", "v1.36.4", catalogue...)},
			want:    "v1.37.2", status: fleetv1.TriggerSucceeded},
		{name: "stable: N-1 not offered", spec: stable,
			members: []Member{member("a", "v1.36.4", "v1.36.4", "v1.38.1")},
			status:  fleetv1.TriggerSkipped, reasonHas: "offer no 1.37"},
		{name: "stable: a member on N is left alone", spec: stable,
			members: []Member{member("a", "v1.36.4", catalogue...), member("n", "v1.38.1", catalogue...)},
			want:    "v1.37.2", status: fleetv1.TriggerSucceeded, skip: []string{"n"}},
		{name: "no minor skip: two minors behind gets the next minor first", spec: rapid,
			members: []Member{member("a", "v1.36.4", catalogue...), member("b", "v1.37.2", catalogue...)},
			want:    "v1.37.2", status: fleetv1.TriggerSucceeded, noteHas: "a on 1.36, more than one minor behind 1.38: this run moves them to 1.37 first"},
		{name: "no minor skip: the intermediate minor is not offered", spec: rapid,
			members: []Member{member("a", "v1.36.4", "v1.36.4", "v1.38.1")},
			status:  fleetv1.TriggerFailed, reasonHas: "no provider offers 1.37, which the members on 1.36 need before 1.38"},
		{name: "providers differ: newest patch every mover is offered", spec: target("1.37"),
			members: []Member{member("a", "v1.36.4", "v1.37.0", "v1.37.2"), member("b", "v1.36.4", "v1.37.0")},
			want:    "v1.37.0", status: fleetv1.TriggerSucceeded, noteHas: "1.37.2 is not offered to b"},
		{name: "providers differ, nothing in common", spec: target("1.37"),
			members: []Member{member("a", "v1.36.4", "v1.37.2"), member("b", "v1.36.4", "v1.37.0")},
			status:  fleetv1.TriggerFailed, reasonHas: "offered to all of them"},
		{name: "a member already at the newer patch does not need to be offered it", spec: target("1.37"),
			members: []Member{member("a", "v1.36.4", "v1.37.2"), member("b", "v1.37.2", "v1.37.3")},
			want:    "v1.37.2", status: fleetv1.TriggerSucceeded},
		{name: "up to date with what each member is offered", spec: target("1.37"),
			members: []Member{member("a", "v1.37.2", "v1.37.2", "v1.37.3"), member("b", "v1.37.2", "v1.37.2")},
			status:  fleetv1.TriggerSkipped, reasonHas: "1.37.3 is not offered to b"},
		{name: "a provider that lists nothing takes any version", spec: target("1.37"),
			members: []Member{member("a", "v1.36.4", catalogue...), {Name: "any", Version: "v1.36.1"}},
			want:    "v1.37.2", status: fleetv1.TriggerSucceeded},
		{name: "no provider lists versions", spec: rapid,
			members: []Member{{Name: "a", Version: "v1.36.1"}},
			status:  fleetv1.TriggerFailed, reasonHas: "nothing to choose from"},
		{name: "provider error fails the trigger", spec: rapid,
			members: []Member{member("a", "v1.36.4", catalogue...), {Name: "b", Version: "v1.36.4", OfferError: "cloud said no"}},
			status:  fleetv1.TriggerFailed, reasonHas: "member b's provider offers: cloud said no"},
		{name: "unobserved member is skipped", spec: target("1.37"),
			members: []Member{member("a", "v1.36.4", catalogue...), member("new", "", catalogue...)},
			want:    "v1.37.2", status: fleetv1.TriggerSucceeded, skip: []string{"new"}, noteHas: "not been observed"},
		{name: "a member without a provider is skipped", spec: target("1.37"),
			members: []Member{member("a", "v1.36.4", catalogue...), {Name: "plain", Excluded: "it has no upgrade provider"}},
			want:    "v1.37.2", status: fleetv1.TriggerSucceeded, skip: []string{"plain"}, noteHas: "plain: skipped, it has no upgrade provider"},
		{name: "only members without a provider", spec: target("1.37"),
			members: []Member{{Name: "plain", Excluded: "it has no upgrade provider"}},
			status:  fleetv1.TriggerSkipped, reasonHas: "no member to upgrade"},
		{name: "no member observed", spec: target("1.37"),
			members: []Member{member("new", "", catalogue...)},
			status:  fleetv1.TriggerSkipped, reasonHas: "no member's version"},
		{name: "versions with suffixes", spec: target("1.37"),
			members: []Member{member("a", "v1.36.4-eks-1a2b", "1.37.2-eks-1", "1.37.1-eks-1")},
			want:    "v1.37.2", status: fleetv1.TriggerSucceeded},
		{name: "major change refused", spec: target("2.0"),
			members: []Member{member("a", "v1.36.4", "v2.0.1")},
			status:  fleetv1.TriggerFailed, reasonHas: "major version change"},
		{name: "disabled", spec: fleetv1.AutoUpgradeProfileSpec{Channel: fleetv1.ChannelRapid, Disabled: true},
			members: []Member{member("a", "v1.37.2", catalogue...)},
			status:  fleetv1.TriggerSkipped, reasonHas: "disabled"},
		{name: "disabled but forced", spec: fleetv1.AutoUpgradeProfileSpec{Channel: fleetv1.ChannelRapid, Disabled: true}, forced: true,
			members: []Member{member("a", "v1.37.2", catalogue...)},
			want:    "v1.38.1", status: fleetv1.TriggerSucceeded},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := Decide(Input{Profile: "p", Spec: tt.spec, Members: tt.members, Forced: tt.forced})
			if d.Status != tt.status {
				t.Fatalf("status = %s (%s), want %s", d.Status, d.Reason, tt.status)
			}
			if d.Generate != (tt.want != "") {
				t.Fatalf("generate = %v, want a run to %q (%s)", d.Generate, tt.want, d.Reason)
			}
			if tt.want != "" {
				if d.Upgrade.KubernetesVersion != tt.want || d.Upgrade.Type != fleetv1.UpgradeFull {
					t.Errorf("upgrade = %+v, want Full to %s", d.Upgrade, tt.want)
				}
				if wantName := "p-" + strings.ReplaceAll(strings.TrimPrefix(tt.want, "v"), ".", "-"); d.RunName != wantName {
					t.Errorf("run name = %s, want %s", d.RunName, wantName)
				}
				if !reflect.DeepEqual(d.Versions, []string{tt.want}) {
					t.Errorf("versions = %v", d.Versions)
				}
			}
			if !reflect.DeepEqual(d.Skip, tt.skip) {
				t.Errorf("skip = %v, want %v", d.Skip, tt.skip)
			}
			if !strings.Contains(d.Reason, tt.reasonHas) {
				t.Errorf("reason %q does not say %q", d.Reason, tt.reasonHas)
			}
			if tt.noteHas != "" && !strings.Contains(strings.Join(d.Notes, "\n"), tt.noteHas) {
				t.Errorf("notes %q do not say %q", d.Notes, tt.noteHas)
			}
		})
	}
}

func TestDecideOneRunPerTarget(t *testing.T) {
	in := Input{Profile: "p", Spec: fleetv1.AutoUpgradeProfileSpec{Channel: fleetv1.ChannelTargetKubernetesVersion, TargetKubernetesVersion: "1.37"},
		Members: []Member{member("a", "v1.36.4", catalogue...)}}
	first := Decide(in)
	if !first.Generate || first.RunName != "p-1-37-2" {
		t.Fatalf("first = %+v", first)
	}
	in.RunExists = func(name string) bool { return name == "p-1-37-2" }
	again := Decide(in)
	if again.Generate || again.Status != fleetv1.TriggerSkipped || !strings.Contains(again.Reason, "exists already") {
		t.Fatalf("second decision = %+v, want Skipped because the run exists", again)
	}
	in.RunExists = func(string) bool { return false }
	in.Unfinished = "p-1-37-0"
	waiting := Decide(in)
	if waiting.Generate || waiting.Status != fleetv1.TriggerSkipped || waiting.Waiting != "p-1-37-0" || !strings.Contains(waiting.Reason, "p-1-37-0") {
		t.Fatalf("decision beside an unfinished run = %+v", waiting)
	}
}

func TestDecideNodeImage(t *testing.T) {
	spec := fleetv1.AutoUpgradeProfileSpec{Channel: fleetv1.ChannelNodeImage}
	tests := []struct {
		name      string
		members   []Member
		want      []string
		status    fleetv1.TriggerStatus
		reasonHas string
	}{
		{name: "a member behind", status: fleetv1.TriggerSucceeded, want: []string{"img-2"},
			members: []Member{{Name: "a", NodeImages: []string{"img-1"}, NewestImages: []string{"img-2"}}, {Name: "b", NodeImages: []string{"img-2"}, NewestImages: []string{"img-2"}}}},
		{name: "two OSes, two images", status: fleetv1.TriggerSucceeded, want: []string{"lin-2", "win-2"},
			members: []Member{{Name: "a", NodeImages: []string{"lin-1", "win-2"}, NewestImages: []string{"lin-2", "win-2"}}}},
		{name: "up to date", status: fleetv1.TriggerSkipped, reasonHas: "up to date",
			members: []Member{{Name: "a", NodeImages: []string{"img-2"}, NewestImages: []string{"img-2"}}}},
		{name: "provider offers no images", status: fleetv1.TriggerSkipped, reasonHas: "offers no node images",
			members: []Member{{Name: "a", NodeImages: []string{"img-1"}}}},
		{name: "images not observed", status: fleetv1.TriggerSkipped, reasonHas: "not been observed",
			members: []Member{{Name: "a", NewestImages: []string{"img-2"}}}},
		{name: "provider error", status: fleetv1.TriggerFailed, reasonHas: "boom",
			members: []Member{{Name: "a", OfferError: "boom"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := Decide(Input{Profile: "p", Spec: spec, Members: tt.members})
			if d.Status != tt.status || d.Generate != (tt.want != nil) {
				t.Fatalf("decision = %+v", d)
			}
			if !reflect.DeepEqual(d.Versions, tt.want) {
				t.Errorf("versions = %v, want %v", d.Versions, tt.want)
			}
			if tt.want != nil && (d.Upgrade.Type != fleetv1.UpgradeNodeImageOnly || d.Upgrade.KubernetesVersion != "" || !strings.HasPrefix(d.RunName, "p-nodeimage-")) {
				t.Errorf("run = %s %+v", d.RunName, d.Upgrade)
			}
			if !strings.Contains(d.Reason, tt.reasonHas) {
				t.Errorf("reason %q does not say %q", d.Reason, tt.reasonHas)
			}
		})
	}
	// The same images give the same run name; new images another.
	a := Decide(Input{Profile: "p", Spec: spec, Members: []Member{{Name: "a", NodeImages: []string{"i1"}, NewestImages: []string{"i2"}}}})
	b := Decide(Input{Profile: "p", Spec: spec, Members: []Member{{Name: "b", NodeImages: []string{"i0"}, NewestImages: []string{"i2"}}}})
	c := Decide(Input{Profile: "p", Spec: spec, Members: []Member{{Name: "a", NodeImages: []string{"i2"}, NewestImages: []string{"i3"}}}})
	if a.RunName != b.RunName || a.RunName == c.RunName {
		t.Errorf("run names %s %s %s: the same target must give the same name, another target another", a.RunName, b.RunName, c.RunName)
	}
}

func TestRunName(t *testing.T) {
	for _, tt := range []struct{ profile, target, want string }{
		{"nightly", "1-37-2", "nightly-1-37-2"},
		{"Prod.Fleet", "1-37-2", "prod-fleet-1-37-2"},
	} {
		if got := RunName(tt.profile, tt.target); got != tt.want {
			t.Errorf("RunName(%s, %s) = %s, want %s", tt.profile, tt.target, got, tt.want)
		}
	}
	long := RunName(strings.Repeat("a", 70), "1-37-2")
	if len(long) > 63 || long != RunName(strings.Repeat("a", 70), "1-37-2") || long == RunName(strings.Repeat("a", 70), "1-37-3") {
		t.Errorf("long name %q: must be at most 63 characters, stable, and differ per target", long)
	}
}

func TestRun(t *testing.T) {
	p := &fleetv1.AutoUpgradeProfile{Spec: fleetv1.AutoUpgradeProfileSpec{Channel: fleetv1.ChannelRapid,
		NodeImageSelection: &fleetv1.NodeImageSelection{Type: fleetv1.NodeImageConsistent}}}
	p.Name, p.UID = "p", "uid-1"
	d := Decision{Generate: true, RunName: "p-1-38-1", Upgrade: fleetv1.UpgradeSpec{Type: fleetv1.UpgradeFull, KubernetesVersion: "v1.38.1"}, Skip: []string{"c"}}
	run := Run(p, d)
	if run.Name != "p-1-38-1" || run.Labels[fleetv1.AutoUpgradeProfileLabel] != "p" || run.OwnerReferences[0].UID != "uid-1" || run.OwnerReferences[0].Kind != "AutoUpgradeProfile" {
		t.Errorf("metadata = %+v", run.ObjectMeta)
	}
	if run.Spec.State != fleetv1.RunNotStarted || run.Spec.Strategy == nil || run.Spec.UpdateStrategyName != "" {
		t.Errorf("spec = %+v: a run without autoStart waits NotStarted, with the one-stage strategy", run.Spec)
	}
	if run.Spec.ManagedClusterUpdate.NodeImageSelection.Type != fleetv1.NodeImageConsistent || run.Spec.ManagedClusterUpdate.Upgrade != d.Upgrade {
		t.Errorf("managedClusterUpdate = %+v", run.Spec.ManagedClusterUpdate)
	}
	if !reflect.DeepEqual(run.Spec.Skip, []fleetv1.SkipTarget{{Type: fleetv1.SkipMember, Name: "c"}}) {
		t.Errorf("skip = %+v", run.Spec.Skip)
	}
	p.Spec.AutoStart, p.Spec.UpdateStrategyName = true, "s"
	run = Run(p, d)
	if run.Spec.State != fleetv1.RunStarted || run.Spec.Strategy != nil || run.Spec.UpdateStrategyName != "s" {
		t.Errorf("spec = %+v: autoStart starts the run, with the named strategy", run.Spec)
	}
}
