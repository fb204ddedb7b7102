package upgrade

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"path/filepath"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	fleetv1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/internal/hubexec"
)

var listAll = metav1.ListOptions{}

// Factory builds the provider for a member whose spec names the factory's
// type.
type Factory func(spec *fleetv1.ProviderSpec, env FactoryEnv) (Provider, error)

// FactoryEnv is what the registry gives the providers it builds.
type FactoryEnv struct {
	// Operations keeps the detached commands of providers that run them.
	Operations Operations
	// Secrets reads Secrets on the hub that a provider's settings name (a
	// Cluster API member's management kubeconfig); nil where the registry
	// has no hub to read.
	Secrets SecretReader
}

// SecretReader reads one key of a Secret on the hub.
type SecretReader func(ctx context.Context, ref fleetv1.SecretKeyReference) ([]byte, error)

// Providers is the registry of upgrade providers by type. The composition
// root (the CLI) fills it, so that the hub knows no provider it does not
// need to, and local fleets or clouds plug in without the hub importing them.
type Providers struct {
	ops       Operations
	secrets   SecretReader
	factories map[fleetv1.ProviderType]Factory
}

// NewProviders is a registry of factories whose providers keep their
// operations under stateDir.
func NewProviders(stateDir string, factories map[fleetv1.ProviderType]Factory) Providers {
	return Providers{
		ops:       Operations{Dir: filepath.Join(stateDir, "operations")},
		factories: maps.Clone(factories),
	}
}

// WithSecrets is the registry whose providers read the hub's Secrets
// with read.
func (p Providers) WithSecrets(read SecretReader) Providers {
	p.secrets = read
	return p
}

// Types are the registered provider types, sorted.
func (p Providers) Types() []fleetv1.ProviderType {
	return slices.Sorted(maps.Keys(p.factories))
}

// For returns the provider for a member.
func (p Providers) For(spec *fleetv1.ProviderSpec) (Provider, error) {
	if spec == nil {
		return nil, errors.New("the member has no upgrade provider (spec.provider)")
	}
	factory, ok := p.factories[spec.Type]
	if !ok {
		return nil, fmt.Errorf("unknown upgrade provider %q: this hub knows %s", spec.Type, p.known())
	}
	return factory(spec, FactoryEnv{Operations: p.ops, Secrets: p.secrets})
}

func (p Providers) known() string {
	types := p.Types()
	if len(types) == 0 {
		return "none"
	}
	names := make([]string, len(types))
	for i, t := range types {
		names[i] = string(t)
	}
	return strings.Join(names, ", ")
}

// Exec is the factory of the Exec provider: it runs the operator's command
// from spec.provider.exec for each member.
func Exec(spec *fleetv1.ProviderSpec, env FactoryEnv) (Provider, error) {
	if spec.Exec == nil {
		return nil, errors.New("provider Exec needs spec.provider.exec")
	}
	return &CommandProvider{
		Operations: env.Operations,
		Command: func(m Member, _ Target) ([]string, time.Duration, error) {
			e := m.Provider.Exec
			return e.Command, time.Duration(e.TimeoutSeconds) * time.Second, nil
		},
		Available: func(m Member) []string { return m.Provider.Exec.AvailableVersions },
	}, nil
}

// RequirePermit makes the providers of factory ask permit before they start
// a command: the hub wraps the Exec provider's factory with its
// hubexec.Guard, since that command is an operator's program.
func RequirePermit(factory Factory, permit hubexec.Permitter) Factory {
	return func(spec *fleetv1.ProviderSpec, env FactoryEnv) (Provider, error) {
		p, err := factory(spec, env)
		if err != nil {
			return nil, err
		}
		cp, ok := p.(*CommandProvider)
		if !ok {
			return nil, fmt.Errorf("provider %s does not run its commands through a CommandProvider, so the hub cannot guard them", spec.Type)
		}
		cp.Permit = permit
		return cp, nil
	}
}

// SecretsFrom reads the hub's Secrets with c.
func SecretsFrom(c client.Reader) SecretReader {
	return func(ctx context.Context, ref fleetv1.SecretKeyReference) ([]byte, error) {
		secret := &corev1.Secret{}
		if err := c.Get(ctx, client.ObjectKey{Namespace: ref.Namespace, Name: ref.Name}, secret); err != nil {
			return nil, fmt.Errorf("reading Secret %s/%s: %w", ref.Namespace, ref.Name, err)
		}
		key := ref.Key
		if key == "" {
			key = "kubeconfig"
		}
		data, ok := secret.Data[key]
		if !ok {
			return nil, fmt.Errorf("secret %s/%s has no key %q", ref.Namespace, ref.Name, key)
		}
		return data, nil
	}
}
