package upgrade

import (
	"strings"
	"testing"

	fleetv1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
)

// execMember is a member upgraded by an operator's command that offers the
// given versions.
func execMember(version string, available ...string) *fleetv1.MemberCluster {
	m := &fleetv1.MemberCluster{}
	m.Name = "m1"
	m.Spec.Provider = &fleetv1.ProviderSpec{Type: fleetv1.ProviderExec, Exec: &fleetv1.ExecProvider{
		Command: []string{"true"}, AvailableVersions: available,
	}}
	m.Status.KubernetesVersion = version
	return m
}

func TestADowngradeIsRefusedAsADowngrade(t *testing.T) {
	m := execMember("v1.36.3", "v1.36.3", "v1.37.2")
	_, obs := Assess(t.Context(), NewProviders("", execOnly), Request{Upgrade: fleetv1.UpgradeSpec{Type: fleetv1.UpgradeFull, KubernetesVersion: "1.35"}}, m)
	if !strings.Contains(obs.Blocked, "downgrade") {
		t.Fatalf("Blocked = %q, want it to name the downgrade", obs.Blocked)
	}
}

func TestAVersionTheProviderDoesNotOfferIsRefusedAsSuch(t *testing.T) {
	m := execMember("v1.36.3", "v1.36.3", "v1.37.2")
	_, obs := Assess(t.Context(), NewProviders("", execOnly), Request{Upgrade: fleetv1.UpgradeSpec{Type: fleetv1.UpgradeFull, KubernetesVersion: "1.37.9"}}, m)
	if !strings.Contains(obs.Blocked, "cannot reach") {
		t.Fatalf("Blocked = %q, want the provider's reason", obs.Blocked)
	}
}

func TestAMemberAtTheTargetMinorIsAtTarget(t *testing.T) {
	m := execMember("v1.37.2", "v1.37.2")
	_, obs := Assess(t.Context(), NewProviders("", execOnly), Request{Upgrade: fleetv1.UpgradeSpec{Type: fleetv1.UpgradeControlPlaneOnly, KubernetesVersion: "1.37"}}, m)
	if obs.Blocked != "" || !obs.AtTarget {
		t.Fatalf("obs = %+v, want at target and not blocked", obs)
	}
}

func TestNodeImageOnlyWithoutATargetImageFailsInsteadOfSkipping(t *testing.T) {
	m := execMember("v1.36.3")
	_, obs := Assess(t.Context(), NewProviders("", execOnly), Request{Upgrade: fleetv1.UpgradeSpec{Type: fleetv1.UpgradeNodeImageOnly}}, m)
	if obs.AtTarget || !strings.Contains(obs.Blocked, "node image") {
		t.Fatalf("obs = %+v, want blocked with a node-image reason, not at target", obs)
	}
}
