package upgrade

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	fleetv1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
)

var execOnly = map[fleetv1.ProviderType]Factory{fleetv1.ProviderExec: Exec}

func TestProvidersRefuseAnUnknownTypeNamingTheRegisteredOnes(t *testing.T) {
	providers := NewProviders(t.TempDir(), map[fleetv1.ProviderType]Factory{
		fleetv1.ProviderLocal: Exec,
		fleetv1.ProviderExec:  Exec,
	})
	_, err := providers.For(&fleetv1.ProviderSpec{Type: "Moon"})
	if err == nil {
		t.Fatal("a provider type nobody registered was accepted")
	}
	for _, want := range []string{`"Moon"`, "Exec, Local"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not name %s", err, want)
		}
	}
}

func TestProvidersWithNothingRegisteredSaySo(t *testing.T) {
	_, err := NewProviders("", nil).For(&fleetv1.ProviderSpec{Type: fleetv1.ProviderExec})
	if err == nil || !strings.Contains(err.Error(), "knows none") {
		t.Fatalf("err = %v, want one saying no provider is registered", err)
	}
}

func TestProvidersRefuseAMemberWithoutProvider(t *testing.T) {
	if _, err := NewProviders("", execOnly).For(nil); err == nil {
		t.Fatal("a member without spec.provider got a provider")
	}
}

type stubProvider struct{ Provider }

func TestProvidersUseTheRegisteredFactory(t *testing.T) {
	stateDir := t.TempDir()
	stub := &stubProvider{}
	var gotSpec *fleetv1.ProviderSpec
	var gotOps Operations
	providers := NewProviders(stateDir, map[fleetv1.ProviderType]Factory{
		fleetv1.ProviderExec: Exec,
		"Moon": func(spec *fleetv1.ProviderSpec, env FactoryEnv) (Provider, error) {
			gotSpec, gotOps = spec, env.Operations
			return stub, nil
		},
	})
	spec := &fleetv1.ProviderSpec{Type: "Moon"}
	p, err := providers.For(spec)
	if err != nil {
		t.Fatal(err)
	}
	if p != stub || gotSpec != spec {
		t.Fatalf("For returned %v for spec %v, want the factory's provider for %v", p, gotSpec, spec)
	}
	if want := filepath.Join(stateDir, "operations"); gotOps.Dir != want {
		t.Errorf("operations dir = %q, want %q", gotOps.Dir, want)
	}
}

func TestProvidersAreNotChangedByTheirSourceMap(t *testing.T) {
	factories := map[fleetv1.ProviderType]Factory{fleetv1.ProviderExec: Exec}
	providers := NewProviders("", factories)
	delete(factories, fleetv1.ProviderExec)
	if got := providers.Types(); len(got) != 1 || got[0] != fleetv1.ProviderExec {
		t.Fatalf("types = %v, want [Exec]", got)
	}
}

func TestExecNeedsItsSettings(t *testing.T) {
	_, err := NewProviders("", execOnly).For(&fleetv1.ProviderSpec{Type: fleetv1.ProviderExec})
	if err == nil || !strings.Contains(err.Error(), "spec.provider.exec") {
		t.Fatalf("err = %v, want one naming spec.provider.exec", err)
	}
}

func TestAssessBlocksAMemberOfAnUnregisteredType(t *testing.T) {
	m := &fleetv1.MemberCluster{Spec: fleetv1.MemberClusterSpec{Provider: &fleetv1.ProviderSpec{Type: fleetv1.ProviderLocal}}}
	m.Status.KubernetesVersion = "v1.36.3"
	_, obs := Assess(context.Background(), NewProviders("", execOnly), Request{Upgrade: fleetv1.UpgradeSpec{Type: fleetv1.UpgradeFull, KubernetesVersion: "1.37"}}, m)
	if !strings.Contains(obs.Blocked, `unknown upgrade provider "Local"`) {
		t.Fatalf("blocked = %q, want the unknown provider named", obs.Blocked)
	}
}
